"""The direction model: gradient-boosted trees (XGBoost) forecasting whether the underlying closes
higher `horizon_minutes` later, calibrated with Platt scaling on a later validation window.

- Training (`train`) is deterministic for a seed: one thread, the `hist` tree method, the seed
  driving row and column sampling. Early stopping watches the validation window's log loss.
- Calibration (`PlattCalibration`) maps the trees' margin m to sigmoid(slope * m + intercept),
  fitted by Newton's method on the validation window with Platt's smoothed targets, so a window
  of only ups (or only downs) still gives finite parameters. It is monotone: it changes the
  probabilities, never their order (AUC is unchanged).
- Inference (`DirectionModel`) walks the trees with numpy (`forest.Forest`); no xgboost needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic import Field
from pydantic.dataclasses import dataclass as validated_dataclass

from smart0dte.domain.features import FEATURE_NAMES, N_FEATURES
from smart0dte.domain.marketdata import F64
from smart0dte.domain.models import DomainError, Underlying
from smart0dte.domain.strategy_signals import ProbabilityFn
from smart0dte.ml.dataset import MODEL_FEATURES, Dataset
from smart0dte.ml.forest import Forest

XGBOOST_SEED_LIMIT = 2**31
"""xgboost takes a 32-bit seed; larger seeds are reduced modulo this."""
_NEWTON_STEPS = 100
_NEWTON_TOLERANCE = 1e-12
_RIDGE = 1e-9


@validated_dataclass(frozen=True)
class ModelParams:
    """Settings of the trees. Defaults suit noisy minute data: shallow trees, heavy leaves."""

    trees: int = Field(default=200, ge=1, le=2000)
    """Boosting rounds at most (early stopping may keep fewer)."""
    max_depth: int = Field(default=3, ge=1, le=8)
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    subsample: float = Field(default=0.8, gt=0, le=1)
    colsample_bytree: float = Field(default=0.8, gt=0, le=1)
    min_child_weight: float = Field(default=20.0, ge=0, le=1e5)
    reg_lambda: float = Field(default=1.0, ge=0, le=1e4)
    early_stopping_rounds: int | None = Field(default=25, ge=1, le=1000)
    """Stop when the validation log loss has not improved for this many rounds; None: never."""

    def to_wire(self) -> dict[str, object]:
        return {
            "trees": self.trees,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "reg_lambda": self.reg_lambda,
            "early_stopping_rounds": self.early_stopping_rounds,
        }


DEFAULT_MODEL_PARAMS = ModelParams()


def _sigmoid(x: F64) -> F64:
    out: F64 = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


@dataclass(frozen=True, slots=True)
class PlattCalibration:
    """p = sigmoid(slope * margin + intercept)."""

    slope: float = 1.0
    intercept: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.slope) and math.isfinite(self.intercept)):
            raise DomainError(f"PlattCalibration({self.slope}, {self.intercept}) must be finite numbers")

    def apply(self, margin: F64) -> F64:
        return _sigmoid(self.slope * margin + self.intercept)

    @classmethod
    def fit(cls, margin: F64, label_up: npt.NDArray[np.bool_]) -> PlattCalibration:
        """Maximum likelihood with Platt's targets (ups (N+ + 1) / (N+ + 2), downs 1 / (N- + 2)).

        Starts from the identity (slope 1, intercept 0) and takes Newton steps, halving a step
        that would raise the loss; without examples the identity is returned.
        """
        if margin.shape != label_up.shape or margin.ndim != 1:
            raise DomainError(f"margins {margin.shape} and labels {label_up.shape} must be 1-D of one length")
        if margin.shape[0] == 0:
            return cls()
        ups = float(label_up.sum())
        downs = float(label_up.shape[0]) - ups
        target = np.where(label_up, (ups + 1.0) / (ups + 2.0), 1.0 / (downs + 2.0))
        design = np.stack((margin, np.ones_like(margin)), axis=1)

        def loss(theta: F64) -> float:
            z = design @ theta
            # -[t log s(z) + (1 - t) log(1 - s(z))] = log(1 + e^z) - t z
            return float(np.sum(np.logaddexp(0.0, z) - target * z))

        theta = np.array([1.0, 0.0])
        current = loss(theta)
        for _ in range(_NEWTON_STEPS):
            p = _sigmoid(design @ theta)
            gradient = design.T @ (p - target)
            hessian = (design * (p * (1.0 - p))[:, None]).T @ design + _RIDGE * np.eye(2)
            step = np.linalg.solve(hessian, gradient)
            scale = 1.0
            while scale > 1e-6:
                trial = theta - scale * step
                trial_loss = loss(trial)
                if trial_loss <= current:
                    break
                scale /= 2.0
            else:
                break
            done = abs(current - trial_loss) <= _NEWTON_TOLERANCE * max(1.0, abs(current))
            theta, current = trial, trial_loss
            if done:
                break
        return cls(float(theta[0]), float(theta[1]))

    def to_wire(self) -> dict[str, object]:
        return {"method": "platt", "slope": self.slope, "intercept": self.intercept}


def feature_columns(feature_names: tuple[str, ...]) -> npt.NDArray[np.intp]:
    """Where each named feature sits in a feature row; an unknown name is an error naming it."""
    index = {name: i for i, name in enumerate(FEATURE_NAMES)}
    missing = [name for name in feature_names if name not in index]
    if missing:
        raise DomainError(
            f"model features {missing} are not computed by this version (features.FEATURE_NAMES)"
        )
    if len(set(feature_names)) != len(feature_names) or not feature_names:
        raise DomainError("model feature names must be distinct and at least one")
    return np.array([index[name] for name in feature_names], dtype=np.intp)


@dataclass(frozen=True, eq=False)
class DirectionModel:
    """Calibrated probability of an up move over `horizon_minutes`, from full feature rows."""

    forest: Forest
    calibration: PlattCalibration
    feature_names: tuple[str, ...]
    horizon_minutes: int
    version: str | None = None
    """The artifact's content hash, once saved."""
    _columns: npt.NDArray[np.intp] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.forest.n_features != len(self.feature_names):
            raise DomainError(
                f"the trees read {self.forest.n_features} features; {len(self.feature_names)} are named"
            )
        object.__setattr__(self, "_columns", feature_columns(self.feature_names))

    def _model_inputs(self, feature_rows: F64) -> F64:
        rows = np.asarray(feature_rows, dtype=np.float64)
        if rows.ndim == 1:
            rows = rows[None, :]
        if rows.ndim != 2 or rows.shape[1] != N_FEATURES:
            raise DomainError(
                f"feature rows have shape {rows.shape}; expected (rows, {N_FEATURES}) or ({N_FEATURES},)"
            )
        selected: F64 = rows[:, self._columns]
        return selected

    def margin(self, feature_rows: F64) -> F64:
        """The trees' log-odds before calibration, one per row."""
        return self.forest.margin(self._model_inputs(feature_rows))

    def probability_up(self, feature_rows: F64) -> F64:
        """Calibrated P(close higher after the horizon), one per row (a single row gives one value)."""
        return self.calibration.apply(self.margin(feature_rows))

    def probability_fn(self) -> ProbabilityFn:
        """The model as `strategy_signals.StrategySignals` asks for it (one model for every underlying)."""

        def probability(_underlying: Underlying, row: F64) -> float:
            return float(self.probability_up(row)[0])

        return probability


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """What `train` produced: the booster as xgboost saves it, and the model read back from it."""

    booster_json: bytes
    model: DirectionModel
    best_iteration: int
    """Rounds kept (early stopping may stop before `ModelParams.trees`)."""
    train_rows: int
    validation_rows: int


def train(
    training: Dataset,
    validation: Dataset,
    params: ModelParams = DEFAULT_MODEL_PARAMS,
    seed: int = 0,
    feature_names: tuple[str, ...] = MODEL_FEATURES,
) -> TrainedModel:
    """Fit the trees on `training`, stop early and calibrate on `validation` (a later window)."""
    import xgboost as xgb  # training only: inference does not need it

    if len(training) == 0 or len(validation) == 0:
        raise DomainError(
            f"training needs examples in both windows; got {len(training)} training and "
            f"{len(validation)} validation rows"
        )
    if training.horizon_minutes != validation.horizon_minutes:
        raise DomainError("training and validation examples must share one horizon")
    if training.label_up.all() or not training.label_up.any():
        raise DomainError("the training window's labels are all one direction: nothing to learn")
    columns = feature_columns(feature_names)

    def matrix(data: Dataset) -> xgb.DMatrix:
        x = data.features[:, columns]
        x = np.where(np.isfinite(x), x, np.nan)
        return xgb.DMatrix(x, label=data.label_up.astype(np.float32), missing=np.nan, nthread=1)

    train_matrix, validation_matrix = matrix(training), matrix(validation)
    booster = xgb.train(
        {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "nthread": 1,
            "seed": seed % XGBOOST_SEED_LIMIT,
            "max_depth": params.max_depth,
            "eta": params.learning_rate,
            "subsample": params.subsample,
            "colsample_bytree": params.colsample_bytree,
            "min_child_weight": params.min_child_weight,
            "lambda": params.reg_lambda,
        },
        train_matrix,
        num_boost_round=params.trees,
        evals=[(validation_matrix, "validation")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
    )
    rounds = params.trees
    if params.early_stopping_rounds is not None:
        rounds = int(booster.best_iteration) + 1
        booster = booster[:rounds]
    booster_json = bytes(booster.save_raw("json"))
    forest = Forest.from_xgboost_json(booster_json)
    uncalibrated = DirectionModel(forest, PlattCalibration(), feature_names, training.horizon_minutes)
    calibration = PlattCalibration.fit(uncalibrated.margin(validation.features), validation.label_up)
    model = DirectionModel(forest, calibration, feature_names, training.horizon_minutes)
    return TrainedModel(booster_json, model, rounds, len(training), len(validation))
