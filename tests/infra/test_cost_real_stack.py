"""`smart0dte cost` on the real stack, synthesized by the command as `cdk synth -c` would: the
issue's targets, excluding Databento and IBKR fees, with the always-free allowances AWS gives every
account taken off (the default; the total without them is printed beside). One synthesis per
deployment, shared by the module's tests."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from smart0dte.cli import main

pytestmark = [pytest.mark.real_repo, pytest.mark.slow]

PAPER_WITH_FEED_TARGET_USD = 10.0
LIVE_TARGET_USD = 20.0


def cost(*context: str) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["cost", "--json", *(arg for pair in context for arg in ("--context", pair))]) == 0
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


@pytest.fixture(scope="module")
def paper() -> dict[str, Any]:
    return cost("marketData=databento")


@pytest.fixture(scope="module")
def live() -> dict[str, Any]:
    return cost("marketData=databento", "liveTrading=enabled", "ibAccount=U1234567")


def show(name: str, document: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(
            f"\n{name}: ${document['total_usd_month']:.2f}/month (without the always-free allowances "
            f"${document['total_without_free_tiers_usd_month']:.2f}) {document['by_service']}"
        )


def test_paper_with_the_databento_feed_costs_at_most_10_usd_a_month(
    paper: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    show("paper + databento", paper, capsys)
    assert paper["unpriced_resource_types"] == {}
    assert paper["by_service"]["Fargate"] > 0, "the feed task is priced"
    assert paper["total_usd_month"] <= PAPER_WITH_FEED_TARGET_USD


def test_live_with_the_gateway_costs_at_most_20_usd_a_month(
    live: dict[str, Any], paper: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    show("live (gateway + databento)", live, capsys)
    assert live["unpriced_resource_types"] == {}
    gateway = [line for line in live["by_resource"] if line["resource"].startswith("smart0dte-gateway")]
    assert {line["service"] for line in gateway} >= {"Fargate", "VPC", "CloudWatch"}
    assert live["total_usd_month"] > paper["total_usd_month"]
    assert live["total_usd_month"] <= LIVE_TARGET_USD
