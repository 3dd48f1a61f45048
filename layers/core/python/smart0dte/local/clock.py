"""The replay's clock: time moves only when the driver says so, or runs at a set pace up to an
instant the driver allows; never backwards.

It implements `ports.Clock`, so anything that asks for "now" during a replay (the handlers through
`bootstrap.runtime.use_clock`, the served API) sees the replayed instant, not the wall clock. Held,
a day plays in seconds without sleeping; running, the played-live demo's day moves while you watch.
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


def _rate(rate: float) -> float:
    if not rate > 0:
        raise ValueError(f"rate={rate} must be > 0 simulated seconds per wall-clock second")
    return rate


class SimulatedClock:
    """The replay's current instant (UTC), shared safely between threads.

    Held (the default), it stands where `advance_to` put it. `run_until(limit)` lets it run from
    where it stands at `rate` simulated seconds per wall-clock second, stopping at `limit` (None:
    no limit); `advance_to` holds it again. `rate` None means it never runs.
    """

    def __init__(
        self,
        start: datetime,
        rate: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base = _aware("start", start)
        self._rate = None if rate is None else _rate(rate)
        self._monotonic = monotonic
        self._sleep = sleep
        self._mark = monotonic()
        self._running = False
        self._limit: datetime | None = None
        self._lock = threading.Lock()

    @property
    def rate(self) -> float | None:
        """Simulated seconds per wall-clock second when running (None: it never runs)."""
        return self._rate

    def _now(self) -> datetime:
        if not self._running or self._rate is None:
            return self._base
        ran = self._base + timedelta(seconds=(self._monotonic() - self._mark) * self._rate)
        return ran if self._limit is None else min(ran, self._limit)

    def now(self) -> datetime:
        with self._lock:
            return self._now()

    def advance_to(self, instant: datetime) -> datetime:
        """Hold at `instant`, or where the clock has run to if that is later (a running clock may
        already be past it); going back from the last held instant is refused."""
        target = _aware("instant", instant)
        with self._lock:
            if target < self._base:
                raise ValueError(
                    f"clock cannot go back from {self._base.isoformat()} to {target.isoformat()}"
                )
            current = self._now()
            if target <= current:
                return current
            self._base, self._mark, self._running = target, self._monotonic(), False
            return target

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError(f"delta={delta} must not be negative")
        return self.advance_to(self.now() + delta)

    def run_until(self, limit: datetime | None, rate: float | None = None) -> None:
        """Run from the current instant up to `limit` (None: on and on), at `rate` when given."""
        with self._lock:
            self._base, self._mark = self._now(), self._monotonic()
            if rate is not None:
                self._rate = _rate(rate)
            self._limit = None if limit is None else _aware("limit", limit)
            self._running = self._rate is not None

    def wait_until(self, instant: datetime) -> None:
        """Sleep until the running clock reaches `instant`; return at once when it is held or runs
        toward an earlier limit (the driver then moves it itself)."""
        target = _aware("instant", instant)
        while True:
            with self._lock:
                if not self._running or self._rate is None or (self._limit and self._limit < target):
                    return
                left_s = (target - self._now()).total_seconds() / self._rate
            if left_s <= 0:
                return
            self._sleep(left_s)
