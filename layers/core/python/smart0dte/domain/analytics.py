"""Performance analytics of a run: returns, risk-adjusted ratios, drawdowns, trade statistics,
VaR/CVaR, breakdowns, a Monte Carlo bootstrap of trade P&L and walk-forward parameter evaluation.

Daily figures come from the end-of-day equity series; annualisation uses 252 sessions. Given the
minute marks too, the drawdown and a one-minute VaR are also measured on them (intraday), where an
end-of-day series misses a trough the close recovered from.
Undefined ratios (no variance, no losses) are None rather than a misleading number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from smart0dte.domain.models import DomainError
from smart0dte.domain.portfolio import ClosedTrade

SESSIONS_PER_YEAR = 252
F64 = npt.NDArray[np.float64]
P = TypeVar("P")


def _ratio(numerator: float, denominator: float) -> float | None:
    if denominator == 0 or not math.isfinite(denominator):
        return None
    return numerator / denominator


@dataclass(frozen=True, slots=True)
class Drawdown:
    max_fraction: float
    """Largest fall from a running peak, as a fraction of that peak."""
    max_duration_periods: int
    """Longest stretch, in periods, spent below a previous peak."""


def drawdown(equity: F64) -> Drawdown:
    if equity.size == 0:
        return Drawdown(0.0, 0)
    peaks = np.maximum.accumulate(equity)
    depth = 1.0 - equity / peaks
    underwater = depth > 0
    longest = current = 0
    for below in underwater:
        current = current + 1 if below else 0
        longest = max(longest, current)
    return Drawdown(float(depth.max()), longest)


@dataclass(frozen=True, slots=True)
class ValueAtRisk:
    confidence: float
    historical_var: float
    historical_cvar: float
    parametric_var: float
    parametric_cvar: float
    """Losses as positive fractions of equity over one period."""


def value_at_risk(returns: F64, confidence: float = 0.95) -> ValueAtRisk | None:
    """Historical and Gaussian VaR/CVaR of period returns; None with fewer than 2 returns."""
    if not 0.5 < confidence < 1:
        raise DomainError(f"confidence={confidence} must be within (0.5, 1)")
    if returns.size < 2:
        return None
    alpha = 1 - confidence
    cutoff = float(np.quantile(returns, alpha))
    tail = returns[returns <= cutoff]
    mean, std = float(returns.mean()), float(returns.std(ddof=1))
    z = NormalDist().inv_cdf(alpha)
    parametric_var = -(mean + z * std)
    parametric_cvar = -(mean - std * NormalDist().pdf(z) / alpha)
    return ValueAtRisk(confidence, 0.0 - cutoff, 0.0 - float(tail.mean()), parametric_var, parametric_cvar)


@dataclass(frozen=True, slots=True)
class TradeStats:
    trades: int
    win_rate: float | None
    profit_factor: float | None
    expectancy_usd: float | None
    average_win_usd: float | None
    average_loss_usd: float | None
    net_pnl_usd: float
    """Net of commissions, as every P&L above it."""
    commissions_usd: float
    gross_pnl_usd: float
    """Before commissions: net plus commissions."""


def trade_stats(trades: Sequence[ClosedTrade]) -> TradeStats:
    """Statistics of the trades' P&L net of commissions; the commissions and gross beside it."""
    pnl = np.array([float(t.pnl_usd) for t in trades], dtype=np.float64)
    commissions = sum((t.commissions_usd for t in trades), Decimal("0.00"))
    net = sum((t.pnl_usd for t in trades), Decimal("0.00"))
    wins, losses = pnl[pnl > 0], pnl[pnl <= 0]
    n = pnl.size
    return TradeStats(
        trades=n,
        win_rate=wins.size / n if n else None,
        profit_factor=_ratio(float(wins.sum()), float(-losses.sum())) if losses.size else None,
        expectancy_usd=float(pnl.mean()) if n else None,
        average_win_usd=float(wins.mean()) if wins.size else None,
        average_loss_usd=float(losses.mean()) if losses.size else None,
        net_pnl_usd=float(net),
        commissions_usd=float(commissions),
        gross_pnl_usd=float(net + commissions),
    )


@dataclass(frozen=True, slots=True)
class Performance:
    periods: int
    total_return: float
    cagr: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    drawdown: Drawdown
    var: ValueAtRisk | None
    trades: TradeStats
    by_strategy: dict[str, TradeStats]
    by_symbol: dict[str, TradeStats]
    intraday_drawdown: Drawdown | None = None
    """Of the minute marks (durations in minutes marked); None without them."""
    minute_var: ValueAtRisk | None = None
    """VaR/CVaR of one-minute equity returns from the minute marks; None without them."""


def _positive(name: str, values: Sequence[Decimal | float]) -> F64:
    series = np.array([float(e) for e in values], dtype=np.float64)
    if series.size == 0 or np.any(series <= 0):
        raise DomainError(f"{name} must be a non-empty series of positive values")
    return series


def performance(
    daily_equity: Sequence[Decimal | float],
    trades: Sequence[ClosedTrade],
    minute_equity: Sequence[Decimal | float] | None = None,
) -> Performance:
    """Everything the report shows, from end-of-day equity (first value = starting equity) and,
    when given, the equity at every minute mark (first value = starting equity too)."""
    equity = _positive("daily_equity", daily_equity)
    intraday_dd = minute_var = None
    if minute_equity is not None:
        marks = _positive("minute_equity", minute_equity)
        intraday_dd = drawdown(marks)
        minute_var = value_at_risk(marks[1:] / marks[:-1] - 1) if marks.size > 2 else None
    returns = equity[1:] / equity[:-1] - 1 if equity.size > 1 else np.empty(0)
    periods = returns.size
    total = float(equity[-1] / equity[0] - 1)
    cagr = (1 + total) ** (SESSIONS_PER_YEAR / periods) - 1 if periods else None
    sharpe = sortino = None
    if periods >= 2:
        mean, std = float(returns.mean()), float(returns.std(ddof=1))
        downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
        annual = math.sqrt(SESSIONS_PER_YEAR)
        sharpe = None if std == 0 else mean / std * annual
        sortino = None if downside == 0 else mean / downside * annual
    dd = drawdown(equity)
    calmar = _ratio(cagr, dd.max_fraction) if cagr is not None and dd.max_fraction > 0 else None
    return Performance(
        periods=periods,
        total_return=total,
        cagr=cagr,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        drawdown=dd,
        var=value_at_risk(returns) if periods >= 2 else None,
        trades=trade_stats(trades),
        by_strategy=_breakdown(trades, lambda t: t.strategy),
        by_symbol=_breakdown(trades, lambda t: t.contract.root),
        intraday_drawdown=intraday_dd,
        minute_var=minute_var,
    )


def _breakdown(trades: Iterable[ClosedTrade], key: Callable[[ClosedTrade], str]) -> dict[str, TradeStats]:
    groups: dict[str, list[ClosedTrade]] = {}
    for trade in trades:
        groups.setdefault(key(trade), []).append(trade)
    return {name: trade_stats(group) for name, group in sorted(groups.items())}


@dataclass(frozen=True, slots=True)
class MonteCarloBands:
    simulations: int
    percentiles: tuple[float, ...]
    final_pnl_usd: tuple[float, ...]
    """Final cumulative P&L at each percentile."""
    max_drawdown_usd: tuple[float, ...]
    """Largest peak-to-trough fall of cumulative P&L at each percentile."""
    probability_of_loss: float


def monte_carlo(
    trade_pnl_usd: Sequence[float],
    simulations: int = 10_000,
    seed: int = 0,
    percentiles: tuple[float, ...] = (5.0, 25.0, 50.0, 75.0, 95.0),
) -> MonteCarloBands:
    """Bootstrap (resample with replacement) the sequence of trade P&Ls; seeded, vectorised."""
    pnl = np.asarray(trade_pnl_usd, dtype=np.float64)
    if pnl.size == 0:
        raise DomainError("trade_pnl_usd must hold at least one trade")
    if not 1 <= simulations <= 1_000_000:
        raise DomainError(f"simulations={simulations} must be within 1..1000000")
    draws = np.random.default_rng(seed).choice(pnl, size=(simulations, pnl.size), replace=True)
    paths = np.cumsum(draws, axis=1)
    peaks = np.maximum.accumulate(np.concatenate([np.zeros((simulations, 1)), paths], axis=1), axis=1)[:, 1:]
    worst = np.max(peaks - paths, axis=1)
    final = paths[:, -1]
    return MonteCarloBands(
        simulations=simulations,
        percentiles=percentiles,
        final_pnl_usd=tuple(float(v) for v in np.percentile(final, percentiles)),
        max_drawdown_usd=tuple(float(v) for v in np.percentile(worst, percentiles)),
        probability_of_loss=float(np.mean(final < 0)),
    )


@dataclass(frozen=True, slots=True)
class WalkForwardFold:
    train: tuple[int, int]
    test: tuple[int, int]
    chosen: object
    train_score: float
    test_score: float


def walk_forward(
    periods: int,
    candidates: Sequence[P],
    score: Callable[[P, int, int], float],
    train_periods: int,
    test_periods: int,
) -> list[WalkForwardFold]:
    """Rolling windows: pick the best candidate on [start, start+train), report it on the next
    `test_periods`; `score(candidate, begin, end)` evaluates a half-open period range.

    Out-of-sample test scores are the honest estimate of a parameter choice.
    """
    if train_periods < 1 or test_periods < 1:
        raise DomainError(f"train_periods={train_periods} and test_periods={test_periods} must be >= 1")
    if not candidates:
        raise DomainError("candidates must not be empty")
    folds: list[WalkForwardFold] = []
    start = 0
    while start + train_periods + test_periods <= periods:
        train = (start, start + train_periods)
        test = (train[1], train[1] + test_periods)
        scored = [(score(c, *train), i) for i, c in enumerate(candidates)]
        best_score, best_index = max(scored, key=lambda s: (s[0], -s[1]))
        chosen = candidates[best_index]
        folds.append(WalkForwardFold(train, test, chosen, best_score, score(chosen, *test)))
        start += test_periods
    return folds
