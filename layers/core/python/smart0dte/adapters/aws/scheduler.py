"""Scheduler on EventBridge Scheduler: the one-time flatten and post_close schedules pre_market
creates each session (early closes move them), in the stage's schedule group.

A one-time schedule is `at(<New York wall time>)` in America/New_York, deletes itself after it
fires, and starts its state machine with the given input through the role CDK made for it. The
names must start with a prefix the role policy allows (`flatten-`, `post-close-`); creating a name
that exists is a retry and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.ports import DeployedSchedule
from smart0dte.resources import SCHEDULE_TIMEZONE

MAX_NAME_CHARS: Final = 64
RETRY_ATTEMPTS: Final = 3
MAX_EVENT_AGE_S: Final = 900
"""A session schedule more than 15 minutes late is worse than none (the close has moved on)."""


class EventBridgeScheduler:
    """Creates one-time schedules; `targets` maps state machine names to their ARNs."""

    def __init__(self, client: Any, group: str, role_arn: str, targets: Mapping[str, str]) -> None:
        if not group:
            raise ValueError("group must name the stage's schedule group")
        if not role_arn:
            raise ValueError("role_arn must name the role schedules start state machines with")
        self._client = client
        self._group = group
        self._role_arn = role_arn
        self._targets = dict(targets)

    def create_one_time(self, name: str, at: datetime, target: str, input: Mapping[str, object]) -> bool:
        if not 1 <= len(name) <= MAX_NAME_CHARS:
            raise ValueError(f"schedule name {name!r} must have 1 to {MAX_NAME_CHARS} characters")
        if at.tzinfo is None:
            raise ValueError(f"schedule {name}: at={at.isoformat()} must be timezone-aware")
        arn = self._targets.get(target)
        if arn is None:
            known = ", ".join(sorted(self._targets)) or "none"
            raise ValueError(f"schedule {name}: no state machine ARN for target {target!r} (known: {known})")
        wall = at.astimezone(NEW_YORK).replace(tzinfo=None).isoformat(timespec="seconds")
        try:
            self._client.create_schedule(
                Name=name,
                GroupName=self._group,
                ScheduleExpression=f"at({wall})",
                ScheduleExpressionTimezone=SCHEDULE_TIMEZONE,
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": arn,
                    "RoleArn": self._role_arn,
                    "Input": json.dumps(dict(input), sort_keys=True),
                    "RetryPolicy": {
                        "MaximumRetryAttempts": RETRY_ATTEMPTS,
                        "MaximumEventAgeInSeconds": MAX_EVENT_AGE_S,
                    },
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConflictException":
                return False
            raise
        return True


class ScheduleGroupReader:
    """Reads the stage's schedule group (ListSchedules, then GetSchedule for each expression)."""

    def __init__(self, client: Any, group: str) -> None:
        self._client = client
        self._group = group

    def list_schedules(self) -> list[DeployedSchedule]:
        out = []
        for page in self._client.get_paginator("list_schedules").paginate(GroupName=self._group):
            for summary in page.get("Schedules", []):
                found = self._client.get_schedule(Name=summary["Name"], GroupName=self._group)
                target = found.get("Target", {})
                try:
                    mode = json.loads(target.get("Input") or "{}").get("mode")
                except (ValueError, AttributeError):
                    mode = None
                out.append(
                    DeployedSchedule(
                        name=found["Name"],
                        expression=found["ScheduleExpression"],
                        timezone=found.get("ScheduleExpressionTimezone", "UTC"),
                        target=str(target.get("Arn", "")).rsplit(":", 1)[-1].rsplit("/", 1)[-1],
                        state=found.get("State", "ENABLED"),
                        mode=mode if isinstance(mode, str) else None,
                    )
                )
        return sorted(out, key=lambda s: s.name)
