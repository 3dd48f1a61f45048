"""Whether the system may switch trading mode, check by check: to the IB paper rehearsal
(`ibkr_paper`), to live, and back to paper.

Both broker-backed modes need the deployment's gateway set up for them (explicit configuration:
one gateway, logged in to one account), a fresh heartbeat from it on that mode's port, an account
that fits the mode (an IB paper account for ibkr_paper, a real one for live), options permission,
the mode being left idle and no emergency stop in the target. Live alone adds the checks on real
money: the human typed the account id back and "LIVE", and the settings and limits they reviewed
are the ones that will be armed (fingerprint) and fit the account (PDT rule under $25,000).
Switching back to paper needs the mode being left idle. The checks read state only;
`services.api` gathers the state and carries out the switch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from smart0dte.domain.controls import AutomationSettings, RiskLimits
from smart0dte.domain.models import TradingMode
from smart0dte.ports import GATEWAY_PORTS, GatewayStatus, TradingControls, account_refusal

LIVE_TRADING_ENABLED: Final = "enabled"
"""The value of SMART0DTE_LIVE_TRADING whose gateway serves live trading (a real account, port 4001)."""
LIVE_TRADING_IBKR_PAPER: Final = TradingMode.IBKR_PAPER.value
"""The value of SMART0DTE_LIVE_TRADING whose gateway serves ibkr_paper (an IB paper account, port 4002)."""
LIVE_TRADING_DISABLED: Final = "disabled"
"""No gateway: paper (the simulated venue) only. The default."""
GATEWAY_MODE_OF_SETTING: Final = {
    LIVE_TRADING_IBKR_PAPER: TradingMode.IBKR_PAPER,
    LIVE_TRADING_ENABLED: TradingMode.LIVE,
}
HEARTBEAT_FRESH: Final = timedelta(seconds=90)
"""The gateway writes a heartbeat every 30 s; older than this, it is not known to be up."""
LIVE_CONFIRMATION: Final = "LIVE"
PDT_MAX_DAY_TRADES: Final = 3
"""FINRA's pattern day trader rule: at most 3 day trades in 5 sessions under the equity threshold."""


def gateway_mode(live_trading: str | None) -> TradingMode | None:
    """The broker-backed mode the deployment's gateway serves (SMART0DTE_LIVE_TRADING), None without one."""
    return GATEWAY_MODE_OF_SETTING.get(live_trading or "")


def check_prefix(mode: TradingMode) -> str:
    """How a mode starts a check's name: paper, ibkrPaper, live."""
    head, *rest = mode.value.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True, slots=True)
class Check:
    """One condition of a mode switch: met or not, and why, in words a trader can act on."""

    name: str
    met: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Idle:
    """What must be quiet in a mode before the system leaves it."""

    mode: TradingMode
    controls: TradingControls
    open_position_ids: tuple[str, ...]
    working_order_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Target:
    """The state of the broker-backed mode being armed: its controls and its gateway's heartbeat."""

    mode: TradingMode
    controls: TradingControls
    gateway: GatewayStatus | None


@dataclass(frozen=True, slots=True)
class LiveConfirmation:
    """What the human gives to arm live (real money): "LIVE", the account id typed back, and the
    fingerprint of the settings and limits reviewed, which are the ones that will be armed."""

    settings: AutomationSettings
    limits: RiskLimits
    confirm: str | None
    account: str | None
    reviewed_fingerprint: str | None


def limits_fingerprint(settings: AutomationSettings, limits: RiskLimits) -> str:
    """A short hash of the settings and limits as on the wire: what the human reviewed."""
    document = json.dumps({"settings": settings.to_wire(), "riskLimits": limits.to_wire()}, sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()[:16]


def idle_check(idle: Idle) -> Check:
    mode = idle.mode.value
    problems = []
    if not (idle.controls.paused or idle.controls.emergency_stop):
        problems.append(f"{mode} trading is running: pause it or press the emergency stop first")
    if idle.open_position_ids:
        problems.append(f"open {mode} positions: {', '.join(idle.open_position_ids)}")
    if idle.working_order_ids:
        problems.append(f"working {mode} orders: {', '.join(idle.working_order_ids)}")
    name = f"{check_prefix(idle.mode)}Idle"
    if problems:
        return Check(name, False, "; ".join(problems))
    return Check(name, True, f"{mode} is paused or stopped with nothing open or working")


def broker_mode_checks(
    *,
    now: datetime,
    live_trading: str | None,
    target: Target,
    leaving: Idle,
    live: LiveConfirmation | None = None,
) -> list[Check]:
    """Every condition of arming `target.mode` (ibkr_paper or live), in the order a trader would
    fix them. Live needs `live` (its checks on real money); ibkr_paper ignores it."""
    mode = target.mode
    if not mode.uses_broker:
        raise ValueError(f"target.mode={mode.value} needs no gateway: use paper_restore_checks")
    checks = [_deployment_check(mode, live_trading)]
    checks += _gateway_checks(now, target, live.account if live is not None else None)
    if mode is TradingMode.LIVE:
        if live is None:
            raise ValueError("arming live needs its LiveConfirmation (live=...)")
        checks.append(_limits_check(target.gateway, live))
    checks.append(idle_check(leaving))
    stop_name = f"{check_prefix(mode)}EmergencyStop"
    checks.append(
        Check(stop_name, False, f"the {mode.value} emergency stop is active: clear it first")
        if target.controls.emergency_stop
        else Check(stop_name, True, f"no {mode.value} emergency stop is active")
    )
    if mode is TradingMode.LIVE:
        assert live is not None  # checked above
        confirmed = live.confirm == LIVE_CONFIRMATION
        checks.append(
            Check(
                "confirmation",
                confirmed,
                "confirmed" if confirmed else f'the request must carry "confirm": "{LIVE_CONFIRMATION}"',
            )
        )
    return checks


def paper_restore_checks(leaving: Idle) -> list[Check]:
    """ibkr_paper or live -> paper: only with the mode left paused or stopped and nothing held or
    working there."""
    return [idle_check(leaving)]


def _deployment_check(mode: TradingMode, live_trading: str | None) -> Check:
    served = gateway_mode(live_trading)
    if served is mode:
        return Check("deployment", True, f"this deployment's gateway serves {mode.value}")
    wanted = next(value for value, m in GATEWAY_MODE_OF_SETTING.items() if m is mode)
    now_serves = f"its gateway serves {_MODE_WORDS[served]}" if served is not None else "it has no gateway"
    return Check(
        "deployment",
        False,
        f"{_MODE_WORDS[mode]} is not enabled in this deployment ({now_serves}): deploy the stack "
        f"again with -c liveTrading={wanted}",
    )


_MODE_WORDS = {TradingMode.PAPER: "paper", TradingMode.IBKR_PAPER: "IB paper", TradingMode.LIVE: "live"}
"""The modes as the dashboard names them."""


def _gateway_checks(now: datetime, target: Target, typed_account: str | None) -> list[Check]:
    mode, gateway = target.mode, target.gateway
    account_name = f"{check_prefix(mode)}Account"
    names = ("gateway", account_name, "optionsPermission")
    if gateway is None:
        missing = "no heartbeat from the gateway task: start it with the IB credentials in Secrets Manager"
        return [Check(name, False, missing) for name in names]
    port = GATEWAY_PORTS[mode]
    age_s = int((now - gateway.heartbeat_at).total_seconds())
    fresh = now - gateway.heartbeat_at <= HEARTBEAT_FRESH
    if not gateway.connected or not fresh:
        why = "not connected to IB Gateway" if not gateway.connected else f"last heartbeat {age_s} s ago"
        up = Check("gateway", False, f"{why} ({gateway.detail or 'no detail'})")
    elif gateway.port != port:
        up = Check("gateway", False, f"connected on port {gateway.port}, not the {mode.value} port {port}")
    else:
        up = Check("gateway", True, f"connected on port {gateway.port}, heartbeat {age_s} s ago")
    acct = gateway.account
    if acct is None:
        return [up, *(Check(n, False, "the gateway reports no account") for n in names[1:])]
    refusal = account_refusal(mode, acct.account_id)
    if refusal is not None:
        account = Check(account_name, False, refusal)
    elif mode is TradingMode.IBKR_PAPER:
        account = Check(account_name, True, f"IB paper account {acct.account_id}: no real money")
    elif typed_account != acct.account_id:
        account = Check(
            account_name,
            False,
            f"type the account id the gateway is logged in to ({acct.account_id}); "
            f"got {typed_account or 'none'}",
        )
    else:
        account = Check(account_name, True, f"live account {acct.account_id} confirmed")
    permission = Check(
        "optionsPermission",
        acct.options_permission,
        acct.options_permission_detail
        or ("a what-if option order was accepted" if acct.options_permission else "not verified"),
    )
    return [up, account, permission]


def _limits_check(gateway: GatewayStatus | None, live: LiveConfirmation) -> Check:
    settings, limits = live.settings, live.limits
    current = limits_fingerprint(settings, limits)
    if live.reviewed_fingerprint != current:
        return Check(
            "riskLimits",
            False,
            f"review the settings and limits that will be armed (fingerprint {current}) and send that "
            f"fingerprint; got {live.reviewed_fingerprint or 'none'}",
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
