"""Market data on DynamoDB, for one trading mode: the bars and chain snapshots the gateway writes
(`DynamoMarket`, part of the state store) and the market rebuilt from them as the column-oriented
MarketDay the session engine reads (`DynamoMarketReader`).

    market   pk=<mode>#bar#<symbol>#<date>     sk=<bar open>  o h l c v i expires_at
             pk=<mode>#chain#<underlying>#<date>  sk=<ts>     z (zlib JSON) expires_at

A chain snapshot lists the contracts quoted at its instant; the rebuilt grid has one column per
contract quoted in any snapshot known so far, sorted by (right, strike) as ChainSeries wants, with
NaN prices and zero sizes where a snapshot did not quote a contract. A contract never quoted by
`ts` is therefore absent at `ts` (an archived day lists every contract of the day): for features
that pick the nearest strike that can matter, which is why the gateway should snapshot every
listed contract, quoted or not.

A reader keeps what it has read, per session, and asks DynamoDB only for items stamped after the
last it saw (minus a few minutes, so an item written slightly out of order is still picked up):
a warm Lambda reads one minute's items per call, not the whole day.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final

import numpy as np
from pynamodb.attributes import BinaryAttribute, NumberAttribute

from smart0dte.adapters.aws.dynamodb.tables import (
    MAX_ITEM_BYTES,
    MarketTable,
    ModeStore,
    Tables,
    parse_utc_key,
    utc_key,
)
from smart0dte.domain.marketdata import BarSeries, ChainSeries, MarketDay, datetime_to_ns
from smart0dte.domain.models import (
    Bar,
    ChainSnapshot,
    OptionContract,
    OptionQuote,
    OptionRight,
    TradingMode,
    Underlying,
)
from smart0dte.ports import session_date_of
from smart0dte.resources import MARKET_TABLE, mode_key

DEFAULT_MARKET_TTL = timedelta(days=3)
"""How long bars and chain snapshots live after their own timestamp."""

SYMBOLS: Final = tuple(u.value for u in Underlying)
"""Bars kept: the three ETFs and VIX."""
REREAD: Final = timedelta(minutes=2)
"""How far back a query asks again, for items written out of order."""
MINUTE: Final = timedelta(minutes=1)
MAX_KEYED: Final = 5
"""A warm partition missing at most this many minute items gets them by key (BatchGetItem)."""


class BarItem(MarketTable):
    o = NumberAttribute()
    h = NumberAttribute()
    l = NumberAttribute()  # noqa: E741 - one letter per OHLCV field keeps the item small
    c = NumberAttribute()
    v = NumberAttribute()
    i = NumberAttribute()


class ChainItem(MarketTable):
    z = BinaryAttribute(legacy_encoding=False)


# --- chain snapshot encoding -----------------------------------------------------------------


def encode_chain(snapshot: ChainSnapshot) -> bytes:
    """Compact, lossless: expiry, underlying price and one row per quote, JSON then zlib."""
    rows = [
        [q.contract.right.value, q.contract.strike_milli, q.bid, q.ask, q.bid_size, q.ask_size]
        for q in snapshot.quotes
    ]
    doc = {"e": snapshot.expiry.isoformat(), "p": snapshot.underlying_price, "q": rows}
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), level=6)


def decode_chain(underlying: Underlying, ts: datetime, blob: bytes) -> ChainSnapshot:
    doc = json.loads(zlib.decompress(blob))
    expiry = date.fromisoformat(doc["e"])
    quotes = tuple(
        OptionQuote(
            contract=OptionContract(
                root=underlying.value, expiry=expiry, right=OptionRight(right), strike=strike_milli / 1000
            ),
            bid=bid,
            ask=ask,
            bid_size=bid_size,
            ask_size=ask_size,
        )
        for right, strike_milli, bid, ask, bid_size, ask_size in doc["q"]
    )
    return ChainSnapshot(
        underlying=underlying, ts=ts, expiry=expiry, underlying_price=doc["p"], quotes=quotes
    )


# --- the store's market data -------------------------------------------------------------------


class DynamoMarket(ModeStore):
    """`MarketStore` for one mode: each item expires `_market_ttl` after its own timestamp."""

    def __init__(self, tables: Tables, mode: TradingMode) -> None:
        super().__init__(tables, mode)
        self._market_ttl = DEFAULT_MARKET_TTL
        self._bars = tables.model(BarItem)
        self._chains = tables.model(ChainItem)

    def put_bar(self, bar: Bar) -> None:
        """One item per symbol and minute; writing the same bar again leaves the same item."""
        self._bars(
            self._key("bar", bar.symbol, session_date_of(bar.ts).isoformat()),
            utc_key(bar.ts),
            expires_at=bar.ts + self._market_ttl,
            o=bar.open,
            h=bar.high,
            l=bar.low,
            c=bar.close,
            v=bar.volume,
            i=bar.interval_s,
        ).save()

    def list_bars(self, symbol: str, session_date: date, latest_only: bool = False) -> list[Bar]:
        """The session's bars of `symbol`, oldest first; `latest_only`: just the newest (one read)."""
        items = self._bars.query(
            self._key("bar", symbol, session_date.isoformat()),
            consistent_read=True,
            scan_index_forward=not latest_only,
            limit=1 if latest_only else None,
        )
        return [
            Bar(
                symbol=symbol,
                ts=parse_utc_key(i.sk),
                interval_s=int(i.i),
                open=i.o,
                high=i.h,
                low=i.l,
                close=i.c,
                volume=int(i.v),
            )
            for i in items
        ]

    def put_chain_snapshot(self, snapshot: ChainSnapshot) -> None:
        """One compressed item per underlying and instant; too big for an item raises, writing nothing."""
        blob = encode_chain(snapshot)
        pk = self._key("chain", snapshot.underlying.value, session_date_of(snapshot.ts).isoformat())
        sk = utc_key(snapshot.ts)
        size_bytes = len(blob) + len(pk) + len(sk) + 64  # attribute names, TTL number, overhead
        if size_bytes > MAX_ITEM_BYTES:
            raise ValueError(
                f"chain snapshot {snapshot.underlying.value} at {snapshot.ts.isoformat()}: "
                f"{size_bytes} bytes compressed exceeds the DynamoDB item limit of {MAX_ITEM_BYTES} bytes"
            )
        self._chains(pk, sk, expires_at=snapshot.ts + self._market_ttl, z=blob).save()

    def list_chain_snapshots(self, underlying: Underlying, at_or_before: datetime) -> list[ChainSnapshot]:
        """Every snapshot of `at_or_before`'s session taken at or before it, oldest first."""
        items = self._chains.query(
            self._key("chain", underlying.value, session_date_of(at_or_before).isoformat()),
            self._chains.sk <= utc_key(at_or_before),
            consistent_read=True,
        )
        return [decode_chain(underlying, parse_utc_key(i.sk), i.z) for i in items]

    def latest_chain_snapshot(self, underlying: Underlying, at_or_before: datetime) -> ChainSnapshot | None:
        """The last snapshot of `at_or_before`'s session taken at or before it."""
        items = self._chains.query(
            self._key("chain", underlying.value, session_date_of(at_or_before).isoformat()),
            self._chains.sk <= utc_key(at_or_before),
            scan_index_forward=False,
            limit=1,
            consistent_read=True,
        )
        for item in items:
            ts = parse_utc_key(item.sk)
            return decode_chain(underlying, ts, item.z)
        return None


# --- the market rebuilt for the session engine -----------------------------------------------


@dataclass(frozen=True, slots=True)
class _StoredBar:
    open_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    interval_s: int

    @property
    def close_ns(self) -> int:
        return self.open_ns + self.interval_s * 1_000_000_000


@dataclass(frozen=True, slots=True)
class _StoredChain:
    ts_ns: int
    expiry: date
    keys: tuple[tuple[str, int], ...]
    """(right, strike in 1/1000 USD) of each quote."""
    contracts: tuple[OptionContract, ...]
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray


@dataclass
class _Session:
    bars: dict[str, dict[str, _StoredBar]] = field(default_factory=dict)
    chains: dict[Underlying, dict[str, _StoredChain]] = field(default_factory=dict)
    read_until: dict[str, str] = field(default_factory=dict)
    """Partition key -> the last sort key read from it."""


class DynamoMarketReader:
    """`MarketReader` over the market table, for one trading mode (whose gateway wrote the items)."""

    def __init__(
        self,
        prefix: str,
        mode: TradingMode,
        *,
        region: str,
        endpoint_url: str | None = None,
        sessions_kept: int = 2,
    ) -> None:
        tables = Tables(prefix, region=region, endpoint_url=endpoint_url, specs=(MARKET_TABLE,))
        self._mode = mode
        self._bars = tables.model(BarItem)
        self._chains = tables.model(ChainItem)
        self._sessions: dict[date, _Session] = {}
        self._sessions_kept = sessions_kept

    def forget(self) -> None:
        """Drop everything read so far (the next call reads the table afresh)."""
        self._sessions.clear()

    # --- reading -----------------------------------------------------------------------------------

    def _session(self, session_date: date) -> _Session:
        cached = self._sessions.get(session_date)
        if cached is None:
            cached = _Session()
            self._sessions[session_date] = cached
            for old in sorted(self._sessions)[: -self._sessions_kept]:
                del self._sessions[old]
        return cached

    def _since(self, cache: _Session, pk: str) -> str | None:
        last = cache.read_until.get(pk)
        return None if last is None else utc_key(parse_utc_key(last) - REREAD)

    @staticmethod
    def _covers(cache: _Session, pk: str, sk: str) -> bool:
        """True when an item stamped `sk` or later was already read from the partition: the items
        up to `sk` are in the cache (the gateway writes each partition in time order)."""
        last = cache.read_until.get(pk)
        return last is not None and last >= sk

    @staticmethod
    def _expected(cache: _Session, pk: str, until: datetime) -> list[str] | None:
        """The minute keys after the last one read up to `until`, when the partition is warm and
        they are few: they can be fetched by key instead of queried."""
        last = cache.read_until.get(pk)
        if last is None:
            return None
        keys = []
        at = parse_utc_key(last) + MINUTE
        while at <= until:
            keys.append(utc_key(at))
            at += MINUTE
        return keys if len(keys) <= MAX_KEYED else None

    def _store_bar(self, cache: _Session, symbol: str, pk: str, item: BarItem) -> None:
        cache.bars.setdefault(symbol, {})[item.sk] = _StoredBar(
            datetime_to_ns(parse_utc_key(item.sk)),
            float(item.o),
            float(item.h),
            float(item.l),
            float(item.c),
            int(item.v),
            int(item.i),
        )
        cache.read_until[pk] = max(item.sk, cache.read_until.get(pk, item.sk))

    def _store_chain(self, cache: _Session, underlying: Underlying, pk: str, item: ChainItem) -> None:
        stored = cache.chains.setdefault(underlying, {})
        if item.sk not in stored:
            snapshot = decode_chain(underlying, parse_utc_key(item.sk), item.z)
            quotes = snapshot.quotes
            stored[item.sk] = _StoredChain(
                datetime_to_ns(snapshot.ts),
                snapshot.expiry,
                tuple((q.contract.right.value, q.contract.strike_milli) for q in quotes),
                tuple(q.contract for q in quotes),
                np.array([q.bid for q in quotes], dtype=np.float64),
                np.array([q.ask for q in quotes], dtype=np.float64),
                np.array([q.bid_size for q in quotes], dtype=np.int64),
                np.array([q.ask_size for q in quotes], dtype=np.int64),
            )
        cache.read_until[pk] = max(item.sk, cache.read_until.get(pk, item.sk))

    def _refresh(self, cache: _Session, session_date: date, ts: datetime) -> None:
        """Bring the cache up to `ts`: skip partitions already read past it, fetch the expected
        minute items of warm partitions by key (one BatchGetItem), query the rest."""
        day = session_date.isoformat()
        bar_pks = {symbol: mode_key(self._mode, "bar", symbol, day) for symbol in SYMBOLS}
        chain_pks = {u: mode_key(self._mode, "chain", u.value, day) for u in Underlying.tradable()}
        last_bar_open = ts - MINUTE
        bars_needed = {
            s: pk for s, pk in bar_pks.items() if not self._covers(cache, pk, utc_key(last_bar_open))
        }
        chains_needed = {u: pk for u, pk in chain_pks.items() if not self._covers(cache, pk, utc_key(ts))}

        keyed_bars = {s: self._expected(cache, pk, last_bar_open) for s, pk in bars_needed.items()}
        keyed_chains = {u: self._expected(cache, pk, ts) for u, pk in chains_needed.items()}
        bar_keys = [(bar_pks[s], sk) for s, sks in keyed_bars.items() for sk in sks or ()]
        chain_keys = [(chain_pks[u], sk) for u, sks in keyed_chains.items() for sk in sks or ()]
        found: set[tuple[str, str]] = set()
        if bar_keys:
            by_pk = {pk: s for s, pk in bar_pks.items()}
            for item in self._bars.batch_get(bar_keys, consistent_read=True):
                self._store_bar(cache, by_pk[item.pk], item.pk, item)
                found.add((item.pk, item.sk))
        if chain_keys:
            by_chain_pk = {pk: u for u, pk in chain_pks.items()}
            for chain_item in self._chains.batch_get(chain_keys, consistent_read=True):
                self._store_chain(cache, by_chain_pk[chain_item.pk], chain_item.pk, chain_item)
                found.add((chain_item.pk, chain_item.sk))

        for symbol, pk in bars_needed.items():
            sks = keyed_bars[symbol]
            if sks and all((pk, sk) in found for sk in sks):
                continue
            since = self._since(cache, pk)
            condition = None if since is None else self._bars.sk > since
            for item in self._bars.query(pk, condition, consistent_read=True):
                self._store_bar(cache, symbol, pk, item)
        for underlying, pk in chains_needed.items():
            chain_sks = keyed_chains[underlying]
            if chain_sks and all((pk, sk) in found for sk in chain_sks):
                continue
            since = self._since(cache, pk)
            chain_condition = None if since is None else self._chains.sk > since
            for chain_item in self._chains.query(pk, chain_condition, consistent_read=True):
                self._store_chain(cache, underlying, pk, chain_item)

    def known_day(self, session_date: date, ts: datetime) -> MarketDay:
        if ts.tzinfo is None:
            raise ValueError(f"ts={ts.isoformat()} must be timezone-aware")
        ts_ns = datetime_to_ns(ts)
        cache = self._session(session_date)
        self._refresh(cache, session_date, ts)
        bars: dict[str, BarSeries] = {}
        for symbol in SYMBOLS:
            stored = cache.bars.get(symbol, {})
            series = _bar_series(symbol, [stored[k] for k in sorted(stored)], ts_ns)
            if series is not None:
                bars[symbol] = series
        chains: dict[Underlying, ChainSeries] = {}
        for underlying in Underlying.tradable():
            snapshots = cache.chains.get(underlying, {})
            chain = _chain_series(underlying, session_date, [snapshots[k] for k in sorted(snapshots)], ts_ns)
            if chain is not None:
                chains[underlying] = chain
        return MarketDay(session_date, bars, chains, synthetic=False)

    def closes(self, session_date: date) -> dict[str, float]:
        closes: dict[str, float] = {}
        for symbol in SYMBOLS:
            pk = mode_key(self._mode, "bar", symbol, session_date.isoformat())
            for item in self._bars.query(pk, scan_index_forward=False, limit=1, consistent_read=True):
                closes[symbol] = float(item.c)
        return closes


def _bar_series(symbol: str, stored: list[_StoredBar], ts_ns: int) -> BarSeries | None:
    known = [b for b in stored if b.close_ns <= ts_ns]
    if not known:
        return None
    intervals = {b.interval_s for b in known}
    if len(intervals) != 1:
        raise ValueError(f"bars of {symbol} mix intervals {sorted(intervals)} s; one interval per series")
    return BarSeries(
        symbol,
        np.array([b.open_ns for b in known], dtype=np.int64),
        np.array([b.open for b in known], dtype=np.float64),
        np.array([b.high for b in known], dtype=np.float64),
        np.array([b.low for b in known], dtype=np.float64),
        np.array([b.close for b in known], dtype=np.float64),
        np.array([b.volume for b in known], dtype=np.int64),
        intervals.pop(),
    )


def _chain_series(
    underlying: Underlying, session_date: date, stored: list[_StoredChain], ts_ns: int
) -> ChainSeries | None:
    """The 0DTE grid (expiry = the session date) of the snapshots taken by ts_ns."""
    known = [s for s in stored if s.ts_ns <= ts_ns and s.expiry == session_date]
    if not known:
        return None
    contracts: dict[tuple[str, int], OptionContract] = {}
    for snapshot in known:
        for key, contract in zip(snapshot.keys, snapshot.contracts, strict=True):
            contracts.setdefault(key, contract)
    order = sorted(contracts, key=lambda k: (OptionRight(k[0]).value, k[1]))
    column = {key: i for i, key in enumerate(order)}
    shape = (len(known), len(order))
    bid = np.full(shape, np.nan)
    ask = np.full(shape, np.nan)
    bid_size = np.zeros(shape, dtype=np.int64)
    ask_size = np.zeros(shape, dtype=np.int64)
    for row, snapshot in enumerate(known):
        cols = np.fromiter((column[k] for k in snapshot.keys), dtype=np.intp, count=len(snapshot.keys))
        bid[row, cols] = snapshot.bid
        ask[row, cols] = snapshot.ask
        bid_size[row, cols] = snapshot.bid_size
        ask_size[row, cols] = snapshot.ask_size
    return ChainSeries(
        underlying,
        session_date,
        tuple(contracts[k] for k in order),
        np.array([s.ts_ns for s in known], dtype=np.int64),
        bid,
        ask,
        bid_size,
        ask_size,
    )
