"""The API's notifications: the emergency stop (who, why, what stopped) and the resume reach the
channels of the mode's notification service, a failing channel changes no answer; the levels are
read through GET /api/trading and set per kind through POST /api/automation/settings (only the
kinds sent change; an unknown kind or level is a 422 naming it)."""

from __future__ import annotations

from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.domain.controls import NotificationLevel, NotificationLevels
from smart0dte.domain.models import TradingMode
from smart0dte.services.api import ApiDeps
from smart0dte.services.notifications import Notifications

from ...fake_channels import BrokenChannel, RecordingChannel
from .conftest import Call, FixedClock, make_call


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()


@pytest.fixture
def built() -> list[TradingMode]:
    return []


@pytest.fixture
def call(seeded: DynamoState, channel: RecordingChannel, built: list[TradingMode]) -> Call:
    def notifications(mode: TradingMode) -> Notifications:
        built.append(mode)
        store = seeded.for_mode(mode)
        return Notifications(
            mode, lambda: [BrokenChannel(), channel], lambda: store.get_settings().notifications
        )

    deps = ApiDeps(store_factory=lambda: seeded, clock=FixedClock(), sleep=lambda _s: None)
    deps.notifications = notifications
    return make_call(deps)


def test_the_emergency_stop_is_sent_with_who_why_and_what_stopped(
    call: Call, channel: RecordingChannel, built: list[TradingMode]
) -> None:
    status, body = call("POST", "/api/trading/emergency-stop", {"reason": "runaway fills"})

    assert status == 200  # the broken channel before the recording one changed nothing
    assert built == [TradingMode.PAPER]  # the active mode's levels
    (message,) = channel.messages
    assert message.subject == "Smart 0DTE: EMERGENCY STOP by user:alice" and not message.quiet
    assert "runaway fills" in message.text
    assert f"Stopped: {', '.join(body['stopped'])}." in message.text


def test_a_resume_after_the_stop_is_sent_naming_the_stop_it_cleared(
    call: Call, channel: RecordingChannel
) -> None:
    call("POST", "/api/trading/emergency-stop", {"reason": "drill"})
    channel.messages.clear()

    status, _ = call(
        "POST", "/api/trading/resume", {"reason": "all clear", "mode": "live", "confirm": "RESUME"}
    )

    assert status == 200
    (message,) = channel.messages
    assert message.subject == "Smart 0DTE live: resumed by user:alice"
    assert "emergency stop number 1 cleared by user:alice" in message.text and "all clear" in message.text


def test_a_refused_resume_sends_nothing(call: Call, channel: RecordingChannel) -> None:
    call("POST", "/api/trading/emergency-stop", {"reason": "drill"})
    channel.messages.clear()

    assert call("POST", "/api/trading/resume", {"reason": "all clear"})[0] == 409  # no confirmation

    assert channel.messages == []


def test_the_levels_are_read_and_set_per_kind_and_an_off_kind_is_not_sent(
    call: Call, channel: RecordingChannel, seeded: DynamoState
) -> None:
    assert call("GET", "/api/trading")[1]["settings"]["notifications"] == NotificationLevels().to_wire()

    status, body = call(
        "POST", "/api/automation/settings", {"notifications": {"emergencyStop": "off", "fill": "on"}}
    )
    status_again, _ = call("POST", "/api/automation/settings", {"notifications": {"dailyReport": "silent"}})

    assert (status, status_again) == (200, 200)
    expected = NotificationLevels(
        emergency_stop=NotificationLevel.OFF, fill=NotificationLevel.ON, daily_report=NotificationLevel.SILENT
    )
    assert body["settings"]["notifications"] == {**expected.to_wire(), "dailyReport": "on"}
    assert seeded.get_settings().notifications == expected  # the second patch kept the first's kinds
    assert call("POST", "/api/trading/emergency-stop", {"reason": "quiet drill"})[0] == 200
    assert channel.messages == []


@pytest.mark.parametrize(
    ("levels", "field", "says"),
    [
        ({"fills": "on"}, "fills", "Extra inputs are not permitted"),
        ({"fill": "loud"}, "fill", "'on', 'silent' or 'off'"),
    ],
)
def test_an_unknown_kind_or_level_is_a_422_naming_it(
    call: Call, seeded: DynamoState, levels: dict[str, Any], field: str, says: str
) -> None:
    before = seeded.get_settings()

    status, body = call("POST", "/api/automation/settings", {"notifications": levels})

    assert status == 422 and field in body["message"] and says in body["message"]
    assert seeded.get_settings() == before
