"""Walk-forward validation: rolling windows in time order, pooled out-of-sample scores, per regime;
the deployable artifact is byte-identical for a seed."""

import pytest

from smart0dte.domain.models import DomainError
from smart0dte.ml.artifact import ModelArtifact
from smart0dte.ml.dataset import REGIMES
from smart0dte.ml.pipeline import train_direction_model
from smart0dte.ml.walk_forward import WalkForwardConfig, folds, walk_forward
from tests.unit.ml.synthetic import FAST_PARAMS, synthetic_dataset

SMALL = WalkForwardConfig(train_sessions=4, validation_sessions=2, test_sessions=2)


def test_windows_roll_forward_without_overlap() -> None:
    dates = synthetic_dataset(sessions=12, rows_per_session=1).session_dates

    found = folds(dates, SMALL)

    assert [(f.train.first, f.validation.first, f.test.first, f.test.stop) for f in found] == [
        (0, 4, 6, 8),
        (2, 6, 8, 10),
        (4, 8, 10, 12),
    ]
    for fold in found:
        assert fold.train.stop == fold.validation.first and fold.validation.stop == fold.test.first
        assert fold.train.end_date < fold.validation.start_date < fold.test.start_date


def test_too_few_sessions_is_an_error_naming_the_need() -> None:
    dates = synthetic_dataset(sessions=7, rows_per_session=1).session_dates

    with pytest.raises(DomainError, match="at least 8 sessions"):
        folds(dates, SMALL)


def test_the_report_pools_every_test_example_and_splits_it_by_regime() -> None:
    data = synthetic_dataset(sessions=10, signal=1.5)

    report = walk_forward(data, SMALL, FAST_PARAMS, seed=3)

    assert len(report.folds) == 2
    assert report.overall.rows == sum(f.test.rows for f in report.folds) == 4 * 200
    assert sum(s.rows for s in report.per_regime.values()) == report.overall.rows
    assert set(report.per_regime) <= {r.value for r in REGIMES}
    assert sum(b.count for b in report.calibration) == report.overall.rows
    assert report.overall.auc is not None and report.overall.auc > 0.7  # the signal is real
    assert report.overall.log_loss is not None and report.overall.baseline_log_loss is not None
    assert report.overall.log_loss < report.overall.baseline_log_loss


def test_noise_shows_no_skill() -> None:
    report = walk_forward(synthetic_dataset(sessions=10, signal=0.0), SMALL, FAST_PARAMS, seed=3)

    assert report.overall.auc is not None and abs(report.overall.auc - 0.5) < 0.06


def test_the_artifact_is_byte_identical_for_the_same_seed_and_data() -> None:
    data = synthetic_dataset(sessions=8, signal=1.0)

    first = train_direction_model(data, "synthetic", SMALL, FAST_PARAMS, seed=11)
    again = train_direction_model(data, "synthetic", SMALL, FAST_PARAMS, seed=11)

    assert first.artifact.to_bytes() == again.artifact.to_bytes()
    loaded = ModelArtifact.from_bytes(first.artifact.to_bytes())
    meta = loaded.metadata
    assert meta["data"]["sessions"] == 8 and meta["data"]["source"] == "synthetic"
    assert (
        meta["final_model"]["train"]["sessions"] == 4 and meta["final_model"]["calibration"]["sessions"] == 2
    )
    assert meta["walk_forward"]["overall"]["rows"] == 2 * 200
    assert list(loaded.feature_names) == list(first.final.model.feature_names)
