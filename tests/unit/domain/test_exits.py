from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from smart0dte.domain.exits import (
    EXIT_LIMIT_MINUTES,
    ExitPlan,
    ExitReason,
    exit_limit_usd,
    exit_reason,
    intrinsic_value,
)
from smart0dte.domain.models import DomainError, OptionRight

NOW = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)
FLATTEN = NOW + timedelta(hours=4)
PLAN = ExitPlan(entry_price=2.00, stop_loss_fraction=0.15, take_profit_fraction=0.25)


@pytest.mark.parametrize(
    ("bid", "reason"),
    [
        (1.71, None),
        (1.70, ExitReason.STOP_LOSS),
        (0.0, ExitReason.STOP_LOSS),  # a worthless option is below any stop
        (2.49, None),
        (2.50, ExitReason.TAKE_PROFIT),
        (float("nan"), None),  # no quote: hold; the time exit still closes it
    ],
)
def test_stop_and_target_on_the_bid(bid: float, reason: ExitReason | None) -> None:
    assert PLAN.stop_price == pytest.approx(1.70)
    assert PLAN.target_price == pytest.approx(2.50)
    assert exit_reason(PLAN, bid, NOW, FLATTEN) is reason


def test_the_flatten_time_closes_whatever_the_price() -> None:
    assert exit_reason(PLAN, 2.10, FLATTEN, FLATTEN) is ExitReason.TIME_EXIT
    assert exit_reason(PLAN, float("nan"), FLATTEN + timedelta(minutes=1), FLATTEN) is ExitReason.TIME_EXIT


def test_trailing_stop_follows_the_peak_and_never_undercuts_the_stop() -> None:
    plan = ExitPlan(2.00, 0.15, 1.00, trailing_stop_fraction=0.10)
    assert plan.trailing_price is None  # not in profit yet
    plan = plan.observe(2.40).observe(2.20)
    assert plan.peak_bid == 2.40
    assert plan.trailing_price == pytest.approx(2.16)
    assert exit_reason(plan, 2.17, NOW, FLATTEN) is None
    assert exit_reason(plan, 2.16, NOW, FLATTEN) is ExitReason.TRAILING_STOP
    barely = ExitPlan(2.00, 0.05, 1.00, trailing_stop_fraction=0.50).observe(2.01)
    assert barely.trailing_price == pytest.approx(barely.stop_price)


def test_intrinsic_value_at_expiry() -> None:
    assert intrinsic_value(OptionRight.CALL, 560, 562.5) == 2.5
    assert intrinsic_value(OptionRight.CALL, 560, 559) == 0
    assert intrinsic_value(OptionRight.PUT, 560, 559) == 1
    assert intrinsic_value(OptionRight.PUT, 560, 561) == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"entry_price": 0.0}, "entry_price=0.0"),
        ({"stop_loss_fraction": 1.5}, "stop_loss_fraction=1.5"),
        ({"take_profit_fraction": 0.0}, "take_profit_fraction=0.0"),
        ({"trailing_stop_fraction": 1.0}, "trailing_stop_fraction=1.0"),
    ],
)
def test_bad_plans_name_the_field(kwargs: dict[str, float], field: str) -> None:
    values = {"entry_price": 2.0, "stop_loss_fraction": 0.15, "take_profit_fraction": 0.25} | kwargs
    with pytest.raises(DomainError, match=field):
        ExitPlan(**values)  # type: ignore[arg-type]


def test_an_exit_is_walked_from_the_bid_one_tick_a_minute_then_goes_to_market() -> None:
    assert exit_limit_usd(0.57, 0) == Decimal("0.57")
    assert exit_limit_usd(0.57, 1) == Decimal("0.56")
    assert exit_limit_usd(0.57, EXIT_LIMIT_MINUTES) is None
    assert exit_limit_usd(0.01, 1) == Decimal("0.01")  # never below one tick
    assert exit_limit_usd(0.0, 0) is None and exit_limit_usd(float("nan"), 0) is None  # no bid: market
    with pytest.raises(DomainError, match="minutes_working=-1"):
        exit_limit_usd(0.5, -1)
