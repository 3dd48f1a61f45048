"""Whole simulated days through features, regime and every strategy, minute by minute: each strategy
fires on the day built for it and the system stays quiet on chop."""

from functools import cache

import numpy as np
import pytest

from smart0dte.domain.marketdata import NS_PER_MINUTE, MarketDay, datetime_to_ns
from smart0dte.domain.models import OptionRight, Signal, Underlying
from smart0dte.domain.simulator import Scenario
from tests.unit.session_day import OPEN_NS, features_by_underlying, replay, scaled, simulate

STRETCH_BAR = 200


def _stretched(day: MarketDay, depth: float = 0.006, bars: int = 6, back: int = 20) -> MarketDay:
    """The ETFs fall `depth` over `bars` minutes from STRETCH_BAR, then recover over `back` minutes."""
    factor = np.ones(len(day.bars["SPY"]))
    factor[STRETCH_BAR : STRETCH_BAR + bars] = 1 - depth * np.arange(1, bars + 1) / bars
    factor[STRETCH_BAR + bars : STRETCH_BAR + bars + back] = 1 - depth * (1 - np.arange(1, back + 1) / back)
    bars_by_symbol = {s: b if s == "VIX" else scaled(b, factor) for s, b in day.bars.items()}
    return MarketDay(day.session_date, bars_by_symbol, day.chains, synthetic=True)


def _replay(scenario: Scenario, seed: int, stretch: bool = False) -> tuple[Signal, ...]:
    day, prior = simulate(seed, scenario)
    if stretch:
        day = _stretched(day)
    return tuple(
        s for decisions in replay(day, prior, features_by_underlying(day, prior)) for s in decisions.signals
    )


_cached_replay = cache(_replay)


def _minute(signal: Signal) -> float:
    return (datetime_to_ns(signal.ts) - OPEN_NS) / NS_PER_MINUTE


def _of(signals: tuple[Signal, ...], strategy: str) -> list[Signal]:
    return [s for s in signals if s.strategy == strategy]


@pytest.mark.parametrize(
    ("scenario", "seed", "direction"),
    [(Scenario.GAP_UP, 1, OptionRight.PUT), (Scenario.GAP_DOWN, 3, OptionRight.CALL)],
)
def test_gap_fill_fades_a_gap_in_the_first_hour(
    scenario: Scenario, seed: int, direction: OptionRight
) -> None:
    fills = _of(_cached_replay(scenario, seed), "gap_fill")
    assert {s.underlying for s in fills} == set(Underlying.tradable())
    assert all(s.direction is direction and 15 <= _minute(s) <= 60 for s in fills)
    assert all(s.contract is not None and s.contract.right is direction for s in fills)


def test_vix_spike_buys_puts_into_the_spike() -> None:
    spikes = _of(_cached_replay(Scenario.VIX_SPIKE, 0), "vix_spike")
    assert {s.underlying for s in spikes} == set(Underlying.tradable())
    assert all(s.direction is OptionRight.PUT and _minute(s) >= 0.2 * 390 for s in spikes)


@pytest.mark.parametrize(
    ("scenario", "direction"), [(Scenario.TREND_UP, OptionRight.CALL), (Scenario.TREND_DOWN, OptionRight.PUT)]
)
def test_momentum_breakout_rides_a_trend_day(scenario: Scenario, direction: OptionRight) -> None:
    breakouts = _of(_cached_replay(scenario, 1), "momentum_breakout")
    assert breakouts
    assert breakouts[0].direction is direction
    assert all(_minute(s) >= 30 for s in breakouts)  # the opening range must have closed


def test_mean_reversion_fades_a_stretched_move() -> None:
    reversions = _of(_cached_replay(Scenario.CHOP, 0, stretch=True), "mean_reversion")
    assert reversions
    assert all(
        s.direction is OptionRight.CALL and STRETCH_BAR < _minute(s) <= STRETCH_BAR + 15 for s in reversions
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_strategy_stays_quiet_on_chop(seed: int) -> None:
    assert _cached_replay(Scenario.CHOP, seed) == ()


def test_a_replay_gives_byte_identical_signals() -> None:
    first = _cached_replay(Scenario.GAP_UP, 1)
    again = _replay(Scenario.GAP_UP, 1)
    assert first
    assert [s.model_dump_json() for s in again] == [s.model_dump_json() for s in first]
