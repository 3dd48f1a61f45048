"""Notification channels for tests: one that records what reached it (and can stay quiet, as
Telegram can), one that can only alert (as email), one that always fails."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    quiet: bool


@dataclass
class RecordingChannel:
    """A `QuietNotifier`: `messages` in the order received, each marked quiet or not."""

    messages: list[Message] = field(default_factory=list)

    def notify(self, subject: str, message: str) -> None:
        self.messages.append(Message(subject, message, quiet=False))

    def notify_quietly(self, subject: str, message: str) -> None:
        self.messages.append(Message(subject, message, quiet=True))

    def subjects(self) -> list[str]:
        return [m.subject for m in self.messages]


@dataclass
class AlertOnlyChannel:
    """A `Notifier` without a quiet delivery (the email of the alert topic)."""

    subjects: list[str] = field(default_factory=list)

    def notify(self, subject: str, message: str) -> None:
        self.subjects.append(subject)


class BrokenChannel:
    def notify(self, subject: str, message: str) -> None:
        raise ConnectionError("the channel is down")

    def notify_quietly(self, subject: str, message: str) -> None:
        raise ConnectionError("the channel is down")
