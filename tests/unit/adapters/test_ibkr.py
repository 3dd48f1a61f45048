"""IbkrBroker against an in-memory IB built from ib_async's own classes (no network)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import ib_async
import pytest

from smart0dte.adapters.ibkr import broker as ibkr
from smart0dte.adapters.ibkr.broker import IbkrBroker, IbkrError, UnknownOrderStatus, map_order_status
from smart0dte.domain.models import (
    OptionContract,
    OptionRight,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    TradingMode,
)
from smart0dte.ports import BrokerPosition

from ...fake_ib import PAPER, FakeIB, option

LIVE = "U7654321"
EXPIRY = date(2025, 3, 14)
NOW = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)
SPY_C590 = OptionContract(root="SPY", expiry=EXPIRY, right=OptionRight.CALL, strike=590)
SPY_P585 = OptionContract(root="SPY", expiry=EXPIRY, right=OptionRight.PUT, strike=585)
UNKNOWN = OptionContract(root="SPY", expiry=EXPIRY, right=OptionRight.CALL, strike=1234)


def intent(
    intent_id: str = "intent-0000000001",
    *,
    mode: TradingMode = TradingMode.IBKR_PAPER,
    contract: OptionContract = SPY_C590,
    side: Side = Side.BUY,
    quantity: int = 2,
    order_type: OrderType = OrderType.LIMIT,
    limit_price: str | None = "1.25",
    stop_price: str | None = None,
    oca_group: str | None = None,
) -> OrderIntent:
    return OrderIntent(
        intent_id=intent_id,
        mode=mode,
        ts=NOW,
        contract=contract,
        side=side,
        quantity=quantity,
        order_type=order_type,
        limit_price=None if limit_price is None else Decimal(limit_price),
        stop_price=None if stop_price is None else Decimal(stop_price),
        oca_group=oca_group,
        reason="test",
    )


@pytest.fixture
def ib() -> FakeIB:
    return FakeIB()


@pytest.fixture
def broker(ib: FakeIB) -> IbkrBroker:
    return IbkrBroker(ib, PAPER, now=lambda: NOW)


# --- submit --------------------------------------------------------------------------------


def test_submit_places_a_day_limit_order_tagged_with_the_intent_id(ib: FakeIB, broker: IbkrBroker) -> None:
    ack = broker.submit(intent())

    [order] = ib.placed
    assert (order.orderType, order.action, order.totalQuantity, order.lmtPrice) == ("LMT", "BUY", 2, 1.25)
    assert (order.orderRef, order.account, order.tif, order.transmit) == (
        "intent-0000000001",
        PAPER,
        "DAY",
        True,
    )
    contract = ib.trades()[0].contract
    assert (contract.secType, contract.conId, contract.exchange, contract.multiplier) == (
        "OPT",
        1001,
        "SMART",
        "100",
    )
    assert ib.sleeps >= 1  # waited for IB's acknowledgement
    assert ack.intent_id == "intent-0000000001"
    assert ack.broker_order_id == order.permId != 0
    assert (ack.status, ack.filled_quantity, ack.already_known) == (OrderStatus.SUBMITTED, 0, False)


def test_a_protective_pair_goes_out_as_a_stop_and_a_limit_in_one_oca_group(
    ib: FakeIB, broker: IbkrBroker
) -> None:
    broker.submit(
        intent(
            "intent-0000000007",
            side=Side.SELL,
            order_type=OrderType.STOP,
            limit_price=None,
            stop_price="0.60",
            oca_group="g-1",
        )
    )
    broker.submit(intent("intent-0000000008", side=Side.SELL, limit_price="2.50", oca_group="g-1"))

    stop, target = ib.placed
    assert (stop.orderType, stop.action, stop.auxPrice, stop.orderRef) == (
        "STP",
        "SELL",
        0.60,
        "intent-0000000007",
    )
    assert (target.orderType, target.lmtPrice, target.orderRef) == ("LMT", 2.50, "intent-0000000008")
    assert {(o.ocaGroup, o.ocaType) for o in (stop, target)} == {("g-1", 3)}  # a fill reduces the other


def test_submitting_the_same_intent_twice_places_one_order(ib: FakeIB, broker: IbkrBroker) -> None:
    first = broker.submit(intent())
    second = broker.submit(intent())

    assert len(ib.placed) == 1
    assert second.already_known is True
    assert second.broker_order_id == first.broker_order_id
    assert second.status is OrderStatus.SUBMITTED


def test_a_filled_order_of_the_session_still_counts_as_known(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent())
    ib.execute(ib.trades()[0], 2, 1.25, NOW)
    assert ib.openTrades() == []

    ack = broker.submit(intent())

    assert len(ib.placed) == 1
    assert (ack.already_known, ack.status, ack.filled_quantity) == (True, OrderStatus.FILLED, 2)


def test_an_ack_reports_partial_fills(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent(quantity=3))
    ib.execute(ib.trades()[0], 1, 1.25, NOW)

    ack = broker.submit(intent(quantity=3))

    assert (ack.status, ack.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 1)


def test_a_market_order_has_no_limit_price(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent(order_type=OrderType.MARKET, limit_price=None, side=Side.SELL))

    [order] = ib.placed
    assert (order.orderType, order.action, order.orderRef, order.tif) == (
        "MKT",
        "SELL",
        "intent-0000000001",
        "DAY",
    )


def test_fills_of_a_protective_pair_map_back_to_their_own_intents(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent())
    stop_intent = intent(
        "intent-0000000002",
        side=Side.SELL,
        order_type=OrderType.STOP,
        limit_price=None,
        stop_price="0.60",
        oca_group="g",
    )
    broker.submit(stop_intent)
    broker.submit(intent("intent-0000000003", side=Side.SELL, limit_price="2.50", oca_group="g"))
    entry, stop, target = ib.trades()
    ib.execute(entry, 2, 1.25, NOW)
    ib.execute(target, 2, 2.5, NOW + timedelta(minutes=5))

    bought, sold = broker.executions(NOW)

    assert (bought.intent_id, bought.side, bought.order_id) == (
        "intent-0000000001",
        Side.BUY,
        str(entry.order.permId),
    )
    assert (sold.intent_id, sold.side, sold.order_id, sold.price) == (
        "intent-0000000003",
        Side.SELL,
        str(target.order.permId),
        Decimal("2.50"),
    )
    assert stop.order.ocaGroup == target.order.ocaGroup == "g"


@pytest.mark.parametrize("account", [PAPER, "DF7654321"])
def test_a_live_intent_is_refused_on_an_ib_paper_account(account: str) -> None:
    ib = FakeIB(accounts=(account,))
    broker = IbkrBroker(ib, account)
    with pytest.raises(ValueError, match=rf"mode=live refused: account {account} is an IB paper account"):
        broker.submit(intent(mode=TradingMode.LIVE))
    assert ib.placed == []

    broker.submit(intent(mode=TradingMode.IBKR_PAPER))
    assert [o.account for o in ib.placed] == [account]


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        (TradingMode.IBKR_PAPER, rf"account {LIVE} is a live account: ibkr_paper trades only an IB paper"),
        (TradingMode.PAPER, "mode paper trades on the simulated venue, never on an IB account"),
    ],
)
def test_an_ibkr_paper_or_paper_intent_is_refused_on_a_live_account(mode: TradingMode, why: str) -> None:
    ib = FakeIB(accounts=(LIVE,))
    broker = IbkrBroker(ib, LIVE)
    with pytest.raises(ValueError, match=rf"mode={mode.value} refused: {why}"):
        broker.submit(intent(mode=mode))
    assert ib.placed == []

    broker.submit(intent(mode=TradingMode.LIVE))
    assert [o.account for o in ib.placed] == [LIVE]


def test_a_paper_intent_never_reaches_an_ib_paper_account(ib: FakeIB, broker: IbkrBroker) -> None:
    with pytest.raises(ValueError, match="mode=paper refused: mode paper trades on the simulated venue"):
        broker.submit(intent(mode=TradingMode.PAPER))
    assert ib.placed == []


def test_an_option_ib_cannot_qualify_is_refused_by_its_occ_symbol(ib: FakeIB, broker: IbkrBroker) -> None:
    with pytest.raises(IbkrError, match=r"SPY   250314C01234000"):
        broker.submit(intent(contract=UNKNOWN))
    assert ib.placed == []


def test_submit_refuses_an_account_the_login_does_not_manage(ib: FakeIB) -> None:
    broker = IbkrBroker(ib, "DU0000001")
    with pytest.raises(IbkrError, match=rf"DU0000001.*{PAPER}"):
        broker.submit(intent())
    assert ib.placed == []


# --- status mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ib_status", "filled", "expected"),
    [
        ("PendingSubmit", 0, OrderStatus.PENDING_SUBMIT),
        ("ApiPending", 0, OrderStatus.PENDING_SUBMIT),
        ("PreSubmitted", 0, OrderStatus.SUBMITTED),
        ("Submitted", 0, OrderStatus.SUBMITTED),
        ("Submitted", 1, OrderStatus.PARTIALLY_FILLED),
        ("ValidationError", 0, OrderStatus.SUBMITTED),
        ("PendingCancel", 1, OrderStatus.PENDING_CANCEL),
        ("Cancelled", 1, OrderStatus.CANCELLED),
        ("ApiCancelled", 0, OrderStatus.CANCELLED),
        ("Filled", 2, OrderStatus.FILLED),
        ("Inactive", 0, OrderStatus.REJECTED),
    ],
)
def test_ib_statuses_map_to_domain_statuses(ib_status: str, filled: float, expected: OrderStatus) -> None:
    assert map_order_status(ib_status, filled) is expected


@pytest.mark.parametrize("ib_status", ["", "Done", "submitted"])
def test_an_unknown_ib_status_raises(ib_status: str) -> None:
    with pytest.raises(UnknownOrderStatus, match=repr(ib_status)):
        map_order_status(ib_status)


def test_every_ib_async_status_constant_is_mapped() -> None:
    names = [v for k, v in vars(ib_async.OrderStatus).items() if k[0].isupper() and isinstance(v, str)]
    assert len(names) >= 9
    for name in names:
        map_order_status(name)


# --- cancel --------------------------------------------------------------------------------


def test_cancel_touches_only_the_working_orders_of_that_intent(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent("intent-aaaaaaaaaa", side=Side.SELL, limit_price="2.50", oca_group="g"))
    broker.submit(intent("intent-bbbbbbbbbb", side=Side.SELL, limit_price="2.60", oca_group="g"))
    mine, other = ib.trades()

    assert broker.cancel("intent-aaaaaaaaaa") is True

    assert ib.cancelled == [mine.order]
    assert other.orderStatus.status == "Submitted"


def test_cancel_returns_false_when_nothing_is_working(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent())
    ib.execute(ib.trades()[0], 2, 1.25, NOW)

    assert broker.cancel("intent-0000000001") is False
    assert broker.cancel("intent-unknown0000") is False
    assert ib.cancelled == []


def test_cancel_does_not_resend_a_pending_cancel(ib: FakeIB, broker: IbkrBroker) -> None:
    ib.confirm_cancels = False
    broker.submit(intent())
    assert broker.cancel("intent-0000000001") is True
    assert broker.cancel("intent-0000000001") is True  # still working until IB confirms
    assert len(ib.cancelled) == 1


def test_cancel_waits_for_ib_to_confirm_it(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent())
    (trade,) = ib.trades()
    sleeps = ib.sleeps

    assert broker.cancel("intent-0000000001") is True

    assert trade.orderStatus.status == "Cancelled" and ib.sleeps == sleeps + 1
    assert broker.open_orders() == []


def test_a_cancel_that_loses_the_race_to_a_fill_reports_the_fill(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent())
    (trade,) = ib.trades()
    ib.fill_on_cancel[trade.order.orderId] = NOW

    assert broker.cancel("intent-0000000001") is True

    assert trade.orderStatus.status == "Filled" and broker.open_orders() == []
    (fill,) = broker.executions(NOW - timedelta(minutes=1))
    assert (fill.intent_id, fill.quantity) == ("intent-0000000001", 2)


# --- executions ----------------------------------------------------------------------------


def test_executions_become_domain_fills(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent())
    trade = ib.trades()[0]
    eastern = timezone(timedelta(hours=-4))
    ib.execute(trade, 2, 1.2549999, datetime(2025, 3, 14, 11, 0, 1, tzinfo=eastern), commission=1.3)

    [fill] = broker.executions(NOW - timedelta(hours=1))

    assert fill.fill_id == trade.fills[0].execution.execId
    assert fill.order_id == str(trade.order.permId)
    assert fill.intent_id == "intent-0000000001"
    assert fill.ts == datetime(2025, 3, 14, 15, 0, 1, tzinfo=UTC)
    assert fill.ts.tzinfo is UTC
    assert fill.contract == SPY_C590
    assert (fill.side, fill.quantity, fill.price, fill.commission_usd) == (
        Side.BUY,
        2,
        Decimal("1.25"),
        Decimal("1.30"),
    )
    assert [f.acctCode for f in ib.exec_filters] == [PAPER]


def test_commission_comes_from_the_reported_fill_and_defaults_to_zero(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent(quantity=2))
    trade = ib.trades()[0]
    ib.execute(trade, 1, 1.25, NOW, commission=0.65)
    ib.execute(trade, 1, 1.25, NOW + timedelta(seconds=1), commission=None)

    first, second = broker.executions(NOW)

    assert (first.commission_usd, second.commission_usd) == (Decimal("0.65"), Decimal("0.00"))


def test_sells_are_sld_executions(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent(side=Side.SELL, contract=SPY_P585, limit_price="0.40"))
    ib.execute(ib.trades()[0], 2, 0.4, NOW)

    [fill] = broker.executions(NOW)

    assert (fill.side, fill.contract, fill.price) == (Side.SELL, SPY_P585, Decimal("0.40"))


def test_executions_before_since_foreign_or_of_other_accounts_are_excluded(
    ib: FakeIB, broker: IbkrBroker
) -> None:
    broker.submit(intent(quantity=4))
    trade = ib.trades()[0]
    ib.execute(trade, 1, 1.25, NOW - timedelta(seconds=1))  # before since
    ib.execute(trade, 1, 1.25, NOW)  # exactly at since: kept
    ib.execute(None, 1, 1.30, NOW, order_ref="")  # manual order in TWS
    ib.execute(None, 1, 1.30, NOW, order_ref="x")  # someone else's short orderRef
    ib.execute(trade, 1, 1.25, NOW, account="DU9999999")  # another account of the login

    fills = broker.executions(NOW)

    assert [(f.ts, f.intent_id) for f in fills] == [(NOW, "intent-0000000001")]


def test_executions_need_an_aware_since(broker: IbkrBroker) -> None:
    with pytest.raises(ValueError, match="since"):
        broker.executions(datetime(2025, 3, 14, 9, 30))


def test_an_unknown_execution_side_raises(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent())
    ib.execute(ib.trades()[0], 1, 1.25, NOW, side="XXX")
    with pytest.raises(IbkrError, match="XXX"):
        broker.executions(NOW)


def test_option_contract_falls_back_to_fields_without_local_symbol(ib: FakeIB, broker: IbkrBroker) -> None:
    broker.submit(intent())
    bare = ib_async.Option("SPY", "20250314", 590.0, "CALL", "SMART", "100", "USD")
    ib.execute(ib.trades()[0], 1, 1.25, NOW, contract=bare)

    [fill] = broker.executions(NOW)

    assert fill.contract.occ_symbol == "SPY   250314C00590000"


# --- account -------------------------------------------------------------------------------


def test_account_reports_net_liquidation_and_permission(ib: FakeIB) -> None:
    broker = IbkrBroker(ib, PAPER, permission_probe=SPY_C590)

    account = broker.account()

    assert account.account_id == PAPER
    assert account.is_paper
    assert account.net_liquidation_usd == Decimal("25012.35")
    assert account.options_permission is True
    assert "SPY   250314C00590000" in account.options_permission_detail
    [(contract, order)] = ib.what_if_calls
    assert (contract.conId, order.action, order.totalQuantity, order.lmtPrice, order.account) == (
        1001,
        "BUY",
        1,
        0.01,
        PAPER,
    )
    assert ib.placed == []


def test_account_finds_the_nearest_spy_option_itself(ib: FakeIB, broker: IbkrBroker) -> None:
    assert broker.account().options_permission is True

    [(contract, _)] = ib.what_if_calls
    assert (contract.symbol, contract.lastTradeDateOrContractMonth, contract.conId) == (
        "SPY",
        "20250314",
        1001,
    )


@pytest.mark.parametrize(
    ("what_if", "reason"),
    [
        (
            ib_async.OrderState(
                status="PreSubmitted", warningText="Your account does not have permission to trade options"
            ),
            "does not have permission",
        ),
        (ib_async.RequestError(5, 201, "Order rejected - reason: NOT APPROVED FOR OPTIONS"), "NOT APPROVED"),
        ([], "no order state"),
        (ib_async.OrderState(), "no order state"),
    ],
)
def test_account_without_option_permission(ib: FakeIB, what_if: Any, reason: str) -> None:
    ib.what_if = what_if
    account = IbkrBroker(ib, PAPER, permission_probe=SPY_C590).account()

    assert account.options_permission is False
    assert reason in account.options_permission_detail


def test_account_permission_is_false_when_the_probe_cannot_be_qualified(ib: FakeIB) -> None:
    account = IbkrBroker(ib, PAPER, permission_probe=lambda: UNKNOWN).account()

    assert account.options_permission is False
    assert "SPY   250314C01234000" in account.options_permission_detail
    assert ib.what_if_calls == []


def test_account_must_be_managed_by_the_login(ib: FakeIB) -> None:
    with pytest.raises(IbkrError, match=rf"DU0000001 is not managed.*{PAPER}"):
        IbkrBroker(ib, "DU0000001").account()


def test_account_without_usd_net_liquidation_raises(ib: FakeIB, broker: IbkrBroker) -> None:
    ib.summary = [v for v in ib.summary if v.currency != "USD"]
    with pytest.raises(IbkrError, match="NetLiquidation/BASE"):
        broker.account()


# --- open orders and positions -------------------------------------------------------------


def test_open_orders_lists_working_orders_with_their_contract_side_and_quantity(
    ib: FakeIB, broker: IbkrBroker
) -> None:
    broker.submit(intent("intent-aaaaaaaaaa"))
    broker.submit(intent("intent-bbbbbbbbbb"))
    ib.execute(ib.trades()[1], 2, 1.25, NOW)  # intent b is done
    manual = ib.placeOrder(option(585, "P"), ib_async.LimitOrder("SELL", 1, 9.0, account=PAPER))

    acks = broker.open_orders()

    assert [(a.intent_id, a.detail.split(":")[0]) for a in acks] == [
        ("intent-aaaaaaaaaa", "Smart 0DTE"),
        ("", "no orderRef"),
    ]
    assert (acks[0].contract_symbol, acks[0].side, acks[0].quantity) == ("SPY   250314C00590000", Side.BUY, 2)
    assert acks[1].broker_order_id == manual.order.orderId
    assert acks[1].status is OrderStatus.PENDING_SUBMIT
    assert (acks[1].contract_symbol, acks[1].side, acks[1].quantity) == (
        "SPY   250314P00585000",
        Side.SELL,
        1,
    )


def test_positions_by_occ_symbol_or_stock_symbol(ib: FakeIB, broker: IbkrBroker) -> None:
    ib.position_list = [
        ib_async.Position(PAPER, option(590, "C"), 3.0, 125.5),
        ib_async.Position(PAPER, ib_async.Stock("SPY", "SMART", "USD"), -10.0, 590.123456),
        ib_async.Position(PAPER, option(585, "P"), 0.0, 0.0),  # closed today
        ib_async.Position("DU9999999", option(585, "P"), 1.0, 40.0),
    ]

    assert broker.positions() == [
        BrokerPosition("SPY   250314C00590000", 3, Decimal("125.5000")),
        BrokerPosition("SPY", -10, Decimal("590.1235")),
    ]


# --- connecting ----------------------------------------------------------------------------


def test_connect_ib_connects_with_the_given_client_id(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    class RecordingIB:
        def connect(self, host: str, port: int, clientId: int, timeout: float) -> None:
            calls.append((host, port, clientId, timeout))

    monkeypatch.setattr(ib_async, "IB", RecordingIB)

    ib = ibkr.connect_ib("gateway", ibkr.PAPER_GATEWAY_PORT, 11)

    assert isinstance(ib, RecordingIB)
    assert calls == [("gateway", 4002, 11, 10.0)]
    assert ibkr.LIVE_GATEWAY_PORT == 4001
