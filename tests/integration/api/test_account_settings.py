"""The account the Settings page gauges (GET /api/account), the settings the engine reads that the
API now exposes (sizing method, trailing stop, strategies on/off, paper starting equity) and the
audit log as sentences in the order things happened."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoDayDocuments, DynamoState
from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.models import TradingMode
from smart0dte.domain.sizing import SizingMethod
from smart0dte.domain.strategies import STRATEGIES
from smart0dte.ports import AuditRecord, SessionPlan

from ..moto_env import REGION
from .conftest import OPEN, PREFIX, SESSION, T0, Call

CENT = Decimal("0.01")


def _marks(store: DynamoState) -> dict[str, Decimal]:
    """Each open position's mid in the seeded snapshot, in cents."""
    snapshot = store.latest_chain_snapshot(store.list_open_positions()[0].contract.underlying, T0)  # type: ignore[arg-type]
    assert snapshot is not None
    out = {}
    for p in store.list_open_positions():
        quote = snapshot.quote_for(p.contract)
        assert quote is not None
        out[p.position_id] = Decimal(str(quote.mid)).quantize(CENT)
    return out


def test_account_adds_the_marks_to_the_settings_equity_before_a_plan(api: Call, seeded: DynamoState) -> None:
    status, body = api("GET", "/api/account")

    assert status == 200
    positions = seeded.list_open_positions()
    marks = _marks(seeded)
    value = sum(marks[p.position_id] * p.quantity * 100 for p in positions)
    unrealized = sum((marks[p.position_id] - p.entry_price) * p.quantity * 100 for p in positions)
    working_buys = sum(
        o.limit_price * (o.quantity - o.filled_quantity) * 100  # type: ignore[operator]
        for o in seeded.list_working_orders()
        if o.side.value == "BUY"
    )
    assert working_buys == Decimal("250.00")  # the seeded working order: 2 at 1.25
    equity = Decimal("100000") + unrealized  # no session plan: the settings' starting equity
    assert body["planned"] is False
    assert Decimal(body["startingEquityUsd"]) == Decimal("100000.00")
    assert Decimal(body["equityUsd"]) == equity.quantize(CENT)
    assert Decimal(body["positionsValueUsd"]) == value
    assert Decimal(body["buyingPowerUsd"]) == (equity - value - working_buys).quantize(CENT)
    assert Decimal(body["riskPerTradeUsd"]) == (equity * Decimal("0.02")).quantize(CENT)
    assert body["dailyLoss"]["limitUsd"] == "5000.00"  # 5% of $100,000
    assert body["dailyLoss"]["limitFraction"] == 0.05
    assert body["strategies"] == list(STRATEGIES)


def test_account_gauges_the_plans_start_and_peak_against_the_limits(api: Call, seeded: DynamoState) -> None:
    session = MarketCalendar().session(SESSION)
    assert session is not None
    plan = SessionPlan(
        session_date=SESSION,
        open_et=session.open_et,
        close_et=session.close_et,
        flatten_et=session.flatten_et,
        model_version=None,
        starting_equity_usd=Decimal("50000"),
        peak_equity_usd=Decimal("60000"),
        day_trades_in_window=0,
        consecutive_losses=0,
        prepared_at=OPEN - timedelta(hours=1),
    )
    DynamoDayDocuments(PREFIX, TradingMode.PAPER, region=REGION).put_plan(plan, "pre_market", "plan")
    # Close one position at a loss today: realized P&L lowers the equity.
    seeded.close_position("position-1", Decimal("0.25"), T0, "STOP_LOSS", "system:execute", Decimal("2.60"))
    realized = (Decimal("0.25") - Decimal("1.25")) * 2 * 100 - Decimal("2.60")

    body = api("GET", "/api/account")[1]

    (held,) = seeded.list_open_positions()
    unrealized = (_marks(seeded)[held.position_id] - held.entry_price) * held.quantity * 100
    equity = Decimal("50000") + realized + unrealized
    assert body["planned"] is True
    assert Decimal(body["realizedPnlUsd"]) == realized
    assert Decimal(body["equityUsd"]) == equity
    loss = Decimal("50000") - equity
    assert Decimal(body["dailyLoss"]["usedUsd"]) == loss
    assert body["dailyLoss"]["usedFraction"] == pytest.approx(float(loss / Decimal("50000")))
    assert Decimal(body["drawdown"]["usedUsd"]) == Decimal("60000") - equity
    assert Decimal(body["drawdown"]["limitUsd"]) == Decimal("9000.00")  # 15% of the $60,000 peak


def test_settings_expose_sizing_trailing_stop_strategies_and_starting_equity(
    api: Call, seeded: DynamoState
) -> None:
    status, body = api(
        "POST",
        "/api/automation/settings",
        {
            "sizingMethod": "half_kelly",
            "trailingStopPercentage": 0.1,
            "disabledStrategies": ["gap_fill"],
            "startingEquityUsd": 25000,
            "stopLossPercentage": 0.15,
        },
    )

    assert status == 200
    saved = seeded.get_settings()
    assert saved.sizing_method is SizingMethod.HALF_KELLY
    assert saved.trailing_stop_percentage == 0.1
    assert saved.disabled_strategies == ("gap_fill",)
    assert saved.starting_equity_usd == 25000
    assert body["settings"]["disabledStrategies"] == ["gap_fill"]
    # Turning the trailing stop off again and every strategy back on.
    assert (
        api("POST", "/api/automation/settings", {"trailingStopPercentage": 0, "disabledStrategies": []})[0]
        == 200
    )
    assert seeded.get_settings().trailing_stop_percentage == 0
    assert seeded.get_settings().disabled_strategies == ()


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"disabledStrategies": ["bogus"]}, "disabledStrategies", "'momentum_breakout', 'mean_reversion'"),
        ({"sizingMethod": "martingale"}, "sizingMethod", "'fixed_fractional', 'half_kelly' or"),
        ({"trailingStopPercentage": 1}, "trailingStopPercentage", "less than 1"),
        ({"takeProfitPercentage": 15}, "takeProfitPercentage", "less than or equal to 10"),
        ({"startingEquityUsd": 0.5}, "startingEquityUsd", "greater than or equal to 1"),
    ],
)
def test_bad_new_settings_get_422_naming_the_field_and_limit(
    api: Call, seeded: DynamoState, body: dict[str, Any], field: str, text: str
) -> None:
    before = seeded.get_settings()
    status, payload = api("POST", "/api/automation/settings", body)
    assert status == 422
    assert field in payload["message"] and text in payload["message"]
    assert seeded.get_settings() == before


def test_the_api_documents_the_stored_unit_of_a_percent_setting(api: Call) -> None:
    schema = api("GET", "/api/openapi.json", claims=None)[1]
    patch = schema["components"]["schemas"]["AutomationSettingsPatch"]["properties"]
    assert patch["stopLossPercentage"]["description"] == "fraction of premium"
    assert patch["maxRiskPerTrade"]["description"] == "fraction of equity"


def test_records_of_one_instant_come_back_in_the_order_they_were_written(
    api: Call, seeded: DynamoState
) -> None:
    at = T0 + timedelta(seconds=7)
    actions = [f"Step{n}" for n in range(12)]  # twelve, so a hash order would rarely match
    for action in actions:
        seeded.audit.append(AuditRecord(at, TradingMode.PAPER, "system:test", action, "in order"))

    assert [r.action for r in seeded.audit.list_day(SESSION) if r.ts == at] == actions
    body = api("GET", "/api/audit?date=2025-03-14")[1]
    newest_first = [r["action"] for r in body["records"] if r["action"].startswith("Step")]
    assert newest_first == actions[::-1]


def test_audit_records_read_as_sentences(api: Call, seeded: DynamoState) -> None:
    seeded.put_settings(
        AutomationSettings(master_switch=True, stop_loss_percentage=0.2), "user:alice", "tighter", T0
    )
    newest_first = api("GET", "/api/audit?date=2025-03-14")[1]["records"]
    records = {r["action"]: r["sentence"] for r in reversed(newest_first)}  # the newest of each action

    assert (
        records["SettingsChanged"] == "Settings changed by user:alice: stop loss percentage 15.0% -> 20.0%."
    )
    assert (
        records["PositionOpened"]
        == "Position opened: 2 SPY 564 call (2025-03-14) at $1.25 by mean reversion."
    )
    assert records["SignalGenerated"].startswith(
        "Momentum breakout signalled calls (up) on SPY with 80.0% confidence: close broke"
    )
    assert records["RiskCheckCompleted"] in {
        "Risk approved the signal for 2 contracts.",
        "Risk refused the signal: trading is paused.",
    }
