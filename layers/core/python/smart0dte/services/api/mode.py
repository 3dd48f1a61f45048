"""The trading mode: which one is active and, check by check, what a switch needs; the switch
paper -> live (armed paused, with the reviewed paper settings and limits) and live -> paper."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field

from smart0dte.domain.models import TradingMode
from smart0dte.ports.api import ApiStore
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import ApiError, Wire
from smart0dte.services.live_arming import (
    LIVE_TRADING_ENABLED,
    Check,
    Idle,
    limits_fingerprint,
    live_arming_checks,
    paper_restore_checks,
)


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
    unmet: list[str] = Field(default=[])
    checks: list[CheckOut] = Field(default=[])


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


def _idle(store: ApiStore) -> Idle:
    return Idle(
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
        store = deps.store
        if to is TradingMode.PAPER:
            return paper_restore_checks(_idle(store.for_mode(TradingMode.LIVE)))
        paper = store.for_mode(TradingMode.PAPER)
        live = store.for_mode(TradingMode.LIVE)
        return live_arming_checks(
            now=api.now(),
            live_trading=deps.live_trading,
            gateway=live.get_gateway_status(),
            paper=_idle(paper),
            live_controls=live.get_controls(),
            settings=paper.get_settings(),
            limits=paper.get_risk_limits(),
            confirm=confirm,
            account=account,
            reviewed_fingerprint=fingerprint,
        )

    @router.get("/api/trading/mode", summary="The active mode and, check by check, what switching needs")
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
            checks=_checks_out(switch_checks(other, None, None, None)),
        )

    @router.post(
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
        if body.mode is TradingMode.LIVE:
            # Live starts with the reviewed paper settings and limits, paused: a human resumes it.
            target.put_settings(store.get_settings(), actor, f"armed live: {body.reason}", at)
            target.put_risk_limits(store.get_risk_limits(), actor, f"armed live: {body.reason}", at)
            if not target.get_controls().paused:
                target.pause(actor, "armed live: starts paused until resumed", at)
            details["account"] = body.account
            details["limitsFingerprint"] = body.limits_fingerprint
        switched = store.switch_active_mode(body.mode, actor, body.reason, at, details)
        deps.mode_switched(switched.mode)
        return ModeResponse(mode=switched.mode, changed=True, checks=_checks_out(checks))

    return router
