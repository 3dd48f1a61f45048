"""A closed position's round trip (`closed_trade`) and the round trip's wire form."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smart0dte.domain.models import (
    DomainError,
    OptionContract,
    OptionRight,
    Position,
    PositionStatus,
    TradingMode,
)
from smart0dte.domain.portfolio import ClosedTrade, closed_trade, trade_from_wire, trade_to_wire

T0 = datetime(2025, 3, 14, 14, 31, tzinfo=UTC)
CALL = OptionContract(root="SPY", expiry=date(2025, 3, 14), right=OptionRight.CALL, strike=562)
OPENED = Position(
    position_id="position-1",
    mode=TradingMode.PAPER,
    contract=CALL,
    quantity=2,
    entry_price=Decimal("1.25"),
    opened_at=T0,
    strategy="momentum_breakout",
)
CLOSED = OPENED.model_copy(
    update={
        "status": PositionStatus.CLOSED,
        "exit_price": Decimal("1.405"),
        "closed_at": T0 + timedelta(minutes=42),
        "exit_reason": "TAKE_PROFIT",
    }
)


def test_a_closed_position_is_a_round_trip_with_its_commissions_from_the_booked_net_pnl() -> None:
    # gross (1.405 - 1.25) x 2 x 100 = 31.00; booked net 28.40, so commissions were 2.60
    trade = closed_trade(CLOSED, Decimal("28.40"))

    assert trade == ClosedTrade(
        position_id="position-1",
        contract=CALL,
        strategy="momentum_breakout",
        quantity=2,
        entry_ts=T0,
        entry_price=Decimal("1.25"),
        exit_ts=T0 + timedelta(minutes=42),
        exit_price=Decimal("1.405"),
        exit_reason="TAKE_PROFIT",
        commissions_usd=Decimal("2.60"),
        pnl_usd=Decimal("28.40"),
    )
    assert trade.pnl_usd + trade.commissions_usd == CLOSED.pnl_usd(Decimal("1.405"))


@pytest.mark.parametrize(
    "position",
    [
        OPENED,
        OPENED.model_copy(update={"status": PositionStatus.CLOSING}),
        CLOSED.model_copy(update={"exit_price": None}),
        CLOSED.model_copy(update={"closed_at": None}),
    ],
)
def test_only_a_closed_position_with_its_exit_is_a_round_trip(position: Position) -> None:
    with pytest.raises(DomainError, match="position-1: status="):
        closed_trade(position, Decimal("0.00"))


@given(
    exit_cents=st.integers(min_value=0, max_value=100_000),
    commissions_cents=st.integers(min_value=0, max_value=10_000),
    minutes=st.integers(min_value=0, max_value=60 * 24 * 3),
)
def test_the_wire_form_gives_back_the_same_round_trip(
    exit_cents: int, commissions_cents: int, minutes: int
) -> None:
    exit_price = Decimal(exit_cents) / 100
    position = CLOSED.model_copy(
        update={"exit_price": exit_price, "closed_at": T0 + timedelta(minutes=minutes)}
    )
    trade = closed_trade(position, position.pnl_usd(exit_price) - Decimal(commissions_cents) / 100)

    assert trade_from_wire(trade_to_wire(trade)) == trade


def test_a_wire_timestamp_without_an_offset_is_refused() -> None:
    wire = {**trade_to_wire(closed_trade(CLOSED, Decimal("31.00"))), "exit_ts": "2025-03-14T15:13:00"}

    with pytest.raises(DomainError, match="exit_ts='2025-03-14T15:13:00' has no UTC offset"):
        trade_from_wire(wire)
