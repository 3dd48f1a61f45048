"""POST/GET /api/trading/mode: paper -> ibkr_paper (the IB paper rehearsal: deployment, the
gateway's paper account on 4002, options permission, the mode left idle) and -> live (the same on
4001 with a live account, plus the checks on money: the account typed back, the reviewed limits,
"LIVE"), and back; each mode keeps its own records."""

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
    assert (body["mode"], body["liveTradingEnabled"], body["gatewayMode"]) == ("paper", True, "live")
    assert [s["mode"] for s in body["switches"]] == ["ibkr_paper", "live"]
    ibkr, live = body["switches"]
    assert [c["name"] for c in ibkr["checks"]] == [
        "deployment",
        "gateway",
        "ibkrPaperAccount",
        "optionsPermission",
        "paperIdle",
        "ibkrPaperEmergencyStop",
    ]
    # This deployment's one gateway serves live: ibkr_paper has no heartbeat of its own.
    assert unmet_names(ibkr) == {"deployment", "gateway", "ibkrPaperAccount", "optionsPermission"}
    assert "-c liveTrading=ibkr_paper" in ibkr["checks"][0]["detail"]
    assert [c["name"] for c in live["checks"]] == [
        "deployment",
        "gateway",
        "liveAccount",
        "optionsPermission",
        "riskLimits",
        "paperIdle",
        "liveEmergencyStop",
        "confirmation",
    ]
    assert unmet_names(live) == {"liveAccount", "riskLimits", "confirmation"}
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


# --- ibkr_paper: the IB paper rehearsal ------------------------------------------------------------

PAPER_ACCOUNT = "DU7654321"


@pytest.fixture
def rehearsal(quiet: DynamoState, live: DynamoState, ibkr_paper: DynamoState) -> ApiDeps:
    """A deployment whose gateway serves ibkr_paper: its heartbeat (a DU account on 4002) lands in
    the ibkr_paper records, and the live records hear nothing."""
    ibkr_paper.put_gateway_status(heartbeat(PAPER_ACCOUNT, port=4002, equity="1000000.00"))
    return ApiDeps(store_factory=lambda: quiet, clock=FixedClock(), live_trading="ibkr_paper")


def test_ibkr_paper_arms_without_the_checks_on_money_paused_with_the_paper_settings(
    rehearsal: ApiDeps, quiet: DynamoState, ibkr_paper: DynamoState, live: DynamoState
) -> None:
    call = make_call(rehearsal)
    quiet.put_settings(AutomationSettings(master_switch=True, max_positions=2), "user:alice", "1 lot", T0)
    status, mode = call("GET", "/api/trading/mode")
    assert mode["gatewayMode"] == "ibkr_paper" and mode["liveTradingEnabled"] is False
    ibkr = next(s for s in mode["switches"] if s["mode"] == "ibkr_paper")
    assert all(c["met"] for c in ibkr["checks"]), ibkr["checks"]
    account = next(c for c in ibkr["checks"] if c["name"] == "ibkrPaperAccount")
    assert account["detail"] == f"IB paper account {PAPER_ACCOUNT}: no real money"

    # No "LIVE", no account typed back, no fingerprint: nothing of live's checks on money.
    status, body = call("POST", "/api/trading/mode", {"mode": "ibkr_paper", "reason": "rehearse"})

    assert status == 200, body
    assert (body["mode"], body["changed"]) == ("ibkr_paper", True)
    assert {c["name"] for c in body["checks"]}.isdisjoint({"confirmation", "riskLimits", "liveAccount"})
    assert quiet.get_active_mode().mode is TradingMode.IBKR_PAPER
    assert rehearsal.store.mode is TradingMode.IBKR_PAPER
    assert ibkr_paper.get_settings() == quiet.get_settings()
    assert ibkr_paper.get_risk_limits() == quiet.get_risk_limits()
    assert ibkr_paper.get_controls().paused
    assert live.get_settings() != quiet.get_settings()  # live was not touched
    switched = [r for r in ibkr_paper.audit.list_day(SESSION) if r.action == "TradingModeChanged"]
    assert [(r.actor, r.details["from"], r.details["requested"]) for r in switched] == [
        ("user:alice", "paper", "ibkr_paper")
    ]
    _, health = call("GET", "/api/health")
    broker = next(c for c in health["components"] if c["name"] == "broker")
    assert broker["status"] == "green" and PAPER_ACCOUNT in broker["reason"] and "4002" in broker["reason"]


@pytest.mark.parametrize(
    ("gateway", "unmet", "words"),
    [
        (heartbeat("U7654321", port=4002), {"ibkrPaperAccount"}, "account U7654321 is a live account"),
        (heartbeat(PAPER_ACCOUNT, port=4001), {"gateway"}, "not the ibkr_paper port 4002"),
        (heartbeat(PAPER_ACCOUNT, port=4002, permission=False), {"optionsPermission"}, ""),
        (heartbeat(PAPER_ACCOUNT, port=4002, age=timedelta(minutes=2)), {"gateway"}, "120 s ago"),
    ],
)
def test_ibkr_paper_needs_a_fresh_ib_paper_account_on_4002_with_permission(
    rehearsal: ApiDeps,
    ibkr_paper: DynamoState,
    quiet: DynamoState,
    gateway: GatewayStatus,
    unmet: set[str],
    words: str,
) -> None:
    ibkr_paper.put_gateway_status(gateway)
    call = make_call(rehearsal)

    status, body = call("POST", "/api/trading/mode", {"mode": "ibkr_paper"})

    assert status == 409
    assert unmet_names(body) == unmet
    assert words in body["message"]
    assert quiet.get_active_mode().mode is TradingMode.PAPER
    assert not ibkr_paper.get_controls().paused  # nothing of the arming was written


def test_ibkr_paper_needs_its_deployment_paper_idle_and_no_ibkr_paper_stop(
    rehearsal: ApiDeps, quiet: DynamoState, ibkr_paper: DynamoState
) -> None:
    quiet.resume("user:alice", "trading again", T0)
    ibkr_paper.activate_emergency_stop("user:alice", "yesterday's rehearsal went wrong", T0)
    live_deployment = ApiDeps(store_factory=lambda: quiet, clock=FixedClock(), live_trading="enabled")

    status, body = make_call(live_deployment)("POST", "/api/trading/mode", {"mode": "ibkr_paper"})

    assert status == 409
    assert unmet_names(body) == {"deployment", "paperIdle", "ibkrPaperEmergencyStop"}
    assert "IB paper is not enabled in this deployment (its gateway serves live)" in body["message"]
    assert "SMART0DTE_" not in body["message"]  # no environment variable shown to a user
    assert "-c liveTrading=ibkr_paper" in body["message"]
    assert "the ibkr_paper emergency stop is active" in body["message"]


def test_rehearse_on_ibkr_paper_then_redeploy_and_arm_live_with_the_rehearsed_settings(
    rehearsal: ApiDeps, quiet: DynamoState, ibkr_paper: DynamoState, live: DynamoState
) -> None:
    assert make_call(rehearsal)("POST", "/api/trading/mode", {"mode": "ibkr_paper"})[0] == 200
    ibkr_paper.put_settings(AutomationSettings(master_switch=True, max_positions=1), "user:alice", "1", T0)
    ibkr_paper.resume("user:alice", "rehearse", T0)

    # Live is refused while this deployment's gateway serves ibkr_paper and the rehearsal runs.
    call = make_call(rehearsal)
    status, body = call("POST", "/api/trading/mode", arm_body(call))
    assert status == 409 and {"deployment", "ibkrPaperIdle"} <= unmet_names(body)

    # Redeployed with -c liveTrading=enabled: the gateway now reports the live account.
    ibkr_paper.pause("user:alice", "rehearsal done", T0)
    live.put_gateway_status(heartbeat())
    call = make_call(ApiDeps(store_factory=lambda: quiet, clock=FixedClock(), live_trading="enabled"))
    status, body = call("POST", "/api/trading/mode", arm_body(call))

    assert status == 200, body
    assert live.get_active_mode().mode is TradingMode.LIVE
    assert live.get_settings() == ibkr_paper.get_settings() != quiet.get_settings()
    assert live.get_controls().paused

    # Back to paper needs live idle only; the paper records were never touched.
    status, body = call("POST", "/api/trading/mode", {"mode": "paper"})
    assert (status, body["mode"]) == (200, "paper")
    assert [c["name"] for c in body["checks"]] == ["liveIdle"]


def test_health_turns_red_when_the_ibkr_paper_gateway_reports_a_live_account(
    rehearsal: ApiDeps, ibkr_paper: DynamoState
) -> None:
    call = make_call(rehearsal)
    assert call("POST", "/api/trading/mode", {"mode": "ibkr_paper"})[0] == 200
    ibkr_paper.put_gateway_status(heartbeat("U7654321", port=4002))

    _, health = call("GET", "/api/health")

    broker = next(c for c in health["components"] if c["name"] == "broker")
    assert broker["status"] == "red"
    assert (
        "account U7654321 is a live account: ibkr_paper trades only an IB paper account" in broker["reason"]
    )
