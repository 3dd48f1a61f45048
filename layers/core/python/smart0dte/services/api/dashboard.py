"""The dashboard's page (P&L, controls, positions, recent signals, market status) and the health of
each component."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field

from smart0dte.domain.calendar import NEW_YORK, MarketPhase
from smart0dte.domain.models import TradingMode, Underlying
from smart0dte.domain.portfolio import cents
from smart0dte.ports import account_refusal, session_date_of
from smart0dte.ports.api import ApiStore
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import (
    ControlsOut,
    MarketStatus,
    PositionOut,
    SignalOut,
    Wire,
    controls_out,
    market_status,
    marks,
    position_out,
    signals_out,
)
from smart0dte.services.live_arming import HEARTBEAT_FRESH

RECENT_SIGNALS = 20
FEED_FRESH = timedelta(minutes=2)
FEED_STALE = timedelta(minutes=5)


class Status(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    GRAY = "gray"


class ComponentHealth(Wire):
    name: str
    status: Status
    reason: str


class HealthResponse(Wire):
    status: Status
    checked_at: datetime
    mode: TradingMode
    components: list[ComponentHealth]


class CountersOut(Wire):
    session_date: date
    day_trades: int
    trades: int
    realized_pnl_usd: str = Field(description="the session's closed trades, net of commissions")
    commissions_usd: str = Field(description="the commissions of the session's closed trades")
    realized_gross_pnl_usd: str = Field(description="the session's closed trades before commissions")


class DashboardResponse(Wire):
    mode: TradingMode
    settings: dict[str, Any]
    controls: ControlsOut
    counters: CountersOut
    open_positions: list[PositionOut]
    unrealized_pnl_usd: str = Field(description="open positions at the mid, before commissions")
    recent_signals: list[SignalOut]
    market: MarketStatus


def _age_status(age: timedelta) -> Status:
    return Status.GREEN if age <= FEED_FRESH else Status.YELLOW if age <= FEED_STALE else Status.RED


def _feed_health(store: ApiStore | None, at: datetime, trading: bool, phase: MarketPhase) -> ComponentHealth:
    """The age of each underlying's newest bar while the market trades; the worst one counts."""
    if store is None:
        return ComponentHealth(name="dataFeed", status=Status.GRAY, reason="no state store")
    if not trading:
        return ComponentHealth(
            name="dataFeed", status=Status.GRAY, reason=f"market {phase.value}: no feed expected"
        )
    parts, statuses = [], []
    for underlying in (Underlying.SPY, Underlying.QQQ, Underlying.IWM):
        bars = store.list_bars(underlying.value, session_date_of(at), latest_only=True)
        latest = max((b.ts + timedelta(seconds=b.interval_s) for b in bars), default=None)
        if latest is None:
            statuses.append(Status.RED)
            parts.append(f"{underlying.value}: no bar this session")
        else:
            statuses.append(_age_status(at - latest))
            parts.append(f"{underlying.value}: last bar closed {int((at - latest).total_seconds())} s ago")
    worst = min(statuses, key=[Status.RED, Status.YELLOW, Status.GREEN].index)
    return ComponentHealth(name="dataFeed", status=worst, reason="; ".join(parts))


def _engine_health(store: ApiStore, at: datetime, trading: bool) -> ComponentHealth:
    """Automation on: how long ago the trading cycle last handled a minute."""
    last = store.last_engine_minute(session_date_of(at))
    if last is None:
        status = Status.RED if trading else Status.GRAY
        return ComponentHealth(name="signalEngine", status=status, reason="no trading cycle this session")
    age = at - last
    reason = f"last trading cycle handled {last.astimezone(NEW_YORK):%H:%M} ET"
    if not trading:
        return ComponentHealth(name="signalEngine", status=Status.GRAY, reason=f"market closed; {reason}")
    return ComponentHealth(
        name="signalEngine", status=_age_status(age), reason=f"{reason}, {int(age.total_seconds())} s ago"
    )


def _broker_health(store: ApiStore | None, at: datetime) -> ComponentHealth:
    """Paper trades with the simulated broker; ibkr_paper and live need the gateway's fresh heartbeat
    from an account that fits the mode (an IB paper account for ibkr_paper, a real one for live)."""
    if store is None:
        return ComponentHealth(name="broker", status=Status.GRAY, reason="no state store")
    mode = store.mode
    if not mode.uses_broker:
        return ComponentHealth(name="broker", status=Status.GREEN, reason="paper mode: simulated broker")
    gateway = store.get_gateway_status()
    if gateway is None:
        return ComponentHealth(
            name="broker", status=Status.RED, reason=f"{mode.value} mode: no gateway heartbeat"
        )
    age_s = int((at - gateway.heartbeat_at).total_seconds())
    account = gateway.account.account_id if gateway.account else "no account"
    refusal = None if gateway.account is None else account_refusal(mode, gateway.account.account_id)
    if not gateway.connected:
        status, why = Status.RED, f"IB Gateway disconnected ({gateway.detail or 'no detail'})"
    elif at - gateway.heartbeat_at > HEARTBEAT_FRESH:
        status, why = Status.RED, "gateway heartbeat is stale"
    elif refusal is not None:
        status, why = Status.RED, refusal
    else:
        status, why = Status.GREEN, f"IB Gateway connected on port {gateway.port}, {account}"
    return ComponentHealth(name="broker", status=status, reason=f"{why}; heartbeat {age_s} s ago")


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]
    deps = api.deps

    @router.get("/api/health", summary="Component status: green / yellow / red / gray, with reasons")
    def health() -> HealthResponse:
        at = api.now()
        phase = deps.calendar.phase(at)
        trading = phase is MarketPhase.TRADING
        components: list[ComponentHealth] = []
        store: ApiStore | None
        try:
            store = deps.store
            state = store.get_control_state(session_date_of(at))
            controls, settings = state.controls, state.settings
            components.append(
                ComponentHealth(name="system", status=Status.GREEN, reason="state store reachable")
            )
        except Exception as exc:  # health reports, it does not fail
            components.append(
                ComponentHealth(
                    name="system", status=Status.RED, reason=f"state store unreachable ({type(exc).__name__})"
                )
            )
            controls, settings, store = None, None, None
        components.append(_feed_health(store, at, trading, phase))
        mode = store.mode if store is not None else TradingMode.PAPER
        components.append(_broker_health(store, at))
        if store is None or controls is None or settings is None:
            components.append(
                ComponentHealth(name="signalEngine", status=Status.GRAY, reason="no state store")
            )
        elif controls.emergency_stop:
            components.append(
                ComponentHealth(name="signalEngine", status=Status.RED, reason="emergency stop is active")
            )
        elif controls.paused:
            components.append(
                ComponentHealth(name="signalEngine", status=Status.YELLOW, reason="trading paused")
            )
        elif not settings.master_switch:
            components.append(
                ComponentHealth(name="signalEngine", status=Status.YELLOW, reason="master switch off")
            )
        elif not settings.signal_generation:
            components.append(
                ComponentHealth(name="signalEngine", status=Status.YELLOW, reason="signal generation off")
            )
        else:
            components.append(_engine_health(store, at, trading))
        market = {
            MarketPhase.TRADING: Status.GREEN,
            MarketPhase.PRE_MARKET: Status.YELLOW,
            MarketPhase.AFTER_HOURS: Status.YELLOW,
        }.get(phase, Status.GRAY)
        components.append(ComponentHealth(name="marketHours", status=market, reason=f"phase {phase.value}"))
        order = [Status.RED, Status.YELLOW, Status.GREEN, Status.GRAY]
        worst = min((c.status for c in components), key=order.index)
        overall = Status.GREEN if worst is Status.GRAY else worst
        return HealthResponse(status=overall, checked_at=at, mode=mode, components=components)

    @router.get("/api/dashboard", summary="P&L, automation status, positions, recent signals, market status")
    def dashboard() -> DashboardResponse:
        store = deps.store
        day = api.today()
        positions = store.list_open_positions()
        mark_by_symbol = marks(deps.store, positions, api.now())
        out = [position_out(p, mark_by_symbol.get(p.contract.occ_symbol)) for p in positions]
        unrealized = sum(
            (Decimal(p.unrealized_pnl_usd) for p in out if p.unrealized_pnl_usd), Decimal("0.00")
        )
        state = store.get_control_state(day)
        counters = state.counters
        return DashboardResponse(
            mode=store.mode,
            settings=state.settings.to_wire(),
            controls=controls_out(state.controls),
            counters=CountersOut(
                session_date=day,
                day_trades=counters.day_trades,
                trades=counters.trades,
                realized_pnl_usd=str(counters.realized_pnl_usd),
                commissions_usd=str(counters.commissions_usd),
                realized_gross_pnl_usd=str(counters.realized_pnl_usd + counters.commissions_usd),
            ),
            open_positions=out,
            unrealized_pnl_usd=str(cents(unrealized)),
            recent_signals=signals_out(deps.store, day, RECENT_SIGNALS),
            market=market_status(deps.calendar, api.now()),
        )

    return router
