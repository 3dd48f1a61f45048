"""NYSE sessions, trading-day phases, 0DTE expiries and the flatten time.

Sessions, holidays and early closes come from exchange_calendars (XNYS), never a hand-written
list: tools/xnys_sessions.py generates them into xnys_sessions.py, tested equal to exchange_calendars,
so that a Lambda need not import exchange_calendars and pandas (~0.8 s of a cold start). Dates
outside that table's 2020-2030 are refused with the range, as before. Instants are converted to New
York time with zoneinfo, so both DST switches are right.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from smart0dte.domain import xnys_sessions
from smart0dte.domain.models import DomainError, Underlying

NEW_YORK = ZoneInfo("America/New_York")
FIRST_SUPPORTED_DATE = xnys_sessions.FIRST_DATE
LAST_SUPPORTED_DATE = xnys_sessions.LAST_DATE
PRE_MARKET_START_ET = time(8, 0)
AFTER_HOURS_END_ET = time(20, 0)
REGULAR_CLOSE_ET = time(16, 0)
DEFAULT_FLATTEN_MINUTES_BEFORE_CLOSE = 10
MAX_FLATTEN_MINUTES_BEFORE_CLOSE = 180
EVERY_WEEKDAY = frozenset(range(5))
"""Monday=0 .. Friday=4, as `date.weekday()` counts."""


class MarketPhase(StrEnum):
    PRE_MARKET = "PRE_MARKET"
    TRADING = "TRADING"
    AFTER_HOURS = "AFTER_HOURS"
    OVERNIGHT = "OVERNIGHT"
    WEEKEND = "WEEKEND"
    HOLIDAY = "HOLIDAY"


@dataclass(frozen=True, slots=True)
class SessionTimes:
    """One NYSE session, in New York time."""

    session_date: date
    open_et: datetime
    close_et: datetime
    flatten_et: datetime

    @property
    def early_close(self) -> bool:
        return self.close_et.time() < REGULAR_CLOSE_ET

    @property
    def minutes(self) -> int:
        return int((self.close_et - self.open_et).total_seconds() // 60)


@lru_cache(maxsize=1)
def _xnys_schedule() -> Mapping[date, tuple[datetime, datetime]]:
    """Open and close (UTC) of every XNYS session in the supported range."""
    schedule = {}
    day = FIRST_SUPPORTED_DATE
    while day <= LAST_SUPPORTED_DATE:
        if day.weekday() < 5 and day not in xnys_sessions.HOLIDAYS:
            close_et = xnys_sessions.EARLY_CLOSES.get(day, xnys_sessions.CLOSE_ET)
            schedule[day] = (
                datetime.combine(day, xnys_sessions.OPEN_ET, NEW_YORK).astimezone(UTC),
                datetime.combine(day, close_et, NEW_YORK).astimezone(UTC),
            )
        day += timedelta(days=1)
    return schedule


def _check_in_range(field: str, day: date) -> None:
    if not FIRST_SUPPORTED_DATE <= day <= LAST_SUPPORTED_DATE:
        raise DomainError(
            f"{field}={day.isoformat()} is outside the supported calendar range "
            f"{FIRST_SUPPORTED_DATE.isoformat()}..{LAST_SUPPORTED_DATE.isoformat()}"
        )


class MarketCalendar:
    """The NYSE calendar as the trading system sees it.

    `expiry_weekdays` says on which weekdays each underlying lists a same-day expiry (default:
    every session). When a listed weekday is a holiday the expiry moves to the session before,
    as the exchanges do (e.g. Good Friday weeklies expire on Thursday).
    """

    def __init__(
        self,
        flatten_minutes_before_close: int = DEFAULT_FLATTEN_MINUTES_BEFORE_CLOSE,
        expiry_weekdays: Mapping[Underlying, frozenset[int]] | None = None,
    ) -> None:
        if not 0 <= flatten_minutes_before_close <= MAX_FLATTEN_MINUTES_BEFORE_CLOSE:
            raise DomainError(
                f"flatten_minutes_before_close={flatten_minutes_before_close} must be within "
                f"0..{MAX_FLATTEN_MINUTES_BEFORE_CLOSE}"
            )
        weekdays = dict(expiry_weekdays or {})
        for underlying, days in weekdays.items():
            if not days <= EVERY_WEEKDAY:
                raise DomainError(
                    f"expiry_weekdays[{underlying}]={sorted(days)} must be within 0..4 (Mon..Fri)"
                )
        self._flatten_before_close = timedelta(minutes=flatten_minutes_before_close)
        self._expiry_weekdays = weekdays
        self._schedule = _xnys_schedule()

    def is_session(self, day: date) -> bool:
        _check_in_range("date", day)
        return day in self._schedule

    def session(self, day: date) -> SessionTimes | None:
        """Open, close and flatten times of `day`, or None when the exchange is closed."""
        _check_in_range("date", day)
        times = self._schedule.get(day)
        if times is None:
            return None
        open_et = times[0].astimezone(NEW_YORK)
        close_et = times[1].astimezone(NEW_YORK)
        return SessionTimes(day, open_et, close_et, close_et - self._flatten_before_close)

    def next_session(self, day: date) -> date:
        """The first session strictly after `day`."""
        candidate = day + timedelta(days=1)
        while not self.is_session(candidate):
            candidate += timedelta(days=1)
        return candidate

    def previous_session(self, day: date) -> date:
        """The last session strictly before `day`."""
        candidate = day - timedelta(days=1)
        while not self.is_session(candidate):
            candidate -= timedelta(days=1)
        return candidate

    def sessions_between(self, start: date, end: date) -> list[date]:
        """Sessions from `start` to `end`, both included."""
        _check_in_range("start", start)
        _check_in_range("end", end)
        if end < start:
            raise DomainError(f"end={end} must not be before start={start}")
        return sorted(d for d in self._schedule if start <= d <= end)

    def phase(self, instant: datetime) -> MarketPhase:
        """The phase of the trading day at `instant` (timezone-aware)."""
        if instant.tzinfo is None:
            raise DomainError("instant must be timezone-aware")
        local = instant.astimezone(NEW_YORK)
        day = local.date()
        times = self.session(day)
        if times is None:
            return MarketPhase.WEEKEND if day.weekday() >= 5 else MarketPhase.HOLIDAY
        if local < local.replace(hour=PRE_MARKET_START_ET.hour, minute=0, second=0, microsecond=0):
            return MarketPhase.OVERNIGHT
        if local < times.open_et:
            return MarketPhase.PRE_MARKET
        if local < times.close_et:
            return MarketPhase.TRADING
        if local.time() < AFTER_HOURS_END_ET:
            return MarketPhase.AFTER_HOURS
        return MarketPhase.OVERNIGHT

    def has_0dte_expiry(self, underlying: Underlying, day: date) -> bool:
        """Whether `underlying` has options expiring on session `day`."""
        if not underlying.is_tradable:
            raise DomainError(f"underlying={underlying.value} is an index: 0DTE applies to SPY, QQQ, IWM")
        if not self.is_session(day):
            return False
        listed = self._expiry_weekdays.get(underlying, EVERY_WEEKDAY)
        if day.weekday() in listed:
            return True
        # A listed weekday that falls on a holiday before the next session moves here.
        following = day + timedelta(days=1)
        while following.weekday() < 5 and following <= LAST_SUPPORTED_DATE and not self.is_session(following):
            if following.weekday() in listed:
                return True
            following += timedelta(days=1)
        return False
