import numpy as np
import pytest

from smart0dte.domain.features import N_FEATURES, Feature, FeatureSource, day_features
from smart0dte.domain.models import Underlying
from smart0dte.domain.regime import Regime, RegimeParams, classify
from smart0dte.domain.simulator import Scenario
from tests.unit.session_day import SESSION, simulate


def _row(**values: float) -> np.ndarray:
    row = np.full(N_FEATURES, np.nan)
    defaults = {"ADX_14": 18.0, "PLUS_DI_14": 20.0, "MINUS_DI_14": 15.0, "ATR_14_BPS": 5.0, "VIX_LEVEL": 16.0}
    for name, value in {**defaults, **values}.items():
        row[Feature[name]] = value
    return row


def test_adx_splits_trend_from_range_and_the_leading_di_gives_the_direction() -> None:
    params = RegimeParams(adx_trend_min=25)
    ranging = classify(_row(ADX_14=24.9), params)
    trending_down = classify(_row(ADX_14=25.0, PLUS_DI_14=10.0, MINUS_DI_14=30.0), params)

    assert ranging.regime is Regime.RANGE
    assert trending_down.regime is Regime.TREND
    assert trending_down.trend_up is False
    assert "ADX 25.0 >= 25" in trending_down.describe()


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"VIX_LEVEL": 31.0}, "VIX 31.00 >= 25"),
        ({"VIX_RET_15M_PCT": 9.0}, "VIX +9.0% in 15 min >= 8%"),
        ({"VIX_RET_PRIOR_CLOSE_PCT": 22.0}, "VIX +22.0% vs prior close >= 20%"),
        ({"ATR_14_BPS": 19.0}, "ATR 19.0 bps >= 18"),
    ],
)
def test_each_high_vol_rule_overrides_trend_and_names_its_numbers(
    values: dict[str, float], reason: str
) -> None:
    reading = classify(_row(ADX_14=40.0, **values))
    assert reading.regime is Regime.HIGH_VOL
    assert reason in reading.reason


def test_warm_up_until_adx_is_defined_but_high_vol_is_seen_at_once() -> None:
    assert classify(_row(ADX_14=np.nan)).regime is Regime.WARMUP
    assert classify(_row(ADX_14=np.nan, VIX_LEVEL=40.0)).regime is Regime.HIGH_VOL


def test_a_missing_vix_does_not_make_the_market_high_vol() -> None:
    reading = classify(_row(VIX_LEVEL=np.nan))
    assert reading.regime is Regime.RANGE
    assert reading.trend_up is True


def test_regime_params_name_the_field_and_limit() -> None:
    with pytest.raises(ValueError, match="adx_trend_min"):
        RegimeParams(adx_trend_min=5)


def test_a_simulated_vix_spike_turns_the_regime_high_vol_only_after_the_spike_starts() -> None:
    day, prior = simulate(seed=0, scenario=Scenario.VIX_SPIKE)
    rows = day_features(FeatureSource.from_day(day, Underlying.SPY, SESSION, prior))

    regimes = [classify(row).regime for row in rows]

    first_high_vol = regimes.index(Regime.HIGH_VOL)
    assert regimes[0] is Regime.WARMUP
    assert 0.2 * 390 <= first_high_vol <= 0.7 * 390  # the simulator's spike starts within 20-65% of the day
    assert regimes[-1] is Regime.HIGH_VOL  # VIX stays far above the prior close
