"""What the API's routers share: the injected collaborators (`ApiDeps`) and, per app, the clock,
the caller and the audit trail of the request being handled (`ApiContext`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.chain_analytics import PricingInputs
from smart0dte.domain.models import TradingMode
from smart0dte.ports import AuditRecord, Clock, ObjectStore, ScheduleReader, session_date_of
from smart0dte.ports.api import ApiStore, BacktestRunner
from smart0dte.services.notifications import Notifications

ACTIVE_MODE_TTL_S: Final = 5.0
"""How long one API container trusts the active mode it read; the emergency stop halts both modes,
so a container a few seconds behind a switch still stops everything."""


@dataclass
class ApiDeps:
    """What the API needs; `store_factory` is called once, on first use (no AWS at import). Routes
    use the store of the active mode (`store`), re-read every ACTIVE_MODE_TTL_S."""

    store_factory: Callable[[], ApiStore]
    clock: Clock
    calendar: MarketCalendar = field(default_factory=MarketCalendar)
    backtests: BacktestRunner | None = None
    reports: ObjectStore | None = None
    """The reports bucket (optimization results); None where there is none."""
    pricing: PricingInputs = field(default_factory=PricingInputs)
    schedules: ScheduleReader | None = None
    """The stage's schedule group; None where it cannot be read (the status then says so)."""
    live_trading: str | None = None
    """SMART0DTE_LIVE_TRADING of the deployment: which broker-backed mode its gateway serves
    (`ibkr_paper` or `enabled` for live; `services.live_arming.gateway_mode`), so which one may be
    armed after every check."""
    sleep: Callable[[float], None] = time.sleep
    """How the emergency stop waits between attempts (tests record instead)."""
    notifications: Callable[[TradingMode], Notifications] | None = None
    """A mode's notification service (the emergency stop and resume are sent); None: nothing is."""
    _base: ApiStore | None = None
    _active: tuple[TradingMode, float] | None = None

    @property
    def base_store(self) -> ApiStore:
        if self._base is None:
            self._base = self.store_factory()
        return self._base

    @property
    def store(self) -> ApiStore:
        """The store of the active mode's records."""
        at = time.monotonic()
        if self._active is None or at - self._active[1] > ACTIVE_MODE_TTL_S:
            self._active = (self.base_store.get_active_mode().mode, at)
        return self.base_store.for_mode(self._active[0])

    def mode_switched(self, mode: TradingMode) -> None:
        self._active = (mode, time.monotonic())

    def last_known_mode(self) -> TradingMode | None:
        """The active mode this container last read or switched to, however old; None if never."""
        return None if self._active is None else self._active[0]


@dataclass(frozen=True)
class ApiContext:
    """Handed to each router's factory: the deps, and the request state of the app the router is
    included in (the resolver puts the caller in its context before a route runs)."""

    deps: ApiDeps
    app: APIGatewayHttpResolver

    def now(self) -> datetime:
        return self.deps.clock.now()

    def today(self) -> date:
        return session_date_of(self.now())

    def actor(self) -> str:
        return str(self.app.context.get("actor", "user:unknown"))

    def request_id(self) -> str:
        """API Gateway's id of the request being handled (a fresh one where there is none)."""
        return str((self.app.current_event.get("requestContext") or {}).get("requestId") or uuid.uuid4())

    def audit(self, action: str, reason: str, details: Mapping[str, object] | None = None) -> None:
        """Append an AuditRecord of the caller, in the active mode, with the request's id."""
        store = self.deps.store
        record = AuditRecord(
            self.now(),
            store.mode,
            self.actor(),
            action,
            reason,
            {**(details or {}), "requestId": self.request_id()},
        )
        store.audit.append(record)
