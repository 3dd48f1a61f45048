"""In-memory stand-ins for the gateway's ports: an IB broker that honours orderRef idempotency, a
queue receiver, a clock and a connection. Nothing here talks to IB or AWS."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from smart0dte.domain.models import (
    Fill,
    OptionContract,
    OptionRight,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    TradingMode,
)
from smart0dte.domain.venue import PlaceOrder
from smart0dte.ports import BrokerAccount, BrokerOrderAck, BrokerPosition, LiveBroker, ReceivedCommand

SESSION = date(2025, 3, 14)
T0 = datetime(2025, 3, 14, 14, 31, tzinfo=UTC)
CALL = OptionContract(root="SPY", expiry=SESSION, right=OptionRight.CALL, strike=562)
PUT = OptionContract(root="SPY", expiry=SESSION, right=OptionRight.PUT, strike=558)


def make_intent(
    n: int = 1,
    side: Side = Side.BUY,
    quantity: int = 2,
    mode: TradingMode = TradingMode.LIVE,
    contract: OptionContract = CALL,
) -> OrderIntent:
    return OrderIntent(
        intent_id=f"intent-{n:010d}",
        mode=mode,
        ts=T0,
        contract=contract,
        side=side,
        quantity=quantity,
        order_type=OrderType.LIMIT,
        limit_price=Decimal("1.25"),
        reason="momentum breakout above the opening range",
    )


def message(intent: OrderIntent, n: int = 0, mode: str | None = None) -> ReceivedCommand:
    return ReceivedCommand(
        receipt=f"receipt-{intent.intent_id}-{n}",
        message_id=f"message-{intent.intent_id}-{n}",
        command=PlaceOrder(intent=intent),
        mode=intent.mode.value if mode is None else mode,
    )


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class FakeBroker:
    """A LiveBroker whose submit places at most one order per orderRef (= intent id)."""

    held: dict[str, int] = field(default_factory=dict)
    reject_with: str | None = None
    fail_with: Exception | None = None
    account_id: str = "U1234567"
    """A live account, as the tests' stores are live; an ibkr_paper store needs a DU one."""
    placed: dict[str, OrderIntent] = field(default_factory=dict)
    placements: int = 0
    cancelled: list[str] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    account_calls: int = 0
    account_error: Exception | None = None
    foreign_open: list[str] = field(default_factory=list)
    """Intent ids of working orders carrying a Smart 0DTE orderRef the store may not know."""
    by_hand: list[BrokerOrderAck] = field(default_factory=list)
    """Working orders without an orderRef (placed by hand)."""
    hand_fills: list[Fill] = field(default_factory=list)
    """Fills of orders without an orderRef (traded by hand)."""

    def _ack(self, intent_id: str, already_known: bool = False) -> BrokerOrderAck:
        status = OrderStatus.REJECTED if self.reject_with else OrderStatus.SUBMITTED
        filled = sum(f.quantity for f in self.fills if f.intent_id == intent_id)
        return BrokerOrderAck(
            intent_id,
            1000 + list(self.placed).index(intent_id),
            status,
            filled_quantity=filled,
            already_known=already_known,
            detail=self.reject_with or "",
        )

    def account(self) -> BrokerAccount:
        self.account_calls += 1
        if self.account_error is not None:
            raise self.account_error
        return BrokerAccount(self.account_id, Decimal("25000.00"), True)

    def submit(self, intent: OrderIntent) -> BrokerOrderAck:
        if self.fail_with is not None:
            raise self.fail_with
        if intent.intent_id in self.placed:
            return self._ack(intent.intent_id, already_known=True)
        self.placed[intent.intent_id] = intent
        self.placements += 1
        return self._ack(intent.intent_id)

    def cancel(self, intent_id: str) -> bool:
        known = intent_id in self.placed or intent_id in self.foreign_open
        if known and intent_id not in self.cancelled:
            self.cancelled.append(intent_id)
            return True
        return False

    def executions(self, since: datetime) -> list[Fill]:
        return [f for f in self.fills if f.ts >= since]

    def hand_executions(self, since: datetime) -> list[Fill]:
        return [f for f in self.hand_fills if f.ts >= since]

    def open_orders(self) -> list[BrokerOrderAck]:
        acks = []
        for intent_id, intent in self.placed.items():
            filled = sum(f.quantity for f in self.fills if f.intent_id == intent_id)
            if intent_id not in self.cancelled and filled < intent.quantity and not self.reject_with:
                acks.append(self._ack(intent_id))
        acks += [
            BrokerOrderAck(i, 9000, OrderStatus.SUBMITTED)
            for i in self.foreign_open
            if i not in self.cancelled
        ]
        acks += self.by_hand
        return acks

    def positions(self) -> list[BrokerPosition]:
        return [BrokerPosition(occ, qty, Decimal("125.00")) for occ, qty in self.held.items() if qty]

    def fill(self, intent_id: str, quantity: int, price: str = "1.20", seconds: int = 30) -> Fill:
        """Execute `quantity` of the placed order (or of an unknown intent id) at the broker."""
        intent = self.placed.get(intent_id) or make_intent()
        fill = Fill(
            fill_id=f"0000e0d5.{len(self.fills) + 1:08d}.01.01",
            order_id=str(1000 + len(self.fills)),
            intent_id=intent_id,
            ts=T0 + timedelta(seconds=seconds),
            contract=intent.contract,
            side=intent.side,
            quantity=quantity,
            price=Decimal(price),
            commission_usd=Decimal("0.65") * quantity,
        )
        self.fills.append(fill)
        return fill


@dataclass
class FakeReceiver:
    """CommandReceiver over a list: a message stays until deleted (like SQS, without the timeout)."""

    messages: list[ReceivedCommand] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    waits_s: list[int] = field(default_factory=list)

    def receive(self, max_messages: int, wait_s: int) -> list[ReceivedCommand]:
        self.waits_s.append(wait_s)
        return [m for m in self.messages if m.receipt not in self.deleted][:max_messages]

    def delete(self, receipt: str) -> None:
        self.deleted.append(receipt)


@dataclass
class FakeConnection:
    broker: LiveBroker
    connected: bool = True
    closed: int = 0

    def is_connected(self) -> bool:
        return self.connected

    def close(self) -> None:
        self.closed += 1
        self.connected = False
