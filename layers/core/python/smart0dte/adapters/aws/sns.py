"""A notification channel: the SNS alert topic, which emails its subscriptions (`services.notifications`
sends it the kinds whose level is `on`; an email has no silent delivery)."""

from __future__ import annotations

from typing import Any, Final

MAX_SUBJECT_CHARS: Final = 100
"""SNS's limit on an email subject."""
MAX_MESSAGE_BYTES: Final = 256 * 1024
ORIGIN_ATTRIBUTE: Final = "origin"
"""A message attribute on what Smart 0DTE publishes; the alarm forwarder's subscription takes only
messages without it (the CloudWatch alarms'), so it never forwards our own."""
ORIGIN: Final = "smart0dte"


class SnsNotifier:
    """Publishes to one topic through an injected boto3 SNS client."""

    def __init__(self, topic_arn: str, client: Any) -> None:
        if not topic_arn.startswith("arn:"):
            raise ValueError(f"topic_arn={topic_arn!r} must be an SNS topic ARN")
        self._topic_arn = topic_arn
        self._client = client

    @property
    def topic_arn(self) -> str:
        return self._topic_arn

    def notify(self, subject: str, message: str) -> None:
        """Publish; a subject over SNS's limit is shortened, a message over it refused (naming it)."""
        if len(message.encode()) > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"message of {len(message.encode())} bytes exceeds SNS's {MAX_MESSAGE_BYTES} bytes"
            )
        short = subject if len(subject) <= MAX_SUBJECT_CHARS else subject[: MAX_SUBJECT_CHARS - 3] + "..."
        self._client.publish(
            TopicArn=self._topic_arn,
            Subject=short,
            Message=message,
            MessageAttributes={ORIGIN_ATTRIBUTE: {"DataType": "String", "StringValue": ORIGIN}},
        )
