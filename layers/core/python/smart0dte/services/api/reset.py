"""Reset: delete a scope's paper records (and, for analytics, the paper reports), audited."""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.event_handler.api_gateway import Router

from smart0dte.domain.models import TradingMode
from smart0dte.ports import RESET_SCOPES
from smart0dte.resources import reset_report_prefixes
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import ApiError, Body, Wire


class ResetBody(Body):
    scope: Literal["positions", "signals", "analytics", "all"]
    confirm: Literal["RESET"]


class ResetResponse(Wire):
    scope: str
    deleted: dict[str, int]


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]
    deps = api.deps

    @router.post(
        "/api/reset",
        summary='Delete paper records of a scope; needs {"confirm": "RESET"} and trading paused or stopped',
        description="\n".join(f"- `{scope}`: {what}" for scope, what in RESET_SCOPES.items()),
    )
    def reset(body: ResetBody) -> ResetResponse:
        store = deps.store
        if store.mode is not TradingMode.PAPER:
            raise ApiError(409, f"reset is refused in {store.mode.value} mode: paper only")
        deleted = store.reset(body.scope, api.actor(), f"reset {body.scope} from the API", api.now())
        if body.scope in ("analytics", "all") and deps.reports is not None:
            prefixes = list(reset_report_prefixes(store.mode))
            keys = [key for prefix in prefixes for key in deps.reports.list_keys(prefix)]
            for key in keys:
                deps.reports.delete(key)
            deleted["reports"] = len(keys)
            api.audit(
                "reset_reports",
                f"reset {body.scope} from the API",
                {"prefixes": prefixes, "deleted": len(keys)},
            )
        return ResetResponse(scope=body.scope, deleted=deleted)

    return router
