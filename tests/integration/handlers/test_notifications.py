"""Each notification event reaches a fake channel from the real handlers on moto: a paper fill
(execute), an exit with its net P&L (the next minute's Signals after an emergency stop), the daily
report (post_close), a circuit breaker (Signals under a tiny daily loss limit: once a day however
often the state flips), a limit breach (Risk under the PDT rule: once a day however many entries it
refuses: one claim a day), the Sunday reminder of IB's re-authentication and the feed's and gateway's alarms
(notify); the levels are the stored settings', and a failing channel fails no step."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from smart0dte import resources as r
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.bootstrap import runtime as runtime_module
from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.controls import NotificationLevel, NotificationLevels, RiskLimits
from smart0dte.domain.models import TradingMode
from smart0dte.domain.portfolio import usd_text
from smart0dte.services.events import MalformedEvent
from smart0dte.services.notifications import CLAIM_ACTION

from ...fake_channels import BrokenChannel, RecordingChannel
from .conftest import (
    ENTRY,
    ENTRY_DAY,
    LIMITS,
    PREFIX,
    Context,
    at_entry,
    entry_gateway,
    load_handler,
    minute_ends,
    run_cycle,
    store,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
PAPER = TradingMode.PAPER


@pytest.fixture
def channel(monkeypatch: pytest.MonkeyPatch) -> RecordingChannel:
    """The only channel of every runtime, after one that always fails."""
    recording = RecordingChannel()
    monkeypatch.setattr(
        runtime_module.Runtime, "channels", property(lambda self: [BrokenChannel(), recording])
    )
    return recording


def set_levels(**levels: NotificationLevel) -> None:
    state = store(PAPER)
    settings = state.get_settings()
    changed = settings.model_copy(update={"notifications": NotificationLevels(**levels)})
    state.put_settings(changed, "test", "notification levels", ENTRY)


def contract_text(occ: str) -> str:
    return " ".join(occ.split())


FILLED_AT = ENTRY + timedelta(minutes=1)
"""The entry trades at the next minute's quote (an order never fills at the snapshot it was decided on)."""


def entry_fill(aws: Provisioned, dynamodb: Any, **levels: NotificationLevel) -> str:
    """Execute the entry (at `levels`), then the next minute's cycle that fills it; the entry
    order's id."""
    cycle = at_entry(PAPER, aws, dynamodb)
    if levels:
        set_levels(**levels)
    executed: dict[str, Any] = load_handler("execute").handler(cycle.risk, Context())
    (outcome,) = executed["orders"]
    assert outcome["status"] == "SUBMITTED"
    entry_gateway(PAPER).write_until(FILLED_AT)
    run_cycle(PAPER, FILLED_AT)
    return str(outcome["order_id"])


@pytest.mark.parametrize(
    ("level", "quiet"),
    [(NotificationLevel.SILENT, [True]), (NotificationLevel.ON, [False]), (NotificationLevel.OFF, [])],
)
def test_a_paper_fill_at_the_next_minute_reaches_the_channel_at_its_level(
    level: NotificationLevel, quiet: list[bool], aws: Provisioned, dynamodb: Any, channel: RecordingChannel
) -> None:
    order_id = entry_fill(aws, dynamodb, fill=level)

    (fill,) = store(PAPER).list_fills(order_id)  # the broken channel failed no step
    assert [m.quiet for m in channel.messages] == quiet
    if quiet:
        (message,) = channel.messages
        assert message.subject == (
            f"Smart 0DTE paper: BUY {fill.quantity} {contract_text(fill.contract.occ_symbol)} @ {fill.price}"
        )


def test_an_exit_reaches_the_channel_with_its_net_pnl_and_post_close_sends_the_report(
    aws: Provisioned, dynamodb: Any, channel: RecordingChannel
) -> None:
    entry_fill(aws, dynamodb)
    state = store(PAPER)
    (held,) = state.list_open_positions()
    state.activate_emergency_stop("user:alice", "drill", FILLED_AT + timedelta(seconds=20), "request-1")
    channel.messages.clear()

    run_minutes(8)  # the stop's exit is decided at the next minute and trades after it
    assert state.list_open_positions() == []
    closing = load_handler("post_close").handler({"mode": "paper", "session_date": "2025-03-13"}, Context())

    pnl = state.get_counters(ENTRY_DAY).realized_pnl_usd
    assert pnl == Decimal(closing["net_pnl_usd"]) != 0
    sold, exited, report = channel.messages
    assert sold.quiet and sold.subject.startswith(f"Smart 0DTE paper: SELL {held.quantity} ")
    contract = contract_text(held.contract.occ_symbol)
    assert not exited.quiet
    assert exited.subject == f"Smart 0DTE paper: closed {contract} x{held.quantity}, net {usd_text(pnl)}"
    assert "EMERGENCY_STOP" in exited.text.upper() and f"net P&L {usd_text(pnl)}" in exited.text
    assert report.subject == "Smart 0DTE paper daily report 2025-03-13" and not report.quiet
    # the stop's HALTED is the human's own: no circuit breaker is sent for it
    assert not any("circuit breaker" in m.subject for m in channel.messages)


def run_minutes(minutes: int) -> list[Any]:
    """The trading cycles of the `minutes` minutes after the entry, the gateway writing as it goes."""
    gateway, cycles = entry_gateway(PAPER), []
    for ts in minute_ends(ENTRY_DAY, ENTRY + timedelta(minutes=minutes))[-minutes:]:
        gateway.write_until(ts)
        cycles.append(run_cycle(PAPER, ts))
    return cycles


def test_a_circuit_breaker_is_sent_once_a_day_however_often_the_state_flips(
    aws: Provisioned, dynamodb: Any, channel: RecordingChannel
) -> None:
    entry_fill(aws, dynamodb)
    state = store(PAPER)
    tiny = RiskLimits(**{**LIMITS.model_dump(), "daily_loss_limit": 0.0001})
    state.put_risk_limits(tiny, "test", "a tiny daily loss limit", ENTRY)
    channel.messages.clear()

    cycles = run_minutes(15)

    states = [c.signals["trading_state"] for c in cycles]
    entered_reducing = sum(
        1 for a, b in zip(["ACTIVE", *states], states, strict=False) if (a, b) == ("ACTIVE", "REDUCING")
    )
    assert entered_reducing >= 2, f"the mark moves around the limit: {states}"
    breakers = [m for m in channel.messages if "circuit breaker" in m.subject]
    (breaker,) = breakers
    assert breaker.subject == "Smart 0DTE paper: circuit breaker, REDUCING" and not breaker.quiet
    assert "daily loss" in breaker.text and "reached the limit 0.01%" in breaker.text
    claims = [r for r in state.audit.list_day(ENTRY_DAY) if r.action == CLAIM_ACTION]
    assert [r.details["kind"] for r in claims] == ["circuit_breaker"]


CANDIDATE_WINDOW_MINUTES = 30
"""The minutes after the entry the breach test plays (this day's next candidate comes at 09:51)."""


def test_a_limit_that_refuses_entries_is_sent_once_a_day(
    aws: Provisioned, dynamodb: Any, channel: RecordingChannel
) -> None:
    entry_fill(aws, dynamodb)
    state = store(PAPER)
    pdt = RiskLimits(**{**LIMITS.model_dump(), "pdt_equity_threshold_usd": 1e9})
    state.put_risk_limits(pdt, "test", "every account is a small one", ENTRY)
    settings = state.get_settings().model_copy(update={"max_positions": 5, "max_day_trades": 0})
    state.put_settings(settings, "test", "no day trade left", ENTRY)
    channel.messages.clear()

    cycles = run_minutes(CANDIDATE_WINDOW_MINUTES)

    refused = [
        datetime.fromisoformat(c.signals["ts"])
        for c in cycles
        if c.risk and any("PATTERN_DAY_TRADER" in v["rules"] for v in c.risk["verdicts"])
    ]
    assert refused, "the limit refused an entry"
    (breach,) = [m for m in channel.messages if "limit" in m.subject]
    claims = [r for r in state.audit.list_day(ENTRY_DAY) if r.action == CLAIM_ACTION]
    assert [r.details["kind"] for r in claims] == ["limit_breach"]  # later refusals find the day's claim
    assert breach.subject == "Smart 0DTE paper: limit PATTERN_DAY_TRADER reached"
    first = refused[0].astimezone(NEW_YORK)
    assert f") was refused at {first:%H:%M:%S} ET by PATTERN_DAY_TRADER: " in breach.text


SUNDAY_EVENING = "2025-03-16T22:00:00Z"  # 18:00 New York


@pytest.mark.parametrize("level", [NotificationLevel.ON, NotificationLevel.OFF])
def test_the_sunday_reminder_of_ibs_reauthentication_follows_the_modes_level(
    level: NotificationLevel, channel: RecordingChannel
) -> None:
    state = store(TradingMode.IBKR_PAPER)
    levels = NotificationLevels(ib_reauthentication=level)
    state.put_settings(
        state.get_settings().model_copy(update={"notifications": levels}), "test", "levels", ENTRY
    )
    event = {"kind": "ib_reauthentication", "mode": "ibkr_paper", "scheduled_time": SUNDAY_EVENING}

    (notice,) = load_handler("notify").handler(event, Context())["notices"]

    assert (notice["kind"], notice["mode"], notice["level"]) == (
        "ib_reauthentication",
        "ibkr_paper",
        level.value,
    )
    if level is NotificationLevel.OFF:
        assert channel.messages == [] and (notice["sent"], notice["failed"]) == ([], [])
        return
    (message,) = channel.messages
    assert message.subject == "Smart 0DTE ibkr_paper: IB Gateway needs its weekly re-authentication"
    assert message.text.startswith("It is Sunday 18:00 New York.") and not message.quiet
    assert (notice["sent"], notice["failed"]) == (["RecordingChannel"], ["BrokenChannel"])


def test_a_malformed_reminder_names_the_field(channel: RecordingChannel) -> None:
    with pytest.raises(MalformedEvent, match="kind"):
        load_handler("notify").handler(
            {"kind": "fill", "mode": "live", "scheduled_time": SUNDAY_EVENING}, Context()
        )
    with pytest.raises(MalformedEvent, match="Records"):
        load_handler("notify").handler({"Records": [{"no": "Sns"}]}, Context())
    assert channel.messages == []


def alarm_record(name: str, state: str = "ALARM") -> dict[str, Any]:
    message = {"AlarmName": name, "NewStateValue": state, "NewStateReason": "Threshold Crossed: no heartbeat"}
    return {"EventSource": "aws:sns", "Sns": {"Message": json.dumps(message)}}


def test_the_feeds_and_gateways_alarms_are_forwarded_to_every_channel_but_the_topic(
    monkeypatch: pytest.MonkeyPatch, alerts: Any
) -> None:
    recording = RecordingChannel()
    monkeypatch.setattr(
        runtime_module.Runtime, "channels", property(lambda self: [self.alert_topic, recording])
    )
    feed, gateway = r.FEED.physical_name(PREFIX), r.GATEWAY.physical_name(PREFIX)
    records = [
        alarm_record(f"{feed}-heartbeat"),
        alarm_record(f"{gateway}-heartbeat"),
        alarm_record(f"{gateway}-heartbeat", state="OK"),  # back: not forwarded
        alarm_record(f"{PREFIX}-signals-errors"),  # another alarm: the email has it
        {"EventSource": "aws:sns", "Sns": {"Message": "not an alarm"}},
    ]

    result = load_handler("notify").handler({"Records": records}, Context())

    assert [(n["kind"], n["mode"], n["sent"]) for n in result["notices"]] == [
        ("feed_down", "paper", ["RecordingChannel"]),
        ("gateway_down", "paper", ["RecordingChannel"]),
    ]
    assert recording.subjects() == [
        f"Smart 0DTE: the market-data feed is down ({feed}-heartbeat)",
        f"Smart 0DTE: IB Gateway is down ({gateway}-heartbeat)",
    ]
    assert alerts() == []  # the topic already carried the alarm: nothing is published to it again


def test_what_smart0dte_publishes_is_marked_so_the_forwarder_never_takes_it(alerts: Any) -> None:
    runtime_module.runtime(PAPER).alert_topic.notify("Smart 0DTE paper: a subject", "a message")

    (published,) = alerts()
    assert published["MessageAttributes"] == {"origin": {"Type": "String", "Value": "smart0dte"}}
