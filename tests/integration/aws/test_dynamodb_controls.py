import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.controls import AutomationSettings, RiskLimits, TradingState
from smart0dte.domain.models import TradingMode
from smart0dte.ports import (
    ActiveMode,
    BrokerAccount,
    ConcurrentUpdate,
    ControlChange,
    ControlRefused,
    GatewayStatus,
    TradingControls,
    Versioned,
)
from smart0dte.resources import CONTROL_TABLE

from .builders import SESSION, T0, all_items, item_count


def test_settings_default_when_never_stored_and_round_trip_with_camel_case_names(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    assert paper.get_settings() == AutomationSettings()
    chosen = AutomationSettings(master_switch=True, max_positions=3, min_confidence=0.75)

    paper.put_settings(chosen, actor="user:alice", reason="go live with 3 positions", at=T0)

    assert paper.get_settings() == chosen
    (item,) = all_items(dynamodb, aws)["control"]
    assert item["pk"] == {"S": "paper#control"}
    assert item["sk"] == {"S": "settings"}
    stored = json.loads(item["value"]["S"])
    assert (stored["masterSwitch"], stored["maxPositions"], stored["minConfidence"]) == (True, 3, 0.75)
    assert set(stored) == set(chosen.to_wire())
    assert "master_switch" not in stored


def test_settings_change_is_audited_with_before_and_after(paper: DynamoState) -> None:
    paper.put_settings(AutomationSettings(master_switch=True), actor="user:alice", reason="start", at=T0)

    (record,) = paper.audit.list_day(SESSION)

    assert (record.actor, record.action, record.reason, record.ts) == (
        "user:alice",
        "SettingsChanged",
        "start",
        T0,
    )
    assert record.details["before"] == AutomationSettings().to_wire()
    assert record.details["after"] == AutomationSettings(master_switch=True).to_wire()


def test_invalid_settings_from_the_wire_are_refused_before_anything_is_written(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    with pytest.raises(ValidationError, match="maxPositions"):
        paper.put_settings(
            AutomationSettings.model_validate({"masterSwitch": True, "maxPositions": 50}),
            actor="user:alice",
            reason="too many",
            at=T0,
        )

    assert item_count(dynamodb, aws) == 0


def test_risk_limits_round_trip(paper: DynamoState) -> None:
    limits = RiskLimits(daily_loss_limit=0.03, pdt_window_sessions=5)

    paper.put_risk_limits(limits, actor="user:alice", reason="tighter daily loss", at=T0)

    assert paper.get_risk_limits() == limits
    assert [r.action for r in paper.audit.list_day(SESSION)] == ["RiskLimitsChanged"]


def test_emergency_stop_is_persisted_with_who_why_when_halts_and_is_audited(paper: DynamoState) -> None:
    assert paper.get_controls() == TradingControls()

    controls = paper.activate_emergency_stop(actor="user:bob", reason="broker outage", at=T0)

    assert controls.emergency_stop is True
    assert controls.trading_state is TradingState.HALTED
    assert controls.state_reason == "emergency stop: broker outage"
    assert controls.emergency_stop_change == ControlChange("user:bob", "broker outage", T0)
    assert paper.get_controls() == controls
    assert paper.risk_controls().emergency_stop is True
    (record,) = paper.audit.list_day(SESSION)
    assert (record.actor, record.action, record.reason, record.ts) == (
        "user:bob",
        "EmergencyStopActivated",
        "broker outage",
        T0,
    )


def test_clearing_the_stop_it_names_resumes_in_one_write_and_the_next_evaluation_sets_the_state(
    paper: DynamoState,
) -> None:
    stopped = paper.activate_emergency_stop(actor="user:bob", reason="broker outage", at=T0)
    paper.pause(actor="user:bob", reason="and pause", at=T0)
    later = T0 + timedelta(minutes=20)

    cleared = paper.clear_emergency_stop("user:bob", "broker back", later, stopped.stops)
    state = paper.set_trading_state(
        TradingState.REDUCING, actor="risk", reason="daily loss limit", at=later + timedelta(seconds=1)
    )

    assert stopped.stops == 1
    assert (cleared.emergency_stop, cleared.paused, cleared.trading_state) == (
        False,
        False,
        TradingState.ACTIVE,
    )
    assert cleared.emergency_stop_change == ControlChange("user:bob", "broker back", later)
    assert cleared.state_reason.startswith("emergency stop cleared and resumed: broker back")
    assert (state.trading_state, state.state_reason) == (TradingState.REDUCING, "daily loss limit")
    assert [r.action for r in paper.audit.list_day(SESSION)] == [
        "EmergencyStopActivated",
        "TradingPaused",
        "EmergencyStopCleared",
        "TradingStateChanged",
    ]


def test_a_later_stop_is_not_cleared_by_a_resume_naming_an_earlier_one(paper: DynamoState) -> None:
    first = paper.activate_emergency_stop("user:bob", "broker outage", T0, "request-1")
    second = paper.activate_emergency_stop("user:carol", "fat finger", T0, "request-2")

    with pytest.raises(ControlRefused, match=r"emergency stop number 2 is set \(by user:carol"):
        paper.clear_emergency_stop("user:bob", "broker back", T0, first.stops)
    with pytest.raises(ControlRefused, match="no emergency stop is set"):
        paper.for_mode(TradingMode.LIVE).clear_emergency_stop("user:bob", "nothing to clear", T0, 0)

    assert second.stops == 2
    assert paper.get_controls() == second  # nothing of either refusal was written
    assert [r.action for r in paper.audit.list_day(SESSION)] == ["EmergencyStopActivated"] * 2


def test_a_stop_resume_stop_with_the_same_reason_at_one_instant_ends_stopped(paper: DynamoState) -> None:
    first = paper.activate_emergency_stop("user:bob", "drill", T0, "request-1")
    paper.clear_emergency_stop("user:bob", "drill", T0, first.stops, "request-2")
    again = paper.activate_emergency_stop("user:bob", "drill", T0, "request-3")
    retried = paper.activate_emergency_stop("user:bob", "drill", T0, "request-3")  # the same request

    assert (again.emergency_stop, again.trading_state, again.stops) == (True, TradingState.HALTED, 2)
    assert retried == again == paper.get_controls()
    assert sorted(r.action for r in paper.audit.list_day(SESSION)) == [  # one instant: any order
        "EmergencyStopActivated",
        "EmergencyStopActivated",
        "EmergencyStopCleared",
    ]


def test_a_plain_resume_and_the_risk_evaluation_yield_to_a_stop_and_active_to_a_pause(
    paper: DynamoState,
) -> None:
    stopped = paper.activate_emergency_stop("user:bob", "broker outage", T0)
    later = T0 + timedelta(seconds=1)

    with pytest.raises(ControlRefused, match="TradingResumed refused: emergency stop number 1 is set"):
        paper.resume("user:alice", "back", later)
    for state in (TradingState.ACTIVE, TradingState.REDUCING):
        assert paper.set_trading_state(state, "risk", "evaluated before the stop", later) == stopped
    halted = paper.set_trading_state(TradingState.HALTED, "risk", "drawdown limit", later)
    live = paper.for_mode(TradingMode.LIVE)
    live.pause("user:alice", "lunch", T0)
    live_paused = live.get_controls()
    reducing = live.set_trading_state(TradingState.REDUCING, "risk", "trading is paused", later)

    assert (halted.emergency_stop, halted.state_reason) == (True, "drawdown limit")
    assert (
        live.set_trading_state(TradingState.ACTIVE, "risk", "evaluated before the pause", later) == reducing
    )
    assert reducing.trading_state is TradingState.REDUCING and live_paused.paused
    assert sorted(r.action for r in paper.audit.list_day(SESSION)) == [
        "EmergencyStopActivated",
        "TradingStateChanged",
    ]


def test_a_stop_stored_before_stops_were_counted_is_number_0_and_can_be_cleared(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    paper.activate_emergency_stop("user:bob", "old stop", T0)
    key = {
        CONTROL_TABLE.partition_key.name: {"S": "live#control"},
        CONTROL_TABLE.sort_key.name: {"S": "trading"},  # type: ignore[union-attr]
    }
    live = paper.for_mode(TradingMode.LIVE)
    live.activate_emergency_stop("user:bob", "old stop", T0)
    dynamodb.update_item(
        TableName=aws.tables[CONTROL_TABLE.logical_name], Key=key, UpdateExpression="REMOVE stops"
    )

    legacy = live.get_controls()
    cleared = live.clear_emergency_stop("user:alice", "clear the old live stop", T0, legacy.stops)

    assert (legacy.emergency_stop, legacy.stops) == (True, 0)
    assert (cleared.emergency_stop, cleared.paused) == (False, False)
    assert paper.get_controls().emergency_stop  # the paper stop is its own


def test_pause_and_resume_flip_only_the_pause_and_are_audited(paper: DynamoState) -> None:
    paused = paper.pause(actor="user:alice", reason="lunch", at=T0)
    resumed = paper.resume(actor="user:alice", reason="back", at=T0 + timedelta(minutes=30))

    assert (paused.paused, paused.emergency_stop, paused.trading_state) == (True, False, TradingState.ACTIVE)
    assert paused.pause_change == ControlChange("user:alice", "lunch", T0)
    assert resumed.paused is False
    assert [r.action for r in paper.audit.list_day(SESSION)] == ["TradingPaused", "TradingResumed"]


def test_the_same_manual_action_replayed_is_recorded_once(paper: DynamoState) -> None:
    paper.pause(actor="user:alice", reason="lunch", at=T0)
    again = paper.pause(actor="user:alice", reason="lunch", at=T0)

    assert again.paused is True
    assert len(paper.audit.list_day(SESSION)) == 1


def test_a_control_without_who_or_why_is_refused_and_writes_nothing(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    with pytest.raises(ValidationError, match="reason"):
        paper.activate_emergency_stop(actor="user:bob", reason="", at=T0)
    with pytest.raises(ValidationError, match="actor"):
        paper.pause(actor="", reason="lunch", at=T0)

    assert item_count(dynamodb, aws) == 0


def test_settings_replaced_by_another_writer_meanwhile_are_not_overwritten(
    paper: DynamoState, aws: Provisioned, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    paper.put_settings(AutomationSettings(max_positions=2), actor="user:alice", reason="first", at=T0)
    seen_before_bob = Versioned(AutomationSettings(), 0)
    paper.put_settings(AutomationSettings(max_positions=4), actor="user:bob", reason="second", at=T0)
    before = all_items(dynamodb, aws)
    monkeypatch.setattr(paper, "_read_config", lambda sk, kind: seen_before_bob)

    with pytest.raises(ConcurrentUpdate, match="settings changed since version 0"):
        paper.put_settings(AutomationSettings(max_positions=6), actor="user:carol", reason="third", at=T0)

    assert all_items(dynamodb, aws) == before


def test_control_state_reads_what_the_single_getters_read_in_one_call(paper: DynamoState) -> None:
    empty = paper.get_control_state(SESSION)
    assert (empty.settings, empty.risk_limits, empty.controls) == (
        AutomationSettings(),
        RiskLimits(),
        TradingControls(),
    )
    assert (empty.counters.trades, empty.counters.realized_pnl_usd) == (0, 0)

    paper.put_settings(AutomationSettings(master_switch=True, max_positions=2), "user:alice", "set", T0)
    paper.put_risk_limits(RiskLimits(max_consecutive_losses=3), "user:alice", "limit", T0)
    paper.pause("user:bob", "lunch", T0)
    paper.add_to_counters(SESSION, trades=2, realized_pnl_usd=Decimal("-12.50"))
    paper.add_to_counters(SESSION - timedelta(days=1), trades=5)

    state = paper.get_control_state(SESSION)
    assert state.settings == paper.get_settings() and state.settings.max_positions == 2
    assert state.risk_limits == paper.get_risk_limits() and state.risk_limits.max_consecutive_losses == 3
    assert state.controls == paper.get_controls() and state.controls.paused
    assert state.counters == paper.get_counters(SESSION) and state.counters.trades == 2


def test_gateway_heartbeat_round_trips_per_mode_and_is_overwritten_not_audited(
    paper: DynamoState, live: DynamoState
) -> None:
    assert live.get_gateway_status() is None
    account = BrokerAccount("U1234567", Decimal("30125.50"), True, "what-if accepted")
    first = GatewayStatus(T0, connected=True, port=4001, account=account, detail="logged in")
    later = GatewayStatus(T0 + timedelta(seconds=30), connected=False, port=4001, account=None, detail="lost")

    live.put_gateway_status(first)
    assert live.get_gateway_status() == first
    live.put_gateway_status(later)

    assert live.get_gateway_status() == later
    assert paper.get_gateway_status() is None
    assert live.audit.list_day(SESSION) == []


def test_active_mode_is_paper_until_switched_and_each_switch_is_audited_in_both_logs(
    paper: DynamoState, live: DynamoState
) -> None:
    assert paper.get_active_mode() == ActiveMode(TradingMode.PAPER, None)

    armed = paper.switch_active_mode(TradingMode.LIVE, "user:alice", "arm live", T0, {"checks": 9})

    assert armed == ActiveMode(TradingMode.LIVE, ControlChange("user:alice", "arm live", T0))
    assert live.get_active_mode() == armed
    for store in (paper, live):
        (record,) = store.audit.list_day(SESSION)
        assert (record.actor, record.action, record.reason) == (
            "user:alice",
            "TradingModeChanged",
            "arm live",
        )
        assert record.details == {"checks": 9, "from": "paper", "to": "live"}
    with pytest.raises(ConcurrentUpdate, match="already live"):
        live.switch_active_mode(TradingMode.LIVE, "user:bob", "again", T0 + timedelta(seconds=1), {})
    restored = live.switch_active_mode(TradingMode.PAPER, "user:bob", "back", T0 + timedelta(seconds=2), {})
    assert paper.get_active_mode() == restored
    assert len(paper.audit.list_day(SESSION)) == 2
