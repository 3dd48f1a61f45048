"""API Lambda: API Gateway HTTP API (payload v2) -> the dashboard API service.

The collaborators come from the composition root (`bootstrap.api`) on first request; the local
server and tests call `configure` to inject their own collaborators instead.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.services.api import ApiDeps, build_app

logger = Logger(service="api")
tracer = lambda_tracer("api")

_app: APIGatewayHttpResolver | None = None


def configure(deps: ApiDeps) -> APIGatewayHttpResolver:
    """Build the app on `deps` (local server, tests); the next invocation uses it."""
    global _app
    _app = build_app(deps)
    return _app


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    app = _app
    if app is None:
        from smart0dte.bootstrap.api import api_deps

        app = configure(api_deps())
    return app.resolve(event, context)
