"""Market regime of one underlying at one bar, read from its feature row: it gates the strategies.

- HIGH_VOL: VIX at a high level, VIX jumping (over 15 minutes or since the prior close), or the
  underlying's own 1-minute ATR wide. Checked first: fear overrides everything else.
- WARMUP: ADX(14) is not defined yet (the first 27 bars of the session).
- TREND: ADX at or above `adx_trend_min`; the direction is the larger DI.
- RANGE: anything else.

A missing VIX (NaN) never triggers HIGH_VOL on its own; the ATR test still applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field
from pydantic.dataclasses import dataclass as validated_dataclass

from smart0dte.domain.features import Feature
from smart0dte.domain.marketdata import F64


class Regime(StrEnum):
    WARMUP = "WARMUP"
    TREND = "TREND"
    RANGE = "RANGE"
    HIGH_VOL = "HIGH_VOL"


@validated_dataclass(frozen=True)
class RegimeParams:
    """Thresholds of the regime rules (defaults suit 1-minute bars of SPY, QQQ and IWM)."""

    adx_trend_min: float = Field(default=25.0, ge=10, le=60)
    vix_high_level: float = Field(default=25.0, ge=10, le=80)
    vix_jump_15m_pct: float = Field(default=8.0, ge=1, le=100)
    vix_jump_prior_close_pct: float = Field(default=20.0, ge=1, le=200)
    atr_high_bps: float = Field(default=18.0, ge=1, le=500)
    """1-minute ATR(14) in bps of price above which the underlying alone is HIGH_VOL."""


DEFAULT_REGIME_PARAMS = RegimeParams()


@dataclass(frozen=True, slots=True)
class RegimeReading:
    """The regime and the numbers it was decided from."""

    regime: Regime
    adx: float
    plus_di: float
    minus_di: float
    atr_bps: float
    vix: float
    vix_15m_pct: float
    vix_prior_close_pct: float
    reason: str
    """Which rule decided, with its numbers, e.g. 'ADX 31.2 >= 25 (+DI 28.0 > -DI 12.5)'."""

    @property
    def trend_up(self) -> bool | None:
        """Whether +DI leads -DI; None while they are undefined or equal."""
        if math.isnan(self.plus_di) or math.isnan(self.minus_di) or self.plus_di == self.minus_di:
            return None
        return self.plus_di > self.minus_di

    def describe(self) -> str:
        return f"regime {self.regime.value} ({self.reason})"


def classify(row: F64, params: RegimeParams = DEFAULT_REGIME_PARAMS) -> RegimeReading:
    """The regime at the bar whose feature row is `row`."""
    adx = float(row[Feature.ADX_14])
    plus_di = float(row[Feature.PLUS_DI_14])
    minus_di = float(row[Feature.MINUS_DI_14])
    atr_bps = float(row[Feature.ATR_14_BPS])
    vix = float(row[Feature.VIX_LEVEL])
    vix_15m = float(row[Feature.VIX_RET_15M_PCT])
    vix_prior = float(row[Feature.VIX_RET_PRIOR_CLOSE_PCT])

    reasons = []
    if vix >= params.vix_high_level:
        reasons.append(f"VIX {vix:.2f} >= {params.vix_high_level:g}")
    if vix_15m >= params.vix_jump_15m_pct:
        reasons.append(f"VIX {vix_15m:+.1f}% in 15 min >= {params.vix_jump_15m_pct:g}%")
    if vix_prior >= params.vix_jump_prior_close_pct:
        reasons.append(f"VIX {vix_prior:+.1f}% vs prior close >= {params.vix_jump_prior_close_pct:g}%")
    if atr_bps >= params.atr_high_bps:
        reasons.append(f"ATR {atr_bps:.1f} bps >= {params.atr_high_bps:g}")
    if reasons:
        regime, reason = Regime.HIGH_VOL, "; ".join(reasons)
    elif math.isnan(adx):
        regime, reason = Regime.WARMUP, "ADX not yet defined"
    elif adx >= params.adx_trend_min:
        lead = "+DI > -DI" if plus_di > minus_di else "-DI >= +DI"
        regime = Regime.TREND
        reason = f"ADX {adx:.1f} >= {params.adx_trend_min:g}, {lead} ({plus_di:.1f} vs {minus_di:.1f})"
    else:
        regime, reason = Regime.RANGE, f"ADX {adx:.1f} < {params.adx_trend_min:g}"
    return RegimeReading(regime, adx, plus_di, minus_di, atr_bps, vix, vix_15m, vix_prior, reason)
