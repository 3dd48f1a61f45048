"""A simulated clock for replays: time moves only when the driver says so, never backwards.

It implements `ports.Clock`, so anything that asks for "now" during a replay sees the replayed
minute, not the wall clock, and a day plays in seconds without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def _aware(field: str, instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{field}={instant.isoformat()} must be timezone-aware")
    return instant.astimezone(UTC)


class SimulatedClock:
    """The replay's current instant (UTC), shared safely between threads."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware("start", start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance_to(self, instant: datetime) -> datetime:
        """Move to `instant`; moving to the current instant is a no-op, moving back is refused."""
        target = _aware("instant", instant)
        with self._lock:
            if target < self._now:
                raise ValueError(f"clock cannot go back from {self._now.isoformat()} to {target.isoformat()}")
            self._now = target
            return target

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError(f"delta={delta} must not be negative")
        with self._lock:
            self._now += delta
            return self._now


class RunningClock:
    """Starts at a given instant and runs with the wall clock from there: the served demo's API
    stands just after the replayed close, and actions taken on the dashboard get their own times."""

    def __init__(self, start: datetime, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._start = _aware("start", start)
        self._monotonic = monotonic
        self._t0 = monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._monotonic() - self._t0)
