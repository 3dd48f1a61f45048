"""Each session's counters: PDT day trades, entries, realized P&L and its commissions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DailyCounters:
    """One session's counters: PDT day trades, entries and realized P&L (net of commissions, in
    cents) with the commissions of the round trips it books."""

    session_date: date
    day_trades: int = 0
    trades: int = 0
    realized_pnl_usd: Decimal = Decimal("0.00")
    commissions_usd: Decimal = Decimal("0.00")


class CountersStore(Protocol):
    """The daily counters of one trading mode; positions book into them in their own transactions."""

    def get_counters(self, session_date: date) -> DailyCounters: ...

    def add_to_counters(
        self,
        session_date: date,
        *,
        day_trades: int = 0,
        trades: int = 0,
        realized_pnl_usd: Decimal = Decimal("0.00"),
    ) -> DailyCounters:
        """Atomic increments; returns the counters after them."""
        ...

    def day_trades_in_window(self, session_dates: Sequence[date]) -> int:
        """Day trades summed over `session_dates` (the PDT window the calendar gives)."""
        ...
