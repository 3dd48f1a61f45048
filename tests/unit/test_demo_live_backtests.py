"""The played-live demo serves before its state machines exist: until the backtest machine is
created the API's backtest runner answers 503 saying so; after, it starts runs on that machine."""

from __future__ import annotations

from typing import Any

import pytest

from smart0dte.commands.demo_live import WORKFLOWS_PENDING, BacktestsOnceCreated
from smart0dte.services.api.shared import ApiError

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:smart0dte-backtest"


class FakeStepFunctions:
    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []

    def start_execution(self, **kwargs: Any) -> dict[str, str]:
        self.started.append(kwargs)
        return {"executionArn": "arn:execution"}


class FakeAws:
    """The two things the runner reads of an EmbeddedAws."""

    def __init__(self) -> None:
        self.state_machine_arns: dict[str, str] = {}
        self.sfn = FakeStepFunctions()

    def client(self, service: str) -> FakeStepFunctions:
        assert service == "stepfunctions"
        return self.sfn


def test_before_the_machine_exists_every_call_is_a_503_that_says_why() -> None:
    runner = BacktestsOnceCreated(FakeAws())  # type: ignore[arg-type]  # the fake has what it reads
    for call in (lambda: runner.start({}), lambda: runner.runs(5), lambda: runner.status("a1")):
        with pytest.raises(ApiError) as raised:
            call()
        assert (raised.value.status, str(raised.value)) == (503, WORKFLOWS_PENDING)


def test_once_created_it_starts_runs_on_that_machine() -> None:
    aws = FakeAws()
    runner = BacktestsOnceCreated(aws)  # type: ignore[arg-type]
    with pytest.raises(ApiError):
        runner.start({"days": []})
    aws.state_machine_arns["backtest"] = ARN

    run_id = runner.start({"days": ["2025-03-14"]})

    [started] = aws.sfn.started
    assert started["stateMachineArn"] == ARN
    assert started["name"] == run_id
