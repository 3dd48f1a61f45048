"""The day's documents: the session plan pre_market writes and the session engine's saved state,
which carry the trading day across Lambdas (not the calendar's session, `domain.calendar.SessionTimes`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from smart0dte.ports.records import Versioned


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What pre_market decided for one session: its times, the model to trade with (None: rules
    only) and what the day inherits from the days before it."""

    session_date: date
    open_et: datetime
    close_et: datetime
    flatten_et: datetime
    model_version: str | None
    starting_equity_usd: Decimal
    peak_equity_usd: Decimal
    day_trades_in_window: int
    consecutive_losses: int
    prepared_at: datetime

    def to_wire(self) -> dict[str, object]:
        return {
            "session_date": self.session_date.isoformat(),
            "open_et": self.open_et.isoformat(),
            "close_et": self.close_et.isoformat(),
            "flatten_et": self.flatten_et.isoformat(),
            "model_version": self.model_version,
            "starting_equity_usd": str(self.starting_equity_usd),
            "peak_equity_usd": str(self.peak_equity_usd),
            "day_trades_in_window": self.day_trades_in_window,
            "consecutive_losses": self.consecutive_losses,
            "prepared_at": self.prepared_at.isoformat(),
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, object]) -> SessionPlan:
        def text(name: str) -> str:
            value = wire.get(name)
            if not isinstance(value, str):
                raise ValueError(f"session plan field {name!r} must be a string, got {value!r}")
            return value

        model = wire.get("model_version")
        return cls(
            session_date=date.fromisoformat(text("session_date")),
            open_et=datetime.fromisoformat(text("open_et")),
            close_et=datetime.fromisoformat(text("close_et")),
            flatten_et=datetime.fromisoformat(text("flatten_et")),
            model_version=None if model is None else str(model),
            starting_equity_usd=Decimal(text("starting_equity_usd")),
            peak_equity_usd=Decimal(text("peak_equity_usd")),
            day_trades_in_window=int(str(wire.get("day_trades_in_window", 0))),
            consecutive_losses=int(str(wire.get("consecutive_losses", 0))),
            prepared_at=datetime.fromisoformat(text("prepared_at")),
        )


class DayDocumentStore(Protocol):
    """The session plan (written by pre_market) and the session engine's saved state (written by
    every trading phase), for one trading mode. The engine state is one JSON document per session,
    replaced under an optimistic lock."""

    def get_plan(self, session_date: date) -> SessionPlan | None: ...

    def put_plan(self, plan: SessionPlan, actor: str, reason: str) -> None:
        """Store (or replace) the plan, with its audit record in the same transaction."""
        ...

    def get_engine(self, session_date: date) -> Versioned[dict[str, object]] | None: ...

    def put_engine(
        self,
        session_date: date,
        document: Mapping[str, object],
        expected_version: int,
        at: datetime | None = None,
    ) -> int:
        """Write the document if the stored version is `expected_version` (0: none stored yet);
        returns the new version, or raises ConcurrentUpdate. `at`: the last minute the engine
        handled, kept beside the document for a cheap health read."""
        ...
