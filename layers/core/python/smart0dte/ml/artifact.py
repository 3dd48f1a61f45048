"""A trained direction model as one self-describing, content-addressed blob.

The bytes are canonical JSON (sorted keys, no spaces, no NaN)::

    {"format": "smart0dte.direction-model", "format_version": 1,
     "feature_names": [...], "horizon_minutes": 15,
     "calibration": {"method": "platt", "slope": ..., "intercept": ...},
     "booster": {"encoding": "xgboost-json+base64", "data": "..."},
     "metadata": {... data range, training windows, walk-forward metrics, params, versions ...},
     "content_hash": "<sha256 of the same object without content_hash>"}

The same model, data and seed give the same bytes: nothing in them depends on the clock or the
machine (the time a model was saved or promoted lives in the registry's records instead). Reading
checks the hash, so a truncated or edited artifact is refused rather than traded on. The booster is
xgboost's own JSON, loadable with `xgboost.Booster(model_file=bytearray(...))` for inspection.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smart0dte.domain.models import DomainError
from smart0dte.ml.dataset import check_horizon
from smart0dte.ml.forest import Forest, ModelFormatError
from smart0dte.ml.model import DirectionModel, PlattCalibration, feature_columns

FORMAT = "smart0dte.direction-model"
FORMAT_VERSION = 1
BOOSTER_ENCODING = "xgboost-json+base64"


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8; NaN and infinity are refused (JSON has neither)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def json_ready(value: Any) -> Any:
    """`value` with NaN/inf floats as None and tuples as lists, so canonical_json accepts it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


@dataclass(frozen=True, eq=False)
class ModelArtifact:
    """A model and what is known about it; `content_hash` (sha256 hex) is also its version."""

    feature_names: tuple[str, ...]
    horizon_minutes: int
    calibration: PlattCalibration
    booster_json: bytes
    metadata: Mapping[str, Any]
    content_hash: str

    @classmethod
    def create(
        cls,
        feature_names: tuple[str, ...],
        horizon_minutes: int,
        calibration: PlattCalibration,
        booster_json: bytes,
        metadata: Mapping[str, Any],
    ) -> ModelArtifact:
        """A new artifact; the hash is computed here. The booster is checked readable first."""
        feature_columns(feature_names)
        check_horizon(horizon_minutes)
        Forest.from_xgboost_json(booster_json)
        ready = json_ready(metadata)
        body = _body(feature_names, horizon_minutes, calibration, booster_json, ready)
        return cls(
            feature_names, horizon_minutes, calibration, booster_json, ready, _sha256(canonical_json(body))
        )

    @property
    def version(self) -> str:
        return self.content_hash

    @property
    def short_version(self) -> str:
        return self.content_hash[:12]

    def to_bytes(self) -> bytes:
        body = _body(
            self.feature_names, self.horizon_minutes, self.calibration, self.booster_json, self.metadata
        )
        return canonical_json({**body, "content_hash": self.content_hash})

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelArtifact:
        """The artifact in `data`, after checking its format and its content hash."""
        try:
            wire = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFormatError(f"model artifact is not JSON: {exc}") from None
        if not isinstance(wire, dict) or wire.get("format") != FORMAT:
            raise ModelFormatError(f"not a {FORMAT} artifact")
        if wire.get("format_version") != FORMAT_VERSION:
            raise ModelFormatError(
                f"artifact format_version={wire.get('format_version')!r}; this code reads {FORMAT_VERSION}"
            )
        stated = wire.pop("content_hash", None)
        actual = _sha256(canonical_json(wire))
        if stated != actual:
            raise ModelFormatError(f"artifact content hash {stated!r} does not match its content ({actual})")
        try:
            booster = wire["booster"]
            if booster["encoding"] != BOOSTER_ENCODING:
                raise ModelFormatError(
                    f"booster encoding {booster['encoding']!r}; expected {BOOSTER_ENCODING}"
                )
            calibration = wire["calibration"]
            if calibration["method"] != "platt":
                raise ModelFormatError(f"calibration method {calibration['method']!r}; expected 'platt'")
            artifact = cls(
                feature_names=tuple(str(n) for n in wire["feature_names"]),
                horizon_minutes=int(wire["horizon_minutes"]),
                calibration=PlattCalibration(float(calibration["slope"]), float(calibration["intercept"])),
                booster_json=base64.b64decode(booster["data"], validate=True),
                metadata=wire["metadata"],
                content_hash=actual,
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            if isinstance(exc, DomainError):
                raise
            raise ModelFormatError(f"model artifact is incomplete: {exc!r}") from None
        return artifact

    def model(self) -> DirectionModel:
        """The model ready to score feature rows."""
        return DirectionModel(
            Forest.from_xgboost_json(self.booster_json),
            self.calibration,
            self.feature_names,
            self.horizon_minutes,
            self.content_hash,
        )


def _body(
    feature_names: tuple[str, ...],
    horizon_minutes: int,
    calibration: PlattCalibration,
    booster_json: bytes,
    metadata: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "feature_names": list(feature_names),
        "horizon_minutes": horizon_minutes,
        "calibration": calibration.to_wire(),
        "booster": {"encoding": BOOSTER_ENCODING, "data": base64.b64encode(booster_json).decode("ascii")},
        "metadata": metadata,
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
