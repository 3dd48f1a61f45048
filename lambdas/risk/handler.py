"""Risk: the second step of trading_cycle.

Event:   the Signals step's result, unchanged: {"mode", "ts", "session_date", "candidates": [...],
         "trading_state", "trading_state_reason", "open_positions", "exits", "duplicate", "stale"}
Returns: {"mode", "ts", "session_date", "intents": [{"intent": <OrderIntent>, "quote": <OptionQuote>,
         "strategy"}...] (empty -> AllRejected), "verdicts": [{"signal_id", "approved", "rules",
         "contract", "quantity"}...], "duplicate"}: the Execute step's event.

Every pre-trade rule on each candidate in turn, every violated rule named; each approved entry
holds its positions, exposure and cash for the next candidate's verdict. Candidates other than
those Signals observed for that minute are refused (OutOfOrder); a repeated event returns the
stored verdicts. A malformed event raises MalformedEvent naming each field; nothing is written.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from smart0dte.bootstrap.runtime import runtime
from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.domain.models import TradingMode
from smart0dte.services.events import SignalsResult, parse_event
from smart0dte.services.lambda_context import context_or_local
from smart0dte.services.trading_cycle import TradingCycle

NAME = "risk"
logger = Logger(service=NAME)
tracer = lambda_tracer(NAME)
metrics = Metrics(namespace="Smart0DTE", service=NAME)


def build_service(mode: TradingMode) -> TradingCycle:
    return TradingCycle(runtime(mode).desk())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(SignalsResult, event, NAME)
    result = build_service(request.mode).risk(request)
    approved = len(result["intents"])
    metrics.add_metric(name="Approved", unit=MetricUnit.Count, value=approved)
    metrics.add_metric(name="Rejected", unit=MetricUnit.Count, value=len(result["verdicts"]) - approved)
    logger.info("assessed", extra={"ts": result["ts"], "verdicts": result["verdicts"]})
    return result


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _handle(event, context_or_local(context, NAME))
    return result
