"""No look-ahead: perturbing every bar and chain sample stamped after t (all symbols, VIX included)
changes no feature row, regime or signal at or before t."""

from datetime import date
from functools import cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from smart0dte.domain.calendar import MarketCalendar, SessionTimes
from smart0dte.domain.features import FeatureSource, day_features
from smart0dte.domain.marketdata import F64, BarSeries, ChainSeries, MarketDay
from smart0dte.domain.models import Underlying
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.domain.strategies import StateKey, run_strategies
from smart0dte.domain.strategies.base import MarketHistory, StrategyState

SESSION_DATE = date(2025, 3, 14)
CALENDAR = MarketCalendar()


def _session() -> SessionTimes:
    session = MarketCalendar().session(SESSION_DATE)
    assert session is not None
    return session


SESSION = _session()


@cache
def _day() -> tuple[MarketDay, dict[str, float]]:
    simulated = MarketSimulator(calendar=CALENDAR).day(SESSION_DATE, seed=1, scenario=Scenario.GAP_UP)
    return simulated.market_day, {u.value: level for u, level in simulated.previous.close_usd.items()}


def _features(day: MarketDay, prior: dict[str, float]) -> dict[Underlying, F64]:
    return {u: day_features(FeatureSource.from_day(day, u, SESSION, prior)) for u in Underlying.tradable()}


def _decisions_until(
    day: MarketDay, prior: dict[str, float], features: dict[Underlying, F64], until_ns: int
) -> list[tuple[str, ...]]:
    """Every minute's regimes and signals (as JSON) up to until_ns."""
    states: dict[StateKey, StrategyState] = {}
    log = []
    for ts_ns in day.bars["SPY"].close_ts_ns.tolist():
        if ts_ns > until_ns:
            break
        decisions = run_strategies(MarketHistory.from_day(day, ts_ns, SESSION, prior, features), states)
        states = dict(decisions.states)
        log.append(
            tuple(f"{u.value}:{r.regime.value}:{r.reason}" for u, r in decisions.regimes.items())
            + tuple(s.model_dump_json() for s in decisions.signals)
        )
    return log


@cache
def _baseline() -> tuple[dict[Underlying, F64], list[tuple[str, ...]]]:
    day, prior = _day()
    features = _features(day, prior)
    return features, _decisions_until(day, prior, features, int(day.bars["SPY"].close_ts_ns[-1]))


def _perturbed_after(day: MarketDay, t_ns: int, seed: int) -> MarketDay:
    """Every bar closing after t_ns and every chain row sampled after t_ns, randomly changed."""
    rng = np.random.default_rng(seed)

    def bars(b: BarSeries) -> BarSeries:
        factor = np.ones(len(b))
        later = slice(b.closed_by(t_ns), None)
        factor[later] = np.exp(rng.normal(0.0, 0.01, len(b) - b.closed_by(t_ns)))
        volume = b.volume.copy()
        volume[later] = rng.integers(0, 10 * int(b.volume.max()) + 10, volume[later].shape[0])
        return BarSeries(
            b.symbol, b.open_ts_ns, b.open * factor, b.high * factor, b.low * factor, b.close * factor, volume
        )

    def chain(c: ChainSeries) -> ChainSeries:
        factor = np.ones((len(c), 1))
        later = slice(c.sampled_by(t_ns), None)
        factor[later] = np.exp(rng.normal(0.0, 0.3, (len(c) - c.sampled_by(t_ns), 1)))
        return ChainSeries(
            c.underlying,
            c.expiry,
            c.contracts,
            c.sample_ts_ns,
            c.bid * factor,
            c.ask * factor,
            c.bid_size,
            c.ask_size,
        )

    return MarketDay(
        day.session_date,
        {s: bars(b) for s, b in day.bars.items()},
        {u: chain(c) for u, c in day.chains.items()},
        day.synthetic,
    )


def _check_nothing_at_or_before_t_changes(minute: int, seed: int) -> None:
    day, prior = _day()
    baseline_features, baseline_log = _baseline()
    t_ns = int(day.bars["SPY"].close_ts_ns[minute])
    perturbed = _perturbed_after(day, t_ns, seed)

    features = _features(perturbed, prior)
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
