"""The resolver of the HTTP API (Powertools, HTTP API payload v2): authorization, the JSON-only
check, error mapping, the OpenAPI document, and `build_app`, which includes one router per area.

Identity and scopes come from the JWT claims API Gateway's authorizer (Cognito in AWS, the
local server's HS256 check locally) put in `requestContext.authorizer.jwt`. Every route but
`/api/health` and `/api/openapi.json` needs claims (401 without); GETs need the `read` or
`trade` scope, POSTs `trade` (403 otherwise).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from smart0dte.domain.models import DomainError
from smart0dte.ports import AuditRecordExists, ConcurrentUpdate, RecordNotFound
from smart0dte.services.api import (
    account,
    analytics,
    audit,
    dashboard,
    emergency_stop,
    market,
    mode,
    reset,
    scheduler,
    trades,
    trading,
)
from smart0dte.services.api.context import ApiContext, ApiDeps
from smart0dte.services.api.shared import ApiError

READ_SCOPE = "read"
TRADE_SCOPE = "trade"
PUBLIC_PATHS = frozenset({"/api/health", "/api/openapi.json"})
API_TITLE = "Smart 0DTE API"
AREAS = (
    dashboard,
    trading,
    trades,
    account,
    emergency_stop,
    market,
    analytics,
    scheduler,
    audit,
    reset,
    mode,
)
"""The modules whose `router(api)` build_app includes, each one area of the API."""


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


def build_app(deps: ApiDeps) -> ApiResolver:
    app = ApiResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(exc: RequestValidationError) -> Response[Any]:
        detail = _validation_detail(exc.errors())
        summary = "; ".join(f"{d['field'] or 'body'}: {d['msg']}" for d in detail)
        return _error(422, f"invalid request: {summary}", detail=detail)

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

    @app.get("/api/openapi.json", summary="This API's OpenAPI document", include_in_schema=False)
    def openapi() -> Response[Any]:
        return Response(200, "application/json", app.get_openapi_json_schema(title=API_TITLE))

    api = ApiContext(deps, app)
    for area in AREAS:
        app.include_router(area.router(api))
    return app


def openapi_document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    return app.get_openapi_schema(title=API_TITLE).model_dump(mode="json", by_alias=True, exclude_none=True)


def authorize(event: Mapping[str, Any]) -> str | Response[Any]:
    """The caller's actor name, or the 401/403 response. Public paths pass as 'anonymous'."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    path = _path(event)
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


def _path(event: Mapping[str, Any]) -> str:
    return str(
        event.get("rawPath") or ((event.get("requestContext") or {}).get("http") or {}).get("path") or ""
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


def _unsupported_media(event: Mapping[str, Any]) -> Response[Any] | None:
    """Bodies are JSON only; anything else is 415 before the validator tries to parse it. The
    emergency stop takes any body (it reads its own)."""
    if not event.get("body") or _path(event) == emergency_stop.STOP_PATH:
        return None
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        return _error(415, f"Content-Type {content_type!r} is not supported: send application/json")
    if event.get("isBase64Encoded"):
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


def _error(status: int, message: str, **extra: object) -> Response[Any]:
    return Response(
        status_code=status,
        content_type="application/json",
        body={"statusCode": status, "message": message, **extra},
    )


def _v2_response(response: Response[Any]) -> dict[str, Any]:
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(response.body, separators=(",", ":")),
        "isBase64Encoded": False,
        "cookies": [],
    }
