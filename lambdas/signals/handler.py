"""Signals: the first step of trading_cycle, one closed minute of every symbol.

Event:   {"mode": "paper" | "ibkr_paper" | "live" (default "paper"),
          "ts": "<ISO 8601 minute end with offset>"}
         e.g. {"mode": "paper", "ts": "2025-03-14T10:15:00-04:00"}
Returns: {"mode", "ts", "session_date", "candidates": [<Signal>...] (strongest first; empty ->
         NothingToDo), "trading_state", "trading_state_reason", "open_positions", "exits",
         "duplicate", "stale"}: the Risk step's event.

Marks positions, lets working orders trade, exits what must exit (stop, target, time, emergency
stop), then runs the strategies (and the promoted model) on what is known at ts. A minute already
observed returns the stored result (duplicate) and changes nothing. A malformed event raises
MalformedEvent naming each field, before anything is read or written.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from smart0dte.bootstrap.runtime import runtime
from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.domain.models import TradingMode
from smart0dte.services.events import CycleEvent, parse_event
from smart0dte.services.lambda_context import context_or_local
from smart0dte.services.trading_cycle import TradingCycle

NAME = "signals"
logger = Logger(service=NAME)
tracer = lambda_tracer(NAME)
metrics = Metrics(namespace="Smart0DTE", service=NAME)


def build_service(mode: TradingMode) -> TradingCycle:
    rt = runtime(mode)
    return TradingCycle(rt.desk())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(CycleEvent, event, NAME)
    result = build_service(request.mode).signals(request)
    metrics.add_metric(name="Candidates", unit=MetricUnit.Count, value=len(result["candidates"]))
    metrics.add_metric(name="Exits", unit=MetricUnit.Count, value=result["exits"])
    logger.info(
        "observed",
        extra={
            "ts": result["ts"],
            "candidates": len(result["candidates"]),
            "duplicate": result["duplicate"],
            "stale": result["stale"],
        },
    )
    return result


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _handle(event, context_or_local(context, NAME))
    return result
