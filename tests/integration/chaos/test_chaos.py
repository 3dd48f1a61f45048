"""A short chaos day: ibkr_paper on the embedded AWS through the real workflow, order bridge and IBKR
adapter over the in-memory IB, with every fault kind armed; what the store, the book and the broker
hold must agree."""

from __future__ import annotations

from datetime import date

import pytest

from smart0dte.domain.simulator import Scenario
from smart0dte.local.chaos import ChaosRun, FaultKind
from smart0dte.local.replay import simulated_day

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def test_a_short_chaos_day_loses_no_fill_books_none_twice_and_ends_with_book_and_broker_agreeing() -> None:
    day = simulated_day(date(2025, 3, 13), scenario=Scenario.GAP_UP, seed=5)
    run = ChaosRun(day, faults=30, seed=3, minutes=30)  # entries from 09:45 (minute 15)

    report = run.run()

    assert report.orders >= 6 and report.fills >= 3
    assert sum(report.faults_injected.values()) >= 10
    assert len(report.faults_injected) >= 5, report.faults_injected
    assert report.fills_lost == 0, report.details
    assert report.fills_duplicated == 0, report.details
    assert report.position_mismatches == 0, report.details
    assert report.cycle_failures == 0
    # an entry that fills on arrival at IB is protected by the bridge as it records the fill
    assert report.details["entries_filled_on_arrival"]
    assert report.unprotected_position_minutes == 0, report.details
    assert {FaultKind.LAMBDA_KILLED.value, FaultKind.IB_RESTART.value} & set(report.faults_injected)
