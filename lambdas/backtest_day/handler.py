"""BacktestDay: one session prepared per item of the backtest workflow's Distributed Map, and the
aggregate that runs the engine over them in order.

Events:  {"action": "day", "date": "YYYY-MM-DD", "request": <request>, "run": <execution name>}
         (one per Map item: the session's market data, features and signals, in parallel)
         {"action": "aggregate", "request": <request>, "results": [<day result>...], "run": ...}
         (at the end: the engine over the sessions in order, the account carried); a day or
         aggregate that fails writes why to backtests/runs/<run>/failure.json
         <request> = {"start", "end", "source": "simulator" | "archive", "scenario", "seed",
         "data_until": "HH:MM" | null, "starting_equity_usd"}
Returns: day -> {"date", "signals" (count), "prepared_key"} (the recorded signals, in the reports
         bucket); aggregate -> {"report_key", "days", "trades", "net_pnl_usd", "commissions_usd",
         "total_return"} (each day's full outcome, decisions included, under
         backtests/<id>/outcomes/); P&L is net of commissions

A malformed event raises MalformedEvent naming each field; nothing is written.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from smart0dte.bootstrap.runtime import runtime
from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.domain.models import TradingMode
from smart0dte.services.backtest_day import BacktestDay
from smart0dte.services.events import BacktestAggregateEvent, BacktestDayEvent, MalformedEvent, parse_event
from smart0dte.services.lambda_context import context_or_local

NAME = "backtest_day"
logger = Logger(service=NAME)
tracer = lambda_tracer(NAME)
metrics = Metrics(namespace="Smart0DTE", service=NAME)


def build_service() -> BacktestDay:
    rt = runtime(TradingMode.PAPER)
    return BacktestDay(rt.bucket("reports"), rt.bucket("archive"), rt.open_archive)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action") if isinstance(event, dict) else None
    if action == "day":
        result = build_service().day(parse_event(BacktestDayEvent, event, NAME))
        metrics.add_metric(name="BacktestSignals", unit=MetricUnit.Count, value=result["signals"])
    elif action == "aggregate":
        result = build_service().aggregate(parse_event(BacktestAggregateEvent, event, NAME))
        metrics.add_metric(name="BacktestTrades", unit=MetricUnit.Count, value=result["trades"])
    else:
        raise MalformedEvent(f"{NAME}: malformed event: action={action!r} must be 'day' or 'aggregate'")
    logger.info("backtest_day", extra={"action": action, **result})
    return result


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _handle(event, context_or_local(context, NAME))
    return result
