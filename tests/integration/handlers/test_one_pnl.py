"""One P&L: a paper day played through the handlers (an entry, its exit at the flatten, post_close)
shows the same net figure, and the same commissions beside it, on /api/dashboard, /api/analytics
and in the daily report."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.models import CONTRACT_MULTIPLIER, TradingMode
from smart0dte.resources import REPORTS_BUCKET
from smart0dte.services.api import ApiDeps

from ..api.conftest import FixedClock, make_call
from .conftest import (
    CALENDAR,
    ENTRY,
    ENTRY_DAY,
    LIMITS,
    REGION,
    SETTINGS,
    Context,
    at_entry,
    configure,
    entry_gateway,
    load_handler,
    store,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
PAPER = TradingMode.PAPER


def test_the_days_net_pnl_is_one_figure_on_the_dashboard_in_analytics_and_in_the_daily_report(
    aws: Provisioned, dynamodb: Any
) -> None:
    cycle = at_entry(PAPER, aws, dynamodb)
    no_early_exit = {**SETTINGS.model_dump(), "stop_loss_percentage": 0.9, "take_profit_percentage": 5.0}
    configure(PAPER, AutomationSettings(**no_early_exit), LIMITS)
    load_handler("execute").handler(cycle.risk, Context())
    session = CALENDAR.session(ENTRY_DAY)
    assert session is not None
    gateway = entry_gateway(PAPER)
    gateway.write_until(ENTRY + timedelta(minutes=1))  # the entry trades at the next minute's quote
    signals = load_handler("signals")
    signals.handler({"mode": "paper", "ts": (ENTRY + timedelta(minutes=1)).isoformat()}, Context())
    gateway.skip_to(session.flatten_et - timedelta(minutes=3))
    gateway.write_until(session.flatten_et)
    load_handler("flatten").handler({"mode": "paper", "ts": session.flatten_et.isoformat()}, Context())
    at = session.flatten_et
    while store(PAPER).list_open_positions() and at < session.close_et:  # the exit trades from the next
        at += timedelta(minutes=1)
        gateway.write_until(at)
        signals.handler({"mode": "paper", "ts": at.isoformat()}, Context())
    closing = load_handler("post_close").handler({"mode": "paper", "session_date": "2025-03-13"}, Context())
    body = boto3.client("s3", region_name=REGION).get_object(
        Bucket=aws.buckets[REPORTS_BUCKET.logical_name], Key=closing["report_key"]
    )["Body"]
    report = json.loads(body.read())
    (trade,) = report["trades"]
    # the figures from the trade's own prices and fees, not from any route
    gross = (
        (Decimal(trade["exit_price"]) - Decimal(trade["entry_price"]))
        * trade["quantity"]
        * CONTRACT_MULTIPLIER
    ).quantize(Decimal("0.01"))
    fees = Decimal(trade["commissions_usd"])
    net = gross - fees
    assert fees > 0

    call = make_call(ApiDeps(store_factory=lambda: store(PAPER), clock=FixedClock(session.close_et)))
    dashboard = call("GET", "/api/dashboard")[1]["counters"]
    analytics = call("GET", "/api/analytics?timeframe=1d")[1]
    account = call("GET", "/api/account")[1]
    by_strategy = analytics["byStrategy"][trade["strategy"]]

    assert Decimal(report["net_pnl_usd"]) == Decimal(closing["net_pnl_usd"]) == net
    assert Decimal(dashboard["realizedPnlUsd"]) == net
    assert Decimal(str(analytics["trades"]["netPnlUsd"])) == Decimal(str(by_strategy["netPnlUsd"])) == net
    # the curve starts at the session's starting equity (the plan's) and ends at it plus the day's net
    started = Decimal(account["startingEquityUsd"])
    assert account["planned"] and Decimal(str(analytics["startingEquityUsd"])) == started
    assert Decimal(str(analytics["equityCurve"][-1]["equityUsd"])) == started + net
    assert Decimal(report["commissions_usd"]) == Decimal(dashboard["commissionsUsd"]) == fees
    assert Decimal(str(analytics["trades"]["commissionsUsd"])) == fees
    assert Decimal(report["gross_pnl_usd"]) == Decimal(dashboard["realizedGrossPnlUsd"]) == gross
    assert Decimal(str(analytics["trades"]["grossPnlUsd"])) == gross
