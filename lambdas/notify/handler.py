"""Notify: scheduled notices to the humans, through the mode's notification service.

Event:   {"kind": "ib_reauthentication", "mode": "ibkr_paper" | "live", "scheduled_time": "<ISO 8601>"}
         (the Sunday-evening schedule deployed with the gateway)
Returns: {"kind", "mode", "level", "sent": [<channel>...], "failed": [<channel>...]}

The kind's level in the mode's settings decides who hears it (off: nobody). A channel that fails is
logged and listed; the invocation still succeeds (a retry would re-send to the others). A
malformed event raises MalformedEvent naming each field.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from smart0dte.bootstrap.runtime import runtime
from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.services.events import parse_event
from smart0dte.services.lambda_context import context_or_local
from smart0dte.services.notifications import ReminderEvent, remind

NAME = "notify"
logger = Logger(service=NAME)
tracer = lambda_tracer(NAME)
metrics = Metrics(namespace="Smart0DTE", service=NAME)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(ReminderEvent, event, NAME)
    delivery = remind(runtime(request.mode).notifications, request)
    metrics.add_metric(name="NotificationFailures", unit=MetricUnit.Count, value=len(delivery.failed))
    result = {
        "kind": delivery.kind.value,
        "mode": request.mode.value,
        "level": delivery.level.value,
        "sent": list(delivery.sent),
        "failed": list(delivery.failed),
    }
    logger.info("notified", extra=result)
    return result


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _handle(event, context_or_local(context, NAME))
    return result
