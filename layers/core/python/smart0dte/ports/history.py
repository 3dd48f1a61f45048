"""Archived market data for backtests and learning (a DBN folder locally, the archive bucket's
days copied to a folder in AWS)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Protocol

from smart0dte.ports import MarketData


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
