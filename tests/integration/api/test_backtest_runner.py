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
