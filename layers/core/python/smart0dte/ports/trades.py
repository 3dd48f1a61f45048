"""What the trades and orders read model needs from the store: closed round trips (the trade
journal), the open book, the fill log by time (entries with their signal and risk decision) and
orders by creation time."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from smart0dte.domain.models import Fill, Order, OrderStatus, Position, Signal
from smart0dte.domain.portfolio import ClosedTrade
from smart0dte.ports.trading import RiskDecision


@dataclass(frozen=True, slots=True)
class LoggedFill:
    """A fill as the fill log keeps it: with the signal its order answered (entries only) and,
    copied when the fill was recorded, that signal and its risk decision (both written once
    before the order, so the copy never goes stale; None when the store had none)."""

    fill: Fill
    signal_id: str | None
    signal: Signal | None = None
    risk: RiskDecision | None = None


class TradeRecords(Protocol):
    """One mode's records of what it traded, read by time."""

    def list_closed_trades(self, exit_since: date | None = None) -> list[ClosedTrade]: ...

    def list_open_positions(self) -> list[Position]: ...

    def list_fill_log(self, start: datetime, end: datetime) -> list[LoggedFill]:
        """Fills at `start` or later and before `end`, by time then fill id."""
        ...

    def list_orders_created(
        self, statuses: Collection[OrderStatus], start: datetime, end: datetime
    ) -> list[Order]:
        """Orders in `statuses` created at `start` or later and before `end`, oldest first."""
        ...
