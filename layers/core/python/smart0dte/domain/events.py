"""Facts that happened, named in the past tense; the audit log and the dashboard read them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from smart0dte.domain.controls import AutomationSettings, TradingState
from smart0dte.domain.models import AwareDatetime, Fill, Order, Position, Signal, TradingMode


class DomainEvent(BaseModel):
    """Base of every event: when it happened, in which mode, and who or what caused it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: AwareDatetime
    mode: TradingMode
    actor: str = Field(min_length=1, max_length=128, description="user id or component name")

    @property
    def name(self) -> str:
        return type(self).__name__


class SignalGenerated(DomainEvent):
    signal: Signal


class RiskCheckCompleted(DomainEvent):
    signal_id: str
    approved: bool
    violated_rules: tuple[str, ...] = ()


class OrderSubmitted(DomainEvent):
    order: Order


class OrderFilled(DomainEvent):
    fill: Fill


class OrderCancelled(DomainEvent):
    order_id: str
    reason: str


class OrderRejected(DomainEvent):
    order_id: str
    reason: str


class PositionOpened(DomainEvent):
    position: Position


class PositionClosed(DomainEvent):
    position: Position


class SettingsChanged(DomainEvent):
    settings: AutomationSettings


class TradingStateChanged(DomainEvent):
    state: TradingState
    reason: str = Field(min_length=1)


class EmergencyStopActivated(DomainEvent):
    reason: str = Field(min_length=1)


class EmergencyStopCleared(DomainEvent):
    reason: str = Field(min_length=1)


class TradingPaused(DomainEvent):
    reason: str = Field(min_length=1)


class TradingResumed(DomainEvent):
    reason: str = Field(min_length=1)


class TradingModeChanged(DomainEvent):
    new_mode: TradingMode
