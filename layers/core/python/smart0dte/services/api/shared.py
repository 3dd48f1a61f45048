"""Wire pieces more than one area of the API shows (controls, positions, signals, the market's
status), their builders, and the error every route raises."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import AliasGenerator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from smart0dte.domain.calendar import NEW_YORK, MarketCalendar, MarketPhase
from smart0dte.domain.controls import TradingState
from smart0dte.domain.models import Position, PositionStatus
from smart0dte.domain.portfolio import cents
from smart0dte.domain.strategies import STRATEGIES
from smart0dte.ports import TradingControls
from smart0dte.ports.api import ApiStore


class ApiError(Exception):
    """An error with its HTTP status; the message says what was wrong and what would be right."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


class Wire(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        populate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
    )


class Body(BaseModel):
    """A request body: camelCase names only, JSON's own types only (no "yes" or -0.0 for a
    boolean, no true for a number, no number for a date), finite numbers, and no field it does
    not declare; each refusal is a 422 naming the field."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        allow_inf_nan=False,
        validate_by_name=False,
        validate_by_alias=True,
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
    )


ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> date:
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return date.fromisoformat(value)  # a ValueError names the impossible day


IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "example": "2025-03-14"}),
]
"""A date in a body or a query: the text YYYY-MM-DD only (a number is not a date)."""


def _integral(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(_integral)]
"""An integer as JSON has it: 5 and 5.0 are one number; true, "5" and 5.5 are not integers."""

if TYPE_CHECKING:
    StrategyName = str
else:
    StrategyName = Literal[tuple(STRATEGIES)]
    """A rule strategy's name, as the document's enum lists them."""
Symbol = Literal["SPY", "QQQ", "IWM"]
"""A tradable underlying (`Underlying.tradable`)."""


class ErrorOut(BaseModel):
    """Every error answer: the status, what was wrong and what would be right; a 422 names the
    field and lists each problem in `detail`; some errors add their own facts (e.g. `unmet`)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status_code: int | None = Field(default=None, alias="statusCode", ge=400, le=599)
    message: str
    field: str | None = Field(default=None, description="the field (camelCase) or parameter at fault")
    detail: list[dict[str, Any]] | None = Field(
        default=None, description="each problem: loc, field, type, msg and its limit (ctx)"
    )


class ControlChangeOut(Wire):
    actor: str
    reason: str
    at: datetime


class ControlsOut(Wire):
    emergency_stop: bool
    emergency_stop_number: int
    """The current or last stop's number: what a resume names to clear exactly that stop."""
    paused: bool
    trading_state: TradingState
    state_reason: str
    emergency_stop_change: ControlChangeOut | None = None
    pause_change: ControlChangeOut | None = None
    state_change: ControlChangeOut | None = None


class PositionOut(Wire):
    position_id: str
    contract: str
    underlying: str
    right: str
    strike: float
    expiry: date
    quantity: int
    entry_price: str
    opened_at: datetime
    strategy: str
    status: PositionStatus
    stop_loss_price: str | None = None
    take_profit_price: str | None = None
    exit_price: str | None = None
    closed_at: datetime | None = None
    exit_reason: str | None = None
    mark_price: float | None = None
    unrealized_pnl_usd: str | None = None


class RiskDecisionOut(Wire):
    approved: bool
    trading_state: TradingState
    quantity: int
    violations: list[str]


class SignalOut(Wire):
    signal_id: str
    ts: datetime
    underlying: str
    direction: str
    strategy: str
    confidence: float
    rationale: str
    target_delta: float | None = None
    contract: str | None = None
    risk: RiskDecisionOut | None = None


class MarketStatus(Wire):
    now: datetime
    now_et: str
    phase: MarketPhase
    is_session: bool
    session_date: date
    open_et: datetime | None = None
    close_et: datetime | None = None
    flatten_et: datetime | None = None
    early_close: bool = False
    next_event: str
    next_event_at: datetime
    seconds_to_next_event: int


def controls_out(c: TradingControls) -> ControlsOut:
    def change(ch: Any) -> ControlChangeOut | None:
        return None if ch is None else ControlChangeOut(actor=ch.actor, reason=ch.reason, at=ch.at)

    return ControlsOut(
        emergency_stop=c.emergency_stop,
        emergency_stop_number=c.stops,
        paused=c.paused,
        trading_state=c.trading_state,
        state_reason=c.state_reason,
        emergency_stop_change=change(c.emergency_stop_change),
        pause_change=change(c.pause_change),
        state_change=change(c.state_change),
    )


def _money(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def position_out(p: Position, mark: float | None = None) -> PositionOut:
    unrealized = None
    if mark is not None and p.status is not PositionStatus.CLOSED:
        unrealized = str(p.pnl_usd(cents(Decimal(str(mark)))))
    return PositionOut(
        position_id=p.position_id,
        contract=p.contract.occ_symbol,
        underlying=p.contract.root,
        right=p.contract.right.value,
        strike=p.contract.strike,
        expiry=p.contract.expiry,
        quantity=p.quantity,
        entry_price=str(p.entry_price),
        opened_at=p.opened_at,
        strategy=p.strategy,
        status=p.status,
        stop_loss_price=_money(p.stop_loss_price),
        take_profit_price=_money(p.take_profit_price),
        exit_price=_money(p.exit_price),
        closed_at=p.closed_at,
        exit_reason=p.exit_reason,
        mark_price=mark,
        unrealized_pnl_usd=unrealized,
    )


def marks(store: ApiStore, positions: Sequence[Position], at: datetime) -> dict[str, float]:
    """Mid of each open contract in its underlying's latest chain snapshot."""
    out: dict[str, float] = {}
    for underlying in {p.contract.underlying for p in positions}:
        if underlying is None:
            continue
        snap = store.latest_chain_snapshot(underlying, at)
        if snap is None:
            continue
        for p in positions:
            q = snap.quote_for(p.contract)
            if q is not None and q.is_usable:
                out[p.contract.occ_symbol] = q.mid
    return out


def signals_out(store: ApiStore, day: date, limit: int | None = None) -> list[SignalOut]:
    """A session's signals with their risk decisions, in the store's order (newest first)."""
    pairs = store.list_signal_decisions(day)
    if limit is not None:
        pairs = pairs[:limit]
    out = []
    for s, d in pairs:
        risk = (
            None
            if d is None
            else RiskDecisionOut(
                approved=d.verdict.approved,
                trading_state=d.verdict.trading_state,
                quantity=d.quantity,
                violations=[str(v) for v in d.verdict.violations],
            )
        )
        out.append(
            SignalOut(
                signal_id=s.signal_id,
                ts=s.ts,
                underlying=s.underlying.value,
                direction=s.direction.value,
                strategy=s.strategy,
                confidence=s.confidence,
                rationale=s.rationale,
                target_delta=s.target_delta,
                contract=s.contract.occ_symbol if s.contract else None,
                risk=risk,
            )
        )
    return out


def market_status(calendar: MarketCalendar, at: datetime) -> MarketStatus:
    """The phase of the trading day at `at` and the next open or close."""
    local = at.astimezone(NEW_YORK)
    day = local.date()
    session = calendar.session(day)
    phase = calendar.phase(at)
    if session is not None and at < session.open_et:
        event, event_at = "open", session.open_et
    elif session is not None and at < session.close_et:
        event, event_at = "close", session.close_et
    else:
        nxt = calendar.session(calendar.next_session(day))
        assert nxt is not None
        event, event_at = "open", nxt.open_et
    return MarketStatus(
        now=at,
        now_et=local.isoformat(),
        phase=phase,
        is_session=session is not None,
        session_date=day,
        open_et=session.open_et if session else None,
        close_et=session.close_et if session else None,
        flatten_et=session.flatten_et if session else None,
        early_close=session.early_close if session else False,
        next_event=event,
        next_event_at=event_at,
        seconds_to_next_event=max(0, int((event_at - at).total_seconds())),
    )
