"""Scores of probability forecasts of an up move: accuracy, log loss, ROC AUC, Brier score and
reliability (calibration) bins, each against the no-skill forecast that always says the base rate.

ROC AUC is the Mann-Whitney statistic from average ranks (ties share a rank), so it equals the
probability that a random up example scores above a random down one, ties counting one half.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from smart0dte.domain.marketdata import F64
from smart0dte.domain.models import DomainError

PROBABILITY_CLIP = 1e-15
"""Probabilities are clipped to [clip, 1 - clip] inside log loss, so one certain miss is finite."""
DEFAULT_CALIBRATION_BINS = 10

BoolArray = npt.NDArray[np.bool_]


def _check(label_up: BoolArray, probability_up: F64) -> None:
    if label_up.shape != probability_up.shape or label_up.ndim != 1:
        raise DomainError(
            f"labels {label_up.shape} and probabilities {probability_up.shape} must be 1-D of one length"
        )
    if probability_up.size and not (
        np.all(np.isfinite(probability_up)) and probability_up.min() >= 0 and probability_up.max() <= 1
    ):
        raise DomainError("probabilities must be finite numbers within 0..1")


def log_loss(label_up: BoolArray, probability_up: F64) -> float:
    """Mean negative log-likelihood (natural log); lower is better, ln 2 = 0.693 for a coin."""
    _check(label_up, probability_up)
    p = np.clip(probability_up, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
    return float(-np.mean(np.where(label_up, np.log(p), np.log1p(-p))))


def accuracy(label_up: BoolArray, probability_up: F64) -> float:
    """Share of examples on the right side of 0.5 (0.5 itself counts as a forecast of down)."""
    _check(label_up, probability_up)
    return float(np.mean((probability_up > 0.5) == label_up))


def brier(label_up: BoolArray, probability_up: F64) -> float:
    _check(label_up, probability_up)
    return float(np.mean((probability_up - label_up) ** 2))


def average_ranks(values: F64) -> F64:
    """1-based ranks, tied values sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    ends = np.concatenate((starts[1:], [values.shape[0]]))
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(values.shape[0])
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def roc_auc(label_up: BoolArray, score: F64) -> float | None:
    """Area under the ROC curve; None when only one class is present (it is undefined then)."""
    if label_up.shape != score.shape or label_up.ndim != 1:
        raise DomainError(f"labels {label_up.shape} and scores {score.shape} must be 1-D of one length")
    ups = int(label_up.sum())
    downs = int(label_up.shape[0]) - ups
    if ups == 0 or downs == 0:
        return None
    rank_sum = float(average_ranks(score)[label_up].sum())
    return (rank_sum - ups * (ups + 1) / 2.0) / (ups * downs)


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """Forecasts within [low, high): how many, their mean, and how often the move was up."""

    low: float
    high: float
    count: int
    mean_probability: float | None
    observed_up_rate: float | None


def calibration_bins(
    label_up: BoolArray, probability_up: F64, bins: int = DEFAULT_CALIBRATION_BINS
) -> tuple[CalibrationBin, ...]:
    """A reliability diagram in equal-width bins (the last one includes 1)."""
    _check(label_up, probability_up)
    if not 1 <= bins <= 100:
        raise DomainError(f"bins={bins} must be within 1..100")
    which = np.minimum((probability_up * bins).astype(np.int64), bins - 1)
    out = []
    for k in range(bins):
        members = which == k
        count = int(members.sum())
        out.append(
            CalibrationBin(
                low=k / bins,
                high=(k + 1) / bins,
                count=count,
                mean_probability=float(probability_up[members].mean()) if count else None,
                observed_up_rate=float(label_up[members].mean()) if count else None,
            )
        )
    return tuple(out)


def expected_calibration_error(table: tuple[CalibrationBin, ...]) -> float | None:
    """Count-weighted mean |forecast - outcome| over the bins; None without examples."""
    total = sum(b.count for b in table)
    if total == 0:
        return None
    return (
        sum(
            b.count * abs(b.mean_probability - b.observed_up_rate)
            for b in table
            if b.mean_probability is not None and b.observed_up_rate is not None
        )
        / total
    )


@dataclass(frozen=True, slots=True)
class Scores:
    """How good a set of forecasts was, next to the no-skill forecast of the base rate."""

    rows: int
    up_rate: float | None
    accuracy: float | None
    log_loss: float | None
    auc: float | None
    brier: float | None
    baseline_log_loss: float | None
    """Log loss of the no-skill forecast: the training window's up rate, whatever the features say."""
    baseline_probability: float | None
    """Mean no-skill forecast."""
    calibration_error: float | None
    """Expected calibration error over DEFAULT_CALIBRATION_BINS bins."""

    @property
    def log_loss_skill(self) -> float | None:
        """1 - log_loss / baseline_log_loss: > 0 beats the base rate, 0 matches it."""
        if self.log_loss is None or not self.baseline_log_loss:
            return None
        return 1.0 - self.log_loss / self.baseline_log_loss

    def to_wire(self) -> dict[str, object]:
        return {**asdict(self), "log_loss_skill": self.log_loss_skill}


def score(label_up: BoolArray, probability_up: F64, baseline_up: float | F64) -> Scores:
    """Every score of the forecasts next to the no-skill forecasts `baseline_up` (one rate for all,
    or one per example, e.g. each walk-forward fold's own training up rate); the rate-type scores
    are None when there are no examples."""
    _check(label_up, probability_up)
    baseline = np.broadcast_to(np.asarray(baseline_up, dtype=np.float64), label_up.shape)
    if baseline.size and not (np.all(np.isfinite(baseline)) and baseline.min() > 0 and baseline.max() < 1):
        raise DomainError("baseline probabilities must be within (0, 1)")
    if label_up.shape[0] == 0:
        return Scores(0, None, None, None, None, None, None, None, None)
    return Scores(
        rows=int(label_up.shape[0]),
        up_rate=float(label_up.mean()),
        accuracy=accuracy(label_up, probability_up),
        log_loss=log_loss(label_up, probability_up),
        auc=roc_auc(label_up, probability_up),
        brier=brier(label_up, probability_up),
        baseline_log_loss=log_loss(label_up, baseline),
        baseline_probability=float(baseline.mean()),
        calibration_error=expected_calibration_error(calibration_bins(label_up, probability_up)),
    )


def scores_from_wire(wire: Mapping[str, object]) -> Scores:
    """The Scores of `Scores.to_wire()` (derived fields are recomputed, not read)."""

    def number(name: str) -> float | None:
        value = wire.get(name)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise DomainError(f"scores.{name}={value!r} must be a number or null")
        return float(value)

    rows = number("rows")
    if rows is None:
        raise DomainError("scores need 'rows'")
    return Scores(
        rows=int(rows),
        up_rate=number("up_rate"),
        accuracy=number("accuracy"),
        log_loss=number("log_loss"),
        auc=number("auc"),
        brier=number("brier"),
        baseline_log_loss=number("baseline_log_loss"),
        baseline_probability=number("baseline_probability"),
        calibration_error=number("calibration_error"),
    )
