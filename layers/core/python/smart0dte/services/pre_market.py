"""08:00 New York: prepare the session, or do nothing on a holiday or weekend.

On a session day it works out the day's open, close and flatten times from the calendar (13:00
closes included), the model to trade with (the registry's promoted version, else rules only), what
the day inherits (equity and peak from the previous session's close, PDT day trades of the window,
consecutive losses), writes that as the session plan (audited), resets the trading state to
ACTIVE unless the emergency stop or a pause holds it, and creates the one-time flatten
(close - 10 min) and post_close (close + 5 min) schedules. Every step can be repeated: the plan is
replaced with the same content, existing schedules are left as they are. Daily counters are kept
per session date, so the new day's start at zero.

Not done yet: health checks of the gateway and starting its ECS task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.controls import TradingState
from smart0dte.domain.portfolio import cents
from smart0dte.ports import Clock, DayDocumentStore, Scheduler, SessionPlan, StateStore
from smart0dte.resources import FLATTEN_SCHEDULE_PREFIX, POST_CLOSE_SCHEDULE_PREFIX
from smart0dte.services.events import SessionEvent
from smart0dte.services.session import closing_of

POST_CLOSE_DELAY: Final = timedelta(minutes=5)
ACTOR: Final = "pre_market"


@dataclass
class PreMarket:
    state: StateStore
    documents: DayDocumentStore
    scheduler: Scheduler
    clock: Clock
    promoted_version: Callable[[], str | None] = lambda: None
    calendar: MarketCalendar = field(default_factory=MarketCalendar)

    def prepare(self, event: SessionEvent) -> dict[str, Any]:
        mode = self.state.mode
        if event.mode is not mode:
            raise ValueError(f"event mode={event.mode.value} but this service keeps {mode.value} records")
        session = self.calendar.session(event.session_date)
        base: dict[str, Any] = {"mode": mode.value, "session_date": event.session_date.isoformat()}
        if session is None:
            kind = "weekend" if event.session_date.weekday() >= 5 else "holiday"
            return {
                **base,
                "is_session": False,
                "reason": f"{event.session_date.isoformat()} is a {kind}: no session",
            }
        now = self.clock.now()
        model_version = self.promoted_version()
        plan = SessionPlan(
            session_date=session.session_date,
            open_et=session.open_et,
            close_et=session.close_et,
            flatten_et=session.flatten_et,
            model_version=model_version,
            prepared_at=now,
            **self._inheritance(session.session_date),
        )
        post_close_at = session.close_et + POST_CLOSE_DELAY
        day = session.session_date.isoformat()
        schedules = {
            f"{FLATTEN_SCHEDULE_PREFIX}-{mode.value}-{day}": (
                session.flatten_et,
                "flatten",
                {"mode": mode.value, "ts": session.flatten_et.isoformat()},
            ),
            f"{POST_CLOSE_SCHEDULE_PREFIX}-{mode.value}-{day}": (
                post_close_at,
                "post_close",
                {"mode": mode.value, "session_date": day},
            ),
        }
        created = {
            name: self.scheduler.create_one_time(name, at, target, payload)
            for name, (at, target, payload) in schedules.items()
        }
        trading = "rules + model " + model_version[:12] if model_version else "rules only (no promoted model)"
        reason = (
            f"session {day} {session.open_et:%H:%M}-{session.close_et:%H:%M} New York, flatten "
            f"{session.flatten_et:%H:%M}; {trading}"
        )
        self.documents.put_plan(plan, ACTOR, reason)
        controls = self.state.get_controls()
        if (
            not controls.emergency_stop
            and not controls.paused
            and controls.trading_state is not TradingState.ACTIVE
        ):
            self.state.set_trading_state(TradingState.ACTIVE, ACTOR, f"new session {day}", now)
        return {
            **base,
            "is_session": True,
            "open": session.open_et.isoformat(),
            "close": session.close_et.isoformat(),
            "flatten": session.flatten_et.isoformat(),
            "early_close": session.early_close,
            "model_version": model_version,
            "trading": trading,
            "starting_equity_usd": str(plan.starting_equity_usd),
            "day_trades_in_window": plan.day_trades_in_window,
            "schedules": [
                {"name": name, "at": at.isoformat(), "target": target, "created": created[name]}
                for name, (at, target, _) in schedules.items()
            ],
        }

    def _inheritance(self, session_date: date) -> dict[str, Any]:
        """Equity, peak and losing streak from the previous session's close (the settings' starting
        equity when there is none); PDT day trades of the window's earlier sessions from the daily
        counters."""
        previous = self.calendar.previous_session(session_date)
        limits = self.state.get_risk_limits()
        window: list[date] = []
        day = session_date
        for _ in range(limits.pdt_window_sessions - 1):
            day = self.calendar.previous_session(day)
            window.append(day)
        equity = peak = cents(self.state.get_settings().starting_equity_usd)
        losses = 0
        stored = self.documents.get_engine(previous)
        if stored is not None:
            closing = closing_of(stored.value)
            if closing is not None:
                equity = Decimal(str(closing["equity_usd"]))
                peak = max(Decimal(str(closing["peak_equity_usd"])), equity)
                losses = int(closing["consecutive_losses"])
        return {
            "starting_equity_usd": equity,
            "peak_equity_usd": peak,
            "day_trades_in_window": self.state.day_trades_in_window(window) if window else 0,
            "consecutive_losses": losses,
        }
