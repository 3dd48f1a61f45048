"""Read models of the analytics routes: a session's minute marks and fills (from the engine's saved
state), each strategy's cumulative P&L, and a finished backtest's report. They read ports only."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from smart0dte.domain.calendar import MarketCalendar, SessionTimes
from smart0dte.domain.portfolio import ClosedTrade, trade_from_wire
from smart0dte.ports import ObjectNotFound, ObjectStore
from smart0dte.ports.api import ApiStore
from smart0dte.resources import backtest_failure_key
from smart0dte.services.api.analytics_models import (
    BacktestDayOut,
    BacktestReportOut,
    BacktestTradeOut,
    CurvePoint,
    FillOut,
    IntradayEquityResponse,
    MinuteMarkOut,
    StrategyCurveOut,
)

LOOKBACK_SESSIONS = 10
"""Without a date, the intraday chart shows the newest of this many sessions that has marks."""


def intraday_equity(
    store: ApiStore, calendar: MarketCalendar, session: SessionTimes, *, latest: bool
) -> IntradayEquityResponse:
    """The engine's minute marks and fills of `session`; with `latest`, of the newest of the
    LOOKBACK_SESSIONS sessions up to it that has an engine state."""
    from smart0dte.domain.session_engine import marked_day

    tried = [session]
    found = store.get_engine(session.session_date)
    while found is None and latest and len(tried) < LOOKBACK_SESSIONS:
        earlier = calendar.session(calendar.previous_session(tried[-1].session_date))
        if earlier is None:
            break
        tried.append(earlier)
        found = store.get_engine(earlier.session_date)
    if found is None:
        days = f"the {len(tried)} sessions to {session.session_date}" if latest else str(session.session_date)
        return IntradayEquityResponse(
            session_date=session.session_date,
            open=session.open_et,
            close=session.close_et,
            starting_equity_usd=None,
            carried_peak_equity_usd=None,
            marks=[],
            fills=[],
            note=f"no trading minute has run in {store.mode.value} in {days}: the equity is marked each "
            "minute once the session's trading cycle runs",
        )
    shown = tried[-1]
    # The stored document is the trading cycle's envelope; the engine's state is under "engine".
    engine = found.value["engine"]
    if not isinstance(engine, Mapping):
        raise ValueError(f"the session document of {shown.session_date} holds no engine state")
    day = marked_day(engine, shown.open_et)
    peak = day.carried_peak_equity_usd
    marks: list[MinuteMarkOut] = []
    for ts, equity in day.marks:
        peak = max(peak, equity)
        below = equity - peak
        marks.append(
            MinuteMarkOut(
                ts=ts,
                equity_usd=float(equity),
                drawdown_usd=float(below),
                drawdown=float(below / peak) if peak > 0 else 0.0,
            )
        )
    fills = [
        FillOut(
            ts=f.ts,
            fill_id=f.fill_id,
            order_id=f.order_id,
            contract=f.contract.occ_symbol,
            underlying=None if f.contract.underlying is None else f.contract.underlying.value,
            side="BUY" if f.side.value == "BUY" else "SELL",
            quantity=f.quantity,
            price=float(f.price),
            commission_usd=float(f.commission_usd),
        )
        for f in sorted(day.fills, key=lambda f: f.ts)
    ]
    return IntradayEquityResponse(
        session_date=shown.session_date,
        open=shown.open_et,
        close=shown.close_et,
        starting_equity_usd=float(day.starting_equity_usd),
        carried_peak_equity_usd=float(day.carried_peak_equity_usd),
        marks=marks,
        fills=fills,
        note=None if marks else "the session's engine has not marked a minute yet",
    )


def strategy_curves(trades: Sequence[ClosedTrade]) -> list[StrategyCurveOut]:
    """Each strategy's running P&L net of commissions after each of its exits, from 0 at the
    first entry among `trades` (so the lines share a start), strategies by name."""
    if not trades:
        return []
    start = min(t.entry_ts for t in trades)
    curves: dict[str, list[CurvePoint]] = {}
    totals: dict[str, Decimal] = {}
    for t in sorted(trades, key=lambda t: t.exit_ts):
        points = curves.setdefault(t.strategy, [CurvePoint(ts=start, value_usd=0.0)])
        totals[t.strategy] = totals.get(t.strategy, Decimal(0)) + t.pnl_usd
        points.append(CurvePoint(ts=t.exit_ts, value_usd=float(totals[t.strategy])))
    return [StrategyCurveOut(strategy=s, points=curves[s]) for s in sorted(curves)]


def backtest_report(reports: ObjectStore, key: str, calendar: MarketCalendar) -> BacktestReportOut | None:
    """The report the backtest workflow's aggregate wrote at `key`; None when it is absent."""
    try:
        report: Mapping[str, Any] = json.loads(reports.get_bytes(key))
    except ObjectNotFound:
        return None
    request = report["request"]
    metrics = report["metrics"]
    start_equity = Decimal(str(request["starting_equity_usd"]))
    trades = sorted((trade_from_wire(t) for t in report.get("trades", [])), key=lambda t: t.exit_ts)
    days = [
        BacktestDayOut(
            session_date=date.fromisoformat(d["date"]),
            net_pnl_usd=float(d["net_pnl_usd"]),
            commissions_usd=float(d.get("commissions_usd", 0)),
            trades=d.get("trades"),
            open_positions_at_close=int(d.get("open_positions_at_close", 0)),
        )
        for d in report["days"]
    ]
    curve: list[CurvePoint] = []
    first = calendar.session(days[0].session_date) if days else None
    if first is not None:
        curve.append(CurvePoint(ts=first.open_et, value_usd=float(start_equity)))
    equity = start_equity
    for t in trades:
        equity += t.pnl_usd
        curve.append(CurvePoint(ts=t.exit_ts, value_usd=float(equity)))
    return BacktestReportOut(
        starting_equity_usd=float(start_equity),
        equity_curve=curve,
        days=days,
        trades=[
            BacktestTradeOut(
                contract=t.contract.occ_symbol,
                strategy=t.strategy,
                quantity=t.quantity,
                entry_ts=t.entry_ts,
                entry_price=float(t.entry_price),
                exit_ts=t.exit_ts,
                exit_price=float(t.exit_price),
                exit_reason=t.exit_reason,
                commissions_usd=float(t.commissions_usd),
                net_pnl_usd=float(t.pnl_usd),
            )
            for t in trades
        ],
        total_return=float(metrics["total_return"]),
        sharpe=metrics.get("sharpe"),
        max_drawdown=float(metrics["max_drawdown"]),
        win_rate=metrics.get("win_rate"),
        net_pnl_usd=float(metrics["net_pnl_usd"]),
        commissions_usd=float(metrics["commissions_usd"]),
        gross_pnl_usd=float(metrics["gross_pnl_usd"]),
    )


def failure_reason(reports: ObjectStore, run_id: str) -> str | None:
    """What the workflow recorded about why run `run_id` failed, in words; None when nothing."""
    try:
        found = json.loads(reports.get_bytes(backtest_failure_key(run_id)))
    except ObjectNotFound:
        return None
    return f"session {found['date']}: {found['reason']}" if found.get("date") else str(found["reason"])


def record_reason(reports: ObjectStore, run_id: str, reason: str) -> None:
    """Record why run `run_id` ended where its status reads it (a cancel: who and when)."""
    reports.put_bytes(backtest_failure_key(run_id), json.dumps({"date": None, "reason": reason}).encode())


def request_fields(run_input: object) -> Mapping[str, Any]:
    """The request of a run's input (empty when it has none)."""
    if isinstance(run_input, Mapping) and isinstance(run_input.get("request"), Mapping):
        return dict(run_input["request"])
    return {}


def stamp(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None
