"""Each fault of the chaos harness's in-memory IB, seen through the real IBKR adapter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from smart0dte.adapters.ibkr.broker import IbkrBroker
from smart0dte.domain.models import (
    OptionContract,
    OptionQuote,
    OptionRight,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    TradingMode,
)
from smart0dte.local.chaos import FaultKind, plan_faults
from smart0dte.local.chaos_ib import REJECTION, ChaosExchange, ChaosIB

ACCOUNT = "DU7654321"
AT = datetime(2025, 3, 13, 14, 0, tzinfo=UTC)
CALL = OptionContract(root="SPY", expiry=date(2025, 3, 13), right=OptionRight.CALL, strike=560)


def intent(
    n: int, side: Side, quantity: int, kind: OrderType = OrderType.LIMIT, **prices: object
) -> OrderIntent:
    return OrderIntent(
        intent_id=f"chaos-intent-{n:08d}",
        mode=TradingMode.IBKR_PAPER,
        ts=AT,
        contract=CALL,
        side=side,
        quantity=quantity,
        order_type=kind,
        reason="chaos unit test",
        **prices,
    )


def quote(bid: str, ask: str, size: int = 50) -> dict[str, OptionQuote]:
    q = OptionQuote(contract=CALL, bid=float(bid), ask=float(ask), bid_size=size, ask_size=size)
    return {CALL.occ_symbol: q}


@pytest.fixture
def exchange() -> ChaosExchange:
    return ChaosExchange(ACCOUNT)


def broker(exchange: ChaosExchange) -> IbkrBroker:
    return IbkrBroker(ChaosIB(exchange), ACCOUNT, ack_wait_s=0.3, now=lambda: AT)


def test_a_marketable_buy_fills_at_the_ask_and_a_resting_one_waits(exchange: ChaosExchange) -> None:
    ib = broker(exchange)
    ib.submit(intent(1, Side.BUY, 3, limit_price=Decimal("1.20")))
    assert exchange.match(quote("1.25", "1.30"), AT) == []
    (done,) = exchange.match(quote("1.15", "1.18"), AT)
    assert (done.fill.execution.shares, done.fill.execution.price) == (3, 1.18)
    assert exchange.positions == {CALL.occ_symbol: 3}
    assert [f.quantity for f in ib.executions(AT - timedelta(hours=1))] == [3]


def test_a_stop_fills_at_the_bid_once_touched_and_its_oca_target_is_reduced_then_cancelled(
    exchange: ChaosExchange,
) -> None:
    ib = broker(exchange)
    ib.submit(intent(1, Side.BUY, 4, limit_price=Decimal("1.20")))
    exchange.match(quote("1.15", "1.20"), AT)
    ib.submit(intent(2, Side.SELL, 4, OrderType.STOP, stop_price=Decimal("0.80"), oca_group="grp-1"))
    ib.submit(intent(3, Side.SELL, 4, limit_price=Decimal("2.00"), oca_group="grp-1"))
    assert exchange.stop_cover(CALL.occ_symbol) == 4
    exchange.match(quote("0.85", "0.90"), AT)
    assert exchange.positions[CALL.occ_symbol] == 4
    exchange.match(quote("0.78", "0.82", size=3), AT)  # touched: 3 at the bid, the target loses 3
    assert exchange.positions[CALL.occ_symbol] == 1
    (target,) = [t for t in exchange.working() if t.order.orderType == "LMT"]
    assert target.order.totalQuantity == 1
    exchange.match(quote("0.79", "0.85"), AT)  # the triggered stop keeps selling at the bid
    assert exchange.positions[CALL.occ_symbol] == 0
    assert exchange.working() == []


def test_a_rejection_reaches_the_adapter_as_rejected_with_ibs_code_and_text(exchange: ChaosExchange) -> None:
    exchange.reject_next = 1
    ack = broker(exchange).submit(intent(1, Side.BUY, 1, limit_price=Decimal("1.00")))
    assert ack.status is OrderStatus.REJECTED
    assert ack.detail.startswith(f"IB error {REJECTION[0]}: ") and REJECTION[1] in ack.detail
    assert exchange.fired == {FaultKind.REJECTION.value: 1}


def test_a_disconnect_mid_order_leaves_the_order_at_ib_and_the_retry_places_nothing_new(
    exchange: ChaosExchange,
) -> None:
    exchange.drop_mid_order = 1
    entry = intent(1, Side.BUY, 2, limit_price=Decimal("1.00"))
    with pytest.raises(ConnectionError):
        broker(exchange).submit(entry)
    assert len(exchange.trades) == 1
    again = broker(exchange).submit(entry)  # a new connection, the message redelivered
    assert again.already_known and len(exchange.trades) == 1


def test_executions_reported_twice_and_shuffled_come_out_once_each_in_time_order(
    exchange: ChaosExchange,
) -> None:
    ib = broker(exchange)
    ib.submit(intent(1, Side.BUY, 6, limit_price=Decimal("1.20")))
    exchange.partial_next = 1
    for minute in range(3):
        exchange.match(quote("1.10", "1.15", size=50), AT + timedelta(minutes=minute))
    exchange.messy_executions = 1
    fills = ib.executions(AT - timedelta(hours=1))
    assert [f.quantity for f in fills] == [3, 3]
    assert len({f.fill_id for f in fills}) == 2 and fills[0].ts < fills[1].ts
    assert exchange.fired == {"partial_fill": 1, "duplicated_executions": 1}


def test_the_fault_plan_is_seeded_and_counts_every_fault() -> None:
    minutes = [AT + timedelta(minutes=i) for i in range(30)]
    plan = plan_faults(50, 3, minutes)
    assert plan == plan_faults(50, 3, minutes)
    assert sum(len(kinds) for kinds in plan.values()) == 50
    assert set(plan) <= set(minutes)
    with pytest.raises(ValueError, match="faults=-1 must be >= 0"):
        plan_faults(-1, 3, minutes)
