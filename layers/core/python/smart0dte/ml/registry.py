"""The model registry: artifacts, the promoted model and every promotion decision, in an ObjectStore
(S3 in AWS, `adapters.local_store.FolderObjectStore` locally).

Keys, under `prefix` (default "direction/")::

    versions/<sha256>.json           artifact bytes; content-addressed, so saving twice changes nothing
    decisions/<NNNNNN>-<sha12>.json  each promotion decision, promoted or refused, with its reason
    promoted.json                    {"version", "decision", "decided_at"}: the model the system trades on

Promotion rule (`judge`), on the walk-forward scores stored in each artifact's metadata (the pooled
out-of-sample test forecasts of its folds):

1. the candidate must beat the no-skill forecast on its own test windows: log loss below the
   base-rate forecast's, and ROC AUC above 0.5. With no promoted model this is the whole rule: the
   system trades on rules alone until a model shows some skill.
2. with a promoted model, the candidate's log loss must also be lower than the promoted model's,
   and its AUC no more than `auc_tolerance` (0.01) below it.

The two models' test windows differ when they were trained on different ranges; the rule compares
their recorded out-of-sample scores as they are. A refusal leaves the promoted model in place and
is recorded with its reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from smart0dte.domain.models import DomainError
from smart0dte.ml.artifact import ModelArtifact, canonical_json, json_ready
from smart0dte.ml.forest import ModelFormatError
from smart0dte.ml.metrics import Scores, scores_from_wire
from smart0dte.ml.model import DirectionModel
from smart0dte.ports import ObjectStore

DEFAULT_PREFIX = "direction/"
DEFAULT_AUC_TOLERANCE = 0.01
_VERSION = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class PromotionDecision:
    promoted: bool
    reason: str
    candidate: str
    current: str | None
    """The version promoted when the decision was taken (None: rules only)."""
    candidate_scores: Scores | None
    current_scores: Scores | None
    decided_at: str | None = None
    """ISO 8601, when the caller gave a time."""

    def to_wire(self) -> dict[str, object]:
        wire: dict[str, object] = json_ready(
            {
                "promoted": self.promoted,
                "reason": self.reason,
                "candidate": self.candidate,
                "current": self.current,
                "candidate_scores": self.candidate_scores.to_wire() if self.candidate_scores else None,
                "current_scores": self.current_scores.to_wire() if self.current_scores else None,
                "decided_at": self.decided_at,
            }
        )
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> PromotionDecision:
        return cls(
            promoted=bool(wire["promoted"]),
            reason=str(wire["reason"]),
            candidate=str(wire["candidate"]),
            current=wire.get("current"),
            candidate_scores=scores_from_wire(wire["candidate_scores"])
            if wire.get("candidate_scores")
            else None,
            current_scores=scores_from_wire(wire["current_scores"]) if wire.get("current_scores") else None,
            decided_at=wire.get("decided_at"),
        )


def walk_forward_scores(artifact: ModelArtifact) -> Scores | None:
    """The pooled walk-forward test scores recorded in an artifact, or None if it has none."""
    walk = artifact.metadata.get("walk_forward")
    overall = walk.get("overall") if isinstance(walk, dict) else None
    return scores_from_wire(overall) if isinstance(overall, dict) else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def judge(
    candidate: ModelArtifact,
    current: ModelArtifact | None,
    auc_tolerance: float = DEFAULT_AUC_TOLERANCE,
) -> tuple[bool, str]:
    """Whether `candidate` should replace `current` (None: rules only), and why; see the module doc."""
    mine = walk_forward_scores(candidate)
    if mine is None or mine.log_loss is None or mine.baseline_log_loss is None:
        return False, "candidate has no walk-forward test scores"
    if mine.auc is None:
        return False, "candidate's test windows hold one direction only: AUC undefined"
    skill = (
        f"candidate log loss {_fmt(mine.log_loss)} vs base rate {_fmt(mine.baseline_log_loss)}, "
        f"AUC {_fmt(mine.auc)}"
    )
    if not (mine.log_loss < mine.baseline_log_loss and mine.auc > 0.5):
        return False, f"no skill over the base-rate forecast ({skill}): needs lower log loss and AUC > 0.5"
    if current is None:
        return True, f"first model with skill over the base-rate forecast ({skill})"
    theirs = walk_forward_scores(current)
    if theirs is None or theirs.log_loss is None:
        return True, f"promoted model {current.short_version} has no walk-forward scores; {skill}"
    versus = (
        f"log loss {_fmt(mine.log_loss)} vs {_fmt(theirs.log_loss)}, "
        f"AUC {_fmt(mine.auc)} vs {_fmt(theirs.auc)} (promoted {current.short_version})"
    )
    if mine.log_loss >= theirs.log_loss:
        return False, f"log loss not lower than the promoted model's: {versus}"
    if theirs.auc is not None and mine.auc < theirs.auc - auc_tolerance:
        return False, f"AUC more than {auc_tolerance:g} below the promoted model's: {versus}"
    return True, f"beats the promoted model: {versus}"


class ModelRegistry:
    """Save, load and promote direction models in an ObjectStore."""

    def __init__(
        self, store: ObjectStore, prefix: str = DEFAULT_PREFIX, auc_tolerance: float = DEFAULT_AUC_TOLERANCE
    ) -> None:
        if prefix and not prefix.endswith("/"):
            raise DomainError(f"registry prefix={prefix!r} must end with '/' (or be empty)")
        if not 0.0 <= auc_tolerance <= 0.5:
            raise DomainError(f"auc_tolerance={auc_tolerance} must be within 0..0.5")
        self.store = store
        self.prefix = prefix
        self.auc_tolerance = auc_tolerance

    # --- keys ---------------------------------------------------------------------------------

    def _version_key(self, version: str) -> str:
        if not _VERSION.match(version):
            raise DomainError(f"version={version!r} must be a 64-character sha256 hex digest")
        return f"{self.prefix}versions/{version}.json"

    @property
    def _pointer_key(self) -> str:
        return f"{self.prefix}promoted.json"

    def _exists(self, key: str) -> bool:
        return key in set(self.store.list_keys(key))

    # --- artifacts ------------------------------------------------------------------------------

    def save(self, artifact: ModelArtifact) -> str:
        """Store the artifact (once) and return its version."""
        key = self._version_key(artifact.version)
        if not self._exists(key):
            self.store.put_bytes(key, artifact.to_bytes())
        return artifact.version

    def versions(self) -> list[str]:
        """Every saved version, in key order."""
        start = f"{self.prefix}versions/"
        return [k[len(start) : -len(".json")] for k in self.store.list_keys(start) if k.endswith(".json")]

    def load(self, version: str) -> ModelArtifact:
        """The artifact of `version`, its content hash checked against the version it was saved as."""
        key = self._version_key(version)
        if not self._exists(key):
            raise DomainError(f"no model version {version} in the registry ({key})")
        artifact = ModelArtifact.from_bytes(self.store.get_bytes(key))
        if artifact.version != version:
            raise ModelFormatError(f"{key} holds model {artifact.version}, not {version}")
        return artifact

    # --- promotion --------------------------------------------------------------------------------

    def promoted_version(self) -> str | None:
        if not self._exists(self._pointer_key):
            return None
        pointer = json.loads(self.store.get_bytes(self._pointer_key))
        return str(pointer["version"])

    def promoted(self) -> ModelArtifact | None:
        """The promoted model's artifact; None while no model has been promoted (rules only)."""
        version = self.promoted_version()
        return None if version is None else self.load(version)

    def promoted_model(self) -> DirectionModel | None:
        artifact = self.promoted()
        return None if artifact is None else artifact.model()

    def judge(self, candidate: ModelArtifact) -> PromotionDecision:
        """What `promote` would decide now, writing nothing."""
        current = self.promoted()
        if current is not None and current.version == candidate.version:
            promoted, reason = False, "candidate is already the promoted model"
        else:
            promoted, reason = judge(candidate, current, self.auc_tolerance)
        return PromotionDecision(
            promoted,
            reason,
            candidate.version,
            None if current is None else current.version,
            walk_forward_scores(candidate),
            None if current is None else walk_forward_scores(current),
        )

    def promote(self, candidate: ModelArtifact, at: datetime | None = None) -> PromotionDecision:
        """Save the candidate, decide, record the decision, and point at the candidate if it won.

        Order of writes: artifact, decision record, then the pointer (one object, replaced whole),
        so a promoted version always has its artifact and its recorded reason.
        """
        self.save(candidate)
        decision = self.judge(candidate)
        if at is not None:
            if at.tzinfo is None:
                raise DomainError("promotion time must be timezone-aware")
            decision = replace(decision, decided_at=at.isoformat())
        start = f"{self.prefix}decisions/"
        number = sum(1 for _ in self.store.list_keys(start)) + 1
        record_key = f"{start}{number:06d}-{candidate.short_version}.json"
        self.store.put_bytes(record_key, canonical_json(decision.to_wire()))
        if decision.promoted:
            pointer = {
                "version": candidate.version,
                "decision": record_key,
                "decided_at": decision.decided_at,
            }
            self.store.put_bytes(self._pointer_key, canonical_json(pointer))
        return decision

    def decisions(self) -> list[PromotionDecision]:
        """Every recorded decision, oldest first."""
        start = f"{self.prefix}decisions/"
        return [
            PromotionDecision.from_wire(json.loads(self.store.get_bytes(key)))
            for key in sorted(self.store.list_keys(start))
        ]
