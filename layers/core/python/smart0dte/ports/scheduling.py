"""Schedules that start workflows: one-time ones written by the system, and every deployed one read
back for the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class Scheduler(Protocol):
    """One-time schedules that start a workflow (EventBridge Scheduler in AWS)."""

    def create_one_time(self, name: str, at: datetime, target: str, input: Mapping[str, object]) -> bool:
        """Start state machine `target` (a resources.STATE_MACHINES name) at `at` with `input`;
        False when a schedule of that name already exists (a retry), True when created."""
        ...


@dataclass(frozen=True, slots=True)
class DeployedSchedule:
    """A schedule as EventBridge Scheduler holds it."""

    name: str
    expression: str
    timezone: str
    target: str
    """The target's name (the last part of its ARN): a state machine or the gateway's task family."""
    state: str
    mode: str | None
    """The trading mode its input carries, None when it carries none (the active mode then)."""


class ScheduleReader(Protocol):
    def list_schedules(self) -> list[DeployedSchedule]:
        """Every schedule of the stage's group, recurring and one-time, by name."""
        ...
