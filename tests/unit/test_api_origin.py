"""The API function refuses a request that did not come through CloudFront (no origin header: the
execute-api endpoint called directly) with 403 before the API sees it; locally, nothing is checked."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType
from typing import Any

import pytest

from smart0dte import resources as r
from smart0dte.bootstrap import api as api_parts

EXPECTED = "3f1c2a5e-0000-4000-8000-1234567890ab"


class Context:
    function_name = "smart0dte-api"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:111111111111:function:smart0dte-api"
    aws_request_id = "00000000-0000-0000-0000-000000000000"


class RecordingApp:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "body": "{}"}


def event(headers: dict[str, str]) -> dict[str, Any]:
    return {"version": "2.0", "rawPath": "/api/health", "headers": headers}


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, RecordingApp]:
    """A fresh lambdas/api/handler.py whose bootstrap gives a recording app, as deployed in AWS."""
    spec = importlib.util.spec_from_file_location(
        "api_origin_handler", r.REPO_ROOT / "lambdas/api/handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "api_origin_handler", module)
    spec.loader.exec_module(module)
    app = RecordingApp()
    monkeypatch.setenv(r.ENV_ORIGIN_VERIFY, EXPECTED)
    monkeypatch.setattr(api_parts, "api_deps", lambda: object())
    monkeypatch.setattr(module, "build_app", lambda _deps: app)
    return module, app


@pytest.mark.parametrize(
    "headers",
    [{}, {r.ORIGIN_VERIFY_HEADER: ""}, {r.ORIGIN_VERIFY_HEADER: EXPECTED[:-1]}, {"x-other": EXPECTED}],
)
def test_a_request_without_the_cloudfront_origin_value_is_refused_403(
    handler: tuple[ModuleType, RecordingApp], headers: dict[str, str]
) -> None:
    module, app = handler
    answer = module.handler(event(headers), Context())
    assert answer["statusCode"] == 403 and "CloudFront" in json.loads(answer["body"])["message"]
    assert app.events == []


def test_a_request_through_cloudfront_reaches_the_api(handler: tuple[ModuleType, RecordingApp]) -> None:
    module, app = handler
    answer = module.handler(event({r.ORIGIN_VERIFY_HEADER: EXPECTED, "authorization": "Bearer x"}), Context())
    assert answer["statusCode"] == 200 and len(app.events) == 1
    # header names arrive lower-cased from the HTTP API; any case is accepted
    module.handler(event({r.ORIGIN_VERIFY_HEADER.upper(): EXPECTED}), Context())
    assert len(app.events) == 2


def test_without_the_variable_nothing_is_checked() -> None:
    assert api_parts.origin_check({}) is None
    check = api_parts.origin_check({r.ENV_ORIGIN_VERIFY: EXPECTED})
    assert check is not None and check(event({r.ORIGIN_VERIFY_HEADER: EXPECTED}))
    assert not check({"headers": None})
