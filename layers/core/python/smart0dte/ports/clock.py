"""The current instant."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """The current instant, timezone-aware; simulated in replays and tests."""

    def now(self) -> datetime: ...
