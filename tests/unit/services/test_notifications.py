"""The notification service: the level of each kind decides which channels hear it (off: none;
silent: only those that can stay quiet, marked quiet; on: all, alerting), a failing channel stops
neither the others nor the caller, and `once` sends a key once per New York day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from smart0dte.domain.controls import (
    AutomationSettings,
    NotificationKind,
    NotificationLevel,
    NotificationLevels,
)
from smart0dte.domain.models import TradingMode
from smart0dte.ports import AuditRecord, AuditRecordExists, QuietNotifier, session_date_of
from smart0dte.services.notifications import CLAIM_ACTION, Delivery, Notifications

from ...fake_channels import AlertOnlyChannel, BrokenChannel, Message, RecordingChannel

AT = datetime(2025, 3, 14, 14, 0, tzinfo=UTC)
ON, SILENT, OFF = NotificationLevel.ON, NotificationLevel.SILENT, NotificationLevel.OFF


class MemoryAudit:
    """An append-only log keyed by record id, as the store's audit log is."""

    def __init__(self) -> None:
        self.records: dict[str, AuditRecord] = {}

    def append(self, record: AuditRecord) -> None:
        if record.record_id in self.records:
            raise AuditRecordExists(record.record_id)
        self.records[record.record_id] = record

    def list_day(self, session_date: date) -> list[AuditRecord]:
        return [r for r in self.records.values() if session_date_of(r.ts) == session_date]


def service(
    *channels: Any, levels: Callable[[], NotificationLevels] = NotificationLevels, claims: Any = None
) -> Notifications:
    return Notifications(TradingMode.PAPER, lambda: list(channels), levels, claims)


def test_every_kind_has_a_level_and_the_defaults_keep_fills_quiet() -> None:
    levels = NotificationLevels()
    assert {k.value for k in NotificationKind} == set(NotificationLevels.model_fields)
    assert levels.level(NotificationKind.FILL) is SILENT
    assert {k for k in NotificationKind if levels.level(k) is not ON} == {NotificationKind.FILL}


@pytest.mark.parametrize(
    ("level", "recorded", "emailed"),
    [
        (ON, [Message("s", "m", quiet=False)], ["s"]),
        (SILENT, [Message("s", "m", quiet=True)], []),
        (OFF, [], []),
    ],
)
def test_the_level_decides_which_channel_hears_it_and_how(
    level: NotificationLevel, recorded: list[Message], emailed: list[str]
) -> None:
    telegram, email = RecordingChannel(), AlertOnlyChannel()
    assert isinstance(telegram, QuietNotifier) and not isinstance(email, QuietNotifier)
    levels = NotificationLevels(fill=level)

    delivery = service(telegram, email, levels=lambda: levels).send(NotificationKind.FILL, "s", "m")

    assert telegram.messages == recorded and email.subjects == emailed
    assert delivery == Delivery(
        NotificationKind.FILL,
        level,
        sent=tuple(n for n, got in (("RecordingChannel", recorded), ("AlertOnlyChannel", emailed)) if got),
    )


def test_a_failing_channel_is_counted_and_the_others_still_hear_it() -> None:
    before, after = RecordingChannel(), RecordingChannel()
    notifications = service(before, BrokenChannel(), after)

    delivery = notifications.send(NotificationKind.EMERGENCY_STOP, "stop", "by alice")
    notifications.send(NotificationKind.FILL, "fill", "quiet")

    assert before.subjects() == after.subjects() == ["stop", "fill"]
    assert delivery.failed == ("BrokenChannel",) and notifications.failures == 2


def test_channels_that_cannot_be_built_or_levels_that_cannot_be_read_never_raise() -> None:
    def no_topic() -> list[Any]:
        raise LookupError("no topic is named smart0dte-alerts")

    def unreadable() -> NotificationLevels:
        raise TimeoutError("DynamoDB did not answer")

    broken = Notifications(TradingMode.PAPER, no_topic, NotificationLevels)
    assert broken.send(NotificationKind.DAILY_REPORT, "s", "m").failed == ("channels",)
    assert broken.failures == 1
    channel = RecordingChannel()
    delivery = service(channel, levels=unreadable).send(NotificationKind.FILL, "s", "m")
    assert delivery.level is SILENT and channel.messages == [Message("s", "m", quiet=True)]  # its default


def test_once_sends_each_key_once_per_new_york_day() -> None:
    channel, audit = RecordingChannel(), MemoryAudit()
    notifications = service(channel, claims=audit)
    breach = NotificationKind.LIMIT_BREACH
    late_same_day = datetime(2025, 3, 15, 3, 59, tzinfo=UTC)  # 23:59 New York, 2025-03-14
    next_day = datetime(2025, 3, 15, 4, 0, tzinfo=UTC)

    sent = [
        notifications.once(breach, "DAILY_LOSS_LIMIT", AT, "a", "1"),
        notifications.once(breach, "DAILY_LOSS_LIMIT", late_same_day, "b", "2"),
        notifications.once(breach, "MAX_DRAWDOWN", AT, "c", "3"),
        notifications.once(NotificationKind.CIRCUIT_BREAKER, "DAILY_LOSS_LIMIT", AT, "d", "4"),
        notifications.once(breach, "DAILY_LOSS_LIMIT", next_day, "e", "5"),
    ]

    assert [d is not None for d in sent] == [True, False, True, True, True]
    assert channel.subjects() == ["a", "c", "d", "e"]
    claims = sorted(audit.records.values(), key=lambda r: (r.ts, r.reason))
    assert [r.action for r in claims] == [CLAIM_ACTION] * 4
    assert {session_date_of(r.ts) for r in claims} == {date(2025, 3, 14), date(2025, 3, 15)}


def test_an_off_kind_claims_nothing_so_turning_it_on_later_that_day_sends() -> None:
    channel, audit = RecordingChannel(), MemoryAudit()
    levels = NotificationLevels(limit_breach=OFF)
    notifications = service(channel, levels=lambda: levels, claims=audit)

    assert notifications.once(NotificationKind.LIMIT_BREACH, "PDT", AT, "s", "m") == Delivery(
        NotificationKind.LIMIT_BREACH, OFF
    )
    levels = NotificationLevels()
    assert notifications.once(NotificationKind.LIMIT_BREACH, "PDT", AT, "s", "m") is not None
    assert channel.subjects() == ["s"] and len(audit.records) == 1


@pytest.mark.parametrize(
    ("levels", "field", "says"),
    [
        ({"fills": "on"}, "notifications.fills", "Extra inputs are not permitted"),
        ({"fill": "loud"}, "notifications.fill", "'on', 'silent' or 'off'"),
        ({"dailyReport": True}, "notifications.dailyReport", "'on', 'silent' or 'off'"),
    ],
)
def test_an_unknown_kind_or_level_is_refused_naming_the_field(
    levels: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        AutomationSettings.model_validate({"notifications": levels})
    (error,) = refused.value.errors()
    assert ".".join(str(p) for p in error["loc"]) == field and says in error["msg"]
