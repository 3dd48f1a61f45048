"""The SQS FIFO order queue of the broker venue's commands (place, cancel): OrderQueue (the trading
steps send) and CommandReceiver (the gateway's order bridge reads)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from smart0dte.domain.venue import VENUE_COMMAND, CancelOrder, PlaceOrder
from smart0dte.ports import ReceivedCommand
from smart0dte.resources import mode_key

MODE_ATTRIBUTE = "mode"
"""Message attribute carrying the command's trading mode, so the bridge can refuse a mismatch unparsed."""


class SqsOrderQueue:
    """Sends each command as JSON. The deduplication id is the intent id (`cancel-` before it for a
    cancel), so a retried send inside SQS's five-minute window enqueues nothing new (past it, the
    bridge's orderRef = intent id and the stored order's status still hold). One message group per
    mode and underlying keeps each symbol's commands in order (a cancel before the order that
    replaces it) without blocking the others."""

    def __init__(self, queue_url: str, client: Any) -> None:
        if not queue_url.endswith(".fifo"):
            raise ValueError(f"queue_url={queue_url!r} must name a FIFO queue (ending in .fifo)")
        self._queue_url = queue_url
        self._client = client

    def send(self, command: PlaceOrder | CancelOrder) -> str:
        dedup = command.intent_id if isinstance(command, PlaceOrder) else f"cancel-{command.intent_id}"
        response = self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=command.model_dump_json(),
            MessageGroupId=mode_key(command.mode, command.root),
            MessageDeduplicationId=dedup,
            MessageAttributes={MODE_ATTRIBUTE: {"DataType": "String", "StringValue": command.mode.value}},
        )
        return str(response["MessageId"])


class SqsCommandReceiver:
    """CommandReceiver on the same FIFO queue: long-polls messages and parses each body as a
    command (place or cancel). A body that does not parse is returned with `command` None and the parse error,
    never dropped here: the bridge audits it as refused and deletes it (the DLQ only catches
    messages whose handling keeps failing)."""

    def __init__(self, queue_url: str, client: Any) -> None:
        if not queue_url.endswith(".fifo"):
            raise ValueError(f"queue_url={queue_url!r} must name a FIFO queue (ending in .fifo)")
        self._queue_url = queue_url
        self._client = client

    def receive(self, max_messages: int, wait_s: int) -> list[ReceivedCommand]:
        if not 1 <= max_messages <= MAX_RECEIVE_MESSAGES:
            raise ValueError(f"max_messages={max_messages} must be within 1..{MAX_RECEIVE_MESSAGES}")
        if not 0 <= wait_s <= MAX_WAIT_S:
            raise ValueError(f"wait_s={wait_s} must be within 0..{MAX_WAIT_S}")
        response = self._client.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_s,
            MessageAttributeNames=[MODE_ATTRIBUTE],
        )
        return [_received(message) for message in response.get("Messages", [])]

    def delete(self, receipt: str) -> None:
        self._client.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt)


MAX_RECEIVE_MESSAGES = 10
MAX_WAIT_S = 20
"""SQS limits: ten messages per receive, twenty seconds of long polling."""


def _received(message: dict[str, Any]) -> ReceivedCommand:
    mode = message.get("MessageAttributes", {}).get(MODE_ATTRIBUTE, {}).get("StringValue")
    body = str(message.get("Body", ""))
    try:
        command: PlaceOrder | CancelOrder | None = VENUE_COMMAND.validate_json(body)
        error = ""
    except ValidationError as exc:
        command, error = None, f"{exc.error_count()} validation error(s): {exc.errors()[0]['msg']}"
    return ReceivedCommand(
        receipt=str(message["ReceiptHandle"]),
        message_id=str(message.get("MessageId", "")),
        command=command,
        mode=None if mode is None else str(mode),
        error=error,
    )
