"""Step Functions: finding a state machine by name, and the backtest workflow as the API's runner."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any


def state_machine_arn(client: Any, physical_name: str) -> str:
    """The ARN of the state machine called `physical_name`; LookupError naming it when absent."""
    for page in client.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == physical_name:
                return str(machine["stateMachineArn"])
    raise LookupError(f"state machine {physical_name!r} does not exist")


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

    def status(self, run_id: str) -> Mapping[str, object] | None:
        if not run_id.isalnum():
            return None
        arn = self._arn.replace(":stateMachine:", ":execution:") + ":" + run_id
        try:
            found = self._client.describe_execution(executionArn=arn)
        except self._client.exceptions.ExecutionDoesNotExist:
            return None
        output, run_input = found.get("output"), found.get("input")
        return {
            "status": found["status"],
            "input": json.loads(run_input) if run_input else None,
            "output": json.loads(output) if output else None,
            "error": found.get("error"),
            "cause": found.get("cause"),
        }
