"""What the domain and services need from the outside world, as Protocols.

Adapters implement them (DBN files, Databento, DynamoDB, S3, IBKR); tests and the local
runtime inject their own. Ports appear here as the first code that needs them lands.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Protocol

from smart0dte.domain.marketdata import MarketDay


class Clock(Protocol):
    """The current instant, timezone-aware; simulated in replays and tests."""

    def now(self) -> datetime: ...


class MarketData(Protocol):
    """Historical market data, one session at a time."""

    def available_days(self) -> list[date]: ...

    def load_day(self, session_date: date) -> MarketDay: ...


class ObjectStore(Protocol):
    """Blobs by key: the DBN archive, models and reports (S3 in AWS, a folder locally)."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def list_keys(self, prefix: str) -> Iterator[str]: ...
