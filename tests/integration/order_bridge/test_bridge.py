"""The order bridge against the real DynamoState on moto, with a fake IB broker and queue."""

from decimal import Decimal

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.domain.models import OrderStatus, OrderType, Protection, Side, TradingMode
from smart0dte.domain.protection import protection_of_fill, protective_order_id
from smart0dte.domain.reconcile import ForeignOrder
from smart0dte.domain.venue import qualified
from smart0dte.ports import BrokerOrderAck, ReceivedCommand
from smart0dte.services.order_bridge import SWEEP_GRACE, OrderBridge, Outcome
from smart0dte.services.session import new_york_date

from .conftest import record
from .fakes import CALL, PUT, SESSION, T0, FakeBroker, FakeClock, FakeReceiver, make_intent, message


def bridge_of(store: DynamoState, broker: FakeBroker, receiver: FakeReceiver) -> OrderBridge:
    return OrderBridge(broker, store, receiver, FakeClock())


def actions(store: DynamoState) -> list[str]:
    return [r.action for r in store.audit.list_day(new_york_date(T0))]


def audited(store: DynamoState, action: str) -> list[str]:
    return [r.reason for r in store.audit.list_day(new_york_date(T0)) if r.action == action]


def test_a_redelivered_intent_places_one_order_and_both_messages_are_deleted(live: DynamoState) -> None:
    intent = make_intent()
    stored = record(live, intent)
    broker = FakeBroker()
    receiver = FakeReceiver([message(intent, 0)])
    bridge = bridge_of(live, broker, receiver)

    (first,) = bridge.process()
    receiver.messages.append(message(intent, 1))  # SQS redelivers: the delete was lost, say
    (second,) = bridge.process()

    assert broker.placements == 1
    assert (first.outcome, first.already_known) == (Outcome.PLACED, False)
    assert (second.outcome, second.already_known) == (Outcome.PLACED, True)
    assert receiver.deleted == [message(intent, 0).receipt, message(intent, 1).receipt]
    order = live.get_order(stored.value.order_id)
    assert order is not None and order.value.status is OrderStatus.SUBMITTED
    assert "OrderSentToBroker" in actions(live)


def test_the_emergency_stop_cancels_instead_of_placing(live: DynamoState) -> None:
    intent = make_intent()
    stored = record(live, intent)
    live.activate_emergency_stop("user:bob", "broker outage", T0)
    broker = FakeBroker()
    receiver = FakeReceiver([message(intent)])

    (handled,) = bridge_of(live, broker, receiver).process()

    assert handled.outcome is Outcome.CANCELLED
    assert broker.placements == 0
    order = live.get_order(stored.value.order_id)
    assert order is not None
    assert (order.value.status, order.value.reason) == (OrderStatus.CANCELLED, "emergency stop active")
    assert receiver.deleted == [message(intent).receipt]


def test_under_the_emergency_stop_exits_still_go_out_capped_at_what_is_held(live: DynamoState) -> None:
    intent = make_intent(side=Side.SELL, quantity=2)
    record(live, intent)
    live.activate_emergency_stop("user:bob", "broker outage", T0)
    broker = FakeBroker(held={CALL.occ_symbol: 5})

    (handled,) = bridge_of(live, broker, FakeReceiver([message(intent)])).process()

    assert handled.outcome is Outcome.PLACED
    assert broker.placed[intent.intent_id].quantity == 2


def test_a_sell_larger_than_held_is_reduced_and_audited(live: DynamoState) -> None:
    intent = make_intent(side=Side.SELL, quantity=5)
    record(live, intent)
    broker = FakeBroker(held={CALL.occ_symbol: 3})

    (handled,) = bridge_of(live, broker, FakeReceiver([message(intent)])).process()

    assert handled.outcome is Outcome.PLACED
    assert broker.placed[intent.intent_id].quantity == 3
    assert audited(live, "SellQuantityReduced") == [
        "only 3 of 5 SPY   250314C00562000 are held and not already being sold"
    ]


def test_working_sells_at_the_broker_count_against_what_is_held(live: DynamoState) -> None:
    first, second = make_intent(1, Side.SELL, quantity=2), make_intent(2, Side.SELL, quantity=2)
    record(live, first)
    record(live, second)
    broker = FakeBroker(held={CALL.occ_symbol: 3})
    receiver = FakeReceiver([message(first), message(second)])

    bridge_of(live, broker, receiver).process()

    assert broker.placed[first.intent_id].quantity == 2
    assert broker.placed[second.intent_id].quantity == 1  # 3 held - 2 already being sold
    assert sum(i.quantity for i in broker.placed.values()) == 3


def test_a_sell_with_nothing_held_is_rejected_never_short(live: DynamoState) -> None:
    intent = make_intent(side=Side.SELL, quantity=1)
    stored = record(live, intent)
    broker = FakeBroker(held={"SPY   250314P00558000": 4})  # another contract
    receiver = FakeReceiver([message(intent)])

    (handled,) = bridge_of(live, broker, receiver).process()

    assert handled.outcome is Outcome.REJECTED
    assert broker.placements == 0
    order = live.get_order(stored.value.order_id)
    assert order is not None
    assert order.value.status is OrderStatus.REJECTED
    assert order.value.reason == "nothing held at the broker for SPY   250314C00562000"
    assert receiver.deleted == [message(intent).receipt]


def test_a_broker_rejection_rejects_the_stored_order(live: DynamoState) -> None:
    intent = make_intent()
    stored = record(live, intent)
    broker = FakeBroker(reject_with="201 Order rejected - no trading permissions")

    (handled,) = bridge_of(live, broker, FakeReceiver([message(intent)])).process()

    assert handled.outcome is Outcome.REJECTED
    order = live.get_order(stored.value.order_id)
    assert order is not None
    assert (order.value.status, order.value.reason) == (
        OrderStatus.REJECTED,
        "201 Order rejected - no trading permissions",
    )


@pytest.mark.parametrize(
    ("attribute", "intent_mode", "why"),
    [
        ("paper", TradingMode.LIVE, "message mode=paper but the gateway trades live"),
        ("live", TradingMode.PAPER, "place command mode=paper but the gateway trades live"),
    ],
)
def test_a_mode_mismatch_is_refused_and_audited(
    live: DynamoState, attribute: str, intent_mode: TradingMode, why: str
) -> None:
    intent = make_intent(mode=intent_mode)
    received = message(intent, mode=attribute)  # the attribute and the body may disagree
    broker = FakeBroker()
    receiver = FakeReceiver([received])

    (handled,) = bridge_of(live, broker, receiver).process()

    assert (handled.outcome, handled.detail) == (Outcome.REFUSED, why)
    assert broker.placements == 0
    assert receiver.deleted == [received.receipt]
    assert audited(live, "IntentRefused") == [why]


def test_an_intent_execute_did_not_record_is_refused_and_audited(live: DynamoState) -> None:
    intent = make_intent(7)
    broker = FakeBroker()
    receiver = FakeReceiver([message(intent)])

    (handled,) = bridge_of(live, broker, receiver).process()

    assert handled.outcome is Outcome.REFUSED
    assert broker.placements == 0
    assert audited(live, "IntentRefused") == [
        f"intent {intent.intent_id} has no stored order: the trading steps did not record it"
    ]
    assert receiver.deleted == [message(intent).receipt]


def test_an_unparsable_message_is_refused_audited_and_deleted(live: DynamoState) -> None:
    bad = ReceivedCommand("receipt-bad", "message-bad", None, "live", "1 validation error(s): Invalid JSON")
    receiver = FakeReceiver([bad])

    (handled,) = bridge_of(live, FakeBroker(), receiver).process()

    assert handled.outcome is Outcome.REFUSED
    assert receiver.deleted == ["receipt-bad"]
    assert audited(live, "IntentRefused") == [
        "message body is not an order command: 1 validation error(s): Invalid JSON"
    ]


def test_a_broker_exception_leaves_the_message_for_redelivery(live: DynamoState) -> None:
    intent = make_intent()
    stored = record(live, intent)
    broker = FakeBroker(fail_with=ConnectionError("socket closed"))
    receiver = FakeReceiver([message(intent)])
    bridge = bridge_of(live, broker, receiver)

    (handled,) = bridge.process()

    assert (handled.outcome, handled.deleted) == (Outcome.FAILED, False)
    assert receiver.deleted == []
    order = live.get_order(stored.value.order_id)
    assert order is not None and order.value.status is OrderStatus.SUBMITTED

    broker.fail_with = None
    (retried,) = bridge.process()
    assert retried.outcome is Outcome.PLACED and broker.placements == 1
    assert receiver.deleted == [message(intent).receipt]


def test_fills_are_stored_once_however_often_they_are_synced(live: DynamoState) -> None:
    intent = make_intent(quantity=2)
    stored = record(live, intent)
    broker = FakeBroker()
    bridge = bridge_of(live, broker, FakeReceiver([message(intent)]))
    bridge.process()
    broker.fill(intent.intent_id, 1, "1.20", seconds=10)
    broker.fill(intent.intent_id, 1, "1.30", seconds=20)

    first = bridge.sync_fills(T0)
    second = bridge.sync_fills(T0)
    fresh = bridge_of(live, broker, FakeReceiver()).sync_fills(T0)  # a restarted gateway

    assert (first.recorded, first.already_stored) == (2, 0)
    assert (second.recorded, second.already_stored) == (0, 2)
    assert (fresh.recorded, fresh.already_stored) == (0, 2)
    order_id = stored.value.order_id
    assert len(live.list_fills(order_id)) == 2
    order = live.get_order(order_id)
    assert order is not None
    assert (order.value.status, order.value.filled_quantity) == (OrderStatus.FILLED, 2)
    assert order.value.avg_fill_price == Decimal("1.2500")


def test_fills_of_unknown_intents_are_reported_not_written(live: DynamoState) -> None:
    broker = FakeBroker()
    broker.fill("intent-9999999999", 1)

    result = bridge_of(live, broker, FakeReceiver()).sync_fills(T0)

    assert (result.recorded, result.unknown_intent) == (0, 1)
    assert result.unknown_intent_ids == ("intent-9999999999",)
    assert "OrderFilled" not in actions(live)


def test_reconcile_reports_a_working_order_the_broker_does_not_know(live: DynamoState) -> None:
    lost, placed = make_intent(1), make_intent(2)
    lost_order = record(live, lost)
    record(live, placed)
    broker = FakeBroker(foreign_open=["intent-manual-0000001"])
    bridge = bridge_of(live, broker, FakeReceiver([message(placed)]))
    bridge.process()

    report = bridge.reconcile(T0)

    assert report.missing_at_broker == (lost_order.value.order_id,)
    assert report.unknown_to_store == ("intent-manual-0000001",)
    assert broker.placements == 1  # nothing resubmitted
    assert audited(live, "ReconcileMismatch") == [
        "1 working order(s) unknown to the broker, 1 broker order(s) not working in the store"
    ]


def test_reconcile_is_quiet_when_store_and_broker_agree(live: DynamoState) -> None:
    intent = make_intent()
    record(live, intent)
    broker = FakeBroker()
    bridge = bridge_of(live, broker, FakeReceiver([message(intent)]))
    bridge.process()
    broker.fill(intent.intent_id, 1)

    report = bridge.reconcile(T0)

    assert report.consistent and report.fills.recorded == 1
    assert "ReconcileMismatch" not in actions(live)


def test_the_published_book_holds_todays_positions_executions_and_hand_orders(live: DynamoState) -> None:
    intent = make_intent()
    record(live, intent)
    hand_sell = BrokerOrderAck(
        "",
        7001,
        OrderStatus.SUBMITTED,
        filled_quantity=1,
        contract_symbol=PUT.occ_symbol,
        side=Side.SELL,
        quantity=3,
    )
    other_expiry = "SPY   250321C00562000"
    broker = FakeBroker(
        held={CALL.occ_symbol: 2, other_expiry: 5},
        foreign_open=["intent-manual-0000001"],
        by_hand=[hand_sell],
    )
    bridge = bridge_of(live, broker, FakeReceiver([message(intent)]))
    bridge.process()
    fill = broker.fill(intent.intent_id, 2)
    bridge.sync_fills(T0)

    book = bridge.publish_book(T0)

    assert live.get_broker_book() == book
    assert book.positions == {CALL.occ_symbol: 2}  # another expiry is the owner's, not the engine's
    assert book.execution_ids == frozenset({fill.fill_id})
    assert book.foreign_orders == (ForeignOrder(PUT.occ_symbol, "SELL", 2),)
    # an order with Smart 0DTE's orderRef that the store does not know is cancelled, and audited
    assert broker.cancelled == ["intent-manual-0000001"]
    assert audited(live, "UnknownOrderCancelled") == [
        "an order with Smart 0DTE's orderRef intent-manual-0000001 that the store does not know"
    ]


def test_a_hand_placed_sell_counts_against_what_the_engine_may_sell(live: DynamoState) -> None:
    exit_intent = make_intent(n=2, side=Side.SELL, quantity=3, contract=PUT)
    hand_sell = BrokerOrderAck(
        "", 7001, OrderStatus.SUBMITTED, contract_symbol=PUT.occ_symbol, side=Side.SELL, quantity=2
    )
    broker = FakeBroker(held={PUT.occ_symbol: 3}, by_hand=[hand_sell])

    assert bridge_of(live, broker, FakeReceiver()).sellable_quantity(exit_intent) == 1


def test_a_protective_stop_and_target_of_one_group_each_sell_the_whole_position(live: DynamoState) -> None:
    stop = make_intent(n=3, side=Side.SELL, quantity=4).model_copy(
        update={
            "order_type": OrderType.STOP,
            "limit_price": None,
            "stop_price": Decimal("0.60"),
            "oca_group": "g-1",
        }
    )
    target = make_intent(n=4, side=Side.SELL, quantity=4).model_copy(update={"oca_group": "g-1"})
    stranger = make_intent(n=5, side=Side.SELL, quantity=1)
    for intent in (stop, target, stranger):
        record(live, intent)
    broker = FakeBroker(held={CALL.occ_symbol: 5})
    receiver = FakeReceiver([message(stop), message(target), message(stranger)])

    handled = bridge_of(live, broker, receiver).process()

    assert [(h.outcome, h.quantity) for h in handled] == [
        (Outcome.PLACED, 4),
        (Outcome.PLACED, 4),
        (Outcome.PLACED, 1),
    ]
    # another sell of the contract is not part of the group: it counts against the next one
    fourth = make_intent(n=6, side=Side.SELL, quantity=1)
    record(live, fourth)
    assert bridge_of(live, broker, FakeReceiver()).sellable_quantity(fourth) == 0


def test_an_order_ib_ended_by_itself_ends_in_the_store_after_its_fills(live: DynamoState) -> None:
    gone = make_intent(n=7, side=Side.SELL, quantity=3)
    fresh = make_intent(n=8, side=Side.SELL, quantity=1).model_copy(update={"ts": T0 + SWEEP_GRACE / 2})
    for intent in (gone, fresh):
        record(live, intent)
    broker = FakeBroker(held={CALL.occ_symbol: 4})
    clock = FakeClock()
    bridge = OrderBridge(broker, live, FakeReceiver([message(gone)]), clock)
    bridge.process()
    broker.fill(gone.intent_id, 1)
    broker.cancelled.append(gone.intent_id)  # IB cancelled the rest by itself (no cancel was asked)
    clock.advance(SWEEP_GRACE.total_seconds())

    bridge.publish_book(T0)

    ended = live.get_order_by_intent(gone.intent_id)
    assert ended is not None and ended.value.status is OrderStatus.CANCELLED
    assert (
        ended.value.filled_quantity == 1
        and ended.value.reason == "no longer working at the broker: ended by IB"
    )
    waiting = live.get_order_by_intent(fresh.intent_id)  # younger than the grace: may be on its way
    assert waiting is not None and waiting.value.status is OrderStatus.SUBMITTED


def test_an_entry_fill_is_protected_the_moment_the_bridge_records_it_and_only_once(live: DynamoState) -> None:
    protection = Protection(stop_loss_fraction=0.5, take_profit_fraction=1.0)
    entry = make_intent(quantity=3).model_copy(update={"protection": protection})
    bare = make_intent(n=2, quantity=1, contract=PUT)  # an entry that carries no protection
    for intent in (entry, bare):
        record(live, intent)
    broker = FakeBroker()
    bridge = bridge_of(live, broker, FakeReceiver([message(entry), message(bare)]))
    bridge.process()
    fill = broker.fill(entry.intent_id, 2, "1.20", seconds=10)
    broker.fill(bare.intent_id, 1, "0.80", seconds=12)
    broker.held.update({CALL.occ_symbol: 2, PUT.occ_symbol: 1})

    bridge.sync_fills(T0)

    stored_entry = live.get_order_by_intent(entry.intent_id)
    assert stored_entry is not None
    stop, target = protection_of_fill(
        stored_entry.value, fill.model_copy(update={"order_id": stored_entry.value.order_id})
    )
    placed = {i.intent_id: i for i in broker.placed.values() if i.side is Side.SELL}
    assert set(placed) == {stop.intent_id, target.intent_id}  # none for the bare entry
    assert (placed[stop.intent_id].stop_price, placed[stop.intent_id].quantity) == (Decimal("0.60"), 2)
    assert (placed[target.intent_id].limit_price, placed[target.intent_id].quantity) == (Decimal("2.40"), 2)
    for protective in (stop, target):
        stored = live.get_order_by_intent(protective.intent_id)
        assert stored is not None and stored.value.status is OrderStatus.SUBMITTED
        assert stored.value.order_id == qualified(SESSION, protective_order_id(protective))
    # a restarted bridge syncs the same fill again: nothing new is stored or placed
    placements = broker.placements
    bridge_of(live, broker, FakeReceiver()).sync_fills(T0)
    assert broker.placements == placements
    assert len([o for o in live.list_working_orders() if o.side is Side.SELL]) == 2


def test_a_sell_ib_already_has_is_acknowledged_not_judged_again_after_a_drop(live: DynamoState) -> None:
    exit_intent = make_intent(n=9, side=Side.SELL, quantity=2)
    record(live, exit_intent)
    broker = FakeBroker(held={CALL.occ_symbol: 0})  # the sell reached IB and filled; the ack was lost
    broker.placed[exit_intent.intent_id] = exit_intent
    broker.fill(exit_intent.intent_id, 2, "1.40", seconds=5)
    bridge = bridge_of(live, broker, FakeReceiver([message(exit_intent, 1)]))  # the redelivery

    (handled,) = bridge.process()
    bridge.sync_fills(T0)

    assert (handled.outcome, handled.already_known) == (Outcome.PLACED, True)
    stored = live.get_order_by_intent(exit_intent.intent_id)
    assert stored is not None and (stored.value.status, stored.value.filled_quantity) == (
        OrderStatus.FILLED,
        2,
    )
