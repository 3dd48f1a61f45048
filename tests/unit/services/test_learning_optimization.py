"""The learning service's optimization step: reports per strategy in the reports bucket from the
archived days up to the event's date, or nothing with the reason when there are too few."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from smart0dte.adapters.databento.dbn_writer import write_simulated_day
from smart0dte.adapters.local_store import FolderObjectStore
from smart0dte.bootstrap.files import dbn_folder
from smart0dte.domain.controls import NotificationLevels
from smart0dte.domain.models import TradingMode
from smart0dte.domain.optimization import REPORT_ONLY, WalkForwardSpec, search_grid
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.resources import optimization_key
from smart0dte.services.events import SessionEvent
from smart0dte.services.learning import Learning
from smart0dte.services.notifications import Notifications

NOW = datetime(2025, 3, 14, 21, 5, tzinfo=UTC)
ARCHIVED = [date(2025, 3, d) for d in (10, 11, 12, 13)]


class FixedClock:
    def now(self) -> datetime:
        return NOW


class Notes:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def notify(self, subject: str, message: str) -> None:
        self.sent.append((subject, message))


@pytest.fixture(scope="module")
def archive_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    for simulated in MarketSimulator().days(ARCHIVED, seed=5, scenario=Scenario.TREND_UP):
        write_simulated_day(simulated, root)
    return root


def learning(
    archive_root: Path, tmp_path: Path
) -> tuple[Learning, FolderObjectStore, FolderObjectStore, Notes]:
    models, reports, notes = (
        FolderObjectStore(tmp_path / "models"),
        FolderObjectStore(tmp_path / "reports"),
        Notes(),
    )
    service = Learning(
        FolderObjectStore(archive_root),
        models,
        reports,
        Notifications(TradingMode.PAPER, lambda: [notes], NotificationLevels),
        FixedClock(),
        dbn_folder,
        optimization=WalkForwardSpec(
            in_sample_sessions=2, out_of_sample_sessions=1, min_trades=0, max_sessions=3
        ),
        optimization_grids=(search_grid("momentum_breakout", {"min_break_atr": (0.25, 0.5)}),),
    )
    return service, models, reports, notes


def test_optimization_reports_are_written_from_the_days_up_to_the_event_only(
    archive_root: Path, tmp_path: Path
) -> None:
    service, models, reports, notes = learning(archive_root, tmp_path)

    result = service.learn(SessionEvent(session_date=date(2025, 3, 12)))

    # the model step still says what it always said: 3 days are too few for its 30-session folds
    assert result["trained"] is False and result["promoted"] is False
    assert result["reason"].startswith("3 archived session(s) up to 2025-03-12; walk-forward needs 30")
    assert list(models.list_keys("")) == [] and notes.sent == []
    optimization = result["optimization"]
    dated, latest = "optimization/momentum_breakout/2025-03-12.json", optimization_key("momentum_breakout")
    assert optimization["written"] is True and optimization["applied"] is False
    assert optimization["keys"] == [dated, latest]
    assert sorted(reports.list_keys("")) == sorted([dated, latest])
    assert reports.get_bytes(dated) == reports.get_bytes(latest)
    report = json.loads(reports.get_bytes(latest))
    assert report["source"] == "archive 2025-03-10..2025-03-12 (3 sessions)"  # 2025-03-13 is after the event
    assert report["sessions"] == {"start": "2025-03-10", "end": "2025-03-12", "sessions": 3}
    assert report["generated_at"] == NOW.isoformat()
    assert report["applied"] is False and report["note"] == REPORT_ONLY
    assert report["grid"] == {"min_break_atr": [0.25, 0.5]}
    assert [f["out_of_sample_window"]["start"] for f in report["folds"]] == ["2025-03-12"]
    summary = optimization["strategies"]["momentum_breakout"]
    assert summary["recommended_params"] == report["summary"]["recommended_params"]
    assert summary["out_of_sample_net_pnl_usd"] == report["summary"]["out_of_sample"]["net_pnl_usd"]
    assert summary["beats_defaults"] == report["summary"]["beats_defaults"]


def test_too_few_archived_days_write_nothing_and_say_why(archive_root: Path, tmp_path: Path) -> None:
    service, _, reports, _ = learning(archive_root, tmp_path)

    result = service.learn(SessionEvent(session_date=date(2025, 3, 11)))

    assert result["optimization"] == {
        "written": False,
        "reason": (
            "2 archived session(s) up to 2025-03-11; the parameter optimization needs 3: nothing written"
        ),
    }
    assert list(reports.list_keys("")) == []
