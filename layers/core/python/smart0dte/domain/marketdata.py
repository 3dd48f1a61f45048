"""Column-oriented market data for one trading day: what the simulator writes and readers load.

Times are int64 nanoseconds since the epoch, UTC (`*_ts_ns`), as in DBN files.

- A bar is stamped with its OPEN time (Databento ohlcv convention) and is known only once it
  has closed, at `open_ts_ns + interval`. `BarSeries.closed_by(t)` respects that.
- A chain row is stamped with the instant its quotes were sampled (`sample_ts_ns`, Databento
  cbbo-1m `ts_recv`: the end of the minute); the row shows the book as of that instant.

A decision at time t may use bars with close <= t and chain rows sampled <= t, nothing later.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Self, TypeVar

import numpy as np
import numpy.typing as npt

from smart0dte.domain.models import (
    Bar,
    ChainSnapshot,
    DomainError,
    OptionContract,
    OptionQuote,
    OptionRight,
    Underlying,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND

_Series = TypeVar("_Series", "BarSeries", "ChainSeries")
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def ns_to_datetime(ts_ns: int) -> datetime:
    """UTC datetime of a nanosecond timestamp (microsecond precision, as Python allows)."""
    return _EPOCH + timedelta(microseconds=ts_ns // 1000)


def datetime_to_ns(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise DomainError("timestamp must be timezone-aware")
    return (ts - _EPOCH) // timedelta(microseconds=1) * 1000


def _frozen(array: npt.NDArray[np.generic]) -> None:
    array.setflags(write=False)


def _check_lengths(owner: str, expected: int, **arrays: npt.NDArray[np.generic]) -> None:
    for name, array in arrays.items():
        if array.shape[0] != expected:
            raise DomainError(f"{owner}.{name} has {array.shape[0]} rows; expected {expected}")


def _prefix(series: _Series, count: int, row_fields: tuple[str, ...]) -> _Series:
    """`series` with its per-row arrays cut to `count` rows (validated data stays valid, so it is
    not validated again); a series that is already that short is shared, not cloned."""
    if count >= len(series):
        return series
    clone = object.__new__(type(series))
    state = dict(vars(series))
    for name in row_fields:
        state[name] = state[name][:count]
    vars(clone).update(state)
    return clone


@dataclass(frozen=True, eq=False)
class BarSeries:
    """Consecutive bars of one symbol, sorted by open time."""

    symbol: str
    open_ts_ns: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: I64
    interval_s: int = 60

    def __post_init__(self) -> None:
        n = self.open_ts_ns.shape[0]
        _check_lengths(
            "BarSeries", n, open=self.open, high=self.high, low=self.low, close=self.close, volume=self.volume
        )
        if n > 1 and not bool(np.all(np.diff(self.open_ts_ns) > 0)):
            raise DomainError(f"BarSeries({self.symbol}).open_ts_ns must be strictly increasing")
        for array in (self.open_ts_ns, self.open, self.high, self.low, self.close, self.volume):
            _frozen(array)

    def __len__(self) -> int:
        return int(self.open_ts_ns.shape[0])

    @property
    def close_ts_ns(self) -> I64:
        return self.open_ts_ns + self.interval_s * NS_PER_SECOND

    def closed_by(self, ts_ns: int) -> int:
        """How many bars had closed at `ts_ns` (the prefix a decision at ts_ns may see)."""
        return int(np.searchsorted(self.close_ts_ns, ts_ns, side="right"))

    def head(self, count: int) -> BarSeries:
        """The first `count` bars, as read-only views (no copy)."""
        return _prefix(self, count, ("open_ts_ns", "open", "high", "low", "close", "volume"))

    def select(self, keep: BoolArray) -> BarSeries:
        """The bars where `keep` is true, in order (copies)."""
        return BarSeries(
            self.symbol,
            self.open_ts_ns[keep],
            self.open[keep],
            self.high[keep],
            self.low[keep],
            self.close[keep],
            self.volume[keep],
            self.interval_s,
        )

    def bar(self, index: int) -> Bar:
        return Bar(
            symbol=self.symbol,
            ts=ns_to_datetime(int(self.open_ts_ns[index])),
            interval_s=self.interval_s,
            open=float(self.open[index]),
            high=float(self.high[index]),
            low=float(self.low[index]),
            close=float(self.close[index]),
            volume=int(self.volume[index]),
        )


@dataclass(frozen=True, eq=False)
class ChainSeries:
    """One underlying's option chain for one expiry over a day: a (sample x contract) grid.

    Missing quotes are NaN prices with size 0. Contracts are sorted by (right, strike).
    """

    underlying: Underlying
    expiry: date
    contracts: tuple[OptionContract, ...]
    sample_ts_ns: I64
    bid: F64
    ask: F64
    bid_size: I64
    ask_size: I64
    strike: F64 = field(init=False)
    is_call: BoolArray = field(init=False)

    def __post_init__(self) -> None:
        shape = (self.sample_ts_ns.shape[0], len(self.contracts))
        for name in ("bid", "ask", "bid_size", "ask_size"):
            if getattr(self, name).shape != shape:
                raise DomainError(
                    f"ChainSeries.{name} has shape {getattr(self, name).shape}; expected {shape}"
                )
        for contract in self.contracts:
            if contract.root != self.underlying.value or contract.expiry != self.expiry:
                raise DomainError(
                    f"ChainSeries({self.underlying.value} {self.expiry}) got contract {contract.occ_symbol}"
                )
        object.__setattr__(self, "strike", np.array([c.strike for c in self.contracts], dtype=np.float64))
        object.__setattr__(
            self, "is_call", np.array([c.right is OptionRight.CALL for c in self.contracts], dtype=np.bool_)
        )
        for array in (
            self.sample_ts_ns,
            self.bid,
            self.ask,
            self.bid_size,
            self.ask_size,
            self.strike,
            self.is_call,
        ):
            _frozen(array)

    def __len__(self) -> int:
        return int(self.sample_ts_ns.shape[0])

    def sampled_by(self, ts_ns: int) -> int:
        """How many rows were sampled at or before `ts_ns`."""
        return int(np.searchsorted(self.sample_ts_ns, ts_ns, side="right"))

    def head(self, count: int) -> ChainSeries:
        """The first `count` samples, as read-only views (no copy)."""
        return _prefix(self, count, ("sample_ts_ns", "bid", "ask", "bid_size", "ask_size"))

    def snapshot(self, row: int, underlying_price: float) -> ChainSnapshot:
        """Row `row` as a domain ChainSnapshot (contracts without a quote are left out)."""
        quoted = ~(np.isnan(self.bid[row]) | np.isnan(self.ask[row]))
        quotes = tuple(
            OptionQuote(
                contract=self.contracts[i],
                bid=float(self.bid[row, i]),
                ask=float(self.ask[row, i]),
                bid_size=int(self.bid_size[row, i]),
                ask_size=int(self.ask_size[row, i]),
            )
            for i in np.flatnonzero(quoted)
        )
        return ChainSnapshot(
            underlying=self.underlying,
            ts=ns_to_datetime(int(self.sample_ts_ns[row])),
            expiry=self.expiry,
            underlying_price=underlying_price,
            quotes=quotes,
        )


@dataclass(frozen=True, eq=False)
class MarketDay:
    """Everything known about one session: bars per symbol (SPY, QQQ, IWM, VIX) and 0DTE chains."""

    session_date: date
    bars: dict[str, BarSeries]
    chains: dict[Underlying, ChainSeries]
    synthetic: bool

    def until(self, ts_ns: int) -> Self:
        """The day as known at `ts_ns`: closed bars and chain rows sampled by then, nothing later."""
        return type(self)(
            self.session_date,
            {s: series.head(series.closed_by(ts_ns)) for s, series in self.bars.items()},
            {u: chain.head(chain.sampled_by(ts_ns)) for u, chain in self.chains.items()},
            self.synthetic,
        )


class DayCut:
    """`MarketDay.until` for a loop that asks every minute: the same day as known at `ts_ns`, with
    bar close and chain sample times searched once as Python lists (the per-minute cost matters)."""

    def __init__(self, day: MarketDay) -> None:
        self.day = day
        self.bar_close_ns = {s: series.close_ts_ns.tolist() for s, series in day.bars.items()}
        self.sample_ns = {u: chain.sample_ts_ns.tolist() for u, chain in day.chains.items()}

    def until(self, ts_ns: int) -> MarketDay:
        day = self.day
        return type(day)(
            day.session_date,
            {s: series.head(bisect_right(self.bar_close_ns[s], ts_ns)) for s, series in day.bars.items()},
            {u: chain.head(bisect_right(self.sample_ns[u], ts_ns)) for u, chain in day.chains.items()},
            day.synthetic,
        )
