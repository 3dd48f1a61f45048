"""A position still open five minutes before the close: the engine's incident becomes an audit
record naming the position and its quantity, and the trading cycle sends it to the humans."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from smart0dte.domain.controls import NotificationLevels
from smart0dte.domain.models import TradingMode
from smart0dte.domain.session_engine import DecisionRecord, Effects
from smart0dte.services.notifications import Notifications
from smart0dte.services.outbox import IncidentReported
from smart0dte.services.session import incident_records
from smart0dte.services.trading_cycle import TradingCycle

AT = datetime(2025, 3, 14, 19, 55, tzinfo=UTC)
INCIDENT = DecisionRecord(
    AT,
    "incident",
    {
        "message": "INCIDENT: SPY 250314C00562000 x3 is still open 5 minutes before the close",
        "position_id": "SPY250314C00562000-20250314T150000",
        "contract": "SPY   250314C00562000",
        "quantity": 3,
    },
)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def notify(self, subject: str, message: str) -> None:
        self.sent.append((subject, message))


def test_an_incident_is_audited_with_its_position_and_quantity() -> None:
    effects = Effects(decisions=(DecisionRecord(AT, "fill", {}), INCIDENT))

    (record,) = incident_records(effects, "signals")

    assert isinstance(record, IncidentReported) and record.actor == "signals" and record.ts == AT
    assert record.message == INCIDENT.detail["message"]
    assert record.details == {
        "position_id": "SPY250314C00562000-20250314T150000",
        "contract": "SPY   250314C00562000",
        "quantity": 3,
    }


def test_the_cycle_alerts_its_incidents_and_builds_no_channel_without_one() -> None:
    recorder = Recorder()
    built: list[Any] = []

    def channels() -> list[Recorder]:
        built.append(recorder)
        return [recorder]

    notifications = Notifications(TradingMode.PAPER, channels, NotificationLevels)
    desk: Any = SimpleNamespace(mode=TradingMode.PAPER, notifications=notifications)
    cycle = TradingCycle(desk)

    cycle._alert([])
    assert built == []  # no incident: no channel is built
    cycle._alert([INCIDENT])

    ((subject, message),) = recorder.sent
    assert subject == f"Smart 0DTE paper: 1 incident(s) at {AT.isoformat()}"
    assert message == INCIDENT.detail["message"]
