"""Data quality of a market day: problems are counted, flagged, and kept out of decisions.

Checks, pure numpy over the columns of a MarketDay:

- missing minutes: a session minute without a bar, or without a single chain quote
- off grid: a bar or chain row that is not on the session's minute grid (pre- or post-market,
  misaligned)
- quotes: crossed (bid > ask), locked (bid == ask), one-sided (one side missing), nonpositive
  (ask <= 0 or bid < 0: bad data), no bid (bid == 0: a real market state, but no usable mid)
- bars: nonpositive or missing prices, inconsistent OHLC (low above open/close, high below)
- outliers: a price further from the median of the same series' previous `window` clean
  values than the limits allow. The reference looks only backwards, so a flag at t depends on
  nothing after t, and cleaning a whole day before replaying it stays causal.

`apply_flags` makes the day decisions may use: a flagged quote becomes NaN (the chain grid keeps
its shape) and every NaN side gets size 0; a flagged bar is removed, i.e. becomes a missing bar,
as Databento represents minutes without trades. Masks index the day that was checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.marketdata import (
    F64,
    I64,
    NS_PER_MINUTE,
    BarSeries,
    BoolArray,
    ChainSeries,
    MarketDay,
    datetime_to_ns,
)
from smart0dte.domain.models import DomainError, Underlying


@dataclass(frozen=True, slots=True)
class QualityLimits:
    """When a price counts as an outlier; the defaults catch bad prints (decimal shifts,
    fat fingers) rather than fast markets."""

    window: int = 5
    """Previous samples of the same series whose median is the reference."""
    min_reference: int = 3
    """Fewer clean values than this in the window: no reference, no outlier test."""
    bar_max_move_fraction: float = 0.10
    """A bar price more than this fraction away from the reference close is an outlier."""
    quote_max_ratio: float = 10.0
    """A quote mid above reference x ratio or below reference / ratio ..."""
    quote_min_move_usd: float = 0.50
    """... and at least this far from it is an outlier."""

    def __post_init__(self) -> None:
        if not 1 <= self.window <= 390:
            raise DomainError(f"window={self.window} must be within 1..390 samples")
        if not 1 <= self.min_reference <= self.window:
            raise DomainError(f"min_reference={self.min_reference} must be within 1..window={self.window}")
        if not 0 < self.bar_max_move_fraction < 1:
            raise DomainError(f"bar_max_move_fraction={self.bar_max_move_fraction} must be within (0, 1)")
        if not self.quote_max_ratio > 1:
            raise DomainError(f"quote_max_ratio={self.quote_max_ratio} must be > 1")
        if not self.quote_min_move_usd >= 0:
            raise DomainError(f"quote_min_move_usd={self.quote_min_move_usd} must be >= 0")


def _count(mask: BoolArray) -> int:
    return int(np.count_nonzero(mask))


@dataclass(frozen=True, eq=False)
class BarQuality:
    """Findings for one BarSeries: `missing_minutes` per expected minute, the rest per bar."""

    symbol: str
    missing_minutes: BoolArray
    off_grid: BoolArray
    nonpositive: BoolArray
    inconsistent: BoolArray
    outlier: BoolArray
    flagged: BoolArray = field(init=False)
    """Bars decisions must not use."""

    def __post_init__(self) -> None:
        flagged = self.off_grid | self.nonpositive | self.inconsistent | self.outlier
        object.__setattr__(self, "flagged", flagged)

    def counts(self) -> dict[str, int]:
        return {
            "missing_minutes": _count(self.missing_minutes),
            "off_grid": _count(self.off_grid),
            "nonpositive": _count(self.nonpositive),
            "inconsistent": _count(self.inconsistent),
            "outlier": _count(self.outlier),
            "flagged": _count(self.flagged),
        }


@dataclass(frozen=True, eq=False)
class ChainQuality:
    """Findings for one ChainSeries: `missing_minutes` per expected minute, `off_grid` per row,
    the rest per (row, contract) cell. `no_quote` (both sides missing) is counted, not flagged:
    such a cell is NaN already."""

    underlying: Underlying
    missing_minutes: BoolArray
    off_grid: BoolArray
    no_quote: BoolArray
    one_sided: BoolArray
    crossed: BoolArray
    locked: BoolArray
    nonpositive: BoolArray
    no_bid: BoolArray
    outlier: BoolArray
    flagged: BoolArray = field(init=False)
    """Quotes decisions must not use."""

    def __post_init__(self) -> None:
        flagged = (
            self.off_grid[:, np.newaxis]
            | self.one_sided
            | self.crossed
            | self.locked
            | self.nonpositive
            | self.no_bid
            | self.outlier
        )
        object.__setattr__(self, "flagged", flagged)

    def counts(self) -> dict[str, int]:
        return {
            "missing_minutes": _count(self.missing_minutes),
            "off_grid_rows": _count(self.off_grid),
            "no_quote": _count(self.no_quote),
            "one_sided": _count(self.one_sided),
            "crossed": _count(self.crossed),
            "locked": _count(self.locked),
            "nonpositive": _count(self.nonpositive),
            "no_bid": _count(self.no_bid),
            "outlier": _count(self.outlier),
            "flagged": _count(self.flagged),
        }


@dataclass(frozen=True, eq=False)
class DayQuality:
    """The findings for every bar series and chain of one session."""

    session_date: date
    bars: dict[str, BarQuality]
    chains: dict[Underlying, ChainQuality]

    def counts(self) -> dict[str, dict[str, int]]:
        """Counts per series, keyed by bar symbol and by "<underlying> chain"."""
        report = {symbol: quality.counts() for symbol, quality in self.bars.items()}
        report.update({f"{u.value} chain": quality.counts() for u, quality in self.chains.items()})
        return report


@dataclass(frozen=True, eq=False)
class CheckedDay:
    """A day as loaded (`raw`), as decisions may use it (`clean`), and why they differ."""

    raw: MarketDay
    clean: MarketDay
    quality: DayQuality


def session_grid(session: SessionTimes) -> tuple[I64, I64]:
    """The session's minute grid: bar open times (open .. close - 1 min) and chain sample times
    (open + 1 min .. close), in ns."""
    open_ns = datetime_to_ns(session.open_et)
    offsets = np.arange(session.minutes, dtype=np.int64) * NS_PER_MINUTE
    return open_ns + offsets, open_ns + NS_PER_MINUTE + offsets


def check_bars(series: BarSeries, expected_open_ts_ns: I64, limits: QualityLimits) -> BarQuality:
    """Find missing minutes, off-grid, nonpositive, inconsistent and outlying bars."""
    prices = np.stack([series.open, series.high, series.low, series.close], axis=1)
    nonpositive = ~np.all(prices > 0, axis=1)  # NaN compares False
    inconsistent = ~nonpositive & (
        (series.low > np.minimum(series.open, series.close))
        | (series.high < np.maximum(series.open, series.close))
    )
    off_grid = ~np.isin(series.open_ts_ns, expected_open_ts_ns)
    clean_close = np.where(off_grid | nonpositive | inconsistent, np.nan, series.close)
    reference = _trailing_median(clean_close[:, np.newaxis], limits)[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        move = np.max(np.abs(prices / reference[:, np.newaxis] - 1), axis=1)
    outlier = ~(off_grid | nonpositive | inconsistent) & (move > limits.bar_max_move_fraction)
    return BarQuality(
        symbol=series.symbol,
        missing_minutes=~np.isin(expected_open_ts_ns, series.open_ts_ns),
        off_grid=off_grid,
        nonpositive=nonpositive,
        inconsistent=inconsistent,
        outlier=outlier,
    )


def check_chain(chain: ChainSeries, expected_sample_ts_ns: I64, limits: QualityLimits) -> ChainQuality:
    """Find missing minutes, off-grid rows and unusable or outlying quotes."""
    bid, ask = chain.bid, chain.ask
    has_bid, has_ask = ~np.isnan(bid), ~np.isnan(ask)
    two_sided = has_bid & has_ask
    off_grid = ~np.isin(chain.sample_ts_ns, expected_sample_ts_ns)
    crossed = two_sided & (bid > ask)
    locked = two_sided & (bid == ask)
    nonpositive = (has_ask & (ask <= 0)) | (has_bid & (bid < 0))
    no_bid = has_bid & (bid == 0)
    one_sided = has_bid ^ has_ask
    unusable = off_grid[:, np.newaxis] | one_sided | crossed | locked | nonpositive | no_bid
    mid = np.where(two_sided & ~unusable, (bid + ask) / 2, np.nan)
    reference = _trailing_median(mid, limits)
    with np.errstate(invalid="ignore", divide="ignore"):
        far = (mid > reference * limits.quote_max_ratio) | (mid < reference / limits.quote_max_ratio)
        outlier = far & (np.abs(mid - reference) >= limits.quote_min_move_usd)
    quoted_rows = chain.sample_ts_ns[np.any(has_bid | has_ask, axis=1)]
    return ChainQuality(
        underlying=chain.underlying,
        missing_minutes=~np.isin(expected_sample_ts_ns, quoted_rows),
        off_grid=off_grid,
        no_quote=~(has_bid | has_ask),
        one_sided=one_sided,
        crossed=crossed,
        locked=locked,
        nonpositive=nonpositive,
        no_bid=no_bid,
        outlier=outlier,
    )


def check_day(day: MarketDay, session: SessionTimes, limits: QualityLimits | None = None) -> DayQuality:
    """Check every bar series and chain of `day` against the minute grid of `session`."""
    if session.session_date != day.session_date:
        raise DomainError(
            f"session.session_date={session.session_date} must be the day's date {day.session_date}"
        )
    limits = limits or QualityLimits()
    bar_opens, chain_samples = session_grid(session)
    return DayQuality(
        session_date=day.session_date,
        bars={symbol: check_bars(series, bar_opens, limits) for symbol, series in day.bars.items()},
        chains={u: check_chain(chain, chain_samples, limits) for u, chain in day.chains.items()},
    )


def apply_flags(day: MarketDay, quality: DayQuality) -> MarketDay:
    """The day without what `quality` flagged: flagged bars removed, flagged quotes NaN, size 0."""
    if (
        quality.session_date != day.session_date
        or quality.bars.keys() != day.bars.keys()
        or (quality.chains.keys() != day.chains.keys())
    ):
        raise DomainError(f"the quality report of {quality.session_date} does not describe this day")
    bars: dict[str, BarSeries] = {}
    for symbol, series in day.bars.items():
        flagged_bars = quality.bars[symbol].flagged
        if flagged_bars.shape != (len(series),):
            raise DomainError(
                f"the quality report of {symbol} has {flagged_bars.shape[0]} bars; day has {len(series)}"
            )
        bars[symbol] = series.select(~flagged_bars)
    chains: dict[Underlying, ChainSeries] = {}
    for underlying, chain in day.chains.items():
        flagged_quotes = quality.chains[underlying].flagged
        if flagged_quotes.shape != chain.bid.shape:
            raise DomainError(
                f"the quality report of the {underlying.value} chain has shape {flagged_quotes.shape}; "
                f"day has {chain.bid.shape}"
            )
        bid = np.where(flagged_quotes, np.nan, chain.bid)
        ask = np.where(flagged_quotes, np.nan, chain.ask)
        chains[underlying] = ChainSeries(
            underlying,
            chain.expiry,
            chain.contracts,
            chain.sample_ts_ns.copy(),
            bid,
            ask,
            np.where(np.isnan(bid), 0, chain.bid_size),
            np.where(np.isnan(ask), 0, chain.ask_size),
        )
    return MarketDay(day.session_date, bars, chains, day.synthetic)


def check_and_clean(day: MarketDay, session: SessionTimes, limits: QualityLimits | None = None) -> CheckedDay:
    """Check `day` and apply the flags: the raw day, the clean day and the findings."""
    quality = check_day(day, session, limits)
    return CheckedDay(raw=day, clean=apply_flags(day, quality), quality=quality)


def _trailing_median(values: F64, limits: QualityLimits) -> F64:
    """Per column, the median of the previous `window` non-NaN values (NaN if too few)."""
    rows, columns = values.shape
    window = limits.window
    padded = np.concatenate([np.full((window, columns), np.nan), values], axis=0)
    lagged = np.stack([padded[lag : lag + rows] for lag in range(window)])  # row i sees values[i-window:i]
    valid = np.count_nonzero(~np.isnan(lagged), axis=0)
    ordered = np.sort(lagged, axis=0)  # NaN sorts last
    low = np.maximum((valid - 1) // 2, 0)[np.newaxis]
    high = np.minimum(valid // 2, window - 1)[np.newaxis]
    median: F64 = (np.take_along_axis(ordered, low, 0) + np.take_along_axis(ordered, high, 0))[0] / 2
    median[valid < limits.min_reference] = np.nan
    return median
