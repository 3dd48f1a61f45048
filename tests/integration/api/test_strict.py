"""The attacker's findings of issue 16, one test each: bodies take JSON's own types only, finite
numbers within their limits, no unknown field, bounded size and nesting (4xx before parsing);
scopes match exactly; LocalAuth's exp and nbf are finite numbers. The emergency stop still takes
anything."""

import base64
import hashlib
import hmac
import json
import re
from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.local.auth import InvalidToken, LocalAuth
from smart0dte.services.api import MAX_BODY_BYTES
from smart0dte.services.api.app import MAX_JSON_DEPTH
from smart0dte.services.api.emergency_stop import STOP_PATH

from .conftest import Call
from .test_openapi import document
from .test_routes import POSTS

NESTED = "[" * 30_000 + "]" * 30_000
"""Deeper than Python's json parser recurses (a 500 before bodies were checked), under the size limit."""


def nested(depth: int) -> str:
    return '{"reason": ' * depth + '"x"' + "}" * depth


@pytest.mark.parametrize(("path", "body"), [(path, body) for path, body in POSTS if path != STOP_PATH])
def test_a_deeply_nested_body_is_400_on_every_post_route_but_the_stop(
    api: Call, path: str, body: Any
) -> None:
    assert len(NESTED) < MAX_BODY_BYTES
    status, payload = api("POST", path, raw_body=NESTED)
    assert status == 400
    assert payload["limit"] == MAX_JSON_DEPTH


def test_nesting_at_the_limit_reaches_the_route_and_one_more_does_not(api: Call) -> None:
    assert api("POST", "/api/trading/pause", raw_body=nested(MAX_JSON_DEPTH))[0] == 422  # reason: str
    assert api("POST", "/api/trading/pause", raw_body=nested(MAX_JSON_DEPTH + 1))[0] == 400


def test_brackets_inside_strings_are_not_nesting(api: Call, seeded: DynamoState) -> None:
    status, _ = api("POST", "/api/trading/pause", {"reason": "[" * 50 + '{"}' * 50})
    assert status == 200 and seeded.get_controls().paused


def test_a_body_over_the_limit_is_413(api: Call) -> None:
    status, payload = api("POST", "/api/trading/pause", {"reason": "x" * MAX_BODY_BYTES})
    assert status == 413 and payload["limit"] == MAX_BODY_BYTES


def test_a_body_that_is_not_json_is_400(api: Call) -> None:
    status, payload = api("POST", "/api/trading/pause", raw_body='{"reason": ')
    assert status == 400 and "not JSON" in payload["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"masterSwitch": -0.0}, "masterSwitch"),  # turned automation off
        ({"masterSwitch": 0}, "masterSwitch"),
        ({"masterSwitch": "yes"}, "masterSwitch"),  # was true
        ({"maxPositions": True}, "maxPositions"),  # was 1
        ({"maxPositions": "3"}, "maxPositions"),
        ({"maxPositions": 2.5}, "maxPositions"),
        ({"maxRiskPerTrade": "0.01"}, "maxRiskPerTrade"),
        ({"maxRiskPerTrade": False}, "maxRiskPerTrade"),
        ({"maxPositions": None}, "maxPositions"),
        ({"disabledStrategies": "gap_fill"}, "disabledStrategies"),
        ({"disabledStrategies": ["no_such_strategy"]}, "disabledStrategies.0"),
        ({"sizingMethod": 1}, "sizingMethod"),
        ({"max_positions": 3}, "max_positions"),  # the wire names are camelCase only
    ],
)
def test_settings_take_json_types_only(
    api: Call, seeded: DynamoState, body: dict[str, Any], field: str
) -> None:
    before = seeded.get_settings()
    status, payload = api("POST", "/api/automation/settings", body)
    assert status == 422
    assert field in {d["field"] for d in payload["detail"]}
    assert seeded.get_settings() == before


def test_an_integral_number_is_an_integer_as_json_says(api: Call, seeded: DynamoState) -> None:
    assert api("POST", "/api/automation/settings", {"maxPositions": 3.0})[0] == 200
    assert seeded.get_settings().max_positions == 3


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_limits_are_finite_numbers(api: Call, seeded: DynamoState, value: str) -> None:
    before = seeded.get_risk_limits()
    status, payload = api("POST", "/api/risk/limits", raw_body=f'{{"pdtEquityThresholdUsd": {value}}}')
    assert status == 422
    assert payload["detail"][0]["field"] == "pdtEquityThresholdUsd"
    assert seeded.get_risk_limits() == before


def test_every_numeric_setting_and_limit_has_an_upper_bound(api: Call) -> None:
    status, payload = api("POST", "/api/risk/limits", {"pdtEquityThresholdUsd": 2e9})
    assert status == 422
    assert payload["detail"][0]["ctx"] == {"le": 1e9}
    schemas: dict[str, Any] = document()["components"]["schemas"]  # type: ignore[index]
    bodies = set(body_refs(document()))
    unbounded = [
        f"{name}.{field}"
        for name in bodies
        for field, prop in schemas[name]["properties"].items()
        for branch in prop.get("anyOf", [prop])
        if branch.get("type") in ("integer", "number") and not {"maximum", "exclusiveMaximum"} & set(branch)
    ]
    assert len(bodies) >= 8 and unbounded == []


def body_refs(doc: dict[str, Any]) -> list[str]:
    """Every schema a request body names, nullable ones (CancelBody) too."""
    text = json.dumps([op.get("requestBody") for ops in doc["paths"].values() for op in ops.values()])
    return re.findall(r'"#/components/schemas/(\w+)"', text)


@pytest.mark.parametrize("start", [0, 1741910400, "20250310", "2025-3-10", "2025-02-30", True])
def test_backtest_dates_are_iso_text_only(api: Call, backtests: Any, start: object) -> None:
    status, payload = api("POST", "/api/analytics/backtest", {"start": start, "end": "2025-03-14"})
    assert status == 422 and payload["detail"][0]["field"] == "start"
    assert backtests.started == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/trading/pause", {"reason": "x", "force": True}),
        ("/api/trading/resume", {"reason": "x", "everything": True}),
        ("/api/reset", {"scope": "all", "confirm": "RESET", "mode": "live"}),
        ("/api/trading/mode", {"mode": "paper", "skipChecks": True}),
        ("/api/analytics/backtest", {"start": "2025-03-10", "end": "2025-03-14", "fast": 1}),
        ("/api/orders/order-1/cancel", {"reason": "x", "now": True}),
        ("/api/positions/position-1/close", {"reason": "x", "price": 0}),
        ("/api/risk/limits", {"maxDrawdown": 0.1, "maxDrawDown": 0.9}),
    ],
)
def test_unknown_fields_are_refused_by_name(api: Call, path: str, body: dict[str, Any]) -> None:
    status, payload = api("POST", path, body)
    assert status == 422
    assert [d["type"] for d in payload["detail"]] == ["extra_forbidden"]


def test_scopes_match_exactly(api: Call, seeded: DynamoState) -> None:
    for scope in ("trade", "evil/trade", "smart0dte/trade/x", "SMART0DTE/TRADE", "xsmart0dte/trade"):
        status, payload = api(
            "POST", "/api/trading/pause", {"reason": "x"}, claims={"sub": "m", "scope": scope}
        )
        assert status == 403, scope
        assert payload["requiredScope"] == "smart0dte/trade"
    assert api("GET", "/api/trading", claims={"sub": "m", "scope": "other/read"})[0] == 403
    assert seeded.get_controls().paused is False
    assert (
        api("POST", "/api/trading/pause", {"reason": "x"}, claims={"sub": "m", "scope": "smart0dte/trade"})[0]
        == 200
    )


def signed(auth: LocalAuth, claims_json: str) -> str:
    """A token whose claims are exactly `claims_json`, signed with `auth`'s secret."""
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(claims_json.encode()).rstrip(b"=").decode()
    signature = hmac.new(auth.secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("exp", "nbf", "why"),
    [
        ("NaN", "0", "not JSON"),  # NaN and Infinity are no JSON numbers
        ("Infinity", "0", "not JSON"),
        ("1e400", "0", "exp must be a finite number"),  # parses as inf
        ("-1e400", "0", "exp must be a finite number"),
        ("true", "0", "exp must be a finite number"),
        ('"9999999999"', "0", "exp must be a finite number"),
        ("9999999999", "NaN", "not JSON"),
        ("9999999999", "-1e400", "nbf must be a finite number"),
        ("9999999999", '"0"', "nbf must be a finite number"),
    ],
)
def test_local_tokens_need_finite_exp_and_nbf(exp: str, nbf: str, why: str) -> None:
    auth = LocalAuth(now=lambda: 1_700_000_000.0)
    claims = '{"iss": "smart0dte-local", "aud": "smart0dte-api", "sub": "m", "exp": %s, "nbf": %s}'
    assert auth.verify(signed(auth, claims % ("9999999999", "0")))["sub"] == "m"
    with pytest.raises(InvalidToken, match=why):
        auth.verify(signed(auth, claims % (exp, nbf)))


@pytest.mark.parametrize(
    "raw_body",
    [
        NESTED,
        "[" * 100_000,
        '{"reason": "x", "mode": "all", "extra": [1]}',
        '{"reason": {"deep": [true]}}',
        "",
    ],
)
def test_the_emergency_stop_is_never_refused(api: Call, seeded: DynamoState, raw_body: str) -> None:
    status, payload = api("POST", STOP_PATH, raw_body=raw_body)
    assert status == 200
    assert payload["stopped"][0] == "paper"
    assert seeded.get_controls().emergency_stop is True
