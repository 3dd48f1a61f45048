"""The session desk's outbox: what one phase did, as typed past-tense records for the StateStore.

A phase's records are saved in the session document with the engine (the commit point) and then
written to the store by `SessionDesk.write`, one case per record type (see `services.session`).
In the document each record is its `model_dump(mode="json")`, tagged by `type`; `parse_outbox`
reads them back with one `TypeAdapter` of the union and refuses, naming it, any record of another
shape. Every record names its `actor` (the step that produced it), the audit log's actor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError

from smart0dte.domain.controls import TradingState
from smart0dte.domain.models import DomainError, Fill, Order, OrderStatus, Position, Signal
from smart0dte.domain.portfolio import ClosedTrade
from smart0dte.domain.venue import VenueCommand, VenueEvent, VenueEventKind
from smart0dte.ports import RiskDecision

REASON_MAX_CHARS: Final = 2000


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    """Schemas are built on first use: a Lambda step pays only for the records it makes."""

    actor: str = Field(min_length=1, max_length=64)


class SignalRecorded(_Record):
    """A strategy's candidate, stored for the Risk step and the audit trail."""

    type: Literal["SignalRecorded"] = "SignalRecorded"
    signal: Signal


class RiskDecided(_Record):
    """The Risk step's verdict and size for one signal."""

    type: Literal["RiskDecided"] = "RiskDecided"
    decision: RiskDecision


class OrderUpdated(_Record):
    """An order's last state in the phase and the kind of the venue event that left it there.

    `order.order_id` is the store's id (session-qualified); `reason` is why the engine submitted
    it when the phase did (empty otherwise). The store creates the order once, as the venue took
    it (fills come as their own records), then follows a cancel or expiry."""

    type: Literal["OrderUpdated"] = "OrderUpdated"
    event: VenueEventKind
    order: Order
    reason: str = Field(default="", max_length=REASON_MAX_CHARS)


class FillRecorded(_Record):
    """A fill the simulated venue made (a broker's fills are stored by the order bridge)."""

    type: Literal["FillRecorded"] = "FillRecorded"
    fill: Fill


class PositionChanged(_Record):
    """A position opened, grew, shrank or closed (`domain.session_engine.PositionChange`)."""

    type: Literal["PositionChanged"] = "PositionChanged"
    change: Literal["opened", "added", "reduced", "closed"]
    position: Position
    trades: tuple[ClosedTrade, ...] = ()


class CommandQueued(_Record):
    """A command for the broker venue's order bridge, sent to the order queue."""

    type: Literal["CommandQueued"] = "CommandQueued"
    command: VenueCommand


class TradingStateChanged(_Record):
    """The engine's trading state differs from the one stored: store it with its reason."""

    type: Literal["TradingStateChanged"] = "TradingStateChanged"
    state: TradingState
    reason: str = Field(max_length=REASON_MAX_CHARS)
    ts: AwareDatetime


class IncidentReported(_Record):
    """An incident for the audit log: its message, and the position and quantity it is about."""

    type: Literal["IncidentReported"] = "IncidentReported"
    ts: AwareDatetime
    message: str = Field(min_length=1)
    details: dict[str, JsonValue] = Field(default_factory=dict)


OutboxRecord = (
    SignalRecorded
    | RiskDecided
    | OrderUpdated
    | FillRecorded
    | PositionChanged
    | CommandQueued
    | TradingStateChanged
    | IncidentReported
)
OUTBOX_RECORD: TypeAdapter[OutboxRecord] = TypeAdapter(
    Annotated[OutboxRecord, Field(discriminator="type")], config=ConfigDict(defer_build=True)
)
"""Built when a document's outbox is first read (only a crash leaves one to read)."""


def parse_outbox(raw: Sequence[object], where: str) -> list[OutboxRecord]:
    """`raw`'s records (as `model_dump(mode="json")` wrote them); a record of another shape raises
    a DomainError naming `where`, its index, its type and what is wrong."""
    records: list[OutboxRecord] = []
    for index, item in enumerate(raw):
        try:
            records.append(OUTBOX_RECORD.validate_python(item))
        except ValidationError as exc:
            tag = item.get("type") if isinstance(item, Mapping) else None
            if tag is not None:
                named = f"a {tag!r} record"
            elif isinstance(item, Mapping):
                named = f"a record with no type (keys {sorted(str(k) for k in item)})"
            else:
                named = f"a {type(item).__name__}, not a record"
            problems = "; ".join(
                f"{'.'.join(str(p) for p in _field(e['loc'], tag)) or 'record'}: {e['msg']}"
                for e in exc.errors()[:3]
            )
            raise DomainError(f"{where}: outbox[{index}] is {named}: {problems}") from None
    return records


def _field(loc: tuple[int | str, ...], tag: object) -> tuple[int | str, ...]:
    """An error's location within the record (without the union's tag)."""
    return loc[1:] if loc[:1] == (tag,) else loc


def event_of_state(order: Order) -> VenueEventKind:
    """The kind of the venue event that leaves an order in its current status."""
    if order.status is OrderStatus.FILLED:
        return VenueEventKind.FILLED
    if order.status is OrderStatus.PARTIALLY_FILLED:
        return VenueEventKind.PARTIALLY_FILLED
    if order.status is OrderStatus.PENDING_SUBMIT:
        raise DomainError(f"order {order.order_id} status=PENDING_SUBMIT: no venue has taken it yet")
    return VenueEvent.of_status(order).kind
