"""Forecast scores: AUC as the Mann-Whitney probability, log loss, reliability bins, no-skill baseline."""

import math
from itertools import product

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smart0dte.domain.models import DomainError
from smart0dte.ml.metrics import (
    Scores,
    accuracy,
    average_ranks,
    calibration_bins,
    log_loss,
    roc_auc,
    score,
    scores_from_wire,
)


def _pairwise_auc(labels: list[bool], scores: list[float]) -> float:
    ups = [s for s, y in zip(scores, labels, strict=True) if y]
    downs = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if u > d else 0.5 if u == d else 0.0 for u, d in product(ups, downs))
    return wins / (len(ups) * len(downs))


@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])),
        min_size=2,
        max_size=40,
    )
)
def test_auc_is_the_probability_an_up_outscores_a_down_ties_counting_half(
    pairs: list[tuple[bool, float]],
) -> None:
    labels = [y for y, _ in pairs]
    scores = [s for _, s in pairs]

    auc = roc_auc(np.array(labels), np.array(scores))

    if all(labels) or not any(labels):
        assert auc is None
    else:
        assert auc == pytest.approx(_pairwise_auc(labels, scores))


def test_ranks_share_ties() -> None:
    np.testing.assert_array_equal(average_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])


def test_log_loss_and_accuracy_of_known_forecasts() -> None:
    labels = np.array([True, False, True, False])
    p = np.array([0.8, 0.3, 0.4, 0.5])

    assert log_loss(labels, p) == pytest.approx(
        -(math.log(0.8) + math.log(0.7) + math.log(0.4) + math.log(0.5)) / 4
    )
    assert accuracy(labels, p) == pytest.approx(0.75)  # 0.5 counts as a forecast of down
    assert log_loss(np.array([True]), np.array([0.0])) == pytest.approx(-math.log(1e-15))


def test_reliability_bins_count_every_forecast_once() -> None:
    labels = np.array([True, False, True, True, False])
    p = np.array([0.05, 0.12, 0.18, 0.95, 1.0])

    bins = calibration_bins(labels, p, bins=10)

    assert [b.count for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins[1].mean_probability == pytest.approx(0.15) and bins[1].observed_up_rate == pytest.approx(0.5)
    assert bins[2].mean_probability is None


def test_scores_sit_next_to_the_base_rate_forecast() -> None:
    labels = np.array([True, True, False, False])

    perfect = score(labels, np.array([0.9, 0.8, 0.2, 0.1]), 0.5)
    coin = score(labels, np.full(4, 0.5), 0.5)

    assert perfect.auc == 1.0 and perfect.log_loss is not None and perfect.log_loss < math.log(2)
    assert perfect.baseline_log_loss == pytest.approx(math.log(2))
    assert perfect.log_loss_skill is not None and perfect.log_loss_skill > 0
    assert coin.log_loss_skill == pytest.approx(0.0)
    assert score(np.zeros(0, bool), np.zeros(0), 0.5).rows == 0


def test_scores_survive_their_wire_form() -> None:
    s = score(np.array([True, False, True]), np.array([0.6, 0.4, 0.3]), np.array([0.55, 0.55, 0.45]))

    assert scores_from_wire(s.to_wire()) == s
    assert isinstance(s, Scores)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(DomainError, match=r"within 0\.\.1"):
        log_loss(np.array([True]), np.array([1.5]))
    with pytest.raises(DomainError, match="baseline"):
        score(np.array([True]), np.array([0.5]), 1.0)
