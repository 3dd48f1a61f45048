"""The engine's view of its orders at Interactive Brokers (ibkr_paper and live): the broker venue.

It never fills anything. A submit records the order as sent (ACCEPTED) and returns a `PlaceOrder`
command; a cancel moves the order to PENDING_CANCEL (it may still fill until the broker confirms)
and returns a `CancelOrder` command; the caller carries the commands to the order bridge. What the
broker did comes back as `BrokerNews` (fills, and rejections, cancels and expiries) through `apply`:

- each fill is booked once (by fill id), in time order, whatever order and how many times the news
  arrives in;
- a fill of an order already reported cancelled or rejected is still booked (the exchange decided:
  a fill that raced a cancel won); a fill beyond the order's quantity is booked too, the order's
  quantity growing to it: the broker's fills are the truth;
- a rejection, cancel or expiry ends an order that is still working, and changes nothing after;
- a fill of an order in a one-cancels-other group reduces the group's other working orders by its
  quantity, cancelling those with nothing left, as IB does with OCA type 3 (reduce without block);
- a fill of an entry that carries its `Protection` brings the stop and target group the order bridge
  placed at that fill (`domain.protection.protection_of_fill`): no minute waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from smart0dte.domain.models import (
    DomainError,
    Fill,
    OptionQuote,
    Order,
    OrderIntent,
    OrderStatus,
    TradingMode,
)
from smart0dte.domain.protection import protection_of_fill, protective_order_id
from smart0dte.domain.venue import (
    BrokerCosts,
    BrokerNews,
    CancelOrder,
    OrderBook,
    OrderReport,
    PlaceOrder,
    VenueEvent,
    VenueEventKind,
    VenueUpdate,
)


@dataclass
class BrokerVenue(OrderBook):
    """Orders sent to the broker and what it reported of them (see the module doc)."""

    mode: TradingMode
    _orders: dict[str, Order] = field(default_factory=dict)
    _by_intent: dict[str, str] = field(default_factory=dict)
    _fill_ids: set[str] = field(default_factory=set)
    _sequence: int = 0

    def __post_init__(self) -> None:
        if not self.mode.uses_broker:
            raise DomainError(f"the broker venue trades ibkr_paper or live, not {self.mode.value}")

    @classmethod
    def create(cls, costs: BrokerCosts, mode: TradingMode) -> BrokerVenue:
        """`costs` are the simulated venue's: the broker reports its own commissions."""
        return cls(mode)

    @property
    def fills_at_submission(self) -> bool:
        return False

    @property
    def records_own_fills(self) -> bool:
        return False

    def working_orders(self) -> list[Order]:
        return [o for o in self._orders.values() if not o.status.is_terminal]

    def awaiting_news(self) -> list[Order]:
        return self.working_orders()

    def submit(
        self,
        intent: OrderIntent,
        quote: OptionQuote | None,
        now: datetime,
        underlying_usd: float | None = None,
    ) -> VenueUpdate:
        if intent.mode is not self.mode:
            raise DomainError(f"intent mode={intent.mode.value} does not match venue mode={self.mode.value}")
        if intent.intent_id in self._by_intent:
            return VenueUpdate()
        self._sequence += 1
        order = Order.from_intent(intent, order_id=f"O{self._sequence:08d}").transition(
            OrderStatus.SUBMITTED, now, "sent to the broker"
        )
        self._orders[order.order_id] = order
        self._by_intent[intent.intent_id] = order.order_id
        return VenueUpdate((VenueEvent.of_status(order),), (PlaceOrder(intent=intent),))

    def cancel(self, order_id: str, now: datetime, reason: str) -> VenueUpdate:
        order = self._orders.get(order_id)
        if order is None or order.status.is_terminal:
            raise DomainError(f"order {order_id} is not working; it cannot be cancelled")
        if order.status is OrderStatus.PENDING_CANCEL:
            return VenueUpdate()
        requested = order.transition(OrderStatus.PENDING_CANCEL, now, reason)
        self._orders[order_id] = requested
        command = CancelOrder(
            mode=self.mode, intent_id=order.intent_id, root=order.contract.root, ts=now, reason=reason[:500]
        )
        return VenueUpdate((VenueEvent.of_status(requested),), (command,))

    def on_quote(
        self,
        quote: OptionQuote,
        now: datetime,
        underlying_usd: float | None = None,
        quoted_at: datetime | None = None,
    ) -> VenueUpdate:
        return VenueUpdate()

    def apply(self, news: Sequence[BrokerNews]) -> VenueUpdate:
        fills = sorted((n for n in news if isinstance(n, Fill)), key=lambda f: (f.ts, f.fill_id))
        update = VenueUpdate()
        for fill in fills:
            if fill.fill_id in self._fill_ids:
                continue
            order = self._known(fill.order_id)
            booked = _absorb(order, fill)
            self._orders[order.order_id] = booked
            self._fill_ids.add(fill.fill_id)
            update += VenueUpdate((VenueEvent.of_fill(booked, fill),))
            update += self._reduce_group(booked, fill)
            update += self._protected_at_fill(booked, fill)
        for report in (n for n in news if isinstance(n, OrderReport)):
            order = self._known(report.order_id)
            if order.status.is_terminal:
                continue
            ended = order.transition(report.status, report.ts, report.reason)
            self._orders[order.order_id] = ended
            update += VenueUpdate((VenueEvent.of_status(ended),))
        return update

    def _reduce_group(self, filled: Order, fill: Fill) -> VenueUpdate:
        update = VenueUpdate()
        if filled.oca_group is None:
            return update
        for other in self.working_orders():
            if other.order_id == filled.order_id or other.oca_group != filled.oca_group:
                continue
            left = other.quantity - fill.quantity
            if left <= other.filled_quantity:
                ended = other.transition(OrderStatus.CANCELLED, fill.ts, "one-cancels-other at the broker")
                update += VenueUpdate((VenueEvent.of_status(ended),))
            else:
                ended = other.reduce(left, fill.ts, "one-cancels-other at the broker: reduced")
                update += VenueUpdate((VenueEvent(VenueEventKind.REDUCED, ended),))
            self._orders[other.order_id] = ended
        return update

    def _protected_at_fill(self, entry: Order, fill: Fill) -> VenueUpdate:
        """The group the order bridge placed the moment it recorded `fill` of `entry` (same ids:
        `protection_of_fill`); the broker's news about it comes like any order's."""
        update = VenueUpdate()
        for intent in protection_of_fill(entry, fill):
            if intent.intent_id in self._by_intent:
                continue
            order = Order.from_intent(intent, protective_order_id(intent)).transition(
                OrderStatus.SUBMITTED, fill.ts, "placed by the order bridge at the entry's fill"
            )
            self._orders[order.order_id] = order
            self._by_intent[intent.intent_id] = order.order_id
            update += VenueUpdate((VenueEvent.of_status(order),))
        return update

    def _known(self, order_id: str) -> Order:
        order = self._orders.get(order_id)
        if order is None:
            raise DomainError(f"the broker reported on order {order_id}, which this venue never sent")
        return order

    # --- state ------------------------------------------------------------------------------------

    def copy(self) -> BrokerVenue:
        return BrokerVenue(
            self.mode, dict(self._orders), dict(self._by_intent), set(self._fill_ids), self._sequence
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": "broker",
            "mode": self.mode.value,
            "sequence": self._sequence,
            "orders": [o.model_dump(mode="json") for o in self._orders.values()],
            "fill_ids": sorted(self._fill_ids),
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any], costs: BrokerCosts) -> BrokerVenue:
        if wire.get("kind") != "broker":
            raise DomainError(f"venue state kind={wire.get('kind')!r} is not a broker venue's")
        orders = [Order.model_validate(o) for o in wire["orders"]]
        return cls(
            TradingMode(wire["mode"]),
            {o.order_id: o for o in orders},
            {o.intent_id: o.order_id for o in orders},
            {str(f) for f in wire["fill_ids"]},
            int(wire["sequence"]),
        )


def _absorb(order: Order, fill: Fill) -> Order:
    """`order` with `fill` booked: as a normal fill while the order works and the fill fits it,
    else (a fill that won a race with the cancel, or more than the order asked for) as the broker
    reported it, the status FILLED once nothing remains."""
    if fill.order_id != order.order_id or fill.side is not order.side or fill.contract != order.contract:
        raise DomainError(f"fill {fill.fill_id} does not belong to order {order.order_id}")
    if not order.status.is_terminal and fill.quantity <= order.remaining_quantity:
        return order.apply_fill(fill)
    filled = order.filled_quantity + fill.quantity
    cost = (order.avg_fill_price or Decimal(0)) * order.filled_quantity + fill.price * fill.quantity
    quantity = max(order.quantity, filled)
    return order.model_copy(
        update={
            "quantity": quantity,
            "filled_quantity": filled,
            "avg_fill_price": (cost / filled).quantize(Decimal("0.0001")),
            "status": OrderStatus.FILLED if filled == quantity else order.status,
            "updated_at": fill.ts,
        }
    )
