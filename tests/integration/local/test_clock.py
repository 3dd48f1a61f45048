from datetime import UTC, datetime, timedelta

import pytest

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.local.clock import RunningClock, SimulatedClock
from smart0dte.ports import Clock

OPEN = datetime(2025, 3, 14, 9, 30, tzinfo=NEW_YORK)


def test_time_moves_only_forward_when_told() -> None:
    clock: Clock = SimulatedClock(OPEN)
    simulated = SimulatedClock(OPEN)

    assert clock.now() == OPEN and clock.now().tzinfo is UTC
    assert simulated.advance_to(OPEN + timedelta(minutes=1)) == OPEN + timedelta(minutes=1)
    assert simulated.advance_to(OPEN + timedelta(minutes=1)) == simulated.now()
    assert simulated.advance(timedelta(minutes=5)) == OPEN + timedelta(minutes=6)
    assert clock.now() == OPEN


def test_going_back_or_naive_times_are_refused() -> None:
    clock = SimulatedClock(OPEN)

    with pytest.raises(ValueError, match="clock cannot go back from 2025-03-14T13:30:00"):
        clock.advance_to(OPEN - timedelta(seconds=1))
    with pytest.raises(ValueError, match="must not be negative"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="start=2025-03-14T09:30:00 must be timezone-aware"):
        SimulatedClock(datetime(2025, 3, 14, 9, 30))
    assert clock.now() == OPEN


def test_the_running_clock_starts_where_told_and_moves_with_the_wall_clock() -> None:
    ticks = iter([100.0, 100.0, 102.5])
    start = datetime(2025, 3, 14, 16, tzinfo=NEW_YORK)
    clock = RunningClock(start, monotonic=lambda: next(ticks))

    assert clock.now() == start.astimezone(UTC)
    assert clock.now() == start.astimezone(UTC) + timedelta(seconds=2.5)
    with pytest.raises(ValueError, match="timezone-aware"):
        RunningClock(datetime(2025, 3, 14, 16))
