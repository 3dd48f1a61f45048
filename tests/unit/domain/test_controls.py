from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from smart0dte.domain.controls import (
    REASON_MAX_CHARS,
    AutomationSettings,
    ControlChange,
    ControlsUpdate,
    RiskLimits,
    TradingState,
    cut_reason,
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


ENGINE_DEFAULTS = {
    "trailingStopPercentage": 0.0,
    "sizingMethod": "fixed_fractional",
    "disabledStrategies": [],
    "startingEquityUsd": 100_000.0,
}
"""What the engine did before these were settings: no trailing stop, fixed fractional sizing, every
strategy, a $100,000 first session."""


NOTIFICATION_DEFAULTS = {
    "notifications": {
        "fill": "silent",
        "exit": "on",
        "limitBreach": "on",
        "circuitBreaker": "on",
        "emergencyStop": "on",
        "resume": "on",
        "reconciliation": "on",
        "openNearClose": "on",
        "flattenFailure": "on",
        "feedDown": "on",
        "gatewayDown": "on",
        "ibReauthentication": "on",
        "dailyReport": "on",
        "learning": "on",
    }
}
"""Fills reach only the channels that can stay quiet (Telegram); everything emailed before is still."""


def test_defaults_are_the_product_brief_values_on_the_wire() -> None:
    assert AutomationSettings().to_wire() == {**SEED_DEFAULTS, **ENGINE_DEFAULTS, **NOTIFICATION_DEFAULTS}
    # A document stored before the engine's settings were exposed still reads, with their defaults.
    assert AutomationSettings.model_validate(SEED_DEFAULTS) == AutomationSettings()
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


def test_the_emergency_stop_halts_trading_at_once_counts_itself_and_always_lands() -> None:
    update = ControlsUpdate.activate_emergency_stop(BOB)

    assert (update.emergency_stop, update.emergency_stop_change) == (True, BOB)
    assert update.trading_state is TradingState.HALTED
    assert update.state_change == ControlChange("user:bob", "emergency stop: broker outage", AT)
    assert (update.paused, update.pause_change) == (None, None)
    assert update.counts_a_stop
    assert (update.unless_stopped, update.unless_paused, update.only_stop) == (False, False, None)


def test_clearing_a_stop_resumes_in_one_change_only_while_that_stop_is_the_last() -> None:
    update = ControlsUpdate.clear_emergency_stop(BOB, stop_number=3)

    assert (update.emergency_stop, update.paused, update.trading_state) == (False, False, TradingState.ACTIVE)
    assert update.emergency_stop_change == update.pause_change == BOB
    assert update.state_change is not None and update.state_change.reason.startswith(
        "emergency stop cleared and resumed: broker outage"
    )
    assert update.only_stop == 3 and not update.counts_a_stop


def test_pause_always_lands_and_a_plain_resume_yields_to_an_emergency_stop() -> None:
    pause, resume = ControlsUpdate.pause(BOB), ControlsUpdate.resume(BOB)

    assert (pause.paused, pause.unless_stopped, pause.trading_state) == (True, False, None)
    assert (resume.paused, resume.unless_stopped, resume.trading_state) == (False, True, None)
    assert resume.emergency_stop is None and resume.only_stop is None


@pytest.mark.parametrize(
    ("state", "unless_stopped", "unless_paused"),
    [
        (TradingState.HALTED, False, False),
        (TradingState.REDUCING, True, False),
        (TradingState.ACTIVE, True, True),
    ],
)
def test_the_risk_evaluations_state_yields_to_a_stop_and_active_to_a_pause(
    state: TradingState, unless_stopped: bool, unless_paused: bool
) -> None:
    change = ControlChange("engine", "daily loss limit reached", AT)

    update = ControlsUpdate.set_trading_state(state, change)

    assert (update.trading_state, update.state_change) == (state, change)
    assert (update.emergency_stop, update.paused) == (None, None)
    assert (update.unless_stopped, update.unless_paused) == (unless_stopped, unless_paused)


@pytest.mark.parametrize(
    ("given", "wanted"),
    [
        ("", "default"),
        ("  \n\t ", "default"),
        ("broker\n  outage", "broker outage"),
        ("x" * REASON_MAX_CHARS, "x" * REASON_MAX_CHARS),
    ],
)
def test_a_reason_is_one_line_and_blank_gives_the_default(given: str, wanted: str) -> None:
    assert cut_reason(given, "default") == wanted


def test_a_long_reason_is_cut_to_the_limit_and_says_so() -> None:
    cut = cut_reason("y" * (REASON_MAX_CHARS + 1), "default")

    assert len(cut) == REASON_MAX_CHARS and cut.endswith("…") and cut.startswith("y" * (REASON_MAX_CHARS - 1))


def test_a_value_without_its_change_is_refused() -> None:
    with pytest.raises(ValueError, match="paused and its change"):
        ControlsUpdate(paused=True)
    with pytest.raises(ValueError, match="trading_state and its change"):
        ControlsUpdate(state_change=BOB)
