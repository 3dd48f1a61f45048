from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from smart0dte.domain.models import (
    ORDER_TRANSITIONS,
    Bar,
    ChainSnapshot,
    DomainError,
    Fill,
    IllegalTransition,
    OptionContract,
    OptionQuote,
    OptionRight,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    Signal,
    TradingMode,
    Underlying,
    idempotency_key,
)

T0 = datetime(2025, 3, 14, 14, 31, tzinfo=UTC)
SPY_CALL = OptionContract(root="SPY", expiry=date(2025, 3, 14), right=OptionRight.CALL, strike=590)


# --- OCC symbology -------------------------------------------------------------------------


def test_occ_symbol_matches_the_published_format() -> None:
    assert SPY_CALL.occ_symbol == "SPY   250314C00590000"
    assert OptionContract.from_occ("SPY   250314C00590000") == SPY_CALL
    assert OptionContract.from_occ("SPY250314C00590000") == SPY_CALL
    half = OptionContract.from_occ("QQQ   250314P00480500")
    assert (half.root, half.right, half.strike) == ("QQQ", OptionRight.PUT, 480.5)
    assert half.underlying is Underlying.QQQ


@given(
    root=st.from_regex(r"[A-Z0-9]{1,6}", fullmatch=True),
    expiry=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    right=st.sampled_from(OptionRight),
    strike_milli=st.integers(min_value=1, max_value=99_999_999),
)
def test_occ_round_trip(root: str, expiry: date, right: OptionRight, strike_milli: int) -> None:
    contract = OptionContract(root=root, expiry=expiry, right=right, strike=strike_milli / 1000)
    symbol = contract.occ_symbol
    assert len(symbol) == 21
    assert contract.strike_milli == strike_milli
    assert OptionContract.from_occ(symbol) == contract
    assert OptionContract.from_occ(symbol.replace(" ", "")) == contract


@pytest.mark.parametrize(
    "bad",
    [
        "SPY 250314C00590000",  # padded, but not to 6
        "SPY   250314X00590000",  # right must be C or P
        "SPY   250314C0059000",  # strike has 7 digits
        "SPY   251314C00590000",  # month 13
        "TOOLONG250314C00590000",
        "spy   250314C00590000",
        "",
    ],
)
def test_malformed_occ_symbols_are_refused_by_name(bad: str) -> None:
    with pytest.raises(DomainError, match="occ_symbol="):
        OptionContract.from_occ(bad)


def test_contract_validation_names_field_and_limit() -> None:
    with pytest.raises(ValidationError, match=r"strike\n.*greater than 0"):
        OptionContract(root="SPY", expiry=date(2025, 3, 14), right=OptionRight.CALL, strike=0)
    with pytest.raises(ValidationError, match=r"multiple of 0\.001"):
        OptionContract(root="SPY", expiry=date(2025, 3, 14), right=OptionRight.CALL, strike=590.0001)
    with pytest.raises(ValidationError, match="root"):
        OptionContract(root="SPY_X", expiry=date(2025, 3, 14), right=OptionRight.CALL, strike=590)


# --- market data ---------------------------------------------------------------------------


def test_bar_requires_consistent_ohlc_and_aware_time() -> None:
    Bar(symbol="SPY", ts=T0, open=1, high=2, low=0.5, close=1.5, volume=10)
    with pytest.raises(ValidationError, match="low <= open, close <= high"):
        Bar(symbol="SPY", ts=T0, open=1, high=1.2, low=0.5, close=1.5, volume=10)
    with pytest.raises(ValidationError, match="timezone-aware"):
        Bar(symbol="SPY", ts=T0.replace(tzinfo=None), open=1, high=2, low=0.5, close=1.5, volume=10)
    with pytest.raises(ValidationError, match=r"volume\n.*greater than or equal to 0"):
        Bar(symbol="SPY", ts=T0, open=1, high=2, low=0.5, close=1.5, volume=-1)


@pytest.mark.parametrize(
    ("bid", "ask", "usable"),
    [(1.0, 1.1, True), (0.0, 0.05, False), (1.2, 1.1, False), (1.0, 0.0, False)],
)
def test_only_two_sided_uncrossed_quotes_are_usable(bid: float, ask: float, usable: bool) -> None:
    assert Quote(symbol="SPY", ts=T0, bid=bid, ask=ask, bid_size=1, ask_size=1).is_usable is usable
    assert OptionQuote(contract=SPY_CALL, bid=bid, ask=ask, bid_size=1, ask_size=1).is_usable is usable


def test_chain_snapshot_holds_one_underlying_and_expiry() -> None:
    put = SPY_CALL.model_copy(update={"right": OptionRight.PUT})
    quotes = tuple(OptionQuote(contract=c, bid=1, ask=1.1, bid_size=5, ask_size=5) for c in (SPY_CALL, put))
    chain = ChainSnapshot(
        underlying=Underlying.SPY, ts=T0, expiry=SPY_CALL.expiry, underlying_price=590.2, quotes=quotes
    )
    assert chain.quote_for(put) == quotes[1]
    assert chain.quote_for(SPY_CALL.model_copy(update={"strike": 595.0})) is None
    other = OptionContract(root="QQQ", expiry=SPY_CALL.expiry, right=OptionRight.CALL, strike=480)
    with pytest.raises(ValidationError, match="QQQ   250314C00480000"):
        ChainSnapshot(
            underlying=Underlying.SPY,
            ts=T0,
            expiry=SPY_CALL.expiry,
            underlying_price=590.2,
            quotes=(OptionQuote(contract=other, bid=1, ask=1.1, bid_size=5, ask_size=5),),
        )


def test_signal_confidence_range_and_tradable_underlying() -> None:
    common = {
        "signal_id": "s1",
        "ts": T0,
        "direction": OptionRight.CALL,
        "strategy": "momentum",
        "rationale": "r",
    }
    with pytest.raises(ValidationError, match=r"confidence\n.*less than or equal to 1"):
        Signal(underlying=Underlying.SPY, confidence=1.2, **common)
    with pytest.raises(ValidationError, match="underlying=VIX is an index"):
        Signal(underlying=Underlying.VIX, confidence=0.8, **common)


# --- orders --------------------------------------------------------------------------------


def _intent(**overrides: object) -> OrderIntent:
    fields: dict[str, object] = {
        "intent_id": idempotency_key("paper", "2025-03-14", "s1", SPY_CALL.occ_symbol, "BUY"),
        "mode": TradingMode.PAPER,
        "ts": T0,
        "contract": SPY_CALL,
        "side": Side.BUY,
        "quantity": 3,
        "limit_price": Decimal("1.25"),
        "reason": "momentum breakout",
    }
    fields.update(overrides)
    return OrderIntent(**fields)  # type: ignore[arg-type]


def test_idempotency_key_is_stable_and_distinct() -> None:
    assert idempotency_key("a", 1) == idempotency_key("a", 1)
    assert idempotency_key("a", 1) != idempotency_key("a", 2)
    assert len(idempotency_key("a")) == 32


def test_order_intent_requires_price_for_limit_and_no_price_for_market() -> None:
    with pytest.raises(ValidationError, match="limit_price is required"):
        _intent(limit_price=None)
    with pytest.raises(ValidationError, match="limit_price must be empty"):
        _intent(order_type=OrderType.MARKET)
    with pytest.raises(ValidationError, match=r"quantity\n.*greater than 0"):
        _intent(quantity=0)


@pytest.mark.parametrize(("source", "target"), list(product(OrderStatus, OrderStatus)))
def test_order_status_transitions_follow_the_table(source: OrderStatus, target: OrderStatus) -> None:
    order = Order.from_intent(_intent(), order_id="o1").model_copy(update={"status": source})
    later = T0 + timedelta(seconds=1)
    if target in ORDER_TRANSITIONS[source]:
        moved = order.transition(target, later, reason="test")
        assert (moved.status, moved.updated_at) == (target, later)
        assert order.status is source  # the original is unchanged
    else:
        with pytest.raises(IllegalTransition, match=f"{source.value} -> {target.value}"):
            order.transition(target, later)


def test_terminal_statuses_have_no_way_out() -> None:
    terminal = {s for s in OrderStatus if s.is_terminal}
    assert terminal == {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
    assert all(not ORDER_TRANSITIONS[s] for s in terminal)


def _fill(order: Order, fill_id: str, quantity: int, price: str) -> Fill:
    return Fill(
        fill_id=fill_id,
        order_id=order.order_id,
        intent_id=order.intent_id,
        ts=T0,
        contract=order.contract,
        side=order.side,
        quantity=quantity,
        price=Decimal(price),
        commission_usd=Decimal("0.65") * quantity,
    )


def test_fills_move_an_order_to_partially_filled_then_filled_with_average_price() -> None:
    order = Order.from_intent(_intent(), order_id="o1").transition(OrderStatus.SUBMITTED, T0)
    order = order.apply_fill(_fill(order, "f1", 1, "1.20"))
    assert (order.status, order.filled_quantity, order.avg_fill_price) == (
        OrderStatus.PARTIALLY_FILLED,
        1,
        Decimal("1.2000"),
    )
    order = order.apply_fill(_fill(order, "f2", 2, "1.26"))
    assert (order.status, order.filled_quantity, order.avg_fill_price) == (
        OrderStatus.FILLED,
        3,
        Decimal("1.2400"),
    )
    assert _fill(order, "f3", 2, "1.26").notional_usd == Decimal("252.00")


def test_overfill_and_foreign_fill_are_refused() -> None:
    order = Order.from_intent(_intent(), order_id="o1").transition(OrderStatus.SUBMITTED, T0)
    with pytest.raises(DomainError, match="exceeds remaining_quantity=3"):
        order.apply_fill(_fill(order, "f1", 4, "1.20"))
    foreign = _fill(order, "f1", 1, "1.20").model_copy(update={"order_id": "other"})
    with pytest.raises(DomainError, match="does not belong"):
        order.apply_fill(foreign)


def test_fill_on_a_cancelled_order_is_an_illegal_transition() -> None:
    order = Order.from_intent(_intent(), order_id="o1").transition(OrderStatus.CANCELLED, T0)
    with pytest.raises(IllegalTransition):
        order.apply_fill(_fill(order, "f1", 1, "1.20"))


def test_position_pnl_is_in_cents_per_contract_multiplier() -> None:
    position = Position(
        position_id="p1",
        mode=TradingMode.PAPER,
        contract=SPY_CALL,
        quantity=2,
        entry_price=Decimal("1.25"),
        opened_at=T0,
        strategy="momentum",
    )
    assert position.cost_basis_usd == Decimal("250.00")
    assert position.pnl_usd(Decimal("1.5625")) == Decimal("62.50")
    assert position.pnl_fraction(Decimal("1.0625")) == pytest.approx(-0.15)
