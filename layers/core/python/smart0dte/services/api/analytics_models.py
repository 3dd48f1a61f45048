"""The wire models of the analytics area: performance, backtest runs, and the walk-forward
optimization report the learning workflow stores."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from smart0dte.domain.simulator import DEFAULT_SEED, Scenario
from smart0dte.services.api.shared import Body, IsoDate, JsonInt, Wire


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


class CurvePoint(Wire):
    ts: datetime
    value_usd: float


class StrategyCurveOut(Wire):
    """One strategy's cumulative P&L net of commissions, from 0 at the period's first entry,
    after each of its trades' exits."""

    strategy: str
    points: list[CurvePoint]


class MinuteMarkOut(Wire):
    ts: datetime = Field(description="the minute end the engine marked")
    equity_usd: float = Field(description="cash plus open positions at the mid (fees paid are in cash)")
    drawdown_usd: float = Field(description="equity below its peak so far (the carried peak included), <= 0")
    drawdown: float = Field(description="the same as a fraction of that peak, <= 0")


class FillOut(Wire):
    ts: datetime
    fill_id: str
    order_id: str
    contract: str = Field(description="OCC symbol")
    underlying: str | None
    side: Literal["BUY", "SELL"]
    quantity: int
    price: float
    commission_usd: float


class IntradayEquityResponse(Wire):
    """A session's equity at each minute the engine marked, and the session's fills."""

    session_date: date
    open: datetime
    close: datetime
    starting_equity_usd: float | None
    carried_peak_equity_usd: float | None
    marks: list[MinuteMarkOut]
    fills: list[FillOut]
    note: str | None = Field(default=None, description="why there are no marks; None when there are")


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
    strategy_curves: list[StrategyCurveOut]


class BacktestBody(Body):
    start: IsoDate
    end: IsoDate
    source: Literal["simulator", "archive"] = "simulator"
    """The data source (`GET /api/analytics/backtest/options` says what each is)."""
    scenario: Scenario = Field(default=Scenario.NORMAL, strict=False)
    """The simulator's scenario (the archive has none)."""
    seed: JsonInt = Field(default=DEFAULT_SEED, ge=0, le=2**31 - 1)
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


class ChoiceOut(Wire):
    name: str
    description: str


class BacktestOptions(Wire):
    """What a backtest may be asked for: the data sources and the simulator's scenarios."""

    sources: list[ChoiceOut]
    scenarios: list[ChoiceOut]
    default_source: str
    default_scenario: str


class BacktestDayOut(Wire):
    session_date: date
    net_pnl_usd: float
    commissions_usd: float
    trades: int | None
    open_positions_at_close: int


class BacktestTradeOut(Wire):
    contract: str
    strategy: str
    quantity: int
    entry_ts: datetime
    entry_price: float
    exit_ts: datetime
    exit_price: float
    exit_reason: str
    commissions_usd: float
    net_pnl_usd: float


class BacktestReportOut(Wire):
    """A finished run's report: every P&L net of commissions except `gross_pnl_usd`."""

    starting_equity_usd: float
    equity_curve: list[CurvePoint]
    """The starting equity at the first session's open, then the equity after each trade's exit."""
    days: list[BacktestDayOut]
    trades: list[BacktestTradeOut]
    total_return: float
    sharpe: float | None
    max_drawdown: float
    win_rate: float | None
    net_pnl_usd: float
    commissions_usd: float
    gross_pnl_usd: float


class BacktestStatus(Wire):
    id: str
    status: str
    days_total: int
    days_done: int
    """Sessions whose result is in the reports bucket (a rerun of the same request counts at once)."""
    progress: float | None
    source: str | None = None
    scenario: str | None = None
    start: date | None = None
    end: date | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    result: BacktestResultOut | None = None
    report: BacktestReportOut | None = None
    reason: str | None = None
    """Why a run failed or was cancelled, in words."""
    error: str | None = None
    cause: str | None = None


class BacktestRunOut(Wire):
    id: str
    status: str
    started_at: datetime | None
    stopped_at: datetime | None
    source: str | None
    scenario: str | None
    start: date | None
    end: date | None


class BacktestRuns(Wire):
    runs: list[BacktestRunOut]


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
