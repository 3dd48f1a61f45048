"""Analytics: the performance of closed trades, a session's minute marks (intraday equity) and fills,
backtest runs (the choices, started, polled, listed, cancelled, their reports), and a strategy's
parameters with the learning workflow's walk-forward optimization report (wire models:
analytics_models; read models: analytics_reads)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import ValidationError

from smart0dte.domain.analytics import TradeStats, performance
from smart0dte.domain.portfolio import ClosedTrade
from smart0dte.domain.strategies import STRATEGIES
from smart0dte.ports import ObjectNotFound, session_date_of
from smart0dte.ports.api import BacktestRunner
from smart0dte.resources import BACKTESTS_PREFIX, optimization_key
from smart0dte.services.api.account import session_start_equity
from smart0dte.services.api.analytics_models import (
    AnalyticsResponse,
    BacktestBody,
    BacktestOptions,
    BacktestResultOut,
    BacktestRunOut,
    BacktestRuns,
    BacktestStarted,
    BacktestStatus,
    ChoiceOut,
    EquityPoint,
    IntradayEquityResponse,
    OptimizationResponse,
    OptimizationResultOut,
    TradeStatsOut,
)
from smart0dte.services.api.analytics_reads import (
    backtest_report,
    failure_reason,
    intraday_equity,
    record_reason,
    request_fields,
    stamp,
    strategy_curves,
)
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import ApiError, IsoDate, StrategyName
from smart0dte.services.events import BacktestRequestWire
from smart0dte.services.events import request_id as backtest_request_id

TIMEFRAMES = {"1d": 1, "1w": 7, "1m": 31, "3m": 92, "6m": 183, "1y": 366, "all": None}
SOURCES = {
    "simulator": "synthetic sessions from the seeded market simulator, shaped by the scenario",
    "archive": "the recorded Databento sessions in the archive bucket (the scenario does not apply)",
}
SCENARIOS = {
    "normal": "an ordinary day",
    "trend_up": "the ETFs drift up through the session",
    "trend_down": "the ETFs drift down through the session",
    "chop": "prices keep reverting to the open",
    "gap_up": "a forced overnight gap up",
    "gap_down": "a forced overnight gap down",
    "vix_spike": "VIX jumps for about 20 minutes mid-session",
}
"""Every `Scenario` of the simulator, in words (a test checks they are the same names)."""
MAX_LISTED_RUNS = 50


def _stats_out(s: TradeStats) -> TradeStatsOut:
    return TradeStatsOut(
        trades=s.trades,
        win_rate=s.win_rate,
        profit_factor=s.profit_factor,
        expectancy_usd=s.expectancy_usd,
        average_win_usd=s.average_win_usd,
        average_loss_usd=s.average_loss_usd,
        net_pnl_usd=s.net_pnl_usd,
        commissions_usd=s.commissions_usd,
        gross_pnl_usd=s.gross_pnl_usd,
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:2000]


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]
    deps = api.deps

    def closed_trades(start: date | None, strategy: str | None) -> list[ClosedTrade]:
        """The journal's round trips that exited on session `start` or later, by exit time, with
        their P&L net of commissions (as the dashboard's realized P&L and the daily report)."""
        return [t for t in deps.store.list_closed_trades(start) if strategy is None or t.strategy == strategy]

    @router.get(
        "/api/analytics", summary="Performance of closed trades: equity, drawdown, per-strategy stats"
    )
    def analytics(
        timeframe: Annotated[Literal["1d", "1w", "1m", "3m", "6m", "1y", "all"], Query()] = "1m",
        strategy: Annotated[StrategyName | None, Query()] = None,
    ) -> AnalyticsResponse:
        end = api.today()
        days = TIMEFRAMES[timeframe]
        start = None if days is None else end - timedelta(days=days - 1)
        trades = closed_trades(start, strategy)
        by_day: dict[date, Decimal] = {}
        for t in trades:
            d = session_date_of(t.exit_ts)
            by_day[d] = by_day.get(d, Decimal(0)) + t.pnl_usd
        # The equity at the timeframe's start: today's starting equity (as the account reads it)
        # less what the timeframe's earlier sessions made, so the curve ends where the account is.
        today_start, _, _ = session_start_equity(deps.store, end)
        starting = today_start - sum((v for d, v in by_day.items() if d < end), Decimal(0))
        equity = [starting]
        curve: list[EquityPoint] = []
        peak = float(starting)
        for d in sorted(by_day):
            equity.append(equity[-1] + by_day[d])
            value = float(equity[-1])
            peak = max(peak, value)
            curve.append(EquityPoint(session_date=d, equity_usd=value, drawdown=1 - value / peak))
        perf = performance(equity, trades)
        curves = strategy_curves(trades)
        return AnalyticsResponse(
            timeframe=timeframe,
            strategy=strategy,
            start=start,
            end=end,
            starting_equity_usd=float(starting),
            total_return=perf.total_return,
            sharpe=perf.sharpe,
            sortino=perf.sortino,
            max_drawdown=perf.drawdown.max_fraction,
            trades=_stats_out(perf.trades),
            by_strategy={k: _stats_out(v) for k, v in perf.by_strategy.items()},
            by_symbol={k: _stats_out(v) for k, v in perf.by_symbol.items()},
            equity_curve=curve,
            strategy_curves=curves,
        )

    @router.get(
        "/api/analytics/intraday",
        summary="A session's equity at each minute the engine marked (drawdown beside it) and its fills",
    )
    def intraday(
        session_date: Annotated[IsoDate | None, Query(alias="date")] = None,
    ) -> IntradayEquityResponse:
        day = session_date or api.today()
        session = deps.calendar.session(day)
        if session is None:
            if session_date is not None:
                raise ApiError(404, f"date={day.isoformat()} is not an NYSE session", field="date")
            session = deps.calendar.session(deps.calendar.previous_session(day))
            assert session is not None  # the previous session is a session
        return intraday_equity(deps.store, deps.calendar, session, latest=session_date is None)

    def runner() -> BacktestRunner:
        if deps.backtests is None:
            raise ApiError(501, "no backtest runner is configured (the backtest state machine is not wired)")
        return deps.backtests

    @router.post(
        "/api/analytics/backtest", summary="Start a backtest run; poll GET /api/analytics/backtest/{id}"
    )
    def start_backtest(body: BacktestBody) -> Response[BacktestStarted]:
        if body.start > body.end:
            raise ApiError(422, f"start={body.start} is after end={body.end}", field="start")
        if (body.end - body.start).days > 366 * 5:
            raise ApiError(422, "a backtest spans at most 5 years", field="end")
        sessions = [d.isoformat() for d in deps.calendar.sessions_between(body.start, body.end)]
        if not sessions:
            raise ApiError(422, f"no NYSE session between {body.start} and {body.end}", field="start")
        request = BacktestRequestWire(
            start=body.start,
            end=body.end,
            source=body.source,
            scenario=body.scenario.value,
            seed=body.seed,
            starting_equity_usd=str(body.starting_equity_usd),
        ).model_dump(mode="json")
        run_id = runner().start({"days": sessions, "request": request})
        api.audit("BacktestStarted", f"backtest {body.start}..{body.end}", {"id": run_id, **request})
        return Response(202, "application/json", BacktestStarted(id=run_id, status="RUNNING"))

    @router.get("/api/analytics/backtest/options", summary="The data sources and scenarios of a backtest")
    def backtest_options() -> BacktestOptions:
        return BacktestOptions(
            sources=[ChoiceOut(name=k, description=v) for k, v in SOURCES.items()],
            scenarios=[ChoiceOut(name=k, description=v) for k, v in SCENARIOS.items()],
            default_source="simulator",
            default_scenario="normal",
        )

    @router.get("/api/analytics/backtests", summary="Past backtest runs, newest first")
    def backtest_runs(limit: Annotated[int, Query(ge=1, le=MAX_LISTED_RUNS)] = 20) -> BacktestRuns:
        runs = []
        for found in runner().runs(limit):
            request = request_fields(found.get("input"))
            runs.append(
                BacktestRunOut(
                    id=str(found["id"]),
                    status=str(found.get("status")),
                    started_at=stamp(found.get("started_at")),
                    stopped_at=stamp(found.get("stopped_at")),
                    source=request.get("source"),
                    scenario=request.get("scenario"),
                    start=request.get("start"),
                    end=request.get("end"),
                )
            )
        return BacktestRuns(runs=runs)

    @router.post("/api/analytics/backtest/<run_id>/cancel", summary="Cancel a running backtest")
    def cancel_backtest(run_id: Annotated[str, Path(min_length=1, max_length=128)]) -> BacktestStatus:
        found = runner().status(run_id)
        if found is None:
            raise ApiError(404, f"backtest {run_id} does not exist")
        if found.get("status") != "RUNNING":
            raise ApiError(409, f"backtest {run_id} is {found.get('status')}, not running: nothing to cancel")
        reason = f"cancelled by {api.actor()} at {api.now():%Y-%m-%d %H:%M} UTC"
        runner().cancel(run_id, reason)
        if deps.reports is not None:
            record_reason(deps.reports, run_id, reason)
        api.audit("BacktestCancelled", f"backtest {run_id} cancelled", {"id": run_id})
        return backtest_status(run_id)

    @router.get("/api/analytics/backtest/<run_id>", summary="Status (and report when done) of a backtest run")
    def backtest_status(run_id: Annotated[str, Path(min_length=1, max_length=128)]) -> BacktestStatus:
        found = runner().status(run_id)
        if found is None:
            raise ApiError(404, f"backtest {run_id} does not exist")
        run_input = found.get("input")
        days_total, days_done = 0, 0
        if isinstance(run_input, Mapping):
            days_total = len(run_input.get("days") or [])
            if deps.reports is not None and run_input.get("request"):
                rid = backtest_request_id(BacktestRequestWire.model_validate(run_input["request"]))
                days_done = sum(1 for _ in deps.reports.list_keys(f"{BACKTESTS_PREFIX}{rid}/days/"))
        status = str(found.get("status"))
        if status == "SUCCEEDED":
            days_done = days_total
        output = found.get("output")
        result = None
        if status == "SUCCEEDED" and isinstance(output, Mapping) and "report_key" in output:
            result = BacktestResultOut.model_validate(
                {k: output[k] for k in ("days", "trades", "net_pnl_usd", "total_return", "report_key")}
            )
        report = None
        if result is not None and deps.reports is not None:
            report = backtest_report(deps.reports, result.report_key, deps.calendar)
        request = request_fields(run_input)
        return BacktestStatus(
            id=run_id,
            status=status,
            days_total=days_total,
            days_done=min(days_done, days_total),
            progress=min(1.0, days_done / days_total) if days_total else None,
            source=request.get("source"),
            scenario=request.get("scenario"),
            start=request.get("start"),
            end=request.get("end"),
            started_at=stamp(found.get("started_at")),
            stopped_at=stamp(found.get("stopped_at")),
            result=result,
            report=report,
            reason=run_reason(run_id, status, found),
            error=_text(found.get("error")),
            cause=_text(found.get("cause")),
        )

    def run_reason(run_id: str, status: str, found: Mapping[str, object]) -> str | None:
        """Why a run ended without a report, in words: the failure the workflow recorded, else
        the cause Step Functions gives (a cancel's says who cancelled)."""
        if status in ("RUNNING", "SUCCEEDED"):
            return None
        recorded = failure_reason(deps.reports, run_id) if deps.reports is not None else None
        if recorded is not None:
            return recorded
        if status == "TIMED_OUT":
            return "the run took longer than the workflow allows"
        cause = _text(found.get("cause"))
        return cause or f"the run ended {status} without saying why"

    @router.get("/api/analytics/optimization/<strategy>", summary="A strategy's parameters and live results")
    def optimization(strategy: Annotated[str, Path(min_length=1, max_length=64)]) -> OptimizationResponse:
        found = STRATEGIES.get(strategy)
        if found is None:
            raise ApiError(404, f"strategy={strategy!r} is unknown; known: {', '.join(STRATEGIES)}")
        params = found.default_params
        dumped = params.model_dump(mode="json") if hasattr(params, "model_dump") else dict(vars(params))
        trades = closed_trades(None, strategy)
        stats = performance([session_start_equity(deps.store, api.today())[0]], trades).trades
        result, note = stored_optimization(strategy)
        return OptimizationResponse(
            strategy=strategy,
            default_params=dumped,
            live_trades=_stats_out(stats),
            optimization=result,
            note=note,
        )

    def stored_optimization(strategy: str) -> tuple[OptimizationResultOut | None, str | None]:
        """The learning workflow's latest report of `strategy`, or None and why there is none.

        A missing or unreadable object is a note, not an error: the route still answers 200.
        """
        from smart0dte.domain.optimization import DEFAULT_SPEC

        if deps.reports is None:
            return None, "no reports bucket is configured: optimization results cannot be read here"
        key = optimization_key(strategy)
        try:
            raw = deps.reports.get_bytes(key)
        except ObjectNotFound:
            return None, (
                "no walk-forward optimization has run for this strategy yet: the nightly learning "
                f"run makes one once {DEFAULT_SPEC.needed} sessions are archived"
            )
        try:
            result = OptimizationResultOut.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as exc:  # JSONDecodeError and UnicodeDecodeError too
            first = exc.errors()[0] if isinstance(exc, ValidationError) else None
            why = f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first else str(exc)
            return None, f"the stored optimization result {key} is unreadable ({why[:200]}); it is ignored"
        if result.strategy != strategy:
            return None, f"the stored result {key} is of strategy {result.strategy!r}; it is ignored"
        return result, None

    return router
