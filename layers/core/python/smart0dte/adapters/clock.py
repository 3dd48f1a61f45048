"""The wall clock (the embedded AWS's simulated clock is `smart0dte.local.clock`)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """`Clock` on the system time, timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
