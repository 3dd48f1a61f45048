"""Whether the system may switch from paper to live trading, and back, check by check.

Arming live needs every check met: the deployment allows live trading (explicit configuration),
the gateway task is logged in to a live IB account with options permission and reports a fresh
heartbeat, the human typed the account id and "LIVE", the settings and limits the human reviewed
are still the ones that will be armed (fingerprint) and fit the account (PDT rule under $25,000),
and nothing is running or held in paper. Switching back to paper needs live idle. The checks
read state only; `services.api` gathers the state and carries out the switch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from smart0dte.domain.controls import AutomationSettings, RiskLimits
from smart0dte.ports import LIVE_GATEWAY_PORT, GatewayStatus, TradingControls

LIVE_TRADING_ENABLED: Final = "enabled"
"""The value of SMART0DTE_LIVE_TRADING that allows live trading in a deployment."""
HEARTBEAT_FRESH: Final = timedelta(seconds=90)
"""The gateway writes a heartbeat every 30 s; older than this, it is not known to be up."""
LIVE_CONFIRMATION: Final = "LIVE"
PDT_MAX_DAY_TRADES: Final = 3
"""FINRA's pattern day trader rule: at most 3 day trades in 5 sessions under the equity threshold."""


@dataclass(frozen=True, slots=True)
class Check:
    """One condition of a mode switch: met or not, and why, in words a trader can act on."""

    name: str
    met: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Idle:
    """What must be quiet in a mode before the system leaves it."""

    controls: TradingControls
    open_position_ids: tuple[str, ...]
    working_order_ids: tuple[str, ...]


def limits_fingerprint(settings: AutomationSettings, limits: RiskLimits) -> str:
    """A short hash of the settings and limits as on the wire: what the human reviewed."""
    document = json.dumps({"settings": settings.to_wire(), "riskLimits": limits.to_wire()}, sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()[:16]


def idle_check(name: str, mode: str, idle: Idle) -> Check:
    problems = []
    if not (idle.controls.paused or idle.controls.emergency_stop):
        problems.append(f"{mode} trading is running: pause it or press the emergency stop first")
    if idle.open_position_ids:
        problems.append(f"open {mode} positions: {', '.join(idle.open_position_ids)}")
    if idle.working_order_ids:
        problems.append(f"working {mode} orders: {', '.join(idle.working_order_ids)}")
    if problems:
        return Check(name, False, "; ".join(problems))
    return Check(name, True, f"{mode} is paused or stopped with nothing open or working")


def live_arming_checks(
    *,
    now: datetime,
    live_trading: str | None,
    gateway: GatewayStatus | None,
    paper: Idle,
    live_controls: TradingControls,
    settings: AutomationSettings,
    limits: RiskLimits,
    confirm: str | None,
    account: str | None,
    reviewed_fingerprint: str | None,
) -> list[Check]:
    """Every condition of paper -> live, in the order a trader would fix them."""
    checks = [
        Check(
            "deployment",
            live_trading == LIVE_TRADING_ENABLED,
            "live trading is enabled in this deployment"
            if live_trading == LIVE_TRADING_ENABLED
            else "live trading is not enabled in this deployment: deploy with -c liveTrading=enabled "
            f"(SMART0DTE_LIVE_TRADING={live_trading or 'unset'})",
        )
    ]
    checks += _gateway_checks(now, gateway, account)
    checks.append(_limits_check(gateway, settings, limits, reviewed_fingerprint))
    checks.append(idle_check("paperIdle", "paper", paper))
    checks.append(
        Check("liveEmergencyStop", False, "the live emergency stop is active: clear it first")
        if live_controls.emergency_stop
        else Check("liveEmergencyStop", True, "no live emergency stop is active")
    )
    confirmed = confirm == LIVE_CONFIRMATION
    checks.append(
        Check(
            "confirmation",
            confirmed,
            "confirmed" if confirmed else f'the request must carry "confirm": "{LIVE_CONFIRMATION}"',
        )
    )
    return checks


def _gateway_checks(now: datetime, gateway: GatewayStatus | None, account: str | None) -> list[Check]:
    if gateway is None:
        missing = "no heartbeat from the gateway task: start it with the IB credentials in Secrets Manager"
        return [Check(name, False, missing) for name in ("gateway", "liveAccount", "optionsPermission")]
    age_s = int((now - gateway.heartbeat_at).total_seconds())
    fresh = now - gateway.heartbeat_at <= HEARTBEAT_FRESH
    if not gateway.connected or not fresh:
        why = "not connected to IB Gateway" if not gateway.connected else f"last heartbeat {age_s} s ago"
        up = Check("gateway", False, f"{why} ({gateway.detail or 'no detail'})")
    elif gateway.port != LIVE_GATEWAY_PORT:
        up = Check(
            "gateway", False, f"connected on port {gateway.port}, not the live port {LIVE_GATEWAY_PORT}"
        )
    else:
        up = Check("gateway", True, f"connected on port {gateway.port}, heartbeat {age_s} s ago")
    acct = gateway.account
    if acct is None:
        return [
            up,
            *(
                Check(n, False, "the gateway reports no account")
                for n in ("liveAccount", "optionsPermission")
            ),
        ]
    if acct.is_paper:
        live = Check("liveAccount", False, f"account {acct.account_id} is an IB paper account")
    elif account != acct.account_id:
        live = Check(
            "liveAccount",
            False,
            f"type the account id the gateway is logged in to ({acct.account_id}); got {account or 'none'}",
        )
    else:
        live = Check("liveAccount", True, f"live account {acct.account_id} confirmed")
    permission = Check(
        "optionsPermission",
        acct.options_permission,
        acct.options_permission_detail
        or ("a what-if option order was accepted" if acct.options_permission else "not verified"),
    )
    return [up, live, permission]


def _limits_check(
    gateway: GatewayStatus | None,
    settings: AutomationSettings,
    limits: RiskLimits,
    reviewed_fingerprint: str | None,
) -> Check:
    current = limits_fingerprint(settings, limits)
    if reviewed_fingerprint != current:
        return Check(
            "riskLimits",
            False,
            f"review the settings and limits that will be armed (fingerprint {current}) and send that "
            f"fingerprint; got {reviewed_fingerprint or 'none'}",
        )
    account = gateway.account if gateway is not None else None
    if account is None:
        return Check("riskLimits", False, "the account's equity is unknown: no account from the gateway")
    under_pdt = float(account.net_liquidation_usd) < limits.pdt_equity_threshold_usd
    if under_pdt and settings.max_day_trades > PDT_MAX_DAY_TRADES:
        return Check(
            "riskLimits",
            False,
            f"account equity ${account.net_liquidation_usd:,} is under the PDT threshold "
            f"${limits.pdt_equity_threshold_usd:,.0f}: maxDayTrades={settings.max_day_trades} must be "
            f"<= {PDT_MAX_DAY_TRADES}",
        )
    return Check("riskLimits", True, f"reviewed settings and limits {current} fit the account")


def paper_restore_checks(live: Idle) -> list[Check]:
    """live -> paper: only with live paused or stopped and nothing held or working there."""
    return [idle_check("liveIdle", "live", live)]
