"""The controls aggregate: settings, risk limits, the human's controls and the trading state, the
active mode, and the gateway task's heartbeat."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from smart0dte.domain.controls import AutomationSettings, ControlChange, RiskLimits, TradingState
from smart0dte.domain.models import DomainError, TradingMode
from smart0dte.domain.reconcile import BrokerBook
from smart0dte.domain.risk import Controls
from smart0dte.ports.broker import BrokerAccount
from smart0dte.ports.counters import DailyCounters


class ControlRefused(DomainError):
    """A control change whose guard did not hold when it was written (an emergency stop set, or a
    later stop than the one named): nothing was written."""


@dataclass(frozen=True, slots=True)
class TradingControls:
    """The human's controls and the last trading state the system set (what each control action
    changes: `domain.controls.ControlsUpdate`)."""

    emergency_stop: bool = False
    paused: bool = False
    trading_state: TradingState = TradingState.ACTIVE
    state_reason: str = "no control record yet"
    emergency_stop_change: ControlChange | None = None
    pause_change: ControlChange | None = None
    state_change: ControlChange | None = None
    stops: int = 0
    """How many emergency stops this mode has had: the number of the current or last one (0 also
    for a stop stored before stops were counted)."""
    close_requests: frozenset[str] = frozenset()
    """Positions a human asked to close; the engine exits each at its next minute (ids of closed
    positions may stay: the engine only exits what it holds)."""
    cancel_requests: frozenset[str] = frozenset()
    """Working orders (store ids) a human asked to cancel; the engine cancels each at its next minute
    through its venue (ids of orders already done may stay)."""

    def risk_controls(self, settings: AutomationSettings) -> Controls:
        return Controls(
            settings=settings,
            emergency_stop=self.emergency_stop,
            paused=self.paused,
            close_requests=self.close_requests,
            cancel_requests=self.cancel_requests,
        )


@dataclass(frozen=True, slots=True)
class ActiveMode:
    """Which mode's records the system trades (paper until switched), and who switched it."""

    mode: TradingMode
    change: ControlChange | None


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """The gateway task's heartbeat as stored for the API and the live-arming checks."""

    heartbeat_at: datetime
    connected: bool
    port: int
    account: BrokerAccount | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ControlState:
    """What a screen of the dashboard shows about the controls, read together."""

    settings: AutomationSettings
    risk_limits: RiskLimits
    controls: TradingControls
    counters: DailyCounters


class ControlsStore(Protocol):
    """Settings, risk limits and controls of one trading mode (each change audited), the active mode
    (one record for both modes) and the gateway task's heartbeat."""

    def get_settings(self) -> AutomationSettings: ...

    def put_settings(self, settings: AutomationSettings, actor: str, reason: str, at: datetime) -> None: ...

    def get_risk_limits(self) -> RiskLimits: ...

    def put_risk_limits(self, limits: RiskLimits, actor: str, reason: str, at: datetime) -> None: ...

    def get_controls(self) -> TradingControls: ...

    def risk_controls(self) -> Controls:
        """Settings, emergency stop and pause, as the risk checks take them."""
        ...

    def activate_emergency_stop(
        self, actor: str, reason: str, at: datetime, request_id: str | None = None
    ) -> TradingControls:
        """Stop this mode: always lands (one write with its audit record). `request_id` makes the
        audit record the request's own, so a retry of the same request is recorded once and another
        request with the same reason at the same instant stops again."""
        ...

    def request_close(self, position_id: str, actor: str, reason: str, at: datetime) -> TradingControls:
        """Ask the engine to exit an open position at its next minute (audited)."""
        ...

    def request_cancel(self, order_id: str, actor: str, reason: str, at: datetime) -> TradingControls:
        """Ask the engine to cancel a working order at its next minute (audited)."""
        ...

    def clear_emergency_stop(
        self, actor: str, reason: str, at: datetime, stop_number: int, request_id: str | None = None
    ) -> TradingControls:
        """Resume after emergency stop number `stop_number` (flag and pause down, state ACTIVE);
        ControlRefused if no stop is set or a later one landed."""
        ...

    def pause(
        self, actor: str, reason: str, at: datetime, request_id: str | None = None
    ) -> TradingControls: ...

    def resume(self, actor: str, reason: str, at: datetime, request_id: str | None = None) -> TradingControls:
        """Lower the pause; ControlRefused while an emergency stop is set."""
        ...

    def set_trading_state(
        self, state: TradingState, actor: str, reason: str, at: datetime
    ) -> TradingControls:
        """The risk evaluation's state; it yields to a stop or a pause that landed meanwhile (see
        `ControlsUpdate.set_trading_state`): the controls as stored come back, unchanged then."""
        ...

    def get_active_mode(self) -> ActiveMode: ...

    def switch_active_mode(
        self, to: TradingMode, actor: str, reason: str, at: datetime, details: Mapping[str, object]
    ) -> ActiveMode: ...

    def put_gateway_status(self, status: GatewayStatus) -> None: ...

    def get_gateway_status(self) -> GatewayStatus | None: ...

    def put_broker_book(self, book: BrokerBook) -> None:
        """Overwrite the broker's book the order bridge saw last (not audited: written every few
        seconds; a difference is audited by the trading minute that finds it)."""
        ...

    def get_broker_book(self) -> BrokerBook | None: ...
