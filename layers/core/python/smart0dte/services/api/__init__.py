"""The HTTP API behind the dashboard: a Powertools resolver with pydantic validation and a generated
OpenAPI document (`app`), one router per area with its wire models beside it, and what the areas
share (`shared`, `context`).

Every change is audited with the caller as actor, through the store's audited writes or an
AuditRecord the route appends. Nothing here touches AWS directly: the store, the clock and the
backtest runner are injected (`ApiDeps`; their ports are in `smart0dte.ports.api`).
"""

from smart0dte.services.api.app import (
    MAX_BODY_BYTES,
    PUBLIC_PATHS,
    ApiResolver,
    build_app,
    openapi_document,
)
from smart0dte.services.api.context import ApiDeps

__all__ = ["MAX_BODY_BYTES", "PUBLIC_PATHS", "ApiDeps", "ApiResolver", "build_app", "openapi_document"]
