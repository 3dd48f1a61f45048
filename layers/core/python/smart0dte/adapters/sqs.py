"""OrderQueue on the SQS FIFO order-intent queue that the gateway's IB bridge reads."""

from __future__ import annotations

from typing import Any

from smart0dte.domain.models import OrderIntent
from smart0dte.resources import mode_key

MODE_ATTRIBUTE = "mode"
"""Message attribute carrying the intent's trading mode, so the bridge can refuse a mismatch unparsed."""


class SqsOrderQueue:
    """Sends each intent as JSON. The deduplication id is the intent id, so a retried send inside
    SQS's five-minute window enqueues nothing new (past it, the bridge's orderRef = intent id and
    the execute step's idempotency record still hold). One message group per mode and
    underlying keeps each symbol's intents in order without blocking the others."""

    def __init__(self, queue_url: str, client: Any) -> None:
        if not queue_url.endswith(".fifo"):
            raise ValueError(f"queue_url={queue_url!r} must name a FIFO queue (ending in .fifo)")
        self._queue_url = queue_url
        self._client = client

    def send(self, intent: OrderIntent) -> str:
        response = self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=intent.model_dump_json(),
            MessageGroupId=mode_key(intent.mode, intent.contract.root),
            MessageDeduplicationId=intent.intent_id,
            MessageAttributes={MODE_ATTRIBUTE: {"DataType": "String", "StringValue": intent.mode.value}},
        )
        return str(response["MessageId"])
