"""The analytics API's charts and backtest controls: a session's minute marks (intraday equity) and
fills from the engine's saved state, each strategy's cumulative net P&L, the backtest choices, the
refusal of an unknown scenario or source, past runs and cancel."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.dynamodb.session import DynamoDayDocuments
from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.models import TradingMode
from smart0dte.domain.simulator import Scenario
from smart0dte.services.api import ApiDeps
from smart0dte.services.api.analytics import SCENARIOS

from .conftest import OPEN, PREFIX, REGION, SESSION, Call, FakeBacktests, FixedClock, make_call, position
from .demo_day import STARTING_EQUITY_USD, TRADED, demo_day


@pytest.fixture(scope="module")
def saved_day() -> dict[str, Any]:
    return demo_day()[1]


@pytest.fixture
def with_day(seeded: DynamoState, saved_day: dict[str, Any]) -> DynamoState:
    DynamoDayDocuments(PREFIX, TradingMode.PAPER, region=REGION).put_engine(SESSION, saved_day, 0)
    return seeded


def test_intraday_equity_is_every_minute_the_engine_marked_with_its_drawdown_and_fills(
    api: Call, with_day: DynamoState, saved_day: dict[str, Any]
) -> None:
    status, body = api("GET", "/api/analytics/intraday")
    assert status == 200 and body["note"] is None
    assert body["sessionDate"] == "2025-03-14" and body["startingEquityUsd"] == float(STARTING_EQUITY_USD)
    marks = body["marks"]
    # one mark per minute end from 09:31 to 16:00 New York
    assert len(marks) == 390
    assert marks[0]["ts"].startswith("2025-03-14T09:31:00") and marks[-1]["ts"].startswith(
        "2025-03-14T16:00:00"
    )
    # the day's one trade lost 587.94 net of fees: the last mark is the day's net P&L
    assert marks[-1]["equityUsd"] == pytest.approx(100_000 - 587.94, abs=0.005)
    equities = [m["equityUsd"] for m in marks]
    assert len(set(equities)) > 2  # the open position moves the equity while held
    peak = float(STARTING_EQUITY_USD)
    for m in marks:
        peak = max(peak, m["equityUsd"])
        assert m["drawdownUsd"] == pytest.approx(m["equityUsd"] - peak, abs=1e-6)
        assert m["drawdown"] == pytest.approx((m["equityUsd"] - peak) / peak, abs=1e-12)
    # the position was worth less than it cost from its first mark: the day's high is its start,
    # and the close, its low, is the drawdown from there
    assert max(equities) == 100_000 and min(equities) == equities[-1]
    assert marks[-1]["drawdownUsd"] == pytest.approx(equities[-1] - 100_000, abs=1e-6)
    fills = body["fills"]
    assert [(f["side"], f["contract"], f["quantity"], f["price"]) for f in fills] == [
        ("BUY", TRADED, 92, 0.17),
        ("SELL", TRADED, 92, 0.12),
    ]
    assert {f["underlying"] for f in fills} == {"IWM"}
    assert body == api("GET", "/api/analytics/intraday?date=2025-03-14")[1]


def test_intraday_without_a_date_looks_back_to_the_last_session_with_marks(
    seeded: DynamoState, with_day: DynamoState
) -> None:
    monday = FixedClock(FixedClock().at + timedelta(days=3))
    call = make_call(ApiDeps(store_factory=lambda: seeded, clock=monday))
    status, body = call("GET", "/api/analytics/intraday")
    assert status == 200 and body["sessionDate"] == "2025-03-14" and len(body["marks"]) == 390
    status, body = call("GET", "/api/analytics/intraday?date=2025-03-17")
    assert status == 200 and body["marks"] == [] and body["fills"] == []
    assert "no trading minute has run in paper in 2025-03-17" in body["note"]


def test_intraday_refuses_a_day_without_a_session(api: Call, with_day: DynamoState) -> None:
    status, body = api("GET", "/api/analytics/intraday?date=2025-03-15")
    assert (
        status == 404 and body["field"] == "date" and "2025-03-15 is not an NYSE session" in body["message"]
    )
    assert api("GET", "/api/analytics/intraday?date=soon")[0] == 422


def test_strategy_curves_are_each_strategys_running_net_pnl(api: Call, seeded: DynamoState) -> None:
    status, body = api("GET", "/api/analytics?timeframe=3m")
    assert status == 200
    curves = {c["strategy"]: c["points"] for c in body["strategyCurves"]}
    assert set(curves) == set(body["byStrategy"]) == {"momentum_breakout", "gap_fill"}
    starts = {points[0]["ts"] for points in curves.values()}
    assert len(starts) == 1 and all(points[0]["valueUsd"] == 0 for points in curves.values())
    for name, points in curves.items():
        assert points[-1]["valueUsd"] == pytest.approx(body["byStrategy"][name]["netPnlUsd"], abs=0.005)
        assert [p["ts"] for p in points] == sorted(p["ts"] for p in points)
    assert len(curves["momentum_breakout"]) == 1 + body["byStrategy"]["momentum_breakout"]["trades"]


def test_backtest_choices_are_the_simulators_scenarios_and_the_sources(api: Call) -> None:
    status, body = api("GET", "/api/analytics/backtest/options")
    assert status == 200
    assert [s["name"] for s in body["scenarios"]] == [s.value for s in Scenario] == list(SCENARIOS)
    assert [s["name"] for s in body["sources"]] == ["simulator", "archive"]
    assert (body["defaultSource"], body["defaultScenario"]) == ("simulator", "normal")
    assert all(c["description"] for c in body["scenarios"] + body["sources"])


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("scenario", "bullish", "'normal', 'trend_up', 'trend_down'"),
        ("source", "s3", "'simulator' or 'archive'"),
    ],
)
def test_an_unknown_choice_is_a_422_naming_the_field_and_the_allowed_values(
    api: Call, backtests: FakeBacktests, field: str, value: str, allowed: str
) -> None:
    status, body = api(
        "POST", "/api/analytics/backtest", {"start": "2025-03-10", "end": "2025-03-14", field: value}
    )
    assert status == 422 and body["field"] == field
    assert f"{field}: Input should be {allowed}" in body["message"]
    assert backtests.started == []


def test_runs_are_listed_and_a_running_one_can_be_cancelled(api: Call, backtests: FakeBacktests) -> None:
    for scenario in ("gap_up", "chop"):
        body = {"start": "2025-03-10", "end": "2025-03-14", "scenario": scenario}
        assert api("POST", "/api/analytics/backtest", body)[0] == 202
    status, listed = api("GET", "/api/analytics/backtests?limit=5")
    assert status == 200 and [r["id"] for r in listed["runs"]] == ["run2", "run1"]
    assert listed["runs"][0]["scenario"] == "chop" and listed["runs"][0]["start"] == "2025-03-10"
    assert api("GET", "/api/analytics/backtests?limit=0")[0] == 422

    assert api("POST", "/api/analytics/backtest/run2/cancel")[0] == 409  # finished: nothing to cancel
    assert api("POST", "/api/analytics/backtest/nope/cancel")[0] == 404
    status, cancelled = api("POST", "/api/analytics/backtest/running1/cancel")
    assert status == 200 and cancelled["status"] == "ABORTED"
    assert cancelled["reason"] == "cancelled by user:alice at 2025-03-14 14:31 UTC"
    assert backtests.cancelled == {"running1": cancelled["reason"]}


def test_a_succeeded_run_without_a_reports_bucket_still_gives_its_result(
    api: Call, backtests: FakeBacktests
) -> None:
    assert api("POST", "/api/analytics/backtest", {"start": "2025-03-10", "end": "2025-03-14"})[0] == 202
    status, body = api("GET", "/api/analytics/backtest/run1")
    assert status == 200 and body["result"]["netPnlUsd"] == "120.50" and body["report"] is None
    assert body["reason"] is None and (body["source"], body["scenario"]) == ("simulator", "normal")


def test_the_calendar_is_what_the_route_reads(saved_day: dict[str, Any]) -> None:
    """The saved state's marks start one minute after the calendar's open (the anchor used to read them)."""
    session = MarketCalendar().session(SESSION)
    assert session is not None
    first_micros = saved_day["engine"]["portfolio"]["equity_curve"][0][0]
    assert timedelta(microseconds=first_micros) == timedelta(minutes=1)
    assert Decimal(saved_day["engine"]["carry"]["equity_usd"]) == STARTING_EQUITY_USD


def test_the_equity_curve_starts_from_the_accounts_equity_not_a_fixed_amount(
    api: Call, seeded: DynamoState
) -> None:
    """No plan today: the account starts the day at the settings' starting equity; the month's curve
    starts that much less what its earlier sessions made and ends where the account started today."""
    settings = seeded.get_settings().model_copy(update={"starting_equity_usd": 25_000.0})
    seeded.put_settings(settings, "user:test", "a smaller account", OPEN)
    opened = OPEN - timedelta(days=3)  # a winner three sessions ago: the month made money
    seeded.open_position(position(6, 560.0, opened), "system:execute", "entry")
    seeded.close_position(
        "position-6", Decimal("2.00"), opened + timedelta(minutes=30), "target", "system:execute"
    )
    earlier = [
        t for t in seeded.list_closed_trades(SESSION - timedelta(days=30)) if t.exit_ts.date() < SESSION
    ]
    assert len(earlier) == 3  # and the seed's of 1 and 2 sessions ago (the one of 40 days is out)
    made = sum((t.pnl_usd for t in earlier), Decimal(0))
    assert made == Decimal("150.00")

    status, body = api("GET", "/api/analytics?timeframe=1m")
    account = api("GET", "/api/account")[1]

    assert status == 200 and account["planned"] is False
    assert Decimal(account["startingEquityUsd"]) == Decimal("25000.00")
    assert Decimal(str(body["startingEquityUsd"])) == Decimal("25000") - made
    assert Decimal(str(body["equityCurve"][-1]["equityUsd"])) == Decimal("25000")
