"""The session engine across Lambdas: its saved document, and how a phase's effects reach the store.

Each trading phase (Signals, Risk, Execute, flatten, post_close) runs in its own invocation. It
loads the session's document from the DayDocumentStore, restores the engine from it, runs one engine
phase, and saves the document back under an optimistic lock. The document holds:

- `engine`: `SessionEngine.to_state()`;
- the cycle cursor: the last minute observed and how far its phases got, with the results already
  returned for it, so a duplicated or retried event gets the same answer and changes nothing;
- `outbox`: the typed records the last phase produced (`services.outbox`: signals, risk
  decisions, orders with their venue events, fills, positions, the broker venue's commands for the
  order bridge, the trading state, incidents), built here from the engine's `Effects`.

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
A document of another format (an older version's, whose outbox held `{"op": ...}` dicts) is
refused: a document lives one day, so deploy between sessions; pre_market still reads the
previous session's `closing`, unchanged since format 1 (`closing_of`).

Order and fill ids of the venues restart every session; in the store they are prefixed
with the session date (`20250314-O00000003`) so sessions never collide.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, TypeVar, assert_never

from smart0dte.domain.calendar import NEW_YORK, MarketCalendar, SessionTimes
from smart0dte.domain.chain_analytics import PricingInputs
from smart0dte.domain.controls import AutomationSettings, NotificationKind, TradingState
from smart0dte.domain.marketdata import F64, MarketDay
from smart0dte.domain.models import (
    ORDER_TRANSITIONS,
    DomainError,
    Order,
    OrderStatus,
    Signal,
    TradingMode,
    Underlying,
)
from smart0dte.domain.reconcile import BrokerBook
from smart0dte.domain.risk import Controls
from smart0dte.domain.session_engine import (
    AccountCarry,
    Effects,
    EngineConfig,
    SessionEngine,
    SignalSource,
    Verdict,
)
from smart0dte.domain.simulated_venue import SimulatedVenue
from smart0dte.domain.strategies import STRATEGIES, StateKey
from smart0dte.domain.strategies.base import StrategyState
from smart0dte.domain.strategy_signals import ProbabilityFn, StrategySignals
from smart0dte.domain.venue import (
    BrokerNews,
    BrokerReport,
    CancelOrder,
    OrderReport,
    PlaceOrder,
    VenueEvent,
    VenueKind,
    qualified,
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
from smart0dte.services.notifications import Notifications, exit_text, fill_text
from smart0dte.services.outbox import (
    REASON_MAX_CHARS,
    CommandQueued,
    FillRecorded,
    IncidentReported,
    OrderUpdated,
    OutboxRecord,
    PositionChanged,
    RiskDecided,
    SignalRecorded,
    TradingStateChanged,
    parse_outbox,
)

ENVELOPE_FORMAT: Final = 2
"""2: the outbox holds typed records (`services.outbox`); 1 held `{"op": ...}` dicts."""
CLOSING_FORMATS: Final = frozenset({1, ENVELOPE_FORMAT})
"""The formats whose `closing` pre_market reads (the same since format 1)."""
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
    outbox: list[OutboxRecord] = field(default_factory=list)
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
            "outbox": [record.model_dump(mode="json") for record in self.outbox],
            "closing": self.closing,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any], version: int) -> Envelope:
        """The envelope of a stored document; another format, or an outbox record of another
        shape, raises a DomainError naming it."""
        session_date = date.fromisoformat(document["session_date"])
        if document.get("format") != ENVELOPE_FORMAT:
            raise DomainError(
                f"session document of {session_date} has format={document.get('format')!r}; this "
                f"version reads format {ENVELOPE_FORMAT} only (typed outbox records): a document lives "
                "one day, so a version is deployed between sessions"
            )
        cursor = document["cursor"]
        return cls(
            mode=TradingMode(document["mode"]),
            session_date=session_date,
            engine=dict(document["engine"]),
            prior_close={str(k): float(v) for k, v in document["prior_close"].items()},
            opens={str(k): float(v) for k, v in document["opens"].items()},
            model_version=document.get("model_version"),
            cursor_ts=None if cursor["ts"] is None else datetime.fromisoformat(cursor["ts"]),
            phase=CyclePhase(cursor["phase"]),
            observed=cursor.get("observed"),
            assessment=cursor.get("assessment"),
            executed=dict(cursor.get("executed") or {}),
            outbox=parse_outbox(document.get("outbox") or [], f"session document of {session_date}"),
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
        enabled: Collection[str] | None = None,
    ) -> None:
        self._args = (day, session, dict(prior_close), pricing, probability_fn, enabled)
        self.states: Mapping[StateKey, StrategyState] = {}

    def signals(self, known: MarketDay, now: datetime) -> list[Signal]:
        day, session, prior, pricing, probability_fn, enabled = self._args
        source = StrategySignals(day, session, prior, pricing, enabled=enabled, probability_fn=probability_fn)
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
    notifications: Notifications | None = None
    """Where a committed phase's fills and closed positions (with their P&L) are announced, and
    the trading steps' incidents and circuit breakers sent (None: nowhere)."""
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
                settings=settings,
                limits=self.state.get_risk_limits(),
                mode=self.mode,
                venue=self.venue,
                sizing=settings.sizing_method,
                trailing_stop_fraction=settings.trailing_stop_percentage or None,
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

    def strategies(
        self, envelope: Envelope, session: SessionTimes, day: MarketDay, settings: AutomationSettings
    ) -> LazyStrategies:
        """The rule strategies the settings leave on (and the promoted model)."""
        probability_fn = None
        if envelope.model_version is not None:
            probability_fn = self._model(envelope.model_version)
        enabled = frozenset(STRATEGIES) - frozenset(settings.disabled_strategies)
        return LazyStrategies(day, session, envelope.prior_for(day), self.pricing, probability_fn, enabled)

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
        self, envelope: Envelope, engine: SessionEngine | None, outbox: list[OutboxRecord]
    ) -> Envelope:
        """Save the document with its outbox (the commit point), write the outbox, save it emptied,
        then announce its fills and closed positions (a crash before that loses the announcement;
        a leftover outbox written by a later load, or post_close's reconciliation, announces nothing)."""
        if engine is not None:
            envelope.engine = engine.to_state()
        envelope.outbox = outbox
        envelope.version = self.documents.put_engine(
            envelope.session_date, envelope.to_document(), envelope.version, at=envelope.cursor_ts
        )
        if outbox:
            self.flush(envelope)
            self._announce(outbox)
        return envelope

    def _announce(self, records: Sequence[OutboxRecord]) -> None:
        notifications = self.notifications
        if notifications is None:
            return
        for record in records:
            if isinstance(record, FillRecorded):
                notifications.send(NotificationKind.FILL, *fill_text(self.mode, record.fill))
            elif isinstance(record, PositionChanged) and record.change == "closed":
                notifications.send(
                    NotificationKind.EXIT, *exit_text(self.mode, record.position, record.trades)
                )

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
        self.write(envelope.outbox)
        envelope.outbox = []
        envelope.version = self.documents.put_engine(
            envelope.session_date, envelope.to_document(), envelope.version, at=envelope.cursor_ts
        )

    def write(self, records: Sequence[OutboxRecord]) -> None:
        """Write `records` in order, each create-once or idempotent (written again after a crash,
        none is written twice); then the cancels and expiries among the orders' last states."""
        state = self.state
        finals: dict[str, OrderUpdated] = {}
        for record in records:
            match record:
                case SignalRecorded():
                    state.put_signal(record.signal, record.actor)
                case RiskDecided():
                    state.put_risk_decision(record.decision, record.actor)
                case OrderUpdated():
                    order = record.order
                    if state.get_order(order.order_id) is None:
                        state.create_order(
                            _as_submitted(order), record.actor, record.reason or "order submitted"
                        )
                    finals[order.order_id] = record
                case FillRecorded():
                    state.record_fill(record.fill, record.actor)
                case CommandQueued():
                    self._send(record.command)
                case PositionChanged():
                    self._position(record)
                case TradingStateChanged():
                    if state.get_controls().trading_state is not record.state:
                        state.set_trading_state(record.state, record.actor, record.reason, record.ts)
                case IncidentReported():
                    self._audit(
                        AuditRecord(
                            record.ts,
                            self.mode,
                            record.actor,
                            "IncidentReported",
                            record.message,
                            record.details,
                        )
                    )
                case _:
                    assert_never(record)
        for record in finals.values():
            order = record.order
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
                    order.order_id, order.quantity, order.updated_at, record.actor, order.reason
                )
            if ends and stored is not None and order.status in ORDER_TRANSITIONS[stored.value.status]:
                state.transition_order(
                    order.order_id, order.status, order.updated_at, record.actor, order.reason or "cancelled"
                )

    def _audit(self, record: AuditRecord) -> None:
        """Append `record` once (written again after a crash, it is already there)."""
        with contextlib.suppress(AuditRecordExists):
            self.state.audit.append(record)

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

    def _position(self, record: PositionChanged) -> None:
        state, actor, position, trades = self.state, record.actor, record.position, record.trades
        if record.change == "opened":
            state.open_position(position, actor, f"{position.strategy} entry")
        elif record.change == "reduced":
            state.mark_position_closing(
                position.position_id, trades[-1].exit_ts, actor, f"partly sold ({trades[-1].exit_reason})"
            )
        elif record.change == "closed":
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
        else:
            self._audit(
                AuditRecord(
                    position.opened_at if not trades else trades[-1].exit_ts,
                    self.mode,
                    actor,
                    "PositionIncreased",
                    "a second entry in a held contract; the stored position keeps its first quantity",
                    {"position": position.model_dump(mode="json")},
                )
            )


def closing_of(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """A stored session document's `closing` (what the next session inherits), None before
    post_close wrote it; any format in `CLOSING_FORMATS`."""
    if document.get("format") not in CLOSING_FORMATS:
        raise DomainError(
            f"session document format={document.get('format')!r}; its closing is read in formats "
            f"{sorted(CLOSING_FORMATS)}"
        )
    closing = document.get("closing")
    return None if closing is None else dict(closing)


# --- effects -> outbox records -------------------------------------------------------------------


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


def signal_records(signals: Sequence[Signal], actor: str) -> list[OutboxRecord]:
    return [SignalRecorded(actor=actor, signal=s) for s in signals]


def risk_records(verdicts: Sequence[Verdict], ts: datetime, actor: str) -> list[OutboxRecord]:
    return [
        RiskDecided(actor=actor, decision=RiskDecision(v.signal.signal_id, ts, v.verdict, v.quantity))
        for v in verdicts
    ]


def effect_records(effects: Effects, session_date: date, actor: str) -> list[OutboxRecord]:
    """Orders (each order's last event), fills, positions and venue commands of a phase, in that
    order (an order is stored before its command is queued; a broker's fills are stored by the
    order bridge, so `effects.fills` holds only the simulated venue's)."""
    reasons = {i.intent_id: i.reason for i in effects.submitted}
    latest: dict[str, VenueEvent] = {}
    for event in effects.events:
        latest[event.order.order_id] = event
    records: list[OutboxRecord] = [
        OrderUpdated(
            actor=actor,
            event=event.kind,
            order=event.order.model_copy(update={"order_id": qualified(session_date, event.order.order_id)}),
            reason=reasons.get(event.order.intent_id, ""),
        )
        for event in latest.values()
    ]
    records += [
        FillRecorded(
            actor=actor,
            fill=fill.model_copy(
                update={
                    "fill_id": qualified(session_date, fill.fill_id),
                    "order_id": qualified(session_date, fill.order_id),
                }
            ),
        )
        for fill in effects.fills
    ]
    records += [
        PositionChanged(actor=actor, change=change.kind, position=change.position, trades=change.trades)
        for change in effects.positions
    ]
    records += [CommandQueued(actor=actor, command=c) for c in effects.commands]
    return records


def incident_records(effects: Effects, actor: str) -> list[OutboxRecord]:
    """The phase's incidents for the audit log: the message, and the position and quantity when
    the incident is about one."""
    return [
        IncidentReported(
            actor=actor,
            ts=d.ts,
            message=str(d.detail["message"]),
            details={k: v for k, v in d.detail.items() if k != "message"},
        )
        for d in effects.decisions
        if d.kind == "incident"
    ]


def trading_state_record(state: TradingState, reason: str, ts: datetime, actor: str) -> TradingStateChanged:
    return TradingStateChanged(actor=actor, state=state, reason=reason[:REASON_MAX_CHARS], ts=ts)


def new_york_date(ts: datetime) -> date:
    return ts.astimezone(NEW_YORK).date()
