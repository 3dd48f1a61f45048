"""A backtest started through the API runs the real backtest workflow (Distributed Map of
backtest_day, then the aggregate) on the embedded AWS, and its status reports progress and result."""

import json
import time
from datetime import UTC, datetime
from typing import Any

from smart0dte.adapters.aws.stepfunctions import StepFunctionsBacktests
from smart0dte.bootstrap import aws as bootstrap_aws
from smart0dte.local.auth import authorizer_context
from smart0dte.local.embedded import EmbeddedAws
from smart0dte.local.http_server import LambdaContext, api_event, load_api_handler
from smart0dte.resources import REPORTS_BUCKET, STATE_MACHINES
from smart0dte.services.api import ApiDeps

TRADER = {"sub": "trader-1", "username": "alice", "scope": "read trade"}


class FixedClock:
    def now(self) -> datetime:
        return datetime(2025, 3, 17, 14, tzinfo=UTC)


def call(module: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    event = api_event(method, path, {"content-type": "application/json", "host": "localhost"}, data, None)
    event["requestContext"]["authorizer"] = authorizer_context(TRADER)
    result = module.handler(event, LambdaContext())
    return int(result["statusCode"]), json.loads(result.get("body") or "null")


def test_a_backtest_from_the_api_runs_the_real_workflow_and_reports_progress_and_result(
    aws: EmbeddedAws, calls: list[tuple[str, Any]]
) -> None:
    machine = next(m for m in STATE_MACHINES if m.name == "backtest").physical_name(aws.config.prefix)
    module = load_api_handler()
    module.configure(
        ApiDeps(
            store_factory=aws.state_store,
            clock=FixedClock(),
            backtests=StepFunctionsBacktests.by_name(aws.client("stepfunctions"), machine),
            reports=bootstrap_aws.object_store(aws.config, REPORTS_BUCKET, aws.client("s3")),
        )
    )

    status, started = call(
        module, "POST", "/api/analytics/backtest", {"start": "2025-03-12", "end": "2025-03-14"}
    )
    assert status == 202, started
    deadline = time.monotonic() + 180
    while True:
        status, run = call(module, "GET", f"/api/analytics/backtest/{started['id']}")
        assert status == 200
        if run["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        assert run["daysTotal"] == 3 and 0 <= run["daysDone"] <= 3
        time.sleep(0.5)

    assert run["status"] == "SUCCEEDED", (run["error"], run["cause"])
    assert (run["daysTotal"], run["daysDone"], run["progress"]) == (3, 3, 1.0)
    result = run["result"]
    assert result["days"] == 3 and result["trades"] >= 0
    assert result["reportKey"].startswith("backtests/") and result["reportKey"].endswith("/report.json")
    report = json.loads(
        bootstrap_aws.object_store(aws.config, REPORTS_BUCKET, aws.client("s3")).get_bytes(
            result["reportKey"]
        )
    )
    assert len(report["days"]) == 3
