"""The model registry: save and load by content hash; promote only a model that beats the promoted
one (and the no-skill forecast); every decision recorded with its reason."""

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from smart0dte.adapters.local_store import FolderObjectStore
from smart0dte.domain.models import DomainError
from smart0dte.ml.artifact import ModelArtifact
from smart0dte.ml.model import TrainedModel, train
from smart0dte.ml.pipeline import train_direction_model
from smart0dte.ml.registry import ModelRegistry
from smart0dte.ml.walk_forward import WalkForwardConfig
from tests.unit.ml.synthetic import FAST_PARAMS, synthetic_dataset


@cache
def _trained() -> TrainedModel:
    data = synthetic_dataset(sessions=6)
    return train(data.sessions(0, 4), data.sessions(4, 6), FAST_PARAMS, seed=2)


def _with_scores(log_loss: float, auc: float, baseline_log_loss: float = 0.693) -> ModelArtifact:
    """An artifact whose recorded walk-forward scores are the given ones."""
    model = _trained().model
    overall = {"rows": 1000, "log_loss": log_loss, "auc": auc, "baseline_log_loss": baseline_log_loss}
    return ModelArtifact.create(
        model.feature_names,
        model.horizon_minutes,
        model.calibration,
        _trained().booster_json,
        {"walk_forward": {"overall": overall}},
    )


def _registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(FolderObjectStore(tmp_path / "models"))


def test_with_nothing_promoted_the_system_is_on_rules_only(tmp_path: Path) -> None:
    registry = _registry(tmp_path)

    assert registry.promoted() is None
    assert registry.promoted_model() is None
    assert registry.decisions() == []


def test_saved_artifacts_load_back_by_version(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    artifact = _with_scores(0.68, 0.56)

    version = registry.save(artifact)
    registry.save(artifact)

    assert version == artifact.content_hash
    assert registry.versions() == [version]
    assert registry.load(version).to_bytes() == artifact.to_bytes()
    with pytest.raises(DomainError, match="no model version"):
        registry.load("0" * 64)
    with pytest.raises(DomainError, match="sha256"):
        registry.load("../promoted")


def test_a_first_model_needs_skill_over_the_base_rate(tmp_path: Path) -> None:
    registry = _registry(tmp_path)

    refused = registry.promote(_with_scores(0.695, 0.52))
    promoted = registry.promote(_with_scores(0.680, 0.56), at=datetime(2025, 3, 14, 21, 0, tzinfo=UTC))

    assert not refused.promoted and "no skill over the base-rate forecast" in refused.reason
    assert promoted.promoted and "first model with skill" in promoted.reason
    assert registry.promoted_version() == promoted.candidate
    assert [d.promoted for d in registry.decisions()] == [False, True]
    assert registry.decisions()[1].decided_at == "2025-03-14T21:00:00+00:00"


def test_promotion_refuses_a_worse_model_and_keeps_the_current_one(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    current = _with_scores(0.680, 0.56)
    registry.promote(current)

    higher_loss = registry.promote(_with_scores(0.685, 0.60))
    lower_auc = registry.promote(_with_scores(0.679, 0.54))
    better = _with_scores(0.679, 0.555)
    accepted = registry.promote(better)

    assert not higher_loss.promoted and "log loss not lower" in higher_loss.reason
    assert not lower_auc.promoted and "AUC more than 0.01 below" in lower_auc.reason
    assert accepted.promoted and accepted.current == current.version
    assert registry.promoted_version() == better.version
    assert [d.promoted for d in registry.decisions()] == [True, False, False, True]


def test_judging_writes_nothing(tmp_path: Path) -> None:
    registry = _registry(tmp_path)

    decision = registry.judge(_with_scores(0.680, 0.56))

    assert decision.promoted
    assert list(registry.store.list_keys("")) == []


def test_real_training_runs_promote_skill_and_refuse_noise(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    config = WalkForwardConfig(train_sessions=4, validation_sessions=2, test_sessions=2)
    skilled = train_direction_model(synthetic_dataset(10, signal=1.5), "skill", config, FAST_PARAMS, seed=1)
    weaker = train_direction_model(
        synthetic_dataset(10, signal=0.3, seed=1), "weak", config, FAST_PARAMS, seed=1
    )

    first = registry.promote(skilled.artifact)
    second = registry.promote(weaker.artifact)

    assert first.promoted
    assert not second.promoted
    assert registry.promoted_version() == skilled.artifact.version
    model = registry.promoted_model()
    assert model is not None and model.version == skilled.artifact.version
