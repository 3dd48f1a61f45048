"""The Step Functions backtest runner on moto: start by name, poll by id."""

import json
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.adapters.aws.stepfunctions import StepFunctionsBacktests

from .conftest import REGION

PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@pytest.fixture
def sfn(aws: Provisioned) -> Any:
    client = boto3.client("stepfunctions", region_name=REGION)
    client.create_state_machine(
        name="smart0dte-apitest-backtest", definition=PASS, roleArn="arn:aws:iam::123456789012:role/sfn"
    )
    return client


def test_starts_by_name_and_polls_by_id(sfn: Any) -> None:
    runner = StepFunctionsBacktests.by_name(sfn, "smart0dte-apitest-backtest")
    run_id = runner.start({"days": ["2025-03-14"], "request": {"seed": 7}})
    status = runner.status(run_id)
    assert status is not None and status["status"] in {"RUNNING", "SUCCEEDED"}
    assert runner.status("0" * 32) is None
    assert runner.status("../etc") is None


def test_unknown_state_machine_is_named(sfn: Any) -> None:
    with pytest.raises(LookupError, match="nope"):
        StepFunctionsBacktests.by_name(sfn, "nope")


def test_runs_are_listed_newest_first_and_a_running_one_is_cancelled_with_its_reason(sfn: Any) -> None:
    wait = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}})
    sfn.create_state_machine(
        name="smart0dte-apitest-slow", definition=wait, roleArn="arn:aws:iam::123456789012:role/sfn"
    )
    runner = StepFunctionsBacktests.by_name(sfn, "smart0dte-apitest-slow")
    first = runner.start({"days": ["2025-03-13"], "request": {"scenario": "chop"}})
    second = runner.start({"days": ["2025-03-14"], "request": {"scenario": "gap_up"}})
    listed = runner.runs(10)
    assert [r["id"] for r in listed] == [second, first]
    assert listed[0]["input"] == {"days": ["2025-03-14"], "request": {"scenario": "gap_up"}}
    assert listed[0]["status"] == "RUNNING" and listed[0]["stopped_at"] is None
    assert [r["id"] for r in runner.runs(1)] == [second]

    runner.cancel(second, "cancelled by user:alice")
    stopped = runner.status(second)
    assert stopped is not None and stopped["status"] == "ABORTED"
    # (moto keeps no cause of a stop; the API records a cancel's reason in the reports bucket)
    assert stopped["stopped_at"] is not None
    assert runner.status(first)["status"] == "RUNNING"  # type: ignore[index]
