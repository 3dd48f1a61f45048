"""The append-only audit log: who did what, when and why."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

from smart0dte.domain.events import DomainEvent
from smart0dte.domain.models import TradingMode, idempotency_key


class AuditRecordExists(ValueError):
    """An audit record with this key was already written; the log never overwrites."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Who (actor) did what (action), when (ts) and why (reason), with JSON-ready details.

    Its id derives from its content, so writing the same record twice is refused rather
    than duplicated.
    """

    ts: datetime
    mode: TradingMode
    actor: str
    action: str
    reason: str
    details: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None or self.ts.utcoffset() is None:
            raise ValueError("AuditRecord.ts must be timezone-aware")
        for name in ("actor", "action", "reason"):
            value: str = getattr(self, name)
            if not 1 <= len(value) <= 2000:
                raise ValueError(f"AuditRecord.{name} must have 1 to 2000 characters, got {len(value)}")
        try:
            self.details_json()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"AuditRecord.details must be JSON-serializable: {exc}") from exc

    def details_json(self) -> str:
        return json.dumps(self.details, sort_keys=True, separators=(",", ":"))

    @property
    def record_id(self) -> str:
        return idempotency_key(
            self.mode.value,
            self.ts.astimezone(UTC).isoformat(),
            self.actor,
            self.action,
            self.reason,
            self.details_json(),
        )

    @classmethod
    def of_event(
        cls, event: DomainEvent, reason: str, details: Mapping[str, object] | None = None
    ) -> AuditRecord:
        """The audit record of a domain event: its name is the action, its fields the details."""
        payload = event.model_dump(mode="json", exclude={"ts", "mode", "actor"})
        return cls(
            ts=event.ts,
            mode=event.mode,
            actor=event.actor,
            action=event.name,
            reason=reason,
            details={**payload, **(details or {})},
        )


class AuditLog(Protocol):
    """Append-only: there is no way to change or remove a record."""

    def append(self, record: AuditRecord) -> None:
        """Write `record`, or raise AuditRecordExists if its key is taken."""
        ...

    def list_day(self, session_date: date) -> list[AuditRecord]:
        """The session's records, oldest first."""
        ...
