"""Flatten: at close - 10 minutes, cancel working orders, sell every open position, block entries.

Event:   {"mode": "paper" | "ibkr_paper" | "live" (default "paper"), "ts": "<ISO 8601 flatten time>"} (what
         pre_market's one-time schedule sends) or the scheduler's {"schedule", "scheduled_time"}.
Returns: {"mode", "ts", "session_date", "is_session", "open_positions" (> 0 -> NotFlat), "exits",
         "already_observed"}

The engine's observe phase at the flatten time (TIME_EXIT for every position); when the trading
cycle already observed that minute, only what is still open is reported. Positions still open
are notified (flattenFailure); the trading cycles keep working their exits every minute until the
close. A flatten before the flatten time is refused (the emergency stop closes early). A malformed
event raises MalformedEvent naming each field; nothing is written.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from smart0dte.bootstrap.runtime import runtime
from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.domain.models import TradingMode
from smart0dte.services.events import FlattenEvent, parse_event
from smart0dte.services.flatten import Flatten
from smart0dte.services.lambda_context import context_or_local

NAME = "flatten"
logger = Logger(service=NAME)
tracer = lambda_tracer(NAME)
metrics = Metrics(namespace="Smart0DTE", service=NAME)


def build_service(mode: TradingMode) -> Flatten:
    rt = runtime(mode)
    return Flatten(rt.desk())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(FlattenEvent, event, NAME)
    result = build_service(request.mode).flatten(request)
    metrics.add_metric(name="OpenAfterFlatten", unit=MetricUnit.Count, value=result["open_positions"])
    logger.info("flattened", extra=result)
    return result


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _handle(event, context_or_local(context, NAME))
    return result
