"""The execution venue port: where the session engine's orders go and what comes back from there.

The engine gives a venue orders to submit and cancel; the venue answers with typed, past-tense
events (accepted, rejected, partially filled, filled, reduced, cancel requested, cancelled,
expired) and,
when it is remote, with the commands to carry to it. Positions, P&L, sizing, day trades and every
risk limit follow the fills in those events, nothing else.

Two venues, chosen when the application is wired (a `VenueKind`, never an `if mode`):

- `SimulatedVenue` (`domain/simulated_venue.py`; paper and backtests) fills against the quotes the
  engine gives it, with latency, partial fills and fees;
- `BrokerVenue` (`domain/broker_venue.py`; ibkr_paper and live) is the engine's view of its orders
  at Interactive Brokers: a submit or a cancel becomes a `PlaceOrder` or `CancelOrder` command for
  the order bridge, and the broker's fills, rejections and cancels come back as `BrokerNews`
  that the next trading cycle applies (`ExecutionVenue.apply`) before it decides anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from smart0dte.domain.models import (
    DomainError,
    Fill,
    OptionQuote,
    Order,
    OrderIntent,
    OrderStatus,
    Side,
    TradingMode,
)
from smart0dte.domain.reconcile import BrokerBook

CENT = Decimal("0.01")
IBKR_OPTION_TIERS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal("0.10"), Decimal("0.65")),
    (Decimal("0.05"), Decimal("0.50")),
    (Decimal("0.00"), Decimal("0.25")),
)
"""(premium at least, commission per contract), highest premium first: IBKR's US option
commission for Smart-routed orders up to 10,000 contracts a month."""


@dataclass(frozen=True, slots=True)
class BrokerCosts:
    """What the simulated venue charges, and how soon an order can trade.

    Defaults are IBKR's US option pricing as its commissions page states it
    (interactivebrokers.ca/en/pricing/commissions-options.php, a stored copy read 2026-12-08; the
    copy shows no date of its own): $0.65 a contract for a premium of $0.10 or more, $0.50 from
    $0.05, $0.25 below, at least $1.00 per order (an order, not a fill: partial fills pay the
    minimum once); and passed through per contract: the Options Regulatory Fee $0.01915 (another
    copy of the page says $0.02685: it changes with the exchanges' filings), OCC clearing $0.02,
    FINRA's CAT fee $0.0048, and FINRA's Trading Activity Fee $0.00279 on contracts sold. Not
    modelled: the SEC fee on a sale's value ($0.0000278 a dollar there: under a cent a trade here)
    and exchange fees or rebates. Every figure is configurable.

    `latency_s`: an order trades only against quotes sampled at least this long after its
    submission. Chain snapshots come once a minute (OPRA cbbo-1m), so any latency above zero means
    the next minute's snapshot is the first an order can fill against, never the one its decision
    saw. 1 s by default: a trading cycle takes about 0.4 s from the minute's end to its order on
    the embedded AWS (README, Performance). 0 is a research option that fills at the decision's
    snapshot (reports say so).
    """

    commission_tiers: tuple[tuple[Decimal, Decimal], ...] = IBKR_OPTION_TIERS
    minimum_per_order_usd: Decimal = Decimal("1.00")
    orf_per_contract_usd: Decimal = Decimal("0.01915")
    occ_clearing_per_contract_usd: Decimal = Decimal("0.02")
    cat_per_contract_usd: Decimal = Decimal("0.0048")
    finra_taf_per_contract_sold_usd: Decimal = Decimal("0.00279")
    slippage_per_share_usd: Decimal = Decimal("0.00")
    latency_s: float = 1.0

    def __post_init__(self) -> None:
        for name in (
            "minimum_per_order_usd",
            "orf_per_contract_usd",
            "occ_clearing_per_contract_usd",
            "cat_per_contract_usd",
            "finra_taf_per_contract_sold_usd",
            "slippage_per_share_usd",
        ):
            if getattr(self, name) < 0:
                raise DomainError(f"{name}={getattr(self, name)} must be >= 0")
        floors = [floor for floor, _ in self.commission_tiers]
        if not floors or floors != sorted(floors, reverse=True) or len(set(floors)) != len(floors):
            raise DomainError(f"commission_tiers premiums={floors} must be distinct, highest first")
        if floors[-1] != 0:
            raise DomainError(
                f"commission_tiers' last premium={floors[-1]} must be 0 (every premium has a rate)"
            )
        if any(rate < 0 for _, rate in self.commission_tiers):
            raise DomainError(f"commission_tiers rates={[r for _, r in self.commission_tiers]} must be >= 0")
        if not 0 <= self.latency_s <= 60:
            raise DomainError(f"latency_s={self.latency_s} must be within 0..60")

    def commission_per_contract_usd(self, premium_usd: Decimal) -> Decimal:
        """The commission tier's rate for a contract traded at `premium_usd`."""
        return next(rate for floor, rate in self.commission_tiers if premium_usd >= floor)

    def fees_per_contract_usd(self, side: Side) -> Decimal:
        """The pass-through fees of one contract (the TAF on sales only)."""
        fees = self.orf_per_contract_usd + self.occ_clearing_per_contract_usd + self.cat_per_contract_usd
        return fees + (self.finra_taf_per_contract_sold_usd if side is Side.SELL else Decimal(0))

    def order_charges_usd(self, commission_usd: Decimal, fees_usd: Decimal) -> Decimal:
        """What an order that has filled something pays in all, to the cent: its commissions at the
        tiers' rates (at least the order minimum) and its pass-through fees."""
        return (max(commission_usd, self.minimum_per_order_usd) + fees_usd).quantize(CENT, ROUND_HALF_UP)

    def describe(self) -> dict[str, object]:
        """The execution model as a report states it."""
        return {
            "latency_s": self.latency_s,
            "fills": "at the decision's snapshot (zero latency: research only)"
            if self.latency_s == 0
            else "from the first snapshot sampled after submission + latency",
            "commission_tiers": [[str(floor), str(rate)] for floor, rate in self.commission_tiers],
            "minimum_per_order_usd": str(self.minimum_per_order_usd),
            "orf_per_contract_usd": str(self.orf_per_contract_usd),
            "occ_clearing_per_contract_usd": str(self.occ_clearing_per_contract_usd),
            "cat_per_contract_usd": str(self.cat_per_contract_usd),
            "finra_taf_per_contract_sold_usd": str(self.finra_taf_per_contract_sold_usd),
            "slippage_per_share_usd": str(self.slippage_per_share_usd),
        }


class VenueEventKind(StrEnum):
    ACCEPTED = "accepted"
    """The venue took the order (a broker venue: it was sent to the broker)."""
    REJECTED = "rejected"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    REDUCED = "reduced"
    """An order of the same one-cancels-other group filled: this one's quantity shrank by as much."""
    CANCEL_REQUESTED = "cancel_requested"
    """A cancel was sent to a remote venue; the order may still fill until it is confirmed."""
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class VenueEvent:
    """What happened to one order: its state after the event, and the fill that made it."""

    kind: VenueEventKind
    order: Order
    fill: Fill | None = None

    @classmethod
    def of_fill(cls, order: Order, fill: Fill) -> VenueEvent:
        filled = order.filled_quantity >= order.quantity
        return cls(VenueEventKind.FILLED if filled else VenueEventKind.PARTIALLY_FILLED, order, fill)

    @classmethod
    def of_status(cls, order: Order) -> VenueEvent:
        """The event an order's new status (no fill) stands for."""
        return cls(_STATUS_EVENTS[order.status], order)


_STATUS_EVENTS: Mapping[OrderStatus, VenueEventKind] = {
    OrderStatus.SUBMITTED: VenueEventKind.ACCEPTED,
    OrderStatus.REJECTED: VenueEventKind.REJECTED,
    OrderStatus.PENDING_CANCEL: VenueEventKind.CANCEL_REQUESTED,
    OrderStatus.CANCELLED: VenueEventKind.CANCELLED,
    OrderStatus.EXPIRED: VenueEventKind.EXPIRED,
}


def qualified(session_date: date, engine_id: str) -> str:
    """The store id of a venue's order (or simulated fill) id of `session_date`."""
    return f"{session_date:%Y%m%d}-{engine_id}"


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlaceOrder(_Command):
    """Place `intent` at the broker (its intent id is the broker's orderRef: placed once)."""

    command: Literal["place"] = "place"
    intent: OrderIntent

    @property
    def intent_id(self) -> str:
        return self.intent.intent_id

    @property
    def mode(self) -> TradingMode:
        return self.intent.mode

    @property
    def root(self) -> str:
        return self.intent.contract.root


class CancelOrder(_Command):
    """Cancel the broker's working order of `intent_id` (what filled before stays filled)."""

    command: Literal["cancel"] = "cancel"
    mode: TradingMode
    intent_id: str = Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    root: str = Field(min_length=1, max_length=6)
    """The option root (SPY, QQQ, IWM): the queue keeps each root's commands in order."""
    ts: AwareDatetime
    reason: str = Field(min_length=1, max_length=500)


VenueCommand = Annotated[PlaceOrder | CancelOrder, Field(discriminator="command")]
VENUE_COMMAND: TypeAdapter[PlaceOrder | CancelOrder] = TypeAdapter(VenueCommand)
"""Parses a command's JSON (`VENUE_COMMAND.validate_json(body)`)."""


@dataclass(frozen=True, slots=True)
class OrderReport:
    """The broker's last word on an order that did not fill: rejected, cancelled or expired."""

    order_id: str
    status: OrderStatus
    ts: datetime
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in (OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.EXPIRED):
            raise DomainError(
                f"order report status={self.status.value} must be REJECTED, CANCELLED or EXPIRED "
                "(fills report themselves)"
            )


BrokerNews = Fill | OrderReport
"""What a remote venue reports about the engine's orders (order ids are the engine's)."""


@dataclass(frozen=True, slots=True)
class BrokerReport:
    """What a trading minute learns from the broker before it decides: the news of its orders and
    the broker's book to reconcile with (None: the order bridge has published none)."""

    news: tuple[BrokerNews, ...] = ()
    book: BrokerBook | None = None


@dataclass(frozen=True, slots=True)
class VenueUpdate:
    """What one call changed: the events in the order they happened, and the commands a remote
    venue needs carried to it."""

    events: tuple[VenueEvent, ...] = ()
    commands: tuple[PlaceOrder | CancelOrder, ...] = ()

    @property
    def orders(self) -> tuple[Order, ...]:
        return tuple(e.order for e in self.events)

    @property
    def fills(self) -> tuple[Fill, ...]:
        return tuple(e.fill for e in self.events if e.fill is not None)

    def __add__(self, other: VenueUpdate) -> VenueUpdate:
        return VenueUpdate(self.events + other.events, self.commands + other.commands)


class OrderBook:
    """The orders a venue took today, by order id and by intent id (its dataclass holds both)."""

    _orders: dict[str, Order]
    _by_intent: dict[str, str]

    def knows(self, intent_id: str) -> bool:
        return intent_id in self._by_intent

    def order(self, order_id: str) -> Order:
        return self._orders[order_id]

    def orders(self) -> list[Order]:
        """Every order of the day, in submission order (latest state)."""
        return list(self._orders.values())


class ExecutionVenue(Protocol):
    """Where the engine's orders trade (see the module doc)."""

    @property
    def mode(self) -> TradingMode: ...

    @property
    def fills_at_submission(self) -> bool:
        """Whether a submitted order trades against the quote it was submitted with (the simulated
        venue with zero latency, a research option): then an entry's unfilled remainder is
        cancelled at once."""
        ...

    @property
    def records_own_fills(self) -> bool:
        """Whether the venue's fills exist only here (the simulated venue: its caller must store
        them) rather than already in the store (a broker's, written by the order bridge)."""
        ...

    def knows(self, intent_id: str) -> bool: ...

    def order(self, order_id: str) -> Order: ...

    def orders(self) -> list[Order]:
        """Every order of the day, in submission order (latest state)."""
        ...

    def working_orders(self) -> list[Order]:
        """Orders that may still trade (a cancel requested but not confirmed included)."""
        ...

    def awaiting_news(self) -> list[Order]:
        """The orders whose events come from outside (`apply`): none for a simulated venue."""
        ...

    def submit(
        self,
        intent: OrderIntent,
        quote: OptionQuote | None,
        now: datetime,
        underlying_usd: float | None = None,
    ) -> VenueUpdate:
        """Take `intent` once per intent id (a repeat returns nothing new)."""
        ...

    def cancel(self, order_id: str, now: datetime, reason: str) -> VenueUpdate:
        """Cancel a working order (a remote venue: request it)."""
        ...

    def on_quote(
        self,
        quote: OptionQuote,
        now: datetime,
        underlying_usd: float | None = None,
        quoted_at: datetime | None = None,
    ) -> VenueUpdate:
        """Let working orders trade against `quote`, sampled at `quoted_at` (None: `now`); a
        remote venue trades elsewhere: nothing."""
        ...

    def apply(self, news: Sequence[BrokerNews]) -> VenueUpdate:
        """Book what a remote venue reported, each fill once, in any order."""
        ...

    def copy(self) -> ExecutionVenue:
        """An independent copy (orders are immutable and shared)."""
        ...

    def to_wire(self) -> dict[str, Any]: ...


class VenueKind(Protocol):
    """Builds and restores one kind of venue (the class itself: `SimulatedVenue`, `BrokerVenue`)."""

    def create(self, costs: BrokerCosts, mode: TradingMode) -> ExecutionVenue: ...

    def from_wire(self, wire: Mapping[str, Any], costs: BrokerCosts) -> ExecutionVenue: ...
