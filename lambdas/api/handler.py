"""API Lambda: API Gateway HTTP API (payload v2) -> the dashboard API service.

The collaborators come from the composition root (`bootstrap.api`) on first request; the local
server and tests call `configure` to inject their own collaborators instead. In AWS a request that
did not come through CloudFront (no origin header: a direct call of the execute-api endpoint) is
answered 403 before the API sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.services.api import ApiDeps, build_app

logger = Logger(service="api")
tracer = lambda_tracer("api")

_app: APIGatewayHttpResolver | None = None
_came_through_cloudfront: Callable[[Mapping[str, Any]], bool] | None = None
NOT_THROUGH_CLOUDFRONT = {
    "statusCode": 403,
    "headers": {"Content-Type": "application/json"},
    "body": json.dumps({"message": "call the API through the dashboard's address (CloudFront /api/)"}),
}


def configure(deps: ApiDeps) -> APIGatewayHttpResolver:
    """Build the app on `deps` (local server, tests); the next invocation uses it."""
    global _app
    _app = build_app(deps)
    return _app


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _came_through_cloudfront
    app = _app
    if app is None:
        from smart0dte.bootstrap.api import api_deps, origin_check

        _came_through_cloudfront = origin_check()
        app = configure(api_deps())
    if _came_through_cloudfront is not None and not _came_through_cloudfront(event):
        return dict(NOT_THROUGH_CLOUDFRONT)
    return app.resolve(event, context)
