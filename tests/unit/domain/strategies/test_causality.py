"""No look-ahead: perturbing every bar and chain sample stamped after t (all symbols, VIX included)
changes no feature row, regime or signal at or before t."""

from functools import cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from smart0dte.domain.marketdata import F64, MarketDay
from smart0dte.domain.models import Underlying
from smart0dte.domain.simulator import Scenario
from tests.unit.session_day import features_by_underlying, perturbed_after, replay, simulate


@cache
def _day() -> tuple[MarketDay, dict[str, float]]:
    return simulate(seed=1, scenario=Scenario.GAP_UP)


def _decisions_until(
    day: MarketDay, prior: dict[str, float], features: dict[Underlying, F64], until_ns: int
) -> list[tuple[str, ...]]:
    """Every minute's regimes and signals (as JSON) up to until_ns."""
    return [
        tuple(f"{u.value}:{r.regime.value}:{r.reason}" for u, r in decisions.regimes.items())
        + tuple(s.model_dump_json() for s in decisions.signals)
        for decisions in replay(day, prior, features, until_ns)
    ]


@cache
def _baseline() -> tuple[dict[Underlying, F64], list[tuple[str, ...]]]:
    day, prior = _day()
    features = features_by_underlying(day, prior)
    return features, _decisions_until(day, prior, features, int(day.bars["SPY"].close_ts_ns[-1]))


def _check_nothing_at_or_before_t_changes(minute: int, seed: int) -> None:
    day, prior = _day()
    baseline_features, baseline_log = _baseline()
    t_ns = int(day.bars["SPY"].close_ts_ns[minute])
    perturbed = perturbed_after(day, t_ns, seed)

    features = features_by_underlying(perturbed, prior)
    log = _decisions_until(perturbed, prior, features, t_ns)

    for underlying, rows in features.items():
        np.testing.assert_array_equal(rows[: minute + 1], baseline_features[underlying][: minute + 1])
        if minute + 1 < rows.shape[0]:  # the perturbation did reach the later rows
            assert not np.array_equal(
                rows[minute + 1 :], baseline_features[underlying][minute + 1 :], equal_nan=True
            )
    assert log == baseline_log[: minute + 1]


@settings(max_examples=12, deadline=None)
@given(minute=st.integers(0, 389), seed=st.integers(0, 2**32 - 1))
def test_perturbing_data_after_t_changes_nothing_at_t(minute: int, seed: int) -> None:
    _check_nothing_at_or_before_t_changes(minute, seed)


def test_signals_survive_a_perturbation_of_everything_after_them() -> None:
    _, log = _baseline()
    signal_minutes = [m for m, entry in enumerate(log) if any(e.startswith("{") for e in entry)]
    assert len(signal_minutes) >= 2
    for minute in signal_minutes:
        _check_nothing_at_or_before_t_changes(minute, seed=minute)
