"""Execute: the last step of trading_cycle, idempotent on the intent id.

Event:   the Risk step's result, unchanged: {"mode", "ts", "session_date", "intents": [...],
         "verdicts": [...], "duplicate"}
Returns: {"mode", "ts", "session_date", "orders": [{"intent_id", "order_id", "status",
         "filled_quantity", "fills", "sent_to_broker", "duplicate"}...], "open_positions"}

Each intent runs once through Powertools' idempotency (DynamoDB persistence on the idempotency
table, key = the intent id, the intent itself validated on a repeat): a retried or duplicated
execute returns the stored outcome and creates no second order. Paper fills in the simulated
broker against the quote risk judged; ibkr_paper and live record the order as SUBMITTED and send
the intent to the SQS FIFO queue (deduplication id = intent id) for the gateway's IB bridge. Only
intents risk approved for the minute the engine is at are accepted. A malformed event raises
MalformedEvent naming each field; nothing is written.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from smart0dte.bootstrap import aws
from smart0dte.bootstrap.runtime import Runtime, runtime
from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.domain.models import TradingMode
from smart0dte.services.events import RiskResult, parse_event
from smart0dte.services.lambda_context import context_or_local
from smart0dte.services.trading_cycle import RunOne, TradingCycle

NAME = "execute"
IDEMPOTENCY_TTL_S = 24 * 3600
"""A repeat within a day returns the stored outcome; later ones meet the engine's own record."""
logger = Logger(service=NAME)
tracer = lambda_tracer(NAME)
metrics = Metrics(namespace="Smart0DTE", service=NAME)


def build_runtime(mode: TradingMode) -> Runtime:
    return runtime(mode)


def build_service(mode: TradingMode) -> TradingCycle:
    return TradingCycle(build_runtime(mode).desk())


def idempotent(service: TradingCycle, mode: TradingMode, context: Any) -> RunOne:
    """`service.execute_one`, once per intent id (and refused if the same id comes with another intent)."""
    # Imported here: Powertools' idempotency imports boto3 (~0.5 s), which only the invocation needs.
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    rt = build_runtime(mode)
    config = IdempotencyConfig(
        event_key_jmespath="intent.intent_id",
        payload_validation_jmespath="intent",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_TTL_S,
    )
    config.register_lambda_context(context)
    run: RunOne = idempotent_function(
        service.execute_one,
        data_keyword_argument="item",
        persistence_store=rt.idempotency,
        config=config,
        key_prefix=aws.idempotency_key_prefix(rt.config, NAME),
    )
    return run


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(RiskResult, event, NAME)
    service = build_service(request.mode)
    result = service.execute(request, idempotent(service, request.mode, context))
    orders = result["orders"]
    metrics.add_metric(name="Orders", unit=MetricUnit.Count, value=sum(not o["duplicate"] for o in orders))
    metrics.add_metric(name="Duplicates", unit=MetricUnit.Count, value=sum(o["duplicate"] for o in orders))
    logger.info("executed", extra={"ts": result["ts"], "orders": orders})
    return result


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _handle(event, context_or_local(context, NAME))
    return result
