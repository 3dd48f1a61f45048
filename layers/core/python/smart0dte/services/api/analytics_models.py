"""The wire models of the analytics area: performance, backtest runs, and the walk-forward
optimization report the learning workflow stores."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from smart0dte.domain.simulator import DEFAULT_SEED
from smart0dte.services.api.shared import Wire


class TradeStatsOut(Wire):
    """Closed trades' statistics; every P&L is net of commissions except `gross_pnl_usd`."""

    trades: int
    win_rate: float | None
    profit_factor: float | None
    expectancy_usd: float | None
    average_win_usd: float | None
    average_loss_usd: float | None
    net_pnl_usd: float = Field(description="P&L net of commissions")
    commissions_usd: float = Field(description="commissions paid on these trades")
    gross_pnl_usd: float = Field(description="P&L before commissions: net plus commissions")


class EquityPoint(Wire):
    session_date: date
    equity_usd: float = Field(description="equity after the session's P&L net of commissions")
    drawdown: float


class AnalyticsResponse(Wire):
    timeframe: str
    strategy: str | None
    start: date | None
    end: date
    starting_equity_usd: float
    total_return: float
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    trades: TradeStatsOut
    by_strategy: dict[str, TradeStatsOut]
    by_symbol: dict[str, TradeStatsOut]
    equity_curve: list[EquityPoint]


class BacktestBody(Wire):
    start: date
    end: date
    scenario: str = Field(default="normal", min_length=1, max_length=32)
    seed: int = Field(default=DEFAULT_SEED, ge=0, le=2**31 - 1)
    starting_equity_usd: float = Field(default=100_000.0, gt=0, le=1e9)


class BacktestStarted(Wire):
    id: str
    status: str


class BacktestResultOut(Wire):
    days: int
    trades: int
    net_pnl_usd: str
    total_return: float
    report_key: str


class BacktestStatus(Wire):
    id: str
    status: str
    days_total: int
    days_done: int
    """Sessions whose result is in the reports bucket (a rerun of the same request counts at once)."""
    progress: float | None
    result: BacktestResultOut | None = None
    error: str | None = None
    cause: str | None = None


class OptimizationWindowOut(Wire):
    start: date
    end: date
    sessions: int


class OptimizationMetricsOut(Wire):
    """One parameter set over some sessions, each run from the same capital."""

    sessions: int
    trades: int
    win_rate: float | None
    net_pnl_usd: float
    pnl_per_session_usd: float
    worst_session_usd: float


class OptimizationWalkForwardOut(Wire):
    in_sample_sessions: int
    out_of_sample_sessions: int
    step_sessions: int
    min_trades: int
    min_improvement_usd: float
    max_sessions: int


class OptimizationSummaryOut(Wire):
    recommended_params: dict[str, Any]
    """The choice on the newest in-sample window (not applied to trading)."""
    recommended_is_default: bool
    latest_window: OptimizationWindowOut
    latest_in_sample: OptimizationMetricsOut
    default_latest_in_sample: OptimizationMetricsOut
    out_of_sample: OptimizationMetricsOut
    """Each fold's choice on its own later sessions, pooled: the honest estimate."""
    default_out_of_sample: OptimizationMetricsOut
    beats_defaults: bool


class OptimizationFoldOut(Wire):
    in_sample_window: OptimizationWindowOut
    out_of_sample_window: OptimizationWindowOut
    chosen_params: dict[str, Any]
    chosen_is_default: bool
    in_sample: OptimizationMetricsOut
    out_of_sample: OptimizationMetricsOut
    default_out_of_sample: OptimizationMetricsOut


class OptimizationResultOut(Wire):
    """A walk-forward optimization report as the learning workflow stored it (report only)."""

    strategy: str
    applied: Literal[False]
    note: str
    objective: str
    source: str
    generated_at: datetime
    grid: dict[str, list[Any]]
    candidates: int
    walk_forward: OptimizationWalkForwardOut
    sessions: OptimizationWindowOut
    default_params: dict[str, Any]
    """The defaults of the searched parameters."""
    summary: OptimizationSummaryOut
    folds: list[OptimizationFoldOut]


class OptimizationResponse(Wire):
    strategy: str
    default_params: dict[str, Any]
    live_trades: TradeStatsOut
    optimization: OptimizationResultOut | None
    note: str | None
    """Why there is no optimization result; None when there is one."""
