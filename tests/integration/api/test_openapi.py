"""The generated OpenAPI document is valid OpenAPI and lists every route with its method."""

from typing import Any

from openapi_spec_validator import validate

from smart0dte.services.api import ApiDeps, build_app, openapi_document

from .conftest import FixedClock

ROUTES = {
    ("get", "/api/health"),
    ("get", "/api/dashboard"),
    ("get", "/api/trading"),
    ("get", "/api/account"),
    ("post", "/api/automation/settings"),
    ("post", "/api/trading/emergency-stop"),
    ("post", "/api/trading/pause"),
    ("post", "/api/trading/resume"),
    ("post", "/api/positions/{position_id}/close"),
    ("get", "/api/signals"),
    ("get", "/api/strikes"),
    ("get", "/api/bars"),
    ("get", "/api/analytics"),
    ("post", "/api/analytics/backtest"),
    ("get", "/api/analytics/backtest/{run_id}"),
    ("get", "/api/analytics/intraday"),
    ("get", "/api/analytics/backtest/options"),
    ("get", "/api/analytics/backtests"),
    ("post", "/api/analytics/backtest/{run_id}/cancel"),
    ("get", "/api/analytics/optimization/{strategy}"),
    ("get", "/api/market-status"),
    ("get", "/api/scheduler/status"),
    ("get", "/api/audit"),
    ("post", "/api/reset"),
    ("get", "/api/trading/mode"),
    ("post", "/api/risk/limits"),
    ("post", "/api/trading/mode"),
    ("get", "/api/trades"),
    ("get", "/api/orders"),
    ("post", "/api/orders/{order_id}/cancel"),
}


def no_store() -> Any:
    raise AssertionError("building the app or its document must not touch the store")


def document() -> dict[str, object]:
    return openapi_document(build_app(ApiDeps(store_factory=no_store, clock=FixedClock())))


def test_document_is_valid_openapi() -> None:
    validate(document())  # raises on any violation


def test_document_lists_exactly_the_routes_of_the_issue() -> None:
    doc = document()
    paths: dict[str, dict[str, object]] = doc["paths"]  # type: ignore[assignment]
    listed = {(method, path) for path, ops in paths.items() for method in ops if method != "parameters"}
    assert listed == ROUTES


def test_settings_body_names_every_setting_with_its_limits() -> None:
    schemas = document()["components"]["schemas"]  # type: ignore[index]
    patch = schemas["AutomationSettingsPatch"]["properties"]
    assert {k: patch["maxPositions"][k] for k in ("type", "minimum", "maximum")} == {
        "type": "integer",
        "minimum": 1,
        "maximum": 20,
    }
    assert {"masterSwitch", "minConfidence", "stopLossPercentage"} <= set(patch)
    assert schemas["AutomationSettingsPatch"]["additionalProperties"] is False
    assert schemas["AutomationSettingsPatch"]["minProperties"] == 1


def test_every_route_declares_its_errors_with_the_error_schema() -> None:
    doc = document()
    paths: dict[str, dict[str, Any]] = doc["paths"]  # type: ignore[assignment]
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for path, ops in paths.items():
        for method, op in ops.items():
            codes = set(op["responses"])
            errors = {c for c in codes if c >= "400"} - (
                {"503"} if path.endswith("emergency-stop") else set()
            )
            assert all(op["responses"][c]["content"] == error for c in errors), (method, path)
            if path == "/api/health":
                assert codes == {"200"} and "security" not in op
                continue
            assert {"401", "403"} <= codes and op["security"] == [{"bearer": []}], (method, path)
            if path == "/api/trading/emergency-stop":
                assert codes == {"200", "401", "403", "503"}  # never 400, 413, 415 or 422
            elif method == "post":
                assert {"400", "413", "415"} <= codes, path
                assert "422" in codes or ("requestBody" not in op and "parameters" not in op), path
    assert set(paths["/api/analytics/backtest"]["post"]["responses"]) >= {"202", "409", "501"}
    assert "200" not in paths["/api/analytics/backtest"]["post"]["responses"]
    assert {"404", "409"} <= set(paths["/api/positions/{position_id}/close"]["post"]["responses"])


def test_dates_and_choices_are_declared_as_formats_and_enums() -> None:
    doc = document()
    schemas: dict[str, Any] = doc["components"]["schemas"]  # type: ignore[index]
    backtest = schemas["BacktestBody"]["properties"]
    assert backtest["start"]["format"] == backtest["end"]["format"] == "date"
    assert schemas[backtest["scenario"]["$ref"].rsplit("/", 1)[-1]]["enum"][0] == "normal"
    trades = {p["name"]: p["schema"] for p in doc["paths"]["/api/trades"]["get"]["parameters"]}  # type: ignore[index]
    assert trades["from"]["anyOf"][0]["format"] == "date"
    assert trades["strategy"]["anyOf"][0]["enum"] == [
        "momentum_breakout",
        "mean_reversion",
        "gap_fill",
        "vix_spike",
    ]


def test_build_app_touches_no_store() -> None:
    calls: list[int] = []

    def factory() -> Any:
        calls.append(1)

    build_app(ApiDeps(store_factory=factory, clock=FixedClock()))
    assert calls == []


def test_every_trading_mode_is_in_the_documents_mode_enums() -> None:
    doc = document()
    found: list[list[str]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "paper" in node.get("enum", []):
                found.append(node["enum"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert found and all(enum == ["paper", "ibkr_paper", "live"] for enum in found)


def test_every_pnl_figure_says_net_or_gross_with_the_commissions_beside() -> None:
    schemas = document()["components"]["schemas"]  # type: ignore[index]
    stats = schemas["TradeStatsOut"]["properties"]
    counters = schemas["CountersOut"]["properties"]
    assert "net of commissions" in stats["netPnlUsd"]["description"]
    assert "before commissions" in stats["grossPnlUsd"]["description"]
    assert "net of commissions" in counters["realizedPnlUsd"]["description"]
    assert "before commissions" in counters["realizedGrossPnlUsd"]["description"]
    assert {"commissionsUsd"} <= set(stats) & set(counters)
    unrealized = schemas["DashboardResponse"]["properties"]["unrealizedPnlUsd"]
    assert "before commissions" in unrealized["description"]
