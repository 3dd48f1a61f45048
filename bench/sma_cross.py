"""A fast bar-strategy backtester: a moving-average crossover over one instrument's bars, with
signals vectorised in numpy and market orders filled at the next bar's open.

It reproduces backtrader's semantics exactly, so that the two give identical trades
(`bench/backtest.py` holds them side by side):

- SMA(p) at bar i is `math.fsum(close[i-p+1 : i+1]) / p`, defined from bar p-1 on;
- the crossover remembers the last non-zero difference fast - slow (seeded, possibly with 0, at
  the slow SMA's first bar): an up-cross at bar i needs that memory at i-1 < 0 and fast > slow at
  i, a down-cross the mirror image; the first bar that can cross is the slow period (index p);
- long only, one unit: flat and an up-cross -> buy; long and a down-cross -> close. A market
  order sent after bar i closes fills at bar i+1's open; one sent after the last bar never fills,
  so a position can be open at the end.

Window sums come from vectorised adds with a rigorous error bound; only bars whose fast - slow lies
within that bound of zero are recomputed exactly with `math.fsum`, so signs (and zeros) match
the exactly rounded definition bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from smart0dte.domain.models import DomainError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]

_UNIT_ROUNDOFF = 2.0**-53


@dataclass(frozen=True, slots=True)
class BarTrade:
    """One round trip of one unit; `exit_index` is None while the position is still open."""

    entry_index: int
    entry_price: float
    exit_index: int | None
    exit_price: float | None


@dataclass(frozen=True, eq=False)
class BarTrades:
    """Trades as columns (cheap for tens of thousands of trades); exit_index -1 = still open."""

    entry_index: I64
    entry_price: F64
    exit_index: I64
    exit_price: F64

    def __len__(self) -> int:
        return int(self.entry_index.shape[0])

    @property
    def open_at_end(self) -> bool:
        return bool(len(self) and self.exit_index[-1] < 0)

    def pnl_per_unit(self) -> F64:
        """exit - entry of each closed trade (open trades are left out)."""
        closed = self.exit_index >= 0
        return np.asarray(self.exit_price[closed] - self.entry_price[closed], dtype=np.float64)

    def to_list(self) -> list[BarTrade]:
        return [
            BarTrade(int(i), float(p), None if j < 0 else int(j), None if j < 0 else float(q))
            for i, p, j, q in zip(
                self.entry_index.tolist(),
                self.entry_price.tolist(),
                self.exit_index.tolist(),
                self.exit_price.tolist(),
                strict=True,
            )
        ]


def _check(name: str, values: F64) -> F64:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise DomainError(f"{name} must be one-dimensional; got shape {array.shape}")
    if not bool(np.all(np.isfinite(array))):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise DomainError(f"{name}[{bad}]={array[bad]} must be finite")
    return array


def _window_means(values: F64, period: int) -> F64:
    """Mean of each full window of `period` values (index k covers values[k : k+period]).

    Window sums are built from power-of-two block sums (one vector add per bit of `period`),
    a fixed summation tree whose error is within the bound `difference_sign` allows for.
    """
    count = values.shape[0] - period + 1
    total: F64 | None = None
    block, width, offset, remaining = values, 1, 0, period
    while True:
        if remaining & 1:
            part = block[offset : offset + count]
            total = part.copy() if total is None else np.add(total, part, out=total)
            offset += width
        remaining >>= 1
        if not remaining:
            break
        block = block[:-width] + block[width:]
        width *= 2
    assert total is not None
    return np.asarray(total / period, dtype=np.float64)


def _exact_mean(values: F64, end: int, period: int) -> float:
    """backtrader's SMA at bar end-1: the exactly rounded sum of the window, divided once."""
    return math.fsum(values[end - period : end].tolist()) / period


def difference_sign(close: F64, fast_period: int, slow_period: int) -> I8:
    """sign(SMA_fast - SMA_slow) per bar, exact (as backtrader computes it); 0 before bar slow-1."""
    n = close.shape[0]
    signs = np.zeros(n, dtype=np.int8)
    start = slow_period - 1
    if n <= start:
        return signs
    fast = _window_means(close, fast_period)[start - (fast_period - 1) :]
    slow = _window_means(close, slow_period)
    difference = fast - slow
    # Any summation order of p terms is within gamma(p-1) * sum|x| of the exact sum, and each side
    # adds a rounding or two (backtrader's fsum and division, our division and subtraction): a
    # difference beyond twice that bound has the exact difference's sign; the rest are recomputed.
    scale = float(np.max(np.abs(close)))
    tolerance = 2.0 * (fast_period + slow_period + 8) * _UNIT_ROUNDOFF * scale
    signs[start:] = np.sign(difference).astype(np.int8)
    for k in np.flatnonzero(np.abs(difference) <= tolerance).tolist():
        end = start + k + 1
        exact = _exact_mean(close, end, fast_period) - _exact_mean(close, end, slow_period)
        signs[start + k] = (exact > 0) - (exact < 0)
    return signs


def crossover(close: F64, fast_period: int = 10, slow_period: int = 30) -> I8:
    """+1 on an up-cross of SMA(fast) over SMA(slow), -1 on a down-cross, else 0 (backtrader's
    CrossOver: the previous bar's last non-zero difference against this bar's difference)."""
    close = _check("close", close)
    if not 1 <= fast_period < slow_period:
        raise DomainError(f"fast_period={fast_period} must be >= 1 and below slow_period={slow_period}")
    n = close.shape[0]
    cross = np.zeros(n, dtype=np.int8)
    start = slow_period - 1
    if n <= slow_period:
        return cross
    signs = difference_sign(close, fast_period, slow_period)[start:]
    # The remembered difference: the sign of the last non-zero difference so far (the seed at
    # `start` stays 0 if it is 0 and nothing non-zero has come yet).
    index = np.arange(signs.shape[0])
    last_nonzero = np.maximum.accumulate(np.where(signs != 0, index, 0))
    remembered = signs[last_nonzero]
    before, now = remembered[:-1], signs[1:]
    cross[slow_period:] = ((before < 0) & (now > 0)).astype(np.int8) - ((before > 0) & (now < 0)).astype(
        np.int8
    )
    return cross


def sma_cross_trades(open_: F64, close: F64, fast_period: int = 10, slow_period: int = 30) -> BarTrades:
    """Long one unit from an up-cross to the next down-cross, each order filled at the next open."""
    open_ = _check("open_", open_)
    close = _check("close", close)
    if open_.shape != close.shape:
        raise DomainError(f"open_ has {open_.shape[0]} bars but close has {close.shape[0]}")
    n = close.shape[0]
    cross = crossover(close, fast_period, slow_period)
    # Crosses alternate (each flips the remembered sign), so after dropping down-crosses that
    # precede the first up-cross, ups are entries and downs are exits, pairwise.
    ups = np.flatnonzero(cross > 0)
    downs = np.flatnonzero(cross < 0)
    if ups.size:
        downs = downs[downs > ups[0]]
    ups = ups[ups + 1 < n]  # an order sent after the last bar never fills
    exits = downs[: ups.size] + 1
    entry_index = (ups + 1).astype(np.int64)
    exit_index = np.full(ups.size, -1, dtype=np.int64)
    exit_index[: exits.size] = exits
    exit_index[exit_index >= n] = -1
    exit_price = np.full(ups.size, np.nan)
    filled = exit_index >= 0
    exit_price[filled] = open_[exit_index[filled]]
    return BarTrades(entry_index, open_[entry_index], exit_index, exit_price)
