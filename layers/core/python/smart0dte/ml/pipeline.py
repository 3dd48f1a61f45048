"""Training end to end, without I/O: examples -> walk-forward report -> the model to deploy.

The deployed model follows the same recipe as each fold, on the newest data: trees fitted on the
`train_sessions` before the last `validation_sessions`, early-stopped and calibrated on those last
sessions. Its expected quality is the walk-forward report's (every test window was unseen by the
model scored on it); the deployed model itself has no unseen window left to be scored on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from smart0dte import __version__
from smart0dte.domain.models import DomainError
from smart0dte.ml.artifact import ModelArtifact
from smart0dte.ml.dataset import MODEL_FEATURES, UNDERLYINGS, Dataset
from smart0dte.ml.model import DEFAULT_MODEL_PARAMS, ModelParams, TrainedModel, train
from smart0dte.ml.walk_forward import DEFAULT_WALK_FORWARD, WalkForwardConfig, WalkForwardReport, walk_forward


@dataclass(frozen=True, eq=False)
class TrainingResult:
    report: WalkForwardReport
    final: TrainedModel
    artifact: ModelArtifact


def dataset_summary(dataset: Dataset, source: str) -> dict[str, Any]:
    dates = dataset.session_dates
    return {
        "source": source,
        "start": dates[0].isoformat() if dates else None,
        "end": dates[-1].isoformat() if dates else None,
        "sessions": len(dates),
        "rows": len(dataset),
        "up_rate": dataset.up_rate if len(dataset) else None,
        "rows_by_underlying": {
            u.value: int(np.sum(dataset.underlying == k)) for k, u in enumerate(UNDERLYINGS)
        },
    }


def train_direction_model(
    dataset: Dataset,
    source: str,
    config: WalkForwardConfig = DEFAULT_WALK_FORWARD,
    params: ModelParams = DEFAULT_MODEL_PARAMS,
    seed: int = 0,
    feature_names: tuple[str, ...] = MODEL_FEATURES,
) -> TrainingResult:
    """Walk-forward validation, then the deployable model with its metadata; deterministic for a
    seed (the artifact's bytes included). `source` says where the sessions came from."""
    if not source:
        raise DomainError("source must say where the sessions came from")
    report = walk_forward(dataset, config, params, seed, feature_names)
    sessions = len(dataset.session_dates)
    calibration_first = sessions - config.validation_sessions
    train_first = calibration_first - config.train_sessions
    training = dataset.sessions(train_first, calibration_first)
    calibration = dataset.sessions(calibration_first, sessions)
    final = train(training, calibration, params, seed, feature_names)
    dates = dataset.session_dates

    def window(first: int, stop: int, rows: int) -> dict[str, object]:
        return {
            "start": dates[first].isoformat(),
            "end": dates[stop - 1].isoformat(),
            "sessions": stop - first,
            "rows": rows,
        }

    import xgboost  # already loaded by training; its version is part of the record

    metadata = {
        "kind": "direction",
        "label": (
            f"1 when the close {dataset.horizon_minutes} minutes after a bar's close is above that "
            "bar's close; bars whose horizon passes the session close, and ties, are dropped"
        ),
        "data": dataset_summary(dataset, source),
        "final_model": {
            "train": window(train_first, calibration_first, final.train_rows),
            "calibration": window(calibration_first, sessions, final.validation_rows),
            "best_iteration": final.best_iteration,
        },
        "params": params.to_wire(),
        "seed": seed,
        "walk_forward": report.to_wire(),
        "software": {"smart0dte": __version__, "xgboost": xgboost.__version__, "numpy": np.__version__},
    }
    artifact = ModelArtifact.create(
        feature_names,
        dataset.horizon_minutes,
        final.model.calibration,
        final.booster_json,
        metadata,
    )
    return TrainingResult(report, final, artifact)
