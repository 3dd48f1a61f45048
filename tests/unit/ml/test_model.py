"""Training and calibration: deterministic for a seed, skill where there is signal, calibrated."""

import numpy as np
import pytest

from smart0dte.domain.features import N_FEATURES
from smart0dte.domain.models import DomainError
from smart0dte.ml.model import PlattCalibration, feature_columns, train
from tests.unit.ml.synthetic import FAST_PARAMS, SIGNAL_FEATURE, synthetic_dataset


def test_platt_scaling_recovers_the_slope_and_intercept_that_made_the_labels() -> None:
    rng = np.random.default_rng(4)
    margin = rng.normal(0, 2, 20_000)
    labels = rng.random(20_000) < 1 / (1 + np.exp(-(0.5 * margin - 0.3)))

    fitted = PlattCalibration.fit(margin, labels)

    assert fitted.slope == pytest.approx(0.5, abs=0.04)
    assert fitted.intercept == pytest.approx(-0.3, abs=0.05)


def test_platt_scaling_keeps_the_order_and_stays_finite_on_one_class() -> None:
    margin = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])

    one_class = PlattCalibration.fit(margin, np.ones(5, dtype=bool))
    fitted = PlattCalibration.fit(margin, np.array([False, False, True, False, True]))

    assert np.isfinite([one_class.slope, one_class.intercept]).all()
    assert np.all(np.diff(fitted.apply(margin)) > 0)
    assert PlattCalibration.fit(np.zeros(0), np.zeros(0, bool)) == PlattCalibration()


def test_the_model_finds_a_real_signal_and_its_probabilities_are_calibrated() -> None:
    data = synthetic_dataset(sessions=10, signal=1.5)

    trained = train(data.sessions(0, 6), data.sessions(6, 8), FAST_PARAMS, seed=1)
    test = data.sessions(8, 10)
    p = trained.model.probability_up(test.features)

    assert np.corrcoef(p, np.nan_to_num(test.features[:, SIGNAL_FEATURE]))[0, 1] > 0.8
    assert abs(float(p.mean()) - test.up_rate) < 0.05
    assert 1 <= trained.best_iteration <= FAST_PARAMS.trees


def test_training_is_deterministic_for_a_seed() -> None:
    data = synthetic_dataset(sessions=6, signal=0.5)

    first = train(data.sessions(0, 4), data.sessions(4, 6), FAST_PARAMS, seed=5)
    again = train(data.sessions(0, 4), data.sessions(4, 6), FAST_PARAMS, seed=5)
    other = train(data.sessions(0, 4), data.sessions(4, 6), FAST_PARAMS, seed=6)

    assert first.booster_json == again.booster_json
    assert first.model.calibration == again.model.calibration
    assert other.booster_json != first.booster_json  # the seed drives row and column sampling


def test_one_row_scores_as_it_does_in_a_batch() -> None:
    data = synthetic_dataset(sessions=6)
    model = train(data.sessions(0, 4), data.sessions(4, 6), FAST_PARAMS).model
    rows = data.features[:20]

    batch = model.probability_up(rows)
    single = [model.probability_up(row)[0] for row in rows]
    via_fn = [model.probability_fn()(None, row) for row in rows]  # type: ignore[arg-type]

    np.testing.assert_allclose(single, batch, rtol=0, atol=1e-12)
    assert via_fn == single


def test_rows_must_be_full_feature_rows() -> None:
    data = synthetic_dataset(sessions=6)
    model = train(data.sessions(0, 4), data.sessions(4, 6), FAST_PARAMS).model

    with pytest.raises(DomainError, match=f"expected \\(rows, {N_FEATURES}\\)"):
        model.probability_up(np.zeros((2, 10)))


def test_training_refuses_what_it_cannot_learn_from() -> None:
    data = synthetic_dataset(sessions=6)
    ups_only = data.take(data.label_up)

    with pytest.raises(DomainError, match="all one direction"):
        train(ups_only.sessions(0, 4), data.sessions(4, 6), FAST_PARAMS)
    with pytest.raises(DomainError, match="validation"):
        train(data.sessions(0, 4), data.sessions(9, 10), FAST_PARAMS)
    with pytest.raises(DomainError, match="not computed"):
        feature_columns(("ret_1m_bps", "no_such_feature"))
