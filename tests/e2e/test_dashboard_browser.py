"""The dashboard in a real browser (Debian's chromium) against the in-memory fake API."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import open_page
from tests.e2e.fake_api import TOKEN, FakeApi

PAGES = ["dashboard", "trading", "strikes", "analytics", "settings", "audit", "reset"]


def test_dashboard_loads_with_data(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "dashboard")

    expect(page.get_by_test_id("pnl-today")).to_have_text("$367.50")
    expect(page.get_by_test_id("pnl-realized")).to_have_text("$312.50")
    expect(page.get_by_test_id("health-dataFeed")).to_have_attribute("data-status", "green")
    expect(page.get_by_test_id("health-broker")).to_contain_text("paper broker (simulated)")
    expect(page.get_by_test_id("health-system")).to_have_attribute("data-status", "gray")
    expect(page.get_by_test_id("market-phase")).to_have_text("OPEN")
    expect(page.get_by_test_id("countdown")).to_have_text(re.compile(r"^2h 0[45]m \d\ds$"))
    expect(page.get_by_test_id("signals-table")).to_contain_text("Opening-range breakout above 589.40")
    expect(page.get_by_test_id("signals-table")).to_contain_text("82.0%")
    # strategy and direction in words, not the API's keys
    expect(page.get_by_test_id("signals-table")).to_contain_text("VWAP reversion")
    expect(page.get_by_test_id("signals-table")).to_contain_text("buy put")
    expect(page.get_by_test_id("signals-table")).not_to_contain_text("vwap_reversion")
    expect(page.get_by_test_id("automation-status")).to_contain_text("Master switch: on")
    # no minute marked yet: the empty chart says what will appear there
    expect(page.get_by_test_id("equity-chart")).to_have_text(
        "The account's equity appears here minute by minute, net of fees, "
        "once the session's trading cycle runs."
    )
    expect(page.get_by_test_id("state-indicator")).to_have_text("ACTIVE")
    expect(page.get_by_test_id("mode-indicator")).to_have_text("PAPER")
    expect(page.get_by_test_id("auth-banner")).to_be_hidden()


def test_token_is_taken_from_the_url_once_and_sent_as_bearer(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "dashboard")
    expect(page.get_by_test_id("pnl-today")).to_have_text("$367.50")

    assert "token=" not in page.url
    assert page.evaluate("sessionStorage.getItem('smart0dte.token')") == TOKEN
    page.goto(f"{base_url}/#/audit")  # no token in the URL any more
    expect(page.get_by_test_id("audit-table")).to_contain_text("Settings changed by user:alice")
    authed = [r for r in api.requests if r["path"] != "/api/health"]
    assert authed and all(r["auth"] == f"Bearer {TOKEN}" for r in authed)


@pytest.mark.parametrize("token", [None, "expired-or-forged"])
def test_missing_or_rejected_token_shows_a_clear_banner(page, api: FakeApi, base_url: str, token) -> None:
    open_page(page, base_url, "dashboard", token=token)

    expect(page.get_by_test_id("auth-banner")).to_be_visible()
    expect(page.get_by_test_id("auth-banner")).to_contain_text("Token missing or expired")
    expect(page.get_by_test_id("pnl-today")).to_have_count(0)


def test_emergency_stop_changes_the_state_and_the_indicator(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "trading")
    expect(page.get_by_test_id("state-indicator")).to_have_text("ACTIVE")

    page.get_by_test_id("reason").fill("VIX spike")
    page.get_by_test_id("emergency-stop").click()

    expect(page.get_by_test_id("state-indicator")).to_have_text("HALTED")
    expect(page.get_by_test_id("state-indicator")).to_have_class(re.compile(r"\bstate-halted\b"))
    expect(page.get_by_test_id("trading-state")).to_have_text("HALTED")
    expect(page.get_by_test_id("estop-status")).to_contain_text("VIX spike")
    expect(page.get_by_test_id("emergency-stop")).to_be_disabled()
    assert [r["body"] for r in api.posts("/api/trading/emergency-stop")] == [{"reason": "VIX spike"}]


def test_pause_then_resume(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "trading")

    page.get_by_test_id("pause").click()
    expect(page.get_by_test_id("state-indicator")).to_have_text("PAUSED")
    page.get_by_test_id("resume").click()

    expect(page.get_by_test_id("state-indicator")).to_have_text("ACTIVE")
    assert len(api.posts("/api/trading/pause")) == 1 and len(api.posts("/api/trading/resume")) == 1


def test_master_switch_toggle_posts_the_setting(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "trading")

    page.get_by_test_id("toggle-masterSwitch").uncheck()

    expect(page.get_by_test_id("trading-flash")).to_contain_text("Master switch off")
    assert [r["body"] for r in api.posts("/api/automation/settings")] == [{"masterSwitch": False}]
    assert api.state["settings"]["masterSwitch"] is False


def test_rejected_toggle_reverts_and_says_why(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "trading")

    page.get_by_test_id("toggle-riskManagement").click()  # not allowed while tradeExecution is on

    expect(page.get_by_test_id("toggle-error")).to_contain_text("riskManagement must be on")
    expect(page.get_by_test_id("toggle-riskManagement")).to_be_checked()


def test_close_position_after_confirmation(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "trading")
    expect(page.get_by_test_id("positions-table")).to_contain_text("SPY   250314C00590000")

    page.get_by_test_id("close-pos-1").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("pos-1")
    page.get_by_test_id("confirm-ok").click()

    expect(page.get_by_test_id("positions-table")).not_to_contain_text("SPY   250314C00590000")
    expect(page.get_by_test_id("positions-table")).to_contain_text("QQQ")
    assert len(api.posts("/api/positions/pos-1/close")) == 1


def test_bad_setting_shows_its_error_next_to_the_field(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "settings")

    page.get_by_test_id("field-maxPositions").fill("99")
    page.get_by_test_id("save-settings").click()

    error = page.get_by_test_id("error-maxPositions")
    expect(error).to_be_visible()
    expect(error).to_contain_text("less than or equal to 20")
    field = page.locator(".field[data-field=maxPositions]")
    expect(field).to_have_class(re.compile(r"\binvalid\b"))
    assert field.locator("[data-testid=error-maxPositions]").count() == 1  # inside the field's own box
    expect(page.get_by_test_id("error-minConfidence")).to_be_hidden()
    assert api.state["settings"]["maxPositions"] == 5  # nothing half-written
    assert [r["body"] for r in api.posts("/api/automation/settings")] == [{"maxPositions": 99}]


def test_snake_case_error_locations_still_land_next_to_the_field(page, api: FakeApi, base_url: str) -> None:
    api.state["snake_case_locs"] = True
    open_page(page, base_url, "settings")

    page.get_by_test_id("field-maxRiskPerTrade").fill("50")
    page.get_by_test_id("save-settings").click()

    expect(page.get_by_test_id("error-maxRiskPerTrade")).to_have_text("Risk per trade must be at most 10%")
    expect(page.get_by_test_id("form-error")).to_be_hidden()


def test_error_without_a_field_is_shown_on_the_form(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "settings")

    page.get_by_test_id("field-riskManagement").uncheck()
    page.get_by_test_id("save-settings").click()

    expect(page.get_by_test_id("form-error")).to_contain_text(
        "riskManagement must be on while tradeExecution is on"
    )
    assert api.state["settings"]["riskManagement"] is True


def test_good_setting_is_saved_and_errors_clear(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "settings")
    expect(page.get_by_test_id("field-minConfidence")).to_have_value("70")  # 0.7 shown in percent
    page.get_by_test_id("field-minConfidence").fill("170")
    page.get_by_test_id("save-settings").click()
    expect(page.get_by_test_id("error-minConfidence")).to_have_text("Minimum confidence must be at most 100%")

    page.get_by_test_id("field-minConfidence").fill("80")
    page.get_by_test_id("save-settings").click()

    expect(page.get_by_test_id("settings-flash")).to_contain_text("Saved: Minimum confidence")
    expect(page.get_by_test_id("error-minConfidence")).to_be_hidden()
    assert api.state["settings"]["minConfidence"] == 0.8


def test_risk_limit_error_shows_next_to_the_field_then_a_valid_value_saves(
    page, api: FakeApi, base_url: str
) -> None:
    open_page(page, base_url, "settings")
    field = page.get_by_test_id("limit-dailyLossLimit")
    expect(field).to_have_value("5")  # 0.05, in percent
    expect(field).to_have_attribute("max", "50")
    expect(page.get_by_test_id("limit-maxConsecutiveLosses")).to_have_attribute("step", "1")

    field.fill("90")
    page.get_by_test_id("save-limits").click()

    error = page.get_by_test_id("limit-error-dailyLossLimit")
    expect(error).to_be_visible()
    expect(error).to_have_text("Daily loss limit must be at most 50%")
    expect(page.locator("#limits-form .field.invalid")).to_have_attribute("data-field", "dailyLossLimit")
    expect(page.get_by_test_id("limits-flash")).to_be_hidden()
    assert api.state["riskLimits"]["dailyLossLimit"] == 0.05  # nothing half-written

    field.fill("4")
    page.get_by_test_id("limit-maxConsecutiveLosses").fill("4")
    page.get_by_test_id("save-limits").click()

    expect(page.get_by_test_id("limits-flash")).to_contain_text(
        "Saved: Daily loss limit, Max consecutive losses"
    )
    expect(error).to_be_hidden()
    assert [r["body"] for r in api.posts("/api/risk/limits")] == [
        {"dailyLossLimit": 0.9},
        {"dailyLossLimit": 0.04, "maxConsecutiveLosses": 4},
    ]
    assert api.state["riskLimits"]["dailyLossLimit"] == 0.04
    # The form shows what the API holds after the save: change it behind the page's back.
    api.state["riskLimits"]["maxDrawdown"] = 0.2
    page.get_by_test_id("limit-pdtWindowSessions").fill("6")
    page.get_by_test_id("save-limits").click()
    expect(page.get_by_test_id("limit-maxDrawdown")).to_have_value("20")
    expect(page.get_by_test_id("limit-dailyLossLimit")).to_have_value("4")
    assert api.posts("/api/automation/settings") == []


def test_reset_asks_for_confirmation_naming_the_scope(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "reset")
    page.get_by_test_id("scope-signals").check()

    page.get_by_test_id("reset-button").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("every signal and its risk decision")
    expect(dialog).to_contain_text("signals")
    expect(page.get_by_test_id("confirm-ok")).to_be_disabled()  # until RESET is typed
    page.get_by_test_id("confirm-cancel").click()
    expect(page.get_by_test_id("reset-flash")).to_contain_text("nothing was deleted")
    assert api.posts("/api/reset") == []

    page.get_by_test_id("reset-button").click()
    page.get_by_test_id("confirm-typed").fill("RESET")
    page.get_by_test_id("confirm-ok").click()

    expect(page.get_by_test_id("reset-flash")).to_contain_text(
        "Reset done: signals deleted (2 signals, 2 riskDecisions)"
    )
    assert [r["body"] for r in api.posts("/api/reset")] == [{"scope": "signals", "confirm": "RESET"}]


SIDE_HEADERS = ["Bid", "Ask", "Size", "IV", "Delta", "Gamma", "Theta/min", "Vega"]
SPY_590_CALL, SPY_590_PUT = "SPY   250314C00590000", "SPY   250314P00590000"


def test_strikes_show_calls_strike_puts_with_the_atm_and_held_contracts_marked(
    page, api: FakeApi, base_url: str
) -> None:
    open_page(page, base_url, "strikes")

    chain = page.get_by_test_id("chain-table")
    expect(chain.locator("tbody tr")).to_have_count(61)  # one row per strike
    headers = chain.locator("thead tr").nth(1).locator("th")
    expect(headers).to_have_text([*reversed(SIDE_HEADERS), "Strike", *SIDE_HEADERS])
    expect(chain.locator("thead tr.groups th", has_text="Calls")).to_have_count(1)
    expect(chain.locator("thead tr.groups th", has_text="Puts")).to_have_count(1)
    expect(chain.locator("th[title*='traded volume is not in the chain snapshots']")).to_have_count(2)
    # The row of strike 590: the call's cells, the strike, the put's cells, in that order.
    row = chain.locator("tr[data-strike='590']")
    contracts = row.locator("td").evaluate_all("tds => tds.map((td) => td.dataset.contract)")
    assert contracts == [SPY_590_CALL] * 8 + [SPY_590_PUT] * 8, contracts
    expect(row.locator("th.strike")).to_contain_text("590.00")
    # ATM: the strike nearest 589.60, marked once.
    expect(chain.get_by_test_id("atm-mark")).to_have_count(1)
    expect(chain.get_by_test_id("atm-row")).to_have_attribute("data-strike", "590")
    expect(page.get_by_test_id("chain-meta")).to_contain_text(
        "Underlying 589.60 · ATM 590.00 · snapshot 11:00 ET"
    )
    # The held call (pos-1, 2 contracts) on its side; the put traded and no longer held.
    held = chain.get_by_test_id("held-mark")
    expect(held).to_have_count(1)
    expect(held).to_have_attribute("data-contract", SPY_590_CALL)
    expect(held).to_have_text("C held ×2")
    expect(row.locator(f"td.held[data-contract='{SPY_590_CALL}']")).to_have_count(8)
    expect(row.locator("td.held")).to_have_count(8)
    traded = chain.get_by_test_id("traded-mark")
    expect(traded).to_have_attribute("data-contract", "SPY   250314P00588000")
    expect(chain.locator("tr[data-strike='588']")).to_contain_text("P traded")
    # In the money is shaded on its side only: calls below 589.60, puts above.
    below = chain.locator("tr[data-strike='589']")
    expect(below.locator("td.itm[data-contract^='SPY   250314C']")).to_have_count(8)
    expect(below.locator("td.itm[data-contract^='SPY   250314P']")).to_have_count(0)
    expect(row.locator("td.itm[data-contract^='SPY   250314P']")).to_have_count(8)
    # The early-exercise flag stays on its call.
    flagged = chain.get_by_test_id("ex-div")
    expect(flagged).to_have_count(1)
    expect(chain.locator("tr[data-strike='587']").get_by_test_id("ex-div")).to_have_attribute(
        "title", re.compile("ex-dividend")
    )
    expect(row.locator("td[data-label='Call Size']")).to_have_text("500")  # 200 + 300
    # The chain scrolls in a bounded box centred on the ATM strike, the candles close below it.
    box = page.get_by_test_id("chain-scroll")
    assert box.evaluate("e => e.scrollHeight > e.clientHeight")
    assert box.evaluate(
        "e => { const r = e.querySelector('tr.atm').getBoundingClientRect(), b = e.getBoundingClientRect();"
        " return r.top >= b.top && r.bottom <= b.bottom; }"
    ), "the ATM row is not in view"
    expect(page.locator("[data-testid=underlying-chart] canvas").first).to_be_visible()
    chart_top = page.get_by_test_id("underlying-chart").evaluate("e => e.getBoundingClientRect().top")
    assert chart_top < 1400, chart_top

    page.get_by_test_id("symbol-QQQ").click()
    expect(chain.locator("tr[data-strike='500']")).to_be_visible()
    with page.expect_response(lambda r: "/api/bars?symbol=QQQ%20%20%20250314P00500000" in r.url):
        chain.locator("tr[data-strike='500'] td[data-label='Put Bid']").click()
    expect(page.locator("#option-title")).to_have_text("QQQ   250314P00500000, 2-minute")
    expect(page.locator("#option-chart canvas").first).to_be_visible()
    expect(chain.locator("td.selected")).to_have_count(8)


def test_strikes_at_a_chosen_minute_and_back_to_the_latest(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "strikes")
    picker = page.get_by_test_id("chain-at")
    expect(picker).to_have_value("11:00")
    expect(picker).to_have_attribute("min", "09:31")
    expect(picker).to_have_attribute("max", "11:00")

    with page.expect_response(lambda r: r.url.endswith("/api/strikes?symbol=SPY&at=09%3A45")):
        picker.fill("09:45")
    meta = page.get_by_test_id("chain-meta")
    expect(meta).to_contain_text("Underlying 588.85 · ATM 589.00 · snapshot 09:45 ET")
    expect(page.get_by_test_id("atm-row")).to_have_attribute("data-strike", "589")
    expect(page.get_by_test_id("held-mark")).to_have_count(0)  # pos-1 opened at 11:00
    page.locator("#chain-prev").click()
    expect(meta).to_contain_text("snapshot 09:44 ET")
    expect(picker).to_have_value("09:44")

    page.get_by_test_id("chain-latest").click()
    expect(meta).to_contain_text("snapshot 11:00 ET")
    expect(page.get_by_test_id("held-mark")).to_have_count(1)
    expect(page.get_by_test_id("chain-latest")).to_be_disabled()

    picker.fill("09:00")  # before the session's first snapshot: the API's message is shown
    expect(page.get_by_test_id("error-banner")).to_contain_text(
        "at='09:00' must be a minute HH:MM (New York time) within 09:31..11:00"
    )
    expect(picker).to_have_value("11:00")  # back to the minute the chain still shows
    expect(page.get_by_test_id("chain-latest")).to_be_disabled()


def test_strikes_after_the_close_show_the_last_trading_minute(page, api: FakeApi, base_url: str) -> None:
    api.state["chainAfterClose"] = True
    open_page(page, base_url, "strikes")

    note = page.get_by_test_id("chain-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("The session has closed: this is its last trading minute (15:59 ET)")
    expect(page.get_by_test_id("chain-at")).to_have_value("15:59")
    expect(page.get_by_test_id("chain-at")).to_have_attribute("max", "16:00")
    expect(page.get_by_test_id("chain-meta")).to_contain_text("1 min to expiry")


def test_strikes_on_a_phone_keep_calls_strike_puts_without_horizontal_scrolling(
    browser, api: FakeApi, base_url: str
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        open_page(page, base_url, "strikes")
        chain = page.get_by_test_id("chain-table")
        expect(chain.get_by_test_id("held-mark")).to_be_visible()
        visible = [
            th.inner_text() for th in chain.locator("thead tr").nth(1).locator("th").all() if th.is_visible()
        ]
        assert visible == ["Delta", "Ask", "Bid", "Strike", "Bid", "Ask", "Delta"], visible
        expect(chain.get_by_test_id("atm-mark")).to_be_visible()
        widths = page.get_by_test_id("chain-scroll").evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert widths[0] <= widths[1], f"the chain scrolls sideways on a phone: {widths}"
        page_widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert page_widths[0] <= page_widths[1], page_widths
        shots = os.environ.get("E2E_SCREENSHOT_DIR")
        if shots:
            page.screenshot(path=f"{shots}/strikes_phone_390x844.png")
    finally:
        context.close()


def test_analytics_runs_a_backtest_and_shows_its_progress(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "analytics")
    expect(page.get_by_test_id("metrics")).to_contain_text("56.0%")
    expect(page.get_by_test_id("strategy-table")).to_contain_text("VWAP reversion")

    options = page.get_by_test_id("strategy-filter").locator("option")
    expect(options).to_have_text(["All", "Momentum breakout", "Mean reversion", "Gap fill", "VIX spike"])
    page.get_by_test_id("timeframe").select_option("1w")
    page.get_by_test_id("strategy-filter").select_option("gap_fill")
    with page.expect_response(lambda r: "/api/analytics?" in r.url) as response:
        page.locator("[data-testid=analytics-filter] button").click()
    assert response.value.url.endswith("/api/analytics?timeframe=1w&strategy=gap_fill")

    # The default window: the 5 sessions ending at the newest equity-curve day (Thu 2025-03-13).
    expect(page.get_by_test_id("bt-start")).to_have_value("2025-03-07")
    expect(page.get_by_test_id("bt-end")).to_have_value("2025-03-13")
    api.state["backtestHold"] = True
    page.get_by_test_id("bt-run").click()

    text = page.get_by_test_id("bt-text")
    expect(text).to_have_text("Running — 2 / 5 sessions (40%)")
    expect(page.get_by_test_id("bt-cancel")).to_be_visible()
    expect(page.get_by_test_id("bt-status")).to_have_attribute("data-status", "running")
    api.state["backtestHold"] = False

    expect(page.get_by_test_id("bt-status")).to_have_attribute("data-status", "succeeded", timeout=15_000)
    expect(text).to_have_text("Done — 5 / 5 sessions (100%)")
    expect(page.get_by_test_id("bt-cancel")).to_be_hidden()
    expect(page.get_by_test_id("bt-trades")).to_have_text("17")
    expect(page.get_by_test_id("bt-net-pnl")).to_have_text("$1,234.50")
    expect(page.get_by_test_id("bt-return")).to_have_text("+1.2%")
    expect(page.get_by_test_id("bt-error")).to_be_hidden()
    assert [r["body"] for r in api.posts("/api/analytics/backtest")] == [
        {"start": "2025-03-07", "end": "2025-03-13", "source": "simulator", "scenario": "normal"}
    ]

    api.state["backtestOutcome"] = "ABORTED"  # a second run replaces the first one's result
    page.get_by_test_id("bt-run").click()
    expect(page.get_by_test_id("bt-status")).to_have_attribute("data-status", "aborted", timeout=15_000)
    expect(page.get_by_test_id("bt-error")).to_contain_text("Backtest was cancelled.")
    expect(page.get_by_test_id("bt-result")).to_be_hidden()
    expect(page.get_by_test_id("bt-trades")).to_have_count(0)


@pytest.mark.parametrize(("outcome", "words"), [("FAILED", "failed"), ("TIMED_OUT", "timed out")])
def test_a_failed_backtest_shows_its_error_and_cause(
    page, api: FakeApi, base_url: str, outcome: str, words: str
) -> None:
    api.state["backtestOutcome"] = outcome
    open_page(page, base_url, "analytics")
    expect(page.get_by_test_id("bt-end")).to_have_value("2025-03-13")

    page.get_by_test_id("bt-run").click()

    expect(page.get_by_test_id("bt-status")).to_have_attribute("data-status", outcome.lower(), timeout=15_000)
    error = page.get_by_test_id("bt-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(f"Backtest {words}.")
    # the reason in words, not the workflow's generic cause
    expect(page.get_by_test_id("bt-reason")).to_have_text(
        "session 2025-03-12: no archived chain snapshots for 2025-03-12 (SPY)"
    )
    expect(page.get_by_test_id("bt-text")).to_have_text(
        f"{'Failed' if outcome == 'FAILED' else 'Timed out'} — 4 / 5 sessions (80%)"
    )
    expect(page.get_by_test_id("bt-result")).to_be_hidden()


def test_analytics_shows_the_walk_forward_optimization_as_a_report_only(
    page, api: FakeApi, base_url: str
) -> None:
    open_page(page, base_url, "analytics")
    table = page.get_by_test_id("optimization-table")

    expect(page.get_by_test_id("optimization-report-only")).to_contain_text("Report only, not applied")
    row = table.locator("tr", has_text="Momentum breakout")
    expect(row).to_contain_text("min_break_atr 1 (default 0.5)")
    expect(row).to_contain_text("$1,234.50")
    expect(row).to_contain_text("−$250.00")
    expect(row).to_contain_text("yes")
    expect(row).to_contain_text("archive 2025-01-02..2025-03-03 (40 sessions)")
    expect(table.locator("tr", has_text="Gap fill")).to_contain_text(
        "no walk-forward optimization has run for this strategy yet"
    )
    asked = {r["path"] for r in api.requests if r["path"].startswith("/api/analytics/optimization/")}
    assert asked == {
        f"/api/analytics/optimization/{s}"
        for s in ("momentum_breakout", "mean_reversion", "gap_fill", "vix_spike")
    }


def test_audit_log_lists_sentences_in_the_apis_order_and_filters(page, api: FakeApi, base_url: str) -> None:
    open_page(page, base_url, "audit")
    table = page.get_by_test_id("audit-table")
    records = page.get_by_test_id("audit-record")
    expect(records).to_have_count(4)
    # The API's order is kept: the two records of one instant are not re-sorted.
    expect(records.nth(1)).to_contain_text("Position opened: 36 IWM 225 call (2025-03-14) at $0.55")
    expect(records.nth(2)).to_contain_text("Bought 36 IWM 225 call (2025-03-14) at $0.55, fees $23.40")
    # A record without a sentence reads as its action and reason in words.
    expect(records.nth(3)).to_contain_text("Pre market started: 08:00 ET schedule")
    # The JSON is behind a toggle.
    details = page.get_by_test_id("audit-details-0")
    expect(details.locator("pre")).to_be_hidden()
    details.locator("summary").click()
    expect(details.locator("pre")).to_contain_text('"stopLossPercentage": 0.15')

    page.get_by_test_id("audit-filter").fill("alice")

    expect(table).not_to_contain_text("Pre market started")
    expect(table).to_contain_text("stop loss percentage 20.0% -> 15.0%")

    page.get_by_test_id("audit-filter").fill("nothing like this")
    expect(page.get_by_test_id("audit-empty")).to_have_text("No record matches the filter.")


def test_an_empty_audit_log_says_what_will_appear(page, api: FakeApi, base_url: str) -> None:
    api.state["audit"] = []
    open_page(page, base_url, "audit")
    expect(page.get_by_test_id("audit-empty")).to_contain_text(
        "Nothing recorded this session yet. Every signal, risk decision, order, fill"
    )


def test_missing_fields_render_as_dashes(page, api: FakeApi, base_url: str) -> None:
    for key in ("pnl", "marketStatus", "recentSignals", "equityCurve"):
        del api.state[key]
    api.state["health"] = {"components": {"broker": {"status": "purple"}}}
    api.state["settings"] = {}

    open_page(page, base_url, "dashboard")

    expect(page.get_by_test_id("pnl-today")).to_have_text("—")
    expect(page.get_by_test_id("countdown")).to_have_text("—")
    expect(page.get_by_test_id("health-broker")).to_have_attribute("data-status", "gray")
    expect(page.get_by_test_id("signals-table")).to_contain_text("No signals yet")


@pytest.mark.parametrize("route", PAGES)
def test_phone_width_has_no_horizontal_scrolling(phone_page, api: FakeApi, base_url: str, route: str) -> None:
    open_page(phone_page, base_url, route)
    expect(phone_page.locator("main h1")).to_be_visible()
    phone_page.wait_for_load_state("networkidle")

    widths = phone_page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth,"
        " document.body.scrollWidth]"
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[1], f"{route}: scroll/client widths {widths}"


API_LAMBDA_DASHBOARD = {
    "mode": "paper",
    "settings": {"masterSwitch": False, "tradeExecution": True, "riskManagement": True, "maxPositions": 5},
    "controls": {
        "emergencyStop": True,
        "paused": False,
        "tradingState": "HALTED",
        "stateReason": "emergency stop",
        "emergencyStopChange": {"actor": "user:bob", "reason": "broker outage", "at": "2025-03-14T15:02:00Z"},
    },
    "counters": {"sessionDate": "2025-03-14", "dayTrades": 1, "trades": 2, "realizedPnlUsd": "120.50"},
    "openPositions": [
        {
            "positionId": "p-77",
            "contract": "IWM   250314C00205000",
            "underlying": "IWM",
            "quantity": 3,
            "entryPrice": "0.80",
            "openedAt": "2025-03-14T14:40:00Z",
            "strategy": "orb",
            "markPrice": 0.95,
            "unrealizedPnlUsd": "45.00",
        }
    ],
    "unrealizedPnlUsd": "45.00",
    "recentSignals": [
        {
            "ts": "2025-03-14T14:39:00Z",
            "underlying": "IWM",
            "direction": "long_call",
            "strategy": "orb",
            "confidence": 0.77,
            "rationale": "breakout over the opening range high",
        }
    ],
    "market": {
        "phase": "open",
        "openEt": "2025-03-14T09:30:00-04:00",
        "closeEt": "2025-03-14T16:00:00-04:00",
        "nextEvent": "flatten",
        "nextEventAt": "2099-01-01T00:00:00Z",
        "secondsToNextEvent": 100,
    },
}
API_LAMBDA_HEALTH = {
    "status": "yellow",
    "components": [
        {"name": "dataFeed", "status": "green", "reason": "fresh"},
        {"name": "broker", "status": "red", "reason": "gateway down"},
    ],
}
API_LAMBDA_ANALYTICS = {
    "timeframe": "3m",
    "totalReturn": 0.031,
    "sharpe": 1.1,
    "maxDrawdown": 0.02,
    "trades": {"trades": 12, "winRate": 0.5, "netPnlUsd": 310.0},
    "byStrategy": {"orb": {"trades": 12, "winRate": 0.5, "netPnlUsd": 310.0}},
    "equityCurve": [
        {"sessionDate": "2025-03-12", "equityUsd": 100000.0, "drawdown": 0.0},
        {"sessionDate": "2025-03-13", "equityUsd": 100310.0, "drawdown": 0.01},
    ],
}
API_LAMBDA_INTRADAY = {
    "sessionDate": "2025-03-14",
    "startingEquityUsd": 100000.0,
    "marks": [
        {"ts": "2025-03-14T13:31:00Z", "equityUsd": 100000.0, "drawdownUsd": 0.0, "drawdown": 0.0},
        {"ts": "2025-03-14T13:32:00Z", "equityUsd": 100045.0, "drawdownUsd": 0.0, "drawdown": 0.0},
    ],
    "fills": [],
}


def test_pages_render_the_api_lambda_response_shapes(page, api: FakeApi, base_url: str) -> None:
    trading = {k: v for k, v in API_LAMBDA_DASHBOARD.items() if k not in ("counters", "market")}
    api.state["verbatim"] = {
        "/api/dashboard": API_LAMBDA_DASHBOARD,
        "/api/health": API_LAMBDA_HEALTH,
        "/api/analytics": API_LAMBDA_ANALYTICS,
        "/api/analytics/intraday": API_LAMBDA_INTRADAY,
        "/api/trading": {**trading, "riskLimits": {"dailyLossLimit": 0.05}},
    }
    open_page(page, base_url, "dashboard")

    expect(page.get_by_test_id("pnl-realized")).to_have_text("$120.50")
    expect(page.get_by_test_id("pnl-today")).to_have_text("$165.50")
    expect(page.get_by_test_id("health-broker")).to_have_attribute("data-status", "red")
    expect(page.get_by_test_id("health-system")).to_have_attribute("data-status", "gray")
    expect(page.get_by_test_id("state-indicator")).to_have_text("HALTED")
    expect(page.get_by_test_id("signals-table")).to_contain_text("breakout over the opening range high")
    expect(page.get_by_test_id("automation-status")).to_contain_text("Master switch: off")
    expect(page.get_by_test_id("countdown")).to_have_text(re.compile(r"^1m [34]\ds$"))  # server's 100 s
    expect(page.locator("#market")).to_contain_text("Flatten in")
    expect(page.locator("[data-testid=equity-chart] canvas").first).to_be_visible()
    # the session's minute marks, not the daily curve
    expect(page.get_by_test_id("equity-meta")).to_have_text(
        "Session 2025-03-14: started at $100,000.00, now $100,045.00"
    )

    page.goto(f"{base_url}/#/trading")
    expect(page.get_by_test_id("estop-status")).to_contain_text("broker outage")
    expect(page.get_by_test_id("positions-table")).to_contain_text("$45.00")
    expect(page.get_by_test_id("close-p-77")).to_be_visible()

    page.goto(f"{base_url}/#/analytics")
    expect(page.get_by_test_id("metrics")).to_contain_text("3.1%")
    expect(page.get_by_test_id("strategy-table")).to_contain_text("$310.00")
