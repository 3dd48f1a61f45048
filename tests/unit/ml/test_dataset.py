"""Training examples: labels from later bars of the same session, causal features, nothing across
the session's end."""

from functools import cache

import numpy as np
import pytest

from smart0dte.domain.features import FEATURE_NAMES, Feature, FeatureSource, day_features
from smart0dte.domain.marketdata import NS_PER_MINUTE, BarSeries, MarketDay
from smart0dte.domain.models import DomainError, Underlying
from smart0dte.domain.regime import Regime, classify
from smart0dte.domain.simulator import Scenario
from smart0dte.ml.dataset import (
    LEVEL_FEATURES,
    MODEL_FEATURES,
    REGIMES,
    SessionData,
    build_dataset,
    direction_labels,
    session_examples,
)
from tests.unit.session_day import CLOSE_NS, OPEN_NS, SESSION, SESSION_DATE, scaled, simulate


def _bars(closes: list[float], minutes: list[int] | None = None) -> BarSeries:
    close = np.array(closes, dtype=np.float64)
    at = np.array(minutes if minutes is not None else range(len(closes)), dtype=np.int64)
    return BarSeries(
        "SPY", OPEN_NS + at * NS_PER_MINUTE, close, close, close, close, np.ones(len(close), np.int64)
    )


@cache
def _simulated() -> SessionData:
    day, prior = simulate(seed=3, scenario=Scenario.TREND_UP)
    return SessionData(day, SESSION, prior)


def test_a_label_compares_the_close_horizon_minutes_later_with_this_close() -> None:
    bars = _bars([100.0, 101.0, 100.5, 100.0, 102.0])

    rows, forward_bps = direction_labels(bars, CLOSE_NS, horizon_minutes=2)

    assert rows.tolist() == [0, 1, 2]  # rows 3 and 4 have no bar two minutes later
    np.testing.assert_allclose(
        forward_bps, [(100.5 / 100 - 1) * 1e4, (100 / 101 - 1) * 1e4, (102 / 100.5 - 1) * 1e4]
    )


def test_rows_without_a_bar_exactly_horizon_minutes_later_are_dropped() -> None:
    # Bars at minutes 0, 1, 2, 4 (minute 3 missing): row 1 would need minute 3, row 3 minute 6.
    bars = _bars([100.0, 101.0, 99.0, 98.0], minutes=[0, 1, 2, 4])

    rows, _ = direction_labels(bars, CLOSE_NS, horizon_minutes=2)

    assert rows.tolist() == [0, 2]


def test_no_label_crosses_the_session_close() -> None:
    minutes = list(range(385, 390))  # the session's last five bars
    bars = _bars([100.0, 101.0, 102.0, 103.0, 104.0], minutes=minutes)
    beyond = BarSeries(
        "SPY",
        OPEN_NS + np.arange(385, 395, dtype=np.int64) * NS_PER_MINUTE,
        np.linspace(100, 110, 10),
        np.linspace(100, 110, 10),
        np.linspace(100, 110, 10),
        np.linspace(100, 110, 10),
        np.ones(10, np.int64),
    )

    rows, _ = direction_labels(bars, CLOSE_NS, horizon_minutes=3)
    rows_beyond, _ = direction_labels(beyond, CLOSE_NS, horizon_minutes=3)

    assert rows.tolist() == [0, 1]
    assert rows_beyond.tolist() == [0, 1]  # bars after the close (extended hours) never label a row


def test_unmoved_closes_are_no_direction_and_are_dropped() -> None:
    rows, _ = direction_labels(_bars([100.0, 100.0, 101.0]), CLOSE_NS, horizon_minutes=1)

    assert rows.tolist() == [1]


def test_the_horizon_is_checked() -> None:
    with pytest.raises(DomainError, match="horizon_minutes=0"):
        direction_labels(_bars([1.0, 2.0]), CLOSE_NS, horizon_minutes=0)


def test_a_simulated_session_gives_every_bar_but_the_last_horizon_one_example() -> None:
    data = _simulated()

    dataset = build_dataset([data], horizon_minutes=15)

    per_underlying = np.bincount(dataset.underlying, minlength=3)
    assert per_underlying.min() >= 370 and per_underlying.max() <= 390 - 15
    assert dataset.session_dates == (SESSION_DATE,)
    assert dataset.ts_ns.max() <= CLOSE_NS - 15 * NS_PER_MINUTE
    assert dataset.label_up.tolist() == (dataset.forward_return_bps > 0).tolist()
    assert np.all(dataset.forward_return_bps != 0)


def test_examples_carry_the_causal_feature_row_of_their_bar_and_its_regime() -> None:
    data = _simulated()
    features, _, ts_ns, rows = session_examples(data, Underlying.QQQ)
    source = FeatureSource.from_day(data.day, Underlying.QQQ, SESSION, data.prior_close)

    np.testing.assert_array_equal(features, day_features(source)[rows])
    np.testing.assert_array_equal(ts_ns, source.bars.close_ts_ns[rows])
    dataset = build_dataset([data])
    qqq = dataset.underlying == 1
    assert [REGIMES[k] for k in dataset.regime[qqq]] == [classify(r).regime for r in features]


def _perturbed_after(day: MarketDay, t_ns: int, seed: int) -> MarketDay:
    rng = np.random.default_rng(seed)

    def bars(b: BarSeries) -> BarSeries:
        factor = np.ones(len(b))
        later = slice(b.closed_by(t_ns), None)
        factor[later] = np.exp(rng.normal(0.0, 0.01, len(b) - b.closed_by(t_ns)))
        return scaled(b, factor)

    return MarketDay(day.session_date, {s: bars(b) for s, b in day.bars.items()}, day.chains, day.synthetic)


@pytest.mark.parametrize("minute", [0, 45, 200, 374])
def test_data_after_t_changes_no_feature_at_or_before_t(minute: int) -> None:
    data = _simulated()
    t_ns = int(data.day.bars["SPY"].close_ts_ns[minute])
    perturbed = SessionData(_perturbed_after(data.day, t_ns, seed=minute), SESSION, data.prior_close)

    before = build_dataset([data])
    after = build_dataset([perturbed])

    known = before.ts_ns <= t_ns
    assert known.sum() > 0
    assert np.array_equal(after.ts_ns[after.ts_ns <= t_ns], before.ts_ns[known])
    np.testing.assert_array_equal(after.features[after.ts_ns <= t_ns], before.features[known])
    # Labels may look ahead (that is what they are); only those whose horizon ended by t are fixed.
    settled = before.ts_ns + 15 * NS_PER_MINUTE <= t_ns
    np.testing.assert_array_equal(
        after.label_up[after.ts_ns + 15 * NS_PER_MINUTE <= t_ns], before.label_up[settled]
    )


def test_sessions_must_come_in_time_order() -> None:
    data = _simulated()
    with pytest.raises(DomainError, match="time order"):
        build_dataset([data, data])


def test_the_model_reads_every_feature_but_the_price_levels() -> None:
    assert set(FEATURE_NAMES) - set(MODEL_FEATURES) == {f.name.lower() for f in LEVEL_FEATURES}
    assert Feature.VWAP in LEVEL_FEATURES and "vwap_dist_bps" in MODEL_FEATURES
    assert len(REGIMES) == len(Regime)
