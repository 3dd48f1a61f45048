"""What the domain and services need from the outside world, as Protocols.

Adapters implement them (DBN files, Databento, DynamoDB, S3, SQS, IBKR); tests and the local
runtime inject their own. Ports appear here as the first code that needs them lands, with the
records and errors they exchange.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final, Generic, Literal, Protocol, TypeVar

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.controls import AutomationSettings, RiskLimits, TradingState
from smart0dte.domain.events import DomainEvent
from smart0dte.domain.marketdata import MarketDay
from smart0dte.domain.models import (
    Bar,
    ChainSnapshot,
    DomainError,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    Position,
    Signal,
    TradingMode,
    Underlying,
    idempotency_key,
)
from smart0dte.domain.risk import Controls, RiskVerdict

T = TypeVar("T")


class Clock(Protocol):
    """The current instant, timezone-aware; simulated in replays and tests."""

    def now(self) -> datetime: ...


class MarketData(Protocol):
    """Historical market data, one session at a time."""

    def available_days(self) -> list[date]: ...

    def load_day(self, session_date: date) -> MarketDay: ...


class ObjectStore(Protocol):
    """Blobs by key: the DBN archive, models and reports (S3 in AWS, a folder locally)."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def list_keys(self, prefix: str) -> Iterator[str]: ...

    def delete(self, key: str) -> None:
        """Remove the object; a key with no object is not an error (deleting is idempotent)."""


class ObjectNotFound(LookupError):
    """An ObjectStore has no object under the key; the message names the store and the key."""


class OrderQueue(Protocol):
    """Where live order intents go for the gateway's IB bridge (SQS FIFO in AWS)."""

    def send(self, intent: OrderIntent) -> str:
        """Enqueue `intent` once per intent id; returns the message id."""
        ...


# --- Live broker: what the gateway's order bridge needs from Interactive Brokers ------------

PAPER_ACCOUNT_PREFIX: Final = "DU"
"""IB paper-trading account ids start with DU (live ones with U); the port alone does not decide."""
LIVE_GATEWAY_PORT: Final = 4001
PAPER_GATEWAY_PORT: Final = 4002


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    """The IB account the gateway is logged in to, as the broker reports it."""

    account_id: str
    net_liquidation_usd: Decimal
    options_permission: bool
    """A what-if order for a same-day option was accepted: the account may trade options."""
    options_permission_detail: str = ""

    @property
    def is_paper(self) -> bool:
        return self.account_id.startswith(PAPER_ACCOUNT_PREFIX)


@dataclass(frozen=True, slots=True)
class BrokerOrderAck:
    """What the broker holds for one intent: its order id and status (`orderRef` = intent id)."""

    intent_id: str
    broker_order_id: int
    status: OrderStatus
    filled_quantity: int = 0
    already_known: bool = False
    """True when the broker already had an order with this orderRef: nothing new was placed."""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    contract_symbol: str
    """OCC symbol of the option (21 characters), or the stock symbol."""
    quantity: int
    avg_cost_usd: Decimal


class LiveBroker(Protocol):
    """Interactive Brokers through IB Gateway (ib_async). Every order carries `orderRef` = intent
    id, so submitting an intent the broker already has places nothing (idempotent)."""

    def account(self) -> BrokerAccount: ...

    def submit(self, intent: OrderIntent) -> BrokerOrderAck:
        """Place `intent` (a bracket when it carries stop/target prices) unless an order with its
        orderRef exists today; either way return what the broker holds for it."""
        ...

    def cancel(self, intent_id: str) -> bool:
        """Cancel the working orders with orderRef = intent id; False when none was working."""
        ...

    def executions(self, since: datetime) -> list[Fill]:
        """The account's fills since `since`, as domain fills (intent_id from orderRef, fill_id =
        the execution id, commission when reported)."""
        ...

    def open_orders(self) -> list[BrokerOrderAck]: ...

    def positions(self) -> list[BrokerPosition]: ...


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """The gateway task's heartbeat as stored for the API and the live-arming checks."""

    heartbeat_at: datetime
    connected: bool
    port: int
    account: BrokerAccount | None
    detail: str = ""


# --- State: the records the StateStore keeps and the errors it raises ---------------------


class RecordNotFound(LookupError):
    """A record the call needs does not exist; the message names the entity and its id."""


class ConcurrentUpdate(RuntimeError):
    """Another writer changed the record first (optimistic lock); reload and try again."""


class ConflictingRecord(ValueError):
    """A create found the id already taken by a different record."""


class AuditRecordExists(ValueError):
    """An audit record with this key was already written; the log never overwrites."""


ResetScope = Literal["positions", "signals", "analytics", "all"]
RESET_SCOPES: Final[dict[str, str]] = {
    "positions": "every position with its orders, fills and order intents, the engines' saved "
    "session state and the daily counters (trades, day trades, realised P&L)",
    "signals": "every signal and its risk decision",
    "analytics": "the daily counters, daily reports, backtest results and optimization results",
    "all": "everything above; settings, risk limits, controls and the audit log are kept",
}
"""What `POST /api/reset` deletes per scope (paper mode only)."""


class ResetRefused(DomainError):
    """A reset that would orphan live state (an open position, a working order, trading on)."""


def session_date_of(ts: datetime) -> date:
    """The New York calendar date of `ts`: the partition date of every per-day record."""
    return ts.astimezone(NEW_YORK).date()


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    """A record with the version its next conditional write must match."""

    value: T
    version: int


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Who (actor) did what (action), when (ts) and why (reason), with JSON-ready details.

    Its id derives from its content, so writing the same record twice is refused rather
    than duplicated.
    """

    ts: datetime
    mode: TradingMode
    actor: str
    action: str
    reason: str
    details: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None or self.ts.utcoffset() is None:
            raise ValueError("AuditRecord.ts must be timezone-aware")
        for name in ("actor", "action", "reason"):
            value: str = getattr(self, name)
            if not 1 <= len(value) <= 2000:
                raise ValueError(f"AuditRecord.{name} must have 1 to 2000 characters, got {len(value)}")
        try:
            self.details_json()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"AuditRecord.details must be JSON-serializable: {exc}") from exc

    def details_json(self) -> str:
        return json.dumps(self.details, sort_keys=True, separators=(",", ":"))

    @property
    def record_id(self) -> str:
        return idempotency_key(
            self.mode.value,
            self.ts.astimezone(UTC).isoformat(),
            self.actor,
            self.action,
            self.reason,
            self.details_json(),
        )

    @classmethod
    def of_event(
        cls, event: DomainEvent, reason: str, details: Mapping[str, object] | None = None
    ) -> AuditRecord:
        """The audit record of a domain event: its name is the action, its fields the details."""
        payload = event.model_dump(mode="json", exclude={"ts", "mode", "actor"})
        return cls(
            ts=event.ts,
            mode=event.mode,
            actor=event.actor,
            action=event.name,
            reason=reason,
            details={**payload, **(details or {})},
        )


@dataclass(frozen=True, slots=True)
class ControlChange:
    """Who last flipped a control, why and when."""

    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TradingControls:
    """The human's controls and the last trading state the system set.

    The emergency stop moves the state to HALTED at once; pause, resume and clearing the stop
    change only their flag, and the next risk evaluation sets the state from all inputs.
    """

    emergency_stop: bool = False
    paused: bool = False
    trading_state: TradingState = TradingState.ACTIVE
    state_reason: str = "no control record yet"
    emergency_stop_change: ControlChange | None = None
    pause_change: ControlChange | None = None
    state_change: ControlChange | None = None
    close_requests: frozenset[str] = frozenset()
    """Positions a human asked to close; the engine exits each at its next minute (ids of closed
    positions may stay: the engine only exits what it holds)."""

    def risk_controls(self, settings: AutomationSettings) -> Controls:
        return Controls(
            settings=settings,
            emergency_stop=self.emergency_stop,
            paused=self.paused,
            close_requests=self.close_requests,
        )


@dataclass(frozen=True, slots=True)
class ActiveMode:
    """Which mode's records the system trades (paper until switched), and who switched it."""

    mode: TradingMode
    change: ControlChange | None


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The Risk step's verdict on one signal, every violated rule with its numbers."""

    signal_id: str
    ts: datetime
    verdict: RiskVerdict
    quantity: int


@dataclass(frozen=True, slots=True)
class DailyCounters:
    """One session's counters: PDT day trades, entries and realized P&L (net, in cents)."""

    session_date: date
    day_trades: int = 0
    trades: int = 0
    realized_pnl_usd: Decimal = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class ControlState:
    """What a screen of the dashboard shows about the controls, read together."""

    settings: AutomationSettings
    risk_limits: RiskLimits
    controls: TradingControls
    counters: DailyCounters


class AuditLog(Protocol):
    """Append-only: there is no way to change or remove a record."""

    def append(self, record: AuditRecord) -> None:
        """Write `record`, or raise AuditRecordExists if its key is taken."""
        ...

    def list_day(self, session_date: date) -> list[AuditRecord]:
        """The session's records, oldest first."""
        ...


class StateStore(Protocol):
    """Everything the system remembers, for one trading mode.

    Every write that is a decision or a manual action writes its audit record in the same
    transaction, so a change and its explanation exist together or not at all. Creates are
    once-only: a retry returns the stored record and writes nothing.
    """

    @property
    def mode(self) -> TradingMode: ...

    @property
    def audit(self) -> AuditLog: ...

    # settings and controls
    def get_settings(self) -> AutomationSettings: ...

    def put_settings(self, settings: AutomationSettings, actor: str, reason: str, at: datetime) -> None: ...

    def get_risk_limits(self) -> RiskLimits: ...

    def put_risk_limits(self, limits: RiskLimits, actor: str, reason: str, at: datetime) -> None: ...

    def get_controls(self) -> TradingControls: ...

    def risk_controls(self) -> Controls:
        """Settings, emergency stop and pause, as the risk checks take them."""
        ...

    def activate_emergency_stop(self, actor: str, reason: str, at: datetime) -> TradingControls: ...

    def request_close(self, position_id: str, actor: str, reason: str, at: datetime) -> TradingControls:
        """Ask the engine to exit an open position at its next minute (audited)."""
        ...

    def clear_emergency_stop(self, actor: str, reason: str, at: datetime) -> TradingControls: ...

    def pause(self, actor: str, reason: str, at: datetime) -> TradingControls: ...

    def resume(self, actor: str, reason: str, at: datetime) -> TradingControls: ...

    def set_trading_state(
        self, state: TradingState, actor: str, reason: str, at: datetime
    ) -> TradingControls: ...

    # signals and risk decisions
    def put_signal(self, signal: Signal, actor: str) -> bool:
        """Store and audit `signal`; False (nothing written) if its id is already stored."""
        ...

    def get_signal(self, session_date: date, signal_id: str) -> Signal | None: ...

    def list_signals(self, session_date: date) -> list[Signal]: ...

    def put_risk_decision(self, decision: RiskDecision, actor: str) -> bool: ...

    def get_risk_decision(self, session_date: date, signal_id: str) -> RiskDecision | None: ...

    def list_risk_decisions(self, session_date: date) -> list[RiskDecision]: ...

    # the mode the system trades in (one record for both modes)
    def get_active_mode(self) -> ActiveMode: ...

    def switch_active_mode(
        self, to: TradingMode, actor: str, reason: str, at: datetime, details: Mapping[str, object]
    ) -> ActiveMode: ...

    # the gateway task's heartbeat (IB connection and account), one record per mode
    def put_gateway_status(self, status: GatewayStatus) -> None: ...

    def get_gateway_status(self) -> GatewayStatus | None: ...

    # orders and fills
    def create_order(self, order: Order, actor: str, reason: str) -> Versioned[Order]:
        """Create once per intent id; a retry returns the existing order and writes nothing."""
        ...

    def get_order(self, order_id: str) -> Versioned[Order] | None: ...

    def get_order_by_intent(self, intent_id: str) -> Versioned[Order] | None: ...

    def list_orders(self, status: OrderStatus) -> list[Order]:
        """Orders in `status`, oldest first; read from an index, so a write may take a moment to show."""
        ...

    def list_working_orders(self) -> list[Order]:
        """Orders not yet in a terminal status, oldest first (index read, as `list_orders`)."""
        ...

    def transition_order(
        self,
        order_id: str,
        status: OrderStatus,
        at: datetime,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> Versioned[Order]:
        """Move the order through `Order.transition` under an optimistic lock."""
        ...

    def record_fill(self, fill: Fill, actor: str) -> Versioned[Order]:
        """Store the fill and apply it to its order, once per fill id."""
        ...

    def list_fills(self, order_id: str) -> list[Fill]: ...

    # positions and daily counters
    def open_position(self, position: Position, actor: str, reason: str) -> Versioned[Position]: ...

    def get_position(self, position_id: str) -> Versioned[Position] | None: ...

    def list_open_positions(self) -> list[Position]:
        """Positions still holding contracts, OPEN and CLOSING, oldest first (index read)."""
        ...

    def mark_position_closing(
        self, position_id: str, at: datetime, actor: str, reason: str
    ) -> Versioned[Position]: ...

    def close_position(
        self,
        position_id: str,
        exit_price: Decimal,
        closed_at: datetime,
        exit_reason: str,
        actor: str,
        commissions_usd: Decimal = Decimal("0.00"),
    ) -> Versioned[Position]:
        """Close once and book the day trade and net realized P&L on the close date."""
        ...

    def get_counters(self, session_date: date) -> DailyCounters: ...

    def add_to_counters(
        self,
        session_date: date,
        *,
        day_trades: int = 0,
        trades: int = 0,
        realized_pnl_usd: Decimal = Decimal("0.00"),
    ) -> DailyCounters:
        """Atomic increments; returns the counters after them."""
        ...

    def day_trades_in_window(self, session_dates: Sequence[date]) -> int:
        """Day trades summed over `session_dates` (the PDT window the calendar gives)."""
        ...

    # market data (expires after the store's TTL)
    def put_bar(self, bar: Bar) -> None: ...

    def list_bars(self, symbol: str, session_date: date) -> list[Bar]: ...

    def put_chain_snapshot(self, snapshot: ChainSnapshot) -> None: ...

    def latest_chain_snapshot(
        self, underlying: Underlying, at_or_before: datetime
    ) -> ChainSnapshot | None: ...


# --- The trading day across Lambdas: the session plan, the engine's saved state, the market as
# --- stored by the gateway, schedules and notifications ------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What pre_market decided for one session: its times, the model to trade with (None: rules
    only) and what the day inherits from the days before it."""

    session_date: date
    open_et: datetime
    close_et: datetime
    flatten_et: datetime
    model_version: str | None
    starting_equity_usd: Decimal
    peak_equity_usd: Decimal
    day_trades_in_window: int
    consecutive_losses: int
    prepared_at: datetime

    def to_wire(self) -> dict[str, object]:
        return {
            "session_date": self.session_date.isoformat(),
            "open_et": self.open_et.isoformat(),
            "close_et": self.close_et.isoformat(),
            "flatten_et": self.flatten_et.isoformat(),
            "model_version": self.model_version,
            "starting_equity_usd": str(self.starting_equity_usd),
            "peak_equity_usd": str(self.peak_equity_usd),
            "day_trades_in_window": self.day_trades_in_window,
            "consecutive_losses": self.consecutive_losses,
            "prepared_at": self.prepared_at.isoformat(),
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, object]) -> SessionPlan:
        def text(name: str) -> str:
            value = wire.get(name)
            if not isinstance(value, str):
                raise ValueError(f"session plan field {name!r} must be a string, got {value!r}")
            return value

        model = wire.get("model_version")
        return cls(
            session_date=date.fromisoformat(text("session_date")),
            open_et=datetime.fromisoformat(text("open_et")),
            close_et=datetime.fromisoformat(text("close_et")),
            flatten_et=datetime.fromisoformat(text("flatten_et")),
            model_version=None if model is None else str(model),
            starting_equity_usd=Decimal(text("starting_equity_usd")),
            peak_equity_usd=Decimal(text("peak_equity_usd")),
            day_trades_in_window=int(str(wire.get("day_trades_in_window", 0))),
            consecutive_losses=int(str(wire.get("consecutive_losses", 0))),
            prepared_at=datetime.fromisoformat(text("prepared_at")),
        )


class SessionStore(Protocol):
    """The session plan (written by pre_market) and the session engine's saved state (written by
    every trading phase), for one trading mode. The engine state is one JSON document per session,
    replaced under an optimistic lock."""

    def get_plan(self, session_date: date) -> SessionPlan | None: ...

    def put_plan(self, plan: SessionPlan, actor: str, reason: str) -> None:
        """Store (or replace) the plan, with its audit record in the same transaction."""
        ...

    def get_engine(self, session_date: date) -> Versioned[dict[str, object]] | None: ...

    def put_engine(
        self,
        session_date: date,
        document: Mapping[str, object],
        expected_version: int,
        at: datetime | None = None,
    ) -> int:
        """Write the document if the stored version is `expected_version` (0: none stored yet);
        returns the new version, or raises ConcurrentUpdate. `at`: the last minute the engine
        handled, kept beside the document for a cheap health read."""
        ...


class MarketReader(Protocol):
    """The market as the gateway stored it (bars and chain snapshots), rebuilt as a MarketDay."""

    def known_day(self, session_date: date, ts: datetime) -> MarketDay:
        """Bars closed by `ts` and chain snapshots taken at or before it."""
        ...

    def closes(self, session_date: date) -> dict[str, float]:
        """The last stored close of each symbol on `session_date` (empty when none is stored)."""
        ...


class Scheduler(Protocol):
    """One-time schedules that start a workflow (EventBridge Scheduler in AWS)."""

    def create_one_time(self, name: str, at: datetime, target: str, input: Mapping[str, object]) -> bool:
        """Start state machine `target` (a resources.STATE_MACHINES name) at `at` with `input`;
        False when a schedule of that name already exists (a retry), True when created."""
        ...


@dataclass(frozen=True, slots=True)
class DeployedSchedule:
    """A schedule as EventBridge Scheduler holds it."""

    name: str
    expression: str
    timezone: str
    target: str
    """The target's name (the last part of its ARN): a state machine or the gateway's task family."""
    state: str
    mode: str | None
    """The trading mode its input carries, None when it carries none (the active mode then)."""


class ScheduleReader(Protocol):
    def list_schedules(self) -> list[DeployedSchedule]:
        """Every schedule of the stage's group, recurring and one-time, by name."""
        ...


class Notifier(Protocol):
    """Messages for the humans (the SNS alert topic in AWS)."""

    def notify(self, subject: str, message: str) -> None: ...
