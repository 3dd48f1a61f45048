"""The trading vocabulary: instruments, market data, signals, orders, fills, positions.

Every model is immutable and validates itself; invalid values raise errors that name the
field and the allowed range. Prices of options are per share (one contract = 100 shares);
money that is persisted is `Decimal`; timestamps are timezone-aware and stored in UTC.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

CONTRACT_MULTIPLIER = 100
"""Shares per equity option contract."""


class DomainError(ValueError):
    """A domain rule was broken; the message names the field and the limit."""


def aware_datetime(text: str, what: str) -> datetime:
    """The ISO 8601 timestamp `text`, refused (naming `what`) without a UTC offset: stored state
    never holds a naive time."""
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise DomainError(f"{what}={text!r} has no UTC offset")
    return ts


class IllegalTransition(DomainError):
    """An order was asked to move to a status its current status cannot reach."""


def _require_aware(ts: datetime) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware (UTC is stored)")
    return ts


AwareDatetime = Annotated[datetime, AfterValidator(_require_aware)]
PriceUsd = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
MoneyUsd = Annotated[Decimal, Field(max_digits=16, decimal_places=2)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class Underlying(StrEnum):
    """What the system trades options on; VIX is an index used only as a regime input."""

    SPY = "SPY"
    QQQ = "QQQ"
    IWM = "IWM"
    VIX = "VIX"

    @property
    def is_index(self) -> bool:
        return self is Underlying.VIX

    @property
    def is_tradable(self) -> bool:
        return not self.is_index

    @classmethod
    def tradable(cls) -> tuple[Underlying, ...]:
        return tuple(u for u in cls if u.is_tradable)


class OptionRight(StrEnum):
    CALL = "C"
    PUT = "P"


Direction = OptionRight
"""A signal's direction is the right it buys: CALL (bullish) or PUT (bearish)."""


class TradingMode(StrEnum):
    """Where orders go. `paper`: the simulated venue inside the engine; `ibkr_paper`: an Interactive
    Brokers paper account through IB Gateway (the rehearsal of the broker path, no money);
    `live`: a real-money IB account. Every record's key starts with the mode."""

    PAPER = "paper"
    IBKR_PAPER = "ibkr_paper"
    LIVE = "live"

    @property
    def uses_broker(self) -> bool:
        """Orders go through the order queue and the gateway to IB (not the simulated venue)."""
        return self is not TradingMode.PAPER


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"


_OCC_PATTERN = re.compile(
    r"^(?P<root>[A-Z0-9]{1,6})(?P<pad> *)(?P<ymd>\d{6})(?P<right>[CP])(?P<strike>\d{8})$"
)
_OCC_STRIKE_MAX_USD = 99_999.999


class OptionContract(_Frozen):
    """An exchange-listed equity option, named by its OCC symbol."""

    root: str = Field(pattern=r"^[A-Z0-9]{1,6}$", description="OCC root symbol, 1-6 characters")
    expiry: date
    right: OptionRight
    strike: float = Field(gt=0, le=_OCC_STRIKE_MAX_USD, description="strike in USD, 0.001 resolution")

    @model_validator(mode="after")
    def _strike_on_occ_grid(self) -> Self:
        milli = self.strike * 1000
        if abs(milli - round(milli)) > 1e-6:
            raise ValueError(f"strike={self.strike} must be a multiple of 0.001 USD (OCC resolution)")
        if not 2000 <= self.expiry.year <= 2099:
            raise ValueError(f"expiry={self.expiry} must be between 2000-01-01 and 2099-12-31")
        return self

    @property
    def strike_milli(self) -> int:
        return round(self.strike * 1000)

    @property
    def occ_symbol(self) -> str:
        """21-character OCC symbol, e.g. 'SPY   250314C00590000'."""
        return f"{self.root:<6}{self.expiry:%y%m%d}{self.right.value}{self.strike_milli:08d}"

    @property
    def underlying(self) -> Underlying | None:
        """The traded underlying this contract belongs to, if it is one of ours."""
        try:
            return Underlying(self.root)
        except ValueError:
            return None

    @classmethod
    def from_occ(cls, symbol: str) -> OptionContract:
        """Parse an OCC symbol (padded or compact: 'SPY   250314C00590000' or 'SPY250314C00590000')."""
        match = _OCC_PATTERN.match(symbol)
        if match is None or (match["pad"] and len(match["root"]) + len(match["pad"]) != 6):
            raise DomainError(
                f"occ_symbol={symbol!r} is not an OCC symbol: expected root (1-6 chars) padded to 6, "
                "YYMMDD, C or P, strike x 1000 in 8 digits, e.g. 'SPY   250314C00590000'"
            )
        ymd = match["ymd"]
        try:
            expiry = date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:]))
        except ValueError as exc:
            raise DomainError(f"occ_symbol={symbol!r} has an invalid expiry date {ymd!r}: {exc}") from exc
        return cls(
            root=match["root"],
            expiry=expiry,
            right=OptionRight(match["right"]),
            strike=int(match["strike"]) / 1000,
        )

    def __str__(self) -> str:
        return self.occ_symbol


class Quote(_Frozen):
    """Top of book for one instrument (an underlying ticker or an OCC symbol) at `ts`."""

    symbol: str = Field(min_length=1, max_length=21)
    ts: AwareDatetime
    bid: float = Field(ge=0)
    ask: float = Field(ge=0)
    bid_size: int = Field(ge=0)
    ask_size: int = Field(ge=0)

    @property
    def is_crossed(self) -> bool:
        return self.ask > 0 and self.bid > self.ask

    @property
    def is_usable(self) -> bool:
        """Two-sided, positive bid, not crossed: the only quotes analytics and fills may use."""
        return self.bid > 0 and self.ask > 0 and not self.is_crossed

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2

    @property
    def spread(self) -> float:
        return self.ask - self.bid


class Bar(_Frozen):
    """An OHLCV bar; `ts` is the bar's open time, the bar closes at `ts + interval_s`."""

    symbol: str = Field(min_length=1, max_length=21)
    ts: AwareDatetime
    interval_s: int = Field(default=60, gt=0, le=86_400)
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    volume: int = Field(ge=0)

    @model_validator(mode="after")
    def _ohlc_consistent(self) -> Self:
        if not self.low <= min(self.open, self.close) <= max(self.open, self.close) <= self.high:
            raise ValueError(
                f"bar prices must satisfy low <= open, close <= high (got open={self.open}, "
                f"high={self.high}, low={self.low}, close={self.close})"
            )
        return self


class OptionQuote(_Frozen):
    """One row of a chain: a contract and its top of book."""

    contract: OptionContract
    bid: float = Field(ge=0)
    ask: float = Field(ge=0)
    bid_size: int = Field(ge=0)
    ask_size: int = Field(ge=0)

    @property
    def is_usable(self) -> bool:
        return self.bid > 0 and self.ask > 0 and self.bid <= self.ask

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2


class ChainSnapshot(_Frozen):
    """Every quoted contract of one underlying and one expiry at one instant."""

    underlying: Underlying
    ts: AwareDatetime
    expiry: date
    underlying_price: float = Field(gt=0)
    quotes: tuple[OptionQuote, ...]

    @model_validator(mode="after")
    def _one_chain(self) -> Self:
        for quote in self.quotes:
            if quote.contract.root != self.underlying.value or quote.contract.expiry != self.expiry:
                raise ValueError(
                    f"quotes must all be {self.underlying.value} options expiring {self.expiry}; "
                    f"got {quote.contract.occ_symbol}"
                )
        return self

    @cached_property
    def _by_symbol(self) -> dict[str, OptionQuote]:
        return {q.contract.occ_symbol: q for q in self.quotes}

    def quote_for(self, contract: OptionContract) -> OptionQuote | None:
        return self._by_symbol.get(contract.occ_symbol)


class Signal(_Frozen):
    """A strategy's reasoned wish to buy calls or puts on an underlying."""

    signal_id: str = Field(min_length=1, max_length=128)
    ts: AwareDatetime
    underlying: Underlying
    direction: Direction
    strategy: str = Field(min_length=1, max_length=64)
    confidence: float = Field(ge=0, le=1)
    rationale: str = Field(min_length=1, max_length=2000)
    target_delta: float | None = Field(default=None, gt=0, lt=1)
    contract: OptionContract | None = None

    @model_validator(mode="after")
    def _tradable(self) -> Self:
        if not self.underlying.is_tradable:
            raise ValueError(f"underlying={self.underlying.value} is an index: signals need SPY, QQQ or IWM")
        return self


def idempotency_key(*parts: object) -> str:
    """A stable key from the facts that make an order unique; retries derive the same key."""
    text = "|".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Protection(_Frozen):
    """The stop and target an entry's fills get at the broker the moment they fill, as fractions of
    each fill's price (`domain.protection`): no minute passes with a filled position unprotected."""

    stop_loss_fraction: float = Field(gt=0, le=1)
    take_profit_fraction: float = Field(gt=0, le=10)


class OrderIntent(_Frozen):
    """A command to submit an order; `intent_id` is its idempotency key end to end."""

    intent_id: str = Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    mode: TradingMode
    ts: AwareDatetime
    contract: OptionContract
    side: Side
    quantity: int = Field(gt=0, le=1000)
    order_type: OrderType = OrderType.LIMIT
    limit_price: PriceUsd | None = None
    stop_price: PriceUsd | None = None
    """A STOP order's trigger: it becomes a market order when the bid falls to it."""
    oca_group: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    """Orders of one group cancel each other as they fill (a fill reduces the others by its quantity)."""
    protection: Protection | None = None
    """An entry's protection, placed by the venue at each of its fills (BUY orders only)."""
    signal_id: str | None = None
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _prices_fit_type(self) -> Self:
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("limit_price is required for a LIMIT order")
        if self.order_type is OrderType.MARKET and self.limit_price is not None:
            raise ValueError("limit_price must be empty for a MARKET order")
        if (self.order_type is OrderType.STOP) != (self.stop_price is not None):
            raise ValueError("stop_price is required for a STOP order and only for one")
        if self.order_type is OrderType.STOP and self.limit_price is not None:
            raise ValueError("limit_price must be empty for a STOP order")
        if self.protection is not None and self.side is not Side.BUY:
            raise ValueError("protection belongs to an entry (BUY); a SELL is what protects")
        return self


class OrderStatus(StrEnum):
    PENDING_SUBMIT = "PENDING_SUBMIT"
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_STATUSES


_TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)

ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING_SUBMIT: frozenset(
        {OrderStatus.SUBMITTED, OrderStatus.REJECTED, OrderStatus.CANCELLED}
    ),
    OrderStatus.SUBMITTED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.PENDING_CANCEL,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.PENDING_CANCEL,
            OrderStatus.CANCELLED,
            OrderStatus.EXPIRED,
        }
    ),
    # A fill can race a cancel request; the exchange decides which wins.
    OrderStatus.PENDING_CANCEL: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}
"""Which status each status may move to; anything else is an IllegalTransition."""


class Fill(_Frozen):
    """An execution: part or all of an order traded at one price."""

    fill_id: str = Field(min_length=1, max_length=128)
    order_id: str = Field(min_length=1, max_length=128)
    intent_id: str = Field(min_length=1, max_length=64)
    ts: AwareDatetime
    contract: OptionContract
    side: Side
    quantity: int = Field(gt=0, le=1000)
    price: PriceUsd
    commission_usd: MoneyUsd = Decimal("0.00")

    @property
    def notional_usd(self) -> Decimal:
        return (self.price * self.quantity * CONTRACT_MULTIPLIER).quantize(Decimal("0.01"))


class Order(_Frozen):
    """An order's current state; every change goes through `transition` or `apply_fill`."""

    order_id: str = Field(min_length=1, max_length=128)
    intent_id: str = Field(min_length=16, max_length=64)
    mode: TradingMode
    contract: OptionContract
    side: Side
    quantity: int = Field(gt=0, le=1000)
    order_type: OrderType
    limit_price: PriceUsd | None = None
    stop_price: PriceUsd | None = None
    oca_group: str | None = None
    protection: Protection | None = None
    status: OrderStatus = OrderStatus.PENDING_SUBMIT
    filled_quantity: int = Field(default=0, ge=0)
    avg_fill_price: PriceUsd | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    reason: str = ""
    signal_id: str | None = Field(default=None, max_length=128)
    """The signal an entry answers (from its intent); None for exits and protection."""

    @model_validator(mode="after")
    def _fill_within_quantity(self) -> Self:
        if self.filled_quantity > self.quantity:
            raise ValueError(f"filled_quantity={self.filled_quantity} must be <= quantity={self.quantity}")
        return self

    @classmethod
    def from_intent(cls, intent: OrderIntent, order_id: str) -> Order:
        return cls(
            order_id=order_id,
            intent_id=intent.intent_id,
            mode=intent.mode,
            contract=intent.contract,
            side=intent.side,
            quantity=intent.quantity,
            order_type=intent.order_type,
            limit_price=intent.limit_price,
            stop_price=intent.stop_price,
            oca_group=intent.oca_group,
            protection=intent.protection,
            created_at=intent.ts,
            updated_at=intent.ts,
            signal_id=intent.signal_id,
        )

    @property
    def remaining_quantity(self) -> int:
        return self.quantity - self.filled_quantity

    def transition(self, status: OrderStatus, at: datetime, reason: str = "") -> Order:
        """Move to `status`, or raise IllegalTransition naming both ends."""
        if status not in ORDER_TRANSITIONS[self.status]:
            allowed = ", ".join(sorted(ORDER_TRANSITIONS[self.status])) or "none (terminal)"
            raise IllegalTransition(
                f"order {self.order_id}: status {self.status.value} -> {status.value} is not allowed; "
                f"allowed: {allowed}"
            )
        return self.model_copy(update={"status": status, "updated_at": at, "reason": reason or self.reason})

    def reduce(self, quantity: int, at: datetime, reason: str) -> Order:
        """The order shrunk to `quantity` (another order of its one-cancels-other group filled):
        FILLED when that is what it has filled already."""
        if self.status.is_terminal or not self.filled_quantity <= quantity < self.quantity or quantity < 1:
            raise DomainError(
                f"order {self.order_id} ({self.status.value}, {self.filled_quantity}/{self.quantity} filled) "
                f"cannot be reduced to quantity={quantity}"
            )
        reduced = self.model_copy(update={"quantity": quantity, "updated_at": at, "reason": reason})
        return (
            reduced.transition(OrderStatus.FILLED, at, reason)
            if quantity == self.filled_quantity
            else reduced
        )

    def apply_fill(self, fill: Fill) -> Order:
        """Account for an execution: quantity, average price, and PARTIALLY_FILLED or FILLED."""
        if fill.order_id != self.order_id or fill.side != self.side or fill.contract != self.contract:
            raise DomainError(f"fill {fill.fill_id} does not belong to order {self.order_id}")
        if fill.quantity > self.remaining_quantity:
            raise DomainError(
                f"fill {fill.fill_id}: quantity={fill.quantity} exceeds remaining_quantity="
                f"{self.remaining_quantity} of order {self.order_id}"
            )
        filled = self.filled_quantity + fill.quantity
        previous_cost = (self.avg_fill_price or Decimal(0)) * self.filled_quantity
        avg = ((previous_cost + fill.price * fill.quantity) / filled).quantize(Decimal("0.0001"))
        status = OrderStatus.FILLED if filled == self.quantity else OrderStatus.PARTIALLY_FILLED
        moved = self.transition(status, fill.ts)
        return moved.model_copy(update={"filled_quantity": filled, "avg_fill_price": avg})


class PositionStatus(StrEnum):
    OPEN = "OPEN"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"


class Position(_Frozen):
    """A long option position (the system only buys premium; it never writes options)."""

    position_id: str = Field(min_length=1, max_length=128)
    mode: TradingMode
    contract: OptionContract
    quantity: int = Field(gt=0, le=1000)
    entry_price: PriceUsd
    opened_at: AwareDatetime
    strategy: str = Field(min_length=1, max_length=64)
    status: PositionStatus = PositionStatus.OPEN
    stop_loss_price: PriceUsd | None = None
    take_profit_price: PriceUsd | None = None
    exit_price: PriceUsd | None = None
    closed_at: AwareDatetime | None = None
    exit_reason: str | None = None

    @property
    def cost_basis_usd(self) -> Decimal:
        return (self.entry_price * self.quantity * CONTRACT_MULTIPLIER).quantize(Decimal("0.01"))

    def pnl_usd(self, mark_price: Decimal) -> Decimal:
        """Profit at `mark_price` per share, before commissions, in cents."""
        return ((mark_price - self.entry_price) * self.quantity * CONTRACT_MULTIPLIER).quantize(
            Decimal("0.01")
        )

    def pnl_fraction(self, mark_price: Decimal) -> float:
        if self.entry_price == 0:
            return 0.0
        return float((mark_price - self.entry_price) / self.entry_price)
