"""The committed session table (domain/xnys_sessions.py) is what exchange_calendars says, day by day."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from smart0dte.domain.calendar import NEW_YORK, MarketCalendar

GENERATOR = Path(__file__).resolve().parents[3] / "tools" / "xnys_sessions.py"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("xnys_sessions_generator", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_table_is_what_the_generator_renders_today(generator: ModuleType) -> None:
    rendered = generator.render(generator.xnys_schedule())
    assert generator.MODULE_PATH.read_text() == rendered, "run `python tools/xnys_sessions.py`"


def test_every_day_of_the_range_matches_exchange_calendars(generator: ModuleType) -> None:
    expected = generator.xnys_schedule()
    calendar = MarketCalendar(flatten_minutes_before_close=0)
    day, sessions = generator.FIRST_DATE, 0
    while day <= generator.LAST_DATE:
        times = calendar.session(day)
        if day in expected:
            sessions += 1
            assert times is not None, day
            assert (times.open_et.time(), times.close_et.time()) == expected[day], day
            assert times.open_et.tzinfo is NEW_YORK
        else:
            assert times is None, day
        day += timedelta(days=1)
    assert sessions == len(expected) > 2700


def test_session_instants_cross_dst_as_exchange_calendars_gives_them() -> None:
    """The week of the spring switch: 09:30 New York is 14:30 UTC before it, 13:30 after."""
    import exchange_calendars

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
        xnys = exchange_calendars.get_calendar("XNYS", start="2025-03-06", end="2025-03-12")
    schedule = xnys.schedule
    calendar = MarketCalendar()
    for day, open_utc, close_utc in zip(schedule.index, schedule["open"], schedule["close"], strict=True):
        times = calendar.session(day.date())
        assert times is not None
        assert (times.open_et, times.close_et) == (open_utc.to_pydatetime(), close_utc.to_pydatetime())
    assert {calendar.session(d.date()).open_et.utcoffset().total_seconds() for d in schedule.index} == {  # type: ignore[union-attr]
        -5 * 3600.0,
        -4 * 3600.0,
    }


def test_the_calendar_imports_neither_pandas_nor_exchange_calendars() -> None:
    code = (
        "import sys; from datetime import date; from smart0dte.domain.calendar import MarketCalendar; "
        "assert MarketCalendar().is_session(date(2025, 3, 14)); "
        "print(sorted(m for m in ('pandas', 'exchange_calendars') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_table_covers_the_supported_range(generator: ModuleType) -> None:
    from smart0dte.domain import calendar

    expected = (date(2020, 1, 1), date(2030, 12, 31))
    assert expected == (calendar.FIRST_SUPPORTED_DATE, calendar.LAST_SUPPORTED_DATE)
    assert expected == (generator.FIRST_DATE, generator.LAST_DATE)
