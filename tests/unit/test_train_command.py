"""`smart0dte train`: walk-forward report, a deterministic artifact in the registry, promotion with
its reason, and the rules-only notice while no model is promoted."""

import json
from pathlib import Path

import pytest

from smart0dte.cli import main
from smart0dte.ml.artifact import ModelArtifact

SMALL = [
    "--start", "2025-01-06", "--end", "2025-01-13",  # 2025-01-09: markets closed (a day of mourning)
    "--train-sessions", "2", "--validation-sessions", "1", "--test-sessions", "1",
    "--trees", "5", "--seed", "3",
]  # fmt: skip


def _train(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    assert main(["train", *SMALL, "--json", *extra]) == 0
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return report


def test_json_report_has_folds_overall_calibration_regimes_and_the_artifact(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    registry = tmp_path / "models"

    report = _train(capsys, "--registry", str(registry))

    walk = report["walk_forward"]
    assert isinstance(walk, dict)
    assert [f["test"]["start"] for f in walk["folds"]] == ["2025-01-10", "2025-01-13"]
    for fold in walk["folds"]:
        assert {"accuracy", "log_loss", "auc", "baseline_log_loss", "calibration_error"} <= set(
            fold["metrics"]
        )
    assert walk["overall"]["rows"] == sum(f["metrics"]["rows"] for f in walk["folds"])
    assert sum(b["count"] for b in walk["calibration_bins"]) == walk["overall"]["rows"]
    assert sum(r["rows"] for r in walk["per_regime"].values()) == walk["overall"]["rows"]
    data = report["data"]
    assert isinstance(data, dict) and data["sessions"] == 5 and data["start"] == "2025-01-06"
    artifact = report["artifact"]
    assert isinstance(artifact, dict)
    saved = registry / "direction" / "versions" / f"{artifact['content_hash']}.json"
    assert ModelArtifact.from_bytes(saved.read_bytes()).content_hash == artifact["content_hash"]
    promotion = report["promotion"]
    assert isinstance(promotion, dict)
    assert promotion["requested"] is False and promotion["promoted"] is False
    assert str(promotion["reason"]).startswith("not requested (--promote)")
    assert report["trading"] == "rules only (no promoted model)"


def test_training_twice_gives_the_same_artifact_and_promotion_is_decided_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    registry = str(tmp_path / "models")

    first = _train(capsys, "--registry", registry, "--promote")
    second = _train(capsys, "--registry", registry, "--promote")

    assert first["artifact"]["content_hash"] == second["artifact"]["content_hash"]  # type: ignore[index]
    decisions = sorted((tmp_path / "models" / "direction" / "decisions").iterdir())
    assert len(decisions) == 2
    promoted = first["promotion"]["promoted"]  # type: ignore[index]
    assert first["model_promoted"] is promoted
    assert first["trading"] == ("rules + model" if promoted else "rules only (no promoted model)")
    if promoted:
        assert second["promotion"]["reason"] == "candidate is already the promoted model"  # type: ignore[index]
    else:
        assert "no skill over the base-rate forecast" in second["promotion"]["reason"]  # type: ignore[index]


def test_text_report_says_when_the_system_trades_on_rules_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *SMALL]) == 0

    out = capsys.readouterr().out
    assert "walk-forward test window" in out and "all folds" in out
    assert "saved: no (pass --registry DIR to keep it)" in out
    assert "No model is promoted: the system trades on the rule strategies alone." in out


def test_bad_requests_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *SMALL, "--promote"]) == 2
    assert "--promote needs --registry DIR" in capsys.readouterr().err

    assert main(["train", *SMALL[:4], "--seed", "3"]) == 2
    assert "walk-forward needs at least 30" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        main(["train", *SMALL, "--horizon-minutes", "0"])
    assert "--horizon-minutes='0' must be an integer within 1..120" in capsys.readouterr().err


def test_archived_day_folders_train_like_simulated_days(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    assert (
        main(["data", "generate", "--start", "2025-01-06", "--end", "2025-01-10", "--out", str(archive)]) == 0
    )
    capsys.readouterr()

    report = _train(capsys, "--data-dir", str(archive), "--end", "2025-01-10")  # 4 sessions: one fold

    data = report["data"]
    assert isinstance(data, dict)
    assert data["source"] == str(archive) and data["sessions"] == 4 and data["end"] == "2025-01-10"
    assert report["walk_forward"]["overall"]["rows"] > 0  # type: ignore[index]
