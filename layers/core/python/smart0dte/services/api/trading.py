"""Trading: the controls, settings, limits, positions and working orders; changes to the settings
and limits; the emergency stop, pause and resume; closing a position by hand. Every change is
audited with the caller as actor."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import AliasGenerator, BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.alias_generators import to_camel

from smart0dte.domain.controls import AutomationSettings, RiskLimits, TradingState
from smart0dte.domain.models import PositionStatus, TradingMode
from smart0dte.domain.portfolio import cents
from smart0dte.ports import TradingControls
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import (
    ApiError,
    ControlsOut,
    PositionOut,
    Wire,
    controls_out,
    marks,
    position_out,
)

_Doc = TypeVar("_Doc", AutomationSettings, RiskLimits)


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


class ClosePositionResponse(Wire):
    position: PositionOut
    status: Literal["closed", "close_requested"]
    """Paper closes at the bid now; live asks the engine, which sends the exit to the broker at the
    next minute end."""
    exit_price: str | None = None
    realized_pnl_usd: str | None = None


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


def _patched(current: _Doc, body: Any, what: str) -> _Doc:
    """`current` with the patch's fields, validated as a whole (cross-field rules too)."""
    patch = body.model_dump(exclude_none=True)
    if not patch:
        raise ApiError(422, f"body must set at least one {what}", field="body")
    try:
        return type(current).model_validate({**current.model_dump(), **patch})
    except ValidationError as exc:
        raise RequestValidationError(_body_errors(exc)) from None


def _body_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors located in the body, by camelCase field, as the request validator puts them."""
    return [{**e, "loc": ("body", *(to_camel(str(x)) for x in e["loc"]))} for e in exc.errors()]


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]
    deps = api.deps

    @router.get("/api/trading", summary="Controls, settings, limits, open positions and working orders")
    def trading() -> TradingResponse:
        store = deps.store
        positions = store.list_open_positions()
        mark_by_symbol = marks(deps.store, positions, api.now())
        state = store.get_control_state(api.today())
        return TradingResponse(
            mode=store.mode,
            settings=state.settings.to_wire(),
            risk_limits=state.risk_limits.to_wire(),
            controls=controls_out(state.controls),
            open_positions=[position_out(p, mark_by_symbol.get(p.contract.occ_symbol)) for p in positions],
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

    @router.post(
        "/api/automation/settings",
        summary="Change any subset of the automation settings (camelCase); 422 names the field and limit",
    )
    def put_settings(body: AutomationSettingsPatch) -> SettingsResponse:  # type: ignore[valid-type]
        store = deps.store
        updated = _patched(store.get_settings(), body, "setting")
        changed = sorted(to_camel(k) for k in body.model_dump(exclude_none=True))  # type: ignore[attr-defined]
        store.put_settings(updated, api.actor(), f"settings changed: {changed}", api.now())
        return SettingsResponse(mode=store.mode, settings=updated.to_wire())

    @router.post(
        "/api/risk/limits",
        summary="Change any subset of the account risk limits (camelCase); 422 names the field and limit",
    )
    def put_risk_limits(body: RiskLimitsPatch) -> RiskLimitsResponse:  # type: ignore[valid-type]
        store = deps.store
        updated = _patched(store.get_risk_limits(), body, "risk limit")
        changed = sorted(to_camel(k) for k in body.model_dump(exclude_none=True))  # type: ignore[attr-defined]
        store.put_risk_limits(updated, api.actor(), f"risk limits changed: {changed}", api.now())
        return RiskLimitsResponse(mode=store.mode, risk_limits=updated.to_wire())

    def controls_response(c: TradingControls) -> ControlsResponse:
        return ControlsResponse(mode=deps.store.mode, controls=controls_out(c))

    @router.post("/api/trading/emergency-stop", summary="Halt everything at once, paper and live (audited)")
    def emergency_stop(body: ReasonBody) -> ControlsResponse:
        store = deps.store
        at = api.now()
        for mode in TradingMode:  # both: a container that has not seen a mode switch still stops it
            if mode is not store.mode:
                store.for_mode(mode).activate_emergency_stop(api.actor(), body.reason, at)
        return controls_response(store.activate_emergency_stop(api.actor(), body.reason, at))

    @router.post("/api/trading/pause", summary="Pause new entries (audited)")
    def pause(body: ReasonBody) -> ControlsResponse:
        return controls_response(deps.store.pause(api.actor(), body.reason, api.now()))

    @router.post("/api/trading/resume", summary="Clear the pause and the emergency stop (audited)")
    def resume(body: ReasonBody) -> ControlsResponse:
        store = deps.store
        controls = store.get_controls()
        if controls.emergency_stop:
            controls = store.clear_emergency_stop(api.actor(), body.reason, api.now())
        resumed = store.resume(api.actor(), body.reason, api.now())
        if resumed.trading_state is TradingState.HALTED and resumed.state_reason.startswith("emergency stop"):
            # Only the stop halted it: trade again; the next minute's risk check applies every limit.
            resumed = store.set_trading_state(
                TradingState.ACTIVE,
                api.actor(),
                f"emergency stop cleared and resumed: {body.reason}; the next minute re-checks every limit",
                api.now(),
            )
        return controls_response(resumed)

    @router.post(
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
        at = api.now()
        actor = api.actor()
        if store.mode is TradingMode.LIVE:
            store.request_close(position_id, actor, f"manual close: {body.reason}", at)
            return ClosePositionResponse(position=position_out(position), status="close_requested")
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
        store.request_close(position_id, actor, reason, at)  # the engine stops managing it too
        store.mark_position_closing(position_id, at, actor, reason)
        closed = store.close_position(position_id, exit_price, at, reason, actor)
        pnl = closed.value.pnl_usd(exit_price)
        return ClosePositionResponse(
            position=position_out(closed.value),
            status="closed",
            exit_price=str(exit_price),
            realized_pnl_usd=str(pnl),
        )

    return router
