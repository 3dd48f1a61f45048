"""The simulated execution venue (paper trading and backtests): fills against quotes.

- Marketable orders (market, or a limit through the quote) fill at the opposite side plus
  slippage, up to the displayed size; the rest works on later quotes.
- Resting limits fill at their limit when a later quote crosses them; sell stops trigger when
  the bid falls to the stop and fill at the bid minus slippage.
- One-cancels-other groups (`oca_group`): a fill of one order reduces the others of its group by
  its quantity, cancelling those with nothing left (IB's OCA type 3, reduce without block).
- A sell trades against the bid alone (a positive bid is enough; the ask does not matter).
- A market sell in a series with no bid (zero or no quote) fills in full at `no_bid_price`: the
  larger of the minimum tick and the option's intrinsic value. A real exchange turns such an
  order into a limit at the minimum increment (Cboe Rule 5.34); an out-of-the-money 0DTE option
  without a bid is worthless, and an in-the-money one is always bought at about intrinsic (the
  buyer exercises it). So an exit that goes to market is never held into expiry.
- An order is live only `latency_s` after submission: only quotes sampled by then or later fill
  it (with minute snapshots, never the snapshot its decision saw; zero latency, a research
  option, fills at submission against the quote given).
- Charges as `BrokerCosts` says: the commission tier of each fill's price, at least the minimum
  once per order (a fill pays what the order's charges grew by), and the pass-through fees.
- A quote's displayed size is shared: what one order took at `now` is gone for the others.
- No usable quote at submission: a buy is rejected; a sell is accepted and works (the owner must
  be able to exit a market without a bid).
- Submitting the same intent id twice returns nothing new.
- It trades paper only: a broker-backed mode (ibkr_paper, live) trades on the `BrokerVenue`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from smart0dte.domain.exits import intrinsic_value
from smart0dte.domain.models import (
    DomainError,
    Fill,
    OptionQuote,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    TradingMode,
    aware_datetime,
)
from smart0dte.domain.venue import BrokerCosts, BrokerNews, OrderBook, VenueEvent, VenueEventKind, VenueUpdate

PRICE_TICK = Decimal("0.01")


@dataclass(slots=True)
class WorkingOrder:
    """An order resting at the simulated venue, with what its fill waits for."""

    order: Order
    active_at: datetime
    resting: bool = False
    """A limit that did not fill on arrival; when crossed later it fills at its limit."""


def _price(value: float) -> Decimal:
    return Decimal(str(value)).quantize(PRICE_TICK, rounding=ROUND_HALF_UP)


def no_bid_price(quote: OptionQuote, underlying_usd: float | None) -> Decimal:
    """What a market sell of `quote.contract` fills at without a bid: the larger of the minimum
    tick and the intrinsic value at `underlying_usd` (rounded down to the tick); the tick alone
    when the underlying's price is unknown."""
    contract = quote.contract
    if underlying_usd is None or not math.isfinite(underlying_usd):
        return PRICE_TICK
    value = Decimal(str(intrinsic_value(contract.right, contract.strike, underlying_usd)))
    return max(PRICE_TICK, value.quantize(PRICE_TICK, rounding=ROUND_DOWN))


@dataclass
class SimulatedVenue(OrderBook):
    """The paper venue: the same orders as the broker's, filled here from quotes."""

    costs: BrokerCosts = field(default_factory=BrokerCosts)
    mode: TradingMode = TradingMode.PAPER
    _orders: dict[str, Order] = field(default_factory=dict)
    _by_intent: dict[str, str] = field(default_factory=dict)
    _working: dict[str, WorkingOrder] = field(default_factory=dict)
    _sequence: int = 0
    _taken_at: datetime | None = None
    _taken: dict[tuple[str, Side], int] = field(default_factory=dict)
    """Contracts traded at `_taken_at` by (OCC symbol, side): the displayed size already used."""
    _charged: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    """Order id -> (commissions at the tiers' rates, pass-through fees) of what it filled so far,
    unrounded: the order minimum and the cents apply to the order's total."""

    def __post_init__(self) -> None:
        if self.mode.uses_broker:
            raise DomainError(
                f"the simulated venue trades paper only; {self.mode.value} trades at the broker (BrokerVenue)"
            )

    @classmethod
    def create(cls, costs: BrokerCosts, mode: TradingMode) -> SimulatedVenue:
        return cls(costs, mode)

    @property
    def fills_at_submission(self) -> bool:
        return self.costs.latency_s == 0

    @property
    def records_own_fills(self) -> bool:
        return True

    def working_orders(self) -> list[Order]:
        return [w.order for w in self._working.values()]

    def awaiting_news(self) -> list[Order]:
        return []

    def apply(self, news: Sequence[BrokerNews]) -> VenueUpdate:
        if news:
            raise DomainError("the simulated venue reports its own fills; it takes no broker news")
        return VenueUpdate()

    def submit(
        self,
        intent: OrderIntent,
        quote: OptionQuote | None,
        now: datetime,
        underlying_usd: float | None = None,
    ) -> VenueUpdate:
        """Accept an intent (once per intent id) and fill what the current quote allows
        (`underlying_usd`: the underlying's price, for a market sell without a bid)."""
        if intent.mode is not self.mode:
            raise DomainError(f"intent mode={intent.mode.value} does not match venue mode={self.mode.value}")
        if intent.intent_id in self._by_intent:
            return VenueUpdate()
        order = Order.from_intent(intent, order_id=self._next_id("O"))
        self._by_intent[intent.intent_id] = order.order_id
        if quote is not None and quote.contract != intent.contract:
            quote = None
        if intent.side is Side.BUY and (quote is None or not quote.is_usable):
            rejected = order.transition(OrderStatus.REJECTED, now, "no usable quote for the contract")
            self._orders[rejected.order_id] = rejected
            return VenueUpdate((VenueEvent.of_status(rejected),))
        submitted = order.transition(OrderStatus.SUBMITTED, now)
        self._orders[submitted.order_id] = submitted
        self._working[submitted.order_id] = WorkingOrder(
            submitted, now + timedelta(seconds=self.costs.latency_s)
        )
        accepted = VenueUpdate((VenueEvent.of_status(submitted),))
        if self.costs.latency_s > 0 or quote is None:
            return accepted
        return accepted + self.on_quote(quote, now, underlying_usd)

    def cancel(self, order_id: str, now: datetime, reason: str = "cancelled") -> VenueUpdate:
        working = self._working.pop(order_id, None)
        if working is None:
            raise DomainError(f"order {order_id} is not working; it cannot be cancelled")
        cancelled = working.order.transition(OrderStatus.CANCELLED, now, reason)
        self._orders[order_id] = cancelled
        return VenueUpdate((VenueEvent.of_status(cancelled),))

    def on_quote(
        self,
        quote: OptionQuote,
        now: datetime,
        underlying_usd: float | None = None,
        quoted_at: datetime | None = None,
    ) -> VenueUpdate:
        """Let working orders in `quote.contract` live by `quoted_at` (the quote's sample time;
        None: `now`) trade against it (`underlying_usd` as in `submit`)."""
        update = VenueUpdate()
        sampled = now if quoted_at is None else quoted_at
        if now != self._taken_at:
            self._taken_at, self._taken = now, {}
        for order_id in [i for i, w in self._working.items() if w.order.contract == quote.contract]:
            working = self._working.get(order_id)
            if working is None or sampled < working.active_at:
                continue  # cancelled by an OCO sibling in this pass, or not live when sampled
            order = working.order
            if order.side is Side.SELL and order.order_type is OrderType.MARKET and quote.bid <= 0:
                fill_price: Decimal | None = no_bid_price(quote, underlying_usd)
                displayed = order.remaining_quantity
            else:
                fill_price = self._fill_price(working, quote)
                shown = quote.ask_size if order.side is Side.BUY else quote.bid_size
                displayed = shown - self._taken.get((order.contract.occ_symbol, order.side), 0)
            if fill_price is None:
                working.resting = True
                continue
            quantity = min(working.order.remaining_quantity, displayed)
            if quantity <= 0:
                continue
            fill = self._fill(working.order, quantity, fill_price, now)
            taken = (order.contract.occ_symbol, order.side)
            self._taken[taken] = self._taken.get(taken, 0) + quantity
            filled = working.order.apply_fill(fill)
            update += VenueUpdate((VenueEvent.of_fill(filled, fill),))
            self._orders[order_id] = filled
            if filled.status is OrderStatus.FILLED:
                del self._working[order_id]
            else:
                working.order = filled
                working.resting = True
            update += self._reduce_group(filled, quantity, now)
        return update

    def _reduce_group(self, filled: Order, quantity: int, now: datetime) -> VenueUpdate:
        """The other working orders of `filled`'s group, each reduced by `quantity` (cancelled when
        nothing is left of it)."""
        update = VenueUpdate()
        if filled.oca_group is None:
            return update
        for order_id, other in list(self._working.items()):
            order = other.order
            if order_id == filled.order_id or order.oca_group != filled.oca_group:
                continue
            left = order.quantity - quantity
            if left <= order.filled_quantity:
                update += self.cancel(order_id, now, "one-cancels-other")
                continue
            reduced = order.reduce(left, now, "one-cancels-other: reduced")
            other.order = self._orders[order_id] = reduced
            update += VenueUpdate((VenueEvent(VenueEventKind.REDUCED, reduced),))
        return update

    def _fill_price(self, working: WorkingOrder, quote: OptionQuote) -> Decimal | None:
        order = working.order
        slip = self.costs.slippage_per_share_usd
        bid, ask = _price(quote.bid), _price(quote.ask)
        limit = order.limit_price
        if order.side is Side.BUY:
            if not quote.is_usable:
                return None
            if order.order_type is OrderType.MARKET:
                return ask + slip
            if limit is not None and limit >= ask:
                return limit if working.resting else min(ask + slip, limit)
            return None
        if bid <= 0:
            return None
        if order.order_type is OrderType.STOP:
            triggered = order.stop_price is not None and bid <= order.stop_price
            return max(bid - slip, Decimal("0.00")) if triggered else None
        if order.order_type is OrderType.MARKET:
            return max(bid - slip, Decimal("0.00"))
        if limit is not None and bid >= limit:
            return limit if working.resting else max(bid - slip, limit)
        return None

    def _fill(self, order: Order, quantity: int, price: Decimal, now: datetime) -> Fill:
        costs = self.costs
        before = self._charged.get(order.order_id)
        commissions, fees = before or (Decimal(0), Decimal(0))
        after = (
            commissions + costs.commission_per_contract_usd(price) * quantity,
            fees + costs.fees_per_contract_usd(order.side) * quantity,
        )
        self._charged[order.order_id] = after
        paid = costs.order_charges_usd(*before) if before is not None else Decimal("0.00")
        return Fill(
            fill_id=self._next_id("F"),
            order_id=order.order_id,
            intent_id=order.intent_id,
            ts=now,
            contract=order.contract,
            side=order.side,
            quantity=quantity,
            price=price,
            commission_usd=costs.order_charges_usd(*after) - paid,
        )

    def _next_id(self, prefix: str) -> str:
        self._sequence += 1
        return f"{prefix}{self._sequence:08d}"

    # --- state ------------------------------------------------------------------------------------

    def copy(self) -> SimulatedVenue:
        clone = SimulatedVenue(self.costs, self.mode)
        clone._orders = dict(self._orders)
        clone._by_intent = dict(self._by_intent)
        clone._working = {i: WorkingOrder(w.order, w.active_at, w.resting) for i, w in self._working.items()}
        clone._sequence = self._sequence
        clone._taken_at, clone._taken = self._taken_at, dict(self._taken)
        clone._charged = dict(self._charged)
        return clone

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": "simulated",
            "mode": self.mode.value,
            "sequence": self._sequence,
            "orders": [o.model_dump(mode="json") for o in self._orders.values()],
            "by_intent": [[intent_id, order_id] for intent_id, order_id in self._by_intent.items()],
            "working": [
                [order_id, w.active_at.isoformat(), w.resting] for order_id, w in self._working.items()
            ],
            "taken_at": None if self._taken_at is None else self._taken_at.isoformat(),
            "taken": [[occ, side.value, quantity] for (occ, side), quantity in self._taken.items()],
            "charged": [
                [order_id, str(commissions), str(fees)]
                for order_id, (commissions, fees) in self._charged.items()
            ],
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any], costs: BrokerCosts) -> SimulatedVenue:
        if wire.get("kind") != "simulated":
            raise DomainError(f"venue state kind={wire.get('kind')!r} is not a simulated venue's")
        venue = cls(costs, TradingMode(wire["mode"]))
        venue._sequence = int(wire["sequence"])
        orders = [Order.model_validate(o) for o in wire["orders"]]
        venue._orders = {o.order_id: o for o in orders}
        venue._by_intent = {str(intent_id): str(order_id) for intent_id, order_id in wire["by_intent"]}
        venue._working = {
            str(order_id): WorkingOrder(
                venue._orders[order_id], aware_datetime(active_at, "venue state timestamp"), bool(resting)
            )
            for order_id, active_at, resting in wire["working"]
        }
        venue._taken_at = (
            None if wire["taken_at"] is None else aware_datetime(wire["taken_at"], "venue state timestamp")
        )
        venue._taken = {(str(occ), Side(side)): int(quantity) for occ, side, quantity in wire["taken"]}
        venue._charged = {
            str(order_id): (Decimal(commissions), Decimal(fees))
            for order_id, commissions, fees in wire["charged"]
        }
        return venue
