"""Trades and orders: the journal of round trips with their fills, signal and risk decision
(`services.trades`), the orders working and done, each as JSON or CSV, and the request to cancel a
working order (the engine cancels it at its next minute, through its venue). The active mode's
records only: paper, IB paper and live never share one."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import Field

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.controls import REASON_MAX_CHARS
from smart0dte.domain.models import Fill, Order, OrderStatus, Side, TradingMode
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import (
    ApiError,
    Body,
    IsoDate,
    RiskDecisionOut,
    StrategyName,
    Symbol,
    Wire,
    marks,
)
from smart0dte.services.trades import TradeQuery, TradeView, day_window, list_trades, totals

MAX_RANGE_DAYS = 366
"""The longest from..to span one request reads (a year of sessions)."""
DEFAULT_TRADE_DAYS = 30
"""Without `from`, the trades of the 30 days that end on `to`."""
DONE_STATUSES = tuple(s for s in OrderStatus if s.is_terminal)
WORKING_STATUSES = tuple(s for s in OrderStatus if not s.is_terminal)
Format = Literal["json", "csv"]


class FillOut(Wire):
    fill_id: str
    order_id: str
    ts: datetime
    side: str
    quantity: int
    price: str
    commission_usd: str


class TradeSignalOut(Wire):
    signal_id: str
    ts: datetime
    direction: str
    confidence: float
    rationale: str
    risk: RiskDecisionOut | None = None


class TradeOut(Wire):
    position_id: str
    status: Literal["open", "closed"]
    underlying: str
    contract: str
    right: str
    strike: float
    strategy: str
    quantity: int
    entry_ts: datetime
    entry_price: str
    exit_ts: datetime | None
    exit_price: str | None
    exit_reason: str | None
    commissions_usd: str = Field(description="closed: the round trip's commissions; open: so far")
    net_pnl_usd: str | None = Field(description="closed: P&L net of commissions (the dashboard's)")
    net_pnl_percent: float | None = Field(description="net P&L over the premium paid, in percent")
    unrealized_pnl_usd: str | None = Field(description="open: at the mid, before fees")
    mark_price: float | None
    signal_id: str | None
    signal: TradeSignalOut | None
    fills: list[FillOut]


class TradeTotalsOut(Wire):
    trades: int
    closed: int
    wins: int
    net_pnl_usd: str = Field(description="closed trades, net of commissions")
    commissions_usd: str
    gross_pnl_usd: str = Field(description="closed trades before commissions: net plus commissions")


class TradesResponse(Wire):
    mode: TradingMode
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    symbol: str | None
    strategy: str | None
    totals: TradeTotalsOut
    trades: list[TradeOut]


class OrderOut(Wire):
    order_id: str
    intent_id: str
    contract: str
    underlying: str
    side: str
    order_type: str
    quantity: int
    filled_quantity: int
    avg_fill_price: str | None
    limit_price: str | None
    stop_price: str | None
    oca_group: str | None
    status: str
    working: bool
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    reason: str
    signal_id: str | None
    fills: list[FillOut]


class OrdersResponse(Wire):
    mode: TradingMode
    status: str
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    orders: list[OrderOut]


class CancelBody(Body):
    reason: str = Field(default="cancelled by hand", min_length=1, max_length=REASON_MAX_CHARS)


class CancelResponse(Wire):
    order: OrderOut
    status: Literal["cancel_requested"]
    already_requested: bool
    """True when an earlier request is still waiting for the engine (nothing new was recorded)."""


def _money(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def _fill_out(f: Fill) -> FillOut:
    return FillOut(
        fill_id=f.fill_id,
        order_id=f.order_id,
        ts=f.ts,
        side=f.side.value,
        quantity=f.quantity,
        price=str(f.price),
        commission_usd=str(f.commission_usd),
    )


def trade_out(v: TradeView) -> TradeOut:
    signal = None
    if v.signal is not None:
        risk = None
        if v.risk is not None:
            risk = RiskDecisionOut(
                approved=v.risk.verdict.approved,
                trading_state=v.risk.verdict.trading_state,
                quantity=v.risk.quantity,
                violations=[str(x) for x in v.risk.verdict.violations],
            )
        signal = TradeSignalOut(
            signal_id=v.signal.signal_id,
            ts=v.signal.ts,
            direction=v.signal.direction.value,
            confidence=v.signal.confidence,
            rationale=v.signal.rationale,
            risk=risk,
        )
    percent = v.net_pnl_percent
    return TradeOut(
        position_id=v.position_id,
        status="open" if v.is_open else "closed",
        underlying=v.contract.root,
        contract=v.contract.occ_symbol,
        right=v.contract.right.value,
        strike=v.contract.strike,
        strategy=v.strategy,
        quantity=v.quantity,
        entry_ts=v.entry_ts,
        entry_price=str(v.entry_price),
        exit_ts=v.exit_ts,
        exit_price=_money(v.exit_price),
        exit_reason=v.exit_reason,
        commissions_usd=str(v.commissions_usd),
        net_pnl_usd=_money(v.net_pnl_usd),
        net_pnl_percent=None if percent is None else round(percent, 2),
        unrealized_pnl_usd=_money(v.unrealized_pnl_usd),
        mark_price=v.mark_price,
        signal_id=None if v.signal is None else v.signal.signal_id,
        signal=signal,
        fills=[_fill_out(f) for f in v.fills],
    )


def order_out(o: Order, fills: Sequence[Fill], cancel_requested: bool) -> OrderOut:
    return OrderOut(
        order_id=o.order_id,
        intent_id=o.intent_id,
        contract=o.contract.occ_symbol,
        underlying=o.contract.root,
        side=o.side.value,
        order_type=o.order_type.value,
        quantity=o.quantity,
        filled_quantity=o.filled_quantity,
        avg_fill_price=_money(o.avg_fill_price),
        limit_price=_money(o.limit_price),
        stop_price=_money(o.stop_price),
        oca_group=o.oca_group,
        status=o.status.value,
        working=not o.status.is_terminal,
        cancel_requested=cancel_requested and not o.status.is_terminal,
        created_at=o.created_at,
        updated_at=o.updated_at,
        reason=o.reason,
        signal_id=o.signal_id,
        fills=[_fill_out(f) for f in fills],
    )


def _ny(ts: datetime | None) -> str:
    return "" if ts is None else ts.astimezone(NEW_YORK).isoformat(timespec="seconds")


def _fills_text(fills: Iterable[FillOut]) -> str:
    return "; ".join(
        f"{f.side} {f.quantity} @ {f.price} at {_ny(f.ts)} fee {f.commission_usd}" for f in fills
    )


TRADE_COLUMNS = [
    "position_id",
    "status",
    "underlying",
    "contract",
    "strategy",
    "quantity",
    "entry_time_et",
    "entry_price",
    "exit_time_et",
    "exit_price",
    "exit_reason",
    "commissions_usd",
    "net_pnl_usd",
    "net_pnl_percent",
    "unrealized_pnl_usd",
    "signal_id",
    "rationale",
    "fills",
]
ORDER_COLUMNS = [
    "order_id",
    "status",
    "contract",
    "side",
    "order_type",
    "quantity",
    "filled_quantity",
    "avg_fill_price",
    "limit_price",
    "stop_price",
    "created_time_et",
    "updated_time_et",
    "reason",
    "signal_id",
    "fills",
]


def _csv(columns: Sequence[str], rows: Iterable[Sequence[object]], filename: str) -> Response[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if x is None else x for x in row])
    return Response(
        200,
        "text/csv; charset=utf-8",
        out.getvalue(),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def trades_csv(body: TradesResponse) -> Response[str]:
    rows = (
        (
            t.position_id,
            t.status,
            t.underlying,
            t.contract,
            t.strategy,
            t.quantity,
            _ny(t.entry_ts),
            t.entry_price,
            _ny(t.exit_ts),
            t.exit_price,
            t.exit_reason,
            t.commissions_usd,
            t.net_pnl_usd,
            t.net_pnl_percent,
            t.unrealized_pnl_usd,
            t.signal_id,
            None if t.signal is None else t.signal.rationale,
            _fills_text(t.fills),
        )
        for t in body.trades
    )
    name = f"trades-{body.mode.value}-{body.start}-{body.end}.csv"
    return _csv(TRADE_COLUMNS, rows, name)


def orders_csv(body: OrdersResponse) -> Response[str]:
    rows = (
        (
            o.order_id,
            o.status,
            o.contract,
            o.side,
            o.order_type,
            o.quantity,
            o.filled_quantity,
            o.avg_fill_price,
            o.limit_price,
            o.stop_price,
            _ny(o.created_at),
            _ny(o.updated_at),
            o.reason,
            o.signal_id,
            _fills_text(o.fills),
        )
        for o in body.orders
    )
    return _csv(ORDER_COLUMNS, rows, f"orders-{body.mode.value}-{body.status}-{body.start}-{body.end}.csv")


def date_range(start: date | None, end: date | None, today: date, default_days: int) -> tuple[date, date]:
    """`from` and `to` checked: `to` defaults to today, `from` to `default_days` sessions' worth of
    days before it; from <= to and at most MAX_RANGE_DAYS days."""
    end = end or today
    start = start or end - timedelta(days=default_days - 1)
    if start > end:
        raise ApiError(422, f"from={start} is after to={end}", field="from")
    days = (end - start).days + 1
    if days > MAX_RANGE_DAYS:
        raise ApiError(
            422,
            f"from={start} to={end} spans {days} days; at most {MAX_RANGE_DAYS} days per request",
            field="from",
            limit=MAX_RANGE_DAYS,
        )
    return start, end


def _responses(model: type[Wire]) -> dict[int, Any]:
    """The OpenAPI answers of a route that gives JSON or, with format=csv, a CSV file."""
    return {
        200: {
            "description": "JSON, or CSV with format=csv",
            "content": {"application/json": {"model": model}, "text/csv": {"schema": {"type": "string"}}},
        }
    }


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]
    deps = api.deps

    @router.get(
        "/api/trades",
        summary="Round trips (closed by exit date, open by entry date) with fills, signal and risk "
        "decision; P&L net of commissions; format=csv for a file",
        responses=_responses(TradesResponse),
    )
    def trades(
        start: Annotated[IsoDate | None, Query(alias="from")] = None,
        end: Annotated[IsoDate | None, Query(alias="to")] = None,
        symbol: Annotated[Symbol | None, Query()] = None,
        strategy: Annotated[StrategyName | None, Query()] = None,
        format: Annotated[Format, Query()] = "json",
    ) -> Any:
        first, last = date_range(start, end, api.today(), DEFAULT_TRADE_DAYS)
        store = deps.store
        now = api.now()
        query = TradeQuery(first, last, symbol, strategy)
        open_positions = store.list_open_positions() if last >= api.today() else []
        views = list_trades(store, query, marks(store, open_positions, now) if open_positions else {})
        t = totals(views)
        body = TradesResponse(
            mode=store.mode,
            start=first,
            end=last,
            symbol=symbol,
            strategy=strategy,
            totals=TradeTotalsOut(
                trades=t.trades,
                closed=t.closed,
                wins=t.wins,
                net_pnl_usd=str(t.net_pnl_usd),
                commissions_usd=str(t.commissions_usd),
                gross_pnl_usd=str(t.gross_pnl_usd),
            ),
            trades=[trade_out(v) for v in views],
        )
        if format == "csv":
            return trades_csv(body)
        return body.model_dump(mode="json", by_alias=True)

    @router.get(
        "/api/orders",
        summary="Orders: working (all), done (created from..to, default today) or all, with their "
        "fills; format=csv for a file",
        responses=_responses(OrdersResponse),
    )
    def orders(
        status: Annotated[Literal["working", "done", "all"], Query()] = "all",
        start: Annotated[IsoDate | None, Query(alias="from")] = None,
        end: Annotated[IsoDate | None, Query(alias="to")] = None,
        format: Annotated[Format, Query()] = "json",
    ) -> Any:
        first, last = date_range(start, end, api.today(), 1)
        store = deps.store
        window = day_window(first, last)
        found: list[Order] = []
        if status in ("working", "all"):
            found += store.list_working_orders()
        if status in ("done", "all"):
            found += store.list_orders_created(DONE_STATUSES, *window)
        oldest = min((o.created_at for o in found), default=window[0])
        fills: dict[str, list[Fill]] = {}
        for entry in store.list_fill_log(min(oldest, window[0]), max(api.now(), window[1])):
            fills.setdefault(entry.fill.order_id, []).append(entry.fill)
        requested = store.get_controls().cancel_requests
        body = OrdersResponse(
            mode=store.mode,
            status=status,
            start=first,
            end=last,
            orders=[
                order_out(o, fills.get(o.order_id, []), o.order_id in requested)
                for o in sorted(found, key=lambda o: (o.created_at, o.order_id))
            ],
        )
        if format == "csv":
            return orders_csv(body)
        return body.model_dump(mode="json", by_alias=True)

    @router.post(
        "/api/orders/<order_id>/cancel",
        summary="Ask the engine to cancel a working entry at its next minute (audited); 409 when the "
        "order is done or sells a held position (close the position instead), 404 when unknown",
    )
    def cancel_order(
        order_id: Annotated[str, Path(min_length=1, max_length=128)], body: CancelBody | None = None
    ) -> Response[Any]:
        store = deps.store
        found = store.get_order(order_id)
        if found is None:
            raise ApiError(404, f"order {order_id} does not exist in {store.mode.value}")
        order = found.value
        if order.status.is_terminal:
            raise ApiError(
                409,
                f"order {order_id} is done ({order.status.value}): there is nothing to cancel",
                orderStatus=order.status.value,
            )
        if order.side is Side.SELL:
            raise ApiError(
                409,
                f"order {order_id} sells a held position (an exit, or the position's stop or target): "
                "the engine keeps every position protected and sells it by the flatten; to get out "
                "now, close the position",
                orderSide=order.side.value,
            )
        already = order_id in store.get_controls().cancel_requests
        if not already:
            reason = f"cancel requested: {(body or CancelBody()).reason}"
            store.request_cancel(order_id, api.actor(), reason, api.now())
        out = CancelResponse(
            order=order_out(order, store.list_fills(order_id), True),
            status="cancel_requested",
            already_requested=already,
        )
        return Response(202, "application/json", out.model_dump(mode="json", by_alias=True))

    return router
