"""The API's collaborators in AWS, from the environment CDK sets on the API function."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping
from typing import Any

from smart0dte.adapters.clock import SystemClock
from smart0dte.bootstrap import aws
from smart0dte.domain.models import TradingMode
from smart0dte.resources import (
    ENV_LIVE_TRADING,
    ENV_ORIGIN_VERIFY,
    ENV_SCHEDULE_GROUP,
    ORIGIN_VERIFY_HEADER,
    REPORTS_BUCKET,
    state_machine_arn_env,
)
from smart0dte.services.api import ApiDeps
from smart0dte.services.notifications import Notifications


def api_deps() -> ApiDeps:
    from smart0dte.adapters.aws.scheduler import ScheduleGroupReader
    from smart0dte.adapters.aws.stepfunctions import StepFunctionsBacktests

    config = aws.AwsConfig.from_env()
    arn = os.environ.get(state_machine_arn_env("backtest"))
    backtests = None
    if arn:
        backtests = StepFunctionsBacktests(aws.aws_client(config, "stepfunctions"), arn)
    reports = aws.object_store(config, REPORTS_BUCKET)
    group = os.environ.get(ENV_SCHEDULE_GROUP) or config.prefix
    return ApiDeps(
        store_factory=lambda: aws.state_store(config),
        clock=SystemClock(),
        backtests=backtests,
        reports=reports,
        schedules=ScheduleGroupReader(aws.aws_client(config, "scheduler"), group),
        live_trading=os.environ.get(ENV_LIVE_TRADING),
        notifications=notifications,
    )


def origin_check(environ: Mapping[str, str] | None = None) -> Callable[[Mapping[str, Any]], bool] | None:
    """Whether an HTTP API event came through CloudFront (its ORIGIN_VERIFY_HEADER carries the
    deployment's ENV_ORIGIN_VERIFY value); None where the variable is unset (local, tests)."""
    expected = (os.environ if environ is None else environ).get(ENV_ORIGIN_VERIFY, "")
    if not expected:
        return None

    def came_through_cloudfront(event: Mapping[str, Any]) -> bool:
        headers = event.get("headers") or {}
        sent = next((str(v) for k, v in headers.items() if k.lower() == ORIGIN_VERIFY_HEADER), "")
        return hmac.compare_digest(sent.encode(), expected.encode())

    return came_through_cloudfront


def notifications(mode: TradingMode) -> Notifications:
    """The mode's notification service (built with the mode's runtime, on the first stop or resume)."""
    from smart0dte.bootstrap.runtime import runtime

    return runtime(mode).notifications
