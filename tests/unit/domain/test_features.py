import dataclasses
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart0dte.domain.features import (
    FEATURE_NAMES,
    N_FEATURES,
    Feature,
    FeatureParams,
    FeatureSource,
    day_features,
    latest_features,
)
from smart0dte.domain.marketdata import NS_PER_MINUTE, BarSeries, MarketDay
from smart0dte.domain.models import DomainError, Underlying
from smart0dte.domain.pricing import bsm_price, t_years_from_minutes
from smart0dte.domain.simulator import Scenario
from tests.unit.session_day import (
    CLOSE_NS,
    OPEN_NS,
    SESSION,
    flat_vol_chain,
    minute_bars,
    simulate,
)


def _source(bars: BarSeries, **kwargs: object) -> FeatureSource:
    return FeatureSource(bars, OPEN_NS, CLOSE_NS, **kwargs)  # type: ignore[arg-type]


@cache
def _simulated(scenario: Scenario = Scenario.NORMAL, seed: int = 3) -> tuple[MarketDay, dict[str, float]]:
    return simulate(seed, scenario)


def _simulated_source(underlying: Underlying = Underlying.SPY, until_ns: int | None = None) -> FeatureSource:
    day, prior = _simulated()
    known = day if until_ns is None else day.until(until_ns)
    return FeatureSource.from_day(known, underlying, SESSION, prior)


def test_there_are_at_least_40_named_features_in_column_order() -> None:
    assert len(FEATURE_NAMES) == N_FEATURES >= 40
    assert len(set(FEATURE_NAMES)) == N_FEATURES
    assert [f.value for f in Feature] == list(range(N_FEATURES))
    assert FEATURE_NAMES[Feature.VWAP_DIST_ATR] == "vwap_dist_atr"


def test_returns_rsi_and_atr_follow_their_definitions() -> None:
    close = 100.0 + np.arange(70, dtype=np.float64)  # +1 every bar
    rows = day_features(_source(minute_bars(close, spread=0.5)))

    assert rows[69, Feature.RET_1M_BPS] == pytest.approx((169 / 168 - 1) * 1e4)
    assert rows[69, Feature.RET_60M_BPS] == pytest.approx((169 / 109 - 1) * 1e4)
    assert np.isnan(rows[59, Feature.RET_60M_BPS])
    assert rows[69, Feature.RSI_14] == 100.0  # only gains
    # Each bar spans prev close - 0.5 .. close + 0.5: a true range of 2.
    assert np.isnan(rows[12, Feature.ATR_14])
    assert rows[20, Feature.ATR_14] == pytest.approx(2.0)
    assert rows[20, Feature.TR_ATR] == pytest.approx(1.0)


def test_flat_prices_give_neutral_rsi_and_no_directional_movement() -> None:
    rows = day_features(_source(minute_bars(np.full(40, 50.0), spread=0.0)))
    assert rows[39, Feature.RSI_14] == 50.0
    assert rows[39, Feature.PLUS_DI_14] == rows[39, Feature.MINUS_DI_14] == 0.0
    assert rows[39, Feature.ADX_14] == 0.0
    assert np.isnan(rows[39, Feature.BB_Z_20])  # no dispersion: no position within the bands


def test_warm_up_is_nan_until_each_window_is_full() -> None:
    rows = day_features(_source(minute_bars(100 + np.sin(np.arange(60.0)))))
    first_defined = {
        Feature.RET_5M_BPS: 5,
        Feature.RSI_14: 14,
        Feature.ATR_14: 13,
        Feature.BB_Z_20: 19,
        Feature.REALIZED_VOL_30: 30,
        Feature.ADX_14: 27,
        Feature.MACD_BPS: 25,
        Feature.MACD_SIGNAL_BPS: 33,
        Feature.VOLUME_RATIO_20: 20,
    }
    for feature, first in first_defined.items():
        assert np.isnan(rows[:first, feature]).all(), feature.name
        assert not np.isnan(rows[first:, feature]).any(), feature.name


def test_vwap_weights_the_typical_price_by_volume() -> None:
    bars = minute_bars([10.0, 20.0], spread=0.0, volume=[1, 3])
    rows = day_features(_source(bars))
    typical = (bars.high + bars.low + bars.close) / 3
    assert rows[0, Feature.VWAP] == pytest.approx(typical[0])
    assert rows[1, Feature.VWAP] == pytest.approx((typical[0] * 1 + typical[1] * 3) / 4)
    assert rows[1, Feature.VOLUME_RATIO_DAY] == 3.0


def test_opening_range_is_known_only_once_it_has_closed() -> None:
    close = np.concatenate((np.linspace(100, 101, 30), np.full(5, 103.0)))
    rows = day_features(_source(minute_bars(close, spread=0.0)), FeatureParams(opening_range_minutes=30))
    assert np.isnan(rows[28, Feature.OR_HIGH])  # bar 28 closes 29 minutes after the open
    assert rows[29, Feature.OR_HIGH] == 101.0
    assert rows[29, Feature.OR_LOW] == 100.0
    assert rows[34, Feature.OR_POSITION] == pytest.approx(3.0)
    assert rows[34, Feature.OR_BREAK_ATR] > 0


def test_gap_features_measure_the_open_against_the_prior_close() -> None:
    close = [101.0, 100.5, 100.0]  # the first bar opens (and closes) at 101
    rows = day_features(_source(minute_bars(close), prior_close=100.0))
    assert rows[0, Feature.GAP_BPS] == pytest.approx(100.0)
    assert rows[1, Feature.GAP_FILL_FRACTION] == pytest.approx(0.5)
    assert rows[2, Feature.GAP_FILL_FRACTION] == pytest.approx(1.0)
    no_prior = day_features(_source(minute_bars(close)))
    assert np.isnan(no_prior[:, Feature.GAP_BPS]).all()


def test_time_features_count_from_each_bar_close() -> None:
    rows = day_features(_source(minute_bars([100.0, 100.0])))
    assert rows[:, Feature.MINUTES_SINCE_OPEN].tolist() == [1.0, 2.0]
    assert rows[:, Feature.MINUTES_TO_CLOSE].tolist() == [389.0, 388.0]
    assert rows[1, Feature.SESSION_FRACTION] == pytest.approx(2 / 390)


def test_vix_features_use_only_vix_bars_closed_by_the_row_close() -> None:
    spy = minute_bars(np.full(20, 100.0))
    vix_close = 15.0 + np.arange(21, dtype=np.float64)
    vix = minute_bars(vix_close, symbol="VIX", spread=0.0)  # one more bar than SPY: never visible
    rows = day_features(_source(spy, vix=vix, prior_vix_close=14.0))
    assert rows[:, Feature.VIX_LEVEL].tolist() == vix_close[:20].tolist()
    assert rows[19, Feature.VIX_RET_5M_PCT] == pytest.approx((34 / 29 - 1) * 100)
    assert rows[0, Feature.VIX_RET_PRIOR_CLOSE_PCT] == pytest.approx((15 / 14 - 1) * 100)
    late = minute_bars(vix_close[:20], symbol="VIX", spread=0.0, first_open_ns=OPEN_NS + NS_PER_MINUTE)
    shifted = day_features(_source(spy, vix=late))
    assert np.isnan(shifted[0, Feature.VIX_LEVEL])  # the first VIX bar closes a minute after SPY's
    assert shifted[1, Feature.VIX_LEVEL] == 15.0


def test_chain_features_recover_the_vol_the_chain_was_priced_with() -> None:
    bars = minute_bars(np.full(40, 560.0), spread=0.05)
    chain = flat_vol_chain(560.0, 0.25, samples=40, strikes_each_side=5, rate=0.04, div_yield=0.01)
    rows = day_features(_source(bars, chain=chain, rate=0.04, div_yield=0.01))

    assert rows[30, Feature.ATM_IV] == pytest.approx(0.25, abs=1e-6)
    assert rows[30, Feature.PUT_CALL_SKEW] == pytest.approx(0.0, abs=1e-6)
    t_years = np.full(2, t_years_from_minutes(390 - 31))
    call_put = bsm_price(np.full(2, 560.0), np.full(2, 560.0), t_years, 0.04, 0.01, 0.25, [True, False])
    assert rows[30, Feature.STRADDLE_BPS] == pytest.approx(call_put.sum() / 560 * 1e4, rel=1e-9)
    assert rows[30, Feature.EXPECTED_MOVE_ATR] == pytest.approx(call_put.sum() / rows[30, Feature.ATR_14])


def test_a_stale_chain_sample_gives_no_chain_features() -> None:
    bars = minute_bars(np.full(10, 560.0))
    # sampled at bar 0's close only
    chain = flat_vol_chain(560.0, 0.25, samples=1, strikes_each_side=5, rate=0.04, div_yield=0.01)
    rows = day_features(_source(bars, chain=chain), FeatureParams(max_chain_age_s=120))
    assert not np.isnan(rows[2, Feature.ATM_IV])  # 2 minutes old
    assert np.isnan(rows[3, Feature.ATM_IV])  # 3 minutes old


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.floats(-0.004, 0.004), min_size=1, max_size=120),
    volumes=st.lists(st.integers(0, 5000), min_size=120, max_size=120),
    data=st.data(),
)
def test_latest_row_equals_the_day_row_bit_for_bit(
    steps: list[float], volumes: list[int], data: st.DataObject
) -> None:
    close = np.round(100 * np.cumprod(1 + np.asarray(steps)), 2)
    n = close.shape[0]
    vix = minute_bars(np.round(16 * np.cumprod(1 - np.asarray(steps)), 2), symbol="VIX")
    source = _source(minute_bars(close, volume=volumes[:n]), prior_close=99.0, vix=vix, prior_vix_close=15.0)
    rows = day_features(source)
    count = data.draw(st.integers(1, n), label="bars closed")
    prefix = dataclasses.replace(source, bars=source.bars.head(count), vix=vix.head(count))

    latest = latest_features(prefix)

    np.testing.assert_array_equal(latest, rows[count - 1])


def test_latest_row_equals_the_day_row_on_a_simulated_day_with_chain() -> None:
    full = _simulated_source()
    rows = day_features(full)
    assert not np.isnan(rows[100, Feature.ATM_IV])  # the chain path is exercised
    for count in (1, 14, 28, 31, 34, 61, 100, 211, 389, 390):
        close_ns = int(full.bars.close_ts_ns[count - 1])
        np.testing.assert_array_equal(latest_features(_simulated_source(until_ns=close_ns)), rows[count - 1])


def test_latest_features_refuses_an_empty_prefix() -> None:
    with pytest.raises(DomainError, match="no bar has closed"):
        latest_features(_source(minute_bars([100.0]).head(0)))


def test_feature_params_name_the_field_and_limit() -> None:
    with pytest.raises(ValueError, match="opening_range_minutes"):
        FeatureParams(opening_range_minutes=3)
