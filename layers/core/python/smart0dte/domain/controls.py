"""What the human controls: automation switches, risk limits, the trading state, and what each
control action (emergency stop, pause, resume, a state set by the risk evaluation) changes.

Field names are snake_case in Python and camelCase on the wire (the dashboard's names);
both are accepted on input. Out-of-range values raise a ValidationError naming the field
and the allowed range. Percentages are stored as fractions (0.15 = 15%), the unit the engine
reads; the Settings page shows and takes them in percent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from smart0dte.domain.sizing import SizingMethod


class _Controls(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
    )

    def to_wire(self) -> dict[str, object]:
        """JSON-ready dict with the dashboard's camelCase names."""
        return self.model_dump(mode="json", by_alias=True)


class NotificationKind(StrEnum):
    """What the humans are told about (`services.notifications`); each has a level in the settings."""

    FILL = "fill"
    EXIT = "exit"
    """A position closed, with its net P&L."""
    LIMIT_BREACH = "limit_breach"
    """A risk limit refused an entry (once per limit per day)."""
    CIRCUIT_BREAKER = "circuit_breaker"
    """The limits took trading to REDUCING or HALTED (once per breaker per day)."""
    EMERGENCY_STOP = "emergency_stop"
    RESUME = "resume"
    RECONCILIATION = "reconciliation"
    """post_close found the store and the engine (or the broker) apart."""
    OPEN_NEAR_CLOSE = "open_near_close"
    """A position still open five minutes before the close (an incident)."""
    FLATTEN_FAILURE = "flatten_failure"
    FEED_DOWN = "feed_down"
    GATEWAY_DOWN = "gateway_down"
    IB_REAUTHENTICATION = "ib_reauthentication"
    """IB's weekly re-authentication is due (the Sunday-evening reminder)."""
    DAILY_REPORT = "daily_report"
    LEARNING = "learning"
    """The nightly model training's result."""


class NotificationLevel(StrEnum):
    """ON: sent to every channel with an alert. SILENT: sent without an alert to the channels that
    can do that (Telegram without sound); an email has no silent delivery, so it is not emailed.
    OFF: sent nowhere."""

    ON = "on"
    SILENT = "silent"
    OFF = "off"


_ON, _SILENT = NotificationLevel.ON, NotificationLevel.SILENT


class NotificationLevels(_Controls):
    """The level of each notification kind (one field per `NotificationKind`, camelCase on the wire;
    an unknown kind is refused)."""

    fill: NotificationLevel = _SILENT
    exit: NotificationLevel = _ON
    limit_breach: NotificationLevel = _ON
    circuit_breaker: NotificationLevel = _ON
    emergency_stop: NotificationLevel = _ON
    resume: NotificationLevel = _ON
    reconciliation: NotificationLevel = _ON
    open_near_close: NotificationLevel = _ON
    flatten_failure: NotificationLevel = _ON
    feed_down: NotificationLevel = _ON
    gateway_down: NotificationLevel = _ON
    ib_reauthentication: NotificationLevel = _ON
    daily_report: NotificationLevel = _ON
    learning: NotificationLevel = _ON

    def level(self, kind: NotificationKind) -> NotificationLevel:
        level: NotificationLevel = getattr(self, kind.value)
        return level


class AutomationSettings(_Controls):
    """The automation switches and per-trade parameters (defaults from the product brief)."""

    master_switch: bool = False
    data_collection: bool = True
    signal_generation: bool = True
    trade_execution: bool = True
    risk_management: bool = True
    max_positions: int = Field(default=5, ge=1, le=20)
    max_day_trades: int = Field(default=3, ge=0, le=100)
    max_risk_per_trade: float = Field(default=0.02, gt=0, le=0.10, description="fraction of equity")
    stop_loss_percentage: float = Field(default=0.15, gt=0, le=1.0, description="fraction of premium")
    take_profit_percentage: float = Field(
        default=0.25, gt=0, le=10.0, description="fraction of premium (10 = +1,000%)"
    )
    min_confidence: float = Field(default=0.70, ge=0, le=1)
    trailing_stop_percentage: float = Field(
        default=0.0, ge=0, lt=1.0, description="fraction below the best bid since entry; 0 = off"
    )
    sizing_method: SizingMethod = SizingMethod.FIXED_FRACTIONAL
    disabled_strategies: tuple[str, ...] = Field(
        default=(), max_length=20, description="rule strategies that generate no signal"
    )
    starting_equity_usd: float = Field(
        default=100_000.0, ge=1, le=1e9, description="the account's equity on its first session"
    )
    notifications: NotificationLevels = Field(
        default_factory=NotificationLevels, description="on | silent | off per notification kind"
    )

    @model_validator(mode="after")
    def _risk_management_cannot_be_off_while_trading(self) -> Self:
        if self.trade_execution and not self.risk_management:
            raise ValueError("riskManagement must be on while tradeExecution is on")
        return self


class RiskLimits(_Controls):
    """Account-level circuit breakers and pre-trade limits.

    Fractions are of equity unless named otherwise. The PDT cap itself is
    `AutomationSettings.max_day_trades`, applied below `pdt_equity_threshold_usd`.
    """

    daily_loss_limit: float = Field(default=0.05, gt=0, le=0.50, description="of start-of-day equity")
    max_drawdown: float = Field(default=0.15, gt=0, le=0.90, description="of peak equity")
    max_consecutive_losses: int = Field(default=5, ge=1, le=100)
    min_seconds_between_trades: int = Field(default=300, ge=0, le=23_400)
    pdt_equity_threshold_usd: float = Field(default=25_000.0, ge=0, le=1e9)
    pdt_window_sessions: int = Field(default=5, ge=1, le=20)
    max_spread_fraction: float = Field(default=0.15, gt=0, le=1.0, description="(ask - bid) / mid")
    min_displayed_size: int = Field(default=10, ge=1, le=10_000, description="contracts on our side")
    max_symbol_exposure: float = Field(default=0.05, gt=0, le=1.0, description="premium per underlying")
    max_portfolio_delta: float = Field(default=10.0, gt=0, le=100.0, description="|dollar delta|")
    max_portfolio_gamma: float = Field(default=0.5, gt=0, le=10.0, description="|gamma P&L of a 1% move|")


class TradingState(StrEnum):
    """ACTIVE trades; REDUCING takes no new entries but manages exits; HALTED flattens everything."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@dataclass(frozen=True, slots=True)
class ControlChange:
    """Who last flipped a control, why and when."""

    actor: str
    reason: str
    at: datetime


REASON_MAX_CHARS = 500
"""The longest reason a control change records (longer ones are cut, never refused, by the stop)."""


@dataclass(frozen=True, slots=True)
class ControlsUpdate:
    """What one control action sets, and when it may land; a store applies it as ONE conditional
    write with its audit record, so there is no window between reading and writing.

    Each value comes with who/why/when; None leaves the stored one. The guards say what must hold
    of the stored controls at the instant of the write, else nothing is written:

    - the emergency stop always lands: the flag, one more stop counted (`stops`, its number is how
      a resume names the stop it clears) and the state HALTED;
    - clearing it (a confirmed resume) lands only while the stop it names is still the last one, and
      resumes: flag and pause down, the state ACTIVE until the next minute re-checks every limit;
    - a plain resume lands only while no emergency stop is set (clearing one needs the confirmation);
    - pause always lands and changes only its flag;
    - a state set by the risk evaluation other than HALTED lands only while no emergency stop is
      set, and ACTIVE only while trading is not paused: a stop or a pause landing meanwhile wins.
    """

    emergency_stop: bool | None = None
    emergency_stop_change: ControlChange | None = None
    paused: bool | None = None
    pause_change: ControlChange | None = None
    trading_state: TradingState | None = None
    state_change: ControlChange | None = None
    """Its reason is the state's reason."""
    counts_a_stop: bool = False
    """The write adds one to the stored number of stops."""
    unless_stopped: bool = False
    """Refused while an emergency stop is set."""
    unless_paused: bool = False
    """Refused while trading is paused."""
    only_stop: int | None = None
    """Refused unless an emergency stop is set and it is stop number `only_stop` (0: a stop stored
    before stops were counted)."""

    def __post_init__(self) -> None:
        pairs = {
            "emergency_stop": (self.emergency_stop, self.emergency_stop_change),
            "paused": (self.paused, self.pause_change),
            "trading_state": (self.trading_state, self.state_change),
        }
        for name, (value, change) in pairs.items():
            if (value is None) != (change is None):
                raise ValueError(f"ControlsUpdate.{name} and its change must be set together")

    @classmethod
    def activate_emergency_stop(cls, change: ControlChange) -> ControlsUpdate:
        """Stop everything now: the flag, one more stop, and the state HALTED for
        'emergency stop: <reason>'. No guard: a stop lands whatever else is stored."""
        halted = ControlChange(change.actor, f"emergency stop: {change.reason}", change.at)
        return cls(
            emergency_stop=True,
            emergency_stop_change=change,
            trading_state=TradingState.HALTED,
            state_change=halted,
            counts_a_stop=True,
        )

    @classmethod
    def clear_emergency_stop(cls, change: ControlChange, stop_number: int) -> ControlsUpdate:
        """Resume after stop number `stop_number`: the flag and the pause down and the state ACTIVE
        (the next minute's risk evaluation re-derives it from every limit), only if no later stop
        landed meanwhile."""
        resumed = ControlChange(
            change.actor,
            f"emergency stop cleared and resumed: {change.reason}; the next minute re-checks every limit",
            change.at,
        )
        return cls(
            emergency_stop=False,
            emergency_stop_change=change,
            paused=False,
            pause_change=change,
            trading_state=TradingState.ACTIVE,
            state_change=resumed,
            only_stop=stop_number,
        )

    @classmethod
    def pause(cls, change: ControlChange) -> ControlsUpdate:
        return cls(paused=True, pause_change=change)

    @classmethod
    def resume(cls, change: ControlChange) -> ControlsUpdate:
        """Lower the pause only, and only while no emergency stop is set; the state follows at the
        next risk evaluation."""
        return cls(paused=False, pause_change=change, unless_stopped=True)

    @classmethod
    def set_trading_state(cls, state: TradingState, change: ControlChange) -> ControlsUpdate:
        """The risk evaluation's state: anything but HALTED yields to an emergency stop, ACTIVE to a
        pause as well."""
        return cls(
            trading_state=state,
            state_change=change,
            unless_stopped=state is not TradingState.HALTED,
            unless_paused=state is TradingState.ACTIVE,
        )


def cut_reason(reason: str, default: str) -> str:
    """`reason` on one line and at most REASON_MAX_CHARS long (an ellipsis says it was cut);
    `default` when it is blank."""
    text = " ".join(reason.split())
    if not text:
        return default
    return text if len(text) <= REASON_MAX_CHARS else text[: REASON_MAX_CHARS - 1] + "…"
