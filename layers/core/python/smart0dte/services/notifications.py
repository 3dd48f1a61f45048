"""Notifications: one event of a `NotificationKind` sent, at the level the settings give that kind,
to every configured channel (`ports.Notifier`: the SNS alert topic's email; Telegram when wired).

- ON: every channel, with an alert. SILENT: only the channels that can deliver without an alert
  (`ports.QuietNotifier`, Telegram's `disable_notification`); an email cannot, so it gets none.
  OFF: nothing.
- A channel that fails is logged and counted (`failures`); the other channels are still tried and
  the caller (a trading step, the emergency stop) never sees the error. Levels that cannot be read
  fall back to the kind's default.
- `once` sends an event at most once per key and New York day (a limit breach, a circuit breaker):
  the claim is a create-once audit record (`NotificationClaimed`, stamped at the day's midnight and
  holding only the kind and key, so its id is the same all day), written before sending; a claim
  that exists sends nothing.
- The CloudWatch alarms publish to the alert topic themselves (so they are emailed); `alarm_notice`
  turns the feed's and the gateway's into FEED_DOWN and GATEWAY_DOWN events, which the notify
  function forwards to the channels other than the topic, at their levels.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.controls import NotificationKind, NotificationLevel, NotificationLevels
from smart0dte.domain.models import Fill, Position, TradingMode
from smart0dte.domain.portfolio import ClosedTrade, usd_text
from smart0dte.ports import AuditLog, AuditRecord, AuditRecordExists, Notifier, QuietNotifier, session_date_of

logger = logging.getLogger(__name__)

ACTOR: Final = "notifications"
CLAIM_ACTION: Final = "NotificationClaimed"


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one notification did: its level, and the channels (by class name) reached and failed."""

    kind: NotificationKind
    level: NotificationLevel
    sent: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


@dataclass
class Notifications:
    """Sends the events of one trading mode; `levels` is read at each event (the settings)."""

    mode: TradingMode
    channels: Callable[[], Sequence[Notifier]]
    """The channels, built when the first event is sent (a step with nothing to say builds no client)."""
    levels: Callable[[], NotificationLevels]
    claims: AuditLog | None = None
    """Where `once` claims its keys (the mode's audit log); None: `once` sends every time."""
    failures: int = field(default=0, init=False)
    """Channel deliveries that raised, since this service was built."""

    def send(self, kind: NotificationKind, subject: str, message: str) -> Delivery:
        """`subject` and `message` to the channels `kind`'s level allows; never raises."""
        return self._deliver(kind, self._level(kind), subject, message)

    def _deliver(
        self, kind: NotificationKind, level: NotificationLevel, subject: str, message: str
    ) -> Delivery:
        if level is NotificationLevel.OFF:
            return Delivery(kind, level)
        sent: list[str] = []
        failed: list[str] = []
        try:
            channels = self.channels()
        except Exception:  # e.g. the topic cannot be found: logged and counted like a failed channel
            self.failures += 1
            logger.exception("notification %s (%s): no channel could be built", kind.value, subject)
            return Delivery(kind, level, failed=("channels",))
        for channel in channels:
            name = type(channel).__name__
            try:
                if level is NotificationLevel.ON:
                    channel.notify(subject, message)
                elif isinstance(channel, QuietNotifier):
                    channel.notify_quietly(subject, message)
                else:
                    continue
            except Exception:  # one channel's failure reaches neither the others nor the trading step
                self.failures += 1
                failed.append(name)
                logger.exception("notification %s (%s) not delivered by %s", kind.value, subject, name)
                continue
            sent.append(name)
        return Delivery(kind, level, tuple(sent), tuple(failed))

    def once(
        self, kind: NotificationKind, key: str, at: datetime, subject: str, message: str
    ) -> Delivery | None:
        """`send`, unless an event of `kind` and `key` was already sent on `at`'s New York day
        (None then). A claim that cannot be written is logged and the event sent anyway."""
        level = self._level(kind)
        if self.claims is not None and level is not NotificationLevel.OFF:
            day = session_date_of(at)
            claim = AuditRecord(
                datetime.combine(day, time(0), NEW_YORK),
                self.mode,
                ACTOR,
                CLAIM_ACTION,
                f"{kind.value} notified once on {day.isoformat()}: {key}"[:2000],
                {"kind": kind.value, "key": key},
            )
            try:
                self.claims.append(claim)
            except AuditRecordExists:
                return None
            except Exception:  # better twice than never
                logger.exception(
                    "notification %s: the once-a-day claim of %r was not written", kind.value, key
                )
        return self._deliver(kind, level, subject, message)

    def _level(self, kind: NotificationKind) -> NotificationLevel:
        try:
            return self.levels().level(kind)
        except Exception:
            default = NotificationLevels().level(kind)
            logger.exception(
                "notification levels unreadable: %s at its default %s", kind.value, default.value
            )
            return default


def _contract(occ_symbol: str) -> str:
    return " ".join(occ_symbol.split())


def ny_time(ts: datetime) -> str:
    """`ts` as the trader reads it: New York wall clock, 09:46:00 ET."""
    return ts.astimezone(NEW_YORK).strftime("%H:%M:%S ET")


def fill_text(mode: TradingMode, fill: Fill) -> tuple[str, str]:
    """A fill's subject and message."""
    contract = _contract(fill.contract.occ_symbol)
    subject = f"Smart 0DTE {mode.value}: {fill.side.value} {fill.quantity} {contract} @ {fill.price}"
    message = (
        f"{fill.side.value} {fill.quantity} {contract} filled at {fill.price} at {ny_time(fill.ts)} "
        f"(order {fill.order_id}, commission {usd_text(fill.commission_usd)})."
    )
    return subject, message


def exit_text(mode: TradingMode, position: Position, trades: Sequence[ClosedTrade]) -> tuple[str, str]:
    """A closed position's subject and message, with its net P&L (the sum of its round trips)."""
    contract = _contract(position.contract.occ_symbol)
    pnl = sum((t.pnl_usd for t in trades), Decimal("0.00"))
    commissions = sum((t.commissions_usd for t in trades), Decimal("0.00"))
    quantity = sum(t.quantity for t in trades)
    reasons = ", ".join(dict.fromkeys(t.exit_reason for t in trades)) or "closed"
    subject = f"Smart 0DTE {mode.value}: closed {contract} x{quantity}, net {usd_text(pnl)}"
    message = (
        f"{position.strategy} {contract} x{quantity} closed ({reasons}) at "
        f"{ny_time(trades[-1].exit_ts) if trades else '?'}: net P&L {usd_text(pnl)} after "
        f"{usd_text(commissions)} commissions; entry {position.entry_price}."
    )
    return subject, message


class ReminderEvent(BaseModel):
    """The notify function's event: which reminder, for which mode, when the schedule fired."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal[NotificationKind.IB_REAUTHENTICATION]
    mode: TradingMode
    scheduled_time: AwareDatetime


def remind(notifications: Notifications, event: ReminderEvent) -> Delivery:
    """Send the reminder `event` names (IB's weekly re-authentication) through `notifications`."""
    mode = event.mode.value
    return notifications.send(
        event.kind,
        f"Smart 0DTE {mode}: IB Gateway needs its weekly re-authentication",
        f"It is {event.scheduled_time.astimezone(NEW_YORK):%A %H:%M} New York. IB asks for a fresh login "
        f"with two-factor authentication once a week: approve it before the gateway task starts "
        f"(08:45 ET on the next session), or {mode} places nothing and its positions are not protected "
        "at IB.",
    )


def alarm_notice(
    message: str, names: Mapping[NotificationKind, str]
) -> tuple[NotificationKind, str, str] | None:
    """A CloudWatch alarm's SNS message as (kind, subject, text) when it went into ALARM and its
    name contains one of `names` (the feed's or the gateway's physical name); None for any other
    message (another alarm, a return to OK, not an alarm at all)."""
    try:
        alarm = json.loads(message)
    except ValueError:
        return None
    if not isinstance(alarm, dict) or alarm.get("NewStateValue") != "ALARM":
        return None
    name = str(alarm.get("AlarmName", ""))
    kind = next((k for k, part in names.items() if part in name), None)
    if kind is None:
        return None
    what = "the market-data feed" if kind is NotificationKind.FEED_DOWN else "IB Gateway"
    reason = str(alarm.get("NewStateReason", "")) or "no reason given"
    return kind, f"Smart 0DTE: {what} is down ({name})", f"CloudWatch alarm {name}: {reason}"
