from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from smart0dte.domain.features import N_FEATURES, Feature
from smart0dte.domain.marketdata import NS_PER_MINUTE
from smart0dte.domain.models import DomainError, OptionRight, Underlying
from smart0dte.domain.regime import Regime
from smart0dte.domain.strategies import STRATEGIES, run_strategies
from smart0dte.domain.strategies.base import MarketHistory, StrategyParams, StrategyState
from smart0dte.domain.strategies.gap_fill import GapFillParams
from smart0dte.domain.strategies.momentum_breakout import MomentumBreakoutParams
from tests.unit.session_day import OPEN_NS, SESSION, minute_bars

BREAKOUT = {
    "ATR_14": 0.4,
    "ATR_14_BPS": 7.0,
    "VIX_LEVEL": 16.0,
    "OR_BREAK_ATR": 1.0,
    "OR_HIGH": 559.6,
    "OR_LOW": 555.0,
    "RET_30M_BPS": 56.0,
    "VOLUME_RATIO_20": 2.0,
    "ADX_14": 30.0,
    "PLUS_DI_14": 30.0,
    "MINUS_DI_14": 10.0,
}


def _history(values: dict[str, float], bars: int = 60, lag_minutes: int = 0) -> MarketHistory:
    rows = np.full((bars, N_FEATURES), np.nan)
    for name, value in values.items():
        rows[:, Feature[name]] = value
    series = minute_bars(np.full(bars, 560.0), spread=0.0)
    ts_ns = OPEN_NS + (bars + lag_minutes) * NS_PER_MINUTE
    return MarketHistory(ts_ns, SESSION, {"SPY": series}, {}, {Underlying.SPY: rows}, {"SPY": 559.0})


def test_the_registry_holds_the_four_strategies_with_their_regimes() -> None:
    assert list(STRATEGIES) == ["momentum_breakout", "mean_reversion", "gap_fill", "vix_spike"]
    assert STRATEGIES["vix_spike"].regimes == {Regime.HIGH_VOL}
    assert Regime.HIGH_VOL not in STRATEGIES["gap_fill"].regimes


def test_a_breakout_fires_in_a_trend_and_the_state_remembers_it() -> None:
    decisions = run_strategies(_history(BREAKOUT), {})

    (signal,) = decisions.signals
    assert (signal.strategy, signal.direction) == ("momentum_breakout", OptionRight.CALL)
    assert decisions.regimes[Underlying.SPY].regime is Regime.TREND
    state = decisions.states[("momentum_breakout", Underlying.SPY)]
    assert (state.signals_today, state.last_direction) == (1, OptionRight.CALL)


@pytest.mark.parametrize(
    "change",
    [{"ADX_14": 20.0}, {"VIX_LEVEL": 30.0}, {"ADX_14": np.nan}],
    ids=["range", "high-vol", "warm-up"],
)
def test_the_regime_gate_stops_a_breakout_outside_a_trend(change: dict[str, float]) -> None:
    assert run_strategies(_history({**BREAKOUT, **change}), {}).signals == ()


def test_no_new_signal_too_close_to_the_close() -> None:
    assert run_strategies(_history(BREAKOUT, bars=350), {}).signals == ()  # 40 minutes left, 45 needed
    relaxed = {"momentum_breakout": MomentumBreakoutParams(min_minutes_to_close=30)}
    assert len(run_strategies(_history(BREAKOUT, bars=350), {}, params=relaxed).signals) == 1


def test_stale_underlyings_are_skipped() -> None:
    decisions = run_strategies(_history(BREAKOUT, lag_minutes=1), {})
    assert decisions.signals == ()
    assert decisions.regimes == {}


def test_cooldown_and_daily_cap_carry_over_through_the_states() -> None:
    first = run_strategies(_history(BREAKOUT, bars=60), {})
    flipped = {
        **BREAKOUT,
        "OR_BREAK_ATR": -1.0,
        "RET_30M_BPS": -56.0,
        "PLUS_DI_14": 10.0,
        "MINUS_DI_14": 30.0,
    }

    in_cooldown = run_strategies(_history(flipped, bars=61), first.states)
    after_cooldown = run_strategies(_history(flipped, bars=90), first.states)
    capped = {"momentum_breakout": MomentumBreakoutParams(max_signals_per_day=1)}
    over_cap = run_strategies(_history(flipped, bars=90), first.states, params=capped)

    assert in_cooldown.signals == ()
    assert [s.direction for s in after_cooldown.signals] == [OptionRight.PUT]
    assert over_cap.signals == ()


def test_states_of_another_session_are_dropped() -> None:
    yesterday = StrategyState(date(2025, 3, 13), signals_today=9, last_direction=OptionRight.PUT)
    decisions = run_strategies(_history(BREAKOUT), {("momentum_breakout", Underlying.SPY): yesterday})
    assert len(decisions.signals) == 1
    assert decisions.states[("momentum_breakout", Underlying.SPY)].session_date == SESSION.session_date


def test_enabled_limits_the_strategies_run() -> None:
    assert run_strategies(_history(BREAKOUT), {}, enabled={"gap_fill"}).signals == ()


def test_bad_names_and_params_are_refused_with_the_name() -> None:
    with pytest.raises(DomainError, match=r"params\['breakout'\]: no such strategy"):
        run_strategies(_history(BREAKOUT), {}, params={"breakout": StrategyParams()})
    with pytest.raises(DomainError, match=r"params\['momentum_breakout'\] must be MomentumBreakoutParams"):
        run_strategies(_history(BREAKOUT), {}, params={"momentum_breakout": GapFillParams()})
    with pytest.raises(DomainError, match="unknown strategies"):
        run_strategies(_history(BREAKOUT), {}, enabled={"nope"})


def test_runs_are_deterministic() -> None:
    history = _history(BREAKOUT)
    first = run_strategies(history, {}).signals
    again = run_strategies(replace(history), {}).signals
    assert [s.model_dump_json() for s in first] == [s.model_dump_json() for s in again]
