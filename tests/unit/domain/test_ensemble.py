"""The ensemble of rule confidence and model probability: bounded, monotone, rules-only without a model."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smart0dte.domain.ensemble import RULES_ONLY, agreeing_probability, combine
from smart0dte.domain.models import Direction, DomainError

unit = st.floats(0.0, 1.0)
directions = st.sampled_from(list(Direction))


def test_without_a_model_the_rule_confidence_stands_and_says_so() -> None:
    assert combine(0.83, None, Direction.CALL) == (0.83, RULES_ONLY)
    assert RULES_ONLY == "no promoted model: rules only"


def test_a_call_is_supported_by_p_up_and_a_put_by_its_complement() -> None:
    call, call_note = combine(0.8, 0.7, Direction.CALL, weight=0.5)
    put, put_note = combine(0.8, 0.7, Direction.PUT, weight=0.5)

    assert call == pytest.approx(0.5 * 0.8 + 0.5 * 0.7)
    assert put == pytest.approx(0.5 * 0.8 + 0.5 * 0.3)
    assert "supports CALL" in call_note and "opposes PUT" in put_note
    assert "0.750 = 0.5 x 0.800 rules + 0.5 x 0.700 model" in call_note


@given(rule=unit, p_up=unit, direction=directions, weight=unit)
def test_the_final_confidence_lies_between_its_two_inputs(
    rule: float, p_up: float, direction: Direction, weight: float
) -> None:
    value, _ = combine(rule, p_up, direction, weight)
    agree = agreeing_probability(p_up, direction)

    assert 0.0 <= value <= 1.0
    assert min(rule, agree) - 1e-12 <= value <= max(rule, agree) + 1e-12


@given(rule=unit, more=unit, p_up=unit, p_more=unit, direction=directions, weight=unit)
def test_more_rule_confidence_or_more_agreement_never_lowers_the_confidence(
    rule: float, more: float, p_up: float, p_more: float, direction: Direction, weight: float
) -> None:
    low_rule, high_rule = sorted((rule, more))
    low_agree, high_agree = sorted((p_up, p_more))

    def to_p_up(agree: float) -> float:
        return agree if direction is Direction.CALL else 1.0 - agree

    base, _ = combine(low_rule, to_p_up(low_agree), direction, weight)
    assert combine(high_rule, to_p_up(low_agree), direction, weight)[0] >= base
    assert combine(low_rule, to_p_up(high_agree), direction, weight)[0] >= base


def test_weight_zero_is_rules_only_and_weight_one_is_the_model_only() -> None:
    assert combine(0.9, 0.2, Direction.CALL, weight=0.0)[0] == pytest.approx(0.9)
    assert combine(0.9, 0.2, Direction.CALL, weight=1.0)[0] == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("rule", "p_up", "weight", "field"),
    [
        (1.2, 0.5, 0.3, "rule_confidence"),
        (0.8, float("nan"), 0.3, "model_probability_up"),
        (0.8, -0.1, 0.3, "model_probability_up"),
        (0.8, 0.5, 1.5, "model_weight"),
    ],
)
def test_out_of_range_inputs_are_refused_by_name(rule: float, p_up: float, weight: float, field: str) -> None:
    with pytest.raises(DomainError, match=field):
        combine(rule, p_up, Direction.CALL, weight)
