"""Step Functions: finding a state machine by name, starting trading cycles (the feed), and the
backtest workflow as the API's runner."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.models import TradingMode

logger = logging.getLogger(__name__)


def state_machine_arn(client: Any, physical_name: str) -> str:
    """The ARN of the state machine called `physical_name`; LookupError naming it when absent."""
    for page in client.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == physical_name:
                return str(machine["stateMachineArn"])
    raise LookupError(f"state machine {physical_name!r} does not exist")


def execution_name(mode: TradingMode, minute_end: datetime) -> str:
    """`<mode>-<YYYYmmddTHHMM>` in New York time, e.g. `paper-20250314T1031`: one per minute and mode."""
    return f"{mode.value}-{minute_end.astimezone(NEW_YORK):%Y%m%dT%H%M}"


def cycle_input(mode: TradingMode, minute_end: datetime) -> dict[str, str]:
    """The trading_cycle input the scheduler's replay sends: the mode and the minute end in New York."""
    return {"mode": mode.value, "ts": minute_end.astimezone(NEW_YORK).isoformat()}


def cycle_starter(sfn: Any, arn: str, mode: TradingMode) -> Callable[[datetime], None]:
    """start_cycle for the pump: StartExecution with a deterministic name; a name Step Functions
    already holds (a Standard-style refusal) is taken as started, anything else raises."""

    def start(minute_end: datetime) -> None:
        name = execution_name(mode, minute_end)
        try:
            sfn.start_execution(
                stateMachineArn=arn, name=name, input=json.dumps(cycle_input(mode, minute_end))
            )
        except sfn.exceptions.ExecutionAlreadyExists:
            logger.warning("trading cycle %s already exists; not started again", name)

    return start


class StepFunctionsBacktests:
    """Runs the `backtest` state machine; ids are execution names."""

    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self._arn = state_machine_arn

    @classmethod
    def by_name(cls, client: Any, state_machine_name: str) -> StepFunctionsBacktests:
        """The runner of the state machine called `state_machine_name` (e.g. `smart0dte-backtest`)."""
        return cls(client, state_machine_arn(client, state_machine_name))

    def start(self, request: Mapping[str, object]) -> str:
        name = uuid.uuid4().hex
        self._client.start_execution(stateMachineArn=self._arn, name=name, input=json.dumps(dict(request)))
        return name

    def _execution_arn(self, run_id: str) -> str:
        return self._arn.replace(":stateMachine:", ":execution:") + ":" + run_id

    def status(self, run_id: str) -> Mapping[str, object] | None:
        if not run_id.isalnum():
            return None
        try:
            found = self._client.describe_execution(executionArn=self._execution_arn(run_id))
        except self._client.exceptions.ExecutionDoesNotExist:
            return None
        output, run_input = found.get("output"), found.get("input")
        return {
            "status": found["status"],
            "input": json.loads(run_input) if run_input else None,
            "output": json.loads(output) if output else None,
            "error": found.get("error"),
            "cause": found.get("cause"),
            "started_at": found.get("startDate"),
            "stopped_at": found.get("stopDate"),
        }

    def runs(self, limit: int) -> list[Mapping[str, object]]:
        """ListExecutions (newest first), each described for its request."""
        listed = self._client.list_executions(stateMachineArn=self._arn, maxResults=limit)["executions"]
        listed.sort(key=lambda e: e["startDate"], reverse=True)
        found = [(e["name"], self.status(e["name"])) for e in listed[:limit]]
        return [{"id": name, **status} for name, status in found if status is not None]

    def cancel(self, run_id: str, reason: str) -> None:
        self._client.stop_execution(
            executionArn=self._execution_arn(run_id), error="Cancelled", cause=reason[:32768]
        )
