"""Live aggregation: closed 1-minute bars and per-minute 0DTE chain snapshots, without look-ahead.

Plain values go in (symbol or contract, `ts_ns`, prices in USD, sizes) and domain objects come
out; the Databento adapter converts vendor records and feeds them here. Timestamps follow
`domain.marketdata`: a bar is stamped with its open time T and is emitted no earlier than
T + 60 s; a chain snapshot is stamped with the minute end T it samples and holds only quotes
stamped at or before T.

When a minute closes (both aggregators)
  - the stream passes it: a record stamped after it arrives. Bars: a trade, or a sub-minute
    bar opening, at or after the minute end, of any symbol - one publisher's records arrive
    in time order, so every record of the minute has been seen. Chains: a quote stamped after
    the minute end (a cbbo-1s quote stamped exactly at the end belongs to that minute).
  - the clock passes it: `advance_to(now_ts_ns)` with now >= minute end + `close_grace_s`,
    for quiet streams. The grace leaves time for records of the minute still in flight.

Out-of-order records
  - bars: a record for the open minute is applied whatever its order inside the minute (open
    is the earliest-stamped price, close the latest-stamped); a record for a closed minute is
    counted `late` and dropped - its bar is out and bars are never revised. A record already
    applied (same sub-bar open time, or same trade time and trade id, as when the open minute
    is replayed after a reconnect) is counted in `duplicates` and ignored, so a replay rebuilds
    the minute exactly.
  - quotes: per contract the latest-stamped quote wins; an older one is counted `out_of_order`
    and dropped. A quote stamped at or before an emitted snapshot is counted `late` (it missed
    that snapshot) and still updates the book for the next ones.

Gaps: a minute in which a symbol has no record gets no bar, and a `BarGap` says so. A flat
zero-volume bar would invent a price observation and skew volume, range and VWAP; Databento's
own ohlcv-1m omits such minutes, so live bars match the archive that backtests read. For SPY,
QQQ and IWM in regular hours a silent minute means a data problem: it is flagged, not hidden.

Data quality: bar records with a price <= 0 or inconsistent OHLC are counted `invalid` and
dropped. Quotes with a `QuoteIssue` - no price, one side only, a negative price or ask <= 0, a
zero bid, crossed (bid > ask), locked (bid == ask) - stay in the book (they are the latest
state) but are left out of snapshots; each snapshot's exclusions are reported in a
`QuotesExcluded` and summed in the stats.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from smart0dte.domain.marketdata import NS_PER_MINUTE, NS_PER_SECOND, ns_to_datetime
from smart0dte.domain.models import (
    Bar,
    ChainSnapshot,
    DomainError,
    OptionContract,
    OptionQuote,
    Underlying,
)

MINUTE_S = 60
_MAX_CLOSE_GRACE_S = 60.0


def floor_minute_ns(ts_ns: int) -> int:
    """Start of the UTC minute holding `ts_ns`."""
    return ts_ns - ts_ns % NS_PER_MINUTE


def _grace_ns(close_grace_s: float) -> int:
    if not 0 <= close_grace_s < _MAX_CLOSE_GRACE_S:
        raise DomainError(f"close_grace_s={close_grace_s} must be >= 0 and < {_MAX_CLOSE_GRACE_S:g}")
    return round(close_grace_s * NS_PER_SECOND)


def _require_minute_boundary(start_ts_ns: int) -> None:
    if start_ts_ns % NS_PER_MINUTE:
        raise DomainError(f"start_ts_ns={start_ts_ns} must be on a minute boundary (a multiple of 60 s)")


def _positive(*prices_usd: float) -> bool:
    return all(math.isfinite(p) and p > 0 for p in prices_usd)


@dataclass(frozen=True, slots=True)
class BarGap:
    """`minutes` consecutive minutes from `ts` (an open time) closed without a record for `symbol`."""

    symbol: str
    ts: datetime
    minutes: int


@dataclass(slots=True)
class BarStats:
    """Running counts of a MinuteBarAggregator; `records` counts every record offered."""

    records: int = 0
    bars: int = 0
    late: int = 0
    duplicates: int = 0
    invalid: int = 0
    missing_minutes: int = 0


@dataclass(slots=True)
class _OpenBar:
    first_ts_ns: int
    last_ts_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    seen: set[tuple[int, int | None]] = field(default_factory=set)


class MinuteBarAggregator:
    """Trades or sub-minute bars of a fixed set of symbols -> closed 1-minute bars and gaps.

    One minute is open at a time for the whole stream, starting at `start_ts_ns`; records for
    earlier minutes are late. See the module docstring for the closing and ordering rules.
    """

    def __init__(self, symbols: Iterable[str], start_ts_ns: int, close_grace_s: float = 2.0) -> None:
        self._symbols = tuple(sorted(set(symbols)))
        if not self._symbols:
            raise DomainError("symbols must name at least one symbol")
        _require_minute_boundary(start_ts_ns)
        self._grace_ns = _grace_ns(close_grace_s)
        self._open_minute_ns = start_ts_ns
        self._bars: dict[str, _OpenBar] = {}
        self._stats = BarStats()

    @property
    def open_minute_ns(self) -> int:
        """Open time of the minute being built: where a replay must start to rebuild it."""
        return self._open_minute_ns

    @property
    def stats(self) -> BarStats:
        return replace(self._stats)

    def add_trade(
        self, symbol: str, ts_ns: int, price_usd: float, size: int, trade_id: int
    ) -> list[Bar | BarGap]:
        """Apply one trade; `trade_id` (the venue sequence) tells a replayed trade from a new one."""
        valid = _positive(price_usd) and size > 0
        return self._add(
            symbol, ts_ns, (ts_ns, trade_id), valid, price_usd, price_usd, price_usd, price_usd, size
        )

    def add_bar(
        self,
        symbol: str,
        open_ts_ns: int,
        interval_s: int,
        open_usd: float,
        high_usd: float,
        low_usd: float,
        close_usd: float,
        volume: int,
    ) -> list[Bar | BarGap]:
        """Apply one bar of `interval_s` seconds (a divisor of 60) stamped with its open time."""
        if interval_s <= 0 or MINUTE_S % interval_s:
            raise DomainError(f"interval_s={interval_s} must divide {MINUTE_S} (1, 2, 3, 4, 5, ..., 60)")
        if open_ts_ns % (interval_s * NS_PER_SECOND):
            raise DomainError(f"open_ts_ns={open_ts_ns} is not on a {interval_s} s boundary")
        valid = (
            _positive(open_usd, high_usd, low_usd, close_usd)
            and low_usd <= min(open_usd, close_usd) <= max(open_usd, close_usd) <= high_usd
            and volume >= 0
        )
        return self._add(
            symbol, open_ts_ns, (open_ts_ns, None), valid, open_usd, high_usd, low_usd, close_usd, volume
        )

    def advance_to(self, now_ts_ns: int) -> list[Bar | BarGap]:
        """Close every minute that ended at least `close_grace_s` before `now_ts_ns`."""
        return self._close_before(floor_minute_ns(now_ts_ns - self._grace_ns))

    def _add(
        self,
        symbol: str,
        ts_ns: int,
        key: tuple[int, int | None],
        valid: bool,
        open_usd: float,
        high_usd: float,
        low_usd: float,
        close_usd: float,
        volume: int,
    ) -> list[Bar | BarGap]:
        if symbol not in self._symbols:
            raise DomainError(f"symbol={symbol!r} is not aggregated here; expected one of {self._symbols}")
        self._stats.records += 1
        if not valid:
            self._stats.invalid += 1
            return []
        minute_ns = floor_minute_ns(ts_ns)
        if minute_ns < self._open_minute_ns:
            self._stats.late += 1
            return []
        closed = self._close_before(minute_ns)
        bar = self._bars.get(symbol)
        if bar is None:
            self._bars[symbol] = _OpenBar(ts_ns, ts_ns, open_usd, high_usd, low_usd, close_usd, volume, {key})
        elif key in bar.seen:
            self._stats.duplicates += 1
        else:
            bar.seen.add(key)
            if ts_ns < bar.first_ts_ns:
                bar.first_ts_ns, bar.open = ts_ns, open_usd
            if ts_ns >= bar.last_ts_ns:
                bar.last_ts_ns, bar.close = ts_ns, close_usd
            bar.high = max(bar.high, high_usd)
            bar.low = min(bar.low, low_usd)
            bar.volume += volume
        return closed

    def _close_before(self, minute_ns: int) -> list[Bar | BarGap]:
        """Close the open minute and any empty ones up to (not including) `minute_ns`."""
        start_ns = self._open_minute_ns
        if minute_ns <= start_ns:
            return []
        bars: list[Bar | BarGap] = []
        gaps: list[BarGap] = []
        for symbol in self._symbols:
            bar = self._bars.pop(symbol, None)
            gap_start_ns = start_ns
            if bar is not None:
                bars.append(
                    Bar(
                        symbol=symbol,
                        ts=ns_to_datetime(start_ns),
                        interval_s=MINUTE_S,
                        open=bar.open,
                        high=bar.high,
                        low=bar.low,
                        close=bar.close,
                        volume=bar.volume,
                    )
                )
                gap_start_ns += NS_PER_MINUTE
            if gap_start_ns < minute_ns:
                gaps.append(
                    BarGap(symbol, ns_to_datetime(gap_start_ns), (minute_ns - gap_start_ns) // NS_PER_MINUTE)
                )
        self._open_minute_ns = minute_ns
        self._stats.bars += len(bars)
        self._stats.missing_minutes += sum(g.minutes for g in gaps)
        gaps.sort(key=lambda g: (g.ts, g.symbol))
        return bars + gaps


class QuoteIssue(StrEnum):
    """Why a quote is kept out of decisions (the names `domain.data_quality` uses)."""

    NO_QUOTE = "no_quote"
    ONE_SIDED = "one_sided"
    NONPOSITIVE = "nonpositive"
    NO_BID = "no_bid"
    CROSSED = "crossed"
    LOCKED = "locked"


def quote_issue(bid_usd: float | None, ask_usd: float | None) -> QuoteIssue | None:
    """The first problem of a top of book in the order above, or None when 0 < bid < ask.

    None or NaN is a side without a price; nonpositive is ask <= 0 or bid < 0 (bad data);
    no_bid is bid == 0, a real state of far wings that still gives no usable mid.
    """
    bid = math.nan if bid_usd is None else bid_usd
    ask = math.nan if ask_usd is None else ask_usd
    has_bid, has_ask = not math.isnan(bid), not math.isnan(ask)
    if not (has_bid or has_ask):
        return QuoteIssue.NO_QUOTE
    if not (has_bid and has_ask):
        return QuoteIssue.ONE_SIDED
    if ask <= 0 or bid < 0:
        return QuoteIssue.NONPOSITIVE
    if bid == 0:
        return QuoteIssue.NO_BID
    if bid > ask:
        return QuoteIssue.CROSSED
    if bid == ask:
        return QuoteIssue.LOCKED
    return None


@dataclass(frozen=True, slots=True)
class QuotesExcluded:
    """How many contracts of one snapshot were left out, by the issue of their latest quote."""

    underlying: Underlying
    ts: datetime
    no_quote: int = 0
    one_sided: int = 0
    nonpositive: int = 0
    no_bid: int = 0
    crossed: int = 0
    locked: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, issue.value) for issue in QuoteIssue)


@dataclass(frozen=True, slots=True)
class ChainSkipped:
    """No snapshot of `underlying` at `ts`, and why (e.g. no underlying price yet)."""

    underlying: Underlying
    ts: datetime
    reason: str


@dataclass(slots=True)
class ChainStats:
    """Running counts of a ChainSnapshotAggregator.

    `other_chain` counts quotes of another expiry or underlying (ignored); the six QuoteIssue
    counts are summed over emitted snapshots, one per contract left out of each.
    """

    quotes: int = 0
    late: int = 0
    out_of_order: int = 0
    other_chain: int = 0
    invalid_underlying: int = 0
    snapshots: int = 0
    skipped: int = 0
    no_quote: int = 0
    one_sided: int = 0
    nonpositive: int = 0
    no_bid: int = 0
    crossed: int = 0
    locked: int = 0


@dataclass(frozen=True, slots=True)
class _HeldQuote:
    ts_ns: int
    bid_usd: float  # NaN: no price on that side
    ask_usd: float
    bid_size: int
    ask_size: int


class ChainSnapshotAggregator:
    """Latest top of book per 0DTE contract -> one ChainSnapshot per underlying per minute end.

    The first snapshot samples `start_ts_ns` + 60 s. Each snapshot carries the underlying's
    last price stamped at or before the sample time. See the module docstring for the rules.
    """

    def __init__(
        self,
        underlyings: Iterable[Underlying],
        expiry: date,
        start_ts_ns: int,
        close_grace_s: float = 2.0,
    ) -> None:
        self._underlyings = tuple(dict.fromkeys(underlyings))
        if not self._underlyings:
            raise DomainError("underlyings must name at least one of SPY, QQQ, IWM")
        for underlying in self._underlyings:
            if not underlying.is_tradable:
                raise DomainError(f"underlyings: {underlying.value} is an index and has no 0DTE chain here")
        _require_minute_boundary(start_ts_ns)
        self._expiry = expiry
        self._grace_ns = _grace_ns(close_grace_s)
        self._next_sample_ns = start_ts_ns + NS_PER_MINUTE
        self._books: dict[Underlying, dict[OptionContract, _HeldQuote]] = {u: {} for u in self._underlyings}
        self._prices: dict[Underlying, deque[tuple[int, float]]] = {u: deque() for u in self._underlyings}
        self._stats = ChainStats()

    @property
    def last_sample_ns(self) -> int:
        """The last emitted sample time (or the start): a replay from just after it rebuilds the book."""
        return self._next_sample_ns - NS_PER_MINUTE

    @property
    def stats(self) -> ChainStats:
        return replace(self._stats)

    def update_underlying(self, underlying: Underlying, ts_ns: int, price_usd: float) -> None:
        """Record the underlying's price known at `ts_ns`; one stamped before the last is ignored."""
        if underlying not in self._prices:
            raise DomainError(
                f"underlying={underlying.value} is not aggregated here; expected one of "
                f"{[u.value for u in self._underlyings]}"
            )
        if not _positive(price_usd):
            self._stats.invalid_underlying += 1
            return
        prices = self._prices[underlying]
        if not prices or ts_ns >= prices[-1][0]:
            prices.append((ts_ns, price_usd))

    def update_quote(
        self,
        contract: OptionContract,
        ts_ns: int,
        bid_usd: float | None,
        ask_usd: float | None,
        bid_size: int,
        ask_size: int,
    ) -> list[ChainSnapshot | QuotesExcluded | ChainSkipped]:
        """Apply one top of book (None for a side without a price); returns snapshots it closed."""
        book = self._books.get(contract.underlying) if contract.underlying is not None else None
        if book is None or contract.expiry != self._expiry:
            self._stats.other_chain += 1
            return []
        self._stats.quotes += 1
        closed = self._sample_through(ts_ns - 1)
        held = book.get(contract)
        if held is not None and ts_ns < held.ts_ns:
            self._stats.out_of_order += 1
            return closed
        if ts_ns <= self.last_sample_ns:
            self._stats.late += 1
        book[contract] = _HeldQuote(
            ts_ns,
            math.nan if bid_usd is None else bid_usd,
            math.nan if ask_usd is None else ask_usd,
            bid_size,
            ask_size,
        )
        return closed

    def advance_to(self, now_ts_ns: int) -> list[ChainSnapshot | QuotesExcluded | ChainSkipped]:
        """Emit every snapshot whose sample time is at least `close_grace_s` before `now_ts_ns`."""
        return self._sample_through(now_ts_ns - self._grace_ns)

    def _sample_through(self, limit_ns: int) -> list[ChainSnapshot | QuotesExcluded | ChainSkipped]:
        out: list[ChainSnapshot | QuotesExcluded | ChainSkipped] = []
        while self._next_sample_ns <= limit_ns:
            for underlying in self._underlyings:
                out.extend(self._sample(underlying, self._next_sample_ns))
            self._next_sample_ns += NS_PER_MINUTE
        return out

    def _sample(
        self, underlying: Underlying, sample_ns: int
    ) -> list[ChainSnapshot | QuotesExcluded | ChainSkipped]:
        ts = ns_to_datetime(sample_ns)
        price_usd = self._price_at(underlying, sample_ns)
        if price_usd is None:
            self._stats.skipped += 1
            return [ChainSkipped(underlying, ts, "no underlying price at or before the sample time")]
        excluded = dict.fromkeys(QuoteIssue, 0)
        quotes: list[OptionQuote] = []
        book = self._books[underlying]
        for contract in sorted(book, key=lambda c: (c.right.value, c.strike)):
            held = book[contract]
            issue = quote_issue(held.bid_usd, held.ask_usd)
            if issue is not None:
                excluded[issue] += 1
                continue
            quotes.append(
                OptionQuote(
                    contract=contract,
                    bid=held.bid_usd,
                    ask=held.ask_usd,
                    bid_size=held.bid_size,
                    ask_size=held.ask_size,
                )
            )
        snapshot = ChainSnapshot(
            underlying=underlying,
            ts=ts,
            expiry=self._expiry,
            underlying_price=price_usd,
            quotes=tuple(quotes),
        )
        self._stats.snapshots += 1
        counts = {issue.value: n for issue, n in excluded.items() if n}
        for name, n in counts.items():
            setattr(self._stats, name, getattr(self._stats, name) + n)
        if not counts:
            return [snapshot]
        return [snapshot, QuotesExcluded(underlying, ts, **counts)]

    def _price_at(self, underlying: Underlying, sample_ns: int) -> float | None:
        """Last price stamped at or before `sample_ns`; drops older ones (samples only move forward)."""
        prices = self._prices[underlying]
        while len(prices) > 1 and prices[1][0] <= sample_ns:
            prices.popleft()
        if prices and prices[0][0] <= sample_ns:
            return prices[0][1]
        return None


def mid_bars(snapshots: Sequence[ChainSnapshot], contract: OptionContract) -> list[Bar]:
    """One-minute bars of an option's mid, one sample per chain snapshot (taken at a minute end):
    open = high = low = close = the mid of the minute ending at the snapshot, volume 0 (the
    snapshots carry quotes, not trades). Minutes whose quote is missing, crossed or bidless are
    left out rather than drawn from a price nobody could trade at."""
    bars: list[Bar] = []
    for snapshot in snapshots:
        quote = snapshot.quote_for(contract)
        if quote is None or not quote.is_usable:
            continue
        mid = quote.mid
        bars.append(
            Bar(
                symbol=contract.occ_symbol,
                ts=snapshot.ts - timedelta(minutes=1),
                open=mid,
                high=mid,
                low=mid,
                close=mid,
                volume=0,
            )
        )
    return bars
