"""PostClose: close + 5 minutes, settle, reconcile, report.

Event:   {"mode": "paper" | "ibkr_paper" | "live" (default "paper"), "session_date": "YYYY-MM-DD"} (what
         pre_market's one-time schedule sends) or the scheduler's {"schedule", "scheduled_time"}
Returns: {"mode", "session_date", "is_session", "report_key", "trades", "net_pnl_usd",
         "open_positions_at_close", "incidents", "reconciliation": {...}}

Writes any records a crashed phase left in the session document, settles positions that outlived
the close (an incident), reconciles the store's orders, fills and positions with the engine
(paper repairs, live reports), writes the daily report to the reports bucket and notifies its
summary (and a repair, if any). A malformed event raises MalformedEvent naming each field; nothing is written.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from smart0dte.bootstrap.runtime import runtime
from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.domain.models import TradingMode
from smart0dte.services.events import SessionEvent, parse_event
from smart0dte.services.lambda_context import context_or_local
from smart0dte.services.post_close import PostClose

NAME = "post_close"
logger = Logger(service=NAME)
tracer = lambda_tracer(NAME)
metrics = Metrics(namespace="Smart0DTE", service=NAME)


def build_service(mode: TradingMode) -> PostClose:
    rt = runtime(mode)
    return PostClose(rt.desk(), rt.bucket("reports"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(SessionEvent, event, NAME)
    result = build_service(request.mode).close_day(request)
    metrics.add_metric(name="Trades", unit=MetricUnit.Count, value=int(result.get("trades", 0)))
    metrics.add_metric(name="Incidents", unit=MetricUnit.Count, value=int(result.get("incidents", 0)))
    logger.info("post_close", extra=result)
    return result


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _handle(event, context_or_local(context, NAME))
    return result
