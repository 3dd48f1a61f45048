"""The trades read model: each round trip of one mode (closed from the trade journal, open from the
open book) with its fills, the signal its entry answered and that signal's risk decision (all
three from the fill log: no read per trade). P&L is the journal's, net of commissions (what the
dashboard and analytics show); an open trade is marked at the mid before fees, as the dashboard
marks it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.models import CONTRACT_MULTIPLIER, Fill, OptionContract, Side, Signal
from smart0dte.domain.portfolio import cents
from smart0dte.ports import RiskDecision, session_date_of
from smart0dte.ports.trades import LoggedFill, TradeRecords


@dataclass(frozen=True, slots=True)
class TradeView:
    """One round trip as the trades page shows it."""

    position_id: str
    contract: OptionContract
    strategy: str
    quantity: int
    entry_ts: datetime
    entry_price: Decimal
    exit_ts: datetime | None
    exit_price: Decimal | None
    exit_reason: str | None
    commissions_usd: Decimal
    """Closed: the journal's commissions; open: those of the fills so far."""
    net_pnl_usd: Decimal | None
    """Closed: the journal's P&L, net of commissions; None while open."""
    unrealized_pnl_usd: Decimal | None
    """Open and marked: at the mid before fees; None when closed or unmarked."""
    mark_price: float | None
    fills: tuple[Fill, ...]
    signal: Signal | None
    risk: RiskDecision | None

    @property
    def is_open(self) -> bool:
        return self.exit_ts is None

    @property
    def cost_basis_usd(self) -> Decimal:
        return cents(self.entry_price * self.quantity * CONTRACT_MULTIPLIER)

    @property
    def net_pnl_percent(self) -> float | None:
        """Net P&L as a percent of the premium paid."""
        if self.net_pnl_usd is None or self.cost_basis_usd == 0:
            return None
        return float(self.net_pnl_usd / self.cost_basis_usd * 100)


@dataclass(frozen=True, slots=True)
class TradeQuery:
    """Trades that exited (closed) or opened (open) on a session from `start` to `end`."""

    start: date
    end: date
    symbol: str | None = None
    strategy: str | None = None


def day_window(start: date, end: date) -> tuple[datetime, datetime]:
    """The instants from `start` 00:00 to the day after `end` 00:00, New York."""
    first = datetime.combine(start, time(0), NEW_YORK)
    after = datetime.combine(end + timedelta(days=1), time(0), NEW_YORK)
    return first, after


def list_trades(
    records: TradeRecords, query: TradeQuery, marks: Mapping[str, float] | None = None
) -> list[TradeView]:
    """The round trips of `query`, by entry time; `marks` are open contracts' mids by OCC symbol."""
    first, after = day_window(query.start, query.end)

    def wanted(contract: OptionContract, strategy: str) -> bool:
        return (query.symbol is None or contract.root == query.symbol) and (
            query.strategy is None or strategy == query.strategy
        )

    closed = [
        t
        for t in records.list_closed_trades(query.start)
        if session_date_of(t.exit_ts) <= query.end and wanted(t.contract, t.strategy)
    ]
    opened = [
        p
        for p in records.list_open_positions()
        if first <= p.opened_at < after and wanted(p.contract, p.strategy)
    ]
    by_symbol: dict[str, list[LoggedFill]] = {}
    for e in records.list_fill_log(first, after):
        by_symbol.setdefault(e.fill.contract.occ_symbol, []).append(e)

    def linked(
        contract: OptionContract, entry: datetime, exit_: datetime | None
    ) -> tuple[tuple[Fill, ...], Signal | None, RiskDecision | None]:
        """A round trip's fills, and the signal and risk decision its first entry fill answered."""
        logged = _fills_between(by_symbol.get(contract.occ_symbol, []), entry, exit_)
        opening = next((e for e in logged if e.signal_id and e.fill.side is Side.BUY), None)
        fills = tuple(e.fill for e in logged)
        return (fills, None, None) if opening is None else (fills, opening.signal, opening.risk)

    marks = marks or {}
    views: list[TradeView] = []
    for t in closed:
        fills, signal, risk = linked(t.contract, t.entry_ts, t.exit_ts)
        views.append(
            TradeView(
                position_id=t.position_id,
                contract=t.contract,
                strategy=t.strategy,
                quantity=t.quantity,
                entry_ts=t.entry_ts,
                entry_price=t.entry_price,
                exit_ts=t.exit_ts,
                exit_price=t.exit_price,
                exit_reason=t.exit_reason,
                commissions_usd=t.commissions_usd,
                net_pnl_usd=t.pnl_usd,
                unrealized_pnl_usd=None,
                mark_price=None,
                fills=fills,
                signal=signal,
                risk=risk,
            )
        )
    for p in opened:
        fills, signal, risk = linked(p.contract, p.opened_at, None)
        mark = marks.get(p.contract.occ_symbol)
        views.append(
            TradeView(
                position_id=p.position_id,
                contract=p.contract,
                strategy=p.strategy,
                quantity=p.quantity,
                entry_ts=p.opened_at,
                entry_price=p.entry_price,
                exit_ts=None,
                exit_price=None,
                exit_reason=None,
                commissions_usd=sum((cents(f.commission_usd) for f in fills), Decimal("0.00")),
                net_pnl_usd=None,
                unrealized_pnl_usd=None if mark is None else p.pnl_usd(cents(Decimal(str(mark)))),
                mark_price=mark,
                fills=fills,
                signal=signal,
                risk=risk,
            )
        )
    return sorted(views, key=lambda v: (v.entry_ts, v.position_id))


def _fills_between(
    contract_fills: Sequence[LoggedFill], entry: datetime, exit_: datetime | None
) -> list[LoggedFill]:
    """The fills of one round trip among its contract's (by time): from its entry to its exit (a
    later entry in the same contract is another round trip)."""
    last = exit_ or datetime.max.replace(tzinfo=entry.tzinfo)
    return [e for e in contract_fills if entry <= e.fill.ts <= last]


@dataclass(frozen=True, slots=True)
class TradeTotals:
    trades: int
    closed: int
    wins: int
    net_pnl_usd: Decimal
    commissions_usd: Decimal
    gross_pnl_usd: Decimal


def totals(views: Sequence[TradeView]) -> TradeTotals:
    """Closed trades' net P&L and commissions summed (gross = net + commissions), open ones counted."""
    closed = [v for v in views if v.net_pnl_usd is not None]
    net = sum((v.net_pnl_usd for v in closed if v.net_pnl_usd is not None), Decimal("0.00"))
    fees = sum((v.commissions_usd for v in closed), Decimal("0.00"))
    return TradeTotals(
        trades=len(views),
        closed=len(closed),
        wins=sum(1 for v in closed if v.net_pnl_usd is not None and v.net_pnl_usd > 0),
        net_pnl_usd=net,
        commissions_usd=fees,
        gross_pnl_usd=net + fees,
    )
