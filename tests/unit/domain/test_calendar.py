from datetime import UTC, date, datetime

import pytest

from smart0dte.domain.calendar import MarketCalendar, MarketPhase
from smart0dte.domain.models import DomainError, Underlying

UTC = UTC


@pytest.fixture(scope="module")
def calendar() -> MarketCalendar:
    return MarketCalendar()


@pytest.mark.parametrize(
    "holiday",
    [
        date(2020, 1, 1),  # New Year's Day
        date(2021, 12, 24),  # Christmas observed on Friday
        date(2023, 6, 19),  # Juneteenth
        date(2025, 1, 9),  # National day of mourning (President Carter), a one-off closure
        date(2025, 4, 18),  # Good Friday
        date(2025, 7, 4),
        date(2026, 11, 26),  # Thanksgiving
        date(2030, 12, 25),
    ],
)
def test_holidays_are_not_sessions(calendar: MarketCalendar, holiday: date) -> None:
    assert not calendar.is_session(holiday)
    assert calendar.session(holiday) is None
    assert (
        calendar.phase(datetime(holiday.year, holiday.month, holiday.day, 15, tzinfo=UTC))
        is MarketPhase.HOLIDAY
    )


@pytest.mark.parametrize(
    ("day", "close_utc_hour"),
    [
        (date(2025, 11, 28), 18),  # day after Thanksgiving, EST: 13:00 ET = 18:00 UTC
        (date(2024, 7, 3), 17),  # before Independence Day, EDT: 13:00 ET = 17:00 UTC
        (date(2024, 12, 24), 18),
    ],
)
def test_early_closes_at_1300_new_york(calendar: MarketCalendar, day: date, close_utc_hour: int) -> None:
    times = calendar.session(day)
    assert times is not None
    assert times.early_close
    assert (times.close_et.hour, times.close_et.minute) == (13, 0)
    assert times.close_et.astimezone(UTC).hour == close_utc_hour
    assert (times.flatten_et.hour, times.flatten_et.minute) == (12, 50)
    assert times.minutes == 210


def test_regular_session_is_0930_to_1600_with_flatten_ten_minutes_before(calendar: MarketCalendar) -> None:
    times = calendar.session(date(2025, 3, 14))
    assert times is not None
    assert not times.early_close
    assert times.open_et.isoformat() == "2025-03-14T09:30:00-04:00"
    assert times.close_et.isoformat() == "2025-03-14T16:00:00-04:00"
    assert times.flatten_et.isoformat() == "2025-03-14T15:50:00-04:00"


def test_flatten_time_is_configurable() -> None:
    times = MarketCalendar(flatten_minutes_before_close=30).session(date(2025, 11, 28))
    assert times is not None
    assert (times.flatten_et.hour, times.flatten_et.minute) == (12, 30)


@pytest.mark.parametrize(
    ("before", "after", "before_offset_h", "after_offset_h"),
    [
        (date(2025, 3, 7), date(2025, 3, 10), -5, -4),  # spring forward on Sunday 2025-03-09
        (date(2025, 10, 31), date(2025, 11, 3), -4, -5),  # fall back on Sunday 2025-11-02
    ],
)
def test_open_stays_0930_new_york_across_dst_switches(
    calendar: MarketCalendar, before: date, after: date, before_offset_h: int, after_offset_h: int
) -> None:
    for day, offset_h in ((before, before_offset_h), (after, after_offset_h)):
        times = calendar.session(day)
        assert times is not None
        assert (times.open_et.hour, times.open_et.minute) == (9, 30)
        offset = times.open_et.utcoffset()
        assert offset is not None and offset.total_seconds() == offset_h * 3600
        open_utc = times.open_et.astimezone(UTC)
        assert open_utc.hour == 9 - offset_h and open_utc.minute == 30


@pytest.mark.parametrize(
    ("instant_utc", "phase"),
    [
        # Friday 2025-03-07 is EST (UTC-5).
        (datetime(2025, 3, 7, 12, 59, tzinfo=UTC), MarketPhase.OVERNIGHT),  # 07:59 ET
        (datetime(2025, 3, 7, 13, 0, tzinfo=UTC), MarketPhase.PRE_MARKET),  # 08:00 ET
        (datetime(2025, 3, 7, 14, 29, tzinfo=UTC), MarketPhase.PRE_MARKET),
        (datetime(2025, 3, 7, 14, 30, tzinfo=UTC), MarketPhase.TRADING),
        (datetime(2025, 3, 7, 20, 59, tzinfo=UTC), MarketPhase.TRADING),
        (datetime(2025, 3, 7, 21, 0, tzinfo=UTC), MarketPhase.AFTER_HOURS),
        (datetime(2025, 3, 8, 1, 0, tzinfo=UTC), MarketPhase.OVERNIGHT),  # Friday 20:00 ET
        (datetime(2025, 3, 9, 15, 0, tzinfo=UTC), MarketPhase.WEEKEND),
        # Monday 2025-03-10 is EDT (UTC-4): the same UTC instant is an hour later in New York.
        (datetime(2025, 3, 10, 13, 29, tzinfo=UTC), MarketPhase.PRE_MARKET),
        (datetime(2025, 3, 10, 13, 30, tzinfo=UTC), MarketPhase.TRADING),
        (datetime(2025, 3, 10, 20, 0, tzinfo=UTC), MarketPhase.AFTER_HOURS),
        # Early close: 13:00 ET on 2025-11-28 (EST).
        (datetime(2025, 11, 28, 17, 59, tzinfo=UTC), MarketPhase.TRADING),
        (datetime(2025, 11, 28, 18, 0, tzinfo=UTC), MarketPhase.AFTER_HOURS),
    ],
)
def test_phase_at_instants(calendar: MarketCalendar, instant_utc: datetime, phase: MarketPhase) -> None:
    assert calendar.phase(instant_utc) is phase


def test_phase_rejects_naive_instants(calendar: MarketCalendar) -> None:
    with pytest.raises(DomainError, match="timezone-aware"):
        calendar.phase(datetime(2025, 3, 7, 15, 0))


def test_every_session_has_a_0dte_expiry_by_default(calendar: MarketCalendar) -> None:
    assert all(calendar.has_0dte_expiry(u, date(2025, 3, 12)) for u in Underlying.tradable())
    assert not calendar.has_0dte_expiry(Underlying.SPY, date(2025, 7, 4))


def test_expiry_schedule_per_underlying_moves_holiday_expiries_to_the_session_before() -> None:
    mon_wed_fri = frozenset({0, 2, 4})
    calendar = MarketCalendar(expiry_weekdays={Underlying.IWM: mon_wed_fri})
    assert calendar.has_0dte_expiry(Underlying.IWM, date(2025, 4, 16))  # Wednesday
    assert not calendar.has_0dte_expiry(Underlying.IWM, date(2025, 4, 15))  # Tuesday
    assert calendar.has_0dte_expiry(Underlying.IWM, date(2025, 4, 17))  # Thursday before Good Friday
    assert not calendar.has_0dte_expiry(Underlying.IWM, date(2025, 4, 10))  # an ordinary Thursday
    assert calendar.has_0dte_expiry(Underlying.SPY, date(2025, 4, 15))  # others keep the default


def test_vix_has_no_0dte_expiry_question(calendar: MarketCalendar) -> None:
    with pytest.raises(DomainError, match="underlying=VIX"):
        calendar.has_0dte_expiry(Underlying.VIX, date(2025, 3, 12))


def test_dates_outside_2020_2030_are_refused_with_the_range(calendar: MarketCalendar) -> None:
    with pytest.raises(DomainError, match=r"date=2031-01-02 .* 2020-01-01\.\.2030-12-31"):
        calendar.is_session(date(2031, 1, 2))


def test_bad_configuration_names_the_field() -> None:
    with pytest.raises(DomainError, match="flatten_minutes_before_close=-1"):
        MarketCalendar(flatten_minutes_before_close=-1)
    with pytest.raises(DomainError, match="expiry_weekdays"):
        MarketCalendar(expiry_weekdays={Underlying.QQQ: frozenset({5})})


def test_session_navigation_skips_weekends_and_holidays(calendar: MarketCalendar) -> None:
    assert calendar.next_session(date(2025, 4, 17)) == date(2025, 4, 21)
    assert calendar.previous_session(date(2025, 4, 21)) == date(2025, 4, 17)
    assert calendar.sessions_between(date(2025, 12, 22), date(2025, 12, 26)) == [
        date(2025, 12, 22),
        date(2025, 12, 23),
        date(2025, 12, 24),
        date(2025, 12, 26),
    ]
