"""Charts and backtests in a real browser against the REAL API handler on moto.

The store holds the integration seed plus the demo day (2025-03-14, trend_down, seed 7) as the
trading cycle leaves it: the engine's saved state after the close (390 minute marks, the day's one
trade, IWM 220P x92 bought at 0.17 and sold at 0.12) and IWM's bars and chain snapshots around
that trade. The clock stands at 16:05 New York. Backtests run the real backtest_day service
(days, then the aggregate) in a thread over a folder reports store. Set E2E_SCREENSHOT_DIR to keep
screenshots at 1440x900 and 390x844 (never commit them).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from playwright.sync_api import expect

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.dynamodb.session import DynamoDayDocuments
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.adapters.local_store import FolderObjectStore
from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.models import TradingMode
from smart0dte.local.http_server import ApiServer, serve
from smart0dte.services.api import ApiDeps
from smart0dte.services.backtest_day import BacktestDay
from smart0dte.services.events import BacktestAggregateEvent, BacktestDayEvent
from tests.integration.api.conftest import FixedClock, seed
from tests.integration.api.demo_day import DAY, TRADED, demo_day, write_iwm_market
from tests.integration.moto_env import REGION, empty_tables, provisioned_moto

PREFIX = "smart0dte-e2e-charts"
AFTER_CLOSE = datetime(2025, 3, 14, 20, 5, tzinfo=UTC)
"""16:05 New York."""
WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class ThreadBacktests:
    """The backtest workflow in a thread: backtest_day's days, then its aggregate (as the state
    machine runs them), reporting like Step Functions' DescribeExecution."""

    service: BacktestDay
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def start(self, request: Mapping[str, object]) -> str:
        run_id = f"run{len(self.executions) + 1}"
        self.executions[run_id] = {
            "status": "RUNNING",
            "input": dict(request),
            "started_at": datetime.now(UTC),
        }
        threading.Thread(target=self._run, args=(run_id, dict(request)), daemon=True).start()
        return run_id

    def _run(self, run_id: str, request: dict[str, Any]) -> None:
        execution = self.executions[run_id]
        try:
            results = [
                self.service.day(
                    BacktestDayEvent(action="day", date=d, request=request["request"], run=run_id)
                )
                for d in request["days"]
            ]
            output = self.service.aggregate(
                BacktestAggregateEvent(
                    action="aggregate", request=request["request"], results=results, run=run_id
                )
            )
            execution.update(status="SUCCEEDED", output=output)
        except Exception as exc:  # the workflow's Fail state
            execution.update(status="FAILED", error="BacktestFailed", cause=f"{type(exc).__name__}")
        execution["stopped_at"] = datetime.now(UTC)

    def status(self, run_id: str) -> Mapping[str, object] | None:
        return self.executions.get(run_id)

    def runs(self, limit: int) -> list[Mapping[str, object]]:
        return [{"id": k, **v} for k, v in reversed(self.executions.items())][:limit]

    def cancel(self, run_id: str, reason: str) -> None:
        self.executions[run_id].update(status="ABORTED", cause=reason)


@dataclass
class Charts:
    aws: Provisioned
    dynamodb: Any
    store: DynamoState
    server: ApiServer
    token: str

    def url(self, route: str) -> str:
        return f"{self.server.url.rstrip('/')}/?token={self.token}#/{route}"


@pytest.fixture(scope="module")
def charts(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Charts]:
    market, state = demo_day()
    session = MarketCalendar().session(DAY)
    assert session is not None
    reports = FolderObjectStore(tmp_path_factory.mktemp("reports"))
    with provisioned_moto(PREFIX, POWERTOOLS_TRACE_DISABLED="true") as aws:
        store = DynamoState(PREFIX, TradingMode.PAPER, region=REGION)
        empty_tables(aws, boto3.client("dynamodb", region_name=REGION))
        seed(store)
        DynamoDayDocuments(PREFIX, TradingMode.PAPER, region=REGION).put_engine(DAY, state, 0)
        write_iwm_market(
            store,
            market,
            session.open_et.replace(hour=14, minute=45),
            session.open_et.replace(hour=15, minute=15),
        )
        deps = ApiDeps(
            store_factory=lambda: store,
            clock=FixedClock(AFTER_CLOSE),
            backtests=ThreadBacktests(BacktestDay(reports)),
            reports=reports,
        )
        server = serve(0, web_dist, deps=deps)
        try:
            yield Charts(
                aws, boto3.client("dynamodb", region_name=REGION), store, server, server.issue_token("alice")
            )
        finally:
            server.close()


def _page(browser, viewport: dict[str, int]):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    return context, page


@pytest.fixture(params=[WIDE, PHONE], ids=["1440x900", "390x844"])
def tab(browser, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    context, page = _page(browser, request.param)
    page.size = "wide" if request.param is WIDE else "phone"  # type: ignore[attr-defined]
    yield page
    try:
        assert not page.js_errors, f"uncaught JavaScript errors: {page.js_errors}"  # type: ignore[attr-defined]
    finally:
        context.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    shots = os.environ.get("E2E_SCREENSHOT_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / f"charts_{name}_{page.size}.png"), full_page=True)


def test_the_intraday_equity_is_the_minute_marks_with_the_drawdown_below(tab, charts: Charts) -> None:
    tab.goto(charts.url("analytics"))
    equity = tab.get_by_test_id("intraday-equity")
    expect(equity).to_have_attribute("data-points", "390")  # every minute end 09:31..16:00
    expect(tab.get_by_test_id("intraday-drawdown")).to_have_attribute("data-points", "390")
    expect(equity.locator("canvas").first).to_be_visible()
    expect(tab.get_by_test_id("intraday-date")).to_have_value("2025-03-14")
    expect(tab.get_by_test_id("intraday-meta")).to_contain_text(
        "2025-03-14: started at $100,000.00, 390 minutes marked, now $99,412.06 (−$587.94 net of fees)"
    )
    expect(tab.get_by_test_id("intraday-meta")).to_contain_text("2 fills")
    # one strategy traded in the timeframe beside the seeded ones: a line each plus the total
    expect(tab.get_by_test_id("strategy-curves").locator(".chart-legend span")).to_have_count(3)
    shot(tab, "analytics")

    tab.get_by_test_id("intraday-date").fill("2025-03-13")
    expect(equity).to_have_attribute("data-points", "0")
    expect(equity).to_contain_text("no trading minute has run in paper in 2025-03-13")


def test_the_fills_are_markers_on_the_underlyings_and_the_options_candles(tab, charts: Charts) -> None:
    tab.goto(charts.url("strikes"))
    tab.get_by_test_id("symbol-IWM").click()
    under = tab.get_by_test_id("underlying-chart")
    expect(under).to_have_attribute("data-markers", "2")
    markers = under.get_by_test_id("chart-markers").locator("span")
    expect(markers).to_have_text(["▲ Buy 92 @ 0.17 at 15:03 ET", "▼ Sell 92 @ 0.12 at 15:05 ET"])

    cell = tab.locator(f"#chain td[data-contract='{TRADED}'][data-label='Put Bid']")
    cell.scroll_into_view_if_needed()
    cell.click()
    option = tab.locator("#option-chart")
    expect(option).to_have_attribute("data-markers", "2")
    expect(option.get_by_test_id("chart-markers").locator("span")).to_have_count(2)
    expect(option.locator("canvas").first).to_be_visible()
    shot(tab, "strikes")

    # SPY had no fill that day: candles without markers
    tab.get_by_test_id("symbol-SPY").click()
    expect(under).to_have_attribute("data-markers", "0")


def test_a_backtest_from_the_page_shows_its_curve_days_and_trades(tab, charts: Charts) -> None:
    tab.goto(charts.url("analytics"))
    scenario = tab.get_by_test_id("bt-scenario")
    expect(scenario.locator("option")).to_have_count(7)
    scenario.select_option("trend_down")
    expect(tab.get_by_test_id("bt-choice")).to_contain_text("the ETFs drift down through the session")
    tab.get_by_test_id("bt-start").fill("2025-03-14")
    tab.get_by_test_id("bt-end").fill("2025-03-14")
    tab.get_by_test_id("bt-run").click()

    result = tab.get_by_test_id("bt-result")
    expect(result).to_be_visible(timeout=60_000)
    expect(tab.get_by_test_id("bt-text")).to_contain_text("Done — 1 / 1 sessions")
    days = tab.get_by_test_id("bt-days-table").locator("tbody tr")
    expect(days).to_have_count(1)
    trades = tab.get_by_test_id("bt-trades-table").locator("tbody tr")
    count = int(tab.get_by_test_id("bt-trades").inner_text())
    assert count >= 1
    expect(trades).to_have_count(count)
    # the demo day's trade, as the engine made it, net of fees
    demo = trades.filter(has_text="IWM 250314P00220000")
    expect(demo).to_have_count(1)
    expect(demo).to_contain_text("−$587.94")
    # the curve: the start, then the equity after each trade
    expect(tab.get_by_test_id("bt-equity")).to_have_attribute("data-points", str(count + 1))
    expect(tab.get_by_test_id("bt-runs-table").locator("tbody tr").first).to_contain_text("Done")
    shot(tab, "backtest")
