"""Learning: after the close and on Saturdays, retrain on the archive and promote only if better,
then walk-forward optimize the rule strategies' parameters (a report only, never applied).

Event:   {"mode": "paper" | "ibkr_paper" | "live" (default "paper"), "session_date": "YYYY-MM-DD"} or the
         scheduler's {"schedule", "scheduled_time"} (the recurring learning schedules send that)
Returns: {"mode", "session_date", "trained", "promoted", and when trained "version",
         "report_key"; "reason" either way; "optimization": {"written", and when written
         "applied" (always false), "source", "keys", "strategies" (per strategy the recommended
         parameters and out-of-sample P&L against the defaults); else "reason"}}

Too few archived sessions: nothing is trained and the promoted model stays; too few for one
optimization fold: no optimization report is written. A malformed event raises MalformedEvent
naming each field; nothing is written.
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
from smart0dte.services.learning import Learning

NAME = "learning"
logger = Logger(service=NAME)
tracer = lambda_tracer(NAME)
metrics = Metrics(namespace="Smart0DTE", service=NAME)


def build_service(mode: TradingMode) -> Learning:
    rt = runtime(mode)
    return Learning(
        rt.bucket("archive"),
        rt.bucket("models"),
        rt.bucket("reports"),
        rt.notifications,
        rt.clock,
        rt.open_archive,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(SessionEvent, event, NAME)
    result = build_service(request.mode).learn(request)
    metrics.add_metric(name="ModelPromoted", unit=MetricUnit.Count, value=int(result["promoted"]))
    written = int(result["optimization"]["written"])
    metrics.add_metric(name="OptimizationWritten", unit=MetricUnit.Count, value=written)
    logger.info("learning", extra=result)
    return result


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _handle(event, context_or_local(context, NAME))
    return result
