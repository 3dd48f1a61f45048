"""The dashboard in a real browser against the REAL API handler on moto (not the fake API).

The local server (`smart0dte.local.http_server.serve`) serves web/dist and the real handler,
configured on a DynamoDB store in moto seeded as in tests/integration/api (settings, two open and
three closed positions, orders, three signals with risk decisions, SPY bars and SPY chain
snapshots) with a fixed clock (10:31 New York on Fri 2025-03-14, a session). Every test checks
the page AND what the store holds afterwards. Set E2E_SCREENSHOT_DIR to keep a screenshot per
test (never commit them).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from playwright.sync_api import expect

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.models import (
    ChainSnapshot,
    OptionRight,
    Position,
    PositionStatus,
    TradingMode,
    Underlying,
)
from smart0dte.local.http_server import ApiServer, serve
from smart0dte.services.api import ApiDeps
from tests.e2e.conftest import LAPTOP
from tests.integration.api.conftest import OPEN, SESSION, T0, FixedClock, seed
from tests.integration.api.conftest import contract as option_contract
from tests.integration.moto_env import REGION, empty_tables, provisioned_moto

PREFIX = "smart0dte-e2e-realapi"
USER = "alice"
"""The token's subject: the API records the actor as `user:alice`."""
OPEN_CONTRACTS = ("SPY   250314C00562000", "SPY   250314C00564000")
"""The seeded open positions position-1 and position-2."""
SELECTED = "SPY   250314C00562000"


@dataclass
class RealApi:
    aws: Provisioned
    dynamodb: Any
    store: DynamoState
    server: ApiServer
    token: str

    @property
    def base_url(self) -> str:
        return self.server.url.rstrip("/")

    def server_get(self, path: str) -> Any:
        """GET an API route as the browser's user, outside the browser."""
        request = urllib.request.Request(
            self.base_url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


def _seed(store: DynamoState) -> None:
    """The integration seed plus an earlier chain snapshot (3 minutes before the seeded one, other
    prices), so the option's 2-minute chain_mid candles span two buckets."""
    seed(store)
    latest = store.latest_chain_snapshot(Underlying.SPY, T0)
    assert latest is not None
    earlier = tuple(
        q.model_copy(update={"bid": round(q.bid + 0.2, 2), "ask": round(q.ask + 0.2, 2)})
        for q in latest.quotes
    )
    store.put_chain_snapshot(
        ChainSnapshot(
            underlying=Underlying.SPY,
            ts=latest.ts - timedelta(minutes=3),
            expiry=latest.expiry,
            underlying_price=latest.underlying_price,
            quotes=earlier,
        )
    )


@pytest.fixture(scope="module")
def real_api(web_dist: Path) -> Iterator[RealApi]:
    """moto for this module only, a paper store and the real server on a free port."""
    with provisioned_moto(PREFIX, POWERTOOLS_TRACE_DISABLED="true") as aws:
        store = DynamoState(PREFIX, TradingMode.PAPER, region=REGION)
        server = serve(0, web_dist, deps=ApiDeps(store_factory=lambda: store, clock=FixedClock()))
        try:
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            yield RealApi(aws, dynamodb, store, server, server.issue_token(USER))
        finally:
            server.close()


@pytest.fixture
def real(real_api: RealApi) -> RealApi:
    """The store emptied and seeded afresh for each test."""
    empty_tables(real_api.aws, real_api.dynamodb)
    _seed(real_api.store)
    return real_api


@pytest.fixture
def tab(browser, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A laptop-sized page; fails the test on an uncaught JavaScript error. `tab.api_errors` lists
    every /api response with status >= 400."""
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(10_000)
    page = context.new_page()
    js_errors: list[str] = []
    api_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    page.on(
        "response",
        lambda r: (
            api_errors.append(f"{r.request.method} {r.url} -> {r.status}")
            if "/api/" in r.url and r.status >= 400
            else None
        ),
    )
    page.api_errors = api_errors  # type: ignore[attr-defined]
    yield page
    shots = os.environ.get("E2E_SCREENSHOT_DIR")
    try:
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            name = request.node.name.replace("/", "_").replace("[", "_").replace("]", "")
            page.screenshot(path=str(Path(shots) / f"real_api_{name}.png"), full_page=True)
        assert not js_errors, f"uncaught JavaScript errors: {js_errors}"
    finally:
        context.close()


def open_route(page, real: RealApi, route: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{real.base_url}/?token={real.token}#/{route}")


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """A mid-test screenshot when E2E_SCREENSHOT_DIR is set."""
    shots = os.environ.get("E2E_SCREENSHOT_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / f"real_api_{name}.png"), full_page=True)


def actions(store: DynamoState) -> list[str]:
    return [r.action for r in store.audit.list_day(SESSION)]


def test_dashboard_loads_with_the_stores_data(tab, real: RealApi) -> None:
    open_route(tab, real, "dashboard")

    # P&L: realized from the session counters ("0.00"), unrealized from the open positions'
    # marks (2 positions x 2 contracts x (1.05 - 1.25) x 100 = -80.00).
    expect(tab.get_by_test_id("pnl-realized")).to_have_text("$0.00")
    expect(tab.get_by_test_id("pnl-unrealized")).to_have_text("−$80.00")
    expect(tab.get_by_test_id("pnl-today")).to_have_text("−$80.00")
    # Market status from `market` (phase TRADING, 19,740 s to the 16:00 close at the fixed clock).
    expect(tab.get_by_test_id("market-phase")).to_have_text("TRADING")
    expect(tab.get_by_test_id("countdown")).to_have_text(re.compile(r"^5h 2[89]m \d\ds$"))
    expect(tab.locator("#market")).to_contain_text("Close in")
    # Connection indicators: /api/health's component list, by name.
    for name, status, reason in (
        ("system", "green", "state store reachable"),
        ("broker", "green", "paper mode: simulated broker"),
        ("marketHours", "green", "phase TRADING"),
        ("dataFeed", "red", "SPY: last bar closed 60 s ago"),
        ("signalEngine", "red", "no trading cycle this session"),
    ):
        expect(tab.get_by_test_id(f"health-{name}")).to_have_attribute("data-status", status)
        expect(tab.get_by_test_id(f"health-{name}")).to_contain_text(reason)
    # Recent signals with their rationale, newest first.
    signals = tab.get_by_test_id("signals-table")
    for n in range(3):
        expect(signals).to_contain_text(f"close broke the 30-minute high (signal {n})")
    expect(signals.locator("tbody tr").first).to_contain_text("(signal 2)")
    expect(signals).to_contain_text("80.0%")  # confidence: a percent with one decimal
    expect(signals).to_contain_text("Momentum breakout")
    # Each signal's risk verdict: signal 0 was refused because trading was paused.
    expect(signals.locator("tbody tr").last).to_contain_text("rejected")
    expect(signals.locator("tbody tr").last).to_contain_text("PAUSED")
    expect(signals.get_by_test_id("verdict-approved")).to_have_count(2)
    expect(signals.locator("tbody tr").first).to_contain_text("call")
    expect(tab.get_by_test_id("automation-status")).to_contain_text("Master switch: on")
    expect(tab.get_by_test_id("state-indicator")).to_have_text("ACTIVE")
    expect(tab.get_by_test_id("mode-indicator")).to_have_text("PAPER")
    expect(
        tab.locator("[data-testid=equity-chart] canvas, [data-testid=equity-chart] .chart-empty").first
    ).to_be_visible()

    shot(tab, "dashboard_page")
    # The seeded open positions are listed on the Trading page (the dashboard shows their P&L).
    tab.goto(f"{real.base_url}/#/trading")
    positions = tab.get_by_test_id("positions-table")
    for contract in OPEN_CONTRACTS:
        expect(positions).to_contain_text(contract)
    expect(positions.locator("tbody tr")).to_have_count(2)
    expect(positions).to_contain_text("−$40.00")
    expect(tab.get_by_test_id("close-position-1")).to_be_visible()
    expect(tab.get_by_test_id("trading-state")).to_have_text("ACTIVE")
    expect(tab.get_by_test_id("estop-status")).to_have_text("not active")
    # The mode card from GET /api/trading/mode (live is not enabled in this deployment).
    expect(tab.get_by_test_id("mode-badge")).to_have_text(re.compile("paper", re.IGNORECASE))
    expect(tab.get_by_test_id("mode-live-allowed")).to_contain_text("not enabled")
    expect(tab.get_by_test_id("mode-error")).to_be_hidden()

    expect(tab.get_by_test_id("error-banner")).to_be_hidden()
    expect(tab.get_by_test_id("auth-banner")).to_be_hidden()
    assert tab.api_errors == []


def test_dashboard_and_analytics_show_one_net_pnl_for_the_day(tab, real: RealApi) -> None:
    # The demo day's trade: IWM 220P x92 bought at 0.17, stopped out at 0.12, $127.94 of fees:
    # gross 92 x 100 x (0.12 - 0.17) = -460.00, net -587.94.
    stopped = Position(
        position_id="demo-iwm",
        mode=TradingMode.PAPER,
        contract=option_contract(220.0, OptionRight.PUT, root="IWM"),
        quantity=92,
        entry_price=Decimal("0.17"),
        opened_at=OPEN + timedelta(minutes=2),
        strategy="momentum_breakout",
    )
    real.store.open_position(stopped, "system:execute", "entry")
    exit_at = OPEN + timedelta(minutes=20)
    real.store.close_position(
        "demo-iwm", Decimal("0.12"), exit_at, "STOP_LOSS", "system:execute", Decimal("127.94")
    )

    open_route(tab, real, "dashboard")
    expect(tab.get_by_test_id("pnl-realized")).to_have_text("−$587.94")
    expect(tab.get_by_test_id("pnl-realized-note")).to_have_text("net of $127.94 fees · gross −$460.00")
    expect(tab.get_by_test_id("pnl-unrealized-note")).to_have_text("at the mid, before fees")
    shot(tab, "one_pnl_dashboard")

    tab.goto(f"{real.base_url}/#/analytics")
    tab.get_by_test_id("timeframe").select_option("1d")
    tab.get_by_role("button", name="Apply").click()
    metrics = tab.get_by_test_id("metrics")
    expect(tab.get_by_test_id("metric-netPnlUsd")).to_have_text("−$587.94")
    expect(tab.get_by_test_id("metric-commissionsUsd")).to_have_text("$127.94")
    expect(tab.get_by_test_id("metric-grossPnlUsd")).to_have_text("−$460.00")
    expect(metrics).to_contain_text("Net P&L (after fees)")
    expect(metrics).to_contain_text("Gross P&L (before fees)")
    expect(tab.get_by_test_id("strategy-table")).to_contain_text("−$587.94")
    expect(tab.get_by_test_id("metric-profitFactor")).to_have_text("0.00 (no winning trade)")
    shot(tab, "one_pnl_analytics")


def test_a_pause_reads_paused_in_the_header_and_on_the_trading_page(tab, real: RealApi) -> None:
    open_route(tab, real, "trading")
    expect(tab.get_by_test_id("resume")).to_be_disabled()  # nothing to resume
    tab.get_by_test_id("pause").click()

    # one truth: the header's word is the State card's and the mode's row in the stops table
    expect(tab.get_by_test_id("state-indicator")).to_have_text("PAUSED")
    expect(tab.get_by_test_id("trading-state")).to_have_text("PAUSED")
    expect(tab.get_by_test_id("state-meaning")).to_have_text(
        "no new entries; open positions keep their stops and exits"
    )
    row = tab.get_by_test_id("stops-table").locator("tbody tr").first
    expect(row).to_contain_text("PAPER")
    expect(row.locator("td[data-label=State]")).to_have_text("PAUSED")
    expect(tab.get_by_test_id("paused")).to_have_count(0)  # no second "Paused yes" row
    expect(tab.get_by_test_id("pause")).to_be_disabled()
    assert real.store.get_controls().paused is True
    shot(tab, "paused_state")

    tab.get_by_test_id("resume").click()
    expect(tab.get_by_test_id("state-indicator")).to_have_text("ACTIVE")
    expect(tab.get_by_test_id("trading-state")).to_have_text("ACTIVE")
    expect(tab.get_by_test_id("resume")).to_be_disabled()
    assert real.store.get_controls().paused is False


def test_analytics_starts_from_the_accounts_equity_in_one_percent_format(tab, real: RealApi) -> None:
    settings = real.store.get_settings().model_copy(update={"starting_equity_usd": 25_000.0})
    real.store.put_settings(settings, f"user:{USER}", "a smaller paper account", T0)
    # the seed's trades of the past month net to zero (+$70, -$70): the month started at $25,000
    account = real.server_get("/api/account")
    assert Decimal(account["startingEquityUsd"]) == Decimal("25000.00")

    open_route(tab, real, "analytics")
    expect(tab.get_by_test_id("metric-startingEquityUsd")).to_have_text("$25,000.00")
    expect(tab.get_by_test_id("metric-totalReturn")).to_have_text("0.0%")
    expect(tab.get_by_test_id("metric-winRate")).to_have_text("50.0%")
    expect(tab.get_by_test_id("metrics")).not_to_contain_text("(USD)")
    expect(tab.get_by_test_id("timeframe").locator("option:checked")).to_have_text("Past month")
    expect(tab.get_by_test_id("strategy-table")).to_contain_text("Momentum breakout")
    expect(tab.get_by_test_id("strategy-table")).not_to_contain_text("momentum_breakout")
    # the backtest's default window ends at the newest session with a closed trade (the server's
    # calendar, not the browser's)
    expect(tab.get_by_test_id("bt-end")).to_have_value("2025-03-13")
    shot(tab, "analytics_account_equity")


def test_emergency_stop_halts_in_the_page_and_in_the_store(tab, real: RealApi) -> None:
    open_route(tab, real, "trading")
    expect(tab.get_by_test_id("state-indicator")).to_have_text("ACTIVE")
    assert real.store.get_controls().emergency_stop is False

    tab.get_by_test_id("reason").fill("VIX spike drill")
    tab.get_by_test_id("emergency-stop").click()  # the page asks for no confirmation

    expect(tab.get_by_test_id("trading-flash")).to_contain_text("Emergency stop engaged.")
    expect(tab.get_by_test_id("state-indicator")).to_have_text("HALTED")
    expect(tab.get_by_test_id("state-indicator")).to_have_class(re.compile(r"\bstate-halted\b"))
    expect(tab.get_by_test_id("trading-state")).to_have_text("HALTED")
    status = tab.get_by_test_id("estop-status")
    expect(status).to_contain_text("ACTIVE")
    expect(status).to_contain_text(f"by user:{USER}")
    expect(status).to_contain_text("VIX spike drill")
    expect(tab.get_by_test_id("emergency-stop")).to_be_disabled()

    controls = real.store.get_controls()
    assert controls.emergency_stop is True
    assert controls.emergency_stop_change is not None
    assert controls.emergency_stop_change.actor == f"user:{USER}"
    assert controls.emergency_stop_change.reason == "VIX spike drill"
    records = [r for r in real.store.audit.list_day(SESSION) if r.action == "EmergencyStopActivated"]
    assert len(records) == 1 and records[0].actor == f"user:{USER}"
    assert tab.api_errors == []


def test_stop_resume_with_a_typed_confirmation_and_clear_the_live_stop(tab, real: RealApi) -> None:
    live = real.store.for_mode(TradingMode.LIVE)
    open_route(tab, real, "trading")
    tab.get_by_test_id("reason").fill("fat finger drill")
    tab.get_by_test_id("emergency-stop").click()
    expect(tab.get_by_test_id("trading-state")).to_have_text("HALTED")
    stops = tab.get_by_test_id("stops-table")
    expect(stops.locator("tbody tr")).to_have_count(len(TradingMode))  # every mode's stop
    expect(stops).to_contain_text("fat finger drill")
    assert real.store.get_controls().emergency_stop and live.get_controls().emergency_stop

    # Resume names the active mode's stop and needs RESUME typed; cancelling changes nothing.
    expect(tab.get_by_test_id("resume")).to_have_text("Resume PAPER…")
    tab.get_by_test_id("resume").click()
    dialog = tab.get_by_test_id("confirm-dialog")
    expect(dialog).to_contain_text("Clear the PAPER emergency stop")
    expect(dialog).to_contain_text(f"pressed by user:{USER}")
    expect(tab.get_by_test_id("confirm-ok")).to_be_disabled()
    tab.get_by_test_id("confirm-typed").fill("resume")
    expect(tab.get_by_test_id("confirm-ok")).to_be_disabled()
    tab.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert real.store.get_controls().emergency_stop
    tab.get_by_test_id("resume").click()
    tab.get_by_test_id("confirm-typed").fill("RESUME")
    shot(tab, "resume_dialog")
    tab.get_by_test_id("confirm-ok").click()

    expect(tab.get_by_test_id("trading-flash")).to_contain_text(
        "PAPER emergency stop cleared and trading resumed."
    )
    expect(tab.get_by_test_id("trading-state")).to_have_text("ACTIVE")
    expect(tab.get_by_test_id("estop-status")).to_have_text("not active")
    expect(tab.get_by_test_id("clear-stop-paper")).to_have_count(0)
    assert not real.store.get_controls().emergency_stop and live.get_controls().emergency_stop

    # The live stop, in a mode not traded, is cleared from its own row; live stays unarmed.
    tab.get_by_test_id("clear-stop-live").click()
    expect(dialog).to_contain_text("Live stays unarmed")
    tab.get_by_test_id("confirm-typed").fill("RESUME")
    tab.get_by_test_id("confirm-ok").click()

    expect(tab.get_by_test_id("trading-flash")).to_contain_text("LIVE emergency stop cleared.")
    expect(tab.get_by_test_id("clear-stop-live")).to_have_count(0)
    expect(stops.locator("tbody tr", has_text="LIVE")).not_to_contain_text("ACTIVE by")
    expect(stops.locator("tbody tr", has_text="IB PAPER")).to_contain_text("ACTIVE by")  # its own
    assert not live.get_controls().emergency_stop
    assert live.get_active_mode().mode is TradingMode.PAPER
    cleared = [r for r in live.audit.list_day(SESSION) if r.action == "EmergencyStopCleared"]
    assert [(r.actor, r.details["stop_number"]) for r in cleared] == [(f"user:{USER}", 1)]
    assert tab.api_errors == []


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_the_stop_and_its_clearing_fit_laptop_and_phone(
    browser, real: RealApi, width: int, height: int
) -> None:  # type: ignore[no-untyped-def]
    real.store.activate_emergency_stop(f"user:{USER}", "broker outage", T0, "request-1")
    real.store.for_mode(TradingMode.LIVE).activate_emergency_stop(
        f"user:{USER}", "broker outage", T0, "request-1"
    )
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        open_route(page, real, "trading")
        expect(page.get_by_test_id("clear-stop-live")).to_be_visible()
        for testid in ("emergency-stop", "resume", "clear-stop-paper", "clear-stop-live"):
            box = page.get_by_test_id(testid).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, testid
        shot(page, f"stops_{width}x{height}")
        page.get_by_test_id("clear-stop-live").click()
        ok = page.get_by_test_id("confirm-ok")
        expect(ok).to_be_visible()
        expect(page.get_by_test_id("confirm-dialog")).to_contain_text("Type RESUME to confirm")
        box = ok.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width
        if shots := os.environ.get("E2E_SCREENSHOT_DIR"):  # the viewport: what the user sees
            page.screenshot(path=str(Path(shots) / f"real_api_clear_live_dialog_{width}x{height}.png"))
    finally:
        context.close()


def test_a_bad_setting_shows_its_error_next_to_the_field_and_a_good_one_saves(tab, real: RealApi) -> None:
    before = real.store.get_settings()
    audited = actions(real.store)
    open_route(tab, real, "settings")
    field = tab.get_by_test_id("field-maxPositions")
    expect(field).to_have_value("5")

    field.fill("99")
    tab.get_by_test_id("save-settings").click()

    error = tab.get_by_test_id("error-maxPositions")
    expect(error).to_be_visible()
    expect(error).to_contain_text("less than or equal to 20")
    box = tab.locator(".field[data-field=maxPositions]")
    expect(box).to_have_class(re.compile(r"\binvalid\b"))
    assert box.locator("[data-testid=error-maxPositions]").count() == 1
    expect(tab.get_by_test_id("form-error")).to_be_hidden()
    expect(tab.get_by_test_id("settings-flash")).to_be_hidden()
    assert real.store.get_settings() == before
    assert actions(real.store) == audited

    field.fill("7")
    tab.get_by_test_id("save-settings").click()

    expect(tab.get_by_test_id("settings-flash")).to_contain_text("Saved: Max positions")
    expect(error).to_be_hidden()
    expect(field).to_have_value("7")
    assert real.store.get_settings() == before.model_copy(update={"max_positions": 7})
    assert len(actions(real.store)) == len(audited) + 1  # one audited change, by the token's user
    assert real.store.audit.list_day(SESSION)[-1].actor == f"user:{USER}"


def test_a_bad_risk_limit_shows_its_error_next_to_the_field_and_a_good_one_saves(tab, real: RealApi) -> None:
    before = real.store.get_risk_limits()
    open_route(tab, real, "settings")
    field = tab.get_by_test_id("limit-dailyLossLimit")
    expect(field).to_have_value("5")  # 0.05 stored, shown in percent

    field.fill("90")
    tab.get_by_test_id("save-limits").click()

    error = tab.get_by_test_id("limit-error-dailyLossLimit")
    expect(error).to_be_visible()
    expect(error).to_have_text("Daily loss limit must be at most 50%")
    expect(tab.locator("#limits-form .field.invalid")).to_have_attribute("data-field", "dailyLossLimit")
    expect(tab.get_by_test_id("limits-form-error")).to_be_hidden()
    expect(tab.get_by_test_id("limits-flash")).to_be_hidden()
    assert real.store.get_risk_limits() == before

    field.fill("4")
    tab.get_by_test_id("limit-maxConsecutiveLosses").fill("4")
    tab.get_by_test_id("save-limits").click()

    expect(tab.get_by_test_id("limits-flash")).to_contain_text(
        "Saved: Daily loss limit, Max consecutive losses"
    )
    expect(error).to_be_hidden()
    expect(field).to_have_value("4")  # re-read from GET /api/trading
    saved = real.store.get_risk_limits()
    assert float(saved.daily_loss_limit) == 0.04
    assert saved.max_consecutive_losses == 4
    assert (
        saved.model_copy(update={"daily_loss_limit": before.daily_loss_limit, "max_consecutive_losses": 5})
        == before
    )
    assert "RiskLimitsChanged" in actions(real.store)


def test_reset_confirms_what_goes_cancel_keeps_it_and_the_api_refuses_while_trading(
    tab, real: RealApi
) -> None:
    signals_before = real.store.list_signals(SESSION)
    decisions_before = real.store.list_signal_decisions(SESSION)
    assert len(signals_before) == 3
    open_route(tab, real, "reset")
    tab.get_by_test_id("scope-signals").check()

    tab.get_by_test_id("reset-button").click()
    dialog = tab.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("every signal and its risk decision")
    expect(dialog).to_contain_text("signals")
    expect(tab.get_by_test_id("confirm-ok")).to_be_disabled()  # until RESET is typed
    posted: list[str] = []
    tab.on("request", lambda r: posted.append(r.method) if r.url.endswith("/api/reset") else None)
    tab.get_by_test_id("confirm-cancel").click()
    expect(tab.get_by_test_id("reset-flash")).to_contain_text("nothing was deleted")
    assert posted == []
    assert real.store.list_signals(SESSION) == signals_before
    assert real.store.list_signal_decisions(SESSION) == decisions_before

    tab.get_by_test_id("reset-button").click()
    tab.get_by_test_id("confirm-typed").fill("RESET")
    with tab.expect_response(lambda r: r.url.endswith("/api/reset")) as response:
        tab.get_by_test_id("confirm-ok").click()

    assert response.value.status == 409
    flash = tab.get_by_test_id("reset-flash")
    expect(flash).to_contain_text("Reset failed: pause trading (or press the emergency stop) before a reset")
    expect(flash).to_have_class(re.compile(r"\bflash-error\b"))
    assert real.store.list_signals(SESSION) == signals_before
    assert real.store.list_signal_decisions(SESSION) == decisions_before
    assert real.store.get_controls().paused is False


def test_strikes_show_the_seeded_chain_and_an_options_chain_mid_candles(tab, real: RealApi) -> None:
    open_route(tab, real, "strikes")

    chain = tab.get_by_test_id("chain-table")
    expect(chain.locator("tbody tr")).to_have_count(5)  # 5 strikes, calls | strike | puts
    for header in ("IV", "Delta", "Gamma", "Theta/min", "Vega"):
        expect(chain.locator("th", has_text=header)).to_have_count(2)
    row = chain.locator("tr[data-strike='562']")
    expect(row.locator("th.strike")).to_contain_text("562.00")
    expect(row.locator("td[data-label='Call Bid']")).to_have_text("1.00")
    expect(row.locator("td[data-label='Call Ask']")).to_have_text("1.10")
    expect(row.locator("td[data-label='Call IV']")).to_have_text("18.6%")  # mid IV
    expect(row.locator("td[data-label='Call Delta']")).to_have_text("0.503")
    expect(row.locator("td[data-label='Call Gamma']")).to_have_text(re.compile(r"^0\.15\d\d$"))
    expect(row.locator("td[data-label='Call Theta/min']")).to_have_text(re.compile(r"^-0\.00\d\d$"))
    expect(row.locator("td[data-label='Call Size']")).to_have_text("50")  # 20 + 30
    expect(row.locator("td[data-label='Put Size']")).to_have_text("40")  # 15 + 25
    # The underlying at 562.00: the ATM strike; the seeded open positions held on the call side.
    expect(tab.get_by_test_id("atm-row")).to_have_attribute("data-strike", "562")
    held = tab.get_by_test_id("held-mark")
    expect(held).to_have_count(2)
    assert held.evaluate_all("marks => marks.map((m) => m.dataset.contract)") == list(OPEN_CONTRACTS)
    expect(held.first).to_have_text("C held ×2")
    expect(tab.get_by_test_id("chain-meta")).to_contain_text(
        "Underlying 562.00 · ATM 562.00 · snapshot 10:30 ET"
    )
    expect(tab.locator("[data-testid=underlying-chart] canvas").first).to_be_visible()

    call_bid = row.locator("td[data-label='Call Bid']")
    with tab.expect_response(lambda r: "/api/bars?symbol=SPY%20%20%20250314C" in r.url) as response:
        call_bid.click()
    bars = response.value.json()
    assert response.value.status == 200
    assert bars["source"] == "chain_mid" and bars["symbol"] == SELECTED
    assert len(bars["bars"]) >= 2, bars
    expect(tab.locator("#option-title")).to_have_text(f"{SELECTED}, 2-minute")
    expect(tab.locator("#option-chart canvas").first).to_be_visible()
    expect(tab.locator("#option-chart .chart-empty")).to_have_count(0)
    expect(call_bid).to_have_class(re.compile(r"\bselected\b"))

    # The minute before the seeded snapshot reads the earlier one (3 minutes before): no look-ahead.
    with tab.expect_response(lambda r: "at=10%3A29" in r.url) as earlier:
        tab.get_by_test_id("chain-at").fill("10:29")
    assert earlier.value.status == 200 and earlier.value.json()["ts"] == "2025-03-14T14:27:00Z"
    expect(tab.get_by_test_id("chain-meta")).to_contain_text("snapshot 10:27 ET")
    expect(row.locator("td[data-label='Call Bid']")).to_have_text("1.20")
    expect(tab.get_by_test_id("error-banner")).to_be_hidden()
    assert tab.api_errors == []


def test_closing_a_paper_position_closes_it_in_the_store(tab, real: RealApi) -> None:
    open_route(tab, real, "trading")
    positions = tab.get_by_test_id("positions-table")
    expect(positions).to_contain_text(OPEN_CONTRACTS[0])

    tab.get_by_test_id("close-position-1").click()
    dialog = tab.get_by_test_id("confirm-dialog")
    expect(dialog).to_contain_text("position-1")
    tab.get_by_test_id("confirm-ok").click()

    expect(tab.get_by_test_id("trading-flash")).to_contain_text("position-1 closed at 1.00, P&L −$50.00")
    expect(positions).not_to_contain_text(OPEN_CONTRACTS[0])
    expect(positions).to_contain_text(OPEN_CONTRACTS[1])
    expect(positions.locator("tbody tr")).to_have_count(1)

    found = real.store.get_position("position-1")
    assert found is not None
    closed = found.value
    assert closed.status is PositionStatus.CLOSED
    assert str(closed.exit_price) == "1.00"  # the bid of the latest snapshot
    assert closed.exit_reason == "manual close: closed from dashboard"
    still_open = real.store.get_position("position-2")
    assert still_open is not None and still_open.value.status is PositionStatus.OPEN
    assert "PositionCloseRequested" in actions(real.store)
    assert tab.api_errors == []


def test_a_percent_setting_typed_as_15_means_15_percent_with_its_dollars(tab, real: RealApi) -> None:
    open_route(tab, real, "settings")
    stop = tab.get_by_test_id("field-stopLossPercentage")
    expect(stop).to_have_value("15")  # the stored 0.15, in percent
    risk = tab.get_by_test_id("field-maxRiskPerTrade")
    expect(risk).to_have_value("2")
    # The dollars beside the percent: 2% of the account's equity (no plan: the $100,000 setting,
    # plus the open positions at the mid), the same equity the account card shows.
    equity = Decimal(real.server_get("/api/account")["equityUsd"])
    per_trade = (equity * Decimal("0.02")).quantize(Decimal("0.01"))
    expect(tab.get_by_test_id("dollars-maxRiskPerTrade")).to_have_text(
        f"2.0% = {usd(per_trade)} per trade at {usd(equity)}"
    )
    expect(tab.get_by_test_id("account-equity")).to_contain_text(usd(equity))
    expect(tab.get_by_test_id("gauge-daily-loss")).to_contain_text("of $5,000.00")

    stop.fill("15.5")
    tab.get_by_test_id("field-takeProfitPercentage").fill("5")  # 5%, not 500%
    tab.get_by_test_id("field-sizingMethod").select_option("half_kelly")
    tab.get_by_test_id("strategy-gap_fill").uncheck()
    tab.get_by_test_id("save-settings").click()

    expect(tab.get_by_test_id("settings-flash")).to_contain_text("Saved: Stop loss, Take profit")
    saved = real.store.get_settings()
    assert saved.stop_loss_percentage == 0.155  # what the engine reads: a fraction of the premium
    assert saved.take_profit_percentage == 0.05
    assert saved.sizing_method.value == "half_kelly"
    assert saved.disabled_strategies == ("gap_fill",)
    expect(stop).to_have_value("15.5")

    # 1,500% take profit is over the limit: the error names the field and the limit in percent.
    tab.get_by_test_id("field-takeProfitPercentage").fill("1500")
    tab.get_by_test_id("save-settings").click()
    expect(tab.get_by_test_id("error-takeProfitPercentage")).to_have_text(
        "Take profit must be at most 1,000%"
    )
    assert real.store.get_settings().take_profit_percentage == 0.05
    shot(tab, "settings_in_percent")


def test_the_audit_log_reads_as_sentences_in_the_order_things_happened(tab, real: RealApi) -> None:
    open_route(tab, real, "audit")
    records = tab.get_by_test_id("audit-record")
    expect(records.first).to_be_visible()
    expect(tab.get_by_test_id("audit-table")).to_contain_text(
        "Momentum breakout signalled calls (up) on SPY with 80.0% confidence"
    )
    expect(tab.get_by_test_id("audit-table")).to_contain_text(
        "Position opened: 2 SPY 562 call (2025-03-14) at $1.25"
    )
    # The same day as the server's clock: times without a weekday, in New York minutes.
    expect(records.first.locator(".when")).to_have_text(re.compile(r"^\d\d:\d\d ET$"))
    # The records in the API's order, which is the order they were written.
    api_order = [r["sentence"] for r in real.server_get("/api/audit")["records"]]
    assert tab.locator("[data-testid=audit-record] .sentence").all_inner_texts() == api_order
    shot(tab, "audit_sentences")


def test_the_emergency_stop_is_in_the_header_of_every_page(tab, real: RealApi) -> None:
    open_route(tab, real, "settings")
    stop = tab.get_by_test_id("header-emergency-stop")
    expect(stop).to_be_visible()
    stop.click()
    expect(tab.get_by_test_id("error-banner")).to_contain_text("Emergency stop engaged")
    expect(tab.get_by_test_id("state-indicator")).to_have_text("HALTED")
    assert real.store.get_controls().emergency_stop
    assert "EmergencyStopActivated" in actions(real.store)


def test_the_demo_token_survives_a_new_tab(browser, real: RealApi) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=LAPTOP)
    try:
        first = context.new_page()
        open_route(first, real, "dashboard")
        expect(first.get_by_test_id("state-indicator")).to_have_text("ACTIVE")
        second = context.new_page()  # no ?token= in its address
        second.goto(f"{real.base_url}/#/settings")
        expect(second.get_by_test_id("field-maxPositions")).to_have_value("5")
        expect(second.get_by_test_id("auth-banner")).to_be_hidden()
    finally:
        context.close()


def usd(amount: Decimal) -> str:
    """The dashboard's money format: −$1,234.56."""
    return f"{'−' if amount < 0 else ''}${abs(amount):,.2f}"
