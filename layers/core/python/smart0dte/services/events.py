"""The events each handler accepts and the results it returns, validated with pydantic.

A malformed event raises `MalformedEvent` (a ValueError) naming every bad field, before anything is
read or written, so the execution fails visibly and leaves nothing half-done. The trading_cycle
results are the next step's events (Step Functions passes each Task's output on), so one model is
both: `SignalsResult` is the Risk event, `RiskResult` the Execute event.

Times are ISO 8601 with a UTC offset; `ts` of a trading_cycle event is a minute end (seconds 0).
`mode` defaults to paper. The workflows the scheduler starts (pre_market, learning) and the
one-time flatten and post_close schedules may instead carry the scheduler's
`{"schedule": <name>, "scheduled_time": <ISO>}`: the session date is the New York date of the
scheduled time, and for flatten the scheduled time is `ts`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from datetime import date, datetime
from typing import Any, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.controls import TradingState
from smart0dte.domain.models import OptionQuote, OrderIntent, Signal, TradingMode
from smart0dte.domain.simulator import DEFAULT_SEED


class MalformedEvent(ValueError):
    """The event a handler got does not have the shape it needs; the message names each field."""


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _scheduled(data: Any, into: str) -> Any:
    """{"schedule", "scheduled_time"} -> {into: the scheduled time (or its New York date)}."""
    if isinstance(data, dict) and "scheduled_time" in data:
        rest = {k: v for k, v in data.items() if k not in ("schedule", "scheduled_time")}
        if not isinstance(data.get("schedule"), str):
            raise ValueError("schedule must name the schedule that fired, next to scheduled_time")
        when = data["scheduled_time"]
        try:
            instant = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"scheduled_time={when!r} is not an ISO 8601 time: {exc}") from None
        if instant.tzinfo is None:
            raise ValueError(f"scheduled_time={when!r} must carry a UTC offset")
        value: object = instant.astimezone(NEW_YORK).date().isoformat() if into == "session_date" else instant
        return {**rest, into: value}
    return data


class CycleEvent(_Event):
    """A closed minute for the trading cycle: `{"mode", "ts"}` (the Signals event)."""

    mode: TradingMode = TradingMode.PAPER
    ts: AwareDatetime

    @model_validator(mode="after")
    def _minute_end(self) -> Self:
        if self.ts.second or self.ts.microsecond:
            raise ValueError(f"ts={self.ts.isoformat()} must be a minute end (seconds 0)")
        return self


class SignalsResult(CycleEvent):
    """What Signals returns, and so what Risk gets: the minute's candidates, strongest first."""

    session_date: date
    candidates: list[Signal] = Field(max_length=100)
    trading_state: TradingState
    trading_state_reason: str
    open_positions: int = Field(ge=0)
    unexited_positions: int = Field(default=0, ge=0)
    """Open positions no exit is selling yet."""
    exits: int = Field(default=0, ge=0)
    duplicate: bool = False
    """True when this minute had already been observed: the stored outcome, nothing re-run."""
    stale: bool = False
    """True when a later minute had already been observed: nothing to do for this one."""


class PlannedEntryWire(_Event):
    """An approved entry: the buy intent, the quote it was judged (and will fill) at, its strategy."""

    intent: OrderIntent
    quote: OptionQuote
    strategy: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _same_contract(self) -> Self:
        if self.quote.contract != self.intent.contract:
            raise ValueError(
                f"quote is for {self.quote.contract.occ_symbol}, intent for {self.intent.contract.occ_symbol}"
            )
        return self


class RiskDecisionWire(_Event):
    signal_id: str
    approved: bool
    rules: list[str]
    contract: str | None
    quantity: int


class RiskResult(CycleEvent):
    """What Risk returns, and so what Execute gets: a verdict per candidate, the approved intents."""

    session_date: date
    intents: list[PlannedEntryWire] = Field(max_length=100)
    verdicts: list[RiskDecisionWire] = Field(max_length=100)
    duplicate: bool = False


class OrderOutcome(_Event):
    intent_id: str
    order_id: str
    status: str
    filled_quantity: int
    fills: int
    sent_to_broker: bool = False
    """ibkr_paper or live: the intent went to the order queue (paper fills in the simulated broker)."""
    duplicate: bool = False


class ExecuteResult(CycleEvent):
    session_date: date
    orders: list[OrderOutcome]
    open_positions: int


class SessionEvent(_Event):
    """`{"mode", "session_date"}` or the scheduler's form (pre_market, post_close, learning)."""

    mode: TradingMode = TradingMode.PAPER
    session_date: date

    @model_validator(mode="before")
    @classmethod
    def _from_schedule(cls, data: Any) -> Any:
        return _scheduled(data, "session_date")


class FlattenEvent(_Event):
    """`{"mode", "ts"}` (ts: the flatten time) or the scheduler's form."""

    mode: TradingMode = TradingMode.PAPER
    ts: AwareDatetime

    @model_validator(mode="before")
    @classmethod
    def _from_schedule(cls, data: Any) -> Any:
        return _scheduled(data, "ts")


class BacktestRequestWire(_Event):
    """A backtest over simulated sessions (the archive's DBN days: `source` "archive")."""

    start: date
    end: date
    source: str = Field(default="simulator", pattern="^(simulator|archive)$")
    scenario: str = "normal"
    seed: int = Field(default=DEFAULT_SEED, ge=0, le=2**32 - 1)
    data_until: str | None = Field(default=None, pattern=r"^\d{2}:\d{2}$")
    starting_equity_usd: str = "100000"


def request_id(request: BacktestRequestWire) -> str:
    """A stable id of the request: its reports live under `backtests/<id>/`."""
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()[:16]


RUN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"


class BacktestDayEvent(_Event):
    action: str = Field(pattern="^day$")
    date: dt.date
    request: BacktestRequestWire
    run: str | None = Field(default=None, pattern=RUN_ID_PATTERN)
    """The workflow's execution name: where a failure's reason is written."""


class BacktestAggregateEvent(_Event):
    action: str = Field(pattern="^aggregate$")
    request: BacktestRequestWire
    results: list[dict[str, Any]] = Field(max_length=5000)
    run: str | None = Field(default=None, pattern=RUN_ID_PATTERN)


E = TypeVar("E", bound=BaseModel)


def parse_event(model: type[E], event: object, handler: str) -> E:
    """`event` as `model`, or MalformedEvent naming every field that is missing or wrong."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"{handler}: the event must be a JSON object, got {type(event).__name__}")
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(event)'}: {error['msg']}" for error in exc.errors()
        )
        raise MalformedEvent(
            f"{handler}: malformed event ({exc.error_count()} problem(s)): {problems}"
        ) from None
