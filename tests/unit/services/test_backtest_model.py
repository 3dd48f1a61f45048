"""A promoted model joins the rules in a backtest; without one the run says it trades on rules only."""

import json
from pathlib import Path

import pytest

from smart0dte.cli import main


def _signals(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, object]]:
    args = [
        "backtest",
        "--start",
        "2025-03-12",
        "--end",
        "2025-03-12",
        "--scenario",
        "chop",
        "--json",
        *extra,
    ]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    return [d for d in report["decisions"] if d["kind"] == "signal"]


def test_the_promoted_model_changes_confidence_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = str(tmp_path / "registry")
    train = ["train", "--start", "2025-01-06", "--end", "2025-01-24", "--scenario", "chop",
             "--train-sessions", "6", "--validation-sessions", "2", "--test-sessions", "2", "--trees", "20",
             "--seed", "3", "--registry", registry, "--promote", "--json"]  # fmt: skip
    assert main(train) == 0
    assert json.loads(capsys.readouterr().out)["promotion"]["promoted"] is True

    rules_only = _signals(capsys)
    with_model = _signals(capsys, "--registry", registry)

    assert rules_only and all(
        str(s["rationale"]).endswith("no promoted model: rules only") for s in rules_only
    )
    assert [s["signal_id"] for s in with_model] == [s["signal_id"] for s in rules_only]
    assert all("model p_up" in str(s["rationale"]) for s in with_model)
    assert [s["confidence"] for s in with_model] != [s["confidence"] for s in rules_only]


def test_an_empty_registry_means_rules_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    signals = _signals(capsys, "--registry", str(tmp_path / "empty"))
    assert signals and all(str(s["rationale"]).endswith("no promoted model: rules only") for s in signals)
