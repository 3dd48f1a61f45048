"""Each strategy's own rules, on hand-made feature rows: it fires when every condition holds, stays
quiet when any one fails, mirrors for the other direction, and grows more confident with evidence."""

from types import ModuleType

import numpy as np
import pytest

from smart0dte.domain.features import N_FEATURES, Feature
from smart0dte.domain.marketdata import NS_PER_MINUTE
from smart0dte.domain.models import OptionRight, Signal, Underlying
from smart0dte.domain.regime import classify
from smart0dte.domain.strategies import gap_fill, mean_reversion, momentum_breakout, vix_spike
from smart0dte.domain.strategies.base import MarketHistory, Snapshot, StrategyParams, StrategyState
from tests.unit.session_day import OPEN_NS, SESSION, minute_bars

BARS = 40
CLOSE_USD = 560.0
CALM = {
    "ADX_14": 18.0,
    "PLUS_DI_14": 20.0,
    "MINUS_DI_14": 15.0,
    "ATR_14": 0.4,
    "ATR_14_BPS": 7.0,
    "VIX_LEVEL": 16.0,
}


def _rows(last: dict[str, float], *, earlier: dict[int, dict[str, float]] | None = None) -> np.ndarray:
    rows = np.full((BARS, N_FEATURES), np.nan)
    for name, value in CALM.items():
        rows[:, Feature[name]] = value
    for name, value in last.items():
        rows[-1, Feature[name]] = value
    for index, values in (earlier or {}).items():
        for name, value in values.items():
            rows[index, Feature[name]] = value
    return rows


def _decide(
    module: ModuleType, rows: np.ndarray, params: object = None, state: StrategyState | None = None
) -> list[Signal]:
    bars = minute_bars(np.full(BARS, CLOSE_USD))
    ts_ns = OPEN_NS + BARS * NS_PER_MINUTE
    history = MarketHistory(ts_ns, SESSION, {"SPY": bars}, {}, {Underlying.SPY: rows}, {"SPY": 552.8})
    snapshot = Snapshot(Underlying.SPY, ts_ns, rows[-1], CLOSE_USD, classify(rows[-1]))
    chosen = params if params is not None else _PARAMS[module]
    signals: list[Signal] = module.decide(
        snapshot, history, state or StrategyState(SESSION.session_date), chosen
    )
    return signals


_PARAMS: dict[ModuleType, StrategyParams] = {
    momentum_breakout: momentum_breakout.MomentumBreakoutParams(),
    mean_reversion: mean_reversion.MeanReversionParams(),
    gap_fill: gap_fill.GapFillParams(),
    vix_spike: vix_spike.VixSpikeParams(),
}

MOMENTUM_CALL = {
    "OR_BREAK_ATR": 1.0,
    "OR_HIGH": 559.6,
    "OR_LOW": 555.0,
    "RET_30M_BPS": 56.0,
    "VOLUME_RATIO_20": 2.0,
    "ADX_14": 30.0,
    "PLUS_DI_14": 30.0,
    "MINUS_DI_14": 10.0,
}
MEAN_REVERSION_CALL = {
    "RET_15M_BPS": -56.0,
    "VWAP_DIST_ATR": -5.0,
    "RET_1M_BPS": 3.0,
    "BB_Z_20": -2.0,
    "VWAP": 562.0,
}
MEAN_REVERSION_CONTEXT = {BARS - 2: {"RSI_14": 15.0}, BARS - 11: {"ADX_14": 18.0}}
GAP_FILL_PUT = {
    "GAP_BPS": 130.0,
    "STRADDLE_BPS": 70.0,
    "MINUTES_SINCE_OPEN": 30.0,
    "GAP_FILL_FRACTION": 0.3,
    "RET_5M_BPS": -7.0,
    "GAP_REMAINING_ATR": 10.0,
}
VIX_PUT = {
    "VIX_RET_15M_PCT": 15.0,
    "RET_15M_BPS": -40.0,
    "VIX_LEVEL": 24.0,
    "VIX_RET_PRIOR_CLOSE_PCT": 30.0,
    "VIX_OFF_HIGH_PCT": 0.0,
}
VIX_CALL = {
    "VIX_RET_15M_PCT": -3.0,
    "RET_15M_BPS": 30.0,
    "VIX_LEVEL": 24.0,
    "VIX_RET_PRIOR_CLOSE_PCT": 25.0,
    "VIX_OFF_HIGH_PCT": -12.0,
}


def _mirror(values: dict[str, float], flip: tuple[str, ...]) -> dict[str, float]:
    return {k: (-v if k in flip else v) for k, v in values.items()}


MOMENTUM_PUT = {
    **_mirror(MOMENTUM_CALL, ("OR_BREAK_ATR", "RET_30M_BPS")),
    "PLUS_DI_14": 10.0,
    "MINUS_DI_14": 30.0,
}

FIRING = [
    (momentum_breakout, MOMENTUM_CALL, None, OptionRight.CALL),
    (momentum_breakout, MOMENTUM_PUT, None, OptionRight.PUT),
    (mean_reversion, MEAN_REVERSION_CALL, MEAN_REVERSION_CONTEXT, OptionRight.CALL),
    (
        mean_reversion,
        _mirror(MEAN_REVERSION_CALL, ("RET_15M_BPS", "VWAP_DIST_ATR", "RET_1M_BPS", "BB_Z_20")),
        {BARS - 2: {"RSI_14": 85.0}, BARS - 11: {"ADX_14": 18.0}},
        OptionRight.PUT,
    ),
    (gap_fill, GAP_FILL_PUT, None, OptionRight.PUT),
    (gap_fill, _mirror(GAP_FILL_PUT, ("GAP_BPS", "RET_5M_BPS", "GAP_REMAINING_ATR")), None, OptionRight.CALL),
    (vix_spike, VIX_PUT, None, OptionRight.PUT),
    (vix_spike, VIX_CALL, None, OptionRight.CALL),
]


@pytest.mark.parametrize(("module", "last", "earlier", "direction"), FIRING)
def test_fires_when_every_condition_holds(
    module: ModuleType,
    last: dict[str, float],
    earlier: dict[int, dict[str, float]] | None,
    direction: OptionRight,
) -> None:
    (signal,) = _decide(module, _rows(last, earlier=earlier))
    assert signal.direction is direction
    assert signal.strategy == module.NAME
    assert 0.5 <= signal.confidence <= 1.0
    assert signal.target_delta == _PARAMS[module].target_delta
    assert signal.contract is None  # no chain in this history
    assert "confidence" in signal.rationale and "target delta" in signal.rationale


def test_rationales_carry_the_numbers_they_used() -> None:
    (momentum,) = _decide(momentum_breakout, _rows(MOMENTUM_CALL))
    assert "SPY broke the opening range high 559.60" in momentum.rationale
    assert (
        "1.00 ATR" in momentum.rationale
        and "2.00x" in momentum.rationale
        and "ADX 30.0" in momentum.rationale
    )
    (gap,) = _decide(gap_fill, _rows(GAP_FILL_PUT))
    assert "gapped up 130 bps" in gap.rationale and "prior close 552.80" in gap.rationale
    assert "1.86x the 70 bps ATM straddle" in gap.rationale and "30% filled" in gap.rationale
    (spike,) = _decide(vix_spike, _rows(VIX_PUT))
    assert "VIX jumped +15.0% in 15 min to 24.00" in spike.rationale and "-40.0 bps" in spike.rationale


QUIET = [
    (momentum_breakout, MOMENTUM_CALL, None, {"OR_BREAK_ATR": 0.4}),
    (momentum_breakout, MOMENTUM_CALL, None, {"OR_BREAK_ATR": 8.5}),
    (momentum_breakout, MOMENTUM_CALL, None, {"OR_BREAK_ATR": np.nan}),
    (momentum_breakout, MOMENTUM_CALL, None, {"RET_30M_BPS": 41.0}),
    (momentum_breakout, MOMENTUM_CALL, None, {"VOLUME_RATIO_20": 1.4}),
    (momentum_breakout, MOMENTUM_CALL, None, {"PLUS_DI_14": 10.0, "MINUS_DI_14": 30.0}),
    (mean_reversion, MEAN_REVERSION_CALL, MEAN_REVERSION_CONTEXT, {"RET_15M_BPS": -35.0}),
    (mean_reversion, MEAN_REVERSION_CALL, MEAN_REVERSION_CONTEXT, {"VWAP_DIST_ATR": -2.0}),
    (mean_reversion, MEAN_REVERSION_CALL, MEAN_REVERSION_CONTEXT, {"RET_1M_BPS": -1.0}),
    (mean_reversion, MEAN_REVERSION_CALL, {BARS - 2: {"RSI_14": 30.0}, BARS - 11: {"ADX_14": 18.0}}, {}),
    (mean_reversion, MEAN_REVERSION_CALL, {BARS - 2: {"RSI_14": 15.0}, BARS - 11: {"ADX_14": 30.0}}, {}),
    (gap_fill, GAP_FILL_PUT, None, {"GAP_BPS": 20.0, "STRADDLE_BPS": 10.0}),
    (gap_fill, GAP_FILL_PUT, None, {"STRADDLE_BPS": 120.0}),
    (gap_fill, GAP_FILL_PUT, None, {"STRADDLE_BPS": np.nan}),
    (gap_fill, GAP_FILL_PUT, None, {"MINUTES_SINCE_OPEN": 10.0}),
    (gap_fill, GAP_FILL_PUT, None, {"MINUTES_SINCE_OPEN": 70.0}),
    (gap_fill, GAP_FILL_PUT, None, {"GAP_FILL_FRACTION": 0.1}),
    (gap_fill, GAP_FILL_PUT, None, {"GAP_FILL_FRACTION": 0.7}),
    (gap_fill, GAP_FILL_PUT, None, {"RET_5M_BPS": -2.0}),
    (gap_fill, GAP_FILL_PUT, None, {"GAP_REMAINING_ATR": 0.5}),
    (gap_fill, GAP_FILL_PUT, None, {"ADX_14": 30.0, "PLUS_DI_14": 30.0, "MINUS_DI_14": 10.0}),
    (vix_spike, VIX_PUT, None, {"VIX_RET_15M_PCT": 9.0}),
    (vix_spike, VIX_PUT, None, {"RET_15M_BPS": -10.0}),
    (vix_spike, VIX_CALL, None, {"VIX_OFF_HIGH_PCT": -5.0}),
    (vix_spike, VIX_CALL, None, {"VIX_RET_PRIOR_CLOSE_PCT": 10.0}),
    (vix_spike, VIX_CALL, None, {"RET_15M_BPS": 10.0}),
    (vix_spike, {"VIX_LEVEL": 40.0, "VIX_RET_PRIOR_CLOSE_PCT": 60.0}, None, {}),
]


@pytest.mark.parametrize(("module", "last", "earlier", "change"), QUIET)
def test_stays_quiet_when_one_condition_fails(
    module: ModuleType,
    last: dict[str, float],
    earlier: dict[int, dict[str, float]] | None,
    change: dict[str, float],
) -> None:
    assert _decide(module, _rows({**last, **change}, earlier=earlier)) == []


def test_gap_fill_in_a_trend_toward_the_fill_still_fires() -> None:
    (signal,) = _decide(
        gap_fill, _rows({**GAP_FILL_PUT, "ADX_14": 30.0, "PLUS_DI_14": 10.0, "MINUS_DI_14": 30.0})
    )
    assert signal.direction is OptionRight.PUT
    assert "regime TREND" in signal.rationale


def test_momentum_does_not_repeat_its_last_direction() -> None:
    state = StrategyState(SESSION.session_date, 1, OPEN_NS, OptionRight.CALL)
    assert _decide(momentum_breakout, _rows(MOMENTUM_CALL), state=state) == []
    assert len(_decide(momentum_breakout, _rows(MOMENTUM_PUT), state=state)) == 1


def test_momentum_on_the_20_bar_range() -> None:
    params = momentum_breakout.MomentumBreakoutParams(level="n_bar")
    row = {**MOMENTUM_CALL, "OR_BREAK_ATR": 0.0, "HIGH_20_BREAK_ATR": 1.0, "LOW_20_BREAK_ATR": 5.0}
    (signal,) = _decide(momentum_breakout, _rows(row), params)
    assert "20-bar range high 559.60" in signal.rationale  # close 560 - 1 ATR of 0.40


STRONGER = [
    (momentum_breakout, MOMENTUM_CALL, None, {"OR_BREAK_ATR": 1.8}),
    (momentum_breakout, MOMENTUM_CALL, None, {"RET_30M_BPS": 70.0}),
    (momentum_breakout, MOMENTUM_CALL, None, {"VOLUME_RATIO_20": 2.8}),
    (momentum_breakout, MOMENTUM_CALL, None, {"ADX_14": 40.0}),
    (mean_reversion, MEAN_REVERSION_CALL, MEAN_REVERSION_CONTEXT, {"RET_15M_BPS": -70.0}),
    (mean_reversion, MEAN_REVERSION_CALL, MEAN_REVERSION_CONTEXT, {"VWAP_DIST_ATR": -7.0}),
    (mean_reversion, MEAN_REVERSION_CALL, MEAN_REVERSION_CONTEXT, {"BB_Z_20": -2.8}),
    (gap_fill, GAP_FILL_PUT, None, {"GAP_FILL_FRACTION": 0.38}),
    (gap_fill, GAP_FILL_PUT, None, {"GAP_REMAINING_ATR": 3.0}),
    (gap_fill, GAP_FILL_PUT, None, {"RET_5M_BPS": -14.0}),
    (vix_spike, VIX_PUT, None, {"VIX_RET_15M_PCT": 22.0}),
    (vix_spike, VIX_PUT, None, {"RET_15M_BPS": -70.0}),
    (vix_spike, VIX_PUT, None, {"VIX_LEVEL": 30.0}),
    (vix_spike, VIX_CALL, None, {"VIX_OFF_HIGH_PCT": -18.0}),
]


@pytest.mark.parametrize(("module", "last", "earlier", "change"), STRONGER)
def test_confidence_rises_with_each_piece_of_evidence(
    module: ModuleType,
    last: dict[str, float],
    earlier: dict[int, dict[str, float]] | None,
    change: dict[str, float],
) -> None:
    (base,) = _decide(module, _rows(last, earlier=earlier))
    stronger_rows = _rows({**last, **change}, earlier=earlier)
    if module is gap_fill and "GAP_REMAINING_ATR" in change:
        (weaker,) = _decide(module, stronger_rows)  # less room left is weaker evidence
        assert weaker.confidence < base.confidence
        return
    (stronger,) = _decide(module, stronger_rows)
    assert base.confidence < stronger.confidence <= 1.0


def test_mean_reversion_is_more_confident_the_more_oversold_it_was() -> None:
    (base,) = _decide(mean_reversion, _rows(MEAN_REVERSION_CALL, earlier=MEAN_REVERSION_CONTEXT))
    deeper = {BARS - 2: {"RSI_14": 8.0}, BARS - 11: {"ADX_14": 18.0}}
    (stronger,) = _decide(mean_reversion, _rows(MEAN_REVERSION_CALL, earlier=deeper))
    assert base.confidence < stronger.confidence
