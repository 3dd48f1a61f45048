"""The order-command queue of the broker-backed modes: the trading steps send, the order bridge receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from smart0dte.domain.venue import CancelOrder, PlaceOrder


class OrderQueue(Protocol):
    """Where the broker venue's commands go for the gateway's IB bridge (SQS FIFO in AWS)."""

    def send(self, command: PlaceOrder | CancelOrder) -> str:
        """Enqueue `command` once (a place per intent id, a cancel per intent id); returns the
        message id."""
        ...


@dataclass(frozen=True, slots=True)
class ReceivedCommand:
    """One queue message: the parsed command, or None with `error` saying why its body did not parse.

    `mode` is the message's mode attribute (None when absent), checked before the body is trusted.
    """

    receipt: str
    message_id: str
    command: PlaceOrder | CancelOrder | None
    mode: str | None = None
    error: str = ""

    @property
    def intent_id(self) -> str | None:
        return None if self.command is None else self.command.intent_id


class CommandReceiver(Protocol):
    """Where the bridge reads the commands (the SQS FIFO order queue in AWS)."""

    def receive(self, max_messages: int, wait_s: int) -> list[ReceivedCommand]:
        """Up to `max_messages` messages, waiting up to `wait_s` seconds for the first (long poll)."""
        ...

    def delete(self, receipt: str) -> None:
        """Acknowledge the message: it will not be delivered again."""
        ...
