"""The Trades page, today's trades on the Dashboard and working orders on the Trading page in a
real browser against the REAL API handler on moto (the fixtures of test_real_api_browser): the
demo day's trade (IWM 220P x92, net −$587.94) shows the same net P&L on Trades, Dashboard and
Analytics; a row opens its fills, rationale and risk verdict; the CSV export holds it; a working
order's cancel becomes the engine's request in the store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from tests.e2e import test_real_api_browser as base
from tests.e2e.test_real_api_browser import RealApi, open_route, shot
from tests.integration.api.test_trades import RATIONALE, SIGNAL_ID, seed_demo_trade

DEMO_DAY = "from=2025-03-14&to=2025-03-14"
real_api, real, tab = base.real_api, base.real, base.tab
"""That module's fixtures: moto, the real server, the seeded store and a laptop-sized page."""


def test_the_demo_trade_shows_one_net_pnl_on_trades_dashboard_and_analytics(tab, real: RealApi) -> None:
    seed_demo_trade(real.store)

    open_route(tab, real, f"trades?{DEMO_DAY}")
    rows = tab.get_by_test_id("trade-row")
    demo = rows.filter(has_text="IWM   250314P00220000")
    expect(demo).to_have_count(1)
    expect(demo.get_by_test_id("trade-net")).to_have_text("−$587.94")
    expect(demo).to_contain_text("STOP_LOSS")
    expect(demo).to_contain_text("−37.6%")  # −587.94 of the 1,564.00 paid
    expect(tab.get_by_test_id("totals-net")).to_have_text("−$587.94")
    expect(tab.get_by_test_id("totals-fees")).to_have_text("$127.94")
    shot(tab, "trades_journal")

    demo.click()
    detail = tab.get_by_test_id("trade-detail")
    expect(detail.get_by_test_id("detail-rationale")).to_have_text(RATIONALE)
    expect(detail.get_by_test_id("detail-signal")).to_contain_text(SIGNAL_ID)
    expect(detail.get_by_test_id("trade-verdict")).to_have_text("approved, 92 contract(s)")
    fills = detail.get_by_test_id("fills-table")
    expect(fills.locator("tbody tr")).to_have_count(2)
    expect(fills).to_contain_text("BUY")
    expect(fills).to_contain_text("$63.84")
    shot(tab, "trades_detail")

    with tab.expect_download() as download:
        tab.get_by_test_id("trades-csv").click()
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0].startswith("position_id,status,underlying,contract,strategy")
    assert "IWM   250314P00220000" in text and ",-587.94," in text and SIGNAL_ID in text

    tab.goto(f"{real.base_url}/#/dashboard")
    expect(tab.get_by_test_id("pnl-realized")).to_have_text("−$587.94")
    today = tab.get_by_test_id("today-trades")
    expect(today.locator("tbody tr").filter(has_text="IWM")).to_contain_text("−$587.94")
    expect(today.locator("tbody tr").filter(has_text="IWM")).to_contain_text("Stop loss")  # in words

    tab.goto(f"{real.base_url}/#/analytics")
    tab.get_by_test_id("timeframe").select_option("1d")
    tab.get_by_role("button", name="Apply").click()
    expect(tab.get_by_test_id("metric-netPnlUsd")).to_have_text("−$587.94")
    assert tab.api_errors == []


def test_an_open_trade_opens_with_its_candles_and_an_empty_range_says_what_will_appear(
    tab, real: RealApi
) -> None:
    open_route(tab, real, f"trades?{DEMO_DAY}&symbol=SPY")
    rows = tab.get_by_test_id("trade-row")
    expect(rows).to_have_count(2)  # the seeded open positions
    rows.filter(has_text="SPY   250314C00562000").click()
    detail = tab.get_by_test_id("trade-detail")
    expect(detail.get_by_test_id("detail-net")).to_contain_text("open")
    expect(detail.get_by_test_id("underlying-chart").locator("canvas").first).to_be_visible()
    expect(detail.get_by_test_id("option-chart").locator("canvas").first).to_be_visible()
    shot(tab, "trades_open_detail")

    tab.get_by_test_id("f-from").fill("2025-01-06")
    tab.get_by_test_id("f-to").fill("2025-01-06")
    tab.get_by_role("button", name="Apply").click()
    expect(tab.get_by_test_id("trades-table")).to_contain_text("No trades from 2025-01-06 to 2025-01-06")
    expect(tab.get_by_test_id("trades-table")).to_contain_text("will appear here")


def test_cancelling_a_working_order_asks_the_engine(tab, real: RealApi) -> None:
    open_route(tab, real, "trading")
    orders = tab.get_by_test_id("orders-table")
    expect(orders).to_contain_text("SPY   250314C00562000")
    tab.get_by_test_id("cancel-order-2").click()
    tab.locator("#confirm-ok").click()
    expect(tab.get_by_test_id("trading-flash")).to_contain_text("Cancel requested for order-2")
    expect(orders).to_contain_text("cancel requested")
    assert real.store.get_controls().cancel_requests == frozenset({"order-2"})
    shot(tab, "trading_orders")


def test_a_long_journal_paints_its_newest_rows_first_and_shows_more_on_request(tab, real: RealApi) -> None:
    seed_demo_trade(real.store)
    many = 120
    served: list[int] = []

    def year_of_trades(route) -> None:  # type: ignore[no-untyped-def]
        """The real answer with its demo trade repeated: 120 round trips, the oldest first."""
        body = route.fetch().json()
        (demo,) = [t for t in body["trades"] if t["underlying"] == "IWM"]
        body["trades"] = [{**demo, "positionId": f"trade-{n:03d}"} for n in range(many)]
        served.append(len(body["trades"]))
        route.fulfill(json=body)

    tab.route("**/api/trades?*", year_of_trades)
    open_route(tab, real, f"trades?{DEMO_DAY}")
    rows = tab.get_by_test_id("trade-row")
    expect(rows).to_have_count(50)
    expect(tab.get_by_test_id("journal-shown")).to_have_text(f"Newest 50 of {many} trades.")
    tab.get_by_test_id("journal-more").click()
    expect(rows).to_have_count(100)
    rows.nth(99).click()  # a row added by "Show more" opens its own trade
    expect(tab.get_by_test_id("trade-detail").get_by_test_id("detail-rationale")).to_have_text(RATIONALE)
    tab.get_by_test_id("journal-more").click()
    expect(rows).to_have_count(many)
    expect(tab.get_by_test_id("journal-more")).to_be_hidden()
    assert served == [many]  # one request: no fetch per row or per page of rows


def test_a_long_range_paints_its_last_month_first_then_the_whole_range(tab, real: RealApi) -> None:
    seed_demo_trade(real.store)
    answers: list[tuple[str, str, dict[str, Any]]] = []

    def recorded(route) -> None:  # type: ignore[no-untyped-def]
        query = parse_qs(urlsplit(route.request.url).query)
        body = route.fetch().json()
        answers.append((query["from"][0], query["to"][0], body["totals"]))
        route.fulfill(json=body)

    tab.route("**/api/trades?*", recorded)
    open_route(tab, real, "trades?from=2025-01-02&to=2025-03-14")
    expect(tab.get_by_test_id("trade-row").filter(has_text="IWM   250314P00220000")).to_have_count(1)
    expect(tab.get_by_test_id("totals-loading")).to_have_count(0)
    # 30 days first, then the whole range, whose totals the page shows
    assert [(start, end) for start, end, _ in answers] == [
        ("2025-02-13", "2025-03-14"),
        ("2025-01-02", "2025-03-14"),
    ]
    whole = answers[1][2]
    net = Decimal(whole["netPnlUsd"])
    expect(tab.get_by_test_id("totals-net")).to_have_text(f"{'−' if net < 0 else ''}${abs(net):,.2f}")
    expect(tab.get_by_test_id("totals-trades")).to_have_text(str(whole["trades"]))
    assert tab.api_errors == []
