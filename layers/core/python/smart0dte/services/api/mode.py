"""The trading mode: which one is active and, check by check, what switching to each other mode
needs; the switch to ibkr_paper (the IB paper rehearsal) or live, both armed paused with the
active mode's settings and limits (live: the reviewed ones), and back to paper."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field

from smart0dte.domain.models import TradingMode
from smart0dte.ports.api import ApiStore
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import ApiError, Body, Wire
from smart0dte.services.live_arming import (
    LIVE_TRADING_ENABLED,
    Check,
    Idle,
    LiveConfirmation,
    Target,
    broker_mode_checks,
    gateway_mode,
    limits_fingerprint,
    paper_restore_checks,
)


class ModeBody(Body):
    mode: TradingMode = Field(strict=False)
    confirm: str | None = Field(default=None, max_length=16, description='live only: "LIVE" to arm it')
    account: str | None = Field(
        default=None,
        max_length=32,
        description="live only: the IB account id the gateway is logged in to, typed back",
    )
    limits_fingerprint: str | None = Field(
        default=None,
        max_length=64,
        description="live only: the fingerprint of the settings and limits reviewed (GET /api/trading/mode)",
    )
    reason: str = Field(default="requested from the dashboard", min_length=1, max_length=500)


class CheckOut(Wire):
    name: str
    met: bool
    detail: str


class ModeResponse(Wire):
    mode: TradingMode
    changed: bool
    unmet: list[str] = Field(default=[])
    checks: list[CheckOut] = Field(default=[])


class ModeSwitchOut(Wire):
    mode: TradingMode
    """A mode other than the active one."""
    checks: list[CheckOut]
    """The switch to `mode` as things stand (live: confirmation, account and fingerprint not given)."""


class ModeStatusResponse(Wire):
    mode: TradingMode
    changed_by: str | None
    changed_at: datetime | None
    reason: str | None
    live_trading_enabled: bool
    gateway_mode: TradingMode | None
    """The broker-backed mode this deployment's gateway serves (ibkr_paper or live); None: no gateway."""
    limits_fingerprint: str
    """Of the active mode's settings and limits: what arming live would carry over."""
    switches: list[ModeSwitchOut]
    """Every other mode, in the order paper, ibkr_paper, live."""


def _idle(store: ApiStore) -> Idle:
    return Idle(
        store.mode,
        store.get_controls(),
        tuple(p.position_id for p in store.list_open_positions()),
        tuple(o.order_id for o in store.list_working_orders()),
    )


def _checks_out(checks: Sequence[Check]) -> list[CheckOut]:
    return [CheckOut(name=c.name, met=c.met, detail=c.detail) for c in checks]


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]
    deps = api.deps

    def switch_checks(
        to: TradingMode, confirm: str | None, account: str | None, fingerprint: str | None
    ) -> list[Check]:
        """From the active mode (`deps.store`) to `to`."""
        store = deps.store
        leaving = _idle(store)
        if not to.uses_broker:
            return paper_restore_checks(leaving)
        target = store.for_mode(to)
        live = LiveConfirmation(store.get_settings(), store.get_risk_limits(), confirm, account, fingerprint)
        return broker_mode_checks(
            now=api.now(),
            live_trading=deps.live_trading,
            target=Target(to, target.get_controls(), target.get_gateway_status()),
            leaving=leaving,
            live=live if to is TradingMode.LIVE else None,
        )

    @router.get(
        "/api/trading/mode", summary="The active mode and, check by check, what switching to each other needs"
    )
    def trading_mode_status() -> ModeStatusResponse:
        store = deps.store
        active = store.get_active_mode()
        change = active.change
        return ModeStatusResponse(
            mode=active.mode,
            changed_by=change.actor if change else None,
            changed_at=change.at if change else None,
            reason=change.reason if change else None,
            live_trading_enabled=deps.live_trading == LIVE_TRADING_ENABLED,
            gateway_mode=gateway_mode(deps.live_trading),
            limits_fingerprint=limits_fingerprint(store.get_settings(), store.get_risk_limits()),
            switches=[
                ModeSwitchOut(mode=m, checks=_checks_out(switch_checks(m, None, None, None)))
                for m in TradingMode
                if m is not active.mode
            ],
        )

    @router.post(
        "/api/trading/mode",
        summary="Switch to ibkr_paper (every check met), to live (every check met, confirm LIVE, the "
        "account typed back and the reviewed fingerprint) or back to paper (the mode left idle)",
    )
    def trading_mode(body: ModeBody) -> ModeResponse:
        store = deps.store
        if body.mode is store.mode:
            return ModeResponse(mode=store.mode, changed=False)
        checks = switch_checks(body.mode, body.confirm, body.account, body.limits_fingerprint)
        unmet = [f"{c.name}: {c.detail}" for c in checks if not c.met]
        details: dict[str, object] = {
            "requested": body.mode.value,
            "from": store.mode.value,
            "checks": [{"name": c.name, "met": c.met, "detail": c.detail} for c in checks],
        }
        if unmet:
            api.audit("TradingModeRefused", body.reason, {**details, "unmet": unmet})
            raise ApiError(
                409,
                f"cannot switch to {body.mode.value}: " + "; ".join(unmet),
                unmet=unmet,
                checks=[c.model_dump(by_alias=True) for c in _checks_out(checks)],
            )
        at = api.now()
        actor = api.actor()
        target = store.for_mode(body.mode)
        if body.mode.uses_broker:
            # A broker-backed mode starts with the active mode's settings and limits (live: the
            # reviewed ones, by fingerprint), paused: a human resumes it.
            armed = f"armed {body.mode.value}: {body.reason}"
            target.put_settings(store.get_settings(), actor, armed, at)
            target.put_risk_limits(store.get_risk_limits(), actor, armed, at)
            if not target.get_controls().paused:
                target.pause(actor, f"armed {body.mode.value}: starts paused until resumed", at)
        if body.mode is TradingMode.LIVE:
            details["account"] = body.account
            details["limitsFingerprint"] = body.limits_fingerprint
        switched = store.switch_active_mode(body.mode, actor, body.reason, at, details)
        deps.mode_switched(switched.mode)
        return ModeResponse(mode=switched.mode, changed=True, checks=_checks_out(checks))

    return router
