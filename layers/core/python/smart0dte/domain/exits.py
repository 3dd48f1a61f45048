"""When to close a long 0DTE option (stop loss, take profit, trailing stop, flatten time) and at
what price the exit order works.

Triggers are judged on the bid, the price a long position can actually sell at. Once an exit
starts it works until the position is flat: its first order is a limit at the bid (marketable);
whenever the working order is no longer marketable (the bid fell below its limit) it is replaced
by one walked toward the bid (`exit_limit_usd`: the bid less one tick per minute the exit has
worked), and from `EXIT_LIMIT_MINUTES` on, or whenever there is no bid, by a market order. A
position still open at the close is settled at intrinsic value and reported as an incident.

Each order is priced on the quote its minute saw and trades at the next minute's snapshot (the
venue's latency), so a limit fills only if the bid holds for a minute, and a sale lands by
`EXIT_LIMIT_MINUTES` + 1 minutes after the exit started (a thin bid's remainder: later). The
ladder is kept: a bid that holds is sold at the bid; a falling or decaying one costs a minute or
two, which resting stops and targets (`domain.protection`) do not pay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from smart0dte.domain.models import DomainError, OptionRight

EXIT_LIMIT_MINUTES = 2
"""Minutes an exit works as a limit order before a replacement goes out as a market order."""
EXIT_TICK_USD = Decimal("0.01")


def exit_limit_usd(bid: float, minutes_working: int) -> Decimal | None:
    """The limit of an exit order placed `minutes_working` minutes after the exit started, against
    `bid`: the bid less one tick per minute (at least one tick), or None for a market order (no
    bid, or the exit has worked `EXIT_LIMIT_MINUTES` or longer)."""
    if minutes_working < 0:
        raise DomainError(f"minutes_working={minutes_working} must be >= 0")
    if not math.isfinite(bid) or bid <= 0 or minutes_working >= EXIT_LIMIT_MINUTES:
        return None
    at_bid = Decimal(str(bid)).quantize(EXIT_TICK_USD, rounding=ROUND_HALF_UP)
    return max(EXIT_TICK_USD, at_bid - EXIT_TICK_USD * minutes_working)


class ExitReason(StrEnum):
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"
    TRAILING_STOP = "TRAILING_STOP"
    TIME_EXIT = "TIME_EXIT"
    EMERGENCY_STOP = "EMERGENCY_STOP"
    MANUAL = "MANUAL"
    EXPIRY_SETTLEMENT = "EXPIRY_SETTLEMENT"


@dataclass(frozen=True, slots=True)
class ExitPlan:
    """Exit levels of one position, per share; `peak_bid` moves the trailing stop up."""

    entry_price: float
    stop_loss_fraction: float
    take_profit_fraction: float
    trailing_stop_fraction: float | None = None
    peak_bid: float = 0.0

    def __post_init__(self) -> None:
        if self.entry_price <= 0:
            raise DomainError(f"entry_price={self.entry_price} must be > 0")
        if not 0 < self.stop_loss_fraction <= 1:
            raise DomainError(f"stop_loss_fraction={self.stop_loss_fraction} must be within (0, 1]")
        if self.take_profit_fraction <= 0:
            raise DomainError(f"take_profit_fraction={self.take_profit_fraction} must be > 0")
        if self.trailing_stop_fraction is not None and not 0 < self.trailing_stop_fraction < 1:
            raise DomainError(f"trailing_stop_fraction={self.trailing_stop_fraction} must be within (0, 1)")

    @property
    def stop_price(self) -> float:
        return self.entry_price * (1 - self.stop_loss_fraction)

    @property
    def target_price(self) -> float:
        return self.entry_price * (1 + self.take_profit_fraction)

    @property
    def trailing_price(self) -> float | None:
        """Active only once the bid has risen above entry; never below the fixed stop."""
        if self.trailing_stop_fraction is None or self.peak_bid <= self.entry_price:
            return None
        return max(self.stop_price, self.peak_bid * (1 - self.trailing_stop_fraction))

    def observe(self, bid: float) -> ExitPlan:
        """The plan after seeing `bid` (raises the trailing peak)."""
        return replace(self, peak_bid=max(self.peak_bid, bid)) if bid > self.peak_bid else self


def exit_reason(plan: ExitPlan, bid: float, now: datetime, flatten_at: datetime) -> ExitReason | None:
    """Why to close now, or None to hold. The flatten time wins over price triggers."""
    if now >= flatten_at:
        return ExitReason.TIME_EXIT
    if not math.isfinite(bid) or bid < 0:
        return None  # no quote to judge against; the time exit still guarantees a close
    if bid <= plan.stop_price:
        return ExitReason.STOP_LOSS
    if bid >= plan.target_price:
        return ExitReason.TAKE_PROFIT
    trailing = plan.trailing_price
    if trailing is not None and bid <= trailing:
        return ExitReason.TRAILING_STOP
    return None


def intrinsic_value(right: OptionRight, strike: float, underlying_price: float) -> float:
    """Per-share value at expiry: what an option held through the close settles at."""
    if right is OptionRight.CALL:
        return max(0.0, underlying_price - strike)
    return max(0.0, strike - underlying_price)
