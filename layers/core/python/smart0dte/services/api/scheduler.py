"""The scheduler's status: the recurring schedules resources.py declares, today's session-bound
times, and what EventBridge Scheduler holds now."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.ports import ScheduleReader
from smart0dte.resources import SCHEDULES
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import Wire


class ScheduleOut(Wire):
    name: str
    cron: str
    timezone: str
    target: str


class DeployedScheduleOut(Wire):
    name: str
    expression: str
    timezone: str
    target: str
    state: str
    mode: str | None


class SchedulerStatus(Wire):
    session_date: date
    is_session: bool
    recurring: list[ScheduleOut]
    """What resources.py declares (CDK deploys these)."""
    today: list[dict[str, Any]]
    """Today's session-bound times from the calendar (pre_market creates flatten and post_close)."""
    deployed: list[DeployedScheduleOut] | None
    """What EventBridge Scheduler holds now, including today's one-time schedules; None: not readable."""
    note: str | None = None


def _deployed_schedules(schedules: ScheduleReader | None) -> dict[str, Any]:
    if schedules is None:
        return {"deployed": None, "note": "no access to the schedule group is configured here"}
    try:
        found = schedules.list_schedules()
    except Exception as exc:  # a status page reports, it does not fail
        return {"deployed": None, "note": f"the schedule group could not be read ({type(exc).__name__})"}
    return {
        "deployed": [
            DeployedScheduleOut(
                name=d.name,
                expression=d.expression,
                timezone=d.timezone,
                target=d.target,
                state=d.state,
                mode=d.mode,
            )
            for d in found
        ]
    }


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]
    deps = api.deps

    @router.get("/api/scheduler/status", summary="Recurring schedules and today's session-bound times")
    def scheduler_status() -> SchedulerStatus:
        day = api.today()
        session = deps.calendar.session(day)
        todays: list[dict[str, Any]] = []
        if session is not None:
            todays = [
                {
                    "workflow": "pre_market",
                    "at": datetime.combine(day, time_of_day(8, 0), tzinfo=NEW_YORK).isoformat(),
                },
                {
                    "workflow": "trading_cycle",
                    "from": (session.open_et + timedelta(minutes=1)).isoformat(),
                    "to": session.close_et.isoformat(),
                    "every": "closed 1-minute bar",
                },
                {"workflow": "flatten", "at": session.flatten_et.isoformat()},
                {"workflow": "post_close", "at": (session.close_et + timedelta(minutes=5)).isoformat()},
            ]
        return SchedulerStatus(
            session_date=day,
            is_session=session is not None,
            recurring=[
                ScheduleOut(name=s.name, cron=s.cron, timezone=s.timezone, target=s.target_state_machine)
                for s in SCHEDULES
            ],
            today=todays,
            **_deployed_schedules(deps.schedules),
        )

    return router
