"""Backtests: the session engine over many days, from DBN folders or the simulator.

The account carries from each day to the next (`Account.CARRIED`, the default): the equity and
its peak (marked each minute, so the 15% drawdown limit binds across days), the day-trade window
and the losing streak, as pre_market hands them from one live session to the next. What does not
depend on the account runs in parallel, `workers` processes ahead of the engine: loading or
simulating the day, its features and every minute's signals (`domain.signal_tape`); the engine
then runs the days in order in this process, so results are the same for any worker count.
`Account.PER_DAY` starts each day from the starting capital with a fresh peak, no earlier day
trades and no streak (research: days are independent; whole days then run in the workers).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar, cast

from smart0dte.domain.analytics import Performance, performance
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar, SessionTimes
from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.marketdata import MarketDay, datetime_to_ns
from smart0dte.domain.models import DomainError, Underlying
from smart0dte.domain.portfolio import ClosedTrade
from smart0dte.domain.session_engine import AccountCarry, DecisionRecord, EngineConfig, SessionEngine
from smart0dte.domain.signal_tape import SignalTape, record_signals
from smart0dte.domain.simulator import DEFAULT_SEED, MarketSimulator, MarketState, Scenario
from smart0dte.domain.strategy_signals import ProbabilityFn, StrategySignals
from smart0dte.ports import HistoricalMarketData, ObjectStore

MAX_WORKERS = 64
T = TypeVar("T")
AHEAD_PER_WORKER = 8
"""Days per worker prepared ahead of the engine: rides out either side being descheduled on a
shared machine while bounding the memory held (a simulated day is about 3.7 MB)."""


def backtest_config() -> EngineConfig:
    """The engine configuration of a backtest: automation on, everything else at its defaults."""
    return EngineConfig(settings=AutomationSettings(master_switch=True))


class Account(StrEnum):
    """How the account passes from one day to the next."""

    CARRIED = "carried"
    """Equity, peak, the day-trade window and the losing streak carry over, as in live trading."""
    PER_DAY = "per_day"
    """Every day starts from the starting capital, fresh (days are independent)."""


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
    account: Account = Account.CARRIED

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise DomainError(f"start={self.start} is after end={self.end}")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise DomainError(f"workers={self.workers} must be within 1..{MAX_WORKERS}")
        if self.starting_equity_usd <= 0:
            raise DomainError(f"starting_equity_usd={self.starting_equity_usd} must be > 0")

    def fresh_account(self) -> AccountCarry:
        """The account of a first day: the starting capital, its own peak, nothing before it."""
        return AccountCarry(equity_usd=self.starting_equity_usd, peak_equity_usd=self.starting_equity_usd)


@dataclass(frozen=True, slots=True)
class DayJob:
    """Everything one process needs to prepare one day (small, so it pickles cheaply)."""

    session_date: date
    request: BacktestRequest
    previous: MarketState | None
    """Simulator only: the levels the day opens from."""


@dataclass(frozen=True, slots=True)
class PreparedDay:
    """A session's account-independent work: its market data (cut at `data_until`), yesterday's
    closes and every minute's signals."""

    session: SessionTimes
    day: MarketDay
    prior_close: dict[str, float]
    tape: SignalTape


@dataclass(frozen=True, slots=True)
class DayOutcome:
    session_date: date
    synthetic: bool
    trades: tuple[ClosedTrade, ...]
    decisions: tuple[DecisionRecord, ...]
    carry_in: AccountCarry
    """The account the day started with."""
    end_equity_usd: Decimal
    """Cash after the day's settlement: net of commissions."""
    minute_equity_usd: tuple[Decimal, ...]
    """The engine's equity mark at each minute end from the open + 1 minute to the close (open
    positions at the mid)."""
    peak_equity_usd: Decimal
    """The highest equity the engine saw, the carried peak included: what its drawdown limit used."""
    max_open_positions: int
    open_positions_at_close: int
    incidents: tuple[str, ...]
    day_trades: int
    """Entries whose first fill came today (what the PDT window counts)."""
    consecutive_losses: int
    """The losing streak at the close, the carried one included."""

    @property
    def pnl_usd(self) -> Decimal:
        """The day's equity change: net of commissions."""
        return self.end_equity_usd - self.carry_in.equity_usd

    @property
    def commissions_usd(self) -> Decimal:
        return sum((t.commissions_usd for t in self.trades), Decimal("0.00"))


@dataclass(frozen=True, slots=True)
class BacktestReport:
    request: BacktestRequest
    days: tuple[DayOutcome, ...]
    daily_equity_usd: tuple[Decimal, ...]
    """Starting capital, then the running total after each day."""
    intraday_equity_usd: tuple[Decimal, ...]
    """Starting capital, then each day's minute marks and its closing equity, each shifted by what
    earlier days made (no shift when the account is carried)."""
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


def market_of(job: DayJob) -> tuple[SessionTimes, MarketDay, dict[str, float]]:
    """The session, its market data as the request cuts it, and yesterday's closes."""
    request = job.request
    session = MarketCalendar().session(job.session_date)
    if session is None:
        raise DomainError(f"{job.session_date} is not a session")
    day, previous_close = _load(job)
    if request.data_until is not None:
        cut = datetime.combine(job.session_date, request.data_until, tzinfo=NEW_YORK)
        day = day.until(datetime_to_ns(cut))
    return session, day, _prior_close(day, previous_close)


def prepare_day(job: DayJob) -> PreparedDay:
    """Everything of a day that does not depend on the account (top level: runs in a worker)."""
    session, day, prior = market_of(job)
    request = job.request
    signals = StrategySignals(day, session, prior, request.config.pricing, probability_fn=_promoted(request))
    return PreparedDay(session, day, prior, record_signals(day, session, signals))


def run_prepared(prepared: PreparedDay, config: EngineConfig, carry: AccountCarry) -> DayOutcome:
    """The engine over a prepared day from the account `carry`."""
    engine = SessionEngine(prepared.day, prepared.session, config, prepared.tape, carry)
    result = engine.run()
    end = result.portfolio.equity_usd()
    return DayOutcome(
        session_date=prepared.session.session_date,
        synthetic=prepared.day.synthetic,
        trades=tuple(result.trades),
        decisions=tuple(result.decisions),
        carry_in=carry,
        end_equity_usd=end,
        minute_equity_usd=tuple(e for _, e in result.equity_curve),
        peak_equity_usd=max(engine.peak_equity, end),
        max_open_positions=result.max_open_positions,
        open_positions_at_close=result.open_positions_at_close,
        incidents=tuple(result.incidents),
        day_trades=engine.day_trades_today,
        consecutive_losses=engine.account().consecutive_losses,
    )


def run_day(job: DayJob) -> DayOutcome:
    """One session through the engine with the rule strategies from the request's fresh account
    (top level: runs in a worker)."""
    return run_prepared(prepare_day(job), job.request.config, job.request.fresh_account())


def next_carry(outcomes: Sequence[DayOutcome], window_sessions: int) -> AccountCarry:
    """What the session after `outcomes` (the days so far, in order) inherits: the last close's
    equity, peak and losing streak, and the day trades of the window's earlier sessions."""
    last = outcomes[-1]
    earlier = outcomes[max(0, len(outcomes) - (window_sessions - 1)) :] if window_sessions > 1 else ()
    return AccountCarry(
        equity_usd=last.end_equity_usd,
        peak_equity_usd=last.peak_equity_usd,
        day_trades_in_window=sum(o.day_trades for o in earlier),
        consecutive_losses=last.consecutive_losses,
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


def day_jobs(request: BacktestRequest, sessions: Sequence[date]) -> list[DayJob]:
    """A job per session; simulated days chain their opening levels from the first session."""
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


def _in_order(work: Callable[[DayJob], T], jobs: Sequence[DayJob], workers: int) -> Iterator[T]:
    """`work` of each job, in the jobs' order: here, or in `workers` processes that run at most
    `AHEAD_PER_WORKER` days each ahead of the consumer."""
    if workers == 1 or len(jobs) == 1:
        yield from (work(job) for job in jobs)
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        pending: deque[Future[T]] = deque()
        queued = iter(jobs)
        for job in queued:
            pending.append(pool.submit(work, job))
            if len(pending) >= workers * AHEAD_PER_WORKER:
                break
        while pending:
            done = pending.popleft().result()
            for job in queued:
                pending.append(pool.submit(work, job))
                break
            yield done


def run_backtest(
    request: BacktestRequest, progress: Callable[[int, int, date], None] | None = None
) -> BacktestReport:
    calendar = MarketCalendar()
    sessions, missing = _session_dates(request, calendar)
    jobs = day_jobs(request, sessions)
    outcomes: list[DayOutcome] = []
    window = request.config.limits.pdt_window_sessions
    if request.account is Account.CARRIED:
        for prepared in _in_order(prepare_day, jobs, request.workers):
            carry = next_carry(outcomes, window) if outcomes else request.fresh_account()
            outcomes.append(run_prepared(prepared, request.config, carry))
            if progress:
                progress(len(outcomes), len(jobs), outcomes[-1].session_date)
    else:
        for outcome in _in_order(run_day, jobs, request.workers):
            outcomes.append(outcome)
            if progress:
                progress(len(outcomes), len(jobs), outcome.session_date)
    return report_of(request, outcomes, missing)


def report_of(
    request: BacktestRequest, outcomes: Sequence[DayOutcome], missing: Sequence[date] = ()
) -> BacktestReport:
    """The report of days run in order: end-of-day and minute equity curves and the metrics."""
    daily = [request.starting_equity_usd]
    intraday = [request.starting_equity_usd]
    for outcome in outcomes:
        shift = daily[-1] - outcome.carry_in.equity_usd
        intraday += [e + shift for e in outcome.minute_equity_usd]
        daily.append(daily[-1] + outcome.pnl_usd)
        intraday.append(daily[-1])
    trades = [t for o in outcomes for t in o.trades]
    return BacktestReport(
        request,
        tuple(outcomes),
        tuple(daily),
        tuple(intraday),
        performance(daily, trades, intraday),
        tuple(missing),
    )


@dataclass(frozen=True, slots=True)
class Refusals:
    """How often one risk rule refused a signal over a backtest."""

    signals: int
    days: int
    first_date: date
    last_date: date


def refusals(days: Sequence[DayOutcome]) -> dict[str, Refusals]:
    """Each risk rule that refused an entry, by rule name (a refused signal counts once per rule
    it broke): where a carried limit stopped the trading shows here."""
    found: dict[str, list[date]] = {}
    for day in days:
        for record in day.decisions:
            if record.kind == "risk" and not record.detail["approved"]:
                for rule in cast(list[str], record.detail["rules"]):
                    found.setdefault(rule, []).append(day.session_date)
    return {
        rule: Refusals(len(dates), len(set(dates)), dates[0], dates[-1])
        for rule, dates in sorted(found.items())
    }


def drawdown_limit_wire(request: BacktestRequest) -> dict[str, object]:
    """The drawdown limit and what it was measured on, for a report."""
    peak = "carried across days" if request.account is Account.CARRIED else "reset each day"
    return {
        "fraction": request.config.limits.max_drawdown,
        "measured_on": f"intraday: equity at each minute mark (positions at the mid), peak {peak}",
    }


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
        "account": request.account.value,
        "execution": request.config.execution_model(),
        "missing_sessions": [d.isoformat() for d in report.missing_sessions],
        "days": [
            {
                "date": d.session_date.isoformat(),
                "synthetic": d.synthetic,
                "trades": len(d.trades),
                "net_pnl": str(d.pnl_usd),
                "commissions": str(d.commissions_usd),
                "start_equity": str(d.carry_in.equity_usd),
                "start_peak_equity": str(d.carry_in.peak_equity_usd),
                "start_day_trades_in_window": d.carry_in.day_trades_in_window,
                "start_consecutive_losses": d.carry_in.consecutive_losses,
                "end_equity": str(d.end_equity_usd),
                "minute_equity": [str(e) for e in d.minute_equity_usd],
                "day_trades": d.day_trades,
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
            "max_drawdown_eod": m.drawdown.max_fraction,
            "max_drawdown_duration_days": m.drawdown.max_duration_periods,
            "max_drawdown_intraday": None
            if m.intraday_drawdown is None
            else m.intraday_drawdown.max_fraction,
            "drawdown_limit": drawdown_limit_wire(request),
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
            "var_95_minute": None
            if m.minute_var is None
            else {"historical": m.minute_var.historical_var, "historical_cvar": m.minute_var.historical_cvar},
            "by_strategy": {k: v.net_pnl_usd for k, v in m.by_strategy.items()},
            "by_symbol": {k: v.net_pnl_usd for k, v in m.by_symbol.items()},
        },
        "refused_entries": {
            rule: {
                "signals": r.signals,
                "days": r.days,
                "first_date": r.first_date.isoformat(),
                "last_date": r.last_date.isoformat(),
            }
            for rule, r in refusals(report.days).items()
        },
        "equity_curve": [str(e) for e in report.daily_equity_usd],
        "max_open_positions": max((d.max_open_positions for d in report.days), default=0),
        "open_positions_at_close": sum(d.open_positions_at_close for d in report.days),
        "incidents": [i for d in report.days for i in d.incidents],
        "underlyings": [u.value for u in Underlying.tradable()],
    }
