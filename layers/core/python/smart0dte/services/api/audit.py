"""The audit log of a session, newest first, each record with its sentence; records of one instant
keep the order in which they were written (the order things happened), newest first too."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from smart0dte.services.api.audit_words import sentence
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import IsoDate, Wire


class AuditOut(Wire):
    ts: datetime
    actor: str
    action: str
    reason: str
    sentence: str
    """What happened, in words (the details hold the record as written)."""
    details: dict[str, Any]


class AuditResponse(Wire):
    session_date: date
    records: list[AuditOut]


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]

    @router.get("/api/audit", summary="A session's audit log, newest first")
    def get_audit(
        date_: Annotated[IsoDate | None, Query(alias="date")] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> AuditResponse:
        day = date_ or api.today()
        oldest_first = sorted(api.deps.store.audit.list_day(day), key=lambda r: r.ts)  # stable: keeps ties
        records = oldest_first[::-1][:limit]
        return AuditResponse(
            session_date=day,
            records=[
                AuditOut(
                    ts=r.ts,
                    actor=r.actor,
                    action=r.action,
                    reason=r.reason,
                    sentence=sentence(r),
                    details=dict(r.details),
                )
                for r in records
            ],
        )

    return router
