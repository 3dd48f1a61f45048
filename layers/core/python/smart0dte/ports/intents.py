"""The live order-intent queue: the Execute step sends, the gateway's order bridge receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from smart0dte.domain.models import OrderIntent


class OrderQueue(Protocol):
    """Where live order intents go for the gateway's IB bridge (SQS FIFO in AWS)."""

    def send(self, intent: OrderIntent) -> str:
        """Enqueue `intent` once per intent id; returns the message id."""
        ...


@dataclass(frozen=True, slots=True)
class ReceivedIntent:
    """One queue message: the parsed intent, or None with `error` saying why its body did not parse.

    `mode` is the message's mode attribute (None when absent), checked before the body is trusted.
    """

    receipt: str
    message_id: str
    intent: OrderIntent | None
    mode: str | None = None
    error: str = ""


class IntentReceiver(Protocol):
    """Where the bridge reads live intents (the SQS FIFO order-intent queue in AWS)."""

    def receive(self, max_messages: int, wait_s: int) -> list[ReceivedIntent]:
        """Up to `max_messages` messages, waiting up to `wait_s` seconds for the first (long poll)."""
        ...

    def delete(self, receipt: str) -> None:
        """Acknowledge the message: it will not be delivered again."""
        ...
