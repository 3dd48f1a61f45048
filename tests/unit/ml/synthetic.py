"""Synthetic examples for the model tests: random feature rows whose label depends on one feature
with a chosen strength (0 = pure noise), so skill, or its absence, is known in advance."""

from datetime import date, timedelta

import numpy as np

from smart0dte.domain.features import N_FEATURES, Feature
from smart0dte.ml.dataset import Dataset
from smart0dte.ml.model import ModelParams

SIGNAL_FEATURE = Feature.RET_5M_BPS
FAST_PARAMS = ModelParams(trees=20, max_depth=2, learning_rate=0.3, early_stopping_rounds=5)


def synthetic_dataset(
    sessions: int = 10, rows_per_session: int = 200, signal: float = 1.5, seed: int = 0
) -> Dataset:
    rng = np.random.default_rng(seed)
    n = sessions * rows_per_session
    features = rng.normal(size=(n, N_FEATURES))
    features[rng.random(features.shape) < 0.05] = np.nan
    driver = np.nan_to_num(features[:, SIGNAL_FEATURE])
    label_up = rng.random(n) < 1.0 / (1.0 + np.exp(-signal * driver))
    return Dataset(
        features=features,
        label_up=label_up,
        forward_return_bps=np.where(label_up, 1.0, -1.0),
        ts_ns=np.arange(n, dtype=np.int64),
        session=np.repeat(np.arange(sessions, dtype=np.int64), rows_per_session),
        underlying=(np.arange(n) % 3).astype(np.int8),
        regime=rng.integers(0, 4, n).astype(np.int8),
        session_dates=tuple(date(2025, 1, 6) + timedelta(days=k) for k in range(sessions)),
        horizon_minutes=15,
    )
