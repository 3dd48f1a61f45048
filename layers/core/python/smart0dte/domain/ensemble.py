"""The final confidence of a signal: the rule strategies' confidence combined with the model's view.

The model (`ml.model.DirectionModel`) gives a calibrated probability `p_up` that the underlying
closes higher `horizon` minutes later. A CALL is right when it does, a PUT when it does not, so the
model's *agreeing probability* is `p_up` for a CALL and `1 - p_up` for a PUT. The final confidence is
a weighted vote of the two::

    confidence = (1 - weight) * rule_confidence + weight * agreeing_probability

- monotone: never lower when the rules are more confident or the model agrees more;
- bounded: inside [0, 1] whenever both inputs are;
- `weight = 0` is rules only, `weight = 1` the model only.

A model that knows nothing (p_up = 0.5) pulls a rule confidence towards 0.5, so the settings'
minimum confidence (`risk.RiskRule.MIN_CONFIDENCE`) then asks more of the rules: that filter is
the risk engine's, not repeated here. With no promoted model the confidence is the rules' own and
the explanation says so.
"""

from __future__ import annotations

import math

from smart0dte.domain.models import Direction, DomainError, OptionRight

DEFAULT_MODEL_WEIGHT = 0.3
"""Share of the final confidence given to the model's agreeing probability."""
RULES_ONLY = "no promoted model: rules only"


def _check_unit(name: str, value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise DomainError(f"{name}={value} must be a number within 0..1")


def check_weight(weight: float) -> float:
    """`weight` if it is a valid model weight (within 0..1), else a DomainError naming it."""
    _check_unit("model_weight", weight)
    return weight


def agreeing_probability(model_probability_up: float, direction: Direction) -> float:
    """The model's probability that a signal of `direction` is right."""
    return model_probability_up if direction is OptionRight.CALL else 1.0 - model_probability_up


def combine(
    rule_confidence: float,
    model_probability_up: float | None,
    direction: Direction,
    weight: float = DEFAULT_MODEL_WEIGHT,
) -> tuple[float, str]:
    """The final confidence and a one-line explanation with every number used.

    `model_probability_up` None means no model is promoted: the rule confidence stands.
    """
    _check_unit("rule_confidence", rule_confidence)
    check_weight(weight)
    if model_probability_up is None:
        return rule_confidence, RULES_ONLY
    _check_unit("model_probability_up", model_probability_up)
    agree = agreeing_probability(model_probability_up, direction)
    value = min(1.0, max(0.0, (1.0 - weight) * rule_confidence + weight * agree))
    side = "supports" if agree > 0.5 else "opposes" if agree < 0.5 else "is neutral on"
    return value, (
        f"model p_up {model_probability_up:.3f} {side} {direction.name} ({agree:.3f}); "
        f"final confidence {value:.3f} = {1.0 - weight:g} x {rule_confidence:.3f} rules "
        f"+ {weight:g} x {agree:.3f} model"
    )
