"""Close minus 10 minutes: cancel working orders, sell every open position (TIME_EXIT), take no entry.

This is the engine's observe phase at the flatten time: from that minute on every position not
already exiting exits with reason TIME_EXIT, working orders of an exiting position are cancelled
first, and no signal is asked for (risk also refuses entries after the flatten time). The feed
starts that minute's trading cycle too, usually first; whichever observes the minute first makes
the exits and the other reports what is still open, so the flatten happens even when the feed is
late or down. An exit works until the position is flat: a limit at the bid, walked toward the bid
while it does not fill, then a market order (a series without a bid sells at the minimum tick or
intrinsic value), its remainder working when the bid shows fewer contracts. The walking is done by
the trading cycles, which run every minute to the close; what is still open five minutes before
the close is an incident they audit and alert. An exit trades at the next minute's quote at the
earliest, so positions are normally still open here, each with its exit working: that is the
flatten done. A position no exit is selling (none should be) is alerted now, and the workflow fails
visibly (`NotFlat`).
"""

from __future__ import annotations

from typing import Any

from smart0dte.domain.controls import NotificationKind
from smart0dte.services.events import FlattenEvent
from smart0dte.services.session import OutOfOrder, SessionDesk, new_york_date
from smart0dte.services.trading_cycle import TradingCycle


class Flatten:
    def __init__(self, desk: SessionDesk) -> None:
        self.desk = desk
        self.cycle = TradingCycle(desk)

    def flatten(self, event: FlattenEvent) -> dict[str, Any]:
        ts = event.ts
        session_date = new_york_date(ts)
        session = self.desk.calendar.session(session_date)
        base = {"mode": self.desk.mode.value, "ts": ts.isoformat(), "session_date": session_date.isoformat()}
        if session is None:
            return {
                **base,
                "is_session": False,
                "open_positions": 0,
                "unexited_positions": 0,
                "exits": 0,
                "already_observed": False,
            }
        if ts < session.flatten_et:
            raise OutOfOrder(
                f"flatten at {ts.isoformat()} is before the session's flatten time "
                f"{session.flatten_et.isoformat()}; to close everything earlier, use the emergency stop"
            )
        minute = ts.replace(second=0, microsecond=0)
        observed = self.desk.retrying(lambda: self.cycle.observe(minute, "flatten"))
        result = {
            **base,
            "is_session": True,
            "open_positions": observed.open_positions,
            "unexited_positions": observed.unexited_positions,
            "exits": observed.exits,
            "already_observed": observed.duplicate or observed.stale,
        }
        notifications = self.desk.notifications
        if observed.unexited_positions and notifications is not None:
            close = session.close_et.isoformat()
            notifications.send(
                NotificationKind.FLATTEN_FAILURE,
                f"Smart 0DTE {self.desk.mode.value}: {observed.unexited_positions} not exiting after flatten",
                f"{observed.unexited_positions} of {observed.open_positions} open position(s) have no exit "
                f"working after the flatten at {ts.isoformat()} ({session_date.isoformat()}). The trading "
                f"cycles keep exiting every minute until the close at {close}; one still open five minutes "
                "before it is reported as an incident. If the feed is down no trading cycle runs and "
                "nothing walks them: act now.",
            )
        return result
