"""GET /api/analytics/optimization/{strategy} serves the learning workflow's stored walk-forward
report from the reports bucket, and says why when there is none or it cannot be read."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.local_store import FolderObjectStore
from smart0dte.domain.optimization import Outcomes, WalkForwardSpec, search_grid, summarize
from smart0dte.resources import optimization_key
from smart0dte.services.api import ApiDeps

from .conftest import Call, FixedClock, make_call

ROUTE = "/api/analytics/optimization/momentum_breakout"


def stored_report() -> dict[str, object]:
    """A report as the learning service writes it: 6 sessions, candidate 1 better throughout."""
    grid = search_grid("momentum_breakout", {"min_break_atr": (0.25, 0.5)})
    dates = tuple(date(2025, 3, 3) + timedelta(days=i) for i in range(6))
    pnl = np.array([[-20.0] * 6, [60.0] * 6])
    trades = np.ones((2, 6), dtype=np.int64)
    outcomes = Outcomes(dates, pnl, trades, (pnl > 0).astype(np.int64))
    spec = WalkForwardSpec(in_sample_sessions=2, out_of_sample_sessions=2, min_trades=1, max_sessions=6)
    wire = summarize(grid, outcomes, spec).to_wire()
    return {
        **wire,
        "source": "archive 2025-03-03..2025-03-08 (6 sessions)",
        "generated_at": "2025-03-14T21:05:00+00:00",
    }


@pytest.fixture
def reports(tmp_path: Path) -> FolderObjectStore:
    return FolderObjectStore(tmp_path / "reports")


@pytest.fixture
def call(seeded: DynamoState, reports: FolderObjectStore) -> Call:
    return make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock(), reports=reports))


def test_the_stored_result_is_served_in_camel_case(call: Call, reports: FolderObjectStore) -> None:
    reports.put_bytes(optimization_key("momentum_breakout"), json.dumps(stored_report()).encode())

    status, body = call("GET", ROUTE)

    assert status == 200
    assert body["note"] is None
    assert body["liveTrades"]["trades"] == 2 and body["defaultParams"]["min_break_atr"] == 0.5
    result = body["optimization"]
    assert result["strategy"] == "momentum_breakout" and result["applied"] is False
    assert "not applied to trading" in result["note"]
    assert result["walkForward"] == {
        "inSampleSessions": 2,
        "outOfSampleSessions": 2,
        "stepSessions": 2,
        "minTrades": 1,
        "minImprovementUsd": 10.0,
        "maxSessions": 6,
    }
    summary = result["summary"]
    assert summary["recommendedParams"] == {"min_break_atr": 0.25}  # parameter names stay as in Python
    assert summary["recommendedIsDefault"] is False and summary["beatsDefaults"] is True
    assert summary["outOfSample"]["netPnlUsd"] == 4 * 60.0
    assert summary["defaultOutOfSample"]["netPnlUsd"] == 4 * -20.0
    assert summary["latestWindow"] == {"start": "2025-03-07", "end": "2025-03-08", "sessions": 2}
    assert [f["outOfSampleWindow"]["start"] for f in result["folds"]] == ["2025-03-05", "2025-03-07"]
    assert result["generatedAt"].startswith("2025-03-14T21:05:00")


def test_no_stored_result_is_null_with_a_note_in_words(call: Call) -> None:
    status, body = call("GET", "/api/analytics/optimization/gap_fill")

    assert status == 200
    assert body["optimization"] is None
    assert body["note"].startswith("no walk-forward optimization has run for this strategy yet")
    assert "latest.json" not in body["note"] and "optimization/" not in body["note"]


def test_without_a_reports_bucket_the_note_says_so(api: Call) -> None:
    status, body = api("GET", ROUTE)
    assert status == 200 and body["optimization"] is None
    assert body["note"].startswith("no reports bucket is configured")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{not json", "Expecting property name"),
        (b"\x80{}", "can't decode byte 0x80"),
        (json.dumps({"strategy": "momentum_breakout"}).encode(), "applied: Field required"),
        (json.dumps({**stored_report(), "applied": True}).encode(), "applied: Input should be False"),
        (json.dumps([1, 2]).encode(), "Input should be a valid dictionary"),
    ],
)
def test_a_corrupt_object_is_a_note_not_a_server_error(
    call: Call, reports: FolderObjectStore, raw: bytes, why: str
) -> None:
    reports.put_bytes(optimization_key("momentum_breakout"), raw)

    status, body = call("GET", ROUTE)

    assert status == 200
    assert body["optimization"] is None
    assert (
        "the stored optimization result optimization/momentum_breakout/latest.json is unreadable"
        in body["note"]
    )
    assert why in body["note"]


def test_a_report_of_another_strategy_is_not_served(call: Call, reports: FolderObjectStore) -> None:
    reports.put_bytes(optimization_key("mean_reversion"), json.dumps(stored_report()).encode())

    status, body = call("GET", "/api/analytics/optimization/mean_reversion")

    assert status == 200 and body["optimization"] is None
    assert "is of strategy 'momentum_breakout'" in body["note"]
