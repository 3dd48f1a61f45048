"""Backtests: the session engine over many days, from DBN folders or the simulator, in parallel.

Each day starts from the configured capital (so days are independent and run in any order or
process); the report's equity curve adds the days' P&L. Below the PDT equity threshold the day
trades of earlier sessions matter, so such runs go day by day in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from smart0dte.domain.analytics import Performance, performance
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar
from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.marketdata import MarketDay, datetime_to_ns
from smart0dte.domain.models import DomainError, Underlying
from smart0dte.domain.portfolio import ClosedTrade
from smart0dte.domain.session_engine import AccountCarry, DecisionRecord, EngineConfig, SessionEngine
from smart0dte.domain.simulator import DEFAULT_SEED, MarketSimulator, MarketState, Scenario
from smart0dte.domain.strategy_signals import ProbabilityFn, StrategySignals
from smart0dte.ports import HistoricalMarketData, ObjectStore

MAX_WORKERS = 64


def backtest_config() -> EngineConfig:
    """The engine configuration of a backtest: automation on, everything else at its defaults."""
    return EngineConfig(settings=AutomationSettings(master_switch=True))


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    start: date
    end: date
    archive: HistoricalMarketData | None = None
    """Archived days (None: the simulator's)."""
    scenario: Scenario = Scenario.NORMAL
    seed: int = DEFAULT_SEED
    data_until: time | None = None
    """Cut every day's input data after this New York time (look-ahead checks)."""
    workers: int = 1
    starting_equity_usd: Decimal = Decimal("100000")
    config: EngineConfig = field(default_factory=backtest_config)
    registry: ObjectStore | None = None
    """A model registry; its promoted model joins the rules (none promoted: rules only)."""

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise DomainError(f"start={self.start} is after end={self.end}")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise DomainError(f"workers={self.workers} must be within 1..{MAX_WORKERS}")
        if self.starting_equity_usd <= 0:
            raise DomainError(f"starting_equity_usd={self.starting_equity_usd} must be > 0")


@dataclass(frozen=True, slots=True)
class DayJob:
    """Everything one process needs to run one day (small, so it pickles cheaply)."""

    session_date: date
    request: BacktestRequest
    previous: MarketState | None
    """Simulator only: the levels the day opens from."""
    day_trades_in_window: int = 0


@dataclass(frozen=True, slots=True)
class DayOutcome:
    session_date: date
    synthetic: bool
    trades: tuple[ClosedTrade, ...]
    decisions: tuple[DecisionRecord, ...]
    pnl_usd: Decimal
    """The day's equity change: net of commissions."""
    max_open_positions: int
    open_positions_at_close: int
    incidents: tuple[str, ...]
    day_trades: int

    @property
    def commissions_usd(self) -> Decimal:
        return sum((t.commissions_usd for t in self.trades), Decimal("0.00"))


@dataclass(frozen=True, slots=True)
class BacktestReport:
    request: BacktestRequest
    days: tuple[DayOutcome, ...]
    daily_equity_usd: tuple[Decimal, ...]
    """Starting capital, then the running total after each day."""
    metrics: Performance
    missing_sessions: tuple[date, ...] = ()
    """NYSE sessions in the range that the archive lacks; they are skipped, not simulated."""

    @property
    def trades(self) -> list[ClosedTrade]:
        return [t for d in self.days for t in d.trades]


def _prior_close(day: MarketDay, previous_bars: dict[str, float] | None) -> dict[str, float]:
    """Yesterday's closes; without them, today's opens (no gap is then seen)."""
    if previous_bars:
        return previous_bars
    return {symbol: float(series.open[0]) for symbol, series in day.bars.items() if len(series)}


def _load(job: DayJob) -> tuple[MarketDay, dict[str, float] | None]:
    request = job.request
    if request.archive is not None:
        return request.archive.load_day(job.session_date), request.archive.previous_close(job.session_date)
    simulated = MarketSimulator().day(
        job.session_date, seed=request.seed, scenario=request.scenario, previous=job.previous
    )
    previous = {u.value: level for u, level in simulated.previous.close_usd.items()}
    return simulated.market_day, previous


def _promoted(request: BacktestRequest) -> ProbabilityFn | None:
    if request.registry is None:
        return None
    from smart0dte.ml.registry import ModelRegistry

    model = ModelRegistry(request.registry).promoted_model()
    return model.probability_fn() if model is not None else None


def run_day(job: DayJob) -> DayOutcome:
    """One session through the engine with the rule strategies (top level: runs in a worker)."""
    request = job.request
    calendar = MarketCalendar()
    session = calendar.session(job.session_date)
    if session is None:
        raise DomainError(f"{job.session_date} is not a session")
    day, previous_close = _load(job)
    if request.data_until is not None:
        cut = datetime.combine(job.session_date, request.data_until, tzinfo=NEW_YORK)
        day = day.until(datetime_to_ns(cut))
    prior = _prior_close(day, previous_close)
    signals = StrategySignals(day, session, prior, request.config.pricing, probability_fn=_promoted(request))
    carry = AccountCarry(
        equity_usd=request.starting_equity_usd,
        peak_equity_usd=request.starting_equity_usd,
        day_trades_in_window=job.day_trades_in_window,
    )
    result = SessionEngine(day, session, request.config, signals, carry).run()
    pnl = result.portfolio.equity_usd() - request.starting_equity_usd
    return DayOutcome(
        session_date=job.session_date,
        synthetic=day.synthetic,
        trades=tuple(result.trades),
        decisions=tuple(result.decisions),
        pnl_usd=pnl,
        max_open_positions=result.max_open_positions,
        open_positions_at_close=result.open_positions_at_close,
        incidents=tuple(result.incidents),
        day_trades=sum(1 for d in result.decisions if d.kind == "fill" and d.detail["side"] == "BUY"),
    )


def _session_dates(request: BacktestRequest, calendar: MarketCalendar) -> tuple[list[date], list[date]]:
    """The sessions to run and the sessions in the range the archive lacks."""
    sessions = calendar.sessions_between(request.start, request.end)
    missing: list[date] = []
    if request.archive is not None:
        available = set(request.archive.available_days())
        missing = [d for d in sessions if d not in available]
        sessions = [d for d in sessions if d in available]
        if not sessions:
            raise DomainError(
                f"no archived session between {request.start} and {request.end} in "
                f"{request.archive.describe()}"
            )
    if not sessions:
        raise DomainError(f"no NYSE session between {request.start} and {request.end}")
    return sessions, missing


def _jobs(request: BacktestRequest, sessions: Sequence[date]) -> list[DayJob]:
    if request.archive is not None:
        return [DayJob(d, request, None) for d in sessions]
    # Price levels chain from day to day; the underlying paths do not depend on chain width,
    # so a one-strike-each-side pass finds every day's opening levels cheaply.
    narrow = MarketSimulator(MarketSimulator().config.with_strikes_each_side(1))
    jobs: list[DayJob] = []
    previous: MarketState | None = None
    for simulated in narrow.days(sessions, seed=request.seed, scenario=request.scenario):
        jobs.append(DayJob(simulated.market_day.session_date, request, previous))
        previous = simulated.close_state
    return jobs


def run_backtest(
    request: BacktestRequest, progress: Callable[[int, int, date], None] | None = None
) -> BacktestReport:
    calendar = MarketCalendar()
    sessions, missing = _session_dates(request, calendar)
    jobs = _jobs(request, sessions)
    pdt_applies = float(request.starting_equity_usd) < request.config.limits.pdt_equity_threshold_usd
    outcomes: list[DayOutcome] = []
    if request.workers == 1 or pdt_applies or len(jobs) == 1:
        window = request.config.limits.pdt_window_sessions
        for i, job in enumerate(jobs):
            recent = sum(o.day_trades for o in outcomes[-(window - 1) :]) if window > 1 else 0
            outcomes.append(run_day(DayJob(job.session_date, request, job.previous, recent)))
            if progress:
                progress(i + 1, len(jobs), job.session_date)
    else:
        with ProcessPoolExecutor(max_workers=min(request.workers, len(jobs))) as pool:
            for i, outcome in enumerate(pool.map(run_day, jobs)):
                outcomes.append(outcome)
                if progress:
                    progress(i + 1, len(jobs), outcome.session_date)
    equity = [request.starting_equity_usd]
    for outcome in outcomes:
        equity.append(equity[-1] + outcome.pnl_usd)
    trades = [t for o in outcomes for t in o.trades]
    return BacktestReport(
        request, tuple(outcomes), tuple(equity), performance(equity, trades), tuple(missing)
    )


def report_to_wire(report: BacktestReport) -> dict[str, object]:
    """The JSON of `smart0dte backtest --json`: P&L net of commissions, the gross beside it."""

    def trade(t: ClosedTrade) -> dict[str, object]:
        return {
            "entry_time": t.entry_ts.isoformat(),
            "exit_time": t.exit_ts.isoformat(),
            "symbol": t.contract.root,
            "contract": t.contract.occ_symbol,
            "quantity": t.quantity,
            "entry_price": str(t.entry_price),
            "exit_price": str(t.exit_price),
            "net_pnl": str(t.pnl_usd),
            "commissions": str(t.commissions_usd),
            "gross_pnl": str(t.pnl_usd + t.commissions_usd),
            "strategy": t.strategy,
            "exit_reason": t.exit_reason,
        }

    m = report.metrics
    request = report.request
    return {
        "request": {
            "start": request.start.isoformat(),
            "end": request.end.isoformat(),
            "source": request.archive.describe() if request.archive else f"simulator seed={request.seed}",
            "scenario": None if request.archive else request.scenario.value,
            "data_until": request.data_until.isoformat(timespec="minutes") if request.data_until else None,
            "starting_equity_usd": str(request.starting_equity_usd),
            "mode": request.config.mode.value,
        },
        "execution": request.config.execution_model(),
        "missing_sessions": [d.isoformat() for d in report.missing_sessions],
        "days": [
            {
                "date": d.session_date.isoformat(),
                "synthetic": d.synthetic,
                "trades": len(d.trades),
                "net_pnl": str(d.pnl_usd),
                "commissions": str(d.commissions_usd),
                "max_open_positions": d.max_open_positions,
                "open_positions_at_close": d.open_positions_at_close,
                "incidents": list(d.incidents),
            }
            for d in report.days
        ],
        "trades": [trade(t) for t in report.trades],
        "decisions": [
            {"date": d.session_date.isoformat(), "ts": r.ts.isoformat(), "kind": r.kind, **r.detail}
            for d in report.days
            for r in d.decisions
        ],
        "metrics": {
            "total_return": m.total_return,
            "cagr": m.cagr,
            "sharpe": m.sharpe,
            "sortino": m.sortino,
            "calmar": m.calmar,
            "max_drawdown": m.drawdown.max_fraction,
            "max_drawdown_duration_days": m.drawdown.max_duration_periods,
            "trades": m.trades.trades,
            "win_rate": m.trades.win_rate,
            "profit_factor": m.trades.profit_factor,
            "expectancy_usd": m.trades.expectancy_usd,
            "average_win_usd": m.trades.average_win_usd,
            "average_loss_usd": m.trades.average_loss_usd,
            "net_pnl_usd": m.trades.net_pnl_usd,
            "commissions_usd": m.trades.commissions_usd,
            "gross_pnl_usd": m.trades.gross_pnl_usd,
            "var_95": None
            if m.var is None
            else {
                "historical": m.var.historical_var,
                "historical_cvar": m.var.historical_cvar,
                "parametric": m.var.parametric_var,
                "parametric_cvar": m.var.parametric_cvar,
            },
            "by_strategy": {k: v.net_pnl_usd for k, v in m.by_strategy.items()},
            "by_symbol": {k: v.net_pnl_usd for k, v in m.by_symbol.items()},
        },
        "equity_curve": [str(e) for e in report.daily_equity_usd],
        "max_open_positions": max((d.max_open_positions for d in report.days), default=0),
        "open_positions_at_close": sum(d.open_positions_at_close for d in report.days),
        "incidents": [i for d in report.days for i in d.incidents],
        "underlyings": [u.value for u in Underlying.tradable()],
    }
