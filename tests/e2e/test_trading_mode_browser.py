"""The Trading page's trading-mode card and its dialog between paper, IB paper (ibkr_paper) and
live, in a real browser."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from smart0dte.ports import LIVE_GATEWAY_PORT, PAPER_GATEWAY_PORT, BrokerAccount, GatewayStatus
from tests.e2e.conftest import _finish, _new_page, open_page
from tests.e2e.fake_api import FakeApi

ACCOUNT = "U7654321"
PAPER_ACCOUNT = "DU7654321"


def _arm_ready(api: FakeApi) -> None:
    """Every live-arming check met except what the dialog gives (account, LIVE, fingerprint)."""
    api.state["liveTrading"] = "enabled"
    api.state["gateway"] = GatewayStatus(
        heartbeat_at=datetime.now(UTC),
        connected=True,
        port=LIVE_GATEWAY_PORT,
        account=BrokerAccount(ACCOUNT, Decimal("60000"), True, "a what-if option order was accepted"),
    )
    api.state["paused"] = True
    api.state["positions"] = []


def _rehearsal_ready(api: FakeApi, account: str = PAPER_ACCOUNT) -> None:
    """A deployment whose gateway serves ibkr_paper, reporting `account` on 4002; paper paused."""
    api.state["liveTrading"] = "ibkr_paper"
    api.state["gateway"] = GatewayStatus(
        heartbeat_at=datetime.now(UTC),
        connected=True,
        port=PAPER_GATEWAY_PORT,
        account=BrokerAccount(account, Decimal("1000000"), True, "a what-if option order was accepted"),
    )
    api.state["paused"] = True
    api.state["positions"] = []


def _open_dialog(page, base_url: str, to: str = "live") -> None:  # type: ignore[no-untyped-def]
    open_page(page, base_url, "trading")
    expect(page.get_by_test_id(f"mode-switch-{to}")).to_be_enabled()
    page.get_by_test_id(f"mode-switch-{to}").click()
    expect(page.get_by_test_id("mode-dialog")).to_be_visible()


def test_card_shows_paper_what_it_means_and_that_no_broker_mode_is_enabled(
    page, api: FakeApi, base_url: str
) -> None:
    open_page(page, base_url, "trading")

    card = page.get_by_test_id("mode-card")
    expect(card.get_by_test_id("mode-badge")).to_have_text("PAPER")
    expect(card.get_by_test_id("mode-badge")).to_have_class(re.compile(r"\bmode-paper\b"))
    expect(card.get_by_test_id("mode-meaning")).to_have_text(
        "Simulated: orders fill on the built-in simulated venue. No broker, no money."
    )
    expect(card.get_by_test_id("mode-live-allowed")).to_have_text(
        "No IB Gateway in this deployment: paper only (IB paper and live are not enabled)"
    )
    expect(card.get_by_test_id("mode-changed")).to_contain_text("Never switched")
    buttons = card.get_by_test_id("mode-actions").locator("button")
    expect(buttons).to_have_text(["Switch to IB paper…", "Switch to live…"])
    # without a gateway IB paper cannot be switched to: the button looks plain and says why
    ib_paper = card.get_by_test_id("mode-switch-ibkr_paper")
    expect(ib_paper).not_to_have_class(re.compile(r"\bprimary\b"))
    expect(ib_paper).to_have_attribute(
        "title", re.compile(r"^Not possible yet. Unmet checks: Deployment allows it, Gateway heartbeat")
    )
    expect(card.get_by_test_id("mode-switch-paper")).to_have_count(0)
    expect(page.get_by_test_id("mode-dialog")).to_be_hidden()


def test_dialog_lists_every_check_and_marks_the_unmet_ones(page, api: FakeApi, base_url: str) -> None:
    _open_dialog(page, base_url)

    dialog = page.get_by_test_id("mode-dialog")
    expect(dialog.get_by_test_id("mode-dialog-title")).to_have_text("Switch to LIVE trading?")
    names = [
        "deployment",
        "gateway",
        "liveAccount",
        "optionsPermission",
        "riskLimits",
        "paperIdle",
        "liveEmergencyStop",
        "confirmation",
    ]
    for name in names:
        expect(dialog.get_by_test_id(f"mode-check-{name}")).to_be_visible()
    expect(dialog.locator("[data-testid^=mode-check-]")).to_have_count(len(names))
    deployment = dialog.get_by_test_id("mode-check-deployment")
    expect(deployment).to_have_attribute("data-met", "false")
    expect(deployment).to_contain_text("live is not enabled in this deployment (it has no gateway")
    expect(dialog.get_by_test_id("mode-check-gateway")).to_have_attribute("data-met", "false")
    expect(dialog.get_by_test_id("mode-check-gateway")).to_contain_text("no heartbeat from the gateway")
    expect(dialog.get_by_test_id("mode-check-paperIdle")).to_contain_text("paper trading is running")
    expect(dialog.get_by_test_id("mode-check-liveEmergencyStop")).to_have_attribute("data-met", "true")
    expect(dialog.get_by_test_id("mode-fingerprint")).to_have_text(re.compile(r"^[0-9a-f]{16}$"))
    expect(dialog.get_by_test_id("mode-live-warning")).to_contain_text("PAUSED")
    expect(dialog.get_by_test_id("mode-account")).to_be_focused()

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert api.posts("/api/trading/mode") == []


def test_confirm_stays_disabled_until_live_and_an_account_are_typed(
    page, api: FakeApi, base_url: str
) -> None:
    _open_dialog(page, base_url)
    submit = page.get_by_test_id("mode-submit")

    expect(submit).to_be_disabled()
    page.get_by_test_id("mode-account").fill(ACCOUNT)
    expect(submit).to_be_disabled()
    page.get_by_test_id("mode-confirm-typed").fill("live")
    expect(submit).to_be_disabled()
    page.get_by_test_id("mode-confirm-typed").fill("LIVE")
    expect(submit).to_be_enabled()
    page.get_by_test_id("mode-account").fill("")
    expect(submit).to_be_disabled()
    page.get_by_test_id("mode-account").press("Enter")  # a disabled form does not submit
    assert api.posts("/api/trading/mode") == []


def test_refused_switch_shows_the_servers_unmet_lines_and_stays_paper(
    page, api: FakeApi, base_url: str
) -> None:
    _open_dialog(page, base_url)
    fingerprint = page.get_by_test_id("mode-fingerprint").inner_text()

    page.get_by_test_id("mode-account").fill(ACCOUNT)
    page.get_by_test_id("mode-confirm-typed").fill("LIVE")
    page.get_by_test_id("mode-reason").fill("try live")
    page.get_by_test_id("mode-submit").click()

    unmet = page.get_by_test_id("mode-unmet")
    expect(unmet).to_be_visible()
    lines = unmet.get_by_test_id("mode-unmet-line")
    expect(lines.first).to_contain_text("deployment: live is not enabled in this deployment")
    expect(unmet).to_contain_text("gateway: no heartbeat from the gateway task")
    expect(unmet).to_contain_text("paperIdle: paper trading is running")
    expect(page.get_by_test_id("mode-dialog")).to_be_visible()
    # The checks now reflect what was typed: the confirmation is met.
    expect(page.get_by_test_id("mode-check-confirmation")).to_have_attribute("data-met", "true")
    posts = api.posts("/api/trading/mode")
    assert [p["body"] for p in posts] == [
        {
            "mode": "live",
            "reason": "try live",
            "confirm": "LIVE",
            "account": ACCOUNT,
            "limitsFingerprint": fingerprint,
        }
    ]
    # deployment, gateway, liveAccount, optionsPermission, riskLimits (no account equity), paperIdle
    expect(lines).to_have_count(6)

    page.get_by_test_id("mode-cancel").click()
    expect(page.get_by_test_id("mode-dialog")).to_be_hidden()
    expect(page.get_by_test_id("mode-badge")).to_have_text("PAPER")
    expect(page.get_by_test_id("mode-indicator")).to_have_text("PAPER")
    assert api.state["mode"] == "paper"


def test_arming_live_then_back_to_paper(page, api: FakeApi, base_url: str) -> None:
    _arm_ready(api)
    _open_dialog(page, base_url)
    dialog = page.get_by_test_id("mode-dialog")
    expect(dialog.get_by_test_id("mode-check-gateway")).to_have_attribute("data-met", "true")
    expect(dialog.get_by_test_id("mode-check-deployment")).to_have_attribute("data-met", "true")
    expect(dialog.get_by_test_id("mode-check-paperIdle")).to_have_attribute("data-met", "true")

    page.get_by_test_id("mode-account").fill(ACCOUNT)
    page.get_by_test_id("mode-confirm-typed").fill("LIVE")
    page.get_by_test_id("mode-reason").fill("validated in paper")
    page.get_by_test_id("mode-submit").click()

    expect(dialog).to_be_hidden()
    card = page.get_by_test_id("mode-card")
    expect(card.get_by_test_id("mode-badge")).to_have_text("LIVE")
    expect(card.get_by_test_id("mode-badge")).to_have_class(re.compile(r"\bmode-live\b"))
    expect(card.get_by_test_id("mode-changed")).to_contain_text("user:e2e")
    expect(card.get_by_test_id("mode-changed")).to_contain_text("validated in paper")
    expect(card.get_by_test_id("mode-changed")).to_contain_text("ET")
    expect(card.get_by_test_id("mode-live-allowed")).to_contain_text(
        "Live trading is allowed in this deployment"
    )
    expect(card.get_by_test_id("mode-meaning")).to_contain_text("Real money.")
    expect(page.get_by_test_id("trading-flash")).to_contain_text("Trading is paused")
    expect(page.get_by_test_id("trading-mode")).to_have_text("LIVE")
    expect(page.get_by_test_id("trading-state")).to_have_text("PAUSED")
    expect(page.get_by_test_id("mode-indicator")).to_have_text("LIVE")
    expect(page.get_by_test_id("state-indicator")).to_have_text("PAUSED")
    assert api.state["mode"] == "live"
    if shots := os.environ.get("MODE_SHOTS_DIR"):
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{shots}/card_live_1366x900.png")

    card.get_by_test_id("mode-switch-paper").click()
    expect(dialog.get_by_test_id("mode-dialog-title")).to_have_text("Switch back to paper trading?")
    expect(dialog.get_by_test_id("mode-check-liveIdle")).to_have_attribute("data-met", "true")
    expect(dialog.get_by_test_id("mode-confirm-typed")).to_have_count(0)
    expect(dialog.get_by_test_id("mode-reason")).to_be_focused()
    page.get_by_test_id("mode-submit").click()

    expect(dialog).to_be_hidden()
    expect(card.get_by_test_id("mode-badge")).to_have_text("PAPER")
    expect(page.get_by_test_id("mode-indicator")).to_have_text("PAPER")
    assert api.posts("/api/trading/mode")[-1]["body"] == {
        "mode": "paper",
        "reason": "switched to paper from the dashboard",
    }


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_card_and_dialog_fit_the_screen(browser, request, api: FakeApi, base_url: str, width, height) -> None:  # type: ignore[no-untyped-def]
    context, page = _new_page(browser, request, {"width": width, "height": height})
    try:
        shots = os.environ.get("MODE_SHOTS_DIR")
        open_page(page, base_url, "trading")
        expect(page.get_by_test_id("mode-badge")).to_have_text("PAPER")
        page.wait_for_load_state("networkidle")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/card_{width}x{height}.png")
        page.get_by_test_id("mode-switch-live").click()
        expect(page.get_by_test_id("mode-account")).to_be_focused()
        if shots:
            page.screenshot(path=f"{shots}/dialog_open_{width}x{height}.png")
        page.get_by_test_id("mode-account").fill(ACCOUNT)
        page.get_by_test_id("mode-confirm-typed").fill("LIVE")
        page.get_by_test_id("mode-submit").click()
        expect(page.get_by_test_id("mode-unmet")).to_be_visible()

        box = page.get_by_test_id("mode-dialog").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        overflow = page.evaluate(
            "(() => { const d = document.querySelector('[data-testid=mode-dialog]');"
            " return [d.scrollWidth, d.clientWidth, document.documentElement.scrollWidth,"
            " document.documentElement.clientWidth]; })()"
        )
        assert overflow[0] <= overflow[1] and overflow[2] <= overflow[3], overflow
        if shots:
            page.get_by_test_id("mode-dialog-title").scroll_into_view_if_needed()
            page.screenshot(path=f"{shots}/dialog_{width}x{height}.png")
            page.get_by_test_id("mode-unmet").scroll_into_view_if_needed()
            page.screenshot(path=f"{shots}/dialog_unmet_{width}x{height}.png")
    finally:
        _finish(page, context, request)


# --- IB paper: the rehearsal of the broker path -----------------------------------------------------


def test_switching_to_ib_paper_asks_for_no_confirmation_and_starts_paused(
    page, api: FakeApi, base_url: str
) -> None:
    _rehearsal_ready(api)
    open_page(page, base_url, "trading")
    expect(page.get_by_test_id("mode-switch-ibkr_paper")).to_have_class(re.compile(r"\bprimary\b"))
    _open_dialog(page, base_url, "ibkr_paper")
    dialog = page.get_by_test_id("mode-dialog")

    expect(dialog.get_by_test_id("mode-dialog-title")).to_have_text("Switch to IB paper trading?")
    expect(dialog.get_by_test_id("mode-ibkr-paper-note")).to_contain_text("no real money")
    expect(dialog.get_by_test_id("mode-ibkr-paper-note")).to_contain_text("port 4002")
    names = [
        "deployment",
        "gateway",
        "ibkrPaperAccount",
        "optionsPermission",
        "paperIdle",
        "ibkrPaperEmergencyStop",
    ]
    expect(dialog.locator("[data-testid^=mode-check-]")).to_have_count(len(names))
    for name in names:
        expect(dialog.get_by_test_id(f"mode-check-{name}")).to_have_attribute("data-met", "true")
    expect(dialog.get_by_test_id("mode-check-ibkrPaperAccount")).to_contain_text("IB paper account")
    expect(dialog.get_by_test_id("mode-check-ibkrPaperAccount")).to_contain_text(PAPER_ACCOUNT)
    # Nothing of live's checks on money: no account to type, no LIVE, no fingerprint.
    expect(dialog.get_by_test_id("mode-account")).to_have_count(0)
    expect(dialog.get_by_test_id("mode-confirm-typed")).to_have_count(0)
    expect(dialog.get_by_test_id("mode-fingerprint")).to_have_count(0)
    expect(dialog.get_by_test_id("mode-reason")).to_be_focused()
    expect(page.get_by_test_id("mode-submit")).to_have_text("Switch to IB paper")

    page.get_by_test_id("mode-reason").fill("rehearse the broker path")
    page.get_by_test_id("mode-submit").click()

    expect(dialog).to_be_hidden()
    card = page.get_by_test_id("mode-card")
    expect(card.get_by_test_id("mode-badge")).to_have_text("IB PAPER")
    expect(card.get_by_test_id("mode-badge")).to_have_class(re.compile(r"\bmode-ibkr_paper\b"))
    expect(card.get_by_test_id("mode-meaning")).to_contain_text("Interactive Brokers paper account (DU…)")
    expect(card.get_by_test_id("mode-meaning")).to_contain_text("no real money")
    expect(card.get_by_test_id("mode-live-allowed")).to_have_text(
        "This deployment's IB Gateway uses an IB paper account: IB paper is allowed, live is not"
    )
    expect(page.get_by_test_id("trading-flash")).to_contain_text("Switched to IB PAPER. Trading is paused")
    expect(page.get_by_test_id("mode-indicator")).to_have_text("IB PAPER")
    expect(page.get_by_test_id("state-indicator")).to_have_text("PAUSED")
    assert api.state["mode"] == "ibkr_paper"
    assert api.posts("/api/trading/mode")[-1]["body"] == {
        "mode": "ibkr_paper",
        "reason": "rehearse the broker path",
    }
    if shots := os.environ.get("MODE_SHOTS_DIR"):
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{shots}/card_ibkr_paper_1366x900.png")

    # From IB paper: paper and live are offered; live is not this deployment's mode.
    expect(card.get_by_test_id("mode-actions").locator("button")).to_have_text(
        ["Switch to paper…", "Switch to live…"]
    )
    card.get_by_test_id("mode-switch-live").click()
    expect(dialog.get_by_test_id("mode-check-deployment")).to_have_attribute("data-met", "false")
    expect(dialog.get_by_test_id("mode-check-deployment")).to_contain_text("its gateway serves IB paper")
    expect(dialog.get_by_test_id("mode-check-ibkrPaperIdle")).to_have_attribute("data-met", "true")
    expect(dialog.get_by_test_id("mode-live-warning")).to_contain_text("current IB PAPER settings")
    page.get_by_test_id("mode-cancel").click()

    card.get_by_test_id("mode-switch-paper").click()
    expect(dialog.get_by_test_id("mode-dialog-title")).to_have_text("Switch back to paper trading?")
    expect(dialog.get_by_test_id("mode-check-ibkrPaperIdle")).to_have_attribute("data-met", "true")
    page.get_by_test_id("mode-submit").click()
    expect(dialog).to_be_hidden()
    expect(card.get_by_test_id("mode-badge")).to_have_text("PAPER")
    assert api.state["mode"] == "paper"


def test_ib_paper_is_refused_when_the_gateway_reports_a_live_account(
    page, api: FakeApi, base_url: str
) -> None:
    _rehearsal_ready(api, account=ACCOUNT)
    _open_dialog(page, base_url, "ibkr_paper")
    dialog = page.get_by_test_id("mode-dialog")
    expect(dialog.get_by_test_id("mode-check-ibkrPaperAccount")).to_have_attribute("data-met", "false")

    page.get_by_test_id("mode-submit").click()

    unmet = page.get_by_test_id("mode-unmet")
    expect(unmet).to_be_visible()
    expect(unmet.get_by_test_id("mode-unmet-line")).to_have_text(
        [
            re.compile(
                rf"^ibkrPaperAccount: account {ACCOUNT} is a live account: ibkr_paper trades only an IB paper"
            )
        ]
    )
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("mode-badge")).to_have_text("PAPER")
    assert api.state["mode"] == "paper"
