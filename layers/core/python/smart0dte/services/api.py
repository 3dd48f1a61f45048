"""The HTTP API behind the dashboard: a Powertools APIGatewayHttpResolver (HTTP API payload v2)
with pydantic validation and a generated OpenAPI document.

Identity and scopes come from the JWT claims API Gateway's authorizer (Cognito in AWS, the
local server's HS256 check locally) put in `requestContext.authorizer.jwt`. Every route but
`/api/health` and `/api/openapi.json` needs claims (401 without); GETs need the `read` or
`trade` scope, POSTs `trade` (403 otherwise). Every change is audited with the caller as actor,
through the store's audited writes or an AuditRecord appended here.

Nothing here touches AWS directly: the store, the clock and the backtest runner are injected.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, Protocol, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import AliasGenerator, BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.alias_generators import to_camel

from smart0dte.domain.aggregation import mid_bars
from smart0dte.domain.analytics import performance
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar, MarketPhase
from smart0dte.domain.chain_analytics import PricingInputs, QuoteFlag, analyze_snapshot
from smart0dte.domain.controls import AutomationSettings, RiskLimits, TradingState
from smart0dte.domain.models import (
    Bar,
    ChainSnapshot,
    DomainError,
    OptionContract,
    Position,
    PositionStatus,
    Signal,
    TradingMode,
    Underlying,
)
from smart0dte.domain.portfolio import ClosedTrade, cents
from smart0dte.domain.strategies import STRATEGIES
from smart0dte.ports import (
    RESET_SCOPES,
    AuditRecord,
    AuditRecordExists,
    Clock,
    ConcurrentUpdate,
    ControlState,
    ObjectStore,
    RecordNotFound,
    ResetScope,
    RiskDecision,
    ScheduleReader,
    StateStore,
    TradingControls,
    session_date_of,
)
from smart0dte.resources import BACKTESTS_PREFIX, SCHEDULES, optimization_key, reset_report_prefixes
from smart0dte.services.events import BacktestRequestWire
from smart0dte.services.events import request_id as backtest_request_id
from smart0dte.services.live_arming import (
    HEARTBEAT_FRESH,
    LIVE_TRADING_ENABLED,
    Check,
    Idle,
    limits_fingerprint,
    live_arming_checks,
    paper_restore_checks,
)

READ_SCOPE = "read"
TRADE_SCOPE = "trade"
PUBLIC_PATHS = frozenset({"/api/health", "/api/openapi.json"})
BAR_INTERVALS = {"1m": 1, "2m": 2, "5m": 5, "15m": 15, "30m": 30}
TIMEFRAMES = {"1d": 1, "1w": 7, "1m": 31, "3m": 92, "6m": 183, "1y": 366, "all": None}
STARTING_EQUITY_USD = Decimal("100000")
RECENT_SIGNALS = 20
FEED_FRESH = timedelta(minutes=2)
FEED_STALE = timedelta(minutes=5)
API_TITLE = "Smart 0DTE API"


_Doc = TypeVar("_Doc", AutomationSettings, RiskLimits)


# --- injected collaborators ---------------------------------------------------------------


class ApiStore(StateStore, Protocol):
    """The StateStore plus what DynamoState offers the API: closed positions for analytics, reset,
    and the store of the other mode's records (the mode switch)."""

    def list_positions(
        self, status: PositionStatus, opened_since: datetime | None = None
    ) -> list[Position]: ...

    def reset(self, scope: ResetScope, actor: str, reason: str, at: datetime) -> dict[str, int]: ...

    def get_control_state(self, session_date: date) -> ControlState: ...

    def list_signal_decisions(self, session_date: date) -> list[tuple[Signal, RiskDecision | None]]: ...

    def list_chain_snapshots(self, underlying: Underlying, at_or_before: datetime) -> list[ChainSnapshot]: ...

    def last_engine_minute(self, session_date: date) -> datetime | None: ...

    def list_bars(self, symbol: str, session_date: date, latest_only: bool = False) -> list[Bar]: ...

    def for_mode(self, mode: TradingMode) -> ApiStore: ...


class BacktestRunner(Protocol):
    """Starts the backtest workflow and reports on it (Step Functions in AWS)."""

    def start(self, request: Mapping[str, object]) -> str:
        """Start a run; returns the id to poll."""
        ...

    def status(self, run_id: str) -> Mapping[str, object] | None:
        """{"status", "input", "output", "error", "cause"} of a run, None when the id is unknown."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


ACTIVE_MODE_TTL_S: Final = 5.0
"""How long one API container trusts the active mode it read; the emergency stop halts both modes,
so a container a few seconds behind a switch still stops everything."""


@dataclass
class ApiDeps:
    """What the API needs; `store_factory` is called once, on first use (no AWS at import). Routes
    use the store of the active mode (`store`), re-read every ACTIVE_MODE_TTL_S."""

    store_factory: Callable[[], ApiStore]
    clock: Clock = field(default_factory=SystemClock)
    calendar: MarketCalendar = field(default_factory=MarketCalendar)
    backtests: BacktestRunner | None = None
    reports: ObjectStore | None = None
    """The reports bucket (optimization results); None where there is none."""
    pricing: PricingInputs = field(default_factory=PricingInputs)
    schedules: ScheduleReader | None = None
    """The stage's schedule group; None where it cannot be read (the status then says so)."""
    live_trading: str | None = None
    """SMART0DTE_LIVE_TRADING of the deployment: `enabled` allows arming live (after every check)."""
    _base: ApiStore | None = None
    _active: tuple[TradingMode, float] | None = None

    @property
    def base_store(self) -> ApiStore:
        if self._base is None:
            self._base = self.store_factory()
        return self._base

    @property
    def store(self) -> ApiStore:
        """The store of the active mode's records."""
        at = time.monotonic()
        if self._active is None or at - self._active[1] > ACTIVE_MODE_TTL_S:
            self._active = (self.base_store.get_active_mode().mode, at)
        return self.base_store.for_mode(self._active[0])

    def mode_switched(self, mode: TradingMode) -> None:
        self._active = (mode, time.monotonic())


# --- wire models ---------------------------------------------------------------------------


class Wire(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        populate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
    )


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


class ControlChangeOut(Wire):
    actor: str
    reason: str
    at: datetime


class ControlsOut(Wire):
    emergency_stop: bool
    paused: bool
    trading_state: TradingState
    state_reason: str
    emergency_stop_change: ControlChangeOut | None = None
    pause_change: ControlChangeOut | None = None
    state_change: ControlChangeOut | None = None


class PositionOut(Wire):
    position_id: str
    contract: str
    underlying: str
    right: str
    strike: float
    expiry: date
    quantity: int
    entry_price: str
    opened_at: datetime
    strategy: str
    status: PositionStatus
    stop_loss_price: str | None = None
    take_profit_price: str | None = None
    exit_price: str | None = None
    closed_at: datetime | None = None
    exit_reason: str | None = None
    mark_price: float | None = None
    unrealized_pnl_usd: str | None = None


class RiskDecisionOut(Wire):
    approved: bool
    trading_state: TradingState
    quantity: int
    violations: list[str]


class SignalOut(Wire):
    signal_id: str
    ts: datetime
    underlying: str
    direction: str
    strategy: str
    confidence: float
    rationale: str
    target_delta: float | None = None
    contract: str | None = None
    risk: RiskDecisionOut | None = None


class CountersOut(Wire):
    session_date: date
    day_trades: int
    trades: int
    realized_pnl_usd: str


class MarketStatus(Wire):
    now: datetime
    now_et: str
    phase: MarketPhase
    is_session: bool
    session_date: date
    open_et: datetime | None = None
    close_et: datetime | None = None
    flatten_et: datetime | None = None
    early_close: bool = False
    next_event: str
    next_event_at: datetime
    seconds_to_next_event: int


class DashboardResponse(Wire):
    mode: TradingMode
    settings: dict[str, Any]
    controls: ControlsOut
    counters: CountersOut
    open_positions: list[PositionOut]
    unrealized_pnl_usd: str
    recent_signals: list[SignalOut]
    market: MarketStatus


class WorkingOrderOut(Wire):
    order_id: str
    intent_id: str
    contract: str
    side: str
    quantity: int
    filled_quantity: int
    order_type: str
    limit_price: str | None
    status: str
    created_at: datetime
    reason: str


class TradingResponse(Wire):
    mode: TradingMode
    settings: dict[str, Any]
    risk_limits: dict[str, Any]
    controls: ControlsOut
    open_positions: list[PositionOut]
    working_orders: list[WorkingOrderOut]


class ReasonBody(Wire):
    reason: str = Field(min_length=1, max_length=500)


class ControlsResponse(Wire):
    mode: TradingMode
    controls: ControlsOut


class SettingsResponse(Wire):
    mode: TradingMode
    settings: dict[str, Any]


class RiskLimitsResponse(Wire):
    mode: TradingMode
    risk_limits: dict[str, Any]


def _partial_model(name: str, whole: type[BaseModel]) -> type[BaseModel]:
    """Any subset of `whole`'s fields, camelCase, each with its own limits."""
    fields: dict[str, Any] = {
        field_name: (_optional(info.annotation), Field(default=None, **_constraints(info)))
        for field_name, info in whole.model_fields.items()
    }
    return create_model(
        name,
        __config__=ConfigDict(
            extra="forbid",
            populate_by_name=True,
            alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
        ),
        **fields,
    )


def _optional(annotation: Any) -> Any:
    return annotation | None


def _constraints(info: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for meta in info.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            value = getattr(meta, attr, None)
            if value is not None:
                out[attr] = value
    return out


AutomationSettingsPatch = _partial_model("AutomationSettingsPatch", AutomationSettings)
RiskLimitsPatch = _partial_model("RiskLimitsPatch", RiskLimits)


class StrikeRow(Wire):
    contract: str
    right: str
    strike: float
    bid: float
    ask: float
    bid_size: int
    ask_size: int
    volume: int
    """Traded volume is not in the snapshot: bid size + ask size (displayed liquidity) stands in."""
    volume_source: Literal["displayed_size"] = "displayed_size"
    mid: float | None
    iv: float | None
    delta: float | None
    gamma: float | None
    theta_per_minute: float | None
    vega: float | None
    rho: float | None
    usable: bool
    quote_flag: str
    early_exercise_risk: bool
    """An in-the-money call on an ex-dividend day: American early exercise; never selected."""
    selectable: bool
    """Usable and free of early-exercise risk: what contract selection may choose."""


class StrikesResponse(Wire):
    symbol: str
    ts: datetime
    expiry: date
    underlying_price: float
    minutes_to_expiry: float
    rows: list[StrikeRow]


class BarOut(Wire):
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int


class BarsResponse(Wire):
    symbol: str
    interval: str
    session_date: date
    source: Literal["trades", "chain_mid"]
    """Underlyings: traded bars. Options: the mid of each minute's chain snapshot (volume 0)."""
    bars: list[BarOut]


class TradeStatsOut(Wire):
    trades: int
    win_rate: float | None
    profit_factor: float | None
    expectancy_usd: float | None
    average_win_usd: float | None
    average_loss_usd: float | None
    net_pnl_usd: float


class EquityPoint(Wire):
    session_date: date
    equity_usd: float
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
    seed: int = Field(default=7, ge=0, le=2**31 - 1)
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


class ScheduleOut(Wire):
    name: str
    cron: str
    timezone: str
    target: str


class DeployedScheduleOut(Wire):
    name: str
    expression: str
    timezone: str
    target: str
    state: str
    mode: str | None


class SchedulerStatus(Wire):
    session_date: date
    is_session: bool
    recurring: list[ScheduleOut]
    """What resources.py declares (CDK deploys these)."""
    today: list[dict[str, Any]]
    """Today's session-bound times from the calendar (pre_market creates flatten and post_close)."""
    deployed: list[DeployedScheduleOut] | None
    """What EventBridge Scheduler holds now, including today's one-time schedules; None: not readable."""
    note: str | None = None


class AuditOut(Wire):
    ts: datetime
    actor: str
    action: str
    reason: str
    details: dict[str, Any]


class AuditResponse(Wire):
    session_date: date
    records: list[AuditOut]


class ResetBody(Wire):
    scope: Literal["positions", "signals", "analytics", "all"]
    confirm: Literal["RESET"]


class ResetResponse(Wire):
    scope: str
    deleted: dict[str, int]


class ModeBody(Wire):
    mode: TradingMode
    confirm: str | None = Field(default=None, max_length=16, description='"LIVE" to arm live trading')
    account: str | None = Field(
        default=None, max_length=32, description="the IB account id the gateway is logged in to, typed back"
    )
    limits_fingerprint: str | None = Field(
        default=None,
        max_length=64,
        description="the fingerprint of the settings and limits reviewed (GET /api/trading/mode)",
    )
    reason: str = Field(default="requested from the dashboard", min_length=1, max_length=500)


class CheckOut(Wire):
    name: str
    met: bool
    detail: str


class ModeResponse(Wire):
    mode: TradingMode
    changed: bool
    unmet: list[str] = []
    checks: list[CheckOut] = []


class ModeStatusResponse(Wire):
    mode: TradingMode
    changed_by: str | None
    changed_at: datetime | None
    reason: str | None
    live_trading_enabled: bool
    limits_fingerprint: str
    """Of the active mode's settings and limits: what arming live would carry over."""
    switch_to: TradingMode
    checks: list[CheckOut]
    """The switch to `switch_to` as things stand (confirmation, account and fingerprint not given)."""


class ClosePositionResponse(Wire):
    position: PositionOut
    status: Literal["closed", "close_requested"]
    """Paper closes at the bid now; live asks the engine, which sends the exit to the broker at the
    next minute end."""
    exit_price: str | None = None
    realized_pnl_usd: str | None = None


# --- helpers -------------------------------------------------------------------------------


class ApiError(Exception):
    """An error with its HTTP status; the message says what was wrong and what would be right."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


def _finite(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _controls_out(c: TradingControls) -> ControlsOut:
    def change(ch: Any) -> ControlChangeOut | None:
        return None if ch is None else ControlChangeOut(actor=ch.actor, reason=ch.reason, at=ch.at)

    return ControlsOut(
        emergency_stop=c.emergency_stop,
        paused=c.paused,
        trading_state=c.trading_state,
        state_reason=c.state_reason,
        emergency_stop_change=change(c.emergency_stop_change),
        pause_change=change(c.pause_change),
        state_change=change(c.state_change),
    )


def _money(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def _position_out(p: Position, mark: float | None = None) -> PositionOut:
    unrealized = None
    if mark is not None and p.status is not PositionStatus.CLOSED:
        unrealized = str(p.pnl_usd(cents(Decimal(str(mark)))))
    return PositionOut(
        position_id=p.position_id,
        contract=p.contract.occ_symbol,
        underlying=p.contract.root,
        right=p.contract.right.value,
        strike=p.contract.strike,
        expiry=p.contract.expiry,
        quantity=p.quantity,
        entry_price=str(p.entry_price),
        opened_at=p.opened_at,
        strategy=p.strategy,
        status=p.status,
        stop_loss_price=_money(p.stop_loss_price),
        take_profit_price=_money(p.take_profit_price),
        exit_price=_money(p.exit_price),
        closed_at=p.closed_at,
        exit_reason=p.exit_reason,
        mark_price=mark,
        unrealized_pnl_usd=unrealized,
    )


def _underlying(symbol: str) -> Underlying:
    try:
        u = Underlying(symbol.upper())
    except ValueError:
        u = None
    if u is None or not u.is_tradable:
        allowed = ", ".join(x.value for x in Underlying.tradable())
        raise ApiError(422, f"symbol={symbol!r} must be one of {allowed}", field="symbol")
    return u


def _parse_date(text: str | None, today: date, name: str = "date") -> date:
    if not text:
        return today
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(422, f"{name}={text!r} must be a date YYYY-MM-DD", field=name) from None


def resample(bars: Sequence[Bar], minutes: int) -> list[BarOut]:
    """1-minute bars into `minutes`-minute bars aligned on New York clock time (09:30 + k*n)."""
    out: list[BarOut] = []
    current_key: int | None = None
    for bar in sorted(bars, key=lambda b: b.ts):
        local = bar.ts.astimezone(NEW_YORK)
        minute_of_day = local.hour * 60 + local.minute
        key = minute_of_day // minutes
        if key != current_key or not out:
            start = local.replace(
                hour=key * minutes // 60, minute=key * minutes % 60, second=0, microsecond=0
            )
            out.append(
                BarOut(
                    ts=start.astimezone(UTC),
                    open=bar.open,
                    high=bar.high,
                    low=bar.low,
                    close=bar.close,
                    volume=bar.volume,
                )
            )
            current_key = key
        else:
            last = out[-1]
            last.high = max(last.high, bar.high)
            last.low = min(last.low, bar.low)
            last.close = bar.close
            last.volume += bar.volume
    return out


def _closed_trade(p: Position) -> ClosedTrade | None:
    if p.exit_price is None or p.closed_at is None:
        return None
    return ClosedTrade(
        position_id=p.position_id,
        contract=p.contract,
        strategy=p.strategy,
        quantity=p.quantity,
        entry_ts=p.opened_at,
        entry_price=p.entry_price,
        exit_ts=p.closed_at,
        exit_price=p.exit_price,
        exit_reason=p.exit_reason or "",
        commissions_usd=Decimal("0.00"),
        pnl_usd=p.pnl_usd(p.exit_price),
    )


def _stats_out(s: Any) -> TradeStatsOut:
    return TradeStatsOut(
        trades=s.trades,
        win_rate=s.win_rate,
        profit_factor=s.profit_factor,
        expectancy_usd=s.expectancy_usd,
        average_win_usd=s.average_win_usd,
        average_loss_usd=s.average_loss_usd,
        net_pnl_usd=s.net_pnl_usd,
    )


def _scopes(claims: Mapping[str, Any], jwt: Mapping[str, Any]) -> set[str]:
    """Scopes from the authorizer's list and the token's space-separated `scope` claim; a
    Cognito resource-server scope `smart0dte/trade` counts as `trade`."""
    raw: list[str] = list(jwt.get("scopes") or [])
    scope_claim = claims.get("scope")
    if isinstance(scope_claim, str):
        raw += scope_claim.split()
    return {s.rsplit("/", 1)[-1] for s in raw if s}


def _identity(claims: Mapping[str, Any]) -> str | None:
    for name in ("email", "cognito:username", "username", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _error(status: int, message: str, **extra: object) -> Response[Any]:
    return Response(
        status_code=status,
        content_type="application/json",
        body={"statusCode": status, "message": message, **extra},
    )


# --- the application -----------------------------------------------------------------------


class ApiResolver(APIGatewayHttpResolver):
    """Checks the caller before anything else (request validation included), so a request
    without claims gets 401, not a 422 about its body."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        denied = authorize(event)
        if isinstance(denied, Response):
            return _v2_response(denied)
        unsupported = _unsupported_media(event)
        if unsupported is not None:
            return _v2_response(unsupported)
        self.append_context(actor=denied)  # type: ignore[no-untyped-call]
        try:
            return super().resolve(event, context)
        finally:
            self.clear_context()  # type: ignore[no-untyped-call]


def _v2_response(response: Response[Any]) -> dict[str, Any]:
    import json

    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(response.body, separators=(",", ":")),
        "isBase64Encoded": False,
        "cookies": [],
    }


def authorize(event: Mapping[str, Any]) -> str | Response[Any]:
    """The caller's actor name, or the 401/403 response. Public paths pass as 'anonymous'."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    path = str(event.get("rawPath") or http.get("path") or "")
    if path in PUBLIC_PATHS or not path.startswith("/api/"):
        return "anonymous"
    jwt = (context.get("authorizer") or {}).get("jwt") or {}
    claims = jwt.get("claims") or {}
    identity = _identity(claims)
    if not claims or identity is None:
        return _error(401, "missing or invalid bearer token: send Authorization: Bearer <JWT>")
    scopes = _scopes(claims, jwt)
    method = str(http.get("method") or "GET").upper()
    needed = READ_SCOPE if method in ("GET", "HEAD", "OPTIONS") else TRADE_SCOPE
    if needed not in scopes and not (needed == READ_SCOPE and TRADE_SCOPE in scopes):
        return _error(
            403,
            f"{method} {path} needs scope {needed!r}; the token has {sorted(scopes) or 'none'}",
            requiredScope=needed,
        )
    return f"user:{identity}"


def _unsupported_media(event: Mapping[str, Any]) -> Response[Any] | None:
    """Bodies are JSON only; anything else is 415 before the validator tries to parse it."""
    if not event.get("body"):
        return None
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        return _error(415, f"Content-Type {content_type!r} is not supported: send application/json")
    if event.get("isBase64Encoded"):
        import base64
        import binascii

        try:
            base64.b64decode(str(event["body"])).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _error(400, "body must be UTF-8 encoded JSON")
    return None


def _validation_detail(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Each error with its field path, message and limit (pydantic's ctx, as text)."""
    out = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ())]
        ctx = {
            k: (v if isinstance(v, int | float | str | bool) else str(v))
            for k, v in (e.get("ctx") or {}).items()
        }
        field_name = ".".join(x for x in loc if x not in ("body", "query", "path"))
        message = e.get("msg") or e.get("type", "invalid")
        out.append({"loc": loc, "field": field_name, "type": e.get("type"), "msg": message, "ctx": ctx})
    return out


def build_app(deps: ApiDeps) -> ApiResolver:
    app = ApiResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(exc: RequestValidationError) -> Response[Any]:
        detail = _validation_detail(exc.errors())
        summary = "; ".join(f"{d['field'] or 'body'}: {d['msg']}" for d in detail)
        return _error(422, f"invalid request: {summary}", detail=detail)

    def actor() -> str:
        return str(app.context.get("actor", "user:unknown"))

    @app.exception_handler(ApiError)  # type: ignore[untyped-decorator]
    def _api_error(exc: ApiError) -> Response[Any]:
        return _error(exc.status, str(exc), **exc.extra)

    @app.exception_handler(RecordNotFound)  # type: ignore[untyped-decorator]
    def _not_found(exc: RecordNotFound) -> Response[Any]:
        return _error(404, str(exc))

    @app.exception_handler(AuditRecordExists)  # type: ignore[untyped-decorator]
    def _duplicate(exc: AuditRecordExists) -> Response[Any]:
        return _error(409, f"the same action was already recorded at this instant: {exc}")

    @app.exception_handler(ConcurrentUpdate)  # type: ignore[untyped-decorator]
    def _conflict(exc: ConcurrentUpdate) -> Response[Any]:
        return _error(409, str(exc))

    @app.exception_handler(DomainError)  # type: ignore[untyped-decorator]
    def _domain(exc: DomainError) -> Response[Any]:
        return _error(409, str(exc))

    def now() -> datetime:
        return deps.clock.now()

    def today() -> date:
        return session_date_of(now())

    def audit(action: str, reason: str, details: Mapping[str, object] | None = None) -> None:
        store = deps.store
        request_id = str((app.current_event.get("requestContext") or {}).get("requestId") or uuid.uuid4())
        record = AuditRecord(
            now(), store.mode, actor(), action, reason, {**(details or {}), "requestId": request_id}
        )
        store.audit.append(record)

    # market status --------------------------------------------------------------------------

    def market_status() -> MarketStatus:
        at = now()
        local = at.astimezone(NEW_YORK)
        day = local.date()
        session = deps.calendar.session(day)
        phase = deps.calendar.phase(at)
        if session is not None and at < session.open_et:
            event, event_at = "open", session.open_et
        elif session is not None and at < session.close_et:
            event, event_at = "close", session.close_et
        else:
            nxt = deps.calendar.session(deps.calendar.next_session(day))
            assert nxt is not None
            event, event_at = "open", nxt.open_et
        return MarketStatus(
            now=at,
            now_et=local.isoformat(),
            phase=phase,
            is_session=session is not None,
            session_date=day,
            open_et=session.open_et if session else None,
            close_et=session.close_et if session else None,
            flatten_et=session.flatten_et if session else None,
            early_close=session.early_close if session else False,
            next_event=event,
            next_event_at=event_at,
            seconds_to_next_event=max(0, int((event_at - at).total_seconds())),
        )

    def signals_out(day: date, limit: int | None = None) -> list[SignalOut]:
        pairs = deps.store.list_signal_decisions(day)
        if limit is not None:
            pairs = pairs[:limit]
        out = []
        for s, d in pairs:
            risk = (
                None
                if d is None
                else RiskDecisionOut(
                    approved=d.verdict.approved,
                    trading_state=d.verdict.trading_state,
                    quantity=d.quantity,
                    violations=[str(v) for v in d.verdict.violations],
                )
            )
            out.append(
                SignalOut(
                    signal_id=s.signal_id,
                    ts=s.ts,
                    underlying=s.underlying.value,
                    direction=s.direction.value,
                    strategy=s.strategy,
                    confidence=s.confidence,
                    rationale=s.rationale,
                    target_delta=s.target_delta,
                    contract=s.contract.occ_symbol if s.contract else None,
                    risk=risk,
                )
            )
        return out

    def marks(positions: Sequence[Position]) -> dict[str, float]:
        """Mid of each open contract in its underlying's latest chain snapshot."""
        out: dict[str, float] = {}
        at = now()
        for underlying in {p.contract.underlying for p in positions}:
            if underlying is None:
                continue
            snap = deps.store.latest_chain_snapshot(underlying, at)
            if snap is None:
                continue
            for p in positions:
                q = snap.quote_for(p.contract)
                if q is not None and q.is_usable:
                    out[p.contract.occ_symbol] = q.mid
        return out

    # health ---------------------------------------------------------------------------------

    def age_status(age: timedelta) -> Status:
        return Status.GREEN if age <= FEED_FRESH else Status.YELLOW if age <= FEED_STALE else Status.RED

    def feed_health(
        store: ApiStore | None, at: datetime, trading: bool, phase: MarketPhase
    ) -> ComponentHealth:
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
                statuses.append(age_status(at - latest))
                parts.append(
                    f"{underlying.value}: last bar closed {int((at - latest).total_seconds())} s ago"
                )
        worst = min(statuses, key=[Status.RED, Status.YELLOW, Status.GREEN].index)
        return ComponentHealth(name="dataFeed", status=worst, reason="; ".join(parts))

    def engine_health(store: ApiStore, at: datetime, trading: bool) -> ComponentHealth:
        """Automation on: how long ago the trading cycle last handled a minute."""
        last = store.last_engine_minute(session_date_of(at))
        if last is None:
            status = Status.RED if trading else Status.GRAY
            return ComponentHealth(name="signalEngine", status=status, reason="no trading cycle this session")
        age = at - last
        reason = f"last trading cycle handled {last.astimezone(NEW_YORK):%H:%M} New York"
        if not trading:
            return ComponentHealth(name="signalEngine", status=Status.GRAY, reason=f"market closed; {reason}")
        return ComponentHealth(
            name="signalEngine", status=age_status(age), reason=f"{reason}, {int(age.total_seconds())} s ago"
        )

    def broker_health(store: ApiStore | None, at: datetime) -> ComponentHealth:
        """Paper trades with the simulated broker; live needs the gateway's fresh heartbeat."""
        if store is None:
            return ComponentHealth(name="broker", status=Status.GRAY, reason="no state store")
        if store.mode is TradingMode.PAPER:
            return ComponentHealth(name="broker", status=Status.GREEN, reason="paper mode: simulated broker")
        gateway = store.get_gateway_status()
        if gateway is None:
            return ComponentHealth(name="broker", status=Status.RED, reason="live mode: no gateway heartbeat")
        age_s = int((at - gateway.heartbeat_at).total_seconds())
        account = gateway.account.account_id if gateway.account else "no account"
        if not gateway.connected:
            status, why = Status.RED, f"IB Gateway disconnected ({gateway.detail or 'no detail'})"
        elif at - gateway.heartbeat_at > HEARTBEAT_FRESH:
            status, why = Status.RED, "gateway heartbeat is stale"
        else:
            status, why = Status.GREEN, f"IB Gateway connected on port {gateway.port}, {account}"
        return ComponentHealth(name="broker", status=status, reason=f"{why}; heartbeat {age_s} s ago")

    @app.get("/api/health", summary="Component status: green / yellow / red / gray, with reasons")
    def health() -> HealthResponse:
        at = now()
        phase = deps.calendar.phase(at)
        trading = phase is MarketPhase.TRADING
        components: list[ComponentHealth] = []
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
        components.append(feed_health(store, at, trading, phase))
        mode = store.mode if store is not None else TradingMode.PAPER
        components.append(broker_health(store, at))
        if controls is None or settings is None:
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
            components.append(engine_health(store, at, trading))
        market_status = {
            MarketPhase.TRADING: Status.GREEN,
            MarketPhase.PRE_MARKET: Status.YELLOW,
            MarketPhase.AFTER_HOURS: Status.YELLOW,
        }.get(phase, Status.GRAY)
        components.append(
            ComponentHealth(name="marketHours", status=market_status, reason=f"phase {phase.value}")
        )
        order = [Status.RED, Status.YELLOW, Status.GREEN, Status.GRAY]
        worst = min((c.status for c in components), key=order.index)
        overall = Status.GREEN if worst is Status.GRAY else worst
        return HealthResponse(status=overall, checked_at=at, mode=mode, components=components)

    @app.get("/api/openapi.json", summary="This API's OpenAPI document", include_in_schema=False)
    def openapi() -> Response[Any]:
        return Response(200, "application/json", app.get_openapi_json_schema(title=API_TITLE))

    # dashboard and trading ------------------------------------------------------------------

    @app.get("/api/dashboard", summary="P&L, automation status, positions, recent signals, market status")
    def dashboard() -> DashboardResponse:
        store = deps.store
        day = today()
        positions = store.list_open_positions()
        mark_by_symbol = marks(positions)
        out = [_position_out(p, mark_by_symbol.get(p.contract.occ_symbol)) for p in positions]
        unrealized = sum(
            (Decimal(p.unrealized_pnl_usd) for p in out if p.unrealized_pnl_usd), Decimal("0.00")
        )
        state = store.get_control_state(day)
        counters = state.counters
        return DashboardResponse(
            mode=store.mode,
            settings=state.settings.to_wire(),
            controls=_controls_out(state.controls),
            counters=CountersOut(
                session_date=day,
                day_trades=counters.day_trades,
                trades=counters.trades,
                realized_pnl_usd=str(counters.realized_pnl_usd),
            ),
            open_positions=out,
            unrealized_pnl_usd=str(cents(unrealized)),
            recent_signals=signals_out(day, RECENT_SIGNALS),
            market=market_status(),
        )

    @app.get("/api/trading", summary="Controls, settings, limits, open positions and working orders")
    def trading() -> TradingResponse:
        store = deps.store
        positions = store.list_open_positions()
        mark_by_symbol = marks(positions)
        state = store.get_control_state(today())
        return TradingResponse(
            mode=store.mode,
            settings=state.settings.to_wire(),
            risk_limits=state.risk_limits.to_wire(),
            controls=_controls_out(state.controls),
            open_positions=[_position_out(p, mark_by_symbol.get(p.contract.occ_symbol)) for p in positions],
            working_orders=[
                WorkingOrderOut(
                    order_id=o.order_id,
                    intent_id=o.intent_id,
                    contract=o.contract.occ_symbol,
                    side=o.side.value,
                    quantity=o.quantity,
                    filled_quantity=o.filled_quantity,
                    order_type=o.order_type.value,
                    limit_price=None if o.limit_price is None else str(o.limit_price),
                    status=o.status.value,
                    created_at=o.created_at,
                    reason=o.reason,
                )
                for o in store.list_working_orders()
            ],
        )

    @app.post(
        "/api/automation/settings",
        summary="Change any subset of the automation settings (camelCase); 422 names the field and limit",
    )
    def put_settings(body: AutomationSettingsPatch) -> SettingsResponse:  # type: ignore[valid-type]
        store = deps.store
        updated = patched(store.get_settings(), body, "setting")
        changed = sorted(to_camel(k) for k in body.model_dump(exclude_none=True))  # type: ignore[attr-defined]
        store.put_settings(updated, actor(), f"settings changed: {changed}", now())
        return SettingsResponse(mode=store.mode, settings=updated.to_wire())

    @app.post(
        "/api/risk/limits",
        summary="Change any subset of the account risk limits (camelCase); 422 names the field and limit",
    )
    def put_risk_limits(body: RiskLimitsPatch) -> RiskLimitsResponse:  # type: ignore[valid-type]
        store = deps.store
        updated = patched(store.get_risk_limits(), body, "risk limit")
        changed = sorted(to_camel(k) for k in body.model_dump(exclude_none=True))  # type: ignore[attr-defined]
        store.put_risk_limits(updated, actor(), f"risk limits changed: {changed}", now())
        return RiskLimitsResponse(mode=store.mode, risk_limits=updated.to_wire())

    def patched(current: _Doc, body: Any, what: str) -> _Doc:
        """`current` with the patch's fields, validated as a whole (cross-field rules too)."""
        patch = body.model_dump(exclude_none=True)
        if not patch:
            raise ApiError(422, f"body must set at least one {what}", field="body")
        try:
            return type(current).model_validate({**current.model_dump(), **patch})
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *(to_camel(str(x)) for x in e["loc"]))} for e in exc.errors()]
            raise RequestValidationError(errors) from None

    def controls_response(c: TradingControls) -> ControlsResponse:
        return ControlsResponse(mode=deps.store.mode, controls=_controls_out(c))

    @app.post("/api/trading/emergency-stop", summary="Halt everything at once, paper and live (audited)")
    def emergency_stop(body: ReasonBody) -> ControlsResponse:
        store = deps.store
        at = now()
        for mode in TradingMode:  # both: a container that has not seen a mode switch still stops it
            if mode is not store.mode:
                store.for_mode(mode).activate_emergency_stop(actor(), body.reason, at)
        return controls_response(store.activate_emergency_stop(actor(), body.reason, at))

    @app.post("/api/trading/pause", summary="Pause new entries (audited)")
    def pause(body: ReasonBody) -> ControlsResponse:
        return controls_response(deps.store.pause(actor(), body.reason, now()))

    @app.post("/api/trading/resume", summary="Clear the pause and the emergency stop (audited)")
    def resume(body: ReasonBody) -> ControlsResponse:
        store = deps.store
        controls = store.get_controls()
        if controls.emergency_stop:
            controls = store.clear_emergency_stop(actor(), body.reason, now())
        resumed = store.resume(actor(), body.reason, now())
        if resumed.trading_state is TradingState.HALTED and resumed.state_reason.startswith("emergency stop"):
            # Only the stop halted it: trade again; the next minute's risk check applies every limit.
            resumed = store.set_trading_state(
                TradingState.ACTIVE,
                actor(),
                f"emergency stop cleared and resumed: {body.reason}; the next minute re-checks every limit",
                now(),
            )
        return controls_response(resumed)

    @app.post(
        "/api/positions/<position_id>/close",
        summary="Close a position: paper at the bid of the latest chain snapshot now, live through an exit "
        "order the engine sends at the next minute end",
    )
    def close_position(
        position_id: Annotated[str, Path(min_length=1, max_length=128)], body: ReasonBody
    ) -> ClosePositionResponse:
        store = deps.store
        found = store.get_position(position_id)
        if found is None:
            raise ApiError(404, f"position {position_id} does not exist in {store.mode.value}")
        position = found.value
        if position.status is PositionStatus.CLOSED:
            raise ApiError(409, f"position {position_id} is already closed")
        at = now()
        if store.mode is TradingMode.LIVE:
            store.request_close(position_id, actor(), f"manual close: {body.reason}", at)
            return ClosePositionResponse(position=_position_out(position), status="close_requested")
        underlying = position.contract.underlying
        snap = None if underlying is None else store.latest_chain_snapshot(underlying, at)
        quote = None if snap is None else snap.quote_for(position.contract)
        if quote is None or quote.bid <= 0:
            raise ApiError(
                409,
                f"no usable bid for {position.contract.occ_symbol} at {at.isoformat()}: "
                "cannot price the exit",
            )
        exit_price = cents(Decimal(str(quote.bid)))
        reason = f"manual close: {body.reason}"
        store.request_close(position_id, actor(), reason, at)  # the engine stops managing it too
        store.mark_position_closing(position_id, at, actor(), reason)
        closed = store.close_position(position_id, exit_price, at, reason, actor())
        pnl = closed.value.pnl_usd(exit_price)
        return ClosePositionResponse(
            position=_position_out(closed.value),
            status="closed",
            exit_price=str(exit_price),
            realized_pnl_usd=str(pnl),
        )

    # signals, strikes, bars -----------------------------------------------------------------

    @app.get("/api/signals", summary="A session's signals, newest first, with their risk decisions")
    def signals(
        date_: Annotated[str | None, Query(alias="date", max_length=10)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[SignalOut]:
        return signals_out(_parse_date(date_, today()), limit)

    @app.get("/api/strikes", summary="The latest 0DTE chain of a symbol with mid IV and Greeks")
    def strikes(symbol: Annotated[str, Query(min_length=1, max_length=8)]) -> StrikesResponse:
        underlying = _underlying(symbol)
        at = now()
        snap = deps.store.latest_chain_snapshot(underlying, at)
        if snap is None:
            raise ApiError(404, f"no {underlying.value} chain snapshot this session up to {at.isoformat()}")
        session = deps.calendar.session(snap.expiry)
        close_at = (
            session.close_et
            if session is not None
            else datetime.combine(snap.expiry, time_of_day(16, 0), tzinfo=NEW_YORK)
        )
        chain = analyze_snapshot(snap, close_at, deps.pricing)
        rows = []
        usable = chain.usable
        for i, q in enumerate(snap.quotes):
            rows.append(
                StrikeRow(
                    contract=q.contract.occ_symbol,
                    right=q.contract.right.value,
                    strike=q.contract.strike,
                    bid=q.bid,
                    ask=q.ask,
                    bid_size=q.bid_size,
                    ask_size=q.ask_size,
                    volume=q.bid_size + q.ask_size,
                    mid=_finite(float(chain.mid[i])),
                    iv=_finite(float(chain.iv[i])),
                    delta=_finite(float(chain.delta[i])),
                    gamma=_finite(float(chain.gamma[i])),
                    theta_per_minute=_finite(float(chain.theta_per_minute[i])),
                    vega=_finite(float(chain.vega_per_vol_point[i])),
                    rho=_finite(float(chain.rho_per_unit_rate[i])),
                    usable=bool(usable[i]),
                    quote_flag=QuoteFlag(int(chain.quote_flag[i])).name,
                    early_exercise_risk=bool(chain.early_exercise_risk[i]),
                    selectable=bool(chain.selectable[i]),
                )
            )
        rows.sort(key=lambda r: (r.strike, r.right))
        return StrikesResponse(
            symbol=underlying.value,
            ts=snap.ts,
            expiry=snap.expiry,
            underlying_price=snap.underlying_price,
            minutes_to_expiry=chain.minutes_to_expiry,
            rows=rows,
        )

    @app.get("/api/bars", summary="A session's bars of a symbol or an OCC contract, resampled")
    def bars(
        symbol: Annotated[str, Query(min_length=1, max_length=21)],
        interval: Annotated[Literal["1m", "2m", "5m", "15m", "30m"], Query()] = "2m",
        date_: Annotated[str | None, Query(alias="date", max_length=10)] = None,
    ) -> BarsResponse:
        day = _parse_date(date_, today())
        if len(symbol) <= 5:
            raw, source = deps.store.list_bars(symbol.upper(), day), "trades"
        else:
            contract = OptionContract.from_occ(symbol)
            if contract.underlying is None:
                raise ApiError(422, f"symbol={symbol!r} is not an option on SPY, QQQ or IWM", field="symbol")
            until = min(now(), datetime.combine(day, time_of_day(23, 59), tzinfo=NEW_YORK))
            snapshots = deps.store.list_chain_snapshots(contract.underlying, until)
            raw, source = mid_bars(snapshots, contract), "chain_mid"
        return BarsResponse(
            symbol=symbol,
            interval=interval,
            session_date=day,
            source=source,
            bars=resample(raw, BAR_INTERVALS[interval]),
        )

    # analytics and backtests ----------------------------------------------------------------

    def closed_trades(start: date | None, strategy: str | None) -> list[ClosedTrade]:
        trades = []
        # 0DTE positions close the day they open: a day's margin covers any session-date edge.
        since = (
            None if start is None else datetime.combine(start - timedelta(days=1), time_of_day(0), NEW_YORK)
        )
        for p in deps.store.list_positions(PositionStatus.CLOSED, since):
            t = _closed_trade(p)
            if t is None:
                continue
            if start is not None and session_date_of(t.exit_ts) < start:
                continue
            if strategy is not None and t.strategy != strategy:
                continue
            trades.append(t)
        return sorted(trades, key=lambda t: (t.exit_ts, t.position_id))

    @app.get("/api/analytics", summary="Performance of closed trades: equity, drawdown, per-strategy stats")
    def analytics(
        timeframe: Annotated[Literal["1d", "1w", "1m", "3m", "6m", "1y", "all"], Query()] = "1m",
        strategy: Annotated[str | None, Query(max_length=64)] = None,
    ) -> AnalyticsResponse:
        if strategy is not None and strategy not in STRATEGIES:
            raise ApiError(
                422, f"strategy={strategy!r} is unknown; known: {', '.join(STRATEGIES)}", field="strategy"
            )
        end = today()
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

    @app.post(
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
        audit("BacktestStarted", f"backtest {body.start}..{body.end}", {"id": run_id, **request})
        return Response(202, "application/json", BacktestStarted(id=run_id, status="RUNNING"))

    @app.get("/api/analytics/backtest/<run_id>", summary="Status (and result when done) of a backtest run")
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

    @app.get("/api/analytics/optimization/<strategy>", summary="A strategy's parameters and live results")
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
        import json

        from smart0dte.domain.optimization import DEFAULT_SPEC
        from smart0dte.ports import ObjectNotFound

        if deps.reports is None:
            return None, "no reports bucket is configured: optimization results cannot be read here"
        key = optimization_key(strategy)
        try:
            raw = deps.reports.get_bytes(key)
        except ObjectNotFound:
            return None, (
                f"no walk-forward optimization result is stored yet ({key} is absent); the learning "
                f"workflow writes one once the archive holds {DEFAULT_SPEC.needed} sessions"
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

    # market, scheduler, audit ---------------------------------------------------------------

    @app.get(
        "/api/market-status", summary="Phase of the trading day and the countdown to the next open/close"
    )
    def get_market_status() -> MarketStatus:
        return market_status()

    @app.get("/api/scheduler/status", summary="Recurring schedules and today's session-bound times")
    def scheduler_status() -> SchedulerStatus:
        day = today()
        session = deps.calendar.session(day)
        todays: list[dict[str, Any]] = []
        if session is not None:
            todays = [
                {
                    "workflow": "pre_market",
                    "at": datetime.combine(day, time_of_day(8, 0), tzinfo=NEW_YORK).isoformat(),
                },
                {
                    "workflow": "trading_cycle",
                    "from": (session.open_et + timedelta(minutes=1)).isoformat(),
                    "to": session.flatten_et.isoformat(),
                    "every": "closed 1-minute bar",
                },
                {"workflow": "flatten", "at": session.flatten_et.isoformat()},
                {"workflow": "post_close", "at": (session.close_et + timedelta(minutes=5)).isoformat()},
            ]
        return SchedulerStatus(
            session_date=day,
            is_session=session is not None,
            recurring=[
                ScheduleOut(name=s.name, cron=s.cron, timezone=s.timezone, target=s.target_state_machine)
                for s in SCHEDULES
            ],
            today=todays,
            **deployed_schedules(),
        )

    def deployed_schedules() -> dict[str, Any]:
        if deps.schedules is None:
            return {"deployed": None, "note": "no access to the schedule group is configured here"}
        try:
            found = deps.schedules.list_schedules()
        except Exception as exc:  # a status page reports, it does not fail
            return {"deployed": None, "note": f"the schedule group could not be read ({type(exc).__name__})"}
        return {
            "deployed": [
                DeployedScheduleOut(
                    name=d.name,
                    expression=d.expression,
                    timezone=d.timezone,
                    target=d.target,
                    state=d.state,
                    mode=d.mode,
                )
                for d in found
            ]
        }

    @app.get("/api/audit", summary="A session's audit log, newest first")
    def get_audit(
        date_: Annotated[str | None, Query(alias="date", max_length=10)] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> AuditResponse:
        day = _parse_date(date_, today())
        records = sorted(deps.store.audit.list_day(day), key=lambda r: r.ts, reverse=True)[:limit]
        return AuditResponse(
            session_date=day,
            records=[
                AuditOut(ts=r.ts, actor=r.actor, action=r.action, reason=r.reason, details=dict(r.details))
                for r in records
            ],
        )

    # reset and mode -------------------------------------------------------------------------

    @app.post(
        "/api/reset",
        summary='Delete paper records of a scope; needs {"confirm": "RESET"} and trading paused or stopped',
        description="\n".join(f"- `{scope}`: {what}" for scope, what in RESET_SCOPES.items()),
    )
    def reset(body: ResetBody) -> ResetResponse:
        store = deps.store
        if store.mode is not TradingMode.PAPER:
            raise ApiError(409, f"reset is refused in {store.mode.value} mode: paper only")
        deleted = store.reset(body.scope, actor(), f"reset {body.scope} from the API", now())
        if body.scope in ("analytics", "all") and deps.reports is not None:
            prefixes = list(reset_report_prefixes(store.mode))
            keys = [key for prefix in prefixes for key in deps.reports.list_keys(prefix)]
            for key in keys:
                deps.reports.delete(key)
            deleted["reports"] = len(keys)
            audit(
                "reset_reports",
                f"reset {body.scope} from the API",
                {"prefixes": prefixes, "deleted": len(keys)},
            )
        return ResetResponse(scope=body.scope, deleted=deleted)

    def idle(store: ApiStore) -> Idle:
        return Idle(
            store.get_controls(),
            tuple(p.position_id for p in store.list_open_positions()),
            tuple(o.order_id for o in store.list_working_orders()),
        )

    def switch_checks(
        to: TradingMode, confirm: str | None, account: str | None, fingerprint: str | None
    ) -> list[Check]:
        store = deps.store
        if to is TradingMode.PAPER:
            return paper_restore_checks(idle(store.for_mode(TradingMode.LIVE)))
        paper = store.for_mode(TradingMode.PAPER)
        live = store.for_mode(TradingMode.LIVE)
        return live_arming_checks(
            now=now(),
            live_trading=deps.live_trading,
            gateway=live.get_gateway_status(),
            paper=idle(paper),
            live_controls=live.get_controls(),
            settings=paper.get_settings(),
            limits=paper.get_risk_limits(),
            confirm=confirm,
            account=account,
            reviewed_fingerprint=fingerprint,
        )

    def checks_out(checks: Sequence[Check]) -> list[CheckOut]:
        return [CheckOut(name=c.name, met=c.met, detail=c.detail) for c in checks]

    @app.get("/api/trading/mode", summary="The active mode and, check by check, what switching needs")
    def trading_mode_status() -> ModeStatusResponse:
        store = deps.store
        active = store.get_active_mode()
        other = TradingMode.PAPER if active.mode is TradingMode.LIVE else TradingMode.LIVE
        change = active.change
        return ModeStatusResponse(
            mode=active.mode,
            changed_by=change.actor if change else None,
            changed_at=change.at if change else None,
            reason=change.reason if change else None,
            live_trading_enabled=deps.live_trading == LIVE_TRADING_ENABLED,
            limits_fingerprint=limits_fingerprint(store.get_settings(), store.get_risk_limits()),
            switch_to=other,
            checks=checks_out(switch_checks(other, None, None, None)),
        )

    @app.post(
        "/api/trading/mode",
        summary="Switch paper -> live (every check met, confirm LIVE and the account typed back) "
        "or live -> paper (live idle)",
    )
    def trading_mode(body: ModeBody) -> ModeResponse:
        store = deps.store
        if body.mode is store.mode:
            return ModeResponse(mode=store.mode, changed=False)
        checks = switch_checks(body.mode, body.confirm, body.account, body.limits_fingerprint)
        unmet = [f"{c.name}: {c.detail}" for c in checks if not c.met]
        details: dict[str, object] = {
            "requested": body.mode.value,
            "checks": [{"name": c.name, "met": c.met, "detail": c.detail} for c in checks],
        }
        if unmet:
            audit("TradingModeRefused", body.reason, {**details, "unmet": unmet})
            raise ApiError(
                409,
                f"cannot switch to {body.mode.value}: " + "; ".join(unmet),
                unmet=unmet,
                checks=[c.model_dump(by_alias=True) for c in checks_out(checks)],
            )
        at = now()
        target = store.for_mode(body.mode)
        if body.mode is TradingMode.LIVE:
            # Live starts with the reviewed paper settings and limits, paused: a human resumes it.
            target.put_settings(store.get_settings(), actor(), f"armed live: {body.reason}", at)
            target.put_risk_limits(store.get_risk_limits(), actor(), f"armed live: {body.reason}", at)
            if not target.get_controls().paused:
                target.pause(actor(), "armed live: starts paused until resumed", at)
            details["account"] = body.account
            details["limitsFingerprint"] = body.limits_fingerprint
        switched = store.switch_active_mode(body.mode, actor(), body.reason, at, details)
        deps.mode_switched(switched.mode)
        return ModeResponse(mode=switched.mode, changed=True, checks=checks_out(checks))

    return app


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:2000]


def openapi_document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    return app.get_openapi_schema(title=API_TITLE).model_dump(mode="json", by_alias=True, exclude_none=True)


# --- the Step Functions backtest runner (wired in the handler) ---------------------------------
