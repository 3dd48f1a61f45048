from datetime import UTC, datetime, timedelta

import pytest

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.local.clock import SimulatedClock
from smart0dte.ports import Clock

OPEN = datetime(2025, 3, 14, 9, 30, tzinfo=NEW_YORK)
MINUTE = timedelta(minutes=1)


class Wall:
    """A monotonic clock that moves only when slept on."""

    def __init__(self) -> None:
        self.t = 100.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_time_moves_only_forward_when_told() -> None:
    clock: Clock = SimulatedClock(OPEN)
    simulated = SimulatedClock(OPEN)

    assert clock.now() == OPEN and clock.now().tzinfo is UTC
    assert simulated.advance_to(OPEN + MINUTE) == OPEN + MINUTE
    assert simulated.advance_to(OPEN + MINUTE) == simulated.now()
    assert simulated.advance(timedelta(minutes=5)) == OPEN + timedelta(minutes=6)
    assert clock.now() == OPEN


def test_going_back_or_naive_times_or_a_bad_rate_are_refused() -> None:
    clock = SimulatedClock(OPEN)

    with pytest.raises(ValueError, match="clock cannot go back from 2025-03-14T13:30:00"):
        clock.advance_to(OPEN - timedelta(seconds=1))
    with pytest.raises(ValueError, match="must not be negative"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="start=2025-03-14T09:30:00 must be timezone-aware"):
        SimulatedClock(datetime(2025, 3, 14, 9, 30))
    with pytest.raises(ValueError, match="rate=0 must be > 0"):
        SimulatedClock(OPEN, rate=0)
    assert clock.now() == OPEN


def test_a_running_clock_moves_at_its_rate_and_stops_at_the_limit_the_driver_allows() -> None:
    wall = Wall()
    clock = SimulatedClock(OPEN, rate=60.0, monotonic=wall.monotonic, sleep=wall.sleep)  # 1 min per s
    clock.run_until(OPEN + MINUTE)

    wall.t += 0.5
    assert clock.now() == OPEN + timedelta(seconds=30)
    wall.t += 5
    assert clock.now() == OPEN + MINUTE  # never past the next minute's data
    # Held again at the minute, then let run toward the next: waiting sleeps the 1/rate of it left.
    assert clock.advance_to(OPEN + MINUTE) == OPEN + MINUTE
    clock.run_until(OPEN + 2 * MINUTE)
    wall.t += 0.25
    assert clock.advance_to(OPEN + MINUTE) == OPEN + timedelta(seconds=75)  # already past: no going back
    before = wall.t
    clock.wait_until(OPEN + 2 * MINUTE)
    assert wall.t - before == pytest.approx(0.75)
    assert clock.now() == OPEN + 2 * MINUTE


def test_a_held_clock_is_not_waited_for_and_runs_on_at_the_wall_clocks_pace_when_told() -> None:
    wall = Wall()
    clock = SimulatedClock(OPEN, rate=600.0, monotonic=wall.monotonic, sleep=wall.sleep)

    clock.wait_until(OPEN + MINUTE)  # held: the driver jumps (before the open, after the close)
    assert wall.t == 100.0 and clock.now() == OPEN
    clock.run_until(None, rate=1.0)
    wall.t += 2.5
    assert clock.now() == OPEN + timedelta(seconds=2.5)
    assert clock.rate == 1.0
