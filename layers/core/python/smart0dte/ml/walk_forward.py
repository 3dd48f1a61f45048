"""Walk-forward validation over sessions: rolling train / validation / test windows.

Fold k (step = `step_sessions`, default the test length) uses, in time order and without overlap::

    train      sessions [k*step,                 k*step + train)
    validation sessions [.. + train,             .. + train + validation)   early stopping, calibration
    test       sessions [.. + train + validation, .. + train + validation + test)

Every example's label lies inside its own session, so no label of one window reaches into the
next. Each fold's model is scored only on its test window, with the no-skill forecast (its training
window's up rate) alongside. The overall scores pool every test example of every fold; so do the
reliability bins and the per-regime scores (the regime `regime.classify` reads from each example's
own feature row, as the strategies see it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
from pydantic import Field
from pydantic.dataclasses import dataclass as validated_dataclass

from smart0dte.domain.marketdata import F64
from smart0dte.domain.models import DomainError
from smart0dte.ml.dataset import I8, MODEL_FEATURES, REGIMES, BoolArray, Dataset
from smart0dte.ml.metrics import CalibrationBin, Scores, calibration_bins, score
from smart0dte.ml.model import DEFAULT_MODEL_PARAMS, ModelParams, PlattCalibration, train


@validated_dataclass(frozen=True)
class WalkForwardConfig:
    """Window lengths in sessions."""

    train_sessions: int = Field(default=20, ge=1, le=2000)
    validation_sessions: int = Field(default=5, ge=1, le=500)
    test_sessions: int = Field(default=5, ge=1, le=500)
    step_sessions: int | None = Field(default=None, ge=1, le=500)
    """Sessions between folds; None: the test length (test windows tile without overlap)."""

    @property
    def step(self) -> int:
        return self.step_sessions or self.test_sessions

    @property
    def fold_sessions(self) -> int:
        return self.train_sessions + self.validation_sessions + self.test_sessions

    def to_wire(self) -> dict[str, object]:
        return {
            "train_sessions": self.train_sessions,
            "validation_sessions": self.validation_sessions,
            "test_sessions": self.test_sessions,
            "step_sessions": self.step,
        }


DEFAULT_WALK_FORWARD = WalkForwardConfig()


@dataclass(frozen=True, slots=True)
class Window:
    """Sessions first..stop-1 (indexes into the dataset's session dates)."""

    first: int
    stop: int
    start_date: date
    end_date: date

    def to_wire(self) -> dict[str, object]:
        return {
            "start": self.start_date.isoformat(),
            "end": self.end_date.isoformat(),
            "sessions": self.stop - self.first,
        }


@dataclass(frozen=True, slots=True)
class Fold:
    index: int
    train: Window
    validation: Window
    test: Window


def folds(session_dates: tuple[date, ...], config: WalkForwardConfig = DEFAULT_WALK_FORWARD) -> list[Fold]:
    """Every fold that fits; an error naming the shortfall when not even one does."""
    count = len(session_dates)
    if count < config.fold_sessions:
        raise DomainError(
            f"walk-forward needs at least {config.fold_sessions} sessions (train {config.train_sessions} + "
            f"validation {config.validation_sessions} + test {config.test_sessions}); the data has {count}"
        )

    def window(first: int, stop: int) -> Window:
        return Window(first, stop, session_dates[first], session_dates[stop - 1])

    out: list[Fold] = []
    first = 0
    while first + config.fold_sessions <= count:
        train_stop = first + config.train_sessions
        validation_stop = train_stop + config.validation_sessions
        test_stop = validation_stop + config.test_sessions
        out.append(
            Fold(
                len(out),
                window(first, train_stop),
                window(train_stop, validation_stop),
                window(validation_stop, test_stop),
            )
        )
        first += config.step
    return out


@dataclass(frozen=True, slots=True)
class FoldResult:
    fold: Fold
    train_rows: int
    validation_rows: int
    best_iteration: int
    calibration: PlattCalibration
    test: Scores


@dataclass(frozen=True, slots=True)
class WalkForwardReport:
    config: WalkForwardConfig
    params: ModelParams
    seed: int
    horizon_minutes: int
    folds: tuple[FoldResult, ...]
    overall: Scores
    """Every test example of every fold, pooled."""
    calibration: tuple[CalibrationBin, ...]
    per_regime: Mapping[str, Scores]

    def to_wire(self) -> dict[str, object]:
        return {
            "config": self.config.to_wire(),
            "horizon_minutes": self.horizon_minutes,
            "seed": self.seed,
            "params": self.params.to_wire(),
            "folds": [
                {
                    "fold": r.fold.index,
                    "train": r.fold.train.to_wire() | {"rows": r.train_rows},
                    "validation": r.fold.validation.to_wire() | {"rows": r.validation_rows},
                    "test": r.fold.test.to_wire() | {"rows": r.test.rows},
                    "best_iteration": r.best_iteration,
                    "calibration": r.calibration.to_wire(),
                    "metrics": r.test.to_wire(),
                }
                for r in self.folds
            ],
            "overall": self.overall.to_wire(),
            "calibration_bins": [
                {
                    "low": b.low,
                    "high": b.high,
                    "count": b.count,
                    "mean_probability": b.mean_probability,
                    "observed_up_rate": b.observed_up_rate,
                }
                for b in self.calibration
            ],
            "per_regime": {name: s.to_wire() for name, s in self.per_regime.items()},
        }


def walk_forward(
    dataset: Dataset,
    config: WalkForwardConfig = DEFAULT_WALK_FORWARD,
    params: ModelParams = DEFAULT_MODEL_PARAMS,
    seed: int = 0,
    feature_names: tuple[str, ...] = MODEL_FEATURES,
) -> WalkForwardReport:
    """Train, calibrate and test one model per fold; score the pooled test forecasts."""
    results: list[FoldResult] = []
    labels: list[BoolArray] = []
    forecasts: list[F64] = []
    baselines: list[F64] = []
    regimes: list[I8] = []
    for fold in folds(dataset.session_dates, config):
        training = dataset.sessions(fold.train.first, fold.train.stop)
        validation = dataset.sessions(fold.validation.first, fold.validation.stop)
        test = dataset.sessions(fold.test.first, fold.test.stop)
        trained = train(training, validation, params, seed, feature_names)
        probability = trained.model.probability_up(test.features) if len(test) else np.zeros(0)
        base_rate = training.up_rate
        results.append(
            FoldResult(
                fold,
                len(training),
                len(validation),
                trained.best_iteration,
                trained.model.calibration,
                score(test.label_up, probability, base_rate),
            )
        )
        labels.append(test.label_up)
        forecasts.append(probability)
        baselines.append(np.full(len(test), base_rate))
        regimes.append(test.regime)
    label_up = np.concatenate(labels)
    probability_up = np.concatenate(forecasts)
    baseline = np.concatenate(baselines)
    regime = np.concatenate(regimes)
    per_regime = {
        r.value: score(label_up[regime == k], probability_up[regime == k], baseline[regime == k])
        for k, r in enumerate(REGIMES)
        if np.any(regime == k)
    }
    return WalkForwardReport(
        config=config,
        params=params,
        seed=seed,
        horizon_minutes=dataset.horizon_minutes,
        folds=tuple(results),
        overall=score(label_up, probability_up, baseline),
        calibration=calibration_bins(label_up, probability_up),
        per_regime=per_regime,
    )
