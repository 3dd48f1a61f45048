"""Messages for the humans."""

from __future__ import annotations

from typing import Protocol


class Notifier(Protocol):
    """Messages for the humans (the SNS alert topic in AWS)."""

    def notify(self, subject: str, message: str) -> None: ...
