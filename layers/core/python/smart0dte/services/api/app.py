"""The resolver of the HTTP API (Powertools, HTTP API payload v2): authorization, the checks a
body passes before it is parsed, error mapping, the OpenAPI document, and `build_app`, which
includes one router per area.

Identity and scopes come from the JWT claims API Gateway's authorizer (Cognito in AWS, the
local server's HS256 check locally) put in `requestContext.authorizer.jwt`. Every route but
`/api/health` and `/api/openapi.json` needs claims (401 without); GETs need the scope
`smart0dte/read` or `smart0dte/trade`, POSTs `smart0dte/trade`, matched exactly (403 otherwise).

Before a body is parsed (every route but the emergency stop, which reads its own): at most
MAX_BODY_BYTES (413), JSON only (415), UTF-8 JSON nested at most MAX_JSON_DEPTH deep (400). A
method a path does not have is 405 with `Allow`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, Final

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
from smart0dte.services.api.shared import ApiError, ErrorOut

READ_SCOPE: Final = "smart0dte/read"
TRADE_SCOPE: Final = "smart0dte/trade"
"""The Cognito resource server's scopes (`cdk/smart0dte_infra/auth.py`), as access tokens carry them."""
PUBLIC_PATHS = frozenset({"/api/health", "/api/openapi.json"})
API_TITLE = "Smart 0DTE API"
MAX_BODY_BYTES: Final = 64 * 1024
"""The largest body a route reads (the largest real one, all settings at once, is under 1 KB)."""
MAX_JSON_DEPTH: Final = 8
"""The deepest nesting of arrays and objects a body may have (the real ones have 2)."""
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")
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
        refused = self._wrong_method(event) or _refused_body(event)
        if refused is not None:
            return _v2_response(refused)
        self.append_context(actor=denied)  # type: ignore[no-untyped-call]
        try:
            return super().resolve(event, context)
        finally:
            self.clear_context()  # type: ignore[no-untyped-call]

    def _wrong_method(self, event: Mapping[str, Any]) -> Response[Any] | None:
        """405 with `Allow` when the path is a route's but the method is not."""
        path = _path(event)
        method = str(((event.get("requestContext") or {}).get("http") or {}).get("method") or "GET").upper()
        for pattern, methods in self._route_methods:
            if pattern.fullmatch(path):
                if method in methods:
                    return None
                allow = ", ".join(sorted(methods))
                response = _error(405, f"{method} {path} is not allowed; allowed: {allow}")
                response.headers["Allow"] = allow
                return response
        return None

    @cached_property
    def _route_methods(self) -> list[tuple[re.Pattern[str], frozenset[str]]]:
        """Each path of the document as a pattern (a {parameter} is one segment), with its methods."""
        paths: dict[str, Any] = {**openapi_document(self)["paths"], "/api/openapi.json": {"get": {}}}
        return [
            (
                re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))),
                frozenset(m.upper() for m in ops if m in HTTP_METHODS),
            )
            for path, ops in paths.items()
        ]


HTTP_METHODS: Final = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def build_app(deps: ApiDeps) -> ApiResolver:
    app = ApiResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(exc: RequestValidationError) -> Response[Any]:
        detail = _validation_detail(exc.errors())
        summary = "; ".join(f"{d['field'] or 'body'}: {d['msg']}" for d in detail)
        return _error(
            422, f"invalid request: {summary}", field=detail[0]["field"] if detail else "", detail=detail
        )

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
    def openapi() -> dict[str, Any]:
        return openapi_document(app)

    api = ApiContext(deps, app)
    for area in AREAS:
        app.include_router(area.router(api))
    return app


def openapi_document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    """Powertools' document with what it cannot know: the bearer token each route needs and
    every error status each route answers (ROUTE_ERRORS), each with the error schema."""
    doc = app.get_openapi_schema(title=API_TITLE).model_dump(mode="json", by_alias=True, exclude_none=True)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas["ErrorOut"] = ErrorOut.model_json_schema(by_alias=True)
    doc["components"]["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": f"Cognito access token with {READ_SCOPE} (GET) or {TRADE_SCOPE} (any method)",
        }
    }
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method not in HTTP_METHODS:
                continue
            responses = op["responses"]
            responses.pop("422", None)
            codes = set(ROUTE_ERRORS.get((method, path), ()))
            if path not in PUBLIC_PATHS:
                op["security"] = [{"bearer": []}]
                codes |= {401, 403}
            if op.get("parameters"):
                codes.add(422)
            if method == "post" and path != emergency_stop.STOP_PATH:
                codes |= {400, 413, 415}  # any body sent is checked, declared or not
            if "requestBody" in op and path != emergency_stop.STOP_PATH:
                codes.add(422)
            for code in sorted(codes):
                responses.setdefault(
                    str(code),
                    {
                        "description": ERROR_WORDS[code],
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
                        },
                    },
                )
            if (method, path) in ACCEPTED:
                responses["202"] = responses.pop("200")
                responses["202"]["description"] = "Accepted: the work goes on after the answer"
    return doc


ERROR_WORDS: Final = {
    400: "The body is not UTF-8 JSON, or is nested deeper than allowed",
    401: "No valid bearer token",
    403: "The token lacks the scope this method needs",
    404: "No such record",
    409: "Refused in the current state (the message says what must change)",
    413: f"The body is larger than {MAX_BODY_BYTES} bytes",
    415: "The body is not application/json",
    422: "A field or parameter breaks its type or limit (named in `field` and `detail`)",
    501: "No backtest workflow in this deployment",
    503: "The store could not be written (the message says what did and did not happen)",
}
ROUTE_ERRORS: Final[Mapping[tuple[str, str], tuple[int, ...]]] = {
    ("post", "/api/trading/emergency-stop"): (503,),
    ("post", "/api/trading/pause"): (409,),
    ("post", "/api/trading/resume"): (409,),
    ("post", "/api/automation/settings"): (409,),
    ("post", "/api/risk/limits"): (409,),
    ("post", "/api/trading/mode"): (409,),
    ("post", "/api/reset"): (409,),
    ("post", "/api/positions/{position_id}/close"): (404, 409),
    ("post", "/api/orders/{order_id}/cancel"): (404, 409),
    ("get", "/api/strikes"): (404,),
    ("get", "/api/analytics"): (409,),
    ("get", "/api/analytics/intraday"): (404, 409),
    ("get", "/api/bars"): (409,),
    ("get", "/api/analytics/optimization/{strategy}"): (404,),
    ("post", "/api/analytics/backtest"): (409, 501),
    ("get", "/api/analytics/backtest/{run_id}"): (404, 501),
    ("get", "/api/analytics/backtests"): (501,),
    ("post", "/api/analytics/backtest/{run_id}/cancel"): (404, 409, 501),
}
"""The statuses beyond 401/403 (every route but the public ones), 422 (a parameter or body) and
400/413/415 (a body) that each route answers, from its code."""
ACCEPTED: Final = frozenset({("post", "/api/analytics/backtest"), ("post", "/api/orders/{order_id}/cancel")})
"""Routes whose success is 202."""


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
    """Scopes from the authorizer's list and the token's space-separated `scope` claim, as written
    (only the exact READ_SCOPE and TRADE_SCOPE grant anything)."""
    raw: list[str] = [s for s in jwt.get("scopes") or [] if isinstance(s, str)]
    scope_claim = claims.get("scope")
    if isinstance(scope_claim, str):
        raw += scope_claim.split()
    return set(raw)


def _identity(claims: Mapping[str, Any]) -> str | None:
    for name in ("email", "cognito:username", "username", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _refused_body(event: Mapping[str, Any]) -> Response[Any] | None:
    """413, 415 or 400 for a body no route reads (see the module doc); None when it may be parsed.
    The emergency stop takes any body (it reads its own)."""
    raw = event.get("body")
    method = str(((event.get("requestContext") or {}).get("http") or {}).get("method") or "GET").upper()
    if not raw or method != "POST" or _path(event) == emergency_stop.STOP_PATH:
        return None
    text = str(raw)
    size = len(text) * 3 // 4 if event.get("isBase64Encoded") else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        return _error(
            413, f"body of {size} bytes exceeds the limit of {MAX_BODY_BYTES} bytes", limit=MAX_BODY_BYTES
        )
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        return _error(415, f"Content-Type {content_type!r} is not supported: send application/json")
    if event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _error(400, "body must be UTF-8 encoded JSON")
    depth = deepest = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if bracket[0] in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return _error(
                400, f"body nests arrays and objects deeper than {MAX_JSON_DEPTH}", limit=MAX_JSON_DEPTH
            )
    try:
        json.loads(text)
    except ValueError as exc:
        return _error(400, f"body is not JSON: {exc}")
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
        "headers": {**response.headers, "Content-Type": "application/json"},
        "body": json.dumps(response.body, separators=(",", ":")),
        "isBase64Encoded": False,
        "cookies": [],
    }
