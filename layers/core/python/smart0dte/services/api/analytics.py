"""Analytics: the performance of closed trades, backtest runs (started and polled), and a strategy's
parameters with the learning workflow's walk-forward optimization report (wire models: analytics_models)."""

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
from smart0dte.services.api.analytics_models import (
    AnalyticsResponse,
    BacktestBody,
    BacktestResultOut,
    BacktestStarted,
    BacktestStatus,
    EquityPoint,
    OptimizationResponse,
    OptimizationResultOut,
    TradeStatsOut,
)
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import ApiError
from smart0dte.services.events import BacktestRequestWire
from smart0dte.services.events import request_id as backtest_request_id

TIMEFRAMES = {"1d": 1, "1w": 7, "1m": 31, "3m": 92, "6m": 183, "1y": 366, "all": None}
STARTING_EQUITY_USD = Decimal("100000")


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
        strategy: Annotated[str | None, Query(max_length=64)] = None,
    ) -> AnalyticsResponse:
        if strategy is not None and strategy not in STRATEGIES:
            raise ApiError(
                422, f"strategy={strategy!r} is unknown; known: {', '.join(STRATEGIES)}", field="strategy"
            )
        end = api.today()
        days = TIMEFRAMES[timeframe]
        start = None if days is None else end - timedelta(days=days - 1)
        trades = closed_trades(start, strategy)
        by_day: dict[date, Decimal] = {}
        for t in trades:
            d = session_date_of(t.exit_ts)
            by_day[d] = by_day.get(d, Decimal(0)) + t.pnl_usd
        equity = [STARTING_EQUITY_USD]
        curve: list[EquityPoint] = []
        peak = float(STARTING_EQUITY_USD)
        for d in sorted(by_day):
            equity.append(equity[-1] + by_day[d])
            value = float(equity[-1])
            peak = max(peak, value)
            curve.append(EquityPoint(session_date=d, equity_usd=value, drawdown=1 - value / peak))
        perf = performance(equity, trades)
        return AnalyticsResponse(
            timeframe=timeframe,
            strategy=strategy,
            start=start,
            end=end,
            starting_equity_usd=float(STARTING_EQUITY_USD),
            total_return=perf.total_return,
            sharpe=perf.sharpe,
            sortino=perf.sortino,
            max_drawdown=perf.drawdown.max_fraction,
            trades=_stats_out(perf.trades),
            by_strategy={k: _stats_out(v) for k, v in perf.by_strategy.items()},
            by_symbol={k: _stats_out(v) for k, v in perf.by_symbol.items()},
            equity_curve=curve,
        )

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
            scenario=body.scenario,
            seed=body.seed,
            starting_equity_usd=str(body.starting_equity_usd),
        ).model_dump(mode="json")
        run_id = runner().start({"days": sessions, "request": request})
        api.audit("BacktestStarted", f"backtest {body.start}..{body.end}", {"id": run_id, **request})
        return Response(202, "application/json", BacktestStarted(id=run_id, status="RUNNING"))

    @router.get("/api/analytics/backtest/<run_id>", summary="Status (and result when done) of a backtest run")
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
        return BacktestStatus(
            id=run_id,
            status=status,
            days_total=days_total,
            days_done=min(days_done, days_total),
            progress=min(1.0, days_done / days_total) if days_total else None,
            result=result,
            error=_text(found.get("error")),
            cause=_text(found.get("cause")),
        )

    @router.get("/api/analytics/optimization/<strategy>", summary="A strategy's parameters and live results")
    def optimization(strategy: Annotated[str, Path(min_length=1, max_length=64)]) -> OptimizationResponse:
        found = STRATEGIES.get(strategy)
        if found is None:
            raise ApiError(404, f"strategy={strategy!r} is unknown; known: {', '.join(STRATEGIES)}")
        params = found.default_params
        dumped = params.model_dump(mode="json") if hasattr(params, "model_dump") else dict(vars(params))
        trades = closed_trades(None, strategy)
        stats = performance([STARTING_EQUITY_USD], trades).trades
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
