"""Close plus 5 minutes: settle what outlived the close, reconcile the store with the engine, report.

1. Load the session document: a leftover outbox (a phase that crashed after committing, between
   an order's record and its fill's) is written first. That is the recovery: the engine state is
   the commit point, the outbox makes the store catch up with it.
2. A position still open at the close is settled at intrinsic value and reported as an incident
   (0DTE must end flat), as a backtest does.
3. Reconcile. Paper (the simulated broker is the broker): every order and fill the engine holds
   must be in the store (missing ones are written), a stored order the engine never executed is
   cancelled, stored positions still open that the engine closed are closed. ibkr_paper and live:
   the broker is the truth and the gateway reconciles with it; differences are reported, nothing
   is changed.
   Then every closed position has its trade journal entry (analytics read the journal): those
   closed before the journal existed get theirs, once (`backfill_trade_journal`).
4. Daily analytics (domain.analytics) -> a JSON report in the reports bucket, a summary to the
   humans (the daily report notification; a reconciliation that had to write or cancel anything is
   its own notification); the day's closing equity is kept for tomorrow's pre_market.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from smart0dte.domain.analytics import performance
from smart0dte.domain.controls import NotificationKind
from smart0dte.domain.models import OrderStatus, Position, TradingMode
from smart0dte.domain.portfolio import ClosedTrade, trade_to_wire, usd_text
from smart0dte.domain.session_engine import Effects, PositionChange, SessionEngine
from smart0dte.domain.venue import VenueEvent, qualified
from smart0dte.ports import ObjectStore, session_date_of
from smart0dte.resources import daily_reports_prefix
from smart0dte.services.events import SessionEvent
from smart0dte.services.outbox import event_of_state
from smart0dte.services.session import SessionDesk, effect_records, incident_records

ACTOR: Final = "post_close"


def report_key(mode: TradingMode, session_date: str) -> str:
    return f"{daily_reports_prefix(mode)}{session_date}.json"


@dataclass
class PostClose:
    desk: SessionDesk
    reports: ObjectStore

    def close_day(self, event: SessionEvent) -> dict[str, Any]:
        desk = self.desk
        if event.mode is not desk.mode:
            raise ValueError(f"event mode={event.mode.value} but this desk keeps {desk.mode.value} records")
        session = desk.calendar.session(event.session_date)
        day_text = event.session_date.isoformat()
        if session is None:
            return {"mode": desk.mode.value, "session_date": day_text, "is_session": False}
        stored = desk.documents.get_engine(event.session_date)
        recovered = 0
        if stored is not None:
            recovered = len(stored.value.get("outbox") or [])  # type: ignore[arg-type]
        inputs = desk.inputs()
        envelope = desk.load(event.session_date, session, inputs)
        day = desk.market.known_day(event.session_date, session.close_et)
        engine = desk.restore(envelope, session, inputs, day)
        open_at_close = len(engine.portfolio.open_positions)
        settled = engine.settle(session.close_et)
        if settled.effects.positions or settled.effects.orders:
            outbox = [
                *effect_records(settled.effects, event.session_date, ACTOR),
                *incident_records(settled.effects, ACTOR),
            ]
            envelope = desk.commit(envelope, engine, outbox)
        reconciliation = {
            "outbox_records_recovered": recovered,
            **self._reconcile(engine, event.session_date, session.close_et),
        }
        journaled = desk.state.backfill_trade_journal(session.close_et, ACTOR)

        trades = list(engine.portfolio.closed)
        start = Decimal(str(engine.carry.equity_usd))
        end = engine.portfolio.equity_usd()
        metrics = performance([start, end], trades)
        commissions = engine.portfolio.commissions_usd()
        report = {
            "mode": desk.mode.value,
            "session_date": day_text,
            "open": session.open_et.isoformat(),
            "close": session.close_et.isoformat(),
            "starting_equity_usd": str(start),
            "closing_equity_usd": str(end),
            "net_pnl_usd": str(end - start),
            "commissions_usd": str(commissions),
            "gross_pnl_usd": str(end - start + commissions),
            "trades": [trade_to_wire(t) for t in trades],
            "trade_stats": {
                "trades": metrics.trades.trades,
                "win_rate": metrics.trades.win_rate,
                "profit_factor": metrics.trades.profit_factor,
                "expectancy_usd": metrics.trades.expectancy_usd,
                "net_pnl_usd": metrics.trades.net_pnl_usd,
                "commissions_usd": metrics.trades.commissions_usd,
                "gross_pnl_usd": metrics.trades.gross_pnl_usd,
                "by_strategy": {k: v.net_pnl_usd for k, v in metrics.by_strategy.items()},
                "by_symbol": {k: v.net_pnl_usd for k, v in metrics.by_symbol.items()},
            },
            "max_open_positions": engine.max_open,
            "open_positions_at_close": open_at_close,
            "incidents": list(engine.incidents),
            "reconciliation": reconciliation,
        }
        key = report_key(desk.mode, day_text)
        self.reports.put_bytes(key, json.dumps(report, indent=1, sort_keys=True).encode())

        envelope.closing = {
            "equity_usd": str(end),
            "peak_equity_usd": str(max(engine.peak_equity, end)),
            "consecutive_losses": engine.account().consecutive_losses,
        }
        desk.commit(envelope, engine, [])
        summary = (
            f"{day_text} ({desk.mode.value}): {len(trades)} trade(s), net P&L {usd_text(end - start)} "
            f"(gross {usd_text(end - start + commissions)}, commissions {usd_text(commissions)}), "
            f"equity {usd_text(end)}; open at close {open_at_close}; incidents {len(engine.incidents)}; "
            f"reconciliation {json.dumps(reconciliation, sort_keys=True)}; report {key}"
        )
        if desk.notifications is not None:
            subject = f"Smart 0DTE {desk.mode.value} daily report {day_text}"
            desk.notifications.send(NotificationKind.DAILY_REPORT, subject, summary)
            repaired = {k: v for k, v in reconciliation.items() if isinstance(v, list) and v}
            if repaired:
                desk.notifications.send(
                    NotificationKind.RECONCILIATION,
                    f"Smart 0DTE {desk.mode.value}: reconciliation repaired the store {day_text}",
                    f"post_close found the store behind the engine on {day_text} ({desk.mode.value}) and "
                    f"repaired it: {json.dumps(repaired, sort_keys=True)}",
                )
        return {
            "mode": desk.mode.value,
            "session_date": day_text,
            "is_session": True,
            "report_key": key,
            "trades": len(trades),
            "net_pnl_usd": str(end - start),
            "open_positions_at_close": open_at_close,
            "incidents": len(engine.incidents),
            "reconciliation": reconciliation,
            "trades_journaled": len(journaled),
        }

    def _reconcile(self, engine: SessionEngine, session_date: date, at: datetime) -> dict[str, Any]:
        """Paper: write the engine's whole day again (every write is create-once or idempotent, so
        only what is missing lands) and cancel stored orders the engine never executed. A
        broker-backed mode (ibkr_paper, live): report."""
        desk = self.desk
        state = desk.state
        stored_orders = {
            o.order_id: o
            for status in OrderStatus
            for o in state.list_orders(status)
            if session_date_of(o.created_at) == session_date
        }
        engine_orders = {qualified(session_date, o.order_id): o for o in engine.orders()}
        if desk.mode.uses_broker:
            return {
                "orders_in_store": len(stored_orders),
                "orders_in_engine": len(engine_orders),
                "note": f"{desk.mode.value}: the broker is the truth; the gateway reconciles with it",
            }
        missing_orders = sorted(set(engine_orders) - set(stored_orders))
        stored_fills = {f.fill_id for oid in stored_orders for f in state.list_fills(oid)}
        missing_fills = [
            f.fill_id for f in engine.fills if qualified(session_date, f.fill_id) not in stored_fills
        ]
        open_in_store = {p.position_id for p in state.list_open_positions()}
        by_position: dict[str, list[ClosedTrade]] = {}
        for trade in engine.portfolio.closed:
            by_position.setdefault(trade.position_id, []).append(trade)
        positions_fixed = sorted(
            pid for pid in by_position if pid in open_in_store or state.get_position(pid) is None
        )
        effects = Effects(
            events=tuple(VenueEvent(event_of_state(o), o) for o in engine.orders()),
            fills=tuple(engine.fills),
            positions=tuple(
                change
                for pid, trades in by_position.items()
                for change in (
                    PositionChange("opened", _opened(trades, desk.mode)),
                    PositionChange("closed", _opened(trades, desk.mode), tuple(trades)),
                )
            ),
        )
        desk.write(effect_records(effects, session_date, ACTOR))
        cancelled = []
        for order_id, order in stored_orders.items():
            if order.status.is_terminal or order_id in engine_orders:
                continue
            reason = "reconciled at post_close: the engine never executed this order"
            state.transition_order(order_id, OrderStatus.CANCELLED, at, ACTOR, reason)
            cancelled.append(order_id)
        return {
            "orders_written": missing_orders,
            "fills_written": [qualified(session_date, f) for f in missing_fills],
            "positions_repaired": positions_fixed,
            "orders_cancelled": cancelled,
        }


def _opened(trades: list[ClosedTrade], mode: TradingMode) -> Position:
    """The position a day's round trips came from (quantity: all they sold)."""
    first = trades[0]
    return Position(
        position_id=first.position_id,
        mode=mode,
        contract=first.contract,
        quantity=sum(t.quantity for t in trades),
        entry_price=first.entry_price,
        opened_at=first.entry_ts,
        strategy=first.strategy,
    )
