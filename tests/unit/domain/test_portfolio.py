from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart0dte.domain.models import (
    CONTRACT_MULTIPLIER,
    DomainError,
    Fill,
    OptionContract,
    OptionRight,
    Side,
    TradingMode,
    Underlying,
)
from smart0dte.domain.portfolio import LedgerKind, Portfolio, usd_text

T0 = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)
CALL = OptionContract(root="SPY", expiry=date(2025, 3, 14), right=OptionRight.CALL, strike=562)
PUT = OptionContract(root="QQQ", expiry=date(2025, 3, 14), right=OptionRight.PUT, strike=480)


def fill(side: Side, quantity: int, price: str, n: int, contract: OptionContract = CALL) -> Fill:
    return Fill(
        fill_id=f"F{n}",
        order_id=f"O{n}",
        intent_id="i" * 16,
        ts=T0 + timedelta(minutes=n),
        contract=contract,
        side=side,
        quantity=quantity,
        price=Decimal(price),
        commission_usd=Decimal("0.65") * quantity,
    )


def test_round_trip_books_cash_commissions_and_net_pnl() -> None:
    book = Portfolio.funded(TradingMode.PAPER, 10_000, T0)
    assert book.apply_fill(fill(Side.BUY, 2, "1.00", 1), "momentum") is None
    assert book.cash_usd == Decimal("9798.70")
    assert book.premium_at_risk_by_symbol_usd() == {Underlying.SPY: 200.0}
    trade = book.apply_fill(fill(Side.SELL, 2, "1.50", 2), "momentum", "TAKE_PROFIT")
    assert trade is not None
    assert (trade.quantity, trade.entry_price, trade.exit_price, trade.exit_reason) == (
        2,
        Decimal("1.00"),
        Decimal("1.50"),
        "TAKE_PROFIT",
    )
    assert trade.commissions_usd == Decimal("2.60")
    assert trade.pnl_usd == Decimal("97.40")
    assert book.cash_usd == Decimal("10097.40")
    assert book.equity_usd() == book.cash_usd
    assert book.realized_pnl_usd() == Decimal("97.40")
    assert book.commissions_usd() == Decimal("2.60")
    assert [e.kind for e in book.ledger] == [
        LedgerKind.DEPOSIT,
        LedgerKind.PREMIUM_PAID,
        LedgerKind.COMMISSION,
        LedgerKind.PREMIUM_RECEIVED,
        LedgerKind.COMMISSION,
    ]
    assert sum(e.amount_usd for e in book.ledger) == book.cash_usd


def test_adding_averages_the_entry_and_partial_exit_splits_commissions() -> None:
    book = Portfolio.funded(TradingMode.PAPER, 10_000, T0)
    book.apply_fill(fill(Side.BUY, 1, "1.00", 1), "m")
    book.apply_fill(fill(Side.BUY, 3, "1.20", 2), "m")
    position = book.position_for(CALL)
    assert position is not None and (position.quantity, position.entry_price) == (4, Decimal("1.1500"))
    trade = book.apply_fill(fill(Side.SELL, 1, "1.15", 3), "m", "MANUAL")
    assert trade is not None and trade.commissions_usd == Decimal("1.30")  # 2.60 entry / 4 + 0.65 exit
    assert trade.pnl_usd == Decimal("-1.30")
    assert book.consecutive_losses() == 1


def test_selling_more_than_held_is_refused() -> None:
    book = Portfolio.funded(TradingMode.PAPER, 10_000, T0)
    with pytest.raises(DomainError, match="SELL quantity=1 exceeds the 0 held"):
        book.apply_fill(fill(Side.SELL, 1, "1.00", 1), "m")


def test_expiry_settlement_at_intrinsic_value() -> None:
    book = Portfolio.funded(TradingMode.PAPER, 10_000, T0)
    book.apply_fill(fill(Side.BUY, 1, "1.00", 1), "m")
    trade = book.settle_at_expiry(CALL, Decimal("2.50"), T0 + timedelta(hours=2))
    assert (trade.exit_reason, trade.pnl_usd) == ("EXPIRY_SETTLEMENT", Decimal("149.35"))
    assert book.open_positions == []


def test_deposit_must_be_positive() -> None:
    with pytest.raises(DomainError, match=r"deposit_usd=0\.00"):
        Portfolio.funded(TradingMode.PAPER, 0, T0)


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from([CALL, PUT]), st.integers(1, 5), st.integers(1, 400), st.booleans()),
        min_size=1,
        max_size=30,
    ),
    marks=st.lists(st.floats(0, 6), min_size=2, max_size=2),
)
def test_equity_is_cash_plus_marked_positions_at_every_minute(
    steps: list[tuple[OptionContract, int, int, bool]], marks: list[float]
) -> None:
    book = Portfolio.funded(TradingMode.PAPER, 100_000, T0)
    for n, (contract, quantity, price_cents, sell) in enumerate(steps):
        held = book.position_for(contract)
        price = f"{price_cents / 100:.2f}"
        if sell and held is not None:
            book.apply_fill(fill(Side.SELL, min(quantity, held.quantity), price, n, contract), "m", "MANUAL")
        else:
            book.apply_fill(fill(Side.BUY, quantity, price, n, contract), "m")
        mark_by_symbol = {CALL.occ_symbol: marks[0], PUT.occ_symbol: marks[1]}
        equity = book.mark(mark_by_symbol, T0 + timedelta(minutes=n))
        marked = sum(
            Decimal(str(round(mark_by_symbol[p.contract.occ_symbol], 4))) * p.quantity * CONTRACT_MULTIPLIER
            for p in book.open_positions
        ) + Decimal("0.00")
        assert equity == book.cash_usd + marked.quantize(Decimal("0.01"))
        assert sum(e.amount_usd for e in book.ledger) == book.cash_usd
    assert len(book.equity_curve) == len(steps)


def test_money_reads_as_the_dashboard_shows_it() -> None:
    assert usd_text(Decimal("-370.8")) == "−$370.80"  # a true minus sign before the dollar
    assert usd_text(Decimal("1234.565")) == "$1,234.56"  # cents, banker's rounding
    assert usd_text(-0.001) == "$0.00"  # no minus on what rounds to zero
    assert usd_text(99_629.2) == "$99,629.20"
