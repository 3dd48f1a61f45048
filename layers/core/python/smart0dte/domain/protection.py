"""A position's protection at the venue: a STOP and a LIMIT target selling the same quantity, one
one-cancels-other group (IB's OCA type 3: a fill of one reduces the other), so the position is
protected even when no trading minute runs.

Two places place a group, with the same levels and ids from the same facts:

- the venue, at each fill of an entry that carries its `Protection` (`protection_of_fill`): in
  ibkr_paper and live the order bridge places it the moment it records the fill, and the engine's
  broker venue books the same orders (same intent and order ids) when it learns of the fill;
- the engine, for whatever quantity no working group covers (`protective_group`: a group the broker
  rejected or ended, a fill of an entry without protection, the simulated venue's fills).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from smart0dte.domain.exits import EXIT_TICK_USD, ExitPlan, ExitReason
from smart0dte.domain.models import (
    DomainError,
    Fill,
    OptionContract,
    Order,
    OrderIntent,
    OrderType,
    Side,
    TradingMode,
    idempotency_key,
)

PROTECTIVE_EXIT = {OrderType.STOP: ExitReason.STOP_LOSS, OrderType.LIMIT: ExitReason.TAKE_PROFIT}
"""Why a protective order's fill closes the position, by its type."""


def protective_group(
    key: tuple[object, ...],
    mode: TradingMode,
    contract: OptionContract,
    quantity: int,
    plan: ExitPlan,
    now: datetime,
    what: str,
) -> tuple[OrderIntent, ...]:
    """The stop and target of `quantity` at `plan`'s levels (stop rounded down, target up to the
    tick), their ids derived from `key`; a 100% stop is no stop, so then only the target."""
    group = idempotency_key(*key, "protect")
    stop = Decimal(str(plan.stop_price)).quantize(EXIT_TICK_USD, rounding=ROUND_DOWN)
    target = Decimal(str(plan.target_price)).quantize(EXIT_TICK_USD, rounding=ROUND_UP)
    legs = [(OrderType.LIMIT, target)]
    if stop > 0:
        legs.insert(0, (OrderType.STOP, stop))
    return tuple(
        OrderIntent(
            intent_id=idempotency_key(*key, PROTECTIVE_EXIT[order_type].value),
            mode=mode,
            ts=now,
            contract=contract,
            side=Side.SELL,
            quantity=quantity,
            order_type=order_type,
            limit_price=price if order_type is OrderType.LIMIT else None,
            stop_price=price if order_type is OrderType.STOP else None,
            oca_group=group,
            reason=f"protective {PROTECTIVE_EXIT[order_type].value} of {what}",
        )
        for order_type, price in legs
    )


def protection_of_fill(entry: Order, fill: Fill) -> tuple[OrderIntent, ...]:
    """The group that protects `fill` of `entry` (empty when the entry carries no protection),
    at the entry's protection fractions of the fill's price."""
    protection = entry.protection
    if protection is None:
        return ()
    if fill.order_id != entry.order_id or fill.side is not Side.BUY:
        raise DomainError(f"fill {fill.fill_id} is not an entry fill of order {entry.order_id}")
    plan = ExitPlan(float(fill.price), protection.stop_loss_fraction, protection.take_profit_fraction)
    key = (entry.mode, entry.intent_id, fill.fill_id)
    return protective_group(
        key, entry.mode, fill.contract, fill.quantity, plan, fill.ts, f"fill {fill.fill_id}"
    )


def protective_order_id(intent: OrderIntent) -> str:
    """The order id both the bridge and the engine give an order of `protection_of_fill`."""
    return f"P{intent.intent_id}"
