"""The order bridge per trading mode on the embedded AWS: ibkr_paper trades an IB paper account and
keeps its own records; a broker whose account does not fit the mode places nothing."""

import threading
from datetime import timedelta

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.models import OrderStatus, TradingMode
from smart0dte.ports import PAPER_GATEWAY_PORT
from smart0dte.services.order_bridge import LoopTimings, Outcome, RunSummary, run_order_bridge
from smart0dte.services.session import new_york_date

from ..moto_env import REGION
from .conftest import PREFIX, record
from .fakes import T0, FakeBroker, FakeClock, FakeConnection, FakeReceiver, make_intent, message


@pytest.fixture(scope="module")
def stores(aws: Provisioned) -> dict[TradingMode, DynamoState]:
    return {mode: DynamoState(PREFIX, mode, region=REGION) for mode in TradingMode}


def run(store: DynamoState, broker: FakeBroker, receiver: FakeReceiver, minutes: int) -> RunSummary:
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.advance(seconds)

    original = receiver.receive

    def receive(max_messages: int, wait_s: int) -> list:  # type: ignore[type-arg]
        clock.advance(max(wait_s, 1))
        return original(max_messages, wait_s)

    receiver.receive = receive  # type: ignore[method-assign]
    return run_order_bridge(
        connect=lambda: FakeConnection(broker),
        store=store,
        intents=receiver,
        clock=clock,
        sleep=sleep,
        port=PAPER_GATEWAY_PORT,
        session_start=T0,
        stop_at=T0 + timedelta(minutes=minutes),
        stop=threading.Event(),
        timings=LoopTimings(),
    )


@pytest.mark.parametrize("account", ["DU1234567", "DF1234567"])
def test_ibkr_paper_trades_an_ib_paper_account_and_its_fills_stay_in_its_records(
    stores: dict[TradingMode, DynamoState], account: str
) -> None:
    store = stores[TradingMode.IBKR_PAPER]
    intent = make_intent(mode=TradingMode.IBKR_PAPER, quantity=2)
    stored = record(store, intent)
    broker = FakeBroker(account_id=account)
    receiver = FakeReceiver([message(intent)])

    summary = run(store, broker, receiver, minutes=1)
    broker.fill(intent.intent_id, 2, "1.20", seconds=5)
    after = run(store, broker, receiver, minutes=1)  # the next session of the bridge syncs the fill

    assert summary.stopped_by == "stop_at" and summary.refused == ""
    assert [h.outcome for h in summary.handled] == [Outcome.PLACED]
    assert receiver.deleted == [message(intent).receipt]
    assert after.fills_recorded == 1 and broker.placements == 1
    order = store.get_order(stored.value.order_id)
    assert order is not None and (order.value.status, order.value.filled_quantity) == (OrderStatus.FILLED, 2)
    beat = store.get_gateway_status()
    assert beat is not None and beat.account is not None and beat.account.account_id == account
    for other in (TradingMode.PAPER, TradingMode.LIVE):
        assert stores[other].get_order(stored.value.order_id) is None
        assert stores[other].get_order_by_intent(intent.intent_id) is None
        assert stores[other].get_gateway_status() is None
        assert stores[other].audit.list_day(new_york_date(T0)) == []


@pytest.mark.parametrize(
    ("mode", "account", "why"),
    [
        (TradingMode.IBKR_PAPER, "U1234567", "account U1234567 is a live account"),
        (TradingMode.LIVE, "DU1234567", "account DU1234567 is an IB paper account"),
        (TradingMode.LIVE, "DF1234567", "account DF1234567 is an IB paper account"),
    ],
)
def test_an_account_that_does_not_fit_the_mode_places_nothing_and_stops(
    stores: dict[TradingMode, DynamoState], mode: TradingMode, account: str, why: str
) -> None:
    store = stores[mode]
    intent = make_intent(mode=mode)
    stored = record(store, intent)
    broker = FakeBroker(account_id=account)
    receiver = FakeReceiver([message(intent)])

    summary = run(store, broker, receiver, minutes=60)

    assert summary.stopped_by == "account" and why in summary.refused
    assert broker.placements == 0 and summary.handled == [] and receiver.deleted == []
    order = store.get_order(stored.value.order_id)
    assert order is not None and order.value.status is OrderStatus.SUBMITTED  # left for a fitting gateway
    refused = [r for r in store.audit.list_day(new_york_date(T0)) if r.action == "GatewayAccountRefused"]
    assert len(refused) == 1 and why in refused[0].reason
    beat = store.get_gateway_status()
    assert beat is not None and not beat.connected and why in beat.detail
