"""Trading: the controls (of every mode), settings, limits, positions and working orders; changes to
the settings and limits; pause, and resume (which, after an emergency stop, takes a confirmation
and names the mode; the stop itself is `emergency_stop`); closing a position by hand. Every change
is audited with the caller as actor."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, TypeVar

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.alias_generators import to_camel

from smart0dte.domain.controls import (
    REASON_MAX_CHARS,
    AutomationSettings,
    NotificationKind,
    NotificationLevels,
    RiskLimits,
)
from smart0dte.domain.models import PositionStatus, TradingMode
from smart0dte.domain.portfolio import cents
from smart0dte.ports import ControlRefused, TradingControls
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import (
    ApiError,
    Body,
    ControlsOut,
    JsonInt,
    PositionOut,
    StrategyName,
    Wire,
    controls_out,
    marks,
    position_out,
)
from smart0dte.services.notifications import ny_time

_Doc = TypeVar("_Doc", AutomationSettings, RiskLimits)
RESUME_CONFIRMATION = "RESUME"


class WorkingOrderOut(Wire):
    order_id: str
    intent_id: str
    contract: str
    side: str
    quantity: int
    filled_quantity: int
    order_type: str
    limit_price: str | None
    stop_price: str | None = None
    """A STOP order's trigger (a position's protective stop)."""
    oca_group: str | None = None
    """The one-cancels-other group of a position's protective stop and target."""
    status: str
    created_at: datetime
    reason: str


class ControlsResponse(Wire):
    mode: TradingMode
    controls: ControlsOut


class TradingResponse(Wire):
    mode: TradingMode
    settings: dict[str, Any]
    risk_limits: dict[str, Any]
    controls: ControlsOut
    controls_by_mode: list[ControlsResponse]
    """Every mode's controls, the active one first: a stop in a mode not traded shows here."""
    open_positions: list[PositionOut]
    working_orders: list[WorkingOrderOut]


class ReasonBody(Body):
    reason: str = Field(min_length=1, max_length=REASON_MAX_CHARS)


class ResumeBody(Body):
    reason: str = Field(min_length=1, max_length=REASON_MAX_CHARS)
    mode: TradingMode | None = Field(default=None, strict=False)
    """The mode to resume; the active one when absent. Needed to clear an emergency stop."""
    confirm: Literal["RESUME"] | None = None
    """Needed when an emergency stop is set: resuming clears it."""
    stop_number: JsonInt = Field(default=None, ge=0, le=2**31 - 1)  # type: ignore[assignment]
    """The stop the caller reviewed (`emergencyStopNumber`); a later one is not cleared (409)."""


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


class PatchBody(Body):
    """A change of some fields: at least one, none of them null."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})


def _partial_model(name: str, whole: type[BaseModel], **types: Any) -> type[BaseModel]:
    """Any subset of `whole`'s fields, camelCase, each with its own limits and unit (a field's type
    from `types` where the wire's differs: JSON has lists, not tuples)."""
    fields: dict[str, Any] = {
        field_name: (
            types.get(field_name, JsonInt if info.annotation is int else info.annotation),
            Field(
                default=None,
                description=info.description,
                strict=not _is_enum(info.annotation),
                json_schema_extra=_without_default,
                **_constraints(info),
            ),
        )
        for field_name, info in whole.model_fields.items()
    }
    return create_model(name, __base__=PatchBody, **fields)


def _without_default(schema: dict[str, Any]) -> None:
    """A patch's absent field keeps its value: the document shows no default (null is refused)."""
    schema.pop("default", None)


def _is_enum(annotation: Any) -> bool:
    """Enum values arrive as JSON strings: matched against the members' values, never converted."""
    return isinstance(annotation, type) and issubclass(annotation, Enum)


def _constraints(info: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for meta in info.metadata:
        for attr in ("ge", "gt", "le", "lt", "max_length"):
            value = getattr(meta, attr, None)
            if value is not None:
                out[attr] = value
    return out


AutomationSettingsPatch = _partial_model(
    "AutomationSettingsPatch", AutomationSettings, disabled_strategies=list[StrategyName]
)
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


def _stop_text(mode: TradingMode, c: TradingControls) -> str:
    change = c.emergency_stop_change
    who = "" if change is None else f" (by {change.actor} at {change.at.isoformat()}: {change.reason})"
    return f"{mode.value} emergency stop number {c.stops}{who}"


def _resume_hint(mode: TradingMode) -> str:
    return f'send "mode": "{mode.value}" and "confirm": "{RESUME_CONFIRMATION}"'


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]
    deps = api.deps

    @router.get("/api/trading", summary="Controls, settings, limits, open positions and working orders")
    def trading() -> TradingResponse:
        store = deps.store
        positions = store.list_open_positions()
        mark_by_symbol = marks(deps.store, positions, api.now())
        state = store.get_control_state(api.today())
        others = [m for m in TradingMode if m is not store.mode]
        by_mode = [ControlsResponse(mode=store.mode, controls=controls_out(state.controls))]
        by_mode += [
            ControlsResponse(mode=m, controls=controls_out(store.for_mode(m).get_controls())) for m in others
        ]
        return TradingResponse(
            mode=store.mode,
            settings=state.settings.to_wire(),
            risk_limits=state.risk_limits.to_wire(),
            controls=controls_out(state.controls),
            controls_by_mode=by_mode,
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
                    stop_price=None if o.stop_price is None else str(o.stop_price),
                    oca_group=o.oca_group,
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
        current = store.get_settings()
        levels: NotificationLevels | None = body.notifications  # type: ignore[attr-defined]
        if levels is not None:  # only the kinds sent change; the others keep their stored level
            sent = {kind: getattr(levels, kind) for kind in levels.model_fields_set}
            body = body.model_copy(update={"notifications": current.notifications.model_copy(update=sent)})  # type: ignore[attr-defined]
        updated = _patched(current, body, "setting")
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

    def controls_response(mode: TradingMode, c: TradingControls) -> ControlsResponse:
        return ControlsResponse(mode=mode, controls=controls_out(c))

    @router.post("/api/trading/pause", summary="Pause new entries of the active mode (audited)")
    def pause(body: ReasonBody) -> ControlsResponse:
        store = deps.store
        return controls_response(
            store.mode, store.pause(api.actor(), body.reason, api.now(), api.request_id())
        )

    @router.post(
        "/api/trading/resume",
        summary='Clear the pause; after an emergency stop also needs "mode" and "confirm": "RESUME" and '
        "clears that mode's stop (audited)",
        description=(
            "Without an emergency stop: lowers the pause of `mode` (the active mode when absent). With "
            "one: 409 naming `mode`/`confirm` unless both are sent; then one conditional write clears the "
            "stop and the pause and sets the state ACTIVE until the next minute re-checks every limit, "
            "unless a later stop than `stopNumber` (default: the one read) landed (409). Clearing the live "
            "stop does not arm live: switching to live still runs every arming check."
        ),
    )
    def resume(body: ResumeBody) -> ControlsResponse:
        store = deps.store if body.mode is None else deps.base_store.for_mode(body.mode)
        mode = store.mode
        actor, at, request_id = api.actor(), api.now(), api.request_id()
        controls = store.get_controls()

        def notify(what: str) -> None:
            if deps.notifications is not None:
                deps.notifications(mode).send(
                    NotificationKind.RESUME,
                    f"Smart 0DTE {mode.value}: resumed by {actor}",
                    f"{mode.value}: {what} by {actor} at {ny_time(at)}: {body.reason}. The next minute "
                    "re-checks every limit before any entry.",
                )

        if not controls.emergency_stop:
            try:
                resumed = store.resume(actor, body.reason, at, request_id)
            except ControlRefused as exc:  # a stop landed since the read: it wins
                raise ApiError(
                    409, f"{exc}; resuming now clears it: {_resume_hint(mode)}", field="confirm"
                ) from None
            notify("the pause lifted")
            return controls_response(mode, resumed)
        missing = [name for name, value in (("mode", body.mode), ("confirm", body.confirm)) if value is None]
        if missing:
            raise ApiError(
                409,
                f"{_stop_text(mode, controls)} is set: resuming clears it, so the request must name the "
                f"mode and confirm: {_resume_hint(mode)} (missing: {', '.join(missing)})",
                field=missing[0],
                detail=[
                    {"loc": ["body", name], "field": name, "msg": "required to clear an emergency stop"}
                    for name in missing
                ],
            )
        number = controls.stops if body.stop_number is None else body.stop_number
        try:
            cleared = store.clear_emergency_stop(actor, body.reason, at, number, request_id)
        except ControlRefused as exc:
            raise ApiError(409, f"{exc}: review it, then confirm again", field="stopNumber") from None
        notify(f"emergency stop number {number} cleared")
        return controls_response(mode, cleared)

    @router.post(
        "/api/positions/<position_id>/close",
        summary="Close a position: paper at the bid of the latest chain snapshot now, IB paper and live "
        "through an exit order the engine sends to the broker at the next minute end",
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
        if store.mode.uses_broker:
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
