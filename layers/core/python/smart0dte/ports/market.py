"""Market data: historical days, the bars and chain snapshots the gateway stores, and the market
rebuilt from them for the session engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from smart0dte.domain.marketdata import MarketDay
from smart0dte.domain.models import Bar, ChainSnapshot, Underlying


class MarketData(Protocol):
    """Historical market data, one session at a time."""

    def available_days(self) -> list[date]: ...

    def load_day(self, session_date: date) -> MarketDay: ...


class HistoricalMarketData(MarketData, Protocol):
    """Archived sessions: which days exist, each day, and the closes of the session before."""

    def previous_close(self, session_date: date) -> dict[str, float] | None:
        """Each symbol's last close in the archived session before `session_date`, None without one."""
        ...

    def describe(self) -> str:
        """Where the days come from, for reports (e.g. the folder's path)."""
        ...


FolderArchive = Callable[[Path], HistoricalMarketData]
"""Opens the archived days under a folder (`<root>/<YYYY-MM-DD>/`), e.g. after a copy from S3."""


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
