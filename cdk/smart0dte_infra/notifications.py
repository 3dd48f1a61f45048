"""Who hears the alert topic: an email subscription per address of `-c alertEmail=a@x,b@y`, and the
notify function for the alarms it forwards to the other channels; and, with the gateway, the
Sunday-evening schedule that has the notify function remind the owner of IB's weekly
re-authentication.

The topic (storage.py) carries what `services.notifications` sends to its SNS channel (the kinds
whose level is `on`) and what the CloudWatch alarms publish. AWS emails each address a confirmation
link first: nothing is delivered to an address until it is confirmed. Without the context there is
no subscription (the stack still deploys; the alerts go nowhere until one is added).
"""

from __future__ import annotations

import json
import re
from typing import Final

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct, Node

from smart0dte import resources as r
from smart0dte.adapters.aws.sns import ORIGIN_ATTRIBUTE
from smart0dte.domain.controls import NotificationKind
from smart0dte.domain.models import TradingMode

ALERT_EMAIL_CONTEXT: Final = "alertEmail"
MAX_ALERT_EMAILS: Final = 10
EMAIL: Final = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")


class AlertEmailContextError(ValueError):
    """`alertEmail` is not a comma-separated list of email addresses."""


def alert_emails_from_context(node: Node) -> tuple[str, ...]:
    """The addresses of `alertEmail` (none when absent or blank); a malformed one is refused by name."""
    raw = node.try_get_context(ALERT_EMAIL_CONTEXT)
    if raw is None:
        return ()
    emails = tuple(part.strip() for part in str(raw).split(",") if part.strip())
    bad = [e for e in emails if not EMAIL.fullmatch(e)]
    if bad:
        raise AlertEmailContextError(
            f"context {ALERT_EMAIL_CONTEXT}: {', '.join(repr(b) for b in bad)} is not an email address; "
            f"use -c {ALERT_EMAIL_CONTEXT}=you@example.com (several separated by commas)"
        )
    if len(emails) > MAX_ALERT_EMAILS:
        raise AlertEmailContextError(
            f"context {ALERT_EMAIL_CONTEXT}: {len(emails)} addresses, at most {MAX_ALERT_EMAILS}"
        )
    return emails


class AlertSubscriptions(Construct):
    """One email subscription of the alert topic per address, an output listing them, and the
    notify function's subscription to the messages Smart 0DTE did not publish (the CloudWatch
    alarms': without the `origin` attribute), which it forwards to the other channels."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        topic: sns.ITopic,
        emails: tuple[str, ...],
        forwarder: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id_)
        forwarder.add_permission(
            "FromAlertTopic", principal=iam.ServicePrincipal("sns.amazonaws.com"), source_arn=topic.topic_arn
        )
        self.forwarder = sns.Subscription(
            self,
            "AlarmForwarder",
            topic=topic,
            protocol=sns.SubscriptionProtocol.LAMBDA,
            endpoint=forwarder.function_arn,
            filter_policy={ORIGIN_ATTRIBUTE: sns.SubscriptionFilter(conditions=[{"exists": False}])},
        )
        self.subscriptions = [
            sns.Subscription(
                self, f"Email{i}", topic=topic, protocol=sns.SubscriptionProtocol.EMAIL, endpoint=e
            )
            for i, e in enumerate(emails)
        ]
        CfnOutput(
            self,
            "AlertEmails",
            value=", ".join(emails) or "none",
            description=(
                "confirm the link AWS emails to each address; nothing is delivered before"
                if emails
                else f"no email hears the alert topic: deploy with -c {ALERT_EMAIL_CONTEXT}=you@example.com"
            ),
        )


class ReauthenticationReminder(Construct):
    """Sunday 18:00 New York (`resources.REAUTHENTICATION_CRON`): the notify function sends the
    gateway mode's `ib_reauthentication` notice; the schedule's role may invoke that function only."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        prefix: str,
        mode: TradingMode,
        function: lambda_.IFunction,
        group: scheduler.CfnScheduleGroup,
    ) -> None:
        super().__init__(scope, construct_id_)
        name = f"{prefix}-{r.REAUTHENTICATION_SCHEDULE}"
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description=f"{name}: invokes the notify function only",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn])
        )
        event = {
            "kind": NotificationKind.IB_REAUTHENTICATION.value,
            "mode": mode.value,
            "scheduled_time": "<aws.scheduler.scheduled-time>",
        }
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            name=name,
            group_name=group.name,
            schedule_expression=r.REAUTHENTICATION_CRON,
            schedule_expression_timezone=r.SCHEDULE_TIMEZONE,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            description=f"IB's weekly re-authentication ({r.REAUTHENTICATION_CRON} {r.SCHEDULE_TIMEZONE})",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn,
                role_arn=self.role.role_arn,
                input=json.dumps(event),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=3, maximum_event_age_in_seconds=3600
                ),
            ),
        )
        self.schedule.node.add_dependency(group)
