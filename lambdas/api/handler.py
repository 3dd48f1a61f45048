"""API Lambda: API Gateway HTTP API (payload v2) -> the dashboard API service.

The store comes from the environment (wiring.py) on first request; the local server and tests
call `configure` to inject their own collaborators instead.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from smart0dte.resources import REPORTS_BUCKET
from smart0dte.services.api import ApiDeps, StepFunctionsBacktests, build_app

logger = Logger(service="api")
tracer = Tracer(service="api")

ENV_BACKTEST_STATE_MACHINE_ARN = "SMART0DTE_BACKTEST_STATE_MACHINE_ARN"
ENV_LIVE_TRADING = "SMART0DTE_LIVE_TRADING"
ENV_SCHEDULE_GROUP = "SMART0DTE_SCHEDULE_GROUP"
_app: APIGatewayHttpResolver | None = None


def default_deps() -> ApiDeps:
    from smart0dte.adapters.aws.scheduler import ScheduleGroupReader
    from smart0dte.bootstrap import aws as wiring

    config = wiring.AwsConfig.from_env()
    arn = os.environ.get(ENV_BACKTEST_STATE_MACHINE_ARN)
    backtests = None
    if arn:
        backtests = StepFunctionsBacktests(wiring.aws_client(config, "stepfunctions"), arn)
    reports = wiring.object_store(config, REPORTS_BUCKET)
    group = os.environ.get(ENV_SCHEDULE_GROUP) or config.prefix
    return ApiDeps(
        store_factory=lambda: wiring.state_store(config),
        backtests=backtests,
        reports=reports,
        schedules=ScheduleGroupReader(wiring.aws_client(config, "scheduler"), group),
        live_trading=os.environ.get(ENV_LIVE_TRADING),
    )


def configure(deps: ApiDeps) -> APIGatewayHttpResolver:
    """Build the app on `deps` (local server, tests); the next invocation uses it."""
    global _app
    _app = build_app(deps)
    return _app


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    app = _app or configure(default_deps())
    return app.resolve(event, context)
