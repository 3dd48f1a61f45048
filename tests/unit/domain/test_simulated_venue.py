from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from smart0dte.domain.models import (
    DomainError,
    OptionContract,
    OptionQuote,
    OptionRight,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    TradingMode,
    idempotency_key,
)
from smart0dte.domain.simulated_venue import SimulatedVenue
from smart0dte.domain.venue import BrokerCosts, VenueEventKind

T0 = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)
AT_SUBMISSION = BrokerCosts(latency_s=0)
"""Zero latency (a research option): an order trades at once against the quote it is given, so a
test of the fill rules needs no second quote."""
NO_FEES = BrokerCosts(
    latency_s=0,
    orf_per_contract_usd=Decimal(0),
    occ_clearing_per_contract_usd=Decimal(0),
    cat_per_contract_usd=Decimal(0),
    finra_taf_per_contract_sold_usd=Decimal(0),
)
"""The IB commission alone: tiers and the order minimum."""
CALL = OptionContract(root="SPY", expiry=date(2025, 3, 14), right=OptionRight.CALL, strike=562)


def quote(bid: float, ask: float, bid_size: int = 50, ask_size: int = 50) -> OptionQuote:
    return OptionQuote(contract=CALL, bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size)


def intent(
    quantity: int = 2,
    limit: str | None = "1.10",
    side: Side = Side.BUY,
    key: str = "signal-1",
    order_type: OrderType = OrderType.LIMIT,
    stop_price: str | None = None,
    oca_group: str | None = None,
) -> OrderIntent:
    return OrderIntent(
        intent_id=idempotency_key(key),
        mode=TradingMode.PAPER,
        ts=T0,
        contract=CALL,
        side=side,
        quantity=quantity,
        order_type=order_type,
        limit_price=Decimal(limit) if limit else None,
        stop_price=Decimal(stop_price) if stop_price else None,
        oca_group=oca_group,
        reason="test",
    )


def test_marketable_buy_fills_at_the_ask_plus_slippage_with_commission() -> None:
    broker = SimulatedVenue(BrokerCosts(latency_s=0, slippage_per_share_usd=Decimal("0.01")))
    update = broker.submit(intent(), quote(1.00, 1.05), T0)
    (fill,) = update.fills
    # 2 x 0.65 commission + 2 x (ORF 0.01915 + OCC 0.02 + CAT 0.0048) = 1.3879
    assert (fill.price, fill.quantity, fill.commission_usd) == (Decimal("1.06"), 2, Decimal("1.39"))
    assert update.orders[-1].status is OrderStatus.FILLED
    assert broker.working_orders() == []


def test_partial_fill_by_displayed_size_then_the_rest_on_a_later_quote() -> None:
    broker = SimulatedVenue(AT_SUBMISSION)
    first = broker.submit(intent(quantity=10), quote(1.00, 1.05, ask_size=4), T0)
    assert [f.quantity for f in first.fills] == [4]
    assert first.orders[-1].status is OrderStatus.PARTIALLY_FILLED
    later = broker.on_quote(quote(1.00, 1.04, ask_size=100), T0 + timedelta(minutes=1))
    # The remainder rested, so it fills at its limit, not at the better ask.
    assert [(f.quantity, f.price) for f in later.fills] == [(6, Decimal("1.10"))]
    assert broker.order(first.orders[0].order_id).status is OrderStatus.FILLED
    assert broker.order(first.orders[0].order_id).avg_fill_price == Decimal(
        "1.0800"
    )  # (4 x 1.05 + 6 x 1.10) / 10


def test_no_usable_quote_rejects() -> None:
    broker = SimulatedVenue()
    assert broker.submit(intent(key="a"), None, T0).orders[0].status is OrderStatus.REJECTED
    crossed = broker.submit(intent(key="b"), quote(1.10, 1.05), T0).orders[0]
    assert crossed.status is OrderStatus.REJECTED
    assert crossed.reason == "no usable quote for the contract"


def test_a_retried_intent_never_creates_a_second_order_or_fill() -> None:
    broker = SimulatedVenue(AT_SUBMISSION)
    first = broker.submit(intent(), quote(1.00, 1.05), T0)
    retry = broker.submit(intent(), quote(1.00, 1.05), T0 + timedelta(seconds=3))
    assert retry.events == () and retry.commands == ()
    (order,) = broker.orders()
    assert order.order_id == first.orders[0].order_id and order.filled_quantity == 2


def test_resting_limit_fills_at_its_limit_when_crossed() -> None:
    broker = SimulatedVenue()
    update = broker.submit(intent(limit="0.95"), quote(1.00, 1.05), T0)
    assert update.fills == ()
    assert update.orders[0].status is OrderStatus.SUBMITTED
    assert broker.on_quote(quote(0.90, 0.97), T0 + timedelta(minutes=1)).fills == ()
    (fill,) = broker.on_quote(quote(0.85, 0.90), T0 + timedelta(minutes=2)).fills
    assert fill.price == Decimal("0.95")


def test_latency_keeps_an_order_from_trading_on_quotes_before_it_is_live() -> None:
    broker = SimulatedVenue(BrokerCosts(latency_s=5))
    assert broker.submit(intent(), quote(1.00, 1.05), T0).fills == ()
    assert broker.on_quote(quote(1.00, 1.05), T0 + timedelta(seconds=4)).fills == ()
    (fill,) = broker.on_quote(quote(1.00, 1.07), T0 + timedelta(seconds=5)).fills
    assert (fill.price, fill.ts) == (Decimal("1.07"), T0 + timedelta(seconds=5))


def test_by_default_an_order_never_fills_on_the_snapshot_it_was_submitted_with() -> None:
    broker = SimulatedVenue()
    assert BrokerCosts().latency_s > 0 and not broker.fills_at_submission
    assert broker.submit(intent(), quote(1.00, 1.05), T0).fills == ()
    # the same snapshot again, at a later step (the next minute's sample is missing): no fill
    later = T0 + timedelta(minutes=1)
    assert broker.on_quote(quote(1.00, 1.05), later, quoted_at=T0).fills == ()
    # the next minute's snapshot: it trades there, at that quote's ask
    (fill,) = broker.on_quote(quote(1.02, 1.07), later, quoted_at=later).fills
    assert (fill.price, fill.ts) == (Decimal("1.07"), later)


@pytest.mark.parametrize(
    ("price", "quantity", "commission"),
    [
        ("2.00", 1, "1.00"),  # 0.65 is under the order minimum
        ("0.50", 2, "1.30"),  # premium >= 0.10: 0.65 a contract
        ("0.10", 4, "2.60"),
        ("0.075", 3, "1.50"),  # 0.05 <= premium < 0.10: 0.50 a contract
        ("0.03", 5, "1.25"),  # premium < 0.05: 0.25 a contract
        ("0.03", 2, "1.00"),
    ],
)
def test_commission_tiers_by_premium_with_a_minimum_per_order(
    price: str, quantity: int, commission: str
) -> None:
    # IBKR's own examples: 1 @ 2 = 1.00; 3 @ 0.075 = 1.50; 5 @ 0.03 = 1.25
    broker = SimulatedVenue(NO_FEES)
    (fill,) = broker.submit(
        intent(quantity, None, order_type=OrderType.MARKET), quote(0.01, float(price)), T0
    ).fills
    assert (fill.price, fill.commission_usd) == (
        Decimal(price).quantize(Decimal("0.01")),
        Decimal(commission),
    )


def test_a_partially_filled_order_pays_the_minimum_once() -> None:
    broker = SimulatedVenue(NO_FEES)
    first = broker.submit(intent(quantity=3), quote(1.00, 1.05, ask_size=1), T0)
    second = broker.on_quote(quote(1.00, 1.05, ask_size=1), T0 + timedelta(minutes=1))
    third = broker.on_quote(quote(1.00, 1.05, ask_size=1), T0 + timedelta(minutes=2))
    paid = [f.commission_usd for f in first.fills + second.fills + third.fills]
    # the order owes max(1.00, 3 x 0.65) = 1.95: the first fill the minimum, the others what it grew by
    assert paid == [Decimal("1.00"), Decimal("0.30"), Decimal("0.65")]
    # a second order pays its own minimum
    (other,) = broker.submit(intent(key="other", quantity=1), quote(1.00, 1.05), T0).fills
    assert other.commission_usd == Decimal("1.00")


def test_pass_through_fees_per_contract_the_taf_on_sales_only() -> None:
    costs = BrokerCosts(latency_s=0)
    broker = SimulatedVenue(costs)
    (bought,) = broker.submit(intent(quantity=36, limit="0.55"), quote(0.50, 0.55, ask_size=99), T0).fills
    (sold,) = broker.submit(
        intent(quantity=36, limit="0.46", side=Side.SELL, key="sell"), quote(0.46, 0.50, bid_size=99), T0
    ).fills
    per_contract = (
        costs.orf_per_contract_usd + costs.occ_clearing_per_contract_usd + costs.cat_per_contract_usd
    )
    assert per_contract == Decimal("0.04395")
    # 36 x 0.65 = 23.40; fees 36 x 0.04395 = 1.5822, and a sale's TAF 36 x 0.00279 = 0.10044
    assert bought.commission_usd == Decimal("24.98")
    assert sold.commission_usd == Decimal("25.08")


def test_the_charges_of_a_partly_filled_order_survive_the_wire() -> None:
    broker = SimulatedVenue(NO_FEES)
    broker.submit(intent(quantity=3), quote(1.00, 1.05, ask_size=1), T0)
    restored = SimulatedVenue.from_wire(broker.to_wire(), NO_FEES)
    (fill,) = restored.on_quote(quote(1.00, 1.05, ask_size=5), T0 + timedelta(minutes=1)).fills
    assert (fill.quantity, fill.commission_usd) == (2, Decimal("0.95"))  # 1.95 owed, 1.00 paid


def protective(quantity: int = 4) -> tuple[OrderIntent, OrderIntent]:
    """A stop at 0.85 and a target at 1.25 for `quantity`, one one-cancels-other group."""
    return (
        intent(quantity, None, Side.SELL, "stop", OrderType.STOP, stop_price="0.85", oca_group="group-1"),
        intent(quantity, "1.25", Side.SELL, "target", oca_group="group-1"),
    )


@pytest.mark.parametrize(
    ("later", "filled_type", "price"),
    [
        (quote(1.30, 1.35), OrderType.LIMIT, Decimal("1.25")),  # target reached: sells at the target
        (quote(0.80, 0.85), OrderType.STOP, Decimal("0.80")),  # stop triggered: sells at the bid
    ],
)
def test_a_one_cancels_other_group_cancels_the_other_when_one_fills(
    later: OptionQuote, filled_type: OrderType, price: Decimal
) -> None:
    broker = SimulatedVenue()
    orders = [broker.submit(i, quote(1.00, 1.05), T0).orders[0] for i in protective()]
    assert [o.status for o in orders] == [OrderStatus.SUBMITTED] * 2
    assert broker.on_quote(quote(1.00, 1.05), T0 + timedelta(minutes=1)).fills == ()
    update = broker.on_quote(later, T0 + timedelta(minutes=2))
    (fill,) = update.fills
    assert (fill.price, fill.quantity) == (price, 4)
    statuses = {broker.order(o.order_id).order_type: broker.order(o.order_id).status for o in orders}
    assert statuses[filled_type] is OrderStatus.FILLED
    other = OrderType.STOP if filled_type is OrderType.LIMIT else OrderType.LIMIT
    assert statuses[other] is OrderStatus.CANCELLED
    assert broker.working_orders() == []


def test_a_partial_fill_reduces_the_rest_of_its_group_and_a_quote_is_shared() -> None:
    broker = SimulatedVenue()
    stop, target = (broker.submit(i, None, T0).orders[0] for i in protective())
    # the target trades 1 of the 1 displayed: the stop now covers the 3 left
    update = broker.on_quote(quote(1.30, 1.35, bid_size=1), T0 + timedelta(minutes=1))
    assert [f.quantity for f in update.fills] == [1]
    reduced = [e for e in update.events if e.kind is VenueEventKind.REDUCED]
    assert [(e.order.order_id, e.order.quantity) for e in reduced] == [(stop.order_id, 3)]
    # the same quote again: its one contract is taken, nothing more trades
    assert broker.on_quote(quote(1.30, 1.35, bid_size=1), T0 + timedelta(minutes=1)).fills == ()
    assert broker.order(target.order_id).remaining_quantity == 3


def test_cancel_and_mode_checks() -> None:
    broker = SimulatedVenue()
    resting = broker.submit(intent(limit="0.50"), quote(1.00, 1.05), T0).orders[0]
    (cancelled,) = broker.cancel(resting.order_id, T0).events
    assert (cancelled.kind, cancelled.order.status) == (VenueEventKind.CANCELLED, OrderStatus.CANCELLED)
    with pytest.raises(DomainError, match="is not working"):
        broker.cancel(resting.order_id, T0)
    live = intent().model_copy(update={"mode": TradingMode.LIVE})
    with pytest.raises(DomainError, match="does not match venue mode=paper"):
        broker.submit(live, quote(1.00, 1.05), T0)
    for mode in (TradingMode.IBKR_PAPER, TradingMode.LIVE):
        with pytest.raises(DomainError, match=f"paper only; {mode.value} trades at the broker"):
            SimulatedVenue.create(BrokerCosts(), mode)


def test_costs_validation_names_the_field() -> None:
    with pytest.raises(DomainError, match="orf_per_contract_usd=-1"):
        BrokerCosts(orf_per_contract_usd=Decimal(-1))
    with pytest.raises(DomainError, match="minimum_per_order_usd=-1"):
        BrokerCosts(minimum_per_order_usd=Decimal(-1))
    with pytest.raises(DomainError, match="latency_s=61"):
        BrokerCosts(latency_s=61)
    with pytest.raises(DomainError, match=r"commission_tiers premiums=.*highest first"):
        BrokerCosts(commission_tiers=((Decimal(0), Decimal("0.25")), (Decimal("0.10"), Decimal("0.65"))))
    with pytest.raises(DomainError, match=r"last premium=0\.05 must be 0"):
        BrokerCosts(commission_tiers=((Decimal("0.05"), Decimal("0.50")),))
    with pytest.raises(DomainError, match=r"rates=.*must be >= 0"):
        BrokerCosts(commission_tiers=((Decimal(0), Decimal("-0.25")),))


def test_a_sell_is_accepted_without_a_bid_and_a_market_sell_fills_at_the_no_bid_price() -> None:
    broker = SimulatedVenue(AT_SUBMISSION)
    # a limit rests without a bid; no quote at all still accepts the order
    limit = broker.submit(intent(side=Side.SELL, key="lim", limit="0.05"), quote(0.0, 0.05, 0), T0)
    assert limit.orders[0].status is OrderStatus.SUBMITTED and limit.fills == ()
    assert broker.submit(intent(side=Side.SELL, key="none", limit="0.05"), None, T0).fills == ()
    # out of the money (SPY 560 < strike 562): the whole quantity at the minimum tick
    (otm,) = broker.submit(
        intent(quantity=7, side=Side.SELL, key="otm", limit=None, order_type=OrderType.MARKET),
        quote(0.0, 0.0, 0, 0),
        T0,
        underlying_usd=560.0,
    ).fills
    assert (otm.quantity, otm.price) == (7, Decimal("0.01"))
    # in the money (SPY 565.237): intrinsic 3.237, rounded down to the tick
    (itm,) = broker.submit(
        intent(quantity=3, side=Side.SELL, key="itm", limit=None, order_type=OrderType.MARKET),
        quote(0.0, 0.0, 0, 0),
        T0,
        underlying_usd=565.237,
    ).fills
    assert (itm.quantity, itm.price) == (3, Decimal("3.23"))


def test_a_sell_larger_than_the_bid_fills_what_it_shows_and_the_rest_keeps_working() -> None:
    broker = SimulatedVenue(AT_SUBMISSION)
    first = broker.submit(intent(quantity=5, side=Side.SELL, limit="1.00"), quote(1.00, 1.05, bid_size=2), T0)
    assert [f.quantity for f in first.fills] == [2]
    (working,) = broker.working_orders()
    assert working.remaining_quantity == 3
    later = broker.on_quote(quote(1.01, 1.06, bid_size=2), T0 + timedelta(minutes=1))
    assert [(f.quantity, f.price) for f in later.fills] == [(2, Decimal("1.00"))]  # rested: its limit
    # a crossed or one-sided quote still has a bid a seller can hit
    (last,) = broker.on_quote(quote(1.02, 0.0, bid_size=9), T0 + timedelta(minutes=2)).fills
    assert last.quantity == 1 and broker.working_orders() == []
