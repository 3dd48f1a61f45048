"""What the next trading minute does after the emergency stop, on the embedded AWS: HALTED exits
every open position (paper: at the bid, at once) and takes no entry; live holds only what the
broker filled (the order bridge's fills in the store), sends that quantity's exit to the order
queue and cancels the entry's unfilled remainder. The order bridge cancels at the broker every order
working when the stop was pressed (tests/integration/order_bridge/test_emergency_stop.py;
docs/architecture.md, "The emergency stop")."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.controls import TradingState
from smart0dte.domain.exits import EXIT_LIMIT_MINUTES
from smart0dte.domain.models import Fill, OrderStatus, PositionStatus, Side, TradingMode

from .conftest import (
    ENTRY,
    Context,
    RecordingQueue,
    at_entry,
    entry_gateway,
    load_handler,
    run_cycle,
    store,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
AFTER = ENTRY + timedelta(minutes=1)


def stop_after_entry(mode: TradingMode, aws: Provisioned, dynamodb: Any) -> dict[str, Any]:
    """The entry minute executed, then the emergency stop pressed; returns the entry's outcome."""
    cycle = at_entry(mode, aws, dynamodb)
    assert cycle.risk is not None
    executed: dict[str, Any] = load_handler("execute").handler(cycle.risk, Context())
    store(mode).activate_emergency_stop("user:alice", "drill", ENTRY + timedelta(seconds=20), "request-1")
    gateway = entry_gateway(mode)
    gateway.write_until(AFTER)
    return executed


def test_paper_the_minute_after_the_stop_exits_every_position_and_enters_nothing(
    aws: Provisioned, dynamodb: Any
) -> None:
    # the entry decided at ENTRY trades at the next minute's quote; the stop is pressed after that
    cycle = at_entry(TradingMode.PAPER, aws, dynamodb)
    assert cycle.risk is not None
    executed: dict[str, Any] = load_handler("execute").handler(cycle.risk, Context())
    gateway = entry_gateway(TradingMode.PAPER)
    gateway.write_until(AFTER)
    run_cycle(TradingMode.PAPER, AFTER)
    state = store(TradingMode.PAPER)
    (held,) = state.list_open_positions()
    state.activate_emergency_stop("user:alice", "drill", AFTER + timedelta(seconds=20), "request-1")
    stopped = AFTER + timedelta(minutes=1)
    last = stopped + (EXIT_LIMIT_MINUTES + 1) * timedelta(minutes=1)  # the ladder at market, traded
    gateway.write_until(last)

    minutes = [run_cycle(TradingMode.PAPER, stopped)]  # the exit is decided on this minute's quote
    while state.list_open_positions() and minutes[-1].signals["ts"] < last.isoformat():
        minutes.append(run_cycle(TradingMode.PAPER, stopped + len(minutes) * timedelta(minutes=1)))

    assert executed["open_positions"] == 0  # nothing fills at the decision's snapshot
    assert state.list_open_positions() == [] and state.list_working_orders() == []
    closed = state.get_position(held.position_id)
    assert closed is not None and closed.value.status is PositionStatus.CLOSED
    assert closed.value.exit_reason is not None and "EMERGENCY_STOP" in closed.value.exit_reason.upper()
    for minute in minutes:  # no entry approved under the stop
        assert minute.execute is None
        assert minute.risk is None or all("EMERGENCY_STOP" in v["rules"] for v in minute.risk["verdicts"])
    controls = state.get_controls()
    assert (controls.emergency_stop, controls.trading_state) == (True, TradingState.HALTED)
    sells = [o for o in state.list_orders(OrderStatus.FILLED) if o.side is Side.SELL]
    assert len(sells) == 1 and sells[0].quantity == held.quantity


def broker_fill(mode: TradingMode, order_id: str, quantity: int, n: int = 1) -> Fill:
    """What the order bridge writes when IB executes `quantity` of the stored order."""
    state = store(mode)
    stored = state.get_order(order_id)
    assert stored is not None
    order = stored.value
    fill = Fill(
        fill_id=f"0000e0d5.{n:08d}.01.01",
        order_id=order_id,
        intent_id=order.intent_id,
        ts=ENTRY + timedelta(seconds=5 + n),
        contract=order.contract,
        side=order.side,
        quantity=quantity,
        price=order.limit_price or Decimal("1.00"),
        commission_usd=Decimal("0.65") * quantity,
    )
    state.record_fill(fill, "order_bridge")
    return fill


def test_live_the_minute_after_the_stop_books_the_broker_fill_and_sends_its_exit(
    aws: Provisioned, dynamodb: Any, live_queue: RecordingQueue
) -> None:
    executed = stop_after_entry(TradingMode.LIVE, aws, dynamodb)
    (entry,) = executed["orders"]
    assert (entry["status"], entry["filled_quantity"], entry["sent_to_broker"]) == ("SUBMITTED", 0, True)
    state = store(TradingMode.LIVE)
    assert state.list_open_positions() == []  # nothing is held until the broker fills
    stored = state.get_order(entry["order_id"])
    assert stored is not None and stored.value.quantity >= 2
    fill = broker_fill(TradingMode.LIVE, entry["order_id"], stored.value.quantity - 1)

    run_cycle(TradingMode.LIVE, AFTER)

    (held,) = state.list_open_positions()
    assert (held.contract, held.quantity, held.entry_price) == (fill.contract, fill.quantity, fill.price)
    # the fill's protective group (the bridge placed it as it recorded the fill) and the entry's
    # unfilled remainder are cancelled at the broker first: no exit may race a working stop
    (buy,) = live_queue.sent
    assert (buy.side, buy.intent_id) == (Side.BUY, entry["intent_id"])
    cancelled = {c.intent_id for c in live_queue.cancels}
    protective = {o.intent_id for o in state.list_orders(OrderStatus.PENDING_CANCEL) if o.oca_group}
    assert len(protective) == 2 and cancelled == protective | {entry["intent_id"]}
    after = state.get_order(entry["order_id"])
    assert after is not None and after.value.status is OrderStatus.PENDING_CANCEL

    # once the bridge confirmed the cancels, the next minute sells what the broker filled
    for order in state.list_orders(OrderStatus.PENDING_CANCEL):
        state.transition_order(
            order.order_id, OrderStatus.CANCELLED, AFTER + timedelta(seconds=10), "order_bridge", "confirmed"
        )
    entry_gateway(TradingMode.LIVE).write_until(AFTER + timedelta(minutes=1))
    run_cycle(TradingMode.LIVE, AFTER + timedelta(minutes=1))
    buy, exit_intent = live_queue.sent
    assert (exit_intent.side, exit_intent.quantity) == (Side.SELL, fill.quantity)  # what the broker filled
    assert exit_intent.reason.startswith("exit EMERGENCY_STOP")


def test_live_without_a_broker_fill_nothing_is_held_and_the_entry_is_cancelled(
    aws: Provisioned, dynamodb: Any, live_queue: RecordingQueue
) -> None:
    executed = stop_after_entry(TradingMode.LIVE, aws, dynamodb)
    (entry,) = executed["orders"]

    run_cycle(TradingMode.LIVE, AFTER)

    state = store(TradingMode.LIVE)
    assert state.list_open_positions() == []
    assert [i.side for i in live_queue.sent] == [Side.BUY]  # no exit: nothing was filled
    assert [c.intent_id for c in live_queue.cancels] == [entry["intent_id"]]
