"""PreMarket: 08:00 New York, prepare the session or do nothing on a holiday.

Event:   {"mode": "paper" | "ibkr_paper" | "live", "session_date": "YYYY-MM-DD"} or the scheduler's
         {"schedule": "<name>", "scheduled_time": "<ISO 8601>"} (session date = the New York date
         of the scheduled time); without "mode", the active mode (paper until switched through
         POST /api/trading/mode), which the day's flatten and post_close schedules then carry
Returns: {"mode", "session_date", "is_session" (false -> MarketClosed), and on a session: "open",
         "close", "flatten", "early_close", "model_version" (null: rules only), "trading",
         "starting_equity_usd", "day_trades_in_window", "schedules": [{"name", "at", "target",
         "created"}...]}

Writes the session plan (audited), resets the trading state unless stopped or paused, creates the
one-time flatten and post_close schedules. Repeating it changes nothing more. A malformed event
raises MalformedEvent naming each field; nothing is written.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from smart0dte.bootstrap.runtime import active_mode, runtime
from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.domain.models import TradingMode
from smart0dte.services.events import SessionEvent, parse_event
from smart0dte.services.lambda_context import context_or_local
from smart0dte.services.pre_market import PreMarket

NAME = "pre_market"
logger = Logger(service=NAME)
tracer = lambda_tracer(NAME)
metrics = Metrics(namespace="Smart0DTE", service=NAME)


def build_service(mode: TradingMode) -> PreMarket:
    rt = runtime(mode)
    return PreMarket(rt.state, rt.documents, rt.scheduler, rt.clock, rt.promoted_version)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and "mode" not in event:
        event = {**event, "mode": active_mode().value}
    request = parse_event(SessionEvent, event, NAME)
    result = build_service(request.mode).prepare(request)
    metrics.add_metric(name="SessionPrepared", unit=MetricUnit.Count, value=int(result["is_session"]))
    logger.info("pre_market", extra=result)
    return result


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _handle(event, context_or_local(context, NAME))
    return result
