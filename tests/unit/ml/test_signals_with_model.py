"""The model in the minute cycle: each signal's confidence is the ensemble of rules and model, with
the numbers in its rationale; rules only (and said so) without a model. No look-ahead: perturbing
every bar and chain sample stamped after t changes no feature, probability or signal at or before t.
"""

from datetime import date
from functools import cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from smart0dte.domain.chain_analytics import PricingInputs
from smart0dte.domain.ensemble import DEFAULT_MODEL_WEIGHT, RULES_ONLY
from smart0dte.domain.marketdata import MarketDay, datetime_to_ns, ns_to_datetime
from smart0dte.domain.models import Signal, Underlying
from smart0dte.domain.simulator import Scenario
from smart0dte.domain.strategy_signals import ProbabilityFn, StrategySignals
from smart0dte.ml.dataset import build_dataset
from smart0dte.ml.model import DirectionModel, ModelParams, train
from smart0dte.ml.sessions import session_dates, simulated_sessions
from tests.unit.session_day import SESSION, perturbed_after, simulate


@cache
def _day() -> tuple[MarketDay, dict[str, float]]:
    return simulate(seed=1, scenario=Scenario.GAP_UP)


@cache
def _model() -> DirectionModel:
    """A small model trained on other simulated sessions, every tree kept so it reacts to its inputs."""
    dataset = build_dataset(simulated_sessions(session_dates(date(2025, 2, 3), date(2025, 2, 5)), seed=5))
    params = ModelParams(trees=15, max_depth=3, learning_rate=0.3, early_stopping_rounds=None)
    return train(dataset.sessions(0, 2), dataset.sessions(2, 3), params, seed=5).model


def _minutes(
    day: MarketDay, prior: dict[str, float], fn: ProbabilityFn | None, until: int = 389
) -> tuple[StrategySignals, list[list[Signal]]]:
    source = StrategySignals(day, SESSION, prior, PricingInputs(), probability_fn=fn)
    log = []
    for ts_ns in day.bars["SPY"].close_ts_ns.tolist()[: until + 1]:
        log.append(source.signals(day.until(ts_ns), ns_to_datetime(ts_ns)))
    return source, log


@cache
def _baseline() -> tuple[StrategySignals, list[list[Signal]]]:
    day, prior = _day()
    return _minutes(day, prior, _model().probability_fn())


def _check_nothing_at_or_before_t_changes(minute: int, seed: int) -> None:
    day, prior = _day()
    baseline, baseline_log = _baseline()
    t_ns = int(day.bars["SPY"].close_ts_ns[minute])
    model = _model()

    perturbed, log = _minutes(perturbed_after(day, t_ns, seed), prior, model.probability_fn(), until=minute)

    assert log == baseline_log[: minute + 1]
    for u in Underlying.tradable():
        before, after = baseline.features[u], perturbed.features[u]
        np.testing.assert_array_equal(after[: minute + 1], before[: minute + 1])
        np.testing.assert_array_equal(
            model.probability_up(after[: minute + 1]), model.probability_up(before[: minute + 1])
        )
        if minute < 389:  # the perturbation did reach the model's later inputs and outputs
            assert not np.array_equal(after[minute + 1 :], before[minute + 1 :], equal_nan=True)


@settings(max_examples=6, deadline=None)
@given(minute=st.integers(0, 389), seed=st.integers(0, 2**32 - 1))
def test_perturbing_data_after_t_changes_no_feature_probability_or_signal_at_t(
    minute: int, seed: int
) -> None:
    _check_nothing_at_or_before_t_changes(minute, seed)


def test_signals_with_the_model_survive_a_perturbation_of_everything_after_them() -> None:
    _, log = _baseline()
    signal_minutes = [m for m, signals in enumerate(log) if signals]
    assert len(signal_minutes) >= 2
    for minute in signal_minutes:
        _check_nothing_at_or_before_t_changes(minute, seed=minute)


def test_the_model_sets_each_signals_confidence_and_explains_it() -> None:
    day, prior = _day()
    _, with_model = _baseline()
    _, rules_only = _minutes(day, prior, None)
    model = _model()

    features = StrategySignals(day, SESSION, prior, PricingInputs()).features
    assert len(np.unique(model.probability_up(features[Underlying.SPY]))) > 10  # the model does react
    assert all(len(ms) == len(rs) for ms, rs in zip(with_model, rules_only, strict=True))
    pairs = [
        (m, r) for ms, rs in zip(with_model, rules_only, strict=True) for m, r in zip(ms, rs, strict=True)
    ]
    assert pairs
    w = DEFAULT_MODEL_WEIGHT
    for mine, rules in pairs:
        close_ts_ns = day.bars[mine.underlying.value].close_ts_ns
        minute = int(np.flatnonzero(close_ts_ns == datetime_to_ns(mine.ts))[0])
        p_up = float(model.probability_up(features[mine.underlying][minute])[0])
        agree = p_up if mine.direction.name == "CALL" else 1 - p_up
        assert mine.signal_id == rules.signal_id
        assert abs(mine.confidence - ((1 - w) * rules.confidence + w * agree)) < 1e-12
        assert "model p_up" in mine.rationale and RULES_ONLY not in mine.rationale
        assert rules.rationale.endswith(RULES_ONLY)
        assert mine.rationale.startswith(rules.rationale[: -len(RULES_ONLY) - 2])


def test_a_failing_model_leaves_the_rules_trading_and_says_why() -> None:
    day, prior = _day()

    def broken(_u: Underlying, _row: np.ndarray) -> float:
        raise RuntimeError("artifact unreadable")

    _, rules_only = _minutes(day, prior, None)
    _, failing = _minutes(day, prior, broken)

    signals = [s for minute in failing for s in minute]
    assert signals
    assert [s.confidence for s in signals] == [s.confidence for minute in rules_only for s in minute]
    assert all(
        s.rationale.endswith("model failed (RuntimeError: artifact unreadable): rules only") for s in signals
    )
