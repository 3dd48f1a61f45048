"""Contract tests for every route of the API, on moto with a seeded paper store."""

from datetime import date, timedelta
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.dynamodb import DynamoDayDocuments, DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.adapters.aws.scheduler import ScheduleGroupReader
from smart0dte.domain.chain_analytics import PricingInputs
from smart0dte.domain.controls import TradingState
from smart0dte.domain.models import Bar, PositionStatus, TradingMode, Underlying
from smart0dte.services.api import ApiDeps
from smart0dte.services.events import BacktestRequestWire

from ..moto_env import REGION
from .conftest import PREFIX, READER, SESSION, T0, Call, FakeBacktests, FixedClock, make_call

GETS = [
    "/api/dashboard",
    "/api/trading",
    "/api/account",
    "/api/signals",
    "/api/strikes?symbol=SPY",
    "/api/bars?symbol=SPY&interval=2m",
    "/api/analytics?timeframe=all",
    "/api/analytics/backtest/run1",
    "/api/analytics/optimization/momentum_breakout",
    "/api/market-status",
    "/api/scheduler/status",
    "/api/audit",
]
POSTS = [
    ("/api/automation/settings", {"maxPositions": 3}),
    ("/api/trading/emergency-stop", {"reason": "x"}),
    ("/api/trading/pause", {"reason": "x"}),
    ("/api/trading/resume", {"reason": "x", "mode": "paper", "confirm": "RESUME"}),
    ("/api/positions/position-1/close", {"reason": "x"}),
    ("/api/analytics/backtest", {"start": "2025-03-10", "end": "2025-03-14"}),
    ("/api/reset", {"scope": "all", "confirm": "RESET"}),
    ("/api/trading/mode", {"mode": "live", "confirm": "LIVE"}),
]


def audit_actions(store: DynamoState) -> list[tuple[str, str]]:
    return [(r.action, r.actor) for r in store.audit.list_day(SESSION)]


# --- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", GETS)
def test_every_read_route_needs_a_token(api: Call, path: str) -> None:
    status, body = api("GET", path, claims=None)
    assert status == 401
    assert "bearer token" in body["message"]


@pytest.mark.parametrize(("path", "body"), POSTS)
def test_every_mutating_route_needs_a_token_before_validating_the_body(
    api: Call, seeded: DynamoState, path: str, body: dict[str, Any]
) -> None:
    before = audit_actions(seeded)
    status, _ = api("POST", path, {"not": "valid"}, claims=None)
    assert status == 401
    assert audit_actions(seeded) == before


@pytest.mark.parametrize(("path", "body"), POSTS)
def test_mutating_routes_need_the_trade_scope(
    api: Call, seeded: DynamoState, path: str, body: dict[str, Any]
) -> None:
    before = audit_actions(seeded)
    status, payload = api("POST", path, body, claims=READER)
    assert status == 403
    assert payload["requiredScope"] == "smart0dte/trade"
    assert audit_actions(seeded) == before


@pytest.mark.parametrize("path", GETS)
def test_read_routes_need_read_or_trade_scope(api: Call, path: str) -> None:
    assert api("GET", path, claims={"sub": "x", "scope": "profile"})[0] == 403
    expected = 404 if path.endswith("/run1") else 200  # no run started: past auth, not found
    assert api("GET", path, claims=READER)[0] == expected
    assert api("GET", path, claims={"sub": "x", "scope": "smart0dte/trade"})[0] == expected


def test_health_needs_no_token_and_reports_every_component(api: Call, seeded: DynamoState) -> None:
    for symbol in ("QQQ", "IWM"):
        seeded.put_bar(
            Bar(symbol=symbol, ts=T0 - timedelta(minutes=2), open=1, high=1, low=1, close=1, volume=1)
        )
    DynamoDayDocuments(PREFIX, TradingMode.PAPER, region=REGION).put_engine(
        SESSION, {"engine": {}}, 0, at=T0 - timedelta(minutes=1)
    )

    status, body = api("GET", "/api/health", claims=None)

    assert status == 200
    by_name = {c["name"]: c for c in body["components"]}
    assert set(by_name) == {"system", "dataFeed", "broker", "signalEngine", "marketHours"}
    assert by_name["dataFeed"]["status"] == "green"
    assert "QQQ: last bar closed 60 s ago" in by_name["dataFeed"]["reason"]
    assert by_name["marketHours"] == {"name": "marketHours", "status": "green", "reason": "phase TRADING"}
    assert by_name["signalEngine"] == {
        "name": "signalEngine",
        "status": "green",
        "reason": "last trading cycle handled 10:30 ET, 60 s ago",
    }
    assert body["status"] == "green"


def test_health_names_a_silent_feed_and_a_cycle_that_never_ran(api: Call) -> None:
    _, body = api("GET", "/api/health", claims=None)

    by_name = {c["name"]: c for c in body["components"]}
    assert (
        by_name["dataFeed"]["status"] == "red" and "QQQ: no bar this session" in by_name["dataFeed"]["reason"]
    )
    assert by_name["signalEngine"] == {
        "name": "signalEngine",
        "status": "red",
        "reason": "no trading cycle this session",
    }
    assert body["status"] == "red"


def test_health_turns_red_on_emergency_stop_and_gray_when_closed(
    seeded: DynamoState, backtests: FakeBacktests
) -> None:
    seeded.activate_emergency_stop("user:alice", "drill", FixedClock().at)
    call = make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock(FixedClock().at.replace(day=15))))
    status, body = call("GET", "/api/health", claims=None)
    by_name = {c["name"]: c for c in body["components"]}
    assert status == 200
    assert by_name["signalEngine"]["status"] == "red"
    assert by_name["dataFeed"]["status"] == "gray"
    assert by_name["marketHours"]["status"] == "gray"
    assert body["status"] == "red"


# --- reads ------------------------------------------------------------------------------------


def test_dashboard_shows_pnl_positions_signals_and_market(api: Call) -> None:
    status, body = api("GET", "/api/dashboard", claims=READER)
    assert status == 200
    assert body["mode"] == "paper"
    assert body["settings"]["masterSwitch"] is True
    assert [p["positionId"] for p in body["openPositions"]] == ["position-1", "position-2"]
    first = body["openPositions"][0]
    assert first["markPrice"] == pytest.approx(1.05)  # mid of the 562 call: (1.00 + 1.10) / 2
    assert first["unrealizedPnlUsd"] == "-40.00"  # (1.05 - 1.25) * 2 * 100
    assert body["counters"]["trades"] == 2
    assert next(s["signalId"] for s in body["recentSignals"]) == "momentum_breakout-SPY-2"
    assert body["recentSignals"][-1]["risk"]["violations"] == ["PAUSED: trading is paused"]
    assert body["market"]["phase"] == "TRADING"
    assert body["market"]["nextEvent"] == "close"
    assert body["controls"]["emergencyStop"] is False


def test_trading_lists_controls_limits_positions_and_working_orders(api: Call) -> None:
    status, body = api("GET", "/api/trading", claims=READER)
    assert status == 200
    assert body["riskLimits"]["maxDrawdown"] == 0.15
    (order,) = body["workingOrders"]
    assert (order["orderId"], order["status"], order["contract"]) == (
        "order-2",
        "SUBMITTED",
        "SPY   250314C00562000",
    )
    assert (order["stopPrice"], order["ocaGroup"]) == (None, None)  # a plain limit, no protective group
    assert len(body["openPositions"]) == 2


def test_signals_newest_first_with_risk(api: Call) -> None:
    status, body = api("GET", "/api/signals?date=2025-03-14&limit=2")
    assert status == 200
    assert [s["signalId"] for s in body] == ["momentum_breakout-SPY-2", "momentum_breakout-SPY-1"]
    assert body[0]["risk"] == {"approved": True, "tradingState": "ACTIVE", "quantity": 2, "violations": []}
    assert api("GET", "/api/signals?date=2025-02-30")[0] == 422
    assert api("GET", "/api/signals?limit=0")[0] == 422


def test_strikes_give_quotes_iv_and_greeks(api: Call) -> None:
    status, body = api("GET", "/api/strikes?symbol=SPY")
    assert status == 200
    assert body["symbol"] == "SPY"
    assert body["minutesToExpiry"] == pytest.approx(330.0)  # 10:30 to 16:00
    assert len(body["rows"]) == 10
    atm_call = next(r for r in body["rows"] if r["strike"] == 562.0 and r["right"] == "C")
    assert atm_call["bid"] == 1.0 and atm_call["ask"] == 1.1
    assert atm_call["volume"] == 50 and atm_call["volumeSource"] == "displayed_size"
    assert 0.4 < atm_call["delta"] < 0.6
    assert atm_call["gamma"] > 0 and atm_call["vega"] > 0 and atm_call["thetaPerMinute"] < 0
    assert 0 < atm_call["iv"] < 1
    assert atm_call["usable"] is True and atm_call["quoteFlag"] == "OK"


def test_strikes_flag_in_the_money_calls_on_an_ex_dividend_day(seeded: DynamoState) -> None:
    pricing = PricingInputs(ex_dividend_dates={Underlying.SPY: frozenset({SESSION})})
    call = make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock(), pricing=pricing))

    status, body = call("GET", "/api/strikes?symbol=SPY")

    assert status == 200
    flagged = {(r["strike"], r["right"]) for r in body["rows"] if r["earlyExerciseRisk"]}
    assert flagged and all(right == "C" and strike < 562.0 for strike, right in flagged)
    assert not any(r["selectable"] for r in body["rows"] if r["earlyExerciseRisk"])
    _, usual = make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock()))(
        "GET", "/api/strikes?symbol=SPY"
    )
    assert not any(r["earlyExerciseRisk"] for r in usual["rows"])


def test_strikes_reject_unknown_symbols_and_report_missing_chains(api: Call) -> None:
    status, body = api("GET", "/api/strikes?symbol=TSLA")
    assert status == 422 and "'SPY', 'QQQ' or 'IWM'" in body["message"]
    assert api("GET", "/api/strikes?symbol=QQQ")[0] == 404
    assert api("GET", "/api/strikes")[0] == 422


def test_bars_resample_one_minute_bars(api: Call) -> None:
    status, body = api("GET", "/api/bars?symbol=SPY&interval=2m")
    assert status == 200
    bars = body["bars"]
    assert len(bars) == 30
    assert bars[0]["ts"].startswith("2025-03-14T13:30:00")
    assert bars[0]["volume"] == 1000 + 1001
    assert bars[0]["open"] == 562.0 and bars[0]["close"] == pytest.approx(562.1)
    assert bars[0]["high"] == pytest.approx(562.15)
    assert len(api("GET", "/api/bars?symbol=SPY&interval=5m")[1]["bars"]) == 12
    assert api("GET", "/api/bars?symbol=SPY&interval=3m")[0] == 422


def test_option_bars_are_the_mid_of_each_minutes_chain_snapshot(api: Call, seeded: DynamoState) -> None:
    (snapshot,) = seeded.list_chain_snapshots(Underlying.SPY, T0)
    later = [
        q.model_copy(update={"bid": q.bid + 0.2, "ask": q.ask + 0.2}) if q.contract.strike == 562.0 else q
        for q in snapshot.quotes
    ]
    seeded.put_chain_snapshot(snapshot.model_copy(update={"ts": T0, "quotes": tuple(later)}))
    call_562 = "SPY   250314C00562000"

    status, body = api("GET", f"/api/bars?symbol={call_562}&interval=1m")

    assert status == 200 and body["source"] == "chain_mid"
    assert [(b["ts"][:16], b["close"], b["volume"]) for b in body["bars"]] == [
        ("2025-03-14T14:29", pytest.approx(1.05), 0),
        ("2025-03-14T14:30", pytest.approx(1.25), 0),
    ]
    two = api("GET", f"/api/bars?symbol={call_562}&interval=2m")[1]["bars"]
    # 10:29 and 10:30 New York fall in the 10:28 and 10:30 two-minute candles
    assert [(b["ts"][:16], b["close"]) for b in two] == [
        ("2025-03-14T14:28", pytest.approx(1.05)),
        ("2025-03-14T14:30", pytest.approx(1.25)),
    ]
    assert api("GET", "/api/bars?symbol=SPY&interval=1m")[1]["source"] == "trades"
    assert api("GET", "/api/bars?symbol=XYZ   250314C00562000")[0] == 422


def test_analytics_of_closed_trades(api: Call) -> None:
    status, body = api("GET", "/api/analytics?timeframe=all")
    assert status == 200
    assert body["trades"]["trades"] == 3
    assert body["trades"]["netPnlUsd"] == pytest.approx(70 - 70 + 50)
    assert set(body["byStrategy"]) == {"momentum_breakout", "gap_fill"}
    assert len(body["equityCurve"]) == 3
    week = api("GET", "/api/analytics?timeframe=1w&strategy=momentum_breakout")[1]
    assert week["trades"]["trades"] == 1
    assert api("GET", "/api/analytics?strategy=nope")[0] == 422
    assert api("GET", "/api/analytics?timeframe=2d")[0] == 422


def test_analytics_of_positions_closed_before_the_trade_journal_come_back_with_its_backfill(
    api: Call, seeded: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    routes = (
        "/api/analytics?timeframe=all",
        "/api/analytics?timeframe=1w",
        "/api/analytics/optimization/gap_fill",
    )
    before = [api("GET", route) for route in routes]
    trading = aws.tables["trading"]
    journal = dynamodb.query(
        TableName=trading,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "paper#trades"}},
    )["Items"]
    for item in journal:  # the store as an older version left it: closed positions, no journal
        dynamodb.delete_item(TableName=trading, Key={"pk": item["pk"], "sk": item["sk"]})
    assert api("GET", routes[0])[1]["trades"]["trades"] == 0

    backfilled = seeded.backfill_trade_journal(T0, "post_close")

    assert backfilled == ["position-3", "position-4", "position-5"]
    assert [api("GET", route) for route in routes] == before


def test_optimization_names_parameters_and_live_results(api: Call) -> None:
    status, body = api("GET", "/api/analytics/optimization/momentum_breakout")
    assert status == 200
    assert body["liveTrades"]["trades"] == 2
    assert body["defaultParams"]
    assert body["optimization"] is None
    assert api("GET", "/api/analytics/optimization/unknown")[0] == 404


def test_market_status_counts_down_to_the_close(api: Call) -> None:
    status, body = api("GET", "/api/market-status")
    assert status == 200
    assert body["phase"] == "TRADING"
    assert body["nextEvent"] == "close"
    assert body["secondsToNextEvent"] == 5 * 3600 + 29 * 60


def test_scheduler_status_lists_recurring_and_todays_times(api: Call) -> None:
    status, body = api("GET", "/api/scheduler/status")
    assert status == 200
    assert {s["name"] for s in body["recurring"]} == {"pre_market", "learning_weekday", "learning_weekend"}
    flatten = next(t for t in body["today"] if t["workflow"] == "flatten")
    assert flatten["at"] == "2025-03-14T15:50:00-04:00"
    cycles = next(t for t in body["today"] if t["workflow"] == "trading_cycle")
    assert (cycles["from"], cycles["to"]) == ("2025-03-14T09:31:00-04:00", "2025-03-14T16:00:00-04:00")
    assert (body["deployed"], body["note"]) == (None, "no access to the schedule group is configured here")


ROLE_ARN = "arn:aws:iam::123456789012:role/r"


def test_scheduler_status_shows_what_eventbridge_scheduler_holds(seeded: DynamoState) -> None:
    client = boto3.client("scheduler", region_name=REGION)
    client.create_schedule_group(Name="apitest-group")
    flatten_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:smart0dte-apitest-flatten"
    client.create_schedule(
        Name="flatten-live-2025-03-14",
        GroupName="apitest-group",
        ScheduleExpression="at(2025-03-14T15:50:00)",
        ScheduleExpressionTimezone="America/New_York",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": flatten_arn,
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "Input": '{"mode": "live"}',
        },
    )
    reader = ScheduleGroupReader(client, "apitest-group")
    call = make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock(), schedules=reader))

    status, body = call("GET", "/api/scheduler/status")

    assert status == 200
    assert body["deployed"] == [
        {
            "name": "flatten-live-2025-03-14",
            "expression": "at(2025-03-14T15:50:00)",
            "timezone": "America/New_York",
            "target": "smart0dte-apitest-flatten",
            "state": "ENABLED",
            "mode": "live",
        }
    ]


def test_audit_lists_the_day_newest_first(api: Call) -> None:
    status, body = api("GET", "/api/audit?date=2025-03-14")
    assert status == 200
    stamps = [r["ts"] for r in body["records"]]
    assert stamps == sorted(stamps, reverse=True)
    assert {"SignalGenerated", "PositionOpened"} <= {r["action"] for r in body["records"]}


# --- writes -----------------------------------------------------------------------------------


def test_settings_change_is_partial_and_audited_with_the_caller(api: Call, seeded: DynamoState) -> None:
    status, body = api("POST", "/api/automation/settings", {"maxPositions": 3, "minConfidence": 0.8})
    assert status == 200
    assert body["settings"]["maxPositions"] == 3
    assert body["settings"]["masterSwitch"] is True  # untouched
    assert seeded.get_settings().max_positions == 3
    assert ("SettingsChanged", "user:alice") in audit_actions(seeded)


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"maxPositions": 99}, "maxPositions", "less than or equal to 20"),
        ({"maxRiskPerTrade": 0}, "maxRiskPerTrade", "greater than 0"),
        ({"stopLossPercentage": "lots"}, "stopLossPercentage", "number"),
        ({"bogus": 1}, "bogus", "Extra inputs"),
        ({"riskManagement": False}, "body", "riskManagement must be on while tradeExecution is on"),
        ({}, "body", "at least one setting"),
    ],
)
def test_bad_settings_get_422_naming_the_field_and_change_nothing(
    api: Call, seeded: DynamoState, body: dict[str, Any], field: str, text: str
) -> None:
    before = seeded.get_settings()
    status, payload = api("POST", "/api/automation/settings", body)
    assert status == 422
    assert text in payload["message"]
    if field != "body":
        assert payload["detail"][0]["field"] == field
    assert seeded.get_settings() == before


def test_settings_422_carries_the_limit(api: Call) -> None:
    _, payload = api("POST", "/api/automation/settings", {"maxPositions": 99})
    assert payload["detail"][0]["ctx"] == {"le": 20}


def test_risk_limits_change_is_partial_audited_and_422_names_the_field(
    api: Call, seeded: DynamoState
) -> None:
    status, body = api("POST", "/api/risk/limits", {"dailyLossLimit": 0.03, "maxConsecutiveLosses": 3})
    assert status == 200
    assert (body["riskLimits"]["dailyLossLimit"], body["riskLimits"]["maxConsecutiveLosses"]) == (0.03, 3)
    assert seeded.get_risk_limits().daily_loss_limit == 0.03
    assert ("RiskLimitsChanged", "user:alice") in audit_actions(seeded)
    before = seeded.get_risk_limits()
    status, payload = api("POST", "/api/risk/limits", {"dailyLossLimit": 0.9})
    assert status == 422
    assert payload["detail"][0]["field"] == "dailyLossLimit" and payload["detail"][0]["ctx"] == {"le": 0.5}
    assert api("POST", "/api/risk/limits", {})[0] == 422
    assert api("POST", "/api/risk/limits", {"maxDrawdown": 0.2}, claims=READER)[0] == 403
    assert seeded.get_risk_limits() == before


def test_a_halt_from_the_limits_survives_resume(api: Call, seeded: DynamoState) -> None:
    seeded.set_trading_state(TradingState.HALTED, "system:risk", "daily loss limit reached", T0)
    status, body = api("POST", "/api/trading/resume", {"reason": "try again"})
    assert status == 200 and body["controls"]["tradingState"] == "HALTED"


def test_emergency_stop_pause_and_resume(api: Call, seeded: DynamoState) -> None:
    status, body = api("POST", "/api/trading/emergency-stop", {"reason": "runaway losses"})
    assert status == 200
    assert body["controls"]["emergencyStop"] is True
    assert body["controls"]["tradingState"] == "HALTED"
    assert body["controls"]["emergencyStopChange"]["actor"] == "user:alice"
    assert body["controls"]["emergencyStopChange"]["reason"] == "runaway losses"
    assert api("POST", "/api/trading/pause", {"reason": "lunch"})[1]["controls"]["paused"] is True
    status, body = api(
        "POST", "/api/trading/resume", {"reason": "all clear", "mode": "paper", "confirm": "RESUME"}
    )
    assert status == 200
    assert body["controls"]["emergencyStop"] is False and body["controls"]["paused"] is False
    assert body["controls"]["tradingState"] == "ACTIVE"  # the stop alone halted it
    actions = audit_actions(seeded)
    for action in ("EmergencyStopActivated", "TradingPaused", "EmergencyStopCleared"):
        assert (action, "user:alice") in actions


@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": "x" * 501}, {"why": "x"}])
def test_pause_needs_a_reason_the_emergency_stop_does_not(api: Call, seeded: DynamoState, body: Any) -> None:
    assert api("POST", "/api/trading/pause", body)[0] == 422
    assert seeded.get_controls().paused is False
    assert api("POST", "/api/trading/emergency-stop", body)[0] == 200
    assert seeded.get_controls().emergency_stop is True


def test_malformed_json_is_400_before_any_route_reads_it(api: Call) -> None:
    assert api("POST", "/api/trading/pause", raw_body="{not json")[0] == 400


def test_close_position_at_the_bid_books_pnl_and_audits(api: Call, seeded: DynamoState) -> None:
    status, body = api("POST", "/api/positions/position-1/close", {"reason": "take it off"})
    assert status == 200
    assert body["exitPrice"] == "1.00"
    assert body["realizedPnlUsd"] == "-50.00"
    assert (body["position"]["status"], body["status"]) == ("CLOSED", "closed")
    stored = seeded.get_position("position-1")
    assert stored is not None and stored.value.status is PositionStatus.CLOSED
    assert ("PositionClosed", "user:alice") in audit_actions(seeded)
    assert seeded.get_controls().close_requests == {"position-1"}  # the engine lets go of it too
    assert api("POST", "/api/positions/position-1/close", {"reason": "again"})[0] == 409
    assert api("POST", "/api/positions/nope/close", {"reason": "x"})[0] == 404


@pytest.mark.parametrize("mode", [TradingMode.LIVE, TradingMode.IBKR_PAPER])
def test_closing_a_broker_position_asks_the_engine_for_an_exit_and_places_nothing_itself(
    mode: TradingMode, seeded: DynamoState
) -> None:
    live = seeded.for_mode(mode)
    position = seeded.get_position("position-2")
    assert position is not None
    live.open_position(position.value.model_copy(update={"mode": mode}), "system:execute", "entry")
    live.switch_active_mode(mode, "user:alice", "armed", T0, {})
    call = make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock()))

    status, body = call("POST", "/api/positions/position-2/close", {"reason": "take it off"})

    assert status == 200
    assert (body["status"], body["exitPrice"], body["position"]["status"]) == (
        "close_requested",
        None,
        "OPEN",
    )
    assert live.get_controls().close_requests == {"position-2"}
    assert live.list_working_orders() == []
    requested = [r for r in live.audit.list_day(SESSION) if r.action == "PositionCloseRequested"]
    assert [(r.actor, r.details["position_id"]) for r in requested] == [("user:alice", "position-2")]


def test_backtest_start_and_poll(api: Call, backtests: FakeBacktests, seeded: DynamoState) -> None:
    status, body = api(
        "POST", "/api/analytics/backtest", {"start": "2025-03-10", "end": "2025-03-14", "seed": 3}
    )
    assert status == 202
    assert body == {"id": "run1", "status": "RUNNING"}
    started = backtests.started[0]
    assert started["days"] == ["2025-03-10", "2025-03-11", "2025-03-12", "2025-03-13", "2025-03-14"]
    # exactly what backtest_day accepts; who asked is in the audit log, not in the request
    assert BacktestRequestWire.model_validate(started["request"]).seed == 3
    assert ("BacktestStarted", "user:alice") in audit_actions(seeded)
    status, body = api("GET", "/api/analytics/backtest/run1")
    assert (status, body["status"], body["daysTotal"], body["daysDone"], body["progress"]) == (
        200,
        "SUCCEEDED",
        5,
        5,
        1.0,
    )
    assert body["result"]["trades"] == 2 and body["error"] is None
    assert api("GET", "/api/analytics/backtest/run9")[0] == 404
    assert api("POST", "/api/analytics/backtest", {"start": "2025-03-14", "end": "2025-03-10"})[0] == 422
    assert api("POST", "/api/analytics/backtest", {"start": "soon"})[0] == 422
    assert api("POST", "/api/analytics/backtest", {"start": "2025-03-15", "end": "2025-03-16"})[0] == 422


def test_backtest_without_a_runner_is_501(seeded: DynamoState) -> None:
    call = make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock()))
    status, body = call("POST", "/api/analytics/backtest", {"start": "2025-03-10", "end": "2025-03-14"})
    assert status == 501 and "backtest" in body["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "all"},
        {"scope": "all", "confirm": "reset"},
        {"scope": "everything", "confirm": "RESET"},
        {"confirm": "RESET"},
    ],
)
def test_reset_needs_a_known_scope_and_the_exact_confirmation(api: Call, body: dict[str, Any]) -> None:
    assert api("POST", "/api/reset", body)[0] == 422


def test_reset_is_refused_in_live(live: DynamoState, seeded: DynamoState) -> None:
    live.switch_active_mode(TradingMode.LIVE, "user:alice", "armed", T0, {})
    call = make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock()))
    status, body = call("POST", "/api/reset", {"scope": "all", "confirm": "RESET"})
    assert status == 409 and "paper only" in body["message"]


def test_unknown_routes_are_404(api: Call) -> None:
    assert api("GET", "/api/nothing-here")[0] == 404


def test_dates_default_to_the_clock_session(api: Call) -> None:
    assert api("GET", "/api/audit")[1]["sessionDate"] == date(2025, 3, 14).isoformat()
