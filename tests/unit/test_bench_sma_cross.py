"""The bar backtester against backtrader on the same bars: identical trades, edge cases, bad input."""

from __future__ import annotations

import math
from typing import Any

import backtrader as bt  # type: ignore[import-untyped,unused-ignore]
import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.sma_cross import BarTrade, crossover, difference_sign, sma_cross_trades
from smart0dte.domain.models import DomainError

FAST, SLOW = 10, 30


class SmaCross(bt.Strategy):  # type: ignore[misc]
    """Buy one unit on an up-cross when flat, close on a down-cross; log every fill."""

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=FAST), bt.ind.SMA(period=SLOW))
        self.fills: list[tuple[int, float]] = []

    def notify_order(self, order: Any) -> None:
        if order.status == order.Completed:
            self.fills.append((len(self.data) - 1, float(order.executed.price)))

    def next(self) -> None:
        if not self.position:
            if self.cross[0] > 0:
                self.buy(size=1)
        elif self.cross[0] < 0:
            self.close()


def backtrader_trades(open_: np.ndarray, close: np.ndarray) -> list[BarTrade]:
    n = close.size
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": np.full(n, 100.0),
        },
        index=pd.date_range("2024-01-02 09:30", periods=n, freq="min"),
    )
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1e12)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(SmaCross)
    fills = cerebro.run()[0].fills
    trades = []
    for k in range(0, len(fills), 2):
        entry, entry_price = fills[k]
        if k + 1 < len(fills):
            trades.append(BarTrade(entry, entry_price, fills[k + 1][0], fills[k + 1][1]))
        else:
            trades.append(BarTrade(entry, entry_price, None, None))
    return trades


def random_walk(n: int, seed: int, tick: float) -> tuple[np.ndarray, np.ndarray]:
    """Closes on a `tick` grid; each open is the previous close nudged by a little noise."""
    rng = np.random.default_rng(seed)
    close = np.round((100 + np.cumsum(rng.normal(0, 0.05, n))) / tick) * tick
    previous = np.concatenate([[100.0], close[:-1]])
    open_ = np.round((previous + rng.normal(0, 0.01, n)) / tick) * tick
    return open_, close


@pytest.mark.parametrize(("seed", "tick"), [(7, 0.01), (8, 0.01), (9, 0.5)])
def test_trades_are_identical_to_backtrader_on_5000_bars(seed: int, tick: float) -> None:
    # Arrange: tick 0.5 against steps of ~0.05 makes flat stretches, so the SMAs tie exactly
    # and the remembered-difference rule decides.
    open_, close = random_walk(5_000, seed, tick)

    # Act
    ours = sma_cross_trades(open_, close, FAST, SLOW)

    # Assert
    assert len(ours) > 40
    assert ours.to_list() == backtrader_trades(open_, close)
    if tick == 0.5:
        assert int(np.sum(difference_sign(close, FAST, SLOW)[SLOW - 1 :] == 0)) > 100


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(
        st.sampled_from([99.99, 100.0, 100.01, 100.1, 0.3, 1e-3, 12345.67]) | st.floats(0.01, 1e4),
        min_size=1,
        max_size=120,
    ),
    fast=st.integers(1, 12),
    extra=st.integers(1, 20),
)
def test_difference_sign_is_exact_against_fsum(prices: list[float], fast: int, extra: int) -> None:
    # Few distinct values make exact ties common; floats anywhere make rounding matter.
    close = np.array(prices)
    slow = fast + extra

    def sma(end: int, period: int) -> float:
        return math.fsum(prices[end - period : end]) / period

    expected = [0] * min(slow - 1, close.size) + [
        (sma(i + 1, fast) > sma(i + 1, slow)) - (sma(i + 1, fast) < sma(i + 1, slow))
        for i in range(slow - 1, close.size)
    ]
    assert difference_sign(close, fast, slow).tolist() == expected


def first_bar_cross() -> np.ndarray:
    """Fast below slow at bar 29 (the slow SMA's first bar), above at bar 30, rising after."""
    close = np.concatenate([np.full(20, 101.0), np.full(10, 99.0), [200.0], np.linspace(201, 230, 29)])
    return close


def test_a_cross_on_the_first_valid_bar_enters_on_the_next_open_and_stays_open_at_the_end() -> None:
    close = first_bar_cross()
    open_ = close + 0.25

    trades = sma_cross_trades(open_, close, FAST, SLOW)

    assert crossover(close, FAST, SLOW)[SLOW] == 1
    assert trades.to_list() == [BarTrade(SLOW + 1, float(open_[SLOW + 1]), None, None)]
    assert trades.open_at_end
    assert trades.pnl_per_unit().size == 0
    assert trades.to_list() == backtrader_trades(open_, close)


def test_a_down_cross_on_the_last_bar_leaves_the_position_open() -> None:
    close = np.concatenate([first_bar_cross(), [1.0]])
    open_ = close + 0.25

    trades = sma_cross_trades(open_, close, FAST, SLOW)

    assert crossover(close, FAST, SLOW)[-1] == -1
    assert trades.to_list() == [BarTrade(SLOW + 1, float(open_[SLOW + 1]), None, None)]
    assert trades.to_list() == backtrader_trades(open_, close)


def test_an_up_cross_on_the_last_bar_never_fills() -> None:
    close = first_bar_cross()[: SLOW + 1]
    open_ = close + 0.25

    assert crossover(close, FAST, SLOW)[-1] == 1
    assert len(sma_cross_trades(open_, close, FAST, SLOW)) == 0
    assert backtrader_trades(open_, close) == []


def test_a_zero_difference_at_the_seed_is_no_cross_and_ties_keep_the_last_sign() -> None:
    # Flat for 40 bars (fast == slow, the remembered difference stays 0), then up: not a cross.
    # Then down through, flat again (ties remember "below"), then up: that is a cross.
    close = np.concatenate(
        [np.full(40, 100.0), np.linspace(101, 110, 10), np.full(60, 90.0), np.linspace(91, 120, 20)]
    )
    open_ = close - 0.5

    trades = sma_cross_trades(open_, close, FAST, SLOW)
    cross = crossover(close, FAST, SLOW)

    assert cross[40] == 0 and cross[:50].max() == 0
    assert int(np.flatnonzero(cross == -1)[0]) > 50
    (trade,) = trades.to_list()
    assert trade.entry_index == int(np.flatnonzero(cross == 1)[0]) + 1
    assert trades.to_list() == backtrader_trades(open_, close)


def test_round_trips_pay_exit_minus_entry() -> None:
    open_, close = random_walk(2_000, 3, 0.01)

    trades = sma_cross_trades(open_, close)

    closed = trades.exit_index >= 0
    assert np.array_equal(
        trades.pnl_per_unit(), open_[trades.exit_index[closed]] - open_[trades.entry_index[closed]]
    )
    assert np.all(trades.entry_index[1:] > trades.exit_index[:-1])  # one position at a time


def test_too_few_bars_trade_nothing() -> None:
    close = np.linspace(100, 90, SLOW)
    assert len(sma_cross_trades(close, close)) == 0
    assert not crossover(close).any()


def test_bad_input_names_the_field() -> None:
    close = np.linspace(100, 110, 50)
    with pytest.raises(DomainError, match="fast_period=30 must be >= 1 and below slow_period=10"):
        crossover(close, 30, 10)
    with pytest.raises(DomainError, match=r"close\[3\]=nan must be finite"):
        sma_cross_trades(close, np.where(np.arange(50) == 3, np.nan, close))
    with pytest.raises(DomainError, match="open_ has 49 bars but close has 50"):
        sma_cross_trades(close[:-1], close)
