"""One minute as three phases: running a day with `step` and running it as observe / assess /
execute, with the whole engine state sent through JSON between every phase (as the Lambdas do),
give the same decisions, trades, equity curve and final state."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from smart0dte.domain.calendar import MarketCalendar, SessionTimes
from smart0dte.domain.controls import AutomationSettings, RiskLimits
from smart0dte.domain.marketdata import MarketDay, datetime_to_ns
from smart0dte.domain.models import DomainError, OptionRight, Signal, TradingMode
from smart0dte.domain.portfolio import ClosedTrade
from smart0dte.domain.risk import Controls
from smart0dte.domain.session_engine import (
    MINUTE,
    AccountCarry,
    EngineConfig,
    PlannedEntry,
    SessionEngine,
    SignalSource,
    trade_to_wire,
)
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.domain.strategy_signals import StrategySignals
from smart0dte.domain.venue import BrokerCosts
from tests.unit.domain.test_session_engine import MINUTES, SESSION, Scripted, make_day

CALENDAR = MarketCalendar()
CARRY = AccountCarry(equity_usd=Decimal("100000"), peak_equity_usd=Decimal("100000"))
BACKTEST = EngineConfig(settings=AutomationSettings(master_switch=True))
Wire = list[list[object]]


@dataclass(frozen=True)
class Run:
    decisions: Wire
    trades: list[str]
    curve: list[tuple[str, str]]
    max_open: int
    open_at_close: int
    final_state: dict[str, Any]


def _wire(decisions: Any) -> Wire:
    """Decision records as JSON would carry them (NaN bids compare equal as text)."""
    return json.loads(json.dumps([[d.ts.isoformat(), d.kind, d.detail] for d in decisions]))


def _trades(trades: list[ClosedTrade]) -> list[str]:
    return [json.dumps(trade_to_wire(t)) for t in trades]


def _finish(engine: SessionEngine, decisions: Wire) -> Run:
    open_at_close = len(engine.portfolio.open_positions)
    decisions += _wire(engine.settle(engine.session.close_et).effects.decisions)
    return Run(
        decisions,
        _trades(engine.portfolio.closed),
        [(ts.isoformat(), str(e)) for ts, e in engine.portfolio.equity_curve],
        engine.max_open,
        open_at_close,
        engine.to_state(),
    )


def run_stepped(
    day: MarketDay,
    session: SessionTimes,
    config: EngineConfig,
    source: SignalSource,
    controls: Callable[[datetime], Controls] | None = None,
) -> Run:
    result = SessionEngine(day, session, config, source, CARRY, controls).run()
    engine_decisions = _wire(result.decisions)
    return Run(
        engine_decisions,
        _trades(result.trades),
        [(ts.isoformat(), str(e)) for ts, e in result.equity_curve],
        result.max_open_positions,
        result.open_positions_at_close,
        {},
    )


def run_phased(
    day: MarketDay,
    session: SessionTimes,
    config: EngineConfig,
    new_source: Callable[[MarketDay, datetime], SignalSource],
    controls: Callable[[datetime], Controls] | None = None,
) -> Run:
    """Every phase on an engine restored from the JSON the previous phase saved; candidates and
    intents travel as JSON too. `new_source(known, now)` builds the signal source a Lambda would."""
    state = json.loads(json.dumps(SessionEngine(day, session, config, NoSignals(), CARRY).to_state()))
    decisions: Wire = []

    def restore(source: SignalSource) -> SessionEngine:
        return SessionEngine.from_state(state, day, session, config, source, controls)

    def save(engine: SessionEngine) -> dict[str, Any]:
        return dict(json.loads(json.dumps(engine.to_state(), allow_nan=False)))

    now = session.open_et + MINUTE
    while now <= session.close_et:
        engine = restore(new_source(day.until(datetime_to_ns(now)), now))
        candidates = engine.observe(now)
        decisions += _wire(candidates.effects.decisions)
        signals_wire = json.dumps([s.model_dump(mode="json") for s in candidates.signals])
        state = save(engine)

        engine = restore(NoSignals())
        assessment = engine.assess([Signal.model_validate(s) for s in json.loads(signals_wire)], now)
        decisions += _wire(assessment.effects.decisions)
        intents_wire = json.dumps([p.to_wire() for p in assessment.intents])
        state = save(engine)

        engine = restore(NoSignals())
        executed = engine.execute([PlannedEntry.from_wire(p) for p in json.loads(intents_wire)], now)
        decisions += _wire(executed.effects.decisions)
        state = save(engine)
        now += MINUTE
    return _finish(restore(NoSignals()), decisions)


class NoSignals:
    """The source of the assess and execute phases, which never ask for signals."""

    def signals(self, known: MarketDay, now: datetime) -> list[Signal]:
        raise AssertionError("only observe asks for signals")


def assert_same(stepped: Run, phased: Run) -> None:
    assert phased.decisions == stepped.decisions
    assert phased.trades == stepped.trades
    assert phased.curve == stepped.curve
    assert (phased.max_open, phased.open_at_close) == (stepped.max_open, stepped.open_at_close)


def _simulated(
    session_date: date, scenario: Scenario, seed: int
) -> tuple[MarketDay, SessionTimes, dict[str, float]]:
    simulated = MarketSimulator(calendar=CALENDAR).day(session_date, seed=seed, scenario=scenario)
    session = CALENDAR.session(session_date)
    assert session is not None
    prior = {u.value: level for u, level in simulated.previous.close_usd.items()}
    return simulated.market_day, session, prior


@pytest.mark.parametrize(
    ("session_date", "scenario", "seed", "config"),
    [
        (date(2025, 3, 14), Scenario.TREND_UP, 5, BACKTEST),
        (
            date(2024, 7, 3),  # early close
            Scenario.GAP_DOWN,
            11,
            replace(
                BACKTEST,
                settings=AutomationSettings(master_switch=True, min_confidence=0.3, max_positions=2),
                limits=RiskLimits(min_seconds_between_trades=0),
                trailing_stop_fraction=0.2,
            ),
        ),
    ],
)
def test_a_simulated_day_phased_through_json_equals_the_stepped_day(
    session_date: date, scenario: Scenario, seed: int, config: EngineConfig
) -> None:
    day, session, prior = _simulated(session_date, scenario, seed)

    stepped = run_stepped(day, session, config, StrategySignals(day, session, prior, config.pricing))
    # The strategies' per-day states travel in the JSON like the rest; their features are a
    # function of the day (tests/integration/handlers rebuild them every minute from stored data).
    strategies = StrategySignals(day, session, prior, config.pricing)
    phased = run_phased(day, session, config, lambda _known, _now: strategies)

    assert_same(stepped, phased)
    kinds = {d[1] for d in stepped.decisions}
    assert {"signal", "risk", "order", "fill", "protect"} <= kinds


def _dense_minutes(seed: int) -> dict[int, OptionRight]:
    rng = np.random.default_rng(seed)
    minutes = rng.choice(np.arange(2, MINUTES), 30, replace=False)
    return {int(m): OptionRight.CALL if rng.random() < 0.5 else OptionRight.PUT for m in minutes}


def _path(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.asarray(560 * np.exp(np.cumsum(rng.normal(0, 0.0008, MINUTES))))


SCRIPTED_CONFIGS = {
    "wide exits, three positions": replace(
        BACKTEST,
        settings=AutomationSettings(
            master_switch=True, max_positions=3, stop_loss_percentage=0.9, take_profit_percentage=5
        ),
        limits=RiskLimits(min_seconds_between_trades=0),
    ),
    "latency and slippage": replace(
        BACKTEST,
        costs=BrokerCosts(latency_s=30.0, slippage_per_share_usd=Decimal("0.01")),
        limits=RiskLimits(min_seconds_between_trades=0),
    ),
}


@pytest.mark.parametrize("name", list(SCRIPTED_CONFIGS))
def test_dense_scripted_signals_and_an_emergency_stop_phase_identically(name: str) -> None:
    config = SCRIPTED_CONFIGS[name]
    day = make_day(_path(1))
    pressed = SESSION.open_et + timedelta(minutes=200)

    def controls(now: datetime) -> Controls:
        return Controls(config.settings, emergency_stop=pressed <= now < pressed + timedelta(minutes=30))

    minutes = _dense_minutes(1)
    stepped = run_stepped(day, SESSION, config, Scripted(minutes, 0.75), controls)
    phased = run_phased(day, SESSION, config, lambda _known, _now: Scripted(minutes, 0.75), controls)

    assert_same(stepped, phased)
    kinds = [d[1] for d in stepped.decisions]
    assert kinds.count("order") >= 5 and kinds.count("fill") >= 5
    exits = {d[2]["reason"] for d in stepped.decisions if d[1] == "exit"}
    if name == "wide exits, three positions":
        assert "EMERGENCY_STOP" in exits


def test_latency_fills_next_minute_with_the_entry_strategy_and_its_exit_plan() -> None:
    config = SCRIPTED_CONFIGS["latency and slippage"]
    path = np.concatenate([np.full(60, 560.0), np.linspace(560, 566, MINUTES - 60)])

    result = SessionEngine(make_day(path), SESSION, config, Scripted({45: OptionRight.CALL}), CARRY).run()

    (trade,) = result.trades
    assert trade.strategy == "scripted"
    assert trade.exit_reason in {"TAKE_PROFIT", "TIME_EXIT"}
    fills = [d for d in result.decisions if d.kind == "fill"]
    assert fills[0].ts == SESSION.open_et + timedelta(minutes=46)  # one minute after the order


def test_assess_reserves_what_each_approved_entry_takes_for_the_next_candidate() -> None:
    one_position = replace(BACKTEST, settings=AutomationSettings(master_switch=True, max_positions=1))
    day = make_day(np.full(MINUTES, 560.0))
    now = SESSION.open_et + timedelta(minutes=30)
    signals = [
        Signal(
            signal_id=f"s{i}",
            ts=now,
            underlying="SPY",
            direction=OptionRight.CALL,
            strategy="scripted",
            confidence=0.9,
            rationale="test",
            target_delta=0.4,
        )
        for i in range(2)
    ]
    engine = SessionEngine(day, SESSION, one_position, Scripted({}), CARRY)
    engine.observe(now)
    before = json.dumps(engine.to_state())

    assessment = engine.assess(signals, now)

    assert [v.verdict.approved for v in assessment.verdicts] == [True, False]
    assert "MAX_POSITIONS" in assessment.verdicts[1].verdict.rules
    assert len(assessment.intents) == 1
    assert json.dumps(engine.to_state()) == before  # the reservation was made on a copy
    executed = engine.execute(assessment.intents, now)
    # the order trades at the next minute's snapshot, never at the one its decision saw
    assert executed.open_positions == 0 and [o.status.value for o in executed.effects.orders] == ["SUBMITTED"]
    observed = engine.observe(now + timedelta(minutes=1))
    assert observed.open_positions == 1
    assert [p.kind for p in observed.effects.positions] == ["opened"]


def test_a_restored_engine_refuses_another_session_mode_or_format() -> None:
    day = make_day(np.full(MINUTES, 560.0))
    state = SessionEngine(day, SESSION, BACKTEST, Scripted({}), CARRY).to_state()

    with pytest.raises(DomainError, match="mode=paper does not match config mode=live"):
        SessionEngine.from_state(state, day, SESSION, replace(BACKTEST, mode=TradingMode.LIVE), Scripted({}))
    with pytest.raises(DomainError, match="format"):
        SessionEngine.from_state({**state, "format": 99}, day, SESSION, BACKTEST, Scripted({}))
    with pytest.raises(DomainError, match="malformed"):
        SessionEngine.from_state({**state, "portfolio": {}}, day, SESSION, BACKTEST, Scripted({}))
    other = MarketCalendar().session(date(2025, 3, 13))
    assert other is not None
    with pytest.raises(DomainError, match="is for session 2025-03-14, not 2025-03-13"):
        SessionEngine.from_state(
            state, replace(day, session_date=other.session_date), other, BACKTEST, Scripted({})
        )
