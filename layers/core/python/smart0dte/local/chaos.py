"""`smart0dte chaos`: one replayed day in ibkr_paper on the embedded AWS, through the real
trading_cycle workflow and handlers, the real order bridge and the real IBKR adapter over an
in-memory IB (`local/chaos_ib.py`), with faults injected; then what the store, the engine's book
and the broker say, compared.

Each trading minute t, in the order the live system meets it:

1. the replay driver writes the minute's bars and chain snapshots (`local/replay.py`);
2. IB works the orders resting during the minute against the quotes sampled by t (at t - 30 s);
   the bridge syncs the executions and publishes its book (t - 20 s);
3. the trading_cycle workflow of t runs (Signals -> Risk -> Execute), its commands going to the
   order queue (SQS FIFO on moto);
4. the bridge receives and handles them (t + 5 s), reconnecting as `run_order_bridge` does (a new
   `OrderBridge`, `reconcile`, `publish_book`); IB fills what is marketable on arrival against the
   quotes of t (t + 6 s); the bridge syncs fills and publishes its book;
5. the minute is measured: a position held at IB without working STOP orders for all of it is an
   unprotected minute.

Faults are armed at seeded minutes and happen at their first opportunity (an order to drop or
reject needs an order): `FaultKind`. A fault still armed at the end is reported, not counted.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from smart0dte.adapters.aws.sqs import SqsCommandReceiver
from smart0dte.adapters.ibkr.broker import IbkrBroker
from smart0dte.bootstrap import runtime as runtime_module
from smart0dte.domain.controls import AutomationSettings, RiskLimits
from smart0dte.domain.marketdata import datetime_to_ns
from smart0dte.domain.models import OptionQuote, OrderStatus, Side, TradingMode
from smart0dte.local.chaos_ib import ChaosExchange, ChaosIB
from smart0dte.local.embedded import EmbeddedAws, ExecutionResult
from smart0dte.local.replay import TRADING_CYCLE, ReplayDay, ReplayDriver, ScheduledStart
from smart0dte.ports import ReceivedCommand, StateStore
from smart0dte.resources import ORDER_INTENT_QUEUE
from smart0dte.services.order_bridge import OrderBridge, Outcome

MODE: Final = TradingMode.IBKR_PAPER
ACCOUNT: Final = "DU7654321"
CHAOS_ACTOR: Final = "user:chaos"
STALE_BOOK_MINUTES: Final = 3
"""How long a stale-book fault keeps the bridge's book from being written (the cycle halts entries
once the book is older than 120 s)."""
MAX_BRIDGE_ROUNDS: Final = 8
"""Receive/handle/reconnect rounds the bridge gets after each cycle to drain the queue."""
SETTINGS: Final = AutomationSettings(master_switch=True, min_confidence=0.3)
LIMITS: Final = RiskLimits(min_seconds_between_trades=0)
"""Looser than the defaults, so a day holds more orders to break."""


class FaultKind(StrEnum):
    DISCONNECT_MID_ORDER = "disconnect_mid_order"
    """The next order reaches IB, then the connection drops before its answer; the message stays in
    the queue and is handled again after the bridge reconnects."""
    IB_RESTART = "ib_restart"
    """IB Gateway restarts: the connection and the bridge's memory are lost, the orders and
    executions at IB survive and are reported again to the new bridge."""
    DUPLICATED_MESSAGE = "duplicated_message"
    """The queue delivers a message twice (SQS is at-least-once)."""
    REORDERED_MESSAGES = "reordered_messages"
    """The queue delivers a batch in another order."""
    DUPLICATED_EXECUTIONS = "duplicated_executions"
    """IB reports every execution twice, shuffled, in one executions request."""
    PARTIAL_FILL = "partial_fill"
    """An order of two or more contracts fills only half of what the quotes would give."""
    REJECTION = "rejection"
    """IB refuses the next order (error 201 with its text)."""
    LAMBDA_KILLED = "lambda_killed"
    """A trading step dies between two of its store writes (the k-th write, k in 1..4, raises);
    the workflow fails and is started again for the same minute."""
    STALE_BOOK = "stale_book"
    """The bridge's broker book is not written for STALE_BOOK_MINUTES minutes."""


class LambdaKilled(RuntimeError):
    """Raised by the chaos store in place of a write: the Lambda died before making it."""


def plan_faults(count: int, seed: int, minutes: list[datetime]) -> dict[datetime, list[FaultKind]]:
    """`count` faults of seeded kinds at seeded minutes (several may share a minute)."""
    if count < 0:
        raise ValueError(f"faults={count} must be >= 0")
    if not minutes:
        raise ValueError("minutes must hold at least one trading minute")
    rng = random.Random(seed)
    kinds = list(FaultKind)
    plan: dict[datetime, list[FaultKind]] = {}
    for _ in range(count):
        plan.setdefault(rng.choice(minutes), []).append(rng.choice(kinds))
    return plan


class ChaosReceiver:
    """The bridge's SQS receiver with delivery faults: a message delivered twice, a batch reordered;
    a message left by a failed handling is made visible again at once (its timeout passed)."""

    def __init__(self, inner: SqsCommandReceiver, client: Any, queue_url: str, rng: random.Random) -> None:
        self._inner = inner
        self._client = client
        self._queue_url = queue_url
        self._rng = rng
        self.duplicate_next = 0
        self.reorder_next = 0
        self.fired: Counter[str] = Counter()
        self.receipts: dict[str, str] = {}
        """Message id -> receipt of the last delivery (a failed handling names the message id)."""

    def receive(self, max_messages: int, wait_s: int) -> list[ReceivedCommand]:
        messages = self._inner.receive(max_messages, 0)
        self.receipts.update((m.message_id, m.receipt) for m in messages)
        if messages and self.duplicate_next > 0:
            self.duplicate_next -= 1
            self.fired[FaultKind.DUPLICATED_MESSAGE.value] += 1
            first = messages[0]
            messages.append(replace(first, receipt=f"duplicate:{first.receipt}"))
        if len(messages) >= 2 and self.reorder_next > 0:
            self.reorder_next -= 1
            self.fired[FaultKind.REORDERED_MESSAGES.value] += 1
            before = list(messages)
            while messages == before:
                self._rng.shuffle(messages)
        return messages

    def delete(self, receipt: str) -> None:
        if not receipt.startswith("duplicate:"):
            self._inner.delete(receipt)

    def release(self, receipt: str) -> None:
        if not receipt.startswith("duplicate:"):
            self._client.change_message_visibility(
                QueueUrl=self._queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
            )


WRITES: Final = (
    "add_to_counters",
    "close_position",
    "create_order",
    "open_position",
    "put_risk_decision",
    "put_signal",
    "record_fill",
    "reduce_order",
    "set_trading_state",
    "transition_order",
)
"""The trading steps' store writes the Lambda-kill fault may interrupt (with the engine document's
save and the audit log's append)."""


class Killer:
    """Arms a kill at the k-th next store write of the trading steps."""

    def __init__(self) -> None:
        self.countdown = 0
        self.fired = 0
        self.in_flight = False

    def before_write(self) -> None:
        if self.countdown <= 0:
            return
        self.countdown -= 1
        if self.countdown == 0:
            self.fired += 1
            self.in_flight = True
            raise LambdaKilled("the Lambda was killed between two writes (chaos)")

    def wrap(self, target: Any, name: str) -> None:
        write = getattr(target, name)

        def killable(*args: Any, **kwargs: Any) -> Any:
            self.before_write()
            return write(*args, **kwargs)

        setattr(target, name, killable)


class BridgeClock:
    """The gateway's clock: set by the harness to the instant of each step."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current


@dataclass
class ChaosReport:
    session_date: str
    faults_planned: int
    faults_injected: dict[str, int]
    faults_unfired: dict[str, int]
    orders: int
    broker_orders: int
    fills: int
    fills_lost: int
    fills_duplicated: int
    position_mismatches: int
    unprotected_position_minutes: int
    exposed_position_minutes: int
    """Minute ends at which a position at IB had no working SELL of any kind covering it."""
    open_at_close: int
    cycle_failures: int
    """trading_cycle executions that failed after their retry."""
    bridge_reconnects: int
    elapsed_s: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def targets_met(self) -> bool:
        return (
            self.fills_lost == 0
            and self.fills_duplicated == 0
            and self.position_mismatches == 0
            and self.open_at_close == 0
            and self.unprotected_position_minutes == 0
        )

    def to_wire(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items()}
        out["targets_met"] = self.targets_met
        return out


class ChaosRun:
    """One chaos day; `run()` plays it and returns the report."""

    def __init__(
        self,
        day: ReplayDay,
        *,
        faults: int,
        seed: int,
        minutes: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.day = day
        self.faults = faults
        self.seed = seed
        self.minutes = minutes
        self.progress = progress
        self.rng = random.Random(seed)
        self.exchange = ChaosExchange(ACCOUNT)
        session = day.session
        self.session_start = session.open_et - timedelta(minutes=15)
        self.clock = BridgeClock(self.session_start)
        self.killer = Killer()
        self.stale_until: datetime | None = None
        self.stale_fired = 0
        self.restarts = 0
        self.reconnects = 0
        self.unprotected: list[str] = []
        self.exposed: list[str] = []
        self.entries_on_arrival: list[str] = []
        """Minutes whose entries filled on arrival at IB, after the cycle that could protect them."""
        self.failures = 0
        self.plan: dict[datetime, list[FaultKind]] = {}
        self.last_position: dict[str, int] = {}
        """What IB held after the last trading minute (the close's, or the last one replayed)."""
        self.last_at: datetime | None = None
        self.last_book: dict[str, int] = {}
        """The store's open positions after the last trading minute."""
        self._ib: ChaosIB | None = None
        self._bridge: OrderBridge | None = None
        self._store: StateStore | None = None
        self._receiver: ChaosReceiver | None = None
        self._aws: EmbeddedAws | None = None

    # --- the gateway side ---------------------------------------------------------------------

    def _connected_bridge(self) -> OrderBridge:
        """The bridge on a live connection; after a drop a new connection and a new bridge that
        reconciles and publishes first, as `run_order_bridge` does on every (re)connect."""
        if self._bridge is not None and self._ib is not None and self._ib.connected:
            return self._bridge
        assert self._store is not None and self._receiver is not None
        if self._bridge is not None:
            self.reconnects += 1
        self._ib = ChaosIB(self.exchange, rng=self.rng)
        self._ib.at(self.clock.now())
        broker = IbkrBroker(self._ib, ACCOUNT, ack_wait_s=0.3, now=self.clock.now)
        self._bridge = OrderBridge(broker, self._store, self._receiver, self.clock)
        self._bridge.reconcile(self.session_start)
        self._publish()
        return self._bridge

    def _publish(self) -> None:
        assert self._bridge is not None
        if self.stale_until is not None and self.clock.now() < self.stale_until:
            return
        self._bridge.publish_book(self.session_start)

    def _drop(self) -> None:
        if self._ib is not None:
            self._ib.connected = False

    def _sync(self, at: datetime) -> None:
        """The bridge's fill sync and book (every 5 s live); a dropped connection reconnects."""
        self.clock.current = at
        for _ in range(MAX_BRIDGE_ROUNDS):
            try:
                bridge = self._connected_bridge()
                bridge.sync_fills(self.session_start)
                self._publish()
                return
            except ConnectionError:
                self._drop()

    def _handle_commands(self, at: datetime) -> None:
        """Receive and handle until the queue is empty, reconnecting after a drop."""
        self.clock.current = at
        assert self._receiver is not None
        for _ in range(MAX_BRIDGE_ROUNDS):
            try:
                bridge = self._connected_bridge()
                bridge.answer_stop()
                handled = bridge.process(10, 0)
            except ConnectionError:
                self._drop()
                continue
            for h in handled:
                if not h.deleted:
                    self._receiver.release(self._receipt_of(h.message_id))
            if any(h.outcome is Outcome.FAILED for h in handled):
                self._drop()  # the failure was the connection: the loop reconnects
                continue
            if not handled:
                break
        self._sync(at + timedelta(seconds=2))

    def _receipt_of(self, message_id: str) -> str:
        assert self._receiver is not None
        return self._receiver.receipts.get(message_id, "")

    # --- faults ------------------------------------------------------------------------------

    def _arm(self, at: datetime) -> None:
        assert self._receiver is not None
        for kind in self.plan.get(at, []):
            match kind:
                case FaultKind.DISCONNECT_MID_ORDER:
                    self.exchange.drop_mid_order += 1
                case FaultKind.IB_RESTART:
                    self.restarts += 1
                    self._drop()
                    self._bridge = None  # the bridge process restarts too: nothing kept in memory
                case FaultKind.DUPLICATED_MESSAGE:
                    self._receiver.duplicate_next += 1
                case FaultKind.REORDERED_MESSAGES:
                    self._receiver.reorder_next += 1
                case FaultKind.DUPLICATED_EXECUTIONS:
                    self.exchange.messy_executions += 1
                case FaultKind.PARTIAL_FILL:
                    self.exchange.partial_next += 1
                case FaultKind.REJECTION:
                    self.exchange.reject_next += 1
                case FaultKind.LAMBDA_KILLED:
                    self.killer.countdown = self.killer.countdown or self.rng.randint(1, 4)
                case FaultKind.STALE_BOOK:
                    self.stale_fired += 1
                    self.stale_until = at + timedelta(minutes=STALE_BOOK_MINUTES)

    def _install_killer(self) -> None:
        rt = runtime_module.runtime(MODE)
        for name in WRITES:
            self.killer.wrap(rt.state, name)
        self.killer.wrap(rt.state.audit, "append")
        self.killer.wrap(rt.documents, "put_engine")

    # --- the minute --------------------------------------------------------------------------

    def _quotes(self, at: datetime) -> dict[str, OptionQuote]:
        ts_ns = datetime_to_ns(at)
        quotes: dict[str, OptionQuote] = {}
        for chain in self.day.market_day.chains.values():
            row = chain.sampled_by(ts_ns) - 1
            if row >= 0:
                for quote in chain.snapshot(row, 1.0).quotes:
                    quotes[quote.contract.occ_symbol] = quote
        return quotes

    def before_start(self, start: ScheduledStart) -> None:
        if start.state_machine != TRADING_CYCLE:
            return
        at = start.at
        self._arm(at)
        self.clock.current = at - timedelta(seconds=30)
        if self._ib is not None:
            self._ib.at(self.clock.now())
        self.exchange.match(self._quotes(at), self.clock.now())
        self._sync(at - timedelta(seconds=20))

    def on_result(self, start: ScheduledStart, result: ExecutionResult) -> None:
        assert self._aws is not None
        if not result.succeeded and self.killer.in_flight:
            self.killer.in_flight = False
            result = self._aws.start_and_wait(start.state_machine, dict(start.input))  # the retry
        self.killer.in_flight = False
        if not result.succeeded and start.state_machine == TRADING_CYCLE:
            self.failures += 1
        self._handle_commands(start.at + timedelta(seconds=5))
        if start.state_machine == TRADING_CYCLE:
            # a marketable order fills on arrival, against the quotes the minute's cycle saw
            arrived = self.exchange.match(self._quotes(start.at), start.at + timedelta(seconds=6))
            if any(e.fill.execution.side == "BOT" for e in arrived):
                self.entries_on_arrival.append(f"{start.at:%H:%M}")
            self._sync(start.at + timedelta(seconds=7))
            self._measure(start.at)
        if self.progress is not None:
            self.progress(f"{start.at:%H:%M} {start.state_machine}")

    def _measure(self, at: datetime) -> None:
        held = {occ: qty for occ, qty in self.exchange.positions.items() if qty > 0}
        if any(self.exchange.stop_cover(occ) < qty for occ, qty in held.items()):
            self.unprotected.append(f"{at:%H:%M}")
        if any(self.exchange.sell_cover(occ) < qty for occ, qty in held.items()):
            self.exposed.append(f"{at:%H:%M}")
        self.last_at = at
        self.last_position = dict(self.exchange.positions)
        assert self._store is not None
        self.last_book = {}
        for position in self._store.list_open_positions():
            occ = position.contract.occ_symbol
            self.last_book[occ] = self.last_book.get(occ, 0) + position.quantity

    # --- the day -----------------------------------------------------------------------------

    def run(self) -> ChaosReport:
        started = time.perf_counter()
        with EmbeddedAws(mode=MODE) as aws:
            self._aws = aws
            store = aws.state_store()
            self._store = store
            sqs = aws.client("sqs")
            url = aws.provisioned.queue_urls[ORDER_INTENT_QUEUE.logical_name]
            self._receiver = ChaosReceiver(SqsCommandReceiver(url, sqs), sqs, url, self.rng)
            store.put_settings(SETTINGS, CHAOS_ACTOR, "chaos: automation on", self.session_start)
            store.put_risk_limits(LIMITS, CHAOS_ACTOR, "chaos: looser limits", self.session_start)
            self._install_killer()
            driver = ReplayDriver(
                aws, self.day, minutes=self.minutes, before_start=self.before_start, on_result=self.on_result
            )
            cycles = [s.at for s in driver.schedule if s.state_machine == TRADING_CYCLE]
            self.plan = plan_faults(self.faults, self.seed, cycles)
            driver.run()
            report = self._report(store, time.perf_counter() - started)
        return report

    def _report(self, store: StateStore, elapsed_s: float) -> ChaosReport:
        orders = [o for status in OrderStatus for o in store.list_orders(status)]
        stored_fills = [f for o in orders for f in store.list_fills(o.order_id)]
        stored_ids = Counter(f.fill_id for f in stored_fills)
        broker_ids = {e.fill.execution.execId for e in self.exchange.executions}
        lost = sorted(broker_ids - set(stored_ids))
        duplicated = sorted(i for i, n in stored_ids.items() if n > 1)
        book = self.last_book
        booked_in: dict[str, int] = dict(book)
        for trade in store.list_closed_trades(self.day.session.session_date):
            if self.last_at is None or trade.exit_ts > self.last_at:
                continue  # closed after the last trading minute (post_close): not in `book`'s moment
            occ = trade.contract.occ_symbol
            booked_in[occ] = booked_in.get(occ, 0) + trade.quantity
        bought: dict[str, int] = {}
        for e in self.exchange.executions:
            if e.fill.execution.side == "BOT":
                bought[e.occ] = bought.get(e.occ, 0) + int(e.fill.execution.shares)
        over_booked = sorted(occ for occ, qty in booked_in.items() if qty > bought.get(occ, 0))
        broker = {occ: qty for occ, qty in self.last_position.items() if qty}
        mismatched = sorted(occ for occ in set(book) | set(broker) if book.get(occ, 0) != broker.get(occ, 0))
        injected: Counter[str] = Counter(self.exchange.fired)
        assert self._receiver is not None
        injected.update(self._receiver.fired)
        injected.update(
            {
                FaultKind.IB_RESTART.value: self.restarts,
                FaultKind.LAMBDA_KILLED.value: self.killer.fired,
                FaultKind.STALE_BOOK.value: self.stale_fired,
            }
        )
        unfired = {
            FaultKind.DISCONNECT_MID_ORDER.value: self.exchange.drop_mid_order,
            FaultKind.REJECTION.value: self.exchange.reject_next,
            FaultKind.PARTIAL_FILL.value: self.exchange.partial_next,
            FaultKind.DUPLICATED_EXECUTIONS.value: self.exchange.messy_executions,
            FaultKind.DUPLICATED_MESSAGE.value: self._receiver.duplicate_next,
            FaultKind.REORDERED_MESSAGES.value: self._receiver.reorder_next,
            FaultKind.LAMBDA_KILLED.value: 1 if self.killer.countdown > 0 else 0,
        }
        return ChaosReport(
            session_date=self.day.session.session_date.isoformat(),
            faults_planned=self.faults,
            faults_injected={k: v for k, v in sorted(injected.items()) if v},
            faults_unfired={k: v for k, v in sorted(unfired.items()) if v},
            orders=len(orders),
            broker_orders=len(self.exchange.trades),
            fills=len(broker_ids),
            fills_lost=len(lost),
            fills_duplicated=len(duplicated) + len(over_booked),
            position_mismatches=len(mismatched),
            unprotected_position_minutes=len(self.unprotected),
            exposed_position_minutes=len(self.exposed),
            open_at_close=sum(1 for qty in broker.values() if qty),
            cycle_failures=self.failures,
            bridge_reconnects=self.reconnects,
            elapsed_s=round(elapsed_s, 1),
            details={
                "fills_lost": lost,
                "fills_duplicated": duplicated,
                "over_booked": over_booked,
                "position_mismatches": {
                    o: {"book": book.get(o, 0), "broker": broker.get(o, 0)} for o in mismatched
                },
                "unprotected_minutes": self.unprotected,
                "exposed_minutes": self.exposed,
                "entries_filled_on_arrival": self.entries_on_arrival,
                "buys": sum(1 for o in orders if o.side is Side.BUY),
                "rejected_orders": sum(1 for o in orders if o.status is OrderStatus.REJECTED),
            },
        )
