"""What the next trading minute does after the emergency stop, on the embedded AWS: HALTED exits
every open position (paper: at the bid, at once) and takes no entry; live sends each exit to the
order queue. The trading minute sends no cancel for an order already working at the broker: the
order bridge does (tests/integration/order_bridge/test_emergency_stop.py; docs/architecture.md,
"The emergency stop")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.controls import TradingState
from smart0dte.domain.models import OrderStatus, PositionStatus, Side, TradingMode

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
    executed = stop_after_entry(TradingMode.PAPER, aws, dynamodb)
    state = store(TradingMode.PAPER)
    (held,) = state.list_open_positions()

    cycle = run_cycle(TradingMode.PAPER, AFTER)

    assert executed["open_positions"] == 1
    assert state.list_open_positions() == [] and state.list_working_orders() == []
    closed = state.get_position(held.position_id)
    assert closed is not None and closed.value.status is PositionStatus.CLOSED
    assert closed.value.exit_reason is not None and "EMERGENCY_STOP" in closed.value.exit_reason.upper()
    assert cycle.execute is None  # no entry approved under the stop
    assert cycle.risk is not None and [v["rules"] for v in cycle.risk["verdicts"]] == [["EMERGENCY_STOP"]]
    controls = state.get_controls()
    assert (controls.emergency_stop, controls.trading_state) == (True, TradingState.HALTED)
    sells = [o for o in state.list_orders(OrderStatus.FILLED) if o.side is Side.SELL]
    assert len(sells) == 1 and sells[0].quantity == held.quantity


def test_live_the_minute_after_the_stop_sends_the_flattening_exit_to_the_broker(
    aws: Provisioned, dynamodb: Any, live_queue: RecordingQueue
) -> None:
    executed = stop_after_entry(TradingMode.LIVE, aws, dynamodb)
    (entry,) = executed["orders"]

    run_cycle(TradingMode.LIVE, AFTER)

    stored = store(TradingMode.LIVE).get_order(entry["order_id"])
    assert stored is not None
    buy, exit_intent = live_queue.sent
    assert (buy.side, buy.intent_id) == (Side.BUY, entry["intent_id"])
    assert (exit_intent.side, exit_intent.quantity) == (Side.SELL, stored.value.quantity)
    assert exit_intent.reason.startswith("exit EMERGENCY_STOP") and exit_intent.ts == AFTER
    # the minute cancels nothing at the broker: the entry stays working until the bridge answers the stop
    assert stored.value.status is OrderStatus.SUBMITTED
