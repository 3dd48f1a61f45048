"""Causal features of one underlying's session: one row per closed bar, one column per `Feature`.

Row i describes the market at the close of bar i (its open time + interval): it uses the bars
closed by then, the VIX bars closed by then and the latest chain sample taken by then, nothing later.

Two entry points give bit-identical rows:

- `day_features` computes every row of a session at once (backtests, training);
- `latest_features` computes the row of the last bar of a causal prefix (the minute cycle): the
  chain's implied vols, the costly part, for that row only; the bar kernels over the prefix, where
  numpy's per-call overhead rather than the <= 390 bars sets the cost.

Every kernel runs from the session's first bar: window sums are differences of running sums that
start there; MACD's exponential averages and ADX's Wilder smoothing are seeded there. A row's value
therefore depends only on the bars up to it, and is the same number whether the day is computed at
once or up to that row. Chain features call the implied-vol solver on the same per-contract inputs,
and it works element by element.

A feature is NaN while its window is not full or an input is missing (no prior close, no VIX, no
fresh chain sample). RSI is Cutler's (simple sums of gains and losses) and ATR the simple mean true
range; ADX keeps Wilder's smoothing, which separates trend from noise on 1-minute bars far better.

Units are in the names: `_bps` (1e-4 of price), `_pct` (percent), `_atr` (multiples of ATR(14)),
price levels in the underlying's currency, vols as annualised fractions on the calendar-minute clock
of `pricing.MINUTES_PER_YEAR` (so realised and implied vol compare like with like).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, unique

import numpy as np
import numpy.typing as npt
from pydantic import Field
from pydantic.dataclasses import dataclass as validated_dataclass

from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.chain_analytics import PricingInputs, QuoteFlag, flag_quotes
from smart0dte.domain.marketdata import (
    F64,
    NS_PER_MINUTE,
    NS_PER_SECOND,
    BarSeries,
    ChainSeries,
    MarketDay,
    datetime_to_ns,
)
from smart0dte.domain.models import DomainError, Underlying
from smart0dte.domain.pricing import MINUTES_PER_YEAR, IVStatus, implied_vol


@unique
class Feature(IntEnum):
    """Column index of each feature in a feature row."""

    RET_1M_BPS = 0
    RET_5M_BPS = 1
    RET_15M_BPS = 2
    RET_30M_BPS = 3
    RET_60M_BPS = 4
    RET_OPEN_BPS = 5
    """Close vs the session's first open."""
    RET_PRIOR_CLOSE_BPS = 6
    RSI_5 = 7
    RSI_14 = 8
    MACD_BPS = 9
    """EMA(12) - EMA(26) of the close, in bps of the close."""
    MACD_SIGNAL_BPS = 10
    MACD_HIST_BPS = 11
    BB_Z_20 = 12
    """(close - SMA20) / population sd of 20 closes: the position within the Bollinger bands."""
    BB_WIDTH_20_BPS = 13
    """Width of the 2-sd Bollinger bands (4 sd) in bps of SMA20."""
    SMA_20_DIST_BPS = 14
    ATR_14 = 15
    """Mean true range of the last 14 bars, in price units."""
    ATR_14_BPS = 16
    TR_ATR = 17
    """This bar's true range in ATRs: range expansion."""
    REALIZED_VOL_30 = 18
    """Sample sd of the last 30 one-bar returns, annualised per calendar minute."""
    ADX_14 = 19
    """Wilder's ADX(14); defined from the 28th bar."""
    PLUS_DI_14 = 20
    MINUS_DI_14 = 21
    VWAP = 22
    """Session VWAP of the typical price (high + low + close) / 3."""
    VWAP_DIST_BPS = 23
    VWAP_DIST_ATR = 24
    VOLUME_RATIO_5 = 25
    """This bar's volume over the mean of the 5 bars before it."""
    VOLUME_RATIO_20 = 26
    VOLUME_RATIO_DAY = 27
    """This bar's volume over the mean of every earlier bar of the session."""
    OR_HIGH = 28
    """Opening-range high; NaN until the range (FeatureParams.opening_range_minutes) has closed."""
    OR_LOW = 29
    OR_WIDTH_ATR = 30
    OR_POSITION = 31
    """(close - OR low) / (OR high - OR low): above 1 over the range, below 0 under it."""
    OR_BREAK_ATR = 32
    """Distance beyond the opening range in ATRs: > 0 above the high, < 0 below the low, 0 inside."""
    HIGH_20_BREAK_ATR = 33
    """(close - highest high of the 20 bars before this one) / ATR: > 0 is a 20-bar breakout."""
    LOW_20_BREAK_ATR = 34
    """(close - lowest low of the 20 bars before this one) / ATR: < 0 is a 20-bar breakdown."""
    DAY_RANGE_POSITION = 35
    DAY_RANGE_ATR = 36
    GAP_BPS = 37
    """Session's first open vs the prior session's close."""
    GAP_FILL_FRACTION = 38
    """Share of the gap retraced: 0 at the open, 1 when price is back at the prior close."""
    GAP_REMAINING_ATR = 39
    """(close - prior close) / ATR: how far the gap still is from filled."""
    MINUTES_SINCE_OPEN = 40
    MINUTES_TO_CLOSE = 41
    SESSION_FRACTION = 42
    VIX_LEVEL = 43
    VIX_RET_5M_PCT = 44
    VIX_RET_15M_PCT = 45
    VIX_RET_PRIOR_CLOSE_PCT = 46
    VIX_OFF_HIGH_PCT = 47
    """VIX close vs the session's VIX high so far (<= 0)."""
    ATM_IV = 48
    """Mean implied vol of the call and put at the strike nearest spot (either if one is missing)."""
    PUT_CALL_SKEW = 49
    """IV of the put nearest spot * (1 - m) minus IV of the call nearest spot * (1 + m)."""
    STRADDLE_BPS = 50
    """ATM straddle mid in bps of spot: the move the market prices to the close."""
    EXPECTED_MOVE_ATR = 51
    """ATM straddle mid in ATRs."""
    IV_RV_RATIO = 52
    """ATM_IV / REALIZED_VOL_30."""


FEATURE_NAMES: tuple[str, ...] = tuple(f.name.lower() for f in Feature)
"""Column names, in column order."""
N_FEATURES = len(FEATURE_NAMES)

_BPS = 1e4
_PCT = 100.0
_RSI_FLAT = 50.0
"""RSI of a window without any up or down move."""
_SQRT_MINUTES_PER_YEAR = math.sqrt(MINUTES_PER_YEAR)
_RET_LAGS = (
    (Feature.RET_1M_BPS, 1),
    (Feature.RET_5M_BPS, 5),
    (Feature.RET_15M_BPS, 15),
    (Feature.RET_30M_BPS, 30),
    (Feature.RET_60M_BPS, 60),
)
_MACD_FAST, _MACD_SLOW, _MACD_SIGNAL = 12, 26, 9
_ATR_BARS = 14
_ADX_BARS = 14
_BB_BARS = 20
_RV_BARS = 30
_BREAK_BARS = 20


@validated_dataclass(frozen=True)
class FeatureParams:
    """Settings of the features that are not part of a feature's name."""

    opening_range_minutes: int = Field(default=30, ge=5, le=120)
    skew_moneyness: float = Field(default=0.005, gt=0, le=0.05)
    """m in PUT_CALL_SKEW: the OTM distance from spot, as a fraction of spot."""
    max_chain_age_s: int = Field(default=90, ge=0, le=600)
    """A chain sample older than this at the row's close is too stale for chain features."""


DEFAULT_FEATURE_PARAMS = FeatureParams()
DEFAULT_PRICING_INPUTS = PricingInputs()


@dataclass(frozen=True, slots=True)
class FeatureSource:
    """What one underlying's features are computed from. It may run past the rows asked for:
    each row only reads what was known at its bar's close."""

    bars: BarSeries
    session_open_ns: int
    session_close_ns: int
    prior_close: float | None = None
    vix: BarSeries | None = None
    prior_vix_close: float | None = None
    chain: ChainSeries | None = None
    rate: float = 0.0
    """Continuous risk-free rate the chain's implied vols are solved with."""
    div_yield: float = 0.0
    """Continuous dividend yield of the underlying, for the same."""

    def __post_init__(self) -> None:
        if self.session_close_ns <= self.session_open_ns:
            raise DomainError(
                f"FeatureSource.session_close_ns={self.session_close_ns} must be after "
                f"session_open_ns={self.session_open_ns}"
            )
        for name in ("prior_close", "prior_vix_close"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise DomainError(f"FeatureSource.{name}={value} must be a finite price > 0")

    @classmethod
    def from_day(
        cls,
        day: MarketDay,
        underlying: Underlying,
        session: SessionTimes,
        prior_close: Mapping[str, float],
        pricing: PricingInputs = DEFAULT_PRICING_INPUTS,
    ) -> FeatureSource:
        """The inputs for `underlying` from a market day; VIX and the chain when the day has them."""
        if not underlying.is_tradable:
            raise DomainError(f"underlying={underlying.value} is an index: features are for SPY, QQQ, IWM")
        bars = day.bars.get(underlying.value)
        if bars is None:
            raise DomainError(f"market day {day.session_date} has no bars for {underlying.value}")
        vix = Underlying.VIX.value
        return cls(
            bars=bars,
            session_open_ns=datetime_to_ns(session.open_et),
            session_close_ns=datetime_to_ns(session.close_et),
            prior_close=prior_close.get(underlying.value),
            vix=day.bars.get(vix),
            prior_vix_close=prior_close.get(vix),
            chain=day.chains.get(underlying),
            rate=pricing.rate,
            div_yield=pricing.div_yield.get(underlying, 0.0),
        )


def day_features(source: FeatureSource, params: FeatureParams = DEFAULT_FEATURE_PARAMS) -> F64:
    """Every row of the session at once: shape (bars, N_FEATURES)."""
    return _rows(source, 0, params)


def latest_features(source: FeatureSource, params: FeatureParams = DEFAULT_FEATURE_PARAMS) -> F64:
    """The row of the last bar in `source.bars`, equal bit for bit to that row of `day_features`."""
    count = len(source.bars)
    if count == 0:
        raise DomainError(f"FeatureSource.bars({source.bars.symbol}) is empty: no bar has closed yet")
    row: F64 = _rows(source, count - 1, params)[0]
    return row


def _rows(source: FeatureSource, first_row: int, params: FeatureParams) -> F64:
    """Rows first_row..end of the session's feature matrix."""
    bars = source.bars
    out = np.full((len(bars) - first_row, N_FEATURES), np.nan)
    if out.shape[0] == 0:
        return out
    close_ts_ns = bars.close_ts_ns[first_row:]
    with np.errstate(all="ignore"):
        _bar_features(bars, first_row, out)
        _session_features(source, first_row, params, out)
        if source.vix is not None and len(source.vix):
            _vix_features(source.vix, close_ts_ns, source.prior_vix_close, out)
        if source.chain is not None and len(source.chain) and len(source.chain.contracts):
            _chain_features(source, close_ts_ns, bars.close[first_row:], params, out)
    return out


# ----------------------------------------------------------------------------------------------
# Kernels. Each runs over the session from its first bar, so out[i] depends only on x[:i + 1].
# ----------------------------------------------------------------------------------------------


def _lag(x: F64, bars: int) -> F64:
    """x shifted `bars` later: out[i] = x[i - bars], NaN before."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] > bars:
        out[bars:] = x[:-bars]
    return out


def _rolling_sum(x: F64, window: int, first_valid: int = 0) -> F64:
    """x[i - window + 1] + ... + x[i] as a difference of running sums from the session's first bar.

    x must be finite from `first_valid` on (entries before it are ignored); rows before the first
    full window, first_valid + window - 1, are NaN.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    last_warmup = first_valid + window - 1
    if n > last_warmup:
        running = np.cumsum(x[first_valid:])
        out[last_warmup] = running[window - 1]
        out[last_warmup + 1 :] = running[window:] - running[:-window]
    return out


def _rolling_extreme(x: F64, window: int, highest: bool) -> F64:
    """Max (or min) of x[i - window + 1 .. i] by doubling spans; NaN before a full window."""
    pick = np.maximum if highest else np.minimum
    span, covered = 1, x
    while span * 2 <= window:
        covered = np.concatenate((covered[:span], pick(covered[span:], covered[:-span])))
        span *= 2
    out = covered.copy()
    rest = window - span
    if rest:
        out[rest:] = pick(covered[rest:], covered[:-rest])
    out[: window - 1] = np.nan
    return out


def _ratio(num: F64 | float, den: F64) -> F64:
    """num / den, NaN where den is 0."""
    return np.where(den != 0, num / den, np.nan)


def _ema(values: list[float], alpha: float) -> list[float]:
    """Exponential average seeded with the first value: e[i] = e[i-1] + alpha (x[i] - e[i-1])."""
    out: list[float] = []
    level = values[0]
    for x in values:
        level += alpha * (x - level)
        out.append(level)
    return out


def _wilder(x: F64, period: int, first_valid: int) -> F64:
    """Wilder's smoothing: the mean of x[first_valid : first_valid + period], then s += (x - s) / period.

    NaN before first_valid + period - 1; x must be finite from first_valid on.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    first_full = first_valid + period - 1
    if n > first_full:
        values = x[first_valid:].tolist()
        level = math.fsum(values[:period]) / period
        smoothed = [level]
        for value in values[period:]:
            level += (value - level) / period
            smoothed.append(level)
        out[first_full:] = smoothed
    return out


def _rsi(change: F64, window: int) -> F64:
    """Cutler's RSI from close-to-close changes (change[0] is unused): 50 when nothing moved."""
    up = _rolling_sum(np.maximum(change, 0.0), window, first_valid=1)
    down = _rolling_sum(np.maximum(-change, 0.0), window, first_valid=1)
    total = up + down
    return np.where(total == 0, _RSI_FLAT, _PCT * up / total)


def _bar_features(bars: BarSeries, first_row: int, out: F64) -> None:
    """Returns, oscillators, bands, ranges and volume ratios over fixed windows of bars."""
    high, low, close = bars.high, bars.low, bars.close
    volume = bars.volume.astype(np.float64)
    rows = slice(first_row, None)

    def put(column: Feature, values: F64) -> None:
        out[:, column] = values[rows]

    for column, bars_back in _RET_LAGS:
        put(column, (close / _lag(close, bars_back) - 1.0) * _BPS)
    prev_close = _lag(close, 1)
    change = close - prev_close
    put(Feature.RSI_5, _rsi(change, 5))
    put(Feature.RSI_14, _rsi(change, 14))

    # Bollinger bands on closes centred at the first close, so running sums of squares stay small.
    centred = close - close[0]
    mean_centred = _rolling_sum(centred, _BB_BARS) / _BB_BARS
    variance = _rolling_sum(centred * centred, _BB_BARS) / _BB_BARS - mean_centred * mean_centred
    sd = np.sqrt(np.maximum(variance, 0.0))
    sma = mean_centred + close[0]
    put(Feature.BB_Z_20, _ratio(close - sma, sd))
    put(Feature.BB_WIDTH_20_BPS, 4.0 * sd / sma * _BPS)
    put(Feature.SMA_20_DIST_BPS, (close / sma - 1.0) * _BPS)

    prev_close[0] = close[0]  # the first bar has no earlier close: its true range is high - low
    tr = np.maximum(high - low, np.maximum(np.abs(high - prev_close), np.abs(low - prev_close)))
    atr = _rolling_sum(tr, _ATR_BARS) / _ATR_BARS
    put(Feature.ATR_14, atr)
    put(Feature.ATR_14_BPS, atr / close * _BPS)
    put(Feature.TR_ATR, _ratio(tr, atr))

    returns = close / prev_close - 1.0
    mean_return = _rolling_sum(returns, _RV_BARS, first_valid=1) / _RV_BARS
    sum_sq = _rolling_sum(returns * returns, _RV_BARS, first_valid=1)
    variance = (sum_sq - _RV_BARS * mean_return * mean_return) / (_RV_BARS - 1)
    put(Feature.REALIZED_VOL_30, np.sqrt(np.maximum(variance, 0.0)) * _SQRT_MINUTES_PER_YEAR)

    up_move = high - _lag(high, 1)
    down_move = _lag(low, 1) - low
    plus_dm = np.where((up_move > down_move) & (up_move > 0), up_move, 0.0)
    minus_dm = np.where((down_move > up_move) & (down_move > 0), down_move, 0.0)
    smoothed_tr = _wilder(tr, _ADX_BARS, first_valid=1)
    # No range at all means no directional movement either: DI = 0 rather than 0 / 0.
    plus_di = np.where(smoothed_tr > 0, _PCT * _wilder(plus_dm, _ADX_BARS, 1) / smoothed_tr, 0.0)
    minus_di = np.where(smoothed_tr > 0, _PCT * _wilder(minus_dm, _ADX_BARS, 1) / smoothed_tr, 0.0)
    warming_up = np.isnan(smoothed_tr)
    plus_di[warming_up] = minus_di[warming_up] = np.nan
    di_sum = plus_di + minus_di
    dx = np.where(di_sum > 0, _PCT * np.abs(plus_di - minus_di) / di_sum, 0.0)
    put(Feature.ADX_14, _wilder(dx, _ADX_BARS, first_valid=_ADX_BARS))
    put(Feature.PLUS_DI_14, plus_di)
    put(Feature.MINUS_DI_14, minus_di)

    put(Feature.VOLUME_RATIO_5, _ratio(volume, _lag(_rolling_sum(volume, 5), 1) / 5))
    put(Feature.VOLUME_RATIO_20, _ratio(volume, _lag(_rolling_sum(volume, 20), 1) / 20))

    prior_high = _lag(_rolling_extreme(high, _BREAK_BARS, highest=True), 1)
    prior_low = _lag(_rolling_extreme(low, _BREAK_BARS, highest=False), 1)
    put(Feature.HIGH_20_BREAK_ATR, _ratio(close - prior_high, atr))
    put(Feature.LOW_20_BREAK_ATR, _ratio(close - prior_low, atr))


def _session_features(source: FeatureSource, first_row: int, params: FeatureParams, out: F64) -> None:
    """Features accumulated since the session opened, computed over the whole prefix."""
    bars = source.bars
    high, low, close = bars.high, bars.low, bars.close
    volume = bars.volume.astype(np.float64)
    rows = slice(first_row, None)
    close_now = close[rows]
    atr = out[:, Feature.ATR_14]
    first_open = float(bars.open[0])

    out[:, Feature.RET_OPEN_BPS] = (close_now / first_open - 1.0) * _BPS
    prior = source.prior_close
    if prior is not None:
        out[:, Feature.RET_PRIOR_CLOSE_BPS] = (close_now / prior - 1.0) * _BPS
        gap = first_open - prior
        out[:, Feature.GAP_BPS] = (first_open / prior - 1.0) * _BPS
        if gap != 0:
            out[:, Feature.GAP_FILL_FRACTION] = (first_open - close_now) / gap
        out[:, Feature.GAP_REMAINING_ATR] = _ratio(close_now - prior, atr)

    ema_fast = _ema(close.tolist(), 2.0 / (_MACD_FAST + 1))
    ema_slow = _ema(close.tolist(), 2.0 / (_MACD_SLOW + 1))
    macd = np.array(ema_fast) - np.array(ema_slow)
    macd[: _MACD_SLOW - 1] = np.nan
    signal = np.full(macd.shape[0], np.nan)
    if macd.shape[0] >= _MACD_SLOW:
        signal[_MACD_SLOW - 1 :] = _ema(macd[_MACD_SLOW - 1 :].tolist(), 2.0 / (_MACD_SIGNAL + 1))
        signal[: _MACD_SLOW + _MACD_SIGNAL - 2] = np.nan
    out[:, Feature.MACD_BPS] = macd[rows] / close_now * _BPS
    out[:, Feature.MACD_SIGNAL_BPS] = signal[rows] / close_now * _BPS
    out[:, Feature.MACD_HIST_BPS] = (macd[rows] - signal[rows]) / close_now * _BPS

    typical = (high + low + close) / 3.0
    cum_volume = np.cumsum(volume)
    vwap = _ratio(np.cumsum(typical * volume), cum_volume)[rows]
    out[:, Feature.VWAP] = vwap
    out[:, Feature.VWAP_DIST_BPS] = (close_now / vwap - 1.0) * _BPS
    out[:, Feature.VWAP_DIST_ATR] = _ratio(close_now - vwap, atr)
    earlier_mean = _lag(cum_volume, 1) / np.arange(volume.shape[0], dtype=np.float64)
    out[:, Feature.VOLUME_RATIO_DAY] = _ratio(volume, earlier_mean)[rows]

    day_high = np.maximum.accumulate(high)[rows]
    day_low = np.minimum.accumulate(low)[rows]
    out[:, Feature.DAY_RANGE_POSITION] = _ratio(close_now - day_low, day_high - day_low)
    out[:, Feature.DAY_RANGE_ATR] = _ratio(day_high - day_low, atr)

    close_ts_ns = bars.close_ts_ns[rows]
    since_open = (close_ts_ns - source.session_open_ns) / NS_PER_MINUTE
    out[:, Feature.MINUTES_SINCE_OPEN] = since_open
    out[:, Feature.MINUTES_TO_CLOSE] = (source.session_close_ns - close_ts_ns) / NS_PER_MINUTE
    out[:, Feature.SESSION_FRACTION] = since_open / (
        (source.session_close_ns - source.session_open_ns) / NS_PER_MINUTE
    )

    range_end_ns = source.session_open_ns + params.opening_range_minutes * NS_PER_MINUTE
    in_range = (bars.open_ts_ns >= source.session_open_ns) & (bars.open_ts_ns < range_end_ns)
    complete = close_ts_ns >= range_end_ns
    if bool(in_range.any()) and bool(complete.any()):
        or_high = float(high[in_range].max())
        or_low = float(low[in_range].min())
        width = or_high - or_low
        beyond = np.where(
            close_now > or_high, close_now - or_high, np.where(close_now < or_low, close_now - or_low, 0.0)
        )
        done = np.flatnonzero(complete)
        out[done, Feature.OR_HIGH] = or_high
        out[done, Feature.OR_LOW] = or_low
        out[done, Feature.OR_WIDTH_ATR] = _ratio(width, atr[done])
        if width > 0:
            out[done, Feature.OR_POSITION] = (close_now[done] - or_low) / width
        out[done, Feature.OR_BREAK_ATR] = _ratio(beyond[done], atr[done])


def _vix_features(vix: BarSeries, close_ts_ns: npt.NDArray[np.int64], prior: float | None, out: F64) -> None:
    """VIX as known at each row's close: its bars closed by then."""
    index = np.searchsorted(vix.close_ts_ns, close_ts_ns, side="right") - 1
    known = np.flatnonzero(index >= 0)
    if known.size == 0:
        return
    idx = index[known]
    level = vix.close[: int(idx[-1]) + 1]
    out[known, Feature.VIX_LEVEL] = level[idx]
    out[known, Feature.VIX_RET_5M_PCT] = ((level / _lag(level, 5) - 1.0) * _PCT)[idx]
    out[known, Feature.VIX_RET_15M_PCT] = ((level / _lag(level, 15) - 1.0) * _PCT)[idx]
    if prior is not None:
        out[known, Feature.VIX_RET_PRIOR_CLOSE_PCT] = (level[idx] / prior - 1.0) * _PCT
    day_high = np.maximum.accumulate(vix.high[: level.shape[0]])[idx]
    out[known, Feature.VIX_OFF_HIGH_PCT] = (level[idx] / day_high - 1.0) * _PCT


def _nearest(strikes: F64, targets: F64) -> npt.NDArray[np.intp]:
    """Index of the strike nearest each target in sorted `strikes` (the lower one on a tie)."""
    upper = np.clip(np.searchsorted(strikes, targets), 0, strikes.shape[0] - 1)
    lower = np.clip(upper - 1, 0, strikes.shape[0] - 1)
    take_upper = (strikes[upper] - targets) < (targets - strikes[lower])
    return np.where(take_upper, upper, lower)


def _chain_features(
    source: FeatureSource,
    close_ts_ns: npt.NDArray[np.int64],
    spot: F64,
    params: FeatureParams,
    out: F64,
) -> None:
    """ATM IV, skew and expected move from the latest fresh chain sample at each row's close."""
    chain = source.chain
    assert chain is not None
    sample = np.searchsorted(chain.sample_ts_ns, close_ts_ns, side="right") - 1
    sample_ts_ns = chain.sample_ts_ns[np.maximum(sample, 0)]
    fresh = (sample >= 0) & (close_ts_ns - sample_ts_ns <= params.max_chain_age_s * NS_PER_SECOND)
    fresh &= sample_ts_ns < source.session_close_ns
    rows = np.flatnonzero(fresh)
    if rows.size == 0:
        return
    sample, spot = sample[rows], spot[rows]
    t_years = (source.session_close_ns - sample_ts_ns[rows]) / NS_PER_MINUTE / MINUTES_PER_YEAR

    calls = np.flatnonzero(chain.is_call)
    puts = np.flatnonzero(~chain.is_call)
    calls = calls[np.argsort(chain.strike[calls], kind="stable")]
    puts = puts[np.argsort(chain.strike[puts], kind="stable")]
    both, in_calls, in_puts = np.intersect1d(chain.strike[calls], chain.strike[puts], return_indices=True)
    if both.size == 0:
        return
    atm = _nearest(both, spot)
    m = params.skew_moneyness
    columns = (
        calls[in_calls[atm]],
        puts[in_puts[atm]],
        puts[_nearest(chain.strike[puts], spot * (1.0 - m))],
        calls[_nearest(chain.strike[calls], spot * (1.0 + m))],
    )
    bid = np.stack([chain.bid[sample, c] for c in columns])
    ask = np.stack([chain.ask[sample, c] for c in columns])
    mid = np.where(flag_quotes(bid, ask) == QuoteFlag.OK, (bid + ask) / 2.0, np.nan)
    strike = np.stack([chain.strike[c] for c in columns])
    is_call = np.stack([chain.is_call[c] for c in columns])
    spot_grid = np.broadcast_to(spot, mid.shape)
    t_grid = np.broadcast_to(t_years, mid.shape)

    iv = np.full(mid.shape, np.nan)
    priced = np.isfinite(mid)
    if priced.any():
        vols, status = implied_vol(
            mid[priced],
            spot_grid[priced],
            strike[priced],
            t_grid[priced],
            source.rate,
            source.div_yield,
            is_call[priced],
        )
        iv[priced] = np.where(status == IVStatus.OK, vols, np.nan)
    call_iv, put_iv, otm_put_iv, otm_call_iv = iv
    atm_iv = np.where(
        np.isnan(call_iv), put_iv, np.where(np.isnan(put_iv), call_iv, (call_iv + put_iv) / 2.0)
    )
    straddle = mid[0] + mid[1]
    out[rows, Feature.ATM_IV] = atm_iv
    out[rows, Feature.PUT_CALL_SKEW] = otm_put_iv - otm_call_iv
    out[rows, Feature.STRADDLE_BPS] = straddle / spot * _BPS
    out[rows, Feature.EXPECTED_MOVE_ATR] = _ratio(straddle, out[rows, Feature.ATR_14])
    out[rows, Feature.IV_RV_RATIO] = _ratio(atm_iv, out[rows, Feature.REALIZED_VOL_30])
