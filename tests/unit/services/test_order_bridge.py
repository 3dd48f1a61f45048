"""The gateway's heartbeat, run loop and command, with in-memory ports (no IB, no AWS)."""

import argparse
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from smart0dte.bootstrap.order_bridge import BridgeSettings, check_consistent, resolve_settings
from smart0dte.cli import main
from smart0dte.domain.models import DomainError, Order, OrderStatus, TradingMode
from smart0dte.domain.reconcile import BrokerBook
from smart0dte.ports import AuditRecord, GatewayStatus, Versioned
from smart0dte.services.order_bridge import (
    AccountRefused,
    Heartbeat,
    LoopTimings,
    OrderBridge,
    Outcome,
    run_order_bridge,
    stop_time,
)
from tests.integration.order_bridge.fakes import (
    T0,
    FakeBroker,
    FakeClock,
    FakeConnection,
    FakeReceiver,
    make_intent,
    message,
)


class MemoryStore:
    """The few StateStore methods the heartbeat and the loop use; live orders by intent id."""

    def __init__(self, mode: TradingMode = TradingMode.LIVE) -> None:
        self.mode = mode
        self.audited: list[AuditRecord] = []
        self.statuses: list[GatewayStatus] = []
        self.books: list[BrokerBook] = []
        self.orders: dict[str, Order] = {}
        self.fail_status_write = False

    @property
    def audit(self) -> "MemoryStore":
        return self

    def append(self, record: AuditRecord) -> None:
        self.audited.append(record)

    def put_gateway_status(self, status: GatewayStatus) -> None:
        if self.fail_status_write:
            raise RuntimeError("DynamoDB throttled")
        self.statuses.append(status)

    def put_broker_book(self, book: BrokerBook) -> None:
        self.books.append(book)

    def get_order_by_intent(self, intent_id: str) -> Versioned[Order] | None:
        order = self.orders.get(intent_id)
        return None if order is None else Versioned(order, 1)

    def get_controls(self) -> object:
        return argparse.Namespace(emergency_stop=False)

    def list_orders(self, status: OrderStatus) -> list[Order]:
        return [o for o in self.orders.values() if o.status is status]

    def list_working_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if not o.status.is_terminal]

    def list_fills(self, order_id: str) -> list[object]:
        return []


# --- heartbeat -----------------------------------------------------------------------------------


def test_heartbeat_writes_connected_with_the_account_and_refreshes_it_only_every_n_minutes() -> None:
    store, clock, broker = MemoryStore(), FakeClock(), FakeBroker()
    heartbeat = Heartbeat(store, clock, 4002, account_refresh_s=600)  # type: ignore[arg-type]

    for _ in range(20):  # ten minutes of 30 s beats
        heartbeat.beat(broker, True)
        clock.advance(30)
    heartbeat.beat(broker, True)

    assert broker.account_calls == 2  # at T0 and at T0 + 10 min
    last = store.statuses[-1]
    assert (last.connected, last.port, last.heartbeat_at) == (True, 4002, T0 + timedelta(minutes=10))
    assert last.account is not None and last.account.account_id == "U1234567"


def test_heartbeat_writes_disconnected_and_a_broker_error_never_escapes() -> None:
    store, clock = MemoryStore(), FakeClock()
    broker = FakeBroker(account_error=ConnectionError("Not connected"))
    heartbeat = Heartbeat(store, clock, 4001)  # type: ignore[arg-type]

    errored = heartbeat.beat(broker, True)
    gone = heartbeat.beat(None, False, "disconnected from IB Gateway")

    assert (errored.connected, errored.detail) == (
        False,
        "account check failed: ConnectionError('Not connected')",
    )
    assert (gone.connected, gone.detail) == (False, "disconnected from IB Gateway")
    assert [s.connected for s in store.statuses] == [False, False]


def test_heartbeat_survives_a_failed_status_write() -> None:
    store = MemoryStore()
    store.fail_status_write = True
    status = Heartbeat(store, FakeClock(), 4002).beat(FakeBroker(), True)  # type: ignore[arg-type]
    assert status.connected and store.statuses == []


# --- the run loop --------------------------------------------------------------------------------


def loop(
    store: MemoryStore,
    receiver: FakeReceiver,
    connect: Callable[[], FakeConnection],
    clock: FakeClock,
    stop_at: datetime,
    stop: threading.Event | None = None,
    on_sleep: Callable[[float], None] | None = None,
) -> object:
    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        if on_sleep is not None:
            on_sleep(seconds)

    original = receiver.receive

    def receive(max_messages: int, wait_s: int) -> list:  # type: ignore[type-arg]
        clock.advance(max(wait_s, 1))  # a long poll takes its wait on an empty queue
        return original(max_messages, wait_s)

    receiver.receive = receive  # type: ignore[method-assign]
    return run_order_bridge(
        connect=connect,
        store=store,  # type: ignore[arg-type]
        intents=receiver,
        clock=clock,
        sleep=sleep,
        port=4001,
        session_start=T0,
        stop_at=stop_at,
        stop=stop or threading.Event(),
        timings=LoopTimings(reconnect_backoff_s=(1.0, 2.0, 4.0)),
    )


def test_the_loop_places_syncs_fills_heartbeats_and_stops_at_stop_at() -> None:
    store, clock, broker = MemoryStore(), FakeClock(), FakeBroker()
    intent = make_intent()
    store.orders[intent.intent_id] = Order.from_intent(intent, "20250314-o1").model_copy(
        update={"status": OrderStatus.SUBMITTED}
    )
    receiver = FakeReceiver([message(intent)])
    connection = FakeConnection(broker)

    summary = loop(store, receiver, lambda: connection, clock, stop_at=T0 + timedelta(minutes=2))

    assert summary.stopped_by == "stop_at"  # type: ignore[attr-defined]
    assert clock.now() >= T0 + timedelta(minutes=2)
    assert clock.now() < T0 + timedelta(minutes=2, seconds=11)
    assert broker.placements == 1
    assert [h.outcome for h in summary.handled] == [Outcome.PLACED]  # type: ignore[attr-defined]
    assert max(receiver.waits_s) <= 10  # long polls never starve the 5 s fill sync
    beats = [s for s in store.statuses if s.connected]
    assert 4 <= len(beats) <= 6  # one after connecting, then every 30 s
    assert store.statuses[-1].connected is False and "stopped (stop_at)" in store.statuses[-1].detail
    assert connection.closed == 1


def test_the_loop_stops_on_a_stop_signal() -> None:
    store, clock, stop = MemoryStore(), FakeClock(), threading.Event()
    receiver = FakeReceiver()
    original = receiver.receive

    def receive_then_signal(max_messages: int, wait_s: int) -> list:  # type: ignore[type-arg]
        if len(receiver.waits_s) == 2:
            stop.set()  # SIGTERM from ECS during the third long poll
        return original(max_messages, wait_s)

    receiver.receive = receive_then_signal  # type: ignore[method-assign]
    summary = loop(
        store, receiver, lambda: FakeConnection(FakeBroker()), clock, T0 + timedelta(hours=6), stop
    )

    assert summary.stopped_by == "signal"  # type: ignore[attr-defined]
    assert len(receiver.waits_s) == 3
    assert clock.now() < T0 + timedelta(minutes=1)


def test_the_loop_reconnects_with_backoff_and_reconciles_after_each_connect() -> None:
    store, clock, broker = MemoryStore(), FakeClock(), FakeBroker()
    attempts: list[datetime] = []
    connections: list[FakeConnection] = []

    def connect() -> FakeConnection:
        attempts.append(clock.now())
        if len(attempts) in (1, 2, 4):
            raise ConnectionRefusedError("IB Gateway is restarting")
        connections.append(FakeConnection(broker))
        return connections[-1]

    def drop_first_connection(_: float) -> None:
        pass

    receiver = FakeReceiver()
    original = receiver.receive

    def receive(max_messages: int, wait_s: int) -> list:  # type: ignore[type-arg]
        if len(connections) == 1 and len(receiver.waits_s) == 3:
            connections[0].connected = False  # the gateway's daily restart
        return original(max_messages, wait_s)

    receiver.receive = receive  # type: ignore[method-assign]
    summary = loop(store, receiver, connect, clock, T0 + timedelta(minutes=3), on_sleep=drop_first_connection)

    assert summary.connects == 2 and summary.failed_connects == 3  # type: ignore[attr-defined]
    assert len(summary.reconciles) == 2  # type: ignore[attr-defined]
    assert len(store.books) >= 2  # the broker's book published after each (re)connect
    assert (attempts[1] - attempts[0]).total_seconds() == 1.0
    assert (attempts[2] - attempts[1]).total_seconds() == 2.0
    assert connections[0].closed == 1
    assert any("connect failed (retry in 1 s)" in s.detail for s in store.statuses)
    assert any(s.detail.startswith("disconnected from IB Gateway") for s in store.statuses)


@pytest.mark.parametrize(
    ("mode", "account", "why"),
    [
        (TradingMode.LIVE, "DU1234567", "account DU1234567 is an IB paper account"),
        (TradingMode.LIVE, "DF1234567", "account DF1234567 is an IB paper account"),
        (TradingMode.IBKR_PAPER, "U1234567", "account U1234567 is a live account"),
        (TradingMode.PAPER, "DU1234567", "mode paper trades on the simulated venue"),
    ],
)
def test_the_loop_refuses_an_account_that_does_not_fit_its_mode_places_nothing_and_stops(
    mode: TradingMode, account: str, why: str
) -> None:
    store, clock, broker = MemoryStore(mode), FakeClock(), FakeBroker(account_id=account)
    intent = make_intent(mode=mode)
    store.orders[intent.intent_id] = Order.from_intent(intent, "20250314-o1").model_copy(
        update={"status": OrderStatus.SUBMITTED}
    )
    receiver = FakeReceiver([message(intent)])
    connection = FakeConnection(broker)

    summary = loop(store, receiver, lambda: connection, clock, stop_at=T0 + timedelta(hours=6))

    assert summary.stopped_by == "account" and why in summary.refused  # type: ignore[attr-defined]
    assert clock.now() < T0 + timedelta(seconds=5)  # at once, not after retries
    assert broker.placements == 0 and receiver.waits_s == [] and receiver.deleted == []
    assert [(r.action, r.mode) for r in store.audited] == [("GatewayAccountRefused", mode)]
    assert why in store.audited[0].reason
    assert not any(s.connected for s in store.statuses)
    assert why in store.statuses[-1].detail and "stopped (account)" in store.statuses[-1].detail
    assert connection.closed == 1


@pytest.mark.parametrize(
    ("mode", "account"),
    [
        (TradingMode.IBKR_PAPER, "DU1234567"),
        (TradingMode.IBKR_PAPER, "DF1234567"),
        (TradingMode.LIVE, "U1234567"),
    ],
)
def test_the_bridge_trades_ibkr_paper_on_a_paper_account_and_live_on_a_live_one(
    mode: TradingMode, account: str
) -> None:
    store, broker = MemoryStore(mode), FakeBroker(account_id=account)
    intent = make_intent(mode=mode)
    store.orders[intent.intent_id] = Order.from_intent(intent, "20250314-o1").model_copy(
        update={"status": OrderStatus.SUBMITTED}
    )
    bridge = OrderBridge(broker, store, FakeReceiver(), FakeClock())  # type: ignore[arg-type]

    assert bridge.handle(message(intent)).outcome is Outcome.PLACED
    assert broker.placed == {intent.intent_id: intent}


def test_the_bridge_refuses_a_live_store_on_a_paper_account_before_anything() -> None:
    with pytest.raises(AccountRefused, match="order bridge of live refuses to trade: account DU1234567"):
        OrderBridge(FakeBroker(account_id="DU1234567"), MemoryStore(), FakeReceiver(), FakeClock())  # type: ignore[arg-type]


def test_stop_time_is_never_later_than_15_minutes_after_the_close() -> None:
    close = T0 + timedelta(hours=5)
    assert stop_time(close, None) == close + timedelta(minutes=15)
    assert stop_time(close, close + timedelta(hours=1)) == close + timedelta(minutes=15)
    assert stop_time(close, close + timedelta(minutes=5)) == close + timedelta(minutes=5)


# --- the command ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message_part"),
    [
        (
            ["--mode", "live", "--ib-port", "4002", "--account", "U1234567"],
            "--ib-port=4002 disagrees with --mode=live",
        ),
        (
            ["--mode", "ibkr_paper", "--ib-port", "4001", "--account", "DU1234567"],
            "--ib-port=4001 disagrees with --mode=ibkr_paper: ibkr_paper IB Gateway listens on 4002",
        ),
        (
            ["--mode", "paper", "--ib-port", "4002", "--account", "DU1234567"],
            "--mode=paper trades on the simulated venue and needs no order bridge: "
            "use --mode ibkr_paper or live",
        ),
        (
            ["--mode", "live", "--ib-port", "4001", "--account", "DU1234567"],
            "--account=DU1234567 disagrees with --mode=live: account DU1234567 is an IB paper account",
        ),
        (
            ["--mode", "live", "--ib-port", "4001", "--account", "DF1234567"],
            "--account=DF1234567 disagrees with --mode=live: account DF1234567 is an IB paper account",
        ),
        (
            ["--mode", "ibkr_paper", "--ib-port", "4002", "--account", "U1234567"],
            "--account=U1234567 disagrees with --mode=ibkr_paper: account U1234567 is a live account",
        ),
        (
            ["--mode", "ibkr_paper", "--ib-port", "four", "--account", "DU1"],
            "--ib-port='four' (or SMART0DTE_IB_PORT)",
        ),
    ],
)
def test_the_command_refuses_disagreeing_settings_naming_the_field(
    argv: list[str], message_part: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SMART0DTE_IB_HOST", "SMART0DTE_IB_PORT", "SMART0DTE_IB_CLIENT_ID", "SMART0DTE_IB_ACCOUNT"):
        monkeypatch.delenv(name, raising=False)
    assert main(["order-bridge", "--client-id", "7", *argv]) == 2
    assert message_part in capsys.readouterr().err


def test_the_command_reads_the_environment_and_the_mode_from_smart0dte_mode() -> None:
    args = argparse.Namespace(ib_host=None, ib_port=None, client_id=None, account=None, mode=None)
    env = {
        "SMART0DTE_MODE": "live",
        "SMART0DTE_IB_HOST": "10.0.0.5",
        "SMART0DTE_IB_PORT": "4001",
        "SMART0DTE_IB_CLIENT_ID": "11",
        "SMART0DTE_IB_ACCOUNT": "U7654321",
    }
    assert resolve_settings(args, env) == BridgeSettings("10.0.0.5", 4001, 11, "U7654321", TradingMode.LIVE)
    with pytest.raises(DomainError, match="--ib-port=4001 disagrees with --mode=ibkr_paper"):
        resolve_settings(args, {**env, "SMART0DTE_MODE": "ibkr_paper"})
    with pytest.raises(DomainError, match="--mode=paper trades on the simulated venue"):
        resolve_settings(args, {**env, "SMART0DTE_MODE": "paper"})
    with pytest.raises(DomainError, match=r"--account \(or SMART0DTE_IB_ACCOUNT\) is required"):
        resolve_settings(args, {k: v for k, v in env.items() if k != "SMART0DTE_IB_ACCOUNT"})


@pytest.mark.parametrize(
    ("port", "account", "mode"),
    [
        (4002, "DU1234567", TradingMode.IBKR_PAPER),
        (4002, "DF1234567", TradingMode.IBKR_PAPER),
        (4001, "U1234567", TradingMode.LIVE),
    ],
)
def test_ibkr_paper_on_4002_with_a_paper_account_and_live_on_4001_with_a_live_one_pass(
    port: int, account: str, mode: TradingMode
) -> None:
    check_consistent(BridgeSettings("127.0.0.1", port, 1, account, mode))


def test_heartbeat_tells_the_metric_connected_or_not_at_every_beat() -> None:
    metric: list[bool] = []
    store, clock = MemoryStore(), FakeClock()
    heartbeat = Heartbeat(store, clock, 4002, metric=metric.append)  # type: ignore[arg-type]
    heartbeat.beat(FakeBroker(account_error=ConnectionError("Not connected")), True)  # account check due
    heartbeat.beat(FakeBroker(), True)
    heartbeat.beat(None, False, "disconnected from IB Gateway")
    assert metric == [False, True, False] == [s.connected for s in store.statuses]
