"""The broker venue (ibkr_paper and live): commands out, the broker's news in; and the session engine
on it, whose book equals the sum of the broker's fills whatever order and how often they arrive."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart0dte.domain.broker_venue import BrokerVenue
from smart0dte.domain.controls import TradingState
from smart0dte.domain.marketdata import MarketDay
from smart0dte.domain.models import (
    CONTRACT_MULTIPLIER,
    DomainError,
    Fill,
    OptionRight,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TradingMode,
)
from smart0dte.domain.protection import protection_of_fill, protective_order_id
from smart0dte.domain.reconcile import BROKER_BOOK_MAX_AGE, BrokerBook, ForeignOrder, compare, traded_here
from smart0dte.domain.risk import Controls
from smart0dte.domain.session_engine import SessionEngine
from smart0dte.domain.venue import (
    BrokerCosts,
    BrokerReport,
    CancelOrder,
    OrderReport,
    PlaceOrder,
    VenueEventKind,
    qualified,
)
from smart0dte.ports import HAND_INTENT
from tests.unit.domain.test_session_engine import CARRY, MINUTES, SESSION, WIDE_EXITS, Scripted, make_day
from tests.unit.domain.test_simulated_venue import T0, intent

LIVE = TradingMode.LIVE
ENTRY_MINUTE = 30


def live_intent(key: str = "signal-1", quantity: int = 4, side: Side = Side.BUY):  # type: ignore[no-untyped-def]
    return intent(quantity=quantity, key=key, side=side).model_copy(update={"mode": LIVE})


def fill_of(order: Order, quantity: int, n: int, price: str = "1.10", seconds: int = 0) -> Fill:
    return Fill(
        fill_id=f"exec-{n}",
        order_id=order.order_id,
        intent_id=order.intent_id,
        ts=T0 + timedelta(seconds=seconds or n),
        contract=order.contract,
        side=order.side,
        quantity=quantity,
        price=Decimal(price),
        commission_usd=Decimal("0.65") * quantity,
    )


def test_submit_sends_a_place_command_once_and_fills_nothing() -> None:
    venue = BrokerVenue(LIVE)
    update = venue.submit(live_intent(), None, T0)
    (event,) = update.events
    assert (event.kind, event.order.status, update.fills) == (
        VenueEventKind.ACCEPTED,
        OrderStatus.SUBMITTED,
        (),
    )
    assert update.commands == (PlaceOrder(intent=live_intent()),)
    assert venue.submit(live_intent(), None, T0 + timedelta(seconds=1)).events == ()  # a retry
    assert venue.working_orders() == venue.awaiting_news() == [event.order]
    assert not venue.fills_at_submission and not venue.records_own_fills


def test_a_cancel_is_requested_once_and_the_order_may_still_fill() -> None:
    venue = BrokerVenue(LIVE)
    order = venue.submit(live_intent(), None, T0).orders[0]
    update = venue.cancel(order.order_id, T0, "exit re-priced")
    (event,) = update.events
    assert (event.kind, event.order.status) == (VenueEventKind.CANCEL_REQUESTED, OrderStatus.PENDING_CANCEL)
    (command,) = update.commands
    assert isinstance(command, CancelOrder) and (command.intent_id, command.root) == (order.intent_id, "SPY")
    assert venue.cancel(order.order_id, T0, "again").events == ()
    # the fill that raced the cancel wins, then the confirmation ends the order
    (filled,) = venue.apply([fill_of(order, 1, 1)]).events
    assert (filled.kind, filled.order.status, filled.order.filled_quantity) == (
        VenueEventKind.PARTIALLY_FILLED,
        OrderStatus.PARTIALLY_FILLED,
        1,
    )
    (ended,) = venue.apply(
        [OrderReport(order.order_id, OrderStatus.CANCELLED, T0, "cancel confirmed")]
    ).events
    assert (ended.kind, ended.order.filled_quantity) == (VenueEventKind.CANCELLED, 1)
    assert venue.working_orders() == []
    with pytest.raises(DomainError, match="is not working"):
        venue.cancel(order.order_id, T0, "late")


def test_news_in_any_order_books_each_fill_once() -> None:
    venue = BrokerVenue(LIVE)
    order = venue.submit(live_intent(quantity=5), None, T0).orders[0]
    late = fill_of(order, 2, 2)
    cancelled = OrderReport(order.order_id, OrderStatus.CANCELLED, T0, "cancelled")
    first = venue.apply([cancelled, fill_of(order, 3, 1), fill_of(order, 3, 1)])
    assert [e.kind for e in first.events] == [VenueEventKind.PARTIALLY_FILLED, VenueEventKind.CANCELLED]
    # a fill reported after the cancel (it happened before the cancel took) is still booked
    (after,) = venue.apply([late, cancelled, fill_of(order, 3, 1)]).events
    assert (after.kind, after.order.status, after.order.filled_quantity) == (
        VenueEventKind.FILLED,
        OrderStatus.FILLED,
        5,
    )


def test_a_fill_beyond_the_order_is_booked_as_the_broker_reported_it() -> None:
    venue = BrokerVenue(LIVE)
    order = venue.submit(live_intent(quantity=2), None, T0).orders[0]
    venue.apply([fill_of(order, 2, 1)])
    (extra,) = venue.apply([fill_of(order, 1, 2, price="1.40")]).events
    assert (extra.order.quantity, extra.order.filled_quantity, extra.order.status) == (
        3,
        3,
        OrderStatus.FILLED,
    )
    assert extra.order.avg_fill_price == Decimal("1.2000")


def test_news_of_an_unknown_order_and_wrong_modes_are_refused() -> None:
    venue = BrokerVenue(LIVE)
    order = venue.submit(live_intent(), None, T0).orders[0]
    with pytest.raises(DomainError, match="never sent"):
        venue.apply([fill_of(order.model_copy(update={"order_id": "O99999999"}), 1, 1)])
    with pytest.raises(DomainError, match="REJECTED, CANCELLED or EXPIRED"):
        OrderReport(order.order_id, OrderStatus.FILLED, T0)
    with pytest.raises(DomainError, match="trades ibkr_paper or live, not paper"):
        BrokerVenue(TradingMode.PAPER)
    with pytest.raises(DomainError, match="does not match venue mode=live"):
        venue.submit(intent(key="paper"), None, T0)


def test_the_state_round_trips() -> None:
    venue = BrokerVenue(TradingMode.IBKR_PAPER)
    order = venue.submit(live_intent().model_copy(update={"mode": TradingMode.IBKR_PAPER}), None, T0).orders[
        0
    ]
    venue.apply([fill_of(order, 1, 1)])
    restored = BrokerVenue.from_wire(venue.to_wire(), BrokerCosts())
    assert restored.orders() == venue.orders() and restored.knows(order.intent_id)
    assert restored.apply([fill_of(order, 1, 1)]).events == ()  # its fill ids came along
    with pytest.raises(DomainError, match="kind='simulated' is not a broker venue's"):
        BrokerVenue.from_wire({**venue.to_wire(), "kind": "simulated"}, BrokerCosts())


# --- the engine on the broker venue --------------------------------------------------------------

PATH = np.full(MINUTES, 560.0)
BROKER_CONFIG = replace(WIDE_EXITS, mode=LIVE, venue=BrokerVenue)


@cache
def _entered_state() -> tuple[MarketDay, dict[str, Any]]:
    day = make_day(PATH)
    engine = SessionEngine(day, SESSION, BROKER_CONFIG, Scripted({ENTRY_MINUTE: OptionRight.CALL}), CARRY)
    for minute in range(1, ENTRY_MINUTE + 1):
        engine.step(SESSION.open_et + timedelta(minutes=minute))
    return day, engine.to_state()


def entered() -> tuple[SessionEngine, Order]:
    """An engine on the broker venue right after its entry order was sent (nothing filled)."""
    day, state = _entered_state()
    engine = SessionEngine.from_state(state, day, SESSION, BROKER_CONFIG, Scripted({}))
    (order,) = engine.orders()
    assert order.status is OrderStatus.SUBMITTED and engine.portfolio.open_positions == []
    return engine, order


def test_the_engine_holds_nothing_until_the_broker_fills() -> None:
    engine, _ = entered()
    now = SESSION.open_et + timedelta(minutes=ENTRY_MINUTE + 1)
    candidates = engine.observe(now)
    # no fill came: the entry's remainder is cancelled at the broker, nothing is held
    assert engine.portfolio.open_positions == [] and candidates.effects.fills == ()
    assert [type(c) for c in candidates.effects.commands] == [CancelOrder]


def test_an_entry_a_human_asked_cancelled_is_cancelled_with_that_reason() -> None:
    engine, order = entered()
    asked = frozenset({qualified(SESSION.session_date, order.order_id)})
    engine.controls_at = lambda _now: Controls(BROKER_CONFIG.settings, cancel_requests=asked)
    now = SESSION.open_et + timedelta(minutes=ENTRY_MINUTE + 1)

    observed = engine.observe(now)

    (command,) = observed.effects.commands
    assert isinstance(command, CancelOrder) and command.intent_id == order.intent_id
    assert command.reason == "cancelled as asked from the dashboard"


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_the_book_equals_the_sum_of_the_broker_fills_for_any_event_order(data: st.DataObject) -> None:
    engine, order = entered()
    parts = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=order.quantity), label="parts")
    fills: list[Fill] = []
    for n, quantity in enumerate(parts, start=1):
        if sum(f.quantity for f in fills) + quantity > order.quantity:
            break
        price = data.draw(st.sampled_from(["0.95", "1.00", "1.05"]), label="price")
        fill = fill_of(order, quantity, n, price).model_copy(
            update={"ts": SESSION.open_et + timedelta(minutes=ENTRY_MINUTE, seconds=n)}
        )
        fills.append(fill)
    reports = [OrderReport(order.order_id, OrderStatus.CANCELLED, fills[-1].ts, "remainder cancelled")]
    news = data.draw(
        st.lists(st.sampled_from(fills + reports), min_size=len(fills) + 1, max_size=3 * len(fills) + 3)
    )
    news = fills + news  # each fill arrives at least once, then anything again, in any order
    news = data.draw(st.permutations(news), label="order")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(news)), max_size=3), label="cuts"))
    batches = [news[a:b] for a, b in zip([0, *cuts], [*cuts, len(news)], strict=True)]

    for minute, batch in enumerate(batches, start=ENTRY_MINUTE + 1):
        engine.observe(SESSION.open_et + timedelta(minutes=minute), BrokerReport(tuple(batch)))

    quantity = sum(f.quantity for f in fills)
    cost = sum((f.price * f.quantity * CONTRACT_MULTIPLIER + f.commission_usd for f in fills), Decimal(0))
    (held,) = engine.portfolio.open_positions
    assert held.quantity == quantity
    assert engine.portfolio.cash_usd == CARRY.equity_usd - cost
    assert sorted(f.fill_id for f in engine.fills) == sorted(f.fill_id for f in fills)  # each once
    assert engine.account().day_trades_in_window == 1  # one entry, however many fills


# --- reconciliation with the broker's book -------------------------------------------------------


def test_compare_names_each_difference_and_refuses_an_old_book() -> None:
    now = T0 + timedelta(minutes=1)
    occ = "SPY   250314C00562000"
    agree = BrokerBook(now, {occ: 2}, frozenset({"exec-1"}))
    assert compare({occ: 2}, agree, now) is None
    differ = compare({occ: 2}, BrokerBook(now, {occ: 5}, frozenset()), now)
    assert differ is not None and differ.text == f"{occ} book 2 broker 5"
    foreign = compare({}, BrokerBook(now, {}, frozenset(), (ForeignOrder(occ, "SELL", 1),)), now)
    assert foreign is not None and "SELL 1" in foreign.text and "not placed by Smart 0DTE" in foreign.text
    old = compare({}, replace(agree, at=now - BROKER_BOOK_MAX_AGE - timedelta(seconds=1)), now)
    assert old is not None and old.text.startswith(
        "the order bridge's broker book is older than 120 s (taken at"
    )
    later = compare(
        {}, replace(agree, at=now - BROKER_BOOK_MAX_AGE - timedelta(seconds=1)), now + timedelta(minutes=1)
    )
    assert later is not None and later.text == old.text  # one silence, one difference
    missing = compare({}, None, now)
    assert missing is not None and missing.text == "no broker book from the order bridge yet"
    assert BrokerBook.from_wire(agree.to_wire()) == agree
    assert traded_here(occ, T0.date()) and not traded_here(occ, T0.date() + timedelta(days=1))
    assert not traded_here("AAPL", T0.date())


def test_a_difference_halts_entries_once_audited_until_book_and_broker_agree() -> None:
    engine, order = entered()
    occ = order.contract.occ_symbol
    fill = fill_of(order, order.quantity, 1).model_copy(
        update={"ts": SESSION.open_et + timedelta(minutes=ENTRY_MINUTE, seconds=5)}
    )
    first = SESSION.open_et + timedelta(minutes=ENTRY_MINUTE + 1)
    wrong = BrokerBook(first, {occ: order.quantity + 2}, frozenset({fill.fill_id}))
    halted = engine.observe(first, BrokerReport((fill,), wrong))
    assert halted.trading_state is TradingState.REDUCING
    assert f"{occ} book {order.quantity} broker {order.quantity + 2}" in halted.trading_state_reason
    (incident,) = [d for d in halted.effects.decisions if d.kind == "incident"]
    assert incident.detail["positions"] == {occ: {"book": order.quantity, "broker": order.quantity + 2}}
    # the same difference the next minute is not a new incident; an entry is refused for it
    second = first + timedelta(minutes=1)
    again = engine.observe(second, BrokerReport((), replace(wrong, at=second)))
    assert [d.kind for d in again.effects.decisions if d.kind == "incident"] == []
    state = SessionEngine.from_state(engine.to_state(), engine.day, SESSION, BROKER_CONFIG, Scripted({}))
    assert state.broker_mismatch == engine.broker_mismatch != ""
    # a book taken before the fill says nothing; one that agrees clears the halt
    third = second + timedelta(minutes=1)
    engine.observe(third, BrokerReport((), BrokerBook(third, {}, frozenset())))
    assert engine.broker_mismatch != ""
    fourth = third + timedelta(minutes=1)
    cleared = engine.observe(
        fourth, BrokerReport((), BrokerBook(fourth, {occ: order.quantity}, frozenset({fill.fill_id})))
    )
    assert cleared.trading_state is TradingState.ACTIVE
    assert [d.kind for d in cleared.effects.decisions if d.kind == "reconciled"] == ["reconciled"]


def test_hand_fills_are_adopted_once_and_a_hand_sale_beyond_the_book_is_left_halting() -> None:
    engine, order = entered()
    occ = order.contract.occ_symbol
    fill = fill_of(order, 2, 1).model_copy(
        update={"ts": SESSION.open_et + timedelta(minutes=ENTRY_MINUTE, seconds=5)}
    )
    hand_buy = fill_of(order, 1, 2, price="1.30").model_copy(
        update={"fill_id": "hand-1", "order_id": "ib-77", "intent_id": HAND_INTENT}
    )
    too_much = hand_buy.model_copy(
        update={"fill_id": "hand-2", "order_id": "ib-78", "side": Side.SELL, "quantity": 9}
    )
    first = SESSION.open_et + timedelta(minutes=ENTRY_MINUTE + 1)
    ids = frozenset({fill.fill_id, "hand-1", "hand-2"})
    book = BrokerBook(first, {occ: 3}, ids, hand_fills=(too_much, hand_buy))
    assert BrokerBook.from_wire(book.to_wire()) == book

    observed = engine.observe(first, BrokerReport((fill,), book))

    (held,) = engine.portfolio.open_positions
    assert held.quantity == 3  # the entry's 2 and the hand-bought 1; the sale of 9 is not booked
    assert engine.broker_mismatch == ""  # the book holds what the broker holds
    adopted = [d for d in observed.effects.decisions if d.kind == "incident" and "adopted" in d.detail]
    assert [a["fill_id"] for a in adopted[0].detail["adopted"]] == ["hand-1"]  # type: ignore[index]
    # the sale the broker really made shows in its next book: more than the book holds, so left
    second = first + timedelta(minutes=1)
    again = engine.observe(second, BrokerReport((), replace(book, at=second, positions={occ: 0})))
    assert again.trading_state is TradingState.REDUCING
    assert f"{occ} book 3 broker 0" in again.trading_state_reason
    assert engine.portfolio.open_positions[0].quantity == 3


# --- protection at the broker ---------------------------------------------------------------------


def test_an_entry_fill_is_protected_at_the_broker_and_a_partial_stop_reduces_the_target() -> None:
    engine, order = entered()
    assert order.protection is not None
    first = SESSION.open_et + timedelta(minutes=ENTRY_MINUTE + 1)
    fill = fill_of(order, 3, 1).model_copy(update={"ts": first - timedelta(seconds=30)})
    book = BrokerBook(first, {order.contract.occ_symbol: 3}, frozenset({fill.fill_id}))
    observed = engine.observe(first, BrokerReport((fill,), book))

    # the bridge placed the fill's group when it recorded the fill: the engine books the same
    # orders (same ids) and sends nothing
    assert [c for c in observed.effects.commands if isinstance(c, PlaceOrder)] == []
    stop, target = protection_of_fill(order, fill)
    booked = {o.intent_id: o for o in observed.effects.orders}
    assert booked[stop.intent_id].order_id == protective_order_id(stop)
    assert booked[target.intent_id].status is OrderStatus.SUBMITTED
    plan = engine.plans[order.contract.occ_symbol]
    assert (stop.order_type, stop.quantity, stop.stop_price) == (
        OrderType.STOP,
        3,
        Decimal(str(plan.stop_price)).quantize(Decimal("0.01"), rounding=ROUND_DOWN),
    )
    assert (target.order_type, target.quantity, target.limit_price) == (
        OrderType.LIMIT,
        3,
        Decimal(str(plan.target_price)).quantize(Decimal("0.01"), rounding=ROUND_UP),
    )
    assert stop.oca_group == target.oca_group is not None
    assert [d for d in observed.effects.decisions if d.kind == "protect"] == []

    # IB fills 1 of the stop and reduces the target to 2 (OCA type 3): the book mirrors it
    stop_order = next(o for o in engine.orders() if o.intent_id == stop.intent_id)
    target_order = next(o for o in engine.orders() if o.intent_id == target.intent_id)
    second = first + timedelta(minutes=1)
    sold = fill_of(stop_order, 1, 2, price="0.50").model_copy(update={"ts": second - timedelta(seconds=20)})
    after = engine.observe(
        second,
        BrokerReport(
            (sold,),
            replace(
                book,
                at=second,
                positions={order.contract.occ_symbol: 2},
                execution_ids=frozenset({fill.fill_id, sold.fill_id}),
            ),
        ),
    )
    reduced = [e for e in after.effects.orders if e.order_id == target_order.order_id]
    assert reduced[-1].quantity == 2
    (held,) = engine.portfolio.open_positions
    assert held.quantity == 2 and engine.broker_mismatch == ""


def test_protection_the_broker_rejected_is_placed_again_the_next_minute() -> None:
    engine, order = entered()
    first = SESSION.open_et + timedelta(minutes=ENTRY_MINUTE + 1)
    fill = fill_of(order, 2, 1).model_copy(update={"ts": first - timedelta(seconds=30)})
    book = BrokerBook(first, {order.contract.occ_symbol: 2}, frozenset({fill.fill_id}))
    engine.observe(first, BrokerReport((fill,), book))
    placed = protection_of_fill(order, fill)
    rejected = [
        OrderReport(o.order_id, OrderStatus.REJECTED, first, "IB error 201: order rejected")
        for o in engine.orders()
        if o.intent_id in {c.intent_id for c in placed}
    ]
    assert len(rejected) == 2

    second = first + timedelta(minutes=1)
    again = engine.observe(second, BrokerReport(tuple(rejected), replace(book, at=second)))

    replaced = [c.intent for c in again.effects.commands if isinstance(c, PlaceOrder)]
    assert sorted(i.order_type.value for i in replaced) == ["LIMIT", "STOP"]
    assert {i.quantity for i in replaced} == {2} and {i.intent_id for i in replaced}.isdisjoint(
        {c.intent_id for c in placed}
    )
