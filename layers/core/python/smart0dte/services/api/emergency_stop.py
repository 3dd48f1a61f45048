"""The kill switch: `POST /api/trading/emergency-stop` stops the active mode first, then every other
mode, and cannot be refused.

Any body or none is taken: the reason is read from a JSON object's `reason`, a JSON string or plain
text, whatever the Content-Type says; a body that is blank, unreadable or over STOP_BODY_MAX_BYTES
gives a default reason, and a long one is cut (`domain.controls.cut_reason`). Each mode's stop is
one write, tried STOP_ATTEMPTS times with backoff, so a failure in one mode never keeps the others
from stopping. It answers 200 when the active mode stopped (every mode, when the active one could
not be read) and 503 otherwise, naming what stopped and what did not; each stop is audited in its
mode's log with the caller as actor. Then the stop is notified (who, why, what stopped), at the
first mode's level; a notification failing never changes the answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from smart0dte.domain.controls import REASON_MAX_CHARS, NotificationKind, cut_reason
from smart0dte.domain.models import TradingMode
from smart0dte.ports import TradingControls
from smart0dte.services.api.context import ApiContext, ApiDeps
from smart0dte.services.api.shared import ControlsOut, Wire, controls_out
from smart0dte.services.notifications import ny_time

logger = logging.getLogger(__name__)

STOP_PATH: Final = "/api/trading/emergency-stop"
STOP_BODY_MAX_BYTES: Final = 16 * 1024
"""A body longer than this is not read: the stop happens with the default reason."""
STOP_ATTEMPTS: Final = 4
STOP_BACKOFF_S: Final = (0.05, 0.1, 0.2)
"""The waits before the 2nd, 3rd and 4th attempt of one mode's stop (0.35 s at most per mode)."""
DEFAULT_STOP_REASON: Final = "emergency stop (no reason given)"

_T = TypeVar("_T")


class ModeStopOut(Wire):
    mode: TradingMode
    stopped: bool
    attempts: int
    error: str | None = None
    """The last attempt's error when it did not stop."""


class EmergencyStopResponse(Wire):
    mode: TradingMode
    """The active mode (stopped first); the first mode tried when the active one could not be read."""
    active_mode_known: bool
    reason: str
    """The reason recorded for every mode."""
    controls: ControlsOut | None
    """The active mode's controls after its stop; None when it did not stop."""
    stopped: list[TradingMode]
    not_stopped: list[ModeStopOut]
    modes: list[ModeStopOut]
    """Every mode in the order stopped."""


def stop_reason(event: Mapping[str, Any]) -> str:
    """The reason a stop request carries (see the module doc); never raises."""
    raw = event.get("body")
    if not isinstance(raw, str) or not raw:
        return DEFAULT_STOP_REASON
    if len(raw) > STOP_BODY_MAX_BYTES * (4 / 3 if event.get("isBase64Encoded") else 1):
        return f"{DEFAULT_STOP_REASON}; a body over {STOP_BODY_MAX_BYTES} bytes is not read"
    if event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(raw).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            return DEFAULT_STOP_REASON
    else:
        text = raw
    try:
        parsed: Any = json.loads(text)
    except (ValueError, RecursionError):  # plain text, junk, or nested deeper than Python recurses
        parsed = text
    if isinstance(parsed, dict):
        parsed = parsed.get("reason")
    if not isinstance(parsed, str):
        return DEFAULT_STOP_REASON
    printable = "".join(ch if ch.isprintable() else " " for ch in parsed)
    return cut_reason(printable, DEFAULT_STOP_REASON)


def with_retries(
    action: Callable[[], _T], sleep: Callable[[float], None]
) -> tuple[_T | None, int, str | None]:
    """`action`'s result, tried up to STOP_ATTEMPTS times with STOP_BACKOFF_S between tries: (result
    or None, attempts made, the last error or None)."""
    error: str | None = None
    for attempt in range(1, STOP_ATTEMPTS + 1):
        try:
            return action(), attempt, None
        except Exception as exc:  # the kill switch outlives any one failure: retried, then reported
            error = f"{type(exc).__name__}: {exc}"
            logger.warning("emergency stop attempt %d failed: %s", attempt, error)
            if attempt < STOP_ATTEMPTS:
                sleep(STOP_BACKOFF_S[attempt - 1])
    return None, STOP_ATTEMPTS, error


def stop_every_mode(
    deps: ApiDeps, actor: str, reason: str, at: datetime, request_id: str
) -> tuple[bool, EmergencyStopResponse]:
    """Stop the active mode first, then every other mode (each retried), audited with `actor`; never
    raises. True when the active mode stopped (every mode, when the active one could not be read).
    The API's button and the Telegram bot's /stop both call this."""
    active, _, mode_error = with_retries(lambda: deps.base_store.get_active_mode().mode, deps.sleep)
    if mode_error is not None:
        logger.error("emergency stop: the active mode could not be read: %s", mode_error)
    first = active or deps.last_known_mode() or TradingMode.PAPER
    order = [first, *(m for m in TradingMode if m is not first)]
    outcomes: list[ModeStopOut] = []
    stopped_controls: dict[TradingMode, TradingControls] = {}
    for mode in order:

        def stop(mode: TradingMode = mode) -> TradingControls:
            return deps.base_store.for_mode(mode).activate_emergency_stop(actor, reason, at, request_id)

        controls, attempts, error = with_retries(stop, deps.sleep)
        if controls is not None:
            stopped_controls[mode] = controls
        else:
            logger.error("emergency stop: %s NOT stopped after %d attempts: %s", mode.value, attempts, error)
        outcomes.append(ModeStopOut(mode=mode, stopped=controls is not None, attempts=attempts, error=error))
    if active is not None:
        deps.mode_switched(active)
    must_stop = [first] if active is not None else order
    ok = all(mode in stopped_controls for mode in must_stop)
    if deps.notifications is not None:
        failed = [o.mode.value for o in outcomes if not o.stopped]
        try:  # the stop is done: nothing here may turn it into an error
            deps.notifications(first).send(
                NotificationKind.EMERGENCY_STOP,
                f"Smart 0DTE: EMERGENCY STOP by {actor}" + ("" if ok else " (NOT every mode stopped)"),
                f"Emergency stop pressed by {actor} at {ny_time(at)}: {reason}. Stopped: "
                f"{', '.join(m.value for m in stopped_controls) or 'none'}"
                + (f"; NOT stopped: {', '.join(failed)}" if failed else "")
                + ". Each stopped mode exits every open position at its next minute and takes no entry.",
            )
        except Exception:
            logger.exception("emergency stop: the notification could not be built")
    first_controls = stopped_controls.get(first)
    return ok, EmergencyStopResponse(
        mode=first,
        active_mode_known=active is not None,
        reason=reason,
        controls=None if first_controls is None else controls_out(first_controls),
        stopped=[o.mode for o in outcomes if o.stopped],
        not_stopped=[o for o in outcomes if not o.stopped],
        modes=outcomes,
    )


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]
    deps = api.deps

    @router.post(
        STOP_PATH,
        summary="Halt every mode, the active one first; any body or none (audited)",
        description=(
            "The reason comes from a JSON object's `reason`, a JSON string or plain text, whatever the "
            f"Content-Type; blank, unreadable or over {STOP_BODY_MAX_BYTES} bytes gives "
            f"{DEFAULT_STOP_REASON!r}; longer than {REASON_MAX_CHARS} characters is cut. Each mode's stop "
            f"is tried {STOP_ATTEMPTS} times. 200 when the active mode stopped, 503 when it could not."
        ),
        responses={
            200: {
                "description": "The active mode stopped (others listed as stopped or not)",
                "content": {"application/json": {"model": EmergencyStopResponse}},
            },
            503: {
                "description": "The active mode could not be stopped after every attempt",
                "content": {"application/json": {"model": EmergencyStopResponse}},
            },
        },
        openapi_extensions={
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "description": 'any JSON: {"reason": "..."} or a string gives the reason',
                            "example": {"reason": "stop everything"},
                        }
                    },
                    "text/plain": {"schema": {"type": "string"}},
                },
            }
        },
    )
    def emergency_stop() -> Response[Any]:
        reason = stop_reason(api.app.current_event.raw_event)
        ok, body = stop_every_mode(deps, api.actor(), reason, api.now(), api.request_id())
        return Response(
            status_code=200 if ok else 503,
            content_type="application/json",
            body=body.model_dump(mode="json", by_alias=True),
        )

    return router
