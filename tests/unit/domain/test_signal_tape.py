"""A signal tape holds what its source said at each minute, survives its wire form, and
refuses a signal outside the session's signal minutes, naming it."""

from datetime import date, timedelta

import pytest

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.chain_analytics import PricingInputs
from smart0dte.domain.marketdata import MarketDay
from smart0dte.domain.models import DomainError
from smart0dte.domain.signal_tape import SignalTape, record_signals
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.domain.strategy_signals import StrategySignals

DAY = date(2025, 3, 14)


@pytest.fixture(scope="module")
def recorded() -> tuple[SignalTape, MarketDay]:
    session = MarketCalendar().session(DAY)
    assert session is not None
    simulated = MarketSimulator().day(DAY, seed=7, scenario=Scenario.TREND_UP)
    day = simulated.market_day
    prior = {u.value: level for u, level in simulated.previous.close_usd.items()}
    return record_signals(day, session, StrategySignals(day, session, prior, PricingInputs())), day


def test_each_signal_sits_at_the_minute_it_was_asked_none_from_the_flatten_on(
    recorded: tuple[SignalTape, MarketDay],
) -> None:
    # (that an engine replaying the tape decides as with the source itself:
    # tests/unit/services/test_backtest_properties.py, on random sessions)
    tape, _ = recorded
    session = MarketCalendar().session(DAY)
    assert session is not None
    assert tape.count > 0
    first, last = session.open_et + timedelta(minutes=1), session.flatten_et - timedelta(minutes=1)
    for signals in tape.by_minute_ns.values():
        (ts,) = {s.ts for s in signals}
        assert first <= ts <= last and ts.second == 0
        assert tape.signals_at(ts) == list(signals)
    assert tape.signals_at(session.flatten_et) == []


def test_the_wire_form_round_trips_and_a_signal_outside_the_session_is_refused(
    recorded: tuple[SignalTape, MarketDay],
) -> None:
    tape, _ = recorded
    session = MarketCalendar().session(DAY)
    assert session is not None
    assert SignalTape.from_wire(tape.to_wire(), session) == tape
    late = tape.to_wire()
    late[-1] = {**late[-1], "ts": session.flatten_et.isoformat()}
    with pytest.raises(DomainError, match=rf"signals\[{len(late) - 1}\]\.ts=.* is outside"):
        SignalTape.from_wire(late, session)
