"""The trading book: signals and their risk decisions, orders and fills, positions and the trade
journal of closed round trips."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from smart0dte.domain.models import Fill, Order, OrderStatus, Position, Signal
from smart0dte.domain.portfolio import ClosedTrade
from smart0dte.domain.risk import RiskVerdict
from smart0dte.ports.records import Versioned


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The Risk step's verdict on one signal, every violated rule with its numbers."""

    signal_id: str
    ts: datetime
    verdict: RiskVerdict
    quantity: int


class TradingBook(Protocol):
    """What one trading mode decided and traded; every write is audited in its own transaction, and
    opening or closing a position books the daily counters in that same transaction (a close also
    writes its trade journal entry there)."""

    # signals and risk decisions
    def put_signal(self, signal: Signal, actor: str) -> bool:
        """Store and audit `signal`; False (nothing written) if its id is already stored."""
        ...

    def get_signal(self, session_date: date, signal_id: str) -> Signal | None: ...

    def list_signals(self, session_date: date) -> list[Signal]: ...

    def put_risk_decision(self, decision: RiskDecision, actor: str) -> bool: ...

    def get_risk_decision(self, session_date: date, signal_id: str) -> RiskDecision | None: ...

    def list_risk_decisions(self, session_date: date) -> list[RiskDecision]: ...

    # orders and fills
    def create_order(self, order: Order, actor: str, reason: str) -> Versioned[Order]:
        """Create once per intent id; a retry returns the existing order and writes nothing."""
        ...

    def get_order(self, order_id: str) -> Versioned[Order] | None: ...

    def get_order_by_intent(self, intent_id: str) -> Versioned[Order] | None: ...

    def list_orders(self, status: OrderStatus) -> list[Order]:
        """Orders in `status`, oldest first; read from an index, so a write may take a moment to show."""
        ...

    def list_working_orders(self) -> list[Order]:
        """Orders not yet in a terminal status, oldest first (index read, as `list_orders`)."""
        ...

    def transition_order(
        self,
        order_id: str,
        status: OrderStatus,
        at: datetime,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> Versioned[Order]:
        """Move the order through `Order.transition` under an optimistic lock."""
        ...

    def reduce_order(
        self, order_id: str, quantity: int, at: datetime, actor: str, reason: str
    ) -> Versioned[Order]:
        """Shrink a working order (`Order.reduce`: another order of its group filled), audited."""
        ...

    def record_fill(self, fill: Fill, actor: str) -> Versioned[Order]:
        """Store the fill and apply it to its order, once per fill id."""
        ...

    def list_fills(self, order_id: str) -> list[Fill]: ...

    # positions
    def open_position(self, position: Position, actor: str, reason: str) -> Versioned[Position]: ...

    def get_position(self, position_id: str) -> Versioned[Position] | None: ...

    def list_open_positions(self) -> list[Position]:
        """Positions still holding contracts, OPEN and CLOSING, oldest first (index read)."""
        ...

    def mark_position_closing(
        self, position_id: str, at: datetime, actor: str, reason: str
    ) -> Versioned[Position]: ...

    def close_position(
        self,
        position_id: str,
        exit_price: Decimal,
        closed_at: datetime,
        exit_reason: str,
        actor: str,
        commissions_usd: Decimal = Decimal("0.00"),
    ) -> Versioned[Position]:
        """Close once and book the day trade and net realized P&L on the close date; the round
        trip (`portfolio.closed_trade`) goes in the trade journal in the same transaction."""
        ...

    # the trade journal
    def list_closed_trades(self, exit_since: date | None = None) -> list[ClosedTrade]:
        """Closed round trips that exited on session `exit_since` or later (all when None), by exit
        time then position id."""
        ...

    def backfill_trade_journal(self, at: datetime, actor: str) -> list[str]:
        """Write the journal entries missing for closed positions (closed before the journal
        existed), audited; returns their position ids. Idempotent."""
        ...
