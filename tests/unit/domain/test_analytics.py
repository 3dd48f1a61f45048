import math
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest

from smart0dte.domain.analytics import (
    drawdown,
    monte_carlo,
    performance,
    trade_stats,
    value_at_risk,
    walk_forward,
)
from smart0dte.domain.models import DomainError, OptionContract, OptionRight
from smart0dte.domain.portfolio import ClosedTrade

T = datetime(2025, 3, 14, 15, tzinfo=UTC)


def trade(pnl: str, strategy: str = "momentum", root: str = "SPY") -> ClosedTrade:
    contract = OptionContract(root=root, expiry=date(2025, 3, 14), right=OptionRight.CALL, strike=560)
    return ClosedTrade(
        "p", contract, strategy, 1, T, Decimal(1), T, Decimal(1), "X", Decimal("1.30"), Decimal(pnl)
    )


def test_drawdown_depth_and_duration() -> None:
    dd = drawdown(np.array([100, 110, 99, 104, 111, 100.0]))
    assert dd.max_fraction == pytest.approx(0.10)  # 110 -> 99
    assert dd.max_duration_periods == 2


def test_trade_stats() -> None:
    stats = trade_stats([trade("100"), trade("-50"), trade("-50"), trade("200")])
    assert (stats.trades, stats.win_rate, stats.profit_factor) == (4, 0.5, 3.0)
    assert stats.expectancy_usd == 50.0
    assert (stats.average_win_usd, stats.average_loss_usd, stats.net_pnl_usd) == (150.0, -50.0, 200.0)
    assert trade_stats([trade("10")]).profit_factor is None  # no losses: undefined, not infinite


def test_trade_stats_are_net_of_commissions_with_the_gross_beside() -> None:
    stats = trade_stats([trade("-370.80"), trade("10.00")])  # each trade paid 1.30 in commissions
    assert stats.net_pnl_usd == -360.80
    assert stats.commissions_usd == 2.60
    assert stats.gross_pnl_usd == -358.20
    assert stats.average_loss_usd == -370.80


def test_performance_ratios_on_a_known_series() -> None:
    equity = [100_000, 101_000, 100_500, 102_000, 101_000, 103_000]
    result = performance(equity, [trade("10", "a", "SPY"), trade("-5", "b", "QQQ"), trade("7", "a", "SPY")])
    returns = np.diff(equity) / np.array(equity[:-1])
    assert result.total_return == pytest.approx(0.03)
    assert result.periods == 5
    assert result.cagr == pytest.approx(1.03 ** (252 / 5) - 1)
    assert result.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(252))
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert result.sortino == pytest.approx(returns.mean() / downside * math.sqrt(252))
    assert result.drawdown.max_fraction == pytest.approx(1 - 101_000 / 102_000)
    assert result.calmar == pytest.approx(result.cagr / result.drawdown.max_fraction)
    assert set(result.by_strategy) == {"a", "b"} and result.by_strategy["a"].trades == 2
    assert set(result.by_symbol) == {"QQQ", "SPY"}


def test_flat_equity_has_undefined_ratios() -> None:
    result = performance([1000, 1000, 1000], [])
    assert result.sharpe is None and result.sortino is None and result.calmar is None
    assert result.trades.win_rate is None
    with pytest.raises(DomainError, match="daily_equity"):
        performance([], [])


def test_var_and_cvar_historical_and_parametric() -> None:
    returns = np.random.default_rng(3).normal(0.001, 0.01, 20_000)
    var = value_at_risk(returns, 0.95)
    assert var is not None
    assert var.parametric_var == pytest.approx(-(0.001 - 1.6449 * 0.01), rel=0.02)
    assert var.historical_var == pytest.approx(var.parametric_var, rel=0.05)
    assert var.historical_cvar > var.historical_var
    assert var.parametric_cvar == pytest.approx(-(0.001 - 0.01 * 2.0627), rel=0.02)
    assert value_at_risk(np.array([0.01])) is None


def test_monte_carlo_is_seeded_and_bands_are_ordered() -> None:
    pnl = [100.0, -50.0, 20.0, -30.0, 60.0]
    first = monte_carlo(pnl, simulations=2_000, seed=11)
    assert first == monte_carlo(pnl, simulations=2_000, seed=11)
    assert list(first.final_pnl_usd) == sorted(first.final_pnl_usd)
    assert first.final_pnl_usd[2] == pytest.approx(sum(pnl), abs=60)
    assert all(d >= 0 for d in first.max_drawdown_usd)
    assert 0 < first.probability_of_loss < 0.5
    with pytest.raises(DomainError, match="at least one trade"):
        monte_carlo([])


def test_walk_forward_picks_on_train_and_reports_out_of_sample() -> None:
    # Candidate 2 is best in the first half of the data, candidate 5 in the second half.
    def score(candidate: int, begin: int, end: int) -> float:
        return float(sum(-abs(candidate - (2 if p < 10 else 5)) for p in range(begin, end)))

    folds = walk_forward(20, [1, 2, 5], score, train_periods=6, test_periods=4)
    assert [(f.train, f.test) for f in folds] == [((0, 6), (6, 10)), ((4, 10), (10, 14)), ((8, 14), (14, 18))]
    assert [f.chosen for f in folds] == [2, 2, 5]
    assert folds[1].test_score < folds[1].train_score  # the regime changed: out of sample is worse


def test_an_intraday_trough_the_close_recovered_from_shows_only_in_the_minute_drawdown() -> None:
    # one day: 100,000 at the start and at the close; 90,000 at a minute mark in between
    result = performance([100_000, 100_000], [], [100_000, 95_000, 90_000, 99_000, 100_000, 100_000])
    assert result.drawdown.max_fraction == 0.0
    assert result.intraday_drawdown is not None
    assert result.intraday_drawdown.max_fraction == pytest.approx(0.10)
    assert result.intraday_drawdown.max_duration_periods == 3
    minute = np.array([95_000 / 100_000, 90_000 / 95_000, 99_000 / 90_000, 100_000 / 99_000, 1.0]) - 1
    assert result.minute_var == value_at_risk(minute)
    assert result.minute_var is not None and result.minute_var.historical_var > 0
    assert performance([100_000, 100_000], []).intraday_drawdown is None
    with pytest.raises(DomainError, match="minute_equity must be a non-empty series of positive values"):
        performance([100_000], [], [100_000, 0])
