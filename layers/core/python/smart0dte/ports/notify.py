"""Messages for the humans: a notifier is one channel (the SNS alert topic's email, Telegram)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class Notifier(Protocol):
    """One channel to the humans (the SNS alert topic in AWS, Telegram when configured)."""

    def notify(self, subject: str, message: str) -> None: ...


@runtime_checkable
class QuietNotifier(Protocol):
    """A channel that can also deliver without an alert (Telegram's `disable_notification`): the
    SILENT level reaches only channels that have `notify_quietly`."""

    def notify(self, subject: str, message: str) -> None: ...

    def notify_quietly(self, subject: str, message: str) -> None: ...
