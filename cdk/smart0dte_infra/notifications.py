"""Who hears the alert topic: an email subscription per address of `-c alertEmail=a@x,b@y`.

The topic (storage.py) carries what `services.notifications` sends to its SNS channel (the kinds
whose level is `on`) and what the CloudWatch alarms publish. AWS emails each address a confirmation
link first: nothing is delivered to an address until it is confirmed. Without the context there is
no subscription (the stack still deploys; the alerts go nowhere until one is added).
"""

from __future__ import annotations

import re
from typing import Final

from aws_cdk import CfnOutput
from aws_cdk import aws_sns as sns
from constructs import Construct, Node

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
    """One email subscription of the alert topic per address, and an output listing them."""

    def __init__(
        self, scope: Construct, construct_id_: str, *, topic: sns.ITopic, emails: tuple[str, ...]
    ) -> None:
        super().__init__(scope, construct_id_)
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
