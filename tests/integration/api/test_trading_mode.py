"""POST/GET /api/trading/mode: paper -> live only with every check met (deployment, the gateway's
live account and options permission, the reviewed limits, paper idle, "LIVE"), and back."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.models import TradingMode
from smart0dte.ports import BrokerAccount, GatewayStatus
from smart0dte.services.api import ApiDeps

from ..moto_env import empty_tables
from .conftest import SESSION, T0, Call, FixedClock, make_call

ACCOUNT = "U7654321"


def heartbeat(
    account_id: str = ACCOUNT,
    *,
    port: int = 4001,
    age: timedelta = timedelta(seconds=20),
    permission: bool = True,
    equity: str = "40000.00",
    connected: bool = True,
) -> GatewayStatus:
    account = BrokerAccount(account_id, Decimal(equity), permission, "what-if order accepted")
    return GatewayStatus(T0 - age, connected, port, account, "logged in")


@pytest.fixture
def quiet(aws: Provisioned, dynamodb: Any, paper: DynamoState, live: DynamoState) -> DynamoState:
    """Empty tables, paper paused, the live gateway reporting a live account with permission."""
    empty_tables(aws, dynamodb)
    paper.pause("user:alice", "before going live", T0 - timedelta(minutes=5))
    live.put_gateway_status(heartbeat())
    return paper


@pytest.fixture
def deps(quiet: DynamoState) -> ApiDeps:
    return ApiDeps(store_factory=lambda: quiet, clock=FixedClock(), live_trading="enabled")


@pytest.fixture
def call(deps: ApiDeps) -> Call:
    return make_call(deps)


def arm_body(call: Call, **overrides: Any) -> dict[str, Any]:
    status, mode = call("GET", "/api/trading/mode")
    assert status == 200
    body = {
        "mode": "live",
        "confirm": "LIVE",
        "account": ACCOUNT,
        "limitsFingerprint": mode["limitsFingerprint"],
        "reason": "going live with 1 contract",
    }
    return {**body, **overrides}


def unmet_names(body: dict[str, Any]) -> set[str]:
    return {c["name"] for c in body["checks"] if not c["met"]}


def test_status_lists_every_check_and_what_is_still_to_give(call: Call) -> None:
    status, body = call("GET", "/api/trading/mode")

    assert status == 200
    assert (body["mode"], body["switchTo"], body["liveTradingEnabled"]) == ("paper", "live", True)
    assert [c["name"] for c in body["checks"]] == [
        "deployment",
        "gateway",
        "liveAccount",
        "optionsPermission",
        "riskLimits",
        "paperIdle",
        "liveEmergencyStop",
        "confirmation",
    ]
    assert unmet_names(body) == {"liveAccount", "riskLimits", "confirmation"}
    assert len(body["limitsFingerprint"]) == 16


def test_live_arms_with_every_check_met_paused_with_the_reviewed_limits_and_audited(
    call: Call, quiet: DynamoState, live: DynamoState, deps: ApiDeps
) -> None:
    quiet.put_settings(AutomationSettings(master_switch=True, max_positions=2), "user:alice", "1 lot", T0)

    status, body = call("POST", "/api/trading/mode", arm_body(call))

    assert status == 200, body
    assert (body["mode"], body["changed"]) == ("live", True)
    assert all(c["met"] for c in body["checks"])
    assert live.get_active_mode().mode is TradingMode.LIVE
    assert live.get_settings() == quiet.get_settings()
    assert live.get_risk_limits() == quiet.get_risk_limits()
    assert live.get_controls().paused
    assert deps.store.mode is TradingMode.LIVE
    switched = [r for r in live.audit.list_day(SESSION) if r.action == "TradingModeChanged"]
    assert [(r.actor, r.details["account"]) for r in switched] == [("user:alice", ACCOUNT)]
    _, health = call("GET", "/api/health")
    broker = next(c for c in health["components"] if c["name"] == "broker")
    assert broker["status"] == "green" and ACCOUNT in broker["reason"]


@pytest.mark.parametrize(
    ("change", "unmet"),
    [
        ({"confirm": "live"}, {"confirmation"}),
        ({"account": "U0000001"}, {"liveAccount"}),
        ({"limitsFingerprint": "0123456789abcdef"}, {"riskLimits"}),
    ],
)
def test_each_missing_confirmation_refuses_and_writes_nothing_but_the_refusal(
    call: Call, live: DynamoState, quiet: DynamoState, change: dict[str, str], unmet: set[str]
) -> None:
    status, body = call("POST", "/api/trading/mode", arm_body(call, **change))

    assert status == 409
    assert unmet_names(body) == unmet
    assert live.get_active_mode().mode is TradingMode.PAPER
    assert not live.get_controls().paused  # nothing of the arming was written
    refused = [r for r in quiet.audit.list_day(SESSION) if r.action == "TradingModeRefused"]
    assert len(refused) == 1 and refused[0].actor == "user:alice"


@pytest.mark.parametrize(
    ("gateway", "unmet", "words"),
    [
        (None, {"gateway", "liveAccount", "optionsPermission", "riskLimits"}, "no heartbeat"),
        (heartbeat(age=timedelta(minutes=3)), {"gateway"}, "last heartbeat 180 s ago"),
        (heartbeat(connected=False), {"gateway"}, "not connected"),
        (heartbeat(port=4002), {"gateway"}, "not the live port 4001"),
        (heartbeat("DU7654321"), {"liveAccount"}, "paper account"),
        (heartbeat(permission=False), {"optionsPermission"}, ""),
        (heartbeat(equity="20000.00"), {"riskLimits"}, "maxDayTrades=5 must be <= 3"),
    ],
)
def test_the_gateway_must_report_a_fresh_live_session_with_permission_that_fits_the_limits(
    call: Call,
    quiet: DynamoState,
    live: DynamoState,
    gateway: GatewayStatus | None,
    unmet: set[str],
    words: str,
    aws: Provisioned,
    dynamodb: Any,
) -> None:
    quiet.put_settings(AutomationSettings(max_day_trades=5), "user:alice", "more day trades", T0)
    if gateway is None:
        empty_tables(aws, dynamodb)
        quiet.pause("user:alice", "before going live", T0)
        quiet.put_settings(AutomationSettings(max_day_trades=5), "user:alice", "more day trades", T0)
    else:
        live.put_gateway_status(gateway)

    status, body = call("POST", "/api/trading/mode", arm_body(call))

    assert status == 409
    assert unmet_names(body) == unmet
    assert words in body["message"]
    assert live.get_active_mode().mode is TradingMode.PAPER


def test_paper_must_be_idle_and_the_deployment_must_allow_live(quiet: DynamoState) -> None:
    quiet.resume("user:alice", "trading again", T0)
    call = make_call(ApiDeps(store_factory=lambda: quiet, clock=FixedClock(), live_trading=None))

    status, body = call("POST", "/api/trading/mode", arm_body(call))

    assert status == 409
    assert unmet_names(body) == {"deployment", "paperIdle"}
    assert "-c liveTrading=enabled" in body["message"]
    assert "paper trading is running" in body["message"]


def test_back_to_paper_needs_live_idle_and_the_emergency_stop_halts_both_modes(
    call: Call, quiet: DynamoState, live: DynamoState
) -> None:
    assert call("POST", "/api/trading/mode", arm_body(call))[0] == 200
    live.resume("user:alice", "trade live", T0)

    status, body = call("POST", "/api/trading/mode", {"mode": "paper", "reason": "done for today"})
    assert status == 409 and unmet_names(body) == {"liveIdle"}

    assert call("POST", "/api/trading/emergency-stop", {"reason": "stop everything"})[0] == 200
    assert live.get_controls().emergency_stop and quiet.get_controls().emergency_stop
    status, body = call("POST", "/api/trading/mode", {"mode": "paper", "reason": "done for today"})
    assert (status, body["mode"], body["changed"]) == (200, "paper", True)
    assert quiet.get_active_mode().mode is TradingMode.PAPER


def test_after_an_emergency_stop_live_arms_again_once_its_stop_is_cleared_by_name(
    call: Call, quiet: DynamoState, live: DynamoState
) -> None:
    assert call("POST", "/api/trading/emergency-stop")[0] == 200
    status, body = call("POST", "/api/trading/mode", arm_body(call))
    assert status == 409 and unmet_names(body) == {"liveEmergencyStop"}

    cleared = {"reason": "drill over", "mode": "live", "confirm": "RESUME"}
    assert call("POST", "/api/trading/resume", cleared)[0] == 200
    status, body = call("POST", "/api/trading/mode", arm_body(call))

    assert status == 200 and body["mode"] == "live"
    controls = live.get_controls()
    assert not controls.emergency_stop and controls.paused  # armed live starts paused, as always


def test_the_same_mode_changes_nothing_and_an_unknown_mode_is_422(call: Call) -> None:
    assert call("POST", "/api/trading/mode", {"mode": "paper"}) == (
        200,
        {"mode": "paper", "changed": False, "unmet": [], "checks": []},
    )
    assert call("POST", "/api/trading/mode", {"mode": "margin"})[0] == 422
