"""The account as the Settings page gauges it: equity, buying power, today's loss against the daily
loss limit and the drawdown against its limit, in dollars, for the active mode.

Equity is the session's starting equity (pre_market's plan; before a plan, the settings' starting
equity) plus today's realized P&L net of commissions plus the open positions at the mid.
Buying power is the cash left: equity less the open positions' value and the premium working buy
orders may still spend. The fractions are the ones the risk engine compares with its limits.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field

from smart0dte.domain.models import CONTRACT_MULTIPLIER, Side, TradingMode
from smart0dte.domain.portfolio import cents
from smart0dte.domain.strategies import STRATEGIES
from smart0dte.ports.api import ApiStore
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import Wire, marks


class Gauge(Wire):
    used_usd: str = Field(description="how much of the limit is used (0 when nothing is lost)")
    limit_usd: str
    used_fraction: float = Field(description="used_usd over the base the limit is a fraction of")
    limit_fraction: float


class AccountResponse(Wire):
    mode: TradingMode
    session_date: date
    planned: bool = Field(description="false before pre_market planned the session: the settings' equity")
    starting_equity_usd: str = Field(description="equity at the session's start")
    peak_equity_usd: str
    equity_usd: str = Field(description="starting equity + realized P&L (net) + open positions at the mid")
    realized_pnl_usd: str = Field(description="today's closed trades, net of commissions")
    unrealized_pnl_usd: str = Field(description="open positions at the mid, before commissions")
    positions_value_usd: str = Field(description="open positions at the mid (at cost without a quote)")
    working_buys_usd: str = Field(description="premium working buy orders may still spend")
    buying_power_usd: str = Field(description="equity - positions value - working buys")
    risk_per_trade_usd: str = Field(description="maxRiskPerTrade of equity: the most one entry risks")
    daily_loss: Gauge = Field(description="loss since the start of the day against dailyLossLimit")
    drawdown: Gauge = Field(description="drop from the peak equity against maxDrawdown")
    strategies: list[str] = Field(description="the rule strategies the settings may turn off")


def _gauge(used: Decimal, base: Decimal, limit_fraction: float) -> Gauge:
    used = max(used, Decimal("0"))
    return Gauge(
        used_usd=str(cents(used)),
        limit_usd=str(cents(base * Decimal(str(limit_fraction)))),
        used_fraction=float(used / base) if base > 0 else 0.0,
        limit_fraction=limit_fraction,
    )


def session_start_equity(store: ApiStore, day: date) -> tuple[Decimal, Decimal, bool]:
    """The equity and peak equity `day` started with, and whether pre_market planned it: the plan's,
    before a plan the settings' starting equity (both)."""
    plan = store.session_plan(day)
    if plan is None:
        start = Decimal(str(store.get_settings().starting_equity_usd))
        return start, start, False
    return plan.starting_equity_usd, plan.peak_equity_usd, True


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]
    deps = api.deps

    @router.get("/api/account", summary="Equity, buying power and the daily loss and drawdown gauges (USD)")
    def account() -> AccountResponse:
        store = deps.store
        day = api.today()
        state = store.get_control_state(day)
        start, peak, planned = session_start_equity(store, day)
        positions = store.list_open_positions()
        mark_by_symbol = marks(store, positions, api.now())
        unrealized = Decimal("0")
        value = Decimal("0")
        for p in positions:
            mark = mark_by_symbol.get(p.contract.occ_symbol)
            if mark is None:
                value += p.cost_basis_usd
                continue
            price = cents(Decimal(str(mark)))
            unrealized += p.pnl_usd(price)
            value += price * p.quantity * CONTRACT_MULTIPLIER
        working_buys = sum(
            (
                (o.limit_price or Decimal("0")) * (o.quantity - o.filled_quantity) * CONTRACT_MULTIPLIER
                for o in store.list_working_orders()
                if o.side is Side.BUY
            ),
            Decimal("0"),
        )
        realized = state.counters.realized_pnl_usd
        equity = start + realized + unrealized
        peak = max(peak, equity)
        return AccountResponse(
            mode=store.mode,
            session_date=day,
            planned=planned,
            starting_equity_usd=str(cents(start)),
            peak_equity_usd=str(cents(peak)),
            equity_usd=str(cents(equity)),
            realized_pnl_usd=str(cents(realized)),
            unrealized_pnl_usd=str(cents(unrealized)),
            positions_value_usd=str(cents(value)),
            working_buys_usd=str(cents(working_buys)),
            buying_power_usd=str(cents(equity - value - working_buys)),
            risk_per_trade_usd=str(cents(equity * Decimal(str(state.settings.max_risk_per_trade)))),
            daily_loss=_gauge(start - equity, start, state.risk_limits.daily_loss_limit),
            drawdown=_gauge(peak - equity, peak, state.risk_limits.max_drawdown),
            strategies=list(STRATEGIES),
        )

    return router
