"""Cash, positions, P&L and an equity curve, kept as a ledger in Decimal cents.

Fills are the only thing that moves cash or positions. Open positions are marked at the
quote mid (fair value); a position with no usable quote keeps its last mark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any

from smart0dte.domain.models import (
    CONTRACT_MULTIPLIER,
    DomainError,
    Fill,
    OptionContract,
    Position,
    PositionStatus,
    Side,
    TradingMode,
    Underlying,
    aware_datetime,
)

CENT = Decimal("0.01")


def cents(amount: Decimal | float) -> Decimal:
    """Round to cents, banker's rounding, as the ledger stores money."""
    return Decimal(str(amount)).quantize(CENT, rounding=ROUND_HALF_EVEN)


def usd_text(amount: Decimal | float) -> str:
    """Money as the trader reads it, the dashboard's format: −$1,234.56 (a true minus sign), $0.00."""
    value = cents(amount)
    return f"{'−' if value < 0 else ''}${abs(value):,.2f}"


class LedgerKind(StrEnum):
    DEPOSIT = "DEPOSIT"
    PREMIUM_PAID = "PREMIUM_PAID"
    PREMIUM_RECEIVED = "PREMIUM_RECEIVED"
    COMMISSION = "COMMISSION"
    SETTLEMENT = "SETTLEMENT"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    ts: datetime
    kind: LedgerKind
    amount_usd: Decimal
    reference: str


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A finished round trip, as reports and backtests show it."""

    position_id: str
    contract: OptionContract
    strategy: str
    quantity: int
    entry_ts: datetime
    entry_price: Decimal
    exit_ts: datetime
    exit_price: Decimal
    exit_reason: str
    commissions_usd: Decimal
    pnl_usd: Decimal
    """Net of commissions."""

    @property
    def is_win(self) -> bool:
        return self.pnl_usd > 0


def closed_trade(position: Position, pnl_usd: Decimal) -> ClosedTrade:
    """The round trip of a CLOSED position whose booked P&L, net of commissions, is `pnl_usd`:
    the commissions are what separates it from the gross P&L at the exit price."""
    exit_price, closed_at = position.exit_price, position.closed_at
    if position.status is not PositionStatus.CLOSED or exit_price is None or closed_at is None:
        raise DomainError(
            f"position {position.position_id}: status={position.status.value}, exit_price={exit_price}, "
            f"closed_at={closed_at}; a closed trade needs CLOSED with both"
        )
    return ClosedTrade(
        position_id=position.position_id,
        contract=position.contract,
        strategy=position.strategy,
        quantity=position.quantity,
        entry_ts=position.opened_at,
        entry_price=position.entry_price,
        exit_ts=closed_at,
        exit_price=exit_price,
        exit_reason=position.exit_reason or "",
        commissions_usd=position.pnl_usd(exit_price) - pnl_usd,
        pnl_usd=pnl_usd,
    )


def trade_to_wire(t: ClosedTrade) -> dict[str, object]:
    """A round trip as JSON-ready values (engine state, daily reports, the store's trade journal)."""
    return {
        "position_id": t.position_id,
        "contract": t.contract.model_dump(mode="json"),
        "strategy": t.strategy,
        "quantity": t.quantity,
        "entry_ts": t.entry_ts.isoformat(),
        "entry_price": str(t.entry_price),
        "exit_ts": t.exit_ts.isoformat(),
        "exit_price": str(t.exit_price),
        "exit_reason": t.exit_reason,
        "commissions_usd": str(t.commissions_usd),
        "pnl_usd": str(t.pnl_usd),
    }


def trade_from_wire(wire: Mapping[str, Any]) -> ClosedTrade:
    """A round trip from its `trade_to_wire` form."""
    return ClosedTrade(
        position_id=str(wire["position_id"]),
        contract=OptionContract.model_validate(wire["contract"]),
        strategy=str(wire["strategy"]),
        quantity=int(wire["quantity"]),
        entry_ts=aware_datetime(wire["entry_ts"], "closed trade entry_ts"),
        entry_price=Decimal(wire["entry_price"]),
        exit_ts=aware_datetime(wire["exit_ts"], "closed trade exit_ts"),
        exit_price=Decimal(wire["exit_price"]),
        exit_reason=str(wire["exit_reason"]),
        commissions_usd=Decimal(wire["commissions_usd"]),
        pnl_usd=Decimal(wire["pnl_usd"]),
    )


@dataclass(slots=True)
class OpenLot:
    """An open position with its commissions so far and its latest mark."""

    position: Position
    commissions_usd: Decimal
    mark_price: Decimal


@dataclass
class Portfolio:
    """The account of one trading mode."""

    mode: TradingMode
    cash_usd: Decimal
    ledger: list[LedgerEntry] = field(default_factory=list)
    closed: list[ClosedTrade] = field(default_factory=list)
    equity_curve: list[tuple[datetime, Decimal]] = field(default_factory=list)
    _open: dict[str, OpenLot] = field(default_factory=dict)

    @classmethod
    def funded(cls, mode: TradingMode, deposit_usd: Decimal | float, at: datetime) -> Portfolio:
        amount = cents(deposit_usd)
        if amount <= 0:
            raise DomainError(f"deposit_usd={amount} must be > 0")
        portfolio = cls(mode=mode, cash_usd=amount)
        portfolio.ledger.append(LedgerEntry(at, LedgerKind.DEPOSIT, amount, "initial deposit"))
        return portfolio

    # --- reading ---------------------------------------------------------------------------

    @property
    def open_positions(self) -> list[Position]:
        return [lot.position for lot in self._open.values()]

    def position_for(self, contract: OptionContract) -> Position | None:
        lot = self._open.get(contract.occ_symbol)
        return lot.position if lot else None

    def market_value_usd(self) -> Decimal:
        return sum(
            (
                cents(lot.mark_price * lot.position.quantity * CONTRACT_MULTIPLIER)
                for lot in self._open.values()
            ),
            Decimal("0.00"),
        )

    def equity_usd(self) -> Decimal:
        return self.cash_usd + self.market_value_usd()

    def unrealized_pnl_usd(self) -> Decimal:
        return sum((lot.position.pnl_usd(lot.mark_price) for lot in self._open.values()), Decimal("0.00"))

    def realized_pnl_usd(self) -> Decimal:
        return sum((t.pnl_usd for t in self.closed), Decimal("0.00"))

    def commissions_usd(self) -> Decimal:
        return -sum((e.amount_usd for e in self.ledger if e.kind is LedgerKind.COMMISSION), Decimal("0.00"))

    def premium_at_risk_by_symbol_usd(self) -> dict[Underlying, float]:
        exposure: dict[Underlying, float] = {}
        for lot in self._open.values():
            symbol = lot.position.contract.underlying
            if symbol is not None:
                exposure[symbol] = exposure.get(symbol, 0.0) + float(lot.position.cost_basis_usd)
        return exposure

    def consecutive_losses(self) -> int:
        count = 0
        for trade in reversed(self.closed):
            if trade.is_win:
                break
            count += 1
        return count

    # --- changing --------------------------------------------------------------------------

    def apply_fill(self, fill: Fill, strategy: str, exit_reason: str = "") -> ClosedTrade | None:
        """Book a fill: a BUY opens or adds, a SELL reduces or closes (returning the round trip)."""
        notional = fill.notional_usd
        commission = cents(fill.commission_usd)
        symbol = fill.contract.occ_symbol
        lot = self._open.get(symbol)
        if fill.side is Side.BUY:
            self._book(fill.ts, LedgerKind.PREMIUM_PAID, -notional, fill.fill_id)
            self._book(fill.ts, LedgerKind.COMMISSION, -commission, fill.fill_id)
            if lot is None:
                position = Position(
                    position_id=f"{symbol.replace(' ', '')}-{fill.ts:%Y%m%dT%H%M%S}",
                    mode=self.mode,
                    contract=fill.contract,
                    quantity=fill.quantity,
                    entry_price=fill.price,
                    opened_at=fill.ts,
                    strategy=strategy,
                )
                self._open[symbol] = OpenLot(position, commission, fill.price)
            else:
                quantity = lot.position.quantity + fill.quantity
                cost = lot.position.entry_price * lot.position.quantity + fill.price * fill.quantity
                lot.position = lot.position.model_copy(
                    update={
                        "quantity": quantity,
                        "entry_price": (cost / quantity).quantize(Decimal("0.0001")),
                    }
                )
                lot.commissions_usd += commission
            return None

        if lot is None or fill.quantity > lot.position.quantity:
            held = 0 if lot is None else lot.position.quantity
            raise DomainError(
                f"fill {fill.fill_id}: SELL quantity={fill.quantity} exceeds the {held} held of {symbol}"
            )
        self._book(fill.ts, LedgerKind.PREMIUM_RECEIVED, notional, fill.fill_id)
        self._book(fill.ts, LedgerKind.COMMISSION, -commission, fill.fill_id)
        return self._reduce(lot, fill.quantity, fill.price, fill.ts, commission, exit_reason)

    def settle_at_expiry(
        self, contract: OptionContract, intrinsic_price: Decimal, at: datetime
    ) -> ClosedTrade:
        """Close a position held through the close at intrinsic value (an incident: 0DTE must be flat)."""
        lot = self._open.get(contract.occ_symbol)
        if lot is None:
            raise DomainError(f"no open position in {contract.occ_symbol} to settle")
        proceeds = cents(intrinsic_price * lot.position.quantity * CONTRACT_MULTIPLIER)
        self._book(at, LedgerKind.SETTLEMENT, proceeds, f"expiry {contract.occ_symbol}")
        return self._reduce(
            lot, lot.position.quantity, intrinsic_price, at, Decimal("0.00"), "EXPIRY_SETTLEMENT"
        )

    def mark(self, mark_prices: Mapping[str, float], at: datetime) -> Decimal:
        """Re-mark open positions (by OCC symbol; NaN or missing keeps the last mark), record equity."""
        for symbol, lot in self._open.items():
            price = mark_prices.get(symbol)
            if price is not None and price == price and price >= 0:
                lot.mark_price = Decimal(str(round(price, 4)))
        equity = self.equity_usd()
        self.equity_curve.append((at, equity))
        return equity

    def _reduce(
        self, lot: OpenLot, quantity: int, price: Decimal, at: datetime, commission: Decimal, reason: str
    ) -> ClosedTrade:
        position = lot.position
        entry_share = cents(lot.commissions_usd * quantity / position.quantity)
        gross = cents((price - position.entry_price) * quantity * CONTRACT_MULTIPLIER)
        trade = ClosedTrade(
            position_id=position.position_id,
            contract=position.contract,
            strategy=position.strategy,
            quantity=quantity,
            entry_ts=position.opened_at,
            entry_price=position.entry_price,
            exit_ts=at,
            exit_price=price,
            exit_reason=reason,
            commissions_usd=entry_share + commission,
            pnl_usd=gross - entry_share - commission,
        )
        self.closed.append(trade)
        remaining = position.quantity - quantity
        if remaining == 0:
            del self._open[position.contract.occ_symbol]
        else:
            lot.position = position.model_copy(update={"quantity": remaining})
            lot.commissions_usd -= entry_share
        return trade

    def _book(self, at: datetime, kind: LedgerKind, amount: Decimal, reference: str) -> None:
        if amount == 0:
            return
        self.cash_usd += amount
        self.ledger.append(LedgerEntry(at, kind, amount, reference))
