"""Notify: scheduled notices, and the feed's and gateway's alarms, to the humans.

Event:   {"kind": "ib_reauthentication", "mode": "ibkr_paper" | "live", "scheduled_time": "<ISO 8601>"}
         (the Sunday-evening schedule deployed with the gateway), sent through the mode's
         notification service; or
         {"Records": [{"Sns": {"Message": "<a CloudWatch alarm's JSON>", ...}}, ...]} (the alert
         topic's subscription, which takes only messages Smart 0DTE did not publish): the feed's or
         the gateway's alarm going into ALARM is forwarded as feed_down / gateway_down, at the active
         mode's levels, to every channel but the topic (which has already emailed it).
Returns: {"notices": [{"kind", "mode", "level", "sent": [<channel>...], "failed": [<channel>...]}...]}
         (an alarm of another resource, or a return to OK, gives no notice)

A channel that fails is logged and listed; the invocation still succeeds (a retry would re-send to
the others). A malformed event raises MalformedEvent naming each field.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from smart0dte import resources as r
from smart0dte.bootstrap.runtime import active_mode, runtime
from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.domain.controls import NotificationKind
from smart0dte.domain.models import TradingMode
from smart0dte.services.events import MalformedEvent, parse_event
from smart0dte.services.lambda_context import context_or_local
from smart0dte.services.notifications import Delivery, ReminderEvent, alarm_notice, remind

NAME = "notify"
logger = Logger(service=NAME)
tracer = lambda_tracer(NAME)
metrics = Metrics(namespace="Smart0DTE", service=NAME)


def alarms(event: dict[str, Any]) -> tuple[TradingMode, list[Delivery]]:
    """Forward the feed's and the gateway's alarms among the SNS records, at the active mode's levels."""
    records = event["Records"]
    if not isinstance(records, list) or not all(isinstance(x, dict) and "Sns" in x for x in records):
        raise MalformedEvent(f"{NAME}: Records must be a list of SNS records, each with its Sns")
    mode = active_mode()
    prefix = runtime(mode).config.prefix
    names = {
        NotificationKind.FEED_DOWN: r.FEED.physical_name(prefix),
        NotificationKind.GATEWAY_DOWN: r.GATEWAY.physical_name(prefix),
    }
    notifications = runtime(mode).forwarded_notifications()
    deliveries = []
    for record in records:
        notice = alarm_notice(str(record["Sns"].get("Message", "")), names)
        if notice is not None:
            deliveries.append(notifications.send(*notice))
    return mode, deliveries


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" in event:
        mode, deliveries = alarms(event)
    else:
        request = parse_event(ReminderEvent, event, NAME)
        deliveries, mode = [remind(runtime(request.mode).notifications, request)], request.mode
    failed = sum(len(d.failed) for d in deliveries)
    metrics.add_metric(name="NotificationFailures", unit=MetricUnit.Count, value=failed)
    result = {
        "notices": [
            {
                "kind": d.kind.value,
                "mode": mode.value,
                "level": d.level.value,
                "sent": list(d.sent),
                "failed": list(d.failed),
            }
            for d in deliveries
        ]
    }
    logger.info("notified", extra=result)
    return result


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _handle(event, context_or_local(context, NAME))
    return result
