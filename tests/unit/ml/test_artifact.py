"""Model artifacts: canonical bytes, a content hash that is checked, the model inside them."""

import json
from functools import cache

import numpy as np
import pytest

from smart0dte.ml.artifact import ModelArtifact
from smart0dte.ml.forest import ModelFormatError
from smart0dte.ml.model import TrainedModel, train
from tests.unit.ml.synthetic import FAST_PARAMS, synthetic_dataset


@cache
def _trained() -> TrainedModel:
    data = synthetic_dataset(sessions=6)
    return train(data.sessions(0, 4), data.sessions(4, 6), FAST_PARAMS, seed=2)


def _artifact(metadata: dict[str, object] | None = None) -> ModelArtifact:
    trained = _trained()
    model = trained.model
    return ModelArtifact.create(
        model.feature_names,
        model.horizon_minutes,
        model.calibration,
        trained.booster_json,
        metadata or {"a": 1},
    )


def test_bytes_round_trip_to_the_same_model() -> None:
    artifact = _artifact({"metrics": {"auc": 0.61, "nan": float("nan")}, "when": ("2025-01-02",)})
    rows = synthetic_dataset(sessions=1, seed=9).features

    loaded = ModelArtifact.from_bytes(artifact.to_bytes())

    assert loaded.to_bytes() == artifact.to_bytes()
    assert loaded.content_hash == artifact.content_hash and len(loaded.version) == 64
    assert loaded.metadata == {"metrics": {"auc": 0.61, "nan": None}, "when": ["2025-01-02"]}
    np.testing.assert_array_equal(loaded.model().probability_up(rows), _trained().model.probability_up(rows))
    assert loaded.model().version == artifact.version


def test_the_hash_covers_everything_in_the_artifact() -> None:
    assert _artifact({"a": 1}).content_hash == _artifact({"a": 1}).content_hash
    assert _artifact({"a": 1}).content_hash != _artifact({"a": 2}).content_hash


def test_an_edited_artifact_is_refused() -> None:
    wire = json.loads(_artifact().to_bytes())
    wire["calibration"]["slope"] = 3.0

    with pytest.raises(ModelFormatError, match="does not match its content"):
        ModelArtifact.from_bytes(json.dumps(wire).encode())
    with pytest.raises(ModelFormatError, match="not JSON"):
        ModelArtifact.from_bytes(_artifact().to_bytes()[:-10])
    with pytest.raises(ModelFormatError, match=r"not a smart0dte\.direction-model"):
        ModelArtifact.from_bytes(b'{"format": "other"}')
