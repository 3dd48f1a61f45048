"""The session engine across Lambdas: its saved document, and how a phase's effects reach the store.

Each trading phase (Signals, Risk, Execute, flatten, post_close) runs in its own invocation. It
loads the session's document from the DayDocumentStore, restores the engine from it, runs one engine
phase, and saves the document back under an optimistic lock. The document holds:

- `engine`: `SessionEngine.to_state()`;
- the cycle cursor: the last minute observed and how far its phases got, with the results already
  returned for it, so a duplicated or retried event gets the same answer and changes nothing;
- `outbox`: the records the last phase produced (signals, risk decisions, orders, fills,
  positions, trading state, incidents and the broker venue's commands for the order bridge).

The venue is the desk's `venue` (chosen where the application is wired): paper trades on the
simulated venue inside the engine; ibkr_paper and live on the broker venue, whose commands go to
the order queue and whose news (the fills, rejections and cancels the order bridge wrote to the
store) and the broker's book (what the bridge saw at IB) `report` reads for the next phase to book
and reconcile before it decides anything.

Writes are ordered so nothing is half-done: the document with its outbox is saved first (the
commit point: a phase whose save loses the lock changes nothing and is run again from the newer
document), then the outbox is written to the StateStore, every write create-once or idempotent,
then the document is saved with an empty outbox. A crash between the two saves leaves the outbox
in the document; the next phase to load it (or post_close) writes it before doing anything else.

Order and fill ids of the venues restart every session; in the store they are prefixed
with the session date (`20250314-O00000003`) so sessions never collide.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, TypeVar

from smart0dte.domain.calendar import NEW_YORK, MarketCalendar, SessionTimes
from smart0dte.domain.chain_analytics import PricingInputs
from smart0dte.domain.controls import TradingState
from smart0dte.domain.marketdata import F64, MarketDay
from smart0dte.domain.models import (
    ORDER_TRANSITIONS,
    DomainError,
    Fill,
    Order,
    OrderStatus,
    Position,
    Signal,
    TradingMode,
    Underlying,
)
from smart0dte.domain.portfolio import trade_from_wire, trade_to_wire
from smart0dte.domain.reconcile import BrokerBook
from smart0dte.domain.risk import Controls, RiskRule, RiskVerdict, Violation
from smart0dte.domain.session_engine import (
    AccountCarry,
    Effects,
    EngineConfig,
    SessionEngine,
    SignalSource,
    Verdict,
)
from smart0dte.domain.simulated_venue import SimulatedVenue
from smart0dte.domain.strategies import StateKey
from smart0dte.domain.strategies.base import StrategyState
from smart0dte.domain.strategy_signals import ProbabilityFn, StrategySignals
from smart0dte.domain.venue import (
    VENUE_COMMAND,
    BrokerNews,
    BrokerReport,
    CancelOrder,
    OrderReport,
    PlaceOrder,
    VenueKind,
)
from smart0dte.ports import (
    AuditRecord,
    AuditRecordExists,
    ConcurrentUpdate,
    DayDocumentStore,
    MarketReader,
    OrderQueue,
    RiskDecision,
    SessionPlan,
    StateStore,
)

ENVELOPE_FORMAT: Final = 1
SAVE_ATTEMPTS: Final = 3
"""How many times a phase is run again after another writer saved the document first."""

T = TypeVar("T")


class CyclePhase(StrEnum):
    NONE = "none"
    OBSERVED = "observed"
    ASSESSED = "assessed"
    EXECUTED = "executed"


class OutOfOrder(ValueError):
    """A phase was asked for a minute the engine is not at (a stale or forged event)."""


class NoSessionPlan(LookupError):
    """Trading was asked of a session pre_market has not prepared."""


def qualified(session_date: date, engine_id: str) -> str:
    """The store id of a venue's order (or simulated fill) id of `session_date`."""
    return f"{session_date:%Y%m%d}-{engine_id}"


@dataclass
class Envelope:
    """The session's saved document (see the module doc)."""

    mode: TradingMode
    session_date: date
    engine: dict[str, Any]
    prior_close: dict[str, float]
    """The previous session's closes as the market table held them (empty: use today's opens)."""
    opens: dict[str, float] = field(default_factory=dict)
    model_version: str | None = None
    cursor_ts: datetime | None = None
    phase: CyclePhase = CyclePhase.NONE
    observed: dict[str, Any] | None = None
    assessment: dict[str, Any] | None = None
    executed: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    closing: dict[str, Any] | None = None
    version: int = 0

    def to_document(self) -> dict[str, object]:
        return {
            "format": ENVELOPE_FORMAT,
            "mode": self.mode.value,
            "session_date": self.session_date.isoformat(),
            "prior_close": self.prior_close,
            "opens": self.opens,
            "model_version": self.model_version,
            "cursor": {
                "ts": None if self.cursor_ts is None else self.cursor_ts.isoformat(),
                "phase": self.phase.value,
                "observed": self.observed,
                "assessment": self.assessment,
                "executed": self.executed,
            },
            "engine": self.engine,
            "outbox": self.outbox,
            "closing": self.closing,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any], version: int) -> Envelope:
        if document.get("format") != ENVELOPE_FORMAT:
            raise DomainError(
                f"session document format={document.get('format')!r}; expected {ENVELOPE_FORMAT}"
            )
        cursor = document["cursor"]
        return cls(
            mode=TradingMode(document["mode"]),
            session_date=date.fromisoformat(document["session_date"]),
            engine=dict(document["engine"]),
            prior_close={str(k): float(v) for k, v in document["prior_close"].items()},
            opens={str(k): float(v) for k, v in document["opens"].items()},
            model_version=document.get("model_version"),
            cursor_ts=None if cursor["ts"] is None else datetime.fromisoformat(cursor["ts"]),
            phase=CyclePhase(cursor["phase"]),
            observed=cursor.get("observed"),
            assessment=cursor.get("assessment"),
            executed=dict(cursor.get("executed") or {}),
            outbox=list(document.get("outbox") or []),
            closing=document.get("closing"),
            version=version,
        )

    def prior_for(self, day: MarketDay) -> dict[str, float]:
        """The prior closes the strategies use, as a backtest of the day would: yesterday's closes,
        else today's opening prices (recorded as each symbol's first bar appears)."""
        if self.prior_close:
            return dict(self.prior_close)
        for symbol, series in day.bars.items():
            if len(series) and symbol not in self.opens:
                self.opens[symbol] = float(series.open[0])
        return dict(self.opens)


class LazyStrategies:
    """The rule strategies (and the promoted model) as a signal source that computes its features
    only when asked for signals: the phases that never ask (risk, execute, flatten) pay nothing."""

    def __init__(
        self,
        day: MarketDay,
        session: SessionTimes,
        prior_close: Mapping[str, float],
        pricing: PricingInputs,
        probability_fn: ProbabilityFn | None,
    ) -> None:
        self._args = (day, session, dict(prior_close), pricing, probability_fn)
        self.states: Mapping[StateKey, StrategyState] = {}

    def signals(self, known: MarketDay, now: datetime) -> list[Signal]:
        day, session, prior, pricing, probability_fn = self._args
        source = StrategySignals(day, session, prior, pricing, probability_fn=probability_fn)
        source.states = self.states
        found = source.signals(known, now)
        self.states = source.states
        return found


class NoSignals:
    """The source of phases that never ask for signals (their strategy states pass through)."""

    def signals(self, known: MarketDay, now: datetime) -> list[Signal]:
        raise DomainError("this phase does not generate signals")


@dataclass(frozen=True, slots=True)
class PhaseInputs:
    """What a phase reads from the control table, once."""

    config: EngineConfig
    controls: Controls
    trading_state: TradingState
    """The trading state last stored (the engine recomputes it; a change is written)."""


@dataclass
class SessionDesk:
    """Loads, runs and saves the session engine for one trading mode (see the module doc)."""

    mode: TradingMode
    state: StateStore
    documents: DayDocumentStore
    market: MarketReader
    calendar: MarketCalendar = field(default_factory=MarketCalendar)
    venue: VenueKind = SimulatedVenue
    queue: Callable[[], OrderQueue] | None = None
    """The broker venue's order queue, built when the first command is sent (None: no command may
    be sent)."""
    broker_book: Callable[[], BrokerBook | None] | None = None
    """The broker venue's book as the order bridge last published it (None: no broker to
    reconcile with, the simulated venue)."""
    model_fn: Callable[[str], ProbabilityFn] | None = None
    """The promoted model's probability function, by version (None: rules only)."""
    pricing: PricingInputs = field(default_factory=PricingInputs)
    _queue: OrderQueue | None = None

    def __post_init__(self) -> None:
        if self.state.mode is not self.mode:
            raise ValueError(f"state store keeps {self.state.mode.value} records, desk is {self.mode.value}")

    # --- sessions and the document ------------------------------------------------------------

    def session(self, session_date: date) -> SessionTimes:
        session = self.calendar.session(session_date)
        if session is None:
            raise OutOfOrder(f"{session_date.isoformat()} is not an NYSE session")
        return session

    def inputs(self) -> PhaseInputs:
        """Settings, limits and the human's controls as stored now: read once per phase."""
        settings = self.state.get_settings()
        controls = self.state.get_controls()
        return PhaseInputs(
            EngineConfig(
                settings=settings, limits=self.state.get_risk_limits(), mode=self.mode, venue=self.venue
            ),
            controls.risk_controls(settings),
            controls.trading_state,
        )

    def load(
        self, session_date: date, session: SessionTimes, inputs: PhaseInputs, create: bool = True
    ) -> Envelope:
        """The session's document with any leftover outbox written; created from the plan when
        `create` and none exists yet (the first minute of the day)."""
        stored = self.documents.get_engine(session_date)
        if stored is not None:
            envelope = Envelope.from_document(stored.value, stored.version)
            if envelope.mode is not self.mode:
                raise DomainError(
                    f"session document of {session_date} is {envelope.mode.value}, not {self.mode.value}"
                )
            if envelope.outbox:
                self.flush(envelope)
            return envelope
        if not create:
            raise NoSessionPlan(
                f"no engine state for {session_date.isoformat()} ({self.mode.value}): nothing traded"
            )
        plan = self.documents.get_plan(session_date)
        if plan is None:
            raise NoSessionPlan(
                f"no session plan for {session_date.isoformat()} ({self.mode.value}): pre_market has not run"
            )
        return self._new_envelope(plan, session, inputs.config)

    def _new_envelope(self, plan: SessionPlan, session: SessionTimes, config: EngineConfig) -> Envelope:
        carry = AccountCarry(
            equity_usd=plan.starting_equity_usd,
            peak_equity_usd=plan.peak_equity_usd,
            day_trades_in_window=plan.day_trades_in_window,
            consecutive_losses=plan.consecutive_losses,
        )
        empty = MarketDay(session.session_date, {}, {}, synthetic=False)
        engine = SessionEngine(empty, session, config, NoSignals(), carry)
        previous = self.calendar.previous_session(session.session_date)
        return Envelope(
            mode=self.mode,
            session_date=session.session_date,
            engine=engine.to_state(),
            prior_close=self.market.closes(previous),
            model_version=plan.model_version,
        )

    def restore(
        self,
        envelope: Envelope,
        session: SessionTimes,
        inputs: PhaseInputs,
        day: MarketDay | None = None,
        source: SignalSource | None = None,
    ) -> SessionEngine:
        controls = inputs.controls
        return SessionEngine.from_state(
            envelope.engine,
            day or MarketDay(session.session_date, {}, {}, synthetic=False),
            session,
            inputs.config,
            source or NoSignals(),
            lambda _now: controls,
        )

    def report(self, engine: SessionEngine, session_date: date) -> BrokerReport | None:
        """What the broker did with the engine's working orders, as the order bridge stored it
        (every fill, the engine books each once; a rejection, cancel or expiry), and its book,
        read first so that it never has seen a fill the news lack; None on the simulated venue."""
        if self.broker_book is None:
            return None
        book = self.broker_book()
        found: list[BrokerNews] = []
        for order in engine.venue.awaiting_news():
            stored = self.state.get_order(qualified(session_date, order.order_id))
            if stored is None:
                continue
            found += [
                f.model_copy(update={"order_id": order.order_id})
                for f in self.state.list_fills(stored.value.order_id)
            ]
            status = stored.value.status
            if status in (OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.EXPIRED):
                found.append(
                    OrderReport(order.order_id, status, stored.value.updated_at, stored.value.reason)
                )
        return BrokerReport(tuple(found), book)

    def strategies(self, envelope: Envelope, session: SessionTimes, day: MarketDay) -> LazyStrategies:
        probability_fn = None
        if envelope.model_version is not None:
            probability_fn = self._model(envelope.model_version)
        return LazyStrategies(day, session, envelope.prior_for(day), self.pricing, probability_fn)

    def _model(self, version: str) -> ProbabilityFn:
        """The promoted model; one that cannot be loaded leaves the rules trading (and the exits
        running): each signal's rationale names the failure instead."""
        try:
            if self.model_fn is None:
                raise DomainError("no model store is wired")
            return self.model_fn(version)
        except Exception as exc:  # the model refines the rules; it must not stop the cycle
            reason = f"model {version[:12]} could not be loaded: {type(exc).__name__}: {exc}"

            def unavailable(_underlying: Underlying, _row: F64) -> float:
                raise DomainError(reason)

            return unavailable

    def commit(
        self, envelope: Envelope, engine: SessionEngine | None, outbox: list[dict[str, Any]]
    ) -> Envelope:
        """Save the document with its outbox (the commit point), write the outbox, save it emptied."""
        if engine is not None:
            envelope.engine = engine.to_state()
        envelope.outbox = outbox
        envelope.version = self.documents.put_engine(
            envelope.session_date, envelope.to_document(), envelope.version, at=envelope.cursor_ts
        )
        if outbox:
            self.flush(envelope)
        return envelope

    def retrying(self, attempt: Callable[[], T]) -> T:
        """Run a load-run-save attempt again when another writer saved the document first."""
        for _ in range(SAVE_ATTEMPTS - 1):
            try:
                return attempt()
            except ConcurrentUpdate:
                continue
        return attempt()

    # --- the outbox --------------------------------------------------------------------------------

    def flush(self, envelope: Envelope) -> None:
        """Write the outbox's records (each create-once or idempotent), then save it emptied."""
        self.write(envelope.outbox, envelope.session_date)
        envelope.outbox = []
        envelope.version = self.documents.put_engine(
            envelope.session_date, envelope.to_document(), envelope.version, at=envelope.cursor_ts
        )

    def write(self, ops: Sequence[Mapping[str, Any]], session_date: date) -> None:
        state = self.state
        finals: dict[str, tuple[Order, str]] = {}
        for op in ops:
            kind, actor = op["op"], str(op["actor"])
            if kind == "signal":
                state.put_signal(Signal.model_validate(op["signal"]), actor)
            elif kind == "risk":
                state.put_risk_decision(_risk_from_wire(op), actor)
            elif kind == "order":
                order = Order.model_validate(op["order"])
                if state.get_order(order.order_id) is None:
                    state.create_order(_as_submitted(order), actor, str(op["reason"]) or "order submitted")
                finals[order.order_id] = (order, actor)
            elif kind == "fill":
                state.record_fill(Fill.model_validate(op["fill"]), actor)
            elif kind == "send":
                self._send(VENUE_COMMAND.validate_python(op["command"]))
            elif kind == "position":
                self._position(op, actor)
            elif kind == "trading_state":
                wanted = TradingState(op["state"])
                if state.get_controls().trading_state is not wanted:
                    state.set_trading_state(
                        wanted, actor, str(op["reason"]), datetime.fromisoformat(op["ts"])
                    )
            elif kind == "incident":
                record = AuditRecord(
                    datetime.fromisoformat(op["ts"]),
                    self.mode,
                    actor,
                    "IncidentReported",
                    str(op["message"]),
                    dict(op.get("details") or {}),
                )
                with contextlib.suppress(AuditRecordExists):
                    state.audit.append(record)
            else:
                raise DomainError(f"outbox holds an unknown operation {kind!r}")
        for order, actor in finals.values():
            ends = order.status in (OrderStatus.PENDING_CANCEL, OrderStatus.CANCELLED, OrderStatus.EXPIRED)
            if not ends and order.oca_group is None:
                continue  # only a group's orders shrink; other states come with their fills
            stored = state.get_order(order.order_id)
            if (
                stored is not None
                and order.quantity < stored.value.quantity
                and not stored.value.status.is_terminal
            ):
                stored = state.reduce_order(
                    order.order_id, order.quantity, order.updated_at, actor, order.reason
                )
            if ends and stored is not None and order.status in ORDER_TRANSITIONS[stored.value.status]:
                state.transition_order(
                    order.order_id, order.status, order.updated_at, actor, order.reason or "cancelled"
                )

    def _send(self, command: PlaceOrder | CancelOrder) -> None:
        if command.mode is not self.mode:
            raise DomainError(
                f"a {command.mode.value} {command.command} command in the {self.mode.value} desk: "
                "only the desk's own mode's commands go to its order queue"
            )
        if self._queue is None:
            if self.queue is None:
                raise DomainError(f"{self.mode.value} mode needs the order queue; none is wired")
            self._queue = self.queue()
        self._queue.send(command)

    def _position(self, op: Mapping[str, Any], actor: str) -> None:
        state = self.state
        position = Position.model_validate(op["position"])
        trades = [trade_from_wire(t) for t in op["trades"]]
        change = op["change"]
        if change == "opened":
            state.open_position(position, actor, f"{position.strategy} entry")
        elif change == "reduced":
            state.mark_position_closing(
                position.position_id, trades[-1].exit_ts, actor, f"partly sold ({trades[-1].exit_reason})"
            )
        elif change == "closed":
            quantity = sum(t.quantity for t in trades)
            exit_price = (sum((t.exit_price * t.quantity for t in trades), Decimal(0)) / quantity).quantize(
                Decimal("0.0001")
            )
            commissions = sum((t.commissions_usd for t in trades), Decimal("0.00"))
            state.close_position(
                position.position_id,
                exit_price,
                trades[-1].exit_ts,
                trades[-1].exit_reason,
                actor,
                commissions,
            )
        elif change == "added":
            record = AuditRecord(
                position.opened_at if not trades else trades[-1].exit_ts,
                self.mode,
                actor,
                "PositionIncreased",
                "a second entry in a held contract; the stored position keeps its first quantity",
                {"position": position.model_dump(mode="json")},
            )
            with contextlib.suppress(AuditRecordExists):
                state.audit.append(record)


# --- effects -> outbox operations ----------------------------------------------------------------


def _as_submitted(order: Order) -> Order:
    """The order as it was when the broker accepted (or rejected) it: fills come as their own records."""
    status = OrderStatus.REJECTED if order.status is OrderStatus.REJECTED else OrderStatus.SUBMITTED
    return order.model_copy(
        update={
            "status": status,
            "filled_quantity": 0,
            "avg_fill_price": None,
            "updated_at": order.created_at,
            "reason": order.reason if status is OrderStatus.REJECTED else "",
        }
    )


def _risk_from_wire(op: Mapping[str, Any]) -> RiskDecision:
    violations = tuple(
        Violation(RiskRule(text.partition(": ")[0]), text.partition(": ")[2]) for text in op["violations"]
    )
    verdict = RiskVerdict(
        approved=bool(op["approved"]), trading_state=TradingState(op["trading_state"]), violations=violations
    )
    return RiskDecision(
        signal_id=str(op["signal_id"]),
        ts=datetime.fromisoformat(op["ts"]),
        verdict=verdict,
        quantity=int(op["quantity"]),
    )


def signal_ops(signals: Sequence[Signal], actor: str) -> list[dict[str, Any]]:
    return [{"op": "signal", "actor": actor, "signal": s.model_dump(mode="json")} for s in signals]


def risk_ops(verdicts: Sequence[Verdict], ts: datetime, actor: str) -> list[dict[str, Any]]:
    return [
        {
            "op": "risk",
            "actor": actor,
            "signal_id": v.signal.signal_id,
            "ts": ts.isoformat(),
            "approved": v.verdict.approved,
            "trading_state": v.verdict.trading_state.value,
            "violations": [str(x) for x in v.verdict.violations],
            "quantity": v.quantity,
        }
        for v in verdicts
    ]


def effect_ops(effects: Effects, session_date: date, actor: str) -> list[dict[str, Any]]:
    """Orders, fills, positions and venue commands of a phase as outbox operations, in that order
    (an order is stored before its command is sent; a broker's fills are stored by the order bridge,
    so `effects.fills` holds only the simulated venue's)."""
    reasons = {i.intent_id: i.reason for i in effects.submitted}
    latest: dict[str, Order] = {}
    for order in effects.orders:
        latest[order.order_id] = order
    ops: list[dict[str, Any]] = []
    for order in latest.values():
        stored = order.model_copy(update={"order_id": qualified(session_date, order.order_id)})
        ops.append(
            {
                "op": "order",
                "actor": actor,
                "order": stored.model_dump(mode="json"),
                "reason": reasons.get(order.intent_id, ""),
            }
        )
    for fill in effects.fills:
        stored_fill = fill.model_copy(
            update={
                "fill_id": qualified(session_date, fill.fill_id),
                "order_id": qualified(session_date, fill.order_id),
            }
        )
        ops.append({"op": "fill", "actor": actor, "fill": stored_fill.model_dump(mode="json")})
    for change in effects.positions:
        ops.append(
            {
                "op": "position",
                "actor": actor,
                "change": change.kind,
                "position": change.position.model_dump(mode="json"),
                "trades": [trade_to_wire(t) for t in change.trades],
            }
        )
    ops += [{"op": "send", "actor": actor, "command": c.model_dump(mode="json")} for c in effects.commands]
    return ops


def incident_ops(effects: Effects, actor: str) -> list[dict[str, Any]]:
    """The phase's incidents as audit operations: the message, and the position and quantity
    when the incident is about one."""
    return [
        {
            "op": "incident",
            "actor": actor,
            "ts": d.ts.isoformat(),
            "message": str(d.detail["message"]),
            "details": {k: v for k, v in d.detail.items() if k != "message"},
        }
        for d in effects.decisions
        if d.kind == "incident"
    ]


def trading_state_op(state: TradingState, reason: str, ts: datetime, actor: str) -> dict[str, Any]:
    return {
        "op": "trading_state",
        "actor": actor,
        "state": state.value,
        "reason": reason[:2000],
        "ts": ts.isoformat(),
    }


def new_york_date(ts: datetime) -> date:
    return ts.astimezone(NEW_YORK).date()
