"""Where training sessions come from: the simulator, or archived DBN day folders.

Both yield `dataset.SessionData` one session at a time, oldest first, so a long range never sits
in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.models import DomainError
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.ml.dataset import SessionData
from smart0dte.ports import HistoricalMarketData

SCENARIO_CYCLE: tuple[Scenario, ...] = tuple(Scenario)
"""Simulated training days cycle through every scenario, one per session, in this order."""


def session_dates(start: date, end: date, calendar: MarketCalendar | None = None) -> list[date]:
    if start > end:
        raise DomainError(f"start={start.isoformat()} is after end={end.isoformat()}")
    dates = (calendar or MarketCalendar()).sessions_between(start, end)
    if not dates:
        raise DomainError(f"no NYSE session between {start.isoformat()} and {end.isoformat()}")
    return dates


def simulated_sessions(
    dates: Sequence[date], seed: int, scenario: Scenario | None = None
) -> Iterator[SessionData]:
    """Simulated sessions, the same for the same seed and dates. With no `scenario`, session k gets
    SCENARIO_CYCLE[k % len(SCENARIO_CYCLE)], so trends, chop, gaps and VIX spikes all appear.

    Each session opens from the simulator's starting levels rather than the previous close: chained
    days would compound the scenarios' VIX tilts (a cycle raises VIX more than it lowers it) into
    weeks of VIX above 30, one regime for the whole test range.
    """
    calendar = MarketCalendar()
    simulator = MarketSimulator(calendar=calendar)
    for k, session_date in enumerate(dates):
        shape = scenario if scenario is not None else SCENARIO_CYCLE[k % len(SCENARIO_CYCLE)]
        simulated = simulator.day(session_date, seed=seed, scenario=shape)
        session = calendar.session(session_date)
        assert session is not None  # simulator.day refuses non-sessions
        yield SessionData(simulated.market_day, session, simulated.prior_close)


def describe_simulated(seed: int, scenario: Scenario | None) -> str:
    shapes = scenario.value if scenario is not None else "cycle " + ",".join(s.value for s in SCENARIO_CYCLE)
    return f"simulator seed={seed} scenarios={shapes}"


def archived_dates(archive: HistoricalMarketData, start: date, end: date) -> tuple[list[date], list[date]]:
    """Sessions between start and end that the archive holds, and those it lacks."""
    wanted = session_dates(start, end)
    available = set(archive.available_days())
    dates = [d for d in wanted if d in available]
    if not dates:
        raise DomainError(
            f"no archived session between {start.isoformat()} and {end.isoformat()} in {archive.describe()}"
        )
    return dates, [d for d in wanted if d not in available]


def archived_sessions(archive: HistoricalMarketData, dates: Sequence[date]) -> Iterator[SessionData]:
    """Archived sessions with their quality flags applied; without an earlier archived day the
    session's own opens stand in for the prior closes (no gap is then seen)."""
    calendar = MarketCalendar()
    for session_date in dates:
        session = calendar.session(session_date)
        if session is None:
            raise DomainError(f"{session_date.isoformat()} is not an NYSE session")
        day = archive.load_day(session_date)
        prior = archive.previous_close(session_date) or {
            symbol: float(series.open[0]) for symbol, series in day.bars.items() if len(series)
        }
        yield SessionData(day, session, prior)
