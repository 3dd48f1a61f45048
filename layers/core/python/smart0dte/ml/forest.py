"""The trees of an XGBoost `binary:logistic` booster, evaluated with numpy alone.

Why not `xgboost.Booster.predict`: one feature row through xgboost costs about 0.4 ms of call
overhead, and the minute cycle asks for three; walking the trees here costs a few tens of
microseconds. It also keeps xgboost (a large native library) out of the signals function: only
training needs it.

The walk follows xgboost's own rules, so the margins agree with `predict(output_margin=True)` to
float32 rounding: a feature value is compared as float32 with the node's float32 split
(`value < split` goes left), a missing value (NaN) takes the node's default branch, and the margin
is the base score's logit plus the sum of the leaves reached. Leaves point to themselves, so every
tree is walked `depth` steps without asking whether it has already arrived.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from smart0dte.domain.marketdata import F64
from smart0dte.domain.models import DomainError

I32 = npt.NDArray[np.int32]
F32 = npt.NDArray[np.float32]
_CHUNK_CELLS = 1 << 20
"""Rows x trees walked at once when scoring many rows (bounds the temporaries' memory)."""


class ModelFormatError(DomainError):
    """A serialized model is not one this code can read; the message says what is wrong."""


@dataclass(frozen=True, eq=False)
class Forest:
    """Every tree's nodes in flat arrays; `roots[k]` is tree k's first node."""

    feature: I32
    split: F32
    default_left: npt.NDArray[np.bool_]
    left: I32
    right: I32
    leaf_value: F64
    roots: I32
    depth: int
    base_margin: float
    n_features: int

    @property
    def trees(self) -> int:
        return int(self.roots.shape[0])

    @classmethod
    def from_xgboost_json(cls, raw: bytes) -> Forest:
        """The forest of a booster saved with `save_raw("json")` (xgboost 2 or 3)."""
        try:
            learner = json.loads(raw)["learner"]
            objective = learner["objective"]["name"]
            booster = learner["gradient_booster"]
            param = learner["learner_model_param"]
            base_score = float(str(param["base_score"]).strip("[]"))
            n_features = int(param["num_feature"])
            trees: list[dict[str, Any]] = booster["model"]["trees"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"not an xgboost JSON model: {exc!r}") from None
        if objective != "binary:logistic" or booster.get("name") != "gbtree":
            raise ModelFormatError(
                f"model is {booster.get('name')} {objective}; expected gbtree binary:logistic"
            )
        if not 0.0 < base_score < 1.0:
            raise ModelFormatError(f"base_score={base_score} must be a probability within (0, 1)")
        if int(param.get("num_class", "0")) > 1 or int(param.get("num_target", "1")) != 1:
            raise ModelFormatError("model has several outputs; expected one (probability of an up move)")
        return cls._pack(trees, math.log(base_score / (1.0 - base_score)), n_features)

    @classmethod
    def _pack(cls, trees: list[dict[str, Any]], base_margin: float, n_features: int) -> Forest:
        features, splits, defaults, lefts, rights, leaves, roots = [], [], [], [], [], [], []
        depth, offset = 0, 0
        for number, tree in enumerate(trees):
            left = np.asarray(tree["left_children"], dtype=np.int64)
            right = np.asarray(tree["right_children"], dtype=np.int64)
            nodes = left.shape[0]
            if any(int(t) != 0 for t in tree.get("split_type", [])):
                raise ModelFormatError(f"tree {number} has categorical splits; only numeric ones are read")
            feature = np.asarray(tree["split_indices"], dtype=np.int64)
            is_leaf = left < 0
            if nodes == 0 or np.any(feature[~is_leaf] >= n_features) or np.any(right[~is_leaf] < 0):
                raise ModelFormatError(f"tree {number} is malformed")
            own = np.arange(nodes)
            lefts.append(np.where(is_leaf, own, left) + offset)
            rights.append(np.where(is_leaf, own, right) + offset)
            features.append(np.where(is_leaf, 0, feature))
            condition = np.asarray(tree["split_conditions"], dtype=np.float64)
            splits.append(np.where(is_leaf, 0.0, condition))
            leaves.append(np.where(is_leaf, condition, 0.0))
            defaults.append(np.asarray(tree["default_left"], dtype=np.bool_))
            roots.append(offset)
            depth = max(depth, _depth(left, right))
            offset += nodes
        if not roots:
            raise ModelFormatError("model has no trees")
        return cls(
            feature=np.concatenate(features).astype(np.int32),
            split=np.concatenate(splits).astype(np.float32),
            default_left=np.concatenate(defaults),
            left=np.concatenate(lefts).astype(np.int32),
            right=np.concatenate(rights).astype(np.int32),
            leaf_value=np.concatenate(leaves).astype(np.float32).astype(np.float64),
            roots=np.asarray(roots, dtype=np.int32),
            depth=depth,
            base_margin=base_margin,
            n_features=n_features,
        )

    def margin(self, x: F64) -> F64:
        """Log-odds of an up move for each row of x (shape (rows, n_features); NaN = missing)."""
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise DomainError(f"feature rows have shape {x.shape}; the model reads (rows, {self.n_features})")
        values = np.where(np.isfinite(x), x, np.nan).astype(np.float32)
        if values.shape[0] == 1:
            return np.array([self._one(values[0])])
        out = np.empty(values.shape[0])
        step = max(1, _CHUNK_CELLS // self.trees)
        for first in range(0, values.shape[0], step):
            out[first : first + step] = self._many(values[first : first + step])
        return out

    def _one(self, row: F32) -> float:
        node = self.roots
        for _ in range(self.depth):
            value = row[self.feature[node]]
            go_left = np.where(np.isnan(value), self.default_left[node], value < self.split[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return self.base_margin + float(self.leaf_value[node].sum())

    def _many(self, values: F32) -> F64:
        node = np.broadcast_to(self.roots, (values.shape[0], self.trees))
        rows = np.arange(values.shape[0])[:, None]
        for _ in range(self.depth):
            value = values[rows, self.feature[node]]
            go_left = np.where(np.isnan(value), self.default_left[node], value < self.split[node])
            node = np.where(go_left, self.left[node], self.right[node])
        margin: F64 = self.base_margin + self.leaf_value[node].sum(axis=1)
        return margin


def _depth(left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]) -> int:
    """Edges on the longest root-to-leaf path (0 for a lone leaf)."""
    depth, level, seen = 0, np.array([0]), 0
    while True:
        inner = level[left[level] >= 0]
        if inner.size == 0:
            return depth
        seen += inner.size
        if seen > left.shape[0]:
            raise ModelFormatError("tree has a cycle")
        level = np.concatenate((left[inner], right[inner]))
        depth += 1
