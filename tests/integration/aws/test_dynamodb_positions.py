from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.models import DomainError, PositionStatus
from smart0dte.ports import DailyCounters, RecordNotFound

from .builders import SESSION, T0, all_items, position

CLOSE = T0 + timedelta(minutes=42)


def test_open_positions_are_read_from_the_open_book_and_closed_ones_by_status(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    paper.open_position(position(n=2, opened_at=T0 + timedelta(minutes=5)), actor="execute", reason="filled")
    paper.open_position(position(n=1), actor="execute", reason="filled")
    paper.open_position(position(n=3), actor="execute", reason="filled")

    paper.mark_position_closing("position-3", CLOSE, actor="exits", reason="stop hit, exit order working")
    paper.close_position("position-1", Decimal("1.40"), CLOSE, "TAKE_PROFIT", actor="exits")

    assert [p.position_id for p in paper.list_open_positions()] == ["position-3", "position-2"]
    assert [p.status for p in paper.list_open_positions()] == [PositionStatus.CLOSING, PositionStatus.OPEN]
    assert [p.position_id for p in paper.list_positions(PositionStatus.CLOSED)] == ["position-1"]
    book = [
        i["sk"]["S"] for i in all_items(dynamodb, aws)["trading"] if i["pk"]["S"] == "paper#open_positions"
    ]
    assert sorted(book) == ["position-2", "position-3"]  # the close took position-1 out in its transaction
    stored = [paper.get_position(i) for i in ("position-3", "position-2")]
    assert paper.list_open_positions() == [v.value for v in stored if v is not None]  # the book's copy


def test_a_refused_close_leaves_the_position_in_the_open_book(paper: DynamoState) -> None:
    paper.open_position(position(), actor="execute", reason="filled")
    with pytest.raises(DomainError):
        paper.close_position("position-1", Decimal("1.40"), T0 - timedelta(minutes=1), "STOP", actor="exits")
    assert [p.position_id for p in paper.list_open_positions()] == ["position-1"]


def test_open_counts_one_trade_once_even_when_retried(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    first = paper.open_position(position(), actor="execute", reason="filled")
    before = all_items(dynamodb, aws)

    again = paper.open_position(position(), actor="execute", reason="filled")

    assert again == first
    assert first.value == position()
    assert all_items(dynamodb, aws) == before
    assert paper.get_counters(SESSION) == DailyCounters(SESSION, day_trades=0, trades=1)


def test_close_books_one_day_trade_and_net_pnl_in_cents_once(paper: DynamoState) -> None:
    paper.open_position(position(), actor="execute", reason="filled")

    closed = paper.close_position(
        "position-1", Decimal("1.405"), CLOSE, "TAKE_PROFIT", actor="exits", commissions_usd=Decimal("2.6")
    )
    retried = paper.close_position("position-1", Decimal("1.50"), CLOSE, "TAKE_PROFIT", actor="exits")

    assert retried == closed
    assert (closed.value.status, closed.value.exit_price, closed.value.closed_at) == (
        PositionStatus.CLOSED,
        Decimal("1.405"),
        CLOSE,
    )
    # (1.405 - 1.25) x 2 x 100 = 31.00, less 2.60 commissions, booked beside it
    assert paper.get_counters(SESSION) == DailyCounters(
        SESSION, day_trades=1, trades=1, realized_pnl_usd=Decimal("28.40"), commissions_usd=Decimal("2.60")
    )
    (closing,) = [r for r in paper.audit.list_day(SESSION) if r.action == "PositionClosed"]
    assert (closing.reason, closing.details["realized_pnl_usd"]) == ("TAKE_PROFIT", "28.40")


def test_a_position_closed_on_a_later_session_is_not_a_day_trade(paper: DynamoState) -> None:
    paper.open_position(position(), actor="execute", reason="filled")
    next_day = CLOSE + timedelta(days=3)

    paper.close_position("position-1", Decimal("1.00"), next_day, "EXPIRY", actor="exits")

    assert paper.get_counters(SESSION) == DailyCounters(SESSION, trades=1)
    assert paper.get_counters(date(2025, 3, 17)) == DailyCounters(
        date(2025, 3, 17), day_trades=0, realized_pnl_usd=Decimal("-50.00")
    )


def test_a_close_before_the_open_is_refused_and_writes_nothing(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    paper.open_position(position(), actor="execute", reason="filled")
    before = all_items(dynamodb, aws)

    with pytest.raises(DomainError, match="before opened_at"):
        paper.close_position("position-1", Decimal("1.40"), T0 - timedelta(minutes=1), "STOP", actor="exits")
    with pytest.raises(ValueError, match="exit_price"):
        paper.close_position("position-1", Decimal("-1"), CLOSE, "STOP", actor="exits")

    assert all_items(dynamodb, aws) == before


def test_closing_an_unknown_position_names_it(paper: DynamoState) -> None:
    with pytest.raises(RecordNotFound, match="position ghost"):
        paper.close_position("ghost", Decimal("1"), CLOSE, "STOP", actor="exits")


def test_counters_add_atomically_and_keep_money_in_cents(
    paper: DynamoState, dynamodb: Any, aws: Provisioned
) -> None:
    for pnl in ("10.005", "-3.333", "0.10"):
        paper.add_to_counters(SESSION, trades=1, realized_pnl_usd=Decimal(pnl))

    after = paper.add_to_counters(SESSION, day_trades=2)

    # 10.00 (banker's rounding of 10.005) - 3.33 + 0.10
    assert after == DailyCounters(SESSION, day_trades=2, trades=3, realized_pnl_usd=Decimal("6.77"))
    assert paper.get_counters(SESSION) == after
    (stored,) = all_items(dynamodb, aws)["control"]
    assert (stored["pk"]["S"], stored["sk"]["S"]) == ("paper#counters", "2025-03-14")
    assert stored["realized_pnl_usd"] == {"N": "6.77"}


def test_pdt_window_sums_day_trades_over_the_given_sessions_only(paper: DynamoState) -> None:
    trades = {date(2025, 3, 7): 1, date(2025, 3, 10): 1, date(2025, 3, 12): 2, date(2025, 3, 14): 1}
    for day, count in trades.items():
        paper.add_to_counters(day, day_trades=count)
    window = [date(2025, 3, 10), date(2025, 3, 11), date(2025, 3, 12), date(2025, 3, 13), date(2025, 3, 14)]

    assert paper.day_trades_in_window(window) == 4
    assert paper.day_trades_in_window(window[:-1]) == 3
    assert paper.day_trades_in_window([date(2025, 3, 7), date(2025, 3, 14)]) == 2
    assert paper.day_trades_in_window([]) == 0


def test_closed_positions_can_be_read_from_an_opening_time_on(paper: DynamoState) -> None:
    for n, days_ago in ((1, 30), (2, 3), (3, 0)):
        opened = T0 - timedelta(days=days_ago)
        paper.open_position(position(n=n, opened_at=opened), actor="execute", reason="filled")
        closed = opened + timedelta(hours=1)
        paper.close_position(f"position-{n}", Decimal("1.40"), closed, "TIME_EXIT", "exits")

    recent = paper.list_positions(PositionStatus.CLOSED, opened_since=T0 - timedelta(days=3))

    assert [p.position_id for p in recent] == ["position-2", "position-3"]
    assert len(paper.list_positions(PositionStatus.CLOSED)) == 3
