"""Domain records for the AWS adapter tests, and raw views of what DynamoDB holds."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.models import (
    Fill,
    OptionContract,
    OptionRight,
    Order,
    OrderIntent,
    OrderType,
    Position,
    Side,
    Signal,
    TradingMode,
    Underlying,
)

SESSION = date(2025, 3, 14)
T0 = datetime(2025, 3, 14, 14, 31, tzinfo=UTC)
"""10:31 New York, a minute into the session's second hour."""
CALL = OptionContract(root="SPY", expiry=SESSION, right=OptionRight.CALL, strike=562)


def intent(mode: TradingMode = TradingMode.PAPER, n: int = 1, quantity: int = 2) -> OrderIntent:
    return OrderIntent(
        intent_id=f"intent-{n:010d}",
        mode=mode,
        ts=T0,
        contract=CALL,
        side=Side.BUY,
        quantity=quantity,
        order_type=OrderType.LIMIT,
        limit_price=Decimal("1.25"),
        reason="momentum breakout above the opening range",
    )


def order(mode: TradingMode = TradingMode.PAPER, n: int = 1, order_id: str | None = None) -> Order:
    return Order.from_intent(intent(mode, n), order_id or f"order-{n}")


def fill(order_id: str, fill_id: str, quantity: int, price: str, minutes: int = 1) -> Fill:
    return Fill(
        fill_id=fill_id,
        order_id=order_id,
        intent_id=intent().intent_id,
        ts=T0 + timedelta(minutes=minutes),
        contract=CALL,
        side=Side.BUY,
        quantity=quantity,
        price=Decimal(price),
        commission_usd=Decimal("0.65") * quantity,
    )


def position(mode: TradingMode = TradingMode.PAPER, n: int = 1, opened_at: datetime = T0) -> Position:
    return Position(
        position_id=f"position-{n}",
        mode=mode,
        contract=CALL,
        quantity=2,
        entry_price=Decimal("1.25"),
        opened_at=opened_at,
        strategy="momentum_breakout",
        stop_loss_price=Decimal("1.06"),
        take_profit_price=Decimal("1.56"),
    )


def signal(n: int = 1, minutes: int = 0) -> Signal:
    return Signal(
        signal_id=f"momentum_breakout-SPY-{n}",
        ts=T0 + timedelta(minutes=minutes),
        underlying=Underlying.SPY,
        direction=OptionRight.CALL,
        strategy="momentum_breakout",
        confidence=0.81,
        rationale="close broke the 30-minute high on 2.1x volume",
        target_delta=0.4,
        contract=CALL,
    )


def all_items(client: Any, provisioned: Provisioned) -> dict[str, list[dict[str, Any]]]:
    """Every item of every table, by logical table name (for 'nothing was written' checks)."""
    return {
        logical: client.scan(TableName=physical, ConsistentRead=True)["Items"]
        for logical, physical in provisioned.tables.items()
    }


def item_count(client: Any, provisioned: Provisioned) -> int:
    return sum(len(items) for items in all_items(client, provisioned).values())
