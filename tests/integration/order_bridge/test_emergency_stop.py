"""The emergency stop at the broker, on the embedded AWS with the IB adapter over an in-memory IB
built from ib_async's own classes: the bridge's loop cancels every order working at IB before the
stop within one iteration, keeps the exits that come after it (also across a restart), lets a fill
that wins the race stand, and leaves orders placed by hand alone, reporting them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import ib_async
import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.adapters.ibkr.broker import IbkrBroker
from smart0dte.domain.models import OptionContract, OptionRight, OrderStatus, Side, TradingMode
from smart0dte.ports import GATEWAY_PORTS, AuditRecord
from smart0dte.services.order_bridge import (
    STOP_ANSWERED_ACTION,
    LoopTimings,
    RunSummary,
    run_order_bridge,
)
from smart0dte.services.session import new_york_date

from ...fake_ib import FakeIB, option
from ..moto_env import REGION
from .conftest import PREFIX, record
from .fakes import SESSION, T0, FakeClock, FakeConnection, FakeReceiver, make_intent, message

ACCOUNTS = {TradingMode.IBKR_PAPER: "DU1234567", TradingMode.LIVE: "U7654321"}
C590 = OptionContract(root="SPY", expiry=SESSION, right=OptionRight.CALL, strike=590)
TIMINGS = LoopTimings()
STOP_AT_S = 95.0
"""The stop lands as the bridge starts a long poll (the slowest moment for it to notice)."""

pytestmark = pytest.mark.parametrize("mode", [TradingMode.IBKR_PAPER, TradingMode.LIVE])


@dataclass
class Gateway:
    """One mode's store, the in-memory IB and the IB adapter on it, a queue and a fake clock."""

    mode: TradingMode
    store: DynamoState
    ib: FakeIB
    clock: FakeClock = field(default_factory=FakeClock)
    receiver: FakeReceiver = field(default_factory=FakeReceiver)
    events: dict[float, Callable[[], None]] = field(default_factory=dict)
    """Seconds after T0 -> what happens then (run as the clock passes it, before a long poll)."""

    @property
    def account(self) -> str:
        return ACCOUNTS[self.mode]

    def queue(self, n: int, side: Side = Side.BUY, quantity: int = 2) -> str:
        """Record an intent as the Execute step does and queue it; returns its stored order id."""
        intent = make_intent(n, side=side, quantity=quantity, mode=self.mode, contract=C590)
        stored = record(self.store, intent)
        self.receiver.messages.append(message(intent))
        return stored.value.order_id

    def trade(self, n: int) -> ib_async.Trade:
        (trade,) = [t for t in self.ib.trades() if t.order.orderRef == f"intent-{n:010d}"]
        return trade

    def press_stop(self) -> None:
        self.store.activate_emergency_stop("user:alice", "drill", self.clock.now(), "request-1")

    def run(self, until_s: float) -> RunSummary:
        broker = IbkrBroker(self.ib, self.account, now=self.clock.now)
        original = self.receiver.receive

        def receive(max_messages: int, wait_s: int) -> list:  # type: ignore[type-arg]
            for at in sorted(self.events):
                if self.clock.now() >= T0 + timedelta(seconds=at):
                    self.events.pop(at)()
            self.clock.advance(max(wait_s, 1))
            return original(max_messages, wait_s)

        self.receiver.receive = receive  # type: ignore[method-assign]
        try:
            return run_order_bridge(
                connect=lambda: FakeConnection(broker),
                store=self.store,
                intents=self.receiver,
                clock=self.clock,
                sleep=self.clock.advance,
                port=GATEWAY_PORTS[self.mode],
                session_start=T0,
                stop_at=T0 + timedelta(seconds=until_s),
                stop=threading.Event(),
                timings=TIMINGS,
            )
        finally:
            self.receiver.receive = original  # type: ignore[method-assign]

    def answers(self) -> list[AuditRecord]:
        return [r for r in self.store.audit.list_day(new_york_date(T0)) if r.action == STOP_ANSWERED_ACTION]

    def status(self, order_id: str) -> OrderStatus:
        stored = self.store.get_order(order_id)
        assert stored is not None
        return stored.value.status


@pytest.fixture
def gateway(aws: Provisioned, mode: TradingMode) -> Gateway:
    return Gateway(mode, DynamoState(PREFIX, mode, region=REGION), FakeIB(accounts=(ACCOUNTS[mode],)))


def test_an_entry_working_at_ib_is_cancelled_within_one_loop_iteration_of_the_stop(gateway: Gateway) -> None:
    entry = gateway.queue(1)
    gateway.events[STOP_AT_S] = gateway.press_stop

    summary = gateway.run(until_s=180)

    assert gateway.trade(1).orderStatus.status == "Cancelled"
    stored = gateway.store.get_order(entry)
    assert stored is not None and stored.value.status is OrderStatus.CANCELLED
    assert stored.value.reason == "emergency stop 1: cancelled at the broker"
    (answer,) = gateway.answers()
    assert answer.details["cancelled"] == [entry] and answer.details["stop_number"] == 1
    assert (answer.details["stopped_by"], answer.details["stop_reason"]) == ("user:alice", "drill")
    # measured on the fake clock: from the stop landing to the cancel written back
    reaction_s = (answer.ts - (T0 + timedelta(seconds=STOP_AT_S))).total_seconds()
    assert 0 < reaction_s <= TIMINGS.receive_wait_s < TIMINGS.heartbeat_every_s
    assert [a.stop_number for a in summary.stops_answered] == [1] and summary.errors == 0


def test_a_partially_filled_entry_keeps_its_fill_and_the_remainder_is_cancelled(gateway: Gateway) -> None:
    entry = gateway.queue(1, quantity=3)
    gateway.events[30] = lambda: gateway.ib.execute(
        gateway.trade(1), 1, 1.25, gateway.clock.now(), account=gateway.account
    )
    gateway.events[STOP_AT_S] = gateway.press_stop

    gateway.run(until_s=180)

    stored = gateway.store.get_order(entry)
    assert stored is not None
    assert (stored.value.status, stored.value.filled_quantity) == (OrderStatus.CANCELLED, 1)
    (fill,) = gateway.store.list_fills(entry)
    assert (fill.quantity, fill.price) == (1, Decimal("1.25"))
    assert gateway.trade(1).orderStatus.status == "Cancelled"
    assert gateway.ib.cancelled == [gateway.trade(1).order]


def filled_entry_then_stop_and_exit(gateway: Gateway) -> tuple[str, list[str]]:
    """An entry filled at 30 s; at the stop the engine's next minute answers with an exit that the
    same long poll receives. Returns the entry's order id and (once queued) the exit's."""
    entry = gateway.queue(1)
    exits: list[str] = []

    def filled() -> None:
        gateway.ib.execute(gateway.trade(1), 2, 1.25, gateway.clock.now(), account=gateway.account)
        gateway.ib.position_list = [ib_async.Position(gateway.account, option(590, "C"), 2.0, 125.0)]

    def stop_then_exit() -> None:
        gateway.press_stop()
        exits.append(gateway.queue(2, side=Side.SELL))

    gateway.events[30] = filled
    gateway.events[STOP_AT_S] = stop_then_exit
    return entry, exits


def test_an_exit_arriving_after_the_stop_is_placed_and_not_cancelled(gateway: Gateway) -> None:
    entry, exits = filled_entry_then_stop_and_exit(gateway)

    gateway.run(until_s=180)

    (exit_order,) = exits
    assert gateway.trade(2).orderStatus.status == "Submitted" and gateway.ib.cancelled == []
    assert gateway.status(exit_order) is OrderStatus.SUBMITTED
    assert gateway.status(entry) is OrderStatus.FILLED
    (answer,) = gateway.answers()
    assert answer.details["cancelled"] == [] and answer.details["stop_number"] == 1


def test_a_bridge_restarted_after_the_stop_does_not_cancel_the_exit(gateway: Gateway) -> None:
    _, exits = filled_entry_then_stop_and_exit(gateway)
    gateway.run(until_s=180)

    summary = gateway.run(until_s=360)

    (exit_order,) = exits
    assert gateway.trade(2).orderStatus.status == "Submitted" and gateway.ib.cancelled == []
    assert gateway.status(exit_order) is OrderStatus.SUBMITTED
    assert summary.stops_answered == [] and len(gateway.answers()) == 1


def test_a_cancel_ib_confirms_late_is_pending_until_then_also_across_a_restart(gateway: Gateway) -> None:
    entry = gateway.queue(1)

    def stop_unconfirmed() -> None:
        gateway.ib.confirm_cancels = False
        gateway.press_stop()

    gateway.events[STOP_AT_S] = stop_unconfirmed
    gateway.run(until_s=180)
    assert gateway.status(entry) is OrderStatus.PENDING_CANCEL
    assert gateway.trade(1).orderStatus.status == "PendingCancel"
    (answer,) = gateway.answers()
    assert (answer.details["pending_cancel"], answer.details["cancelled"]) == ([entry], [])

    def ib_confirms() -> None:
        gateway.ib.confirm_cancels = True
        gateway.ib.sleep()  # ib_async's event loop delivers IB's confirmation

    gateway.events[240] = ib_confirms
    summary = gateway.run(until_s=300)  # a restart: the pending cancel is read from the store

    stored = gateway.store.get_order(entry)
    assert stored is not None and stored.value.status is OrderStatus.CANCELLED
    assert stored.value.reason == "cancel confirmed by the broker"
    assert len(gateway.ib.cancelled) == 1 and summary.errors == 0 and len(gateway.answers()) == 1


def test_a_cancel_ib_refuses_because_the_order_filled_records_the_fill_without_an_error_loop(
    gateway: Gateway,
) -> None:
    entry = gateway.queue(1)

    def fill_wins() -> None:
        gateway.ib.fill_on_cancel[gateway.trade(1).order.orderId] = gateway.clock.now()
        gateway.press_stop()

    gateway.events[STOP_AT_S] = fill_wins

    summary = gateway.run(until_s=300)

    stored = gateway.store.get_order(entry)
    assert stored is not None
    assert (stored.value.status, stored.value.filled_quantity) == (OrderStatus.FILLED, 2)
    assert len(gateway.store.list_fills(entry)) == 1
    (answer,) = gateway.answers()
    assert (answer.details["filled"], answer.details["cancelled"]) == ([entry], [])
    assert summary.errors == 0 and len(gateway.ib.cancelled) == 1


def test_an_order_placed_by_hand_is_reported_and_left_working(gateway: Gateway) -> None:
    entry = gateway.queue(1)
    manual = gateway.ib.placeOrder(
        option(585, "P"), ib_async.LimitOrder("SELL", 1, 9.0, account=gateway.account)
    )
    gateway.ib.sleep()
    gateway.events[STOP_AT_S] = gateway.press_stop

    gateway.run(until_s=180)

    assert manual.orderStatus.status == "Submitted" and manual.order not in gateway.ib.cancelled
    assert gateway.status(entry) is OrderStatus.CANCELLED
    (answer,) = gateway.answers()
    (unknown,) = answer.details["unknown_to_store"]  # type: ignore[misc]
    assert unknown["broker_order_id"] == manual.order.permId and unknown["intent_id"] == ""
    assert "SPY   250314P00585000" in unknown["detail"]
    assert "1 broker order(s) unknown to the store left alone" in answer.reason
