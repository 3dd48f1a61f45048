"""The numpy tree walk gives xgboost's own margins, NaNs (missing values) included."""

import json

import numpy as np
import pytest
import xgboost as xgb

from smart0dte.ml.forest import Forest, ModelFormatError


def _booster(seed: int = 0) -> tuple[xgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, 6))
    x[rng.random(x.shape) < 0.15] = np.nan
    y = (np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 3]) + rng.normal(0, 0.5, 600) > 0).astype(
        np.float32
    )
    params = {"objective": "binary:logistic", "nthread": 1, "seed": 1, "max_depth": 4, "tree_method": "hist"}
    return xgb.train(params, xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=30), x


def test_margins_match_xgboost_for_many_rows_and_for_one() -> None:
    booster, x = _booster()
    forest = Forest.from_xgboost_json(bytes(booster.save_raw("json")))
    expected = booster.predict(xgb.DMatrix(x, missing=np.nan), output_margin=True)

    many = forest.margin(x)
    one_by_one = np.array([forest.margin(x[i : i + 1])[0] for i in range(50)])

    assert forest.trees == 30 and 1 <= forest.depth <= 4
    np.testing.assert_allclose(many, expected, atol=1e-5)
    np.testing.assert_allclose(one_by_one, many[:50], atol=1e-12)


def test_infinite_values_count_as_missing() -> None:
    booster, x = _booster()
    forest = Forest.from_xgboost_json(bytes(booster.save_raw("json")))
    with_nan, with_inf = x[:5].copy(), x[:5].copy()
    with_nan[:, 0] = np.nan
    with_inf[:, 0] = np.inf

    np.testing.assert_array_equal(forest.margin(with_inf), forest.margin(with_nan))


def test_a_row_of_the_wrong_width_is_refused() -> None:
    booster, _ = _booster()
    forest = Forest.from_xgboost_json(bytes(booster.save_raw("json")))

    with pytest.raises(ValueError, match=r"\(rows, 6\)"):
        forest.margin(np.zeros((1, 5)))


def test_models_it_cannot_read_are_refused_with_the_reason() -> None:
    booster, _ = _booster()
    raw = json.loads(bytes(booster.save_raw("json")))
    raw["learner"]["objective"]["name"] = "reg:squarederror"

    with pytest.raises(ModelFormatError, match="expected gbtree binary:logistic"):
        Forest.from_xgboost_json(json.dumps(raw).encode())
    with pytest.raises(ModelFormatError, match="not an xgboost JSON model"):
        Forest.from_xgboost_json(b'{"learner": {}}')
