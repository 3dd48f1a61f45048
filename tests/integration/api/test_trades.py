"""GET /api/trades, GET /api/orders and POST /api/orders/<id>/cancel on the embedded AWS: the demo
day's trade (IWM 220P x92, 0.17 -> 0.12, stopped out, $127.94 fees, net -$587.94) with its fills,
signal and risk decision; the same net P&L as the dashboard and analytics; CSV; validation; modes
kept apart; a cancel is a request the engine carries out (audited, idempotent, 404/409)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.domain.controls import TradingState
from smart0dte.domain.models import (
    Fill,
    OptionRight,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Signal,
    TradingMode,
    Underlying,
)
from smart0dte.domain.risk import RiskVerdict
from smart0dte.local.http_server import LambdaContext, api_event, load_api_handler
from smart0dte.ports import RiskDecision
from smart0dte.services.api import ApiDeps

from .conftest import OPEN, SESSION, TRADER, Call, FakeBacktests, FixedClock, contract, make_call

IWM_220P = contract(220.0, OptionRight.PUT, root="IWM")
SIGNAL_ID = "momentum_breakout-IWM-0932"
RATIONALE = "IWM closed above its 30-minute high with rising volume"


def _order(store: DynamoState, n: int, side: Side, minutes: int, signal_id: str | None, **kw: Any) -> Order:
    intent = OrderIntent(
        intent_id=f"demo-intent-{n:06d}",
        mode=store.mode,
        ts=OPEN + timedelta(minutes=minutes),
        contract=IWM_220P,
        side=side,
        quantity=92,
        signal_id=signal_id,
        reason=f"demo {side.value}",
        **kw,
    )
    order = Order.from_intent(intent, f"demo-order-{n}")
    store.create_order(order, "system:execute", intent.reason)
    store.transition_order(order.order_id, OrderStatus.SUBMITTED, intent.ts, "system:execute", "sent")
    return order


def _fill(store: DynamoState, order: Order, minutes: int, price: str, fee: str) -> None:
    store.record_fill(
        Fill(
            fill_id=f"{order.order_id}-fill",
            order_id=order.order_id,
            intent_id=order.intent_id,
            ts=OPEN + timedelta(minutes=minutes),
            contract=IWM_220P,
            side=order.side,
            quantity=92,
            price=Decimal(price),
            commission_usd=Decimal(fee),
        ),
        "system:execute",
    )


def seed_demo_trade(store: DynamoState) -> None:
    """The demo day's trade as the desk writes it: signal, risk decision, the entry order and its
    fill, the position, the protective stop and its fill, the close with both fees."""
    signal = Signal(
        signal_id=SIGNAL_ID,
        ts=OPEN + timedelta(minutes=2),
        underlying=Underlying.IWM,
        direction=OptionRight.PUT,
        strategy="momentum_breakout",
        confidence=0.8385,
        rationale=RATIONALE,
    )
    store.put_signal(signal, "system:signals")
    store.put_risk_decision(
        RiskDecision(SIGNAL_ID, signal.ts, RiskVerdict(True, TradingState.ACTIVE, ()), 92), "system:risk"
    )
    entry = _order(store, 1, Side.BUY, 2, SIGNAL_ID, limit_price=Decimal("0.17"))
    _fill(store, entry, 2, "0.17", "63.84")
    store.open_position(
        Position(
            position_id="IWM250314P00220000-20250314T133200",
            mode=store.mode,
            contract=IWM_220P,
            quantity=92,
            entry_price=Decimal("0.17"),
            opened_at=OPEN + timedelta(minutes=2),
            strategy="momentum_breakout",
        ),
        "system:execute",
        "momentum_breakout entry",
    )
    stop = _order(store, 2, Side.SELL, 3, None, order_type=OrderType.STOP, stop_price=Decimal("0.14"))
    _fill(store, stop, 20, "0.12", "64.10")
    store.close_position(
        "IWM250314P00220000-20250314T133200",
        Decimal("0.12"),
        OPEN + timedelta(minutes=20),
        "STOP_LOSS",
        "system:execute",
        Decimal("127.94"),
    )


@pytest.fixture
def demo(seeded: DynamoState) -> DynamoState:
    seed_demo_trade(seeded)
    return seeded


@pytest.fixture
def call(demo: DynamoState, backtests: FakeBacktests) -> Call:
    return make_call(ApiDeps(store_factory=lambda: demo, clock=FixedClock(), backtests=backtests))


def _demo_trade(body: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in body["trades"] if t["underlying"] == "IWM")


def test_the_demo_trade_with_its_fills_signal_and_risk_decision(call: Call) -> None:
    status, body = call("GET", "/api/trades?from=2025-03-14&to=2025-03-14")
    assert status == 200, body
    assert body["mode"] == "paper" and body["from"] == "2025-03-14" and body["to"] == "2025-03-14"
    trade = _demo_trade(body)
    assert trade["status"] == "closed" and trade["contract"] == "IWM   250314P00220000"
    assert (trade["quantity"], trade["entryPrice"], trade["exitPrice"]) == (92, "0.17", "0.12")
    assert trade["exitReason"] == "STOP_LOSS" and trade["strategy"] == "momentum_breakout"
    # 92 x 100 x (0.12 - 0.17) = -460.00 gross, minus 127.94 of fees; percent of the 1,564 paid
    assert trade["netPnlUsd"] == "-587.94" and trade["commissionsUsd"] == "127.94"
    assert trade["netPnlPercent"] == pytest.approx(-587.94 / 1564 * 100, abs=0.005)
    assert trade["signalId"] == SIGNAL_ID and trade["signal"]["rationale"] == RATIONALE
    assert trade["signal"]["risk"] == {
        "approved": True,
        "tradingState": "ACTIVE",
        "quantity": 92,
        "violations": [],
    }
    fills = [(f["side"], f["quantity"], f["price"], f["commissionUsd"]) for f in trade["fills"]]
    assert fills == [("BUY", 92, "0.17", "63.84"), ("SELL", 92, "0.12", "64.10")]
    # The seeded open position-1 (SPY 562C, opened 09:50) is today's open trade, with its fill,
    # marked at the chain's mid (1.05) before fees like the dashboard: 2 x 100 x (1.05 - 1.25).
    opened = next(t for t in body["trades"] if t["positionId"] == "position-1")
    assert opened["status"] == "open" and opened["netPnlUsd"] is None
    assert opened["unrealizedPnlUsd"] == "-40.00" and opened["commissionsUsd"] == "1.30"
    assert [f["fillId"] for f in opened["fills"]] == ["fill-1"]
    # totals: the closed trades of the day only
    assert body["totals"]["closed"] == 1 and body["totals"]["netPnlUsd"] == "-587.94"
    assert body["totals"]["grossPnlUsd"] == "-460.00"


def test_net_pnl_agrees_with_the_dashboard_and_analytics(call: Call) -> None:
    _, trades = call("GET", "/api/trades?from=2025-03-14&to=2025-03-14")
    _, dashboard = call("GET", "/api/dashboard")
    _, analytics = call("GET", "/api/analytics?timeframe=1d")
    assert trades["totals"]["netPnlUsd"] == dashboard["counters"]["realizedPnlUsd"] == "-587.94"
    assert Decimal(trades["totals"]["netPnlUsd"]) == Decimal(str(analytics["trades"]["netPnlUsd"]))
    assert Decimal(trades["totals"]["commissionsUsd"]) == Decimal(str(analytics["trades"]["commissionsUsd"]))


def test_filters_and_a_month(call: Call) -> None:
    _, month = call("GET", "/api/trades?from=2025-02-13&to=2025-03-14")
    # the seeded closes 1 and 2 days before (position-3, -4), not the one 40 days before
    closed = {t["positionId"] for t in month["trades"] if t["status"] == "closed"}
    assert closed == {"position-3", "position-4", "IWM250314P00220000-20250314T133200"}
    _, spy = call("GET", "/api/trades?from=2025-02-13&to=2025-03-14&symbol=SPY")
    assert {t["underlying"] for t in spy["trades"]} == {"SPY"}
    _, gap = call("GET", "/api/trades?from=2025-02-13&to=2025-03-14&strategy=gap_fill")
    assert [t["positionId"] for t in gap["trades"]] == ["position-4"]
    # default: the 30 days to today
    _, default = call("GET", "/api/trades")
    assert default["from"] == "2025-02-13" and default["to"] == "2025-03-14"


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("from=2025-3-1", "from", "YYYY-MM-DD"),
        ("to=yesterday", "to", "YYYY-MM-DD"),
        ("from=2025-03-14&to=2025-03-01", "from", "after"),
        ("from=2024-01-01&to=2025-03-14", "from", "at most 366 days"),
        ("strategy=bullish", "strategy", "'momentum_breakout', 'mean_reversion'"),
        ("symbol=TSLA", "symbol", "SPY"),
        ("format=xml", "format", "csv"),
    ],
)
def test_bad_queries_name_the_field_and_the_limit(call: Call, query: str, field: str, words: str) -> None:
    status, body = call("GET", f"/api/trades?{query}")
    assert status == 422, body
    assert field in body["message"] and words in body["message"]


def _raw(deps: ApiDeps, path: str) -> dict[str, Any]:
    """The handler's raw response to a trader's GET (make_call parses JSON; CSV is text)."""
    from smart0dte.local.auth import authorizer_context

    module = load_api_handler()
    module.configure(deps)
    event = api_event("GET", path, {"host": "localhost"}, b"", None)
    event["requestContext"]["authorizer"] = authorizer_context(TRADER)
    return module.handler(event, LambdaContext())  # type: ignore[no-any-return]


def test_trades_and_orders_as_csv(demo: DynamoState) -> None:
    deps = ApiDeps(store_factory=lambda: demo, clock=FixedClock())
    result = _raw(deps, "/api/trades?from=2025-03-14&to=2025-03-14&format=csv")
    assert result["statusCode"] == 200
    assert result["headers"]["Content-Type"].startswith("text/csv")
    assert 'filename="trades-paper-2025-03-14-2025-03-14.csv"' in result["headers"]["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(result["body"])))
    demo_row = next(r for r in rows if r["underlying"] == "IWM")
    assert demo_row["net_pnl_usd"] == "-587.94" and demo_row["commissions_usd"] == "127.94"
    assert demo_row["entry_time_et"] == "2025-03-14T09:32:00-04:00" and demo_row["exit_reason"] == "STOP_LOSS"
    assert demo_row["signal_id"] == SIGNAL_ID and demo_row["rationale"] == RATIONALE
    assert demo_row["fills"] == (
        "BUY 92 @ 0.17 at 2025-03-14T09:32:00-04:00 fee 63.84; "
        "SELL 92 @ 0.12 at 2025-03-14T09:50:00-04:00 fee 64.10"
    )
    assert {r["position_id"] for r in rows} == {
        "IWM250314P00220000-20250314T133200",
        "position-1",
        "position-2",
    }
    orders = _raw(deps, "/api/orders?status=done&from=2025-03-14&to=2025-03-14&format=csv")
    order_rows = list(csv.DictReader(io.StringIO(orders["body"])))
    assert [(r["order_id"], r["status"], r["filled_quantity"]) for r in order_rows] == [
        ("demo-order-1", "FILLED", "92"),  # 09:32
        ("demo-order-2", "FILLED", "92"),  # 09:33
        ("order-1", "FILLED", "2"),  # 09:50
    ]


def test_orders_working_done_and_their_fills(call: Call) -> None:
    status, working = call("GET", "/api/orders?status=working")
    assert status == 200
    assert [o["orderId"] for o in working["orders"]] == ["order-2"]
    assert working["orders"][0]["working"] is True and working["orders"][0]["cancelRequested"] is False
    _, done = call("GET", "/api/orders?status=done&from=2025-03-14&to=2025-03-14")
    by_id = {o["orderId"]: o for o in done["orders"]}
    assert set(by_id) == {"order-1", "demo-order-1", "demo-order-2"}
    assert by_id["demo-order-1"]["signalId"] == SIGNAL_ID and by_id["demo-order-2"]["signalId"] is None
    assert [(f["price"], f["commissionUsd"]) for f in by_id["demo-order-2"]["fills"]] == [("0.12", "64.10")]
    _, everything = call("GET", "/api/orders")
    assert {o["orderId"] for o in everything["orders"]} == {"order-2", *by_id}
    status, body = call("GET", "/api/orders?status=open")
    assert status == 422 and "status" in body["message"]


def test_cancel_is_requested_audited_and_idempotent(call: Call, demo: DynamoState) -> None:
    status, body = call("POST", "/api/orders/order-2/cancel", {"reason": "price moved away"})
    assert status == 202, body
    assert body["status"] == "cancel_requested" and body["alreadyRequested"] is False
    # the API wrote a request for the engine, not the order: it still works until the next minute
    assert demo.get_controls().cancel_requests == frozenset({"order-2"})
    assert demo.get_order("order-2").value.status is OrderStatus.SUBMITTED  # type: ignore[union-attr]
    records = [r for r in demo.audit.list_day(SESSION) if r.action == "OrderCancelRequested"]
    assert [(r.actor, r.details["order_id"]) for r in records] == [("user:alice", "order-2")]
    assert "price moved away" in records[0].reason
    again = call("POST", "/api/orders/order-2/cancel", {"reason": "again"})
    assert again[0] == 202 and again[1]["alreadyRequested"] is True
    assert len([r for r in demo.audit.list_day(SESSION) if r.action == "OrderCancelRequested"]) == 1
    _, working = call("GET", "/api/orders?status=working")
    assert working["orders"][0]["cancelRequested"] is True


def test_cancel_of_a_done_or_unknown_order(call: Call) -> None:
    status, body = call("POST", "/api/orders/demo-order-1/cancel", {"reason": "late"})
    assert status == 409 and "done (FILLED)" in body["message"] and body["orderStatus"] == "FILLED"
    status, body = call("POST", "/api/orders/nope/cancel", {"reason": "x"})
    assert status == 404 and "nope" in body["message"]
    status, _ = call(
        "POST", "/api/orders/order-2/cancel", {"reason": "x"}, claims={"sub": "r", "scope": "smart0dte/read"}
    )
    assert status == 403


def test_modes_never_share_records(demo: DynamoState) -> None:
    deps = ApiDeps(store_factory=lambda: demo, clock=FixedClock())
    deps.mode_switched(TradingMode.IBKR_PAPER)  # as if the active mode were IB paper
    call = make_call(deps)
    _, trades = call("GET", "/api/trades?from=2025-02-13&to=2025-03-14")
    _, orders = call("GET", "/api/orders")
    assert trades["mode"] == "ibkr_paper" and trades["trades"] == [] and orders["orders"] == []
    status, _ = call("POST", "/api/orders/order-2/cancel", {"reason": "x"})
    assert status == 404


def test_an_order_that_sells_a_held_position_cannot_be_cancelled_by_hand(
    call: Call, demo: DynamoState
) -> None:
    working = demo.get_order("order-2")
    assert working is not None
    stop = working.value.model_copy(
        update={
            "order_id": "stop-1",
            "intent_id": "intent-stop-000001",
            "side": Side.SELL,
            "oca_group": "g-1",
        }
    )
    demo.create_order(stop, "system:execute", "protective stop")

    status, body = call("POST", "/api/orders/stop-1/cancel", {"reason": "let it run"})

    assert status == 409 and "close the position" in body["message"]
    assert "stop-1" not in demo.get_controls().cancel_requests
