from datetime import UTC, datetime

import numpy as np
import pytest

from smart0dte.domain.features import N_FEATURES
from smart0dte.domain.marketdata import NS_PER_MINUTE, BarSeries, ChainSeries, MarketDay, datetime_to_ns
from smart0dte.domain.models import DomainError, OptionRight, Signal, Underlying
from smart0dte.domain.strategies.base import (
    Evidence,
    MarketHistory,
    StrategyParams,
    StrategyState,
    choose_contract,
    confidence,
    ramp,
    signal_id,
)
from smart0dte.domain.strategies.momentum_breakout import MomentumBreakoutParams
from tests.unit.session_day import OPEN_NS, SESSION, SESSION_DATE, flat_vol_chain, minute_bars


def _bars(count: int, symbol: str = "SPY", price: float = 560.0) -> BarSeries:
    return minute_bars(np.full(count, price), symbol=symbol)


def _chain(spot: float, vol: float, samples: int) -> ChainSeries:
    return flat_vol_chain(spot, vol, samples, strikes_each_side=10, rate=0.043, div_yield=0.012)


def _history(ts_ns: int, bars: int = 5, chain: ChainSeries | None = None) -> MarketHistory:
    return MarketHistory(
        ts_ns,
        SESSION,
        {"SPY": _bars(bars)},
        {Underlying.SPY: chain} if chain is not None else {},
        {Underlying.SPY: np.zeros((bars, N_FEATURES))},
        {"SPY": 559.0},
    )


def test_ramp_is_linear_clipped_and_treats_nan_as_no_evidence() -> None:
    assert ramp(1.5, 1.0, 2.0) == 0.5
    assert ramp(0.0, 1.0, 2.0) == 0.0
    assert ramp(9.0, 1.0, 2.0) == 1.0
    assert ramp(15.0, 25.0, 5.0) == 0.5  # evidence growing as the value falls (RSI)
    assert ramp(float("nan"), 1.0, 2.0) == 0.0


def test_confidence_runs_from_the_floor_to_one_and_shows_its_formula() -> None:
    assert confidence([Evidence("a", 0.6, 0.0), Evidence("b", 0.4, 0.0)])[0] == 0.5
    assert confidence([Evidence("a", 0.6, 1.0), Evidence("b", 0.4, 1.0)])[0] == 1.0
    value, formula = confidence([Evidence("break", 0.6, 0.5), Evidence("volume", 0.4, 0.25)])
    assert value == pytest.approx(0.5 + 0.5 * (0.3 + 0.1))
    assert formula == "confidence 0.70 = 0.5 + 0.5 x (0.6 x 0.50 break + 0.4 x 0.25 volume)"


def test_signal_ids_are_derived_from_strategy_symbol_minute_and_right() -> None:
    ts_ns = datetime_to_ns(datetime(2025, 3, 14, 14, 31, tzinfo=UTC))
    assert signal_id("gap_fill", Underlying.QQQ, ts_ns, OptionRight.PUT) == "gap_fill-QQQ-20250314T1431Z-P"


def test_state_enforces_the_daily_cap_and_the_cooldown() -> None:
    params = StrategyParams(cooldown_minutes=30, max_signals_per_day=2)
    fresh = StrategyState(SESSION_DATE)
    signal = Signal(
        signal_id="x",
        ts=datetime(2025, 3, 14, 14, 0, tzinfo=UTC),
        underlying=Underlying.SPY,
        direction=OptionRight.CALL,
        strategy="s",
        confidence=0.7,
        rationale="r",
    )
    fired = fresh.after(signal)
    fired_ns = datetime_to_ns(signal.ts)

    assert fresh.ready(fired_ns, params)
    assert (fired.signals_today, fired.last_direction) == (1, OptionRight.CALL)
    assert not fired.ready(fired_ns + 29 * NS_PER_MINUTE, params)
    assert fired.ready(fired_ns + 30 * NS_PER_MINUTE, params)
    assert not fired.after(signal).ready(fired_ns + 300 * NS_PER_MINUTE, params)


def test_params_errors_name_the_field_and_the_limit() -> None:
    with pytest.raises(ValueError, match=r"target_delta\n.*less than 0.95"):
        StrategyParams(target_delta=0.99)
    with pytest.raises(ValueError, match=r"min_break_atr .* < full_break_atr"):
        MomentumBreakoutParams(min_break_atr=3.0)


def test_history_refuses_data_stamped_after_the_decision_time() -> None:
    ts_ns = OPEN_NS + 5 * NS_PER_MINUTE
    _history(ts_ns)  # five bars closed by then: fine
    with pytest.raises(DomainError, match="look-ahead"):
        _history(ts_ns - 1)
    with pytest.raises(DomainError, match="look-ahead"):
        _history(ts_ns, chain=_chain(560.0, 0.2, samples=6))
    with pytest.raises(DomainError, match=r"features\[SPY\] has shape \(4, "):
        MarketHistory(ts_ns, SESSION, {"SPY": _bars(5)}, {}, {Underlying.SPY: np.zeros((4, N_FEATURES))}, {})


def test_from_day_cuts_bars_chains_and_features_at_t_without_copying() -> None:
    bars, vix, chain = _bars(30), _bars(30, "VIX", 16.0), _chain(560.0, 0.2, samples=30)
    day = MarketDay(SESSION_DATE, {"SPY": bars, "VIX": vix}, {Underlying.SPY: chain}, synthetic=True)
    rows = np.arange(30 * N_FEATURES, dtype=np.float64).reshape(30, N_FEATURES)
    ts_ns = OPEN_NS + 12 * NS_PER_MINUTE + 30 * 10**9  # mid-minute: 12 bars closed

    history = MarketHistory.from_day(day, ts_ns, SESSION, {"SPY": 559.0}, {Underlying.SPY: rows})

    assert len(history.bars["SPY"]) == len(history.bars["VIX"]) == 12
    assert len(history.chains[Underlying.SPY]) == 12
    assert history.features[Underlying.SPY].shape == (12, N_FEATURES)
    assert np.shares_memory(history.features[Underlying.SPY], rows)
    assert np.shares_memory(history.bars["SPY"].close, bars.close)
    assert np.shares_memory(history.chains[Underlying.SPY].bid, chain.bid)


def test_choose_contract_takes_the_usable_contract_nearest_the_target_delta() -> None:
    ts_ns = OPEN_NS + 5 * NS_PER_MINUTE
    history = _history(ts_ns, chain=_chain(560.0, 0.2, samples=5))

    call = choose_contract(history, Underlying.SPY, OptionRight.CALL, 0.40, max_chain_age_s=90)
    put = choose_contract(history, Underlying.SPY, OptionRight.PUT, 0.25, max_chain_age_s=90)

    assert call is not None and put is not None
    (call_contract, call_delta), (put_contract, put_delta) = call, put
    assert call_contract.right is OptionRight.CALL and call_contract.strike > 560
    assert put_contract.right is OptionRight.PUT and put_contract.strike < 560
    assert abs(call_delta - 0.40) < 0.06 and abs(-put_delta - 0.25) < 0.06
    stale = _history(ts_ns + 2 * NS_PER_MINUTE, bars=7, chain=_chain(560.0, 0.2, samples=5))
    assert choose_contract(stale, Underlying.SPY, OptionRight.CALL, 0.40, max_chain_age_s=90) is None
