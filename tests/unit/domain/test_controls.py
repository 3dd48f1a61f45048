from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from smart0dte.domain.controls import (
    AutomationSettings,
    ControlChange,
    ControlsUpdate,
    RiskLimits,
    TradingState,
)

SEED_DEFAULTS = {
    "masterSwitch": False,
    "dataCollection": True,
    "signalGeneration": True,
    "tradeExecution": True,
    "riskManagement": True,
    "maxPositions": 5,
    "maxDayTrades": 3,
    "maxRiskPerTrade": 0.02,
    "stopLossPercentage": 0.15,
    "takeProfitPercentage": 0.25,
    "minConfidence": 0.70,
}


def test_defaults_are_the_product_brief_values_on_the_wire() -> None:
    assert AutomationSettings().to_wire() == SEED_DEFAULTS
    assert RiskLimits().to_wire() == {
        "dailyLossLimit": 0.05,
        "maxDrawdown": 0.15,
        "maxConsecutiveLosses": 5,
        "minSecondsBetweenTrades": 300,
        "pdtEquityThresholdUsd": 25_000.0,
        "pdtWindowSessions": 5,
        "maxSpreadFraction": 0.15,
        "minDisplayedSize": 10,
        "maxSymbolExposure": 0.05,
        "maxPortfolioDelta": 10.0,
        "maxPortfolioGamma": 0.5,
    }


def test_camel_and_snake_case_are_both_accepted() -> None:
    assert AutomationSettings(maxPositions=2).max_positions == 2
    assert AutomationSettings(max_positions=2) == AutomationSettings.model_validate({"maxPositions": 2})


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("maxPositions", 0, "greater than or equal to 1"),
        ("maxPositions", 21, "less than or equal to 20"),
        ("maxDayTrades", -1, "greater than or equal to 0"),
        ("maxRiskPerTrade", 0.0, "greater than 0"),
        ("maxRiskPerTrade", 0.11, "less than or equal to 0.1"),
        ("stopLossPercentage", 1.5, "less than or equal to 1"),
        ("takeProfitPercentage", 0, "greater than 0"),
        ("minConfidence", 1.01, "less than or equal to 1"),
    ],
)
def test_out_of_range_settings_name_the_field_and_the_limit(field: str, value: float, limit: str) -> None:
    with pytest.raises(ValidationError) as error:
        AutomationSettings.model_validate({field: value})
    assert error.value.errors()[0]["loc"] == (field,)
    assert limit in str(error.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dailyLossLimit", 0.0),
        ("maxDrawdown", 0.95),
        ("maxConsecutiveLosses", 0),
        ("minSecondsBetweenTrades", -5),
    ],
)
def test_out_of_range_limits_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValidationError) as error:
        RiskLimits.model_validate({field: value})
    assert error.value.errors()[0]["loc"] == (field,)


def test_unknown_fields_are_refused_and_settings_are_frozen() -> None:
    with pytest.raises(ValidationError, match="maxPosition"):
        AutomationSettings.model_validate({"maxPosition": 3})
    settings = AutomationSettings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.max_positions = 3  # type: ignore[misc]


def test_trading_without_risk_management_is_refused() -> None:
    with pytest.raises(ValidationError, match="riskManagement must be on while tradeExecution is on"):
        AutomationSettings(riskManagement=False)
    assert not AutomationSettings(riskManagement=False, tradeExecution=False).risk_management


AT = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)
BOB = ControlChange("user:bob", "broker outage", AT)


def test_the_emergency_stop_halts_trading_at_once_naming_the_stop_as_the_reason() -> None:
    update = ControlsUpdate.activate_emergency_stop(BOB)

    assert (update.emergency_stop, update.emergency_stop_change) == (True, BOB)
    assert update.trading_state is TradingState.HALTED
    assert update.state_change == ControlChange("user:bob", "emergency stop: broker outage", AT)
    assert (update.paused, update.pause_change) == (None, None)


@pytest.mark.parametrize(
    ("action", "stop", "paused"),
    [
        (ControlsUpdate.clear_emergency_stop, False, None),
        (ControlsUpdate.pause, None, True),
        (ControlsUpdate.resume, None, False),
    ],
)
def test_clearing_the_stop_pausing_and_resuming_change_only_their_flag_not_the_state(
    action: Callable[[ControlChange], ControlsUpdate], stop: bool | None, paused: bool | None
) -> None:
    update = action(BOB)

    assert (update.emergency_stop, update.paused) == (stop, paused)
    assert update.emergency_stop_change == (None if stop is None else BOB)
    assert update.pause_change == (None if paused is None else BOB)
    assert (update.trading_state, update.state_change) == (None, None)


def test_setting_the_trading_state_changes_only_the_state_with_its_reason() -> None:
    change = ControlChange("engine", "daily loss limit reached", AT)

    update = ControlsUpdate.set_trading_state(TradingState.REDUCING, change)

    assert (update.trading_state, update.state_change) == (TradingState.REDUCING, change)
    assert (update.emergency_stop, update.paused) == (None, None)


def test_a_value_without_its_change_is_refused() -> None:
    with pytest.raises(ValueError, match="paused and its change"):
        ControlsUpdate(paused=True)
    with pytest.raises(ValueError, match="trading_state and its change"):
        ControlsUpdate(state_change=BOB)
