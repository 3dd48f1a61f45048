"""IB paper through the real handlers on the embedded AWS, the order bridge and a fake IB: what is
held, sold and earned follows the broker's fills, never the engine's own idea of them.

The trading steps send commands to the order queue; the bridge places and cancels them at the fake
broker and writes its fills to the store; the next trading minute books those fills before it
decides anything."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.controls import TradingState
from smart0dte.domain.models import (
    CONTRACT_MULTIPLIER,
    Fill,
    OptionContract,
    OptionRight,
    OrderStatus,
    OrderType,
    PositionStatus,
    Side,
    TradingMode,
)
from smart0dte.domain.session_engine import HAND_STRATEGY
from smart0dte.ports import HAND_INTENT, ReceivedCommand
from smart0dte.services.order_bridge import OrderBridge, Outcome
from tests.integration.order_bridge.fakes import FakeBroker, FakeClock, FakeReceiver

from .conftest import ENTRY, Context, RecordingQueue, at_entry, entry_gateway, load_handler, run_cycle, store

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
MODE = TradingMode.IBKR_PAPER
SESSION_START = ENTRY - timedelta(minutes=15)


class Desk:
    """The gateway side: the bridge reading what the trading steps queued, over a fake IB."""

    def __init__(self, queue: RecordingQueue) -> None:
        self.queue = queue
        self.broker = FakeBroker(account_id="DU1234567")
        self.clock = FakeClock(ENTRY)
        self.receiver = FakeReceiver()
        self.bridge = OrderBridge(self.broker, store(MODE), self.receiver, self.clock)
        self.taken = 0

    def relay(self) -> list[Outcome]:
        """Hand the bridge every command queued since the last relay."""
        for n, command in enumerate(self.queue.commands[self.taken :], start=self.taken):
            self.receiver.messages.append(ReceivedCommand(f"r{n}", f"m{n}", command, MODE.value))
        self.taken = len(self.queue.commands)
        outcomes = [h.outcome for h in self.bridge.process()]
        self.bridge.publish_book(SESSION_START)
        return outcomes

    def execute(self, intent_id: str, quantity: int, price: str, at: datetime) -> Fill:
        """IB executes `quantity` of the intent's order; the bridge syncs it into the store."""
        intent = self.broker.placed[intent_id]
        fill = Fill(
            fill_id=f"0000e0d5.{len(self.broker.fills) + 1:08d}.01.01",
            order_id=f"ib-{intent_id[:8]}",
            intent_id=intent_id,
            ts=at,
            contract=intent.contract,
            side=intent.side,
            quantity=quantity,
            price=Decimal(price),
            commission_usd=Decimal("0.70") * quantity,
        )
        self.broker.fills.append(fill)
        occ = intent.contract.occ_symbol
        sign = 1 if intent.side is Side.BUY else -1
        self.broker.held[occ] = self.broker.held.get(occ, 0) + sign * quantity
        self.clock.current = at
        assert self.bridge.sync_fills(SESSION_START).recorded == 1
        self.bridge.publish_book(SESSION_START)
        return fill


def test_ibkr_paper_holds_sells_and_earns_what_the_broker_filled(
    aws: Provisioned, dynamodb: Any, live_queue: RecordingQueue
) -> None:
    cycle = at_entry(MODE, aws, dynamodb)
    executed = load_handler("execute").handler(cycle.risk, Context())
    (entry,) = executed["orders"]
    gateway = entry_gateway(MODE, publish_book=False)  # the bridge publishes the broker's book
    state = store(MODE)
    desk = Desk(live_queue)
    assert desk.relay() == [Outcome.PLACED]
    asked = desk.broker.placed[entry["intent_id"]].quantity
    assert asked >= 2
    limit = desk.broker.placed[entry["intent_id"]].limit_price
    assert limit is not None
    bought = desk.execute(
        entry["intent_id"], asked - 1, str(limit - Decimal("0.01")), ENTRY + timedelta(seconds=20)
    )

    # the bridge protects the fill the moment it records it, before any trading minute runs: a
    # stop and a target in one OCA group, each for the filled quantity
    stop, target = (i for i in desk.broker.placed.values() if i.side is Side.SELL)
    assert (stop.order_type, target.order_type) == (OrderType.STOP, OrderType.LIMIT)
    assert stop.oca_group == target.oca_group is not None
    assert stop.quantity == target.quantity == asked - 1
    assert stop.stop_price is not None and stop.stop_price < bought.price < (target.limit_price or 0)
    for protective in (stop, target):
        stored = state.get_order_by_intent(protective.intent_id)
        assert stored is not None and stored.value.status is OrderStatus.SUBMITTED

    # the next minute books the broker's fill and the same protective orders (it sends none of its
    # own) and cancels the entry's remainder there
    after = ENTRY + timedelta(minutes=1)
    gateway.write_until(after)
    run_cycle(MODE, after)
    (held,) = state.list_open_positions()
    assert (held.quantity, held.entry_price) == (asked - 1, bought.price)
    assert len(live_queue.sent) == 1
    assert desk.relay() == [Outcome.CANCELLED]
    entry_order = state.get_order(entry["order_id"])
    assert entry_order is not None and entry_order.value.status is OrderStatus.CANCELLED
    assert entry_order.value.filled_quantity == asked - 1

    # the trader closes it: the protective orders are cancelled at the broker first, and only once
    # the broker confirmed does the exit go out, for what the broker holds: never two sells at once
    state.request_close(held.position_id, "user:alice", "take it off", after + timedelta(seconds=10))
    close_minute = after + timedelta(minutes=1)
    gateway.write_until(close_minute)
    run_cycle(MODE, close_minute)
    assert {c.intent_id for c in live_queue.cancels} >= {stop.intent_id, target.intent_id}
    assert len(live_queue.sent) == 1  # no exit yet
    assert desk.relay() == [Outcome.CANCELLED, Outcome.CANCELLED]
    exit_minute = close_minute + timedelta(minutes=1)
    gateway.write_until(exit_minute)
    run_cycle(MODE, exit_minute)
    exit_intent = live_queue.sent[-1]
    assert (exit_intent.side, exit_intent.quantity, exit_intent.oca_group) == (Side.SELL, asked - 1, None)
    assert state.get_position(held.position_id).value.status is PositionStatus.OPEN  # type: ignore[union-attr]
    assert desk.relay() == [Outcome.PLACED]
    sell_at = exit_intent.limit_price or bought.price
    sold = desk.execute(
        exit_intent.intent_id, asked - 1, str(sell_at + Decimal("0.02")), exit_minute + timedelta(seconds=15)
    )

    booked = exit_minute + timedelta(minutes=1)
    gateway.write_until(booked)
    run_cycle(MODE, booked)
    closed = state.get_position(held.position_id)
    assert closed is not None and closed.value.status is PositionStatus.CLOSED
    assert closed.value.exit_price == sold.price
    (trade,) = state.list_closed_trades()
    expected = (sold.price - bought.price) * (asked - 1) * CONTRACT_MULTIPLIER - (
        bought.commission_usd + sold.commission_usd
    )
    assert trade.pnl_usd == expected
    # every fill in the store is the broker's: the engine made none of its own
    fills = state.list_fills(entry["order_id"])
    assert [f.fill_id for f in fills] == [bought.fill_id]
    assert desk.broker.held[bought.contract.occ_symbol] == 0


def test_a_position_the_book_does_not_hold_halts_entries_until_book_and_broker_agree(
    aws: Provisioned, dynamodb: Any, live_queue: RecordingQueue
) -> None:
    at_entry(MODE, aws, dynamodb)
    gateway = entry_gateway(MODE, publish_book=False)
    state = store(MODE)
    desk = Desk(live_queue)
    by_hand = OptionContract(root="SPY", expiry=ENTRY.date(), right=OptionRight.CALL, strike=560).occ_symbol
    desk.broker.held[by_hand] = 3  # bought at IB by hand: the book knows nothing of it

    halted = ENTRY + timedelta(minutes=1)
    gateway.write_until(halted)
    desk.clock.current = halted
    desk.bridge.publish_book(SESSION_START)
    cycle = run_cycle(MODE, halted)

    assert cycle.signals["trading_state"] == "REDUCING"
    assert f"{by_hand} book 0 broker 3" in cycle.signals["trading_state_reason"]
    assert cycle.execute is None
    (incident,) = [r for r in state.audit.list_day(ENTRY.date()) if r.action == "IncidentReported"]
    assert incident.details["positions"] == {by_hand: {"book": 0, "broker": 3}}
    assert state.get_controls().trading_state is TradingState.REDUCING

    desk.broker.held[by_hand] = 0  # the owner sold them by hand: book and broker agree again
    agreed = halted + timedelta(minutes=1)
    gateway.write_until(agreed)
    desk.clock.current = agreed
    desk.bridge.publish_book(SESSION_START)
    cycle = run_cycle(MODE, agreed)
    assert cycle.signals["trading_state"] == "ACTIVE"
    assert state.get_controls().trading_state is TradingState.ACTIVE


def test_without_a_fresh_broker_book_no_entry_is_made(
    aws: Provisioned, dynamodb: Any, live_queue: RecordingQueue
) -> None:
    at_entry(MODE, aws, dynamodb)
    gateway = entry_gateway(MODE, publish_book=False)
    later = ENTRY + timedelta(minutes=4)  # the last book was published at 09:45, the bridge is silent
    gateway.write_until(later)

    cycle = run_cycle(MODE, later)

    assert cycle.signals["trading_state"] == "REDUCING"
    assert (
        "broker book is older than 120 s (taken at 2025-03-13T13:45:00+00:00)"
        in cycle.signals["trading_state_reason"]
    )


def test_a_trade_made_by_hand_at_ib_is_adopted_once_protected_and_entries_go_on(
    aws: Provisioned, dynamodb: Any, live_queue: RecordingQueue
) -> None:
    at_entry(MODE, aws, dynamodb)
    gateway = entry_gateway(MODE, publish_book=False)
    state = store(MODE)
    desk = Desk(live_queue)
    contract = OptionContract(root="SPY", expiry=ENTRY.date(), right=OptionRight.CALL, strike=560)
    bought = Fill(
        fill_id="0000e0d5.0000hand.01.01",
        order_id="777",
        intent_id=HAND_INTENT,
        ts=ENTRY + timedelta(seconds=20),
        contract=contract,
        side=Side.BUY,
        quantity=3,
        price=Decimal("15.60"),  # near the day's quote of the contract: no exit level is crossed
        commission_usd=Decimal("2.10"),
    )
    desk.broker.hand_fills.append(bought)
    desk.broker.held[contract.occ_symbol] = 3

    for minute in (1, 2):  # the same hand fill in two books: adopted once
        at = ENTRY + timedelta(minutes=minute)
        gateway.write_until(at)
        desk.clock.current = at
        desk.bridge.publish_book(SESSION_START)
        cycle = run_cycle(MODE, at)
        assert cycle.signals["trading_state"] == "ACTIVE"
        assert Outcome.REFUSED not in desk.relay()

    (held,) = state.list_open_positions()
    assert (held.contract, held.quantity, held.entry_price, held.strategy) == (
        contract,
        3,
        bought.price,
        HAND_STRATEGY,
    )
    (incident,) = [r for r in state.audit.list_day(ENTRY.date()) if r.action == "IncidentReported"]
    assert "adopted" in incident.reason
    assert [a["fill_id"] for a in incident.details["adopted"]] == [bought.fill_id]  # type: ignore[index]
    # the engine protects the adopted position at the broker like its own, once
    stop, target = [i for i in live_queue.sent if i.side is Side.SELL]
    assert (stop.order_type, target.order_type) == (OrderType.STOP, OrderType.LIMIT)
    assert stop.quantity == target.quantity == 3 and stop.oca_group == target.oca_group is not None
