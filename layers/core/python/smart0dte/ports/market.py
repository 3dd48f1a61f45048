"""Market data: historical days, the bars and chain snapshots the gateway stores, and the market
rebuilt from them for the session engine."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from smart0dte.domain.marketdata import MarketDay
from smart0dte.domain.models import Bar, ChainSnapshot, Underlying


class MarketData(Protocol):
    """Historical market data, one session at a time."""

    def available_days(self) -> list[date]: ...

    def load_day(self, session_date: date) -> MarketDay: ...


class MarketWriter(Protocol):
    """What the feed's pump writes (DynamoState in AWS)."""

    def put_bar(self, bar: Bar) -> None: ...

    def put_chain_snapshot(self, snapshot: ChainSnapshot) -> None: ...


class MarketStore(MarketWriter, Protocol):
    """Bars and chain snapshots of one trading mode (expire after the store's TTL)."""

    def list_bars(self, symbol: str, session_date: date) -> list[Bar]: ...

    def latest_chain_snapshot(
        self, underlying: Underlying, at_or_before: datetime
    ) -> ChainSnapshot | None: ...


class MarketReader(Protocol):
    """The market as the gateway stored it (bars and chain snapshots), rebuilt as a MarketDay."""

    def known_day(self, session_date: date, ts: datetime) -> MarketDay:
        """Bars closed by `ts` and chain snapshots taken at or before it."""
        ...

    def closes(self, session_date: date) -> dict[str, float]:
        """The last stored close of each symbol on `session_date` (empty when none is stored)."""
        ...
