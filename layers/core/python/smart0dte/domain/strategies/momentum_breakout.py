"""Momentum breakout: buy in the direction of a break of the opening range (or of the last 20 bars'
range) when momentum and volume confirm and the trend (+DI vs -DI) agrees.

Fires CALL when the close is `min_break_atr`..`max_break_atr` ATRs above the level, the last 30
minutes rose at least `min_move_30m_atr` ATRs, the bar's volume is at least `min_volume_ratio` x the
mean of the 20 bars before it and the regime's leading DI is +DI; PUT on the mirror image. One
signal per direction in a row: after a CALL the next signal must be a PUT. Beyond `max_break_atr`
the move is left alone (too late to chase). The 30-minute move is what tells a trend from a range
that merely pokes out of its opening range.

Confidence (see `base`): 0.35 x break size (min_break_atr -> full_break_atr) + 0.25 x 30-minute move
(min_move_30m_atr -> full_move_30m_atr) + 0.25 x volume ratio (min_volume_ratio -> full_volume_ratio)
+ 0.15 x ADX (adx_zero -> adx_full).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic.dataclasses import dataclass as validated_dataclass

from smart0dte.domain.features import Feature
from smart0dte.domain.models import OptionRight, Signal
from smart0dte.domain.strategies.base import (
    Evidence,
    MarketHistory,
    Snapshot,
    StrategyParams,
    StrategyState,
    make_signal,
    ramp,
    ratio,
    require_ordered,
)

NAME = "momentum_breakout"


@validated_dataclass(frozen=True)
class MomentumBreakoutParams(StrategyParams):
    level: Literal["opening_range", "n_bar"] = "opening_range"
    """Which level to break: the opening range (FeatureParams.opening_range_minutes) or the 20 bars before."""
    min_break_atr: float = Field(default=0.5, ge=0, le=10)
    full_break_atr: float = Field(default=2.0, gt=0, le=20)
    max_break_atr: float = Field(default=8.0, gt=0, le=30)
    min_move_30m_atr: float = Field(default=6.0, ge=0, le=50)
    full_move_30m_atr: float = Field(default=12.0, gt=0, le=100)
    min_volume_ratio: float = Field(default=1.5, ge=0, le=20)
    full_volume_ratio: float = Field(default=3.0, gt=0, le=50)
    adx_zero: float = Field(default=20.0, ge=0, le=100)
    adx_full: float = Field(default=45.0, gt=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.min_break_atr < self.full_break_atr <= self.max_break_atr:
            raise ValueError(
                f"need min_break_atr ({self.min_break_atr}) < full_break_atr ({self.full_break_atr}) "
                f"<= max_break_atr ({self.max_break_atr})"
            )
        pairs = (
            ("min_move_30m_atr", "full_move_30m_atr"),
            ("min_volume_ratio", "full_volume_ratio"),
            ("adx_zero", "adx_full"),
        )
        require_ordered(self, pairs)
        return self


def decide(
    snapshot: Snapshot, history: MarketHistory, state: StrategyState, params: MomentumBreakoutParams
) -> list[Signal]:
    """A CALL or PUT on a confirmed breakout, or nothing."""
    atr = snapshot.value(Feature.ATR_14)
    if params.level == "opening_range":
        up_atr = down_atr = snapshot.value(Feature.OR_BREAK_ATR)
        up_level, down_level = snapshot.value(Feature.OR_HIGH), snapshot.value(Feature.OR_LOW)
        name = "opening range"
    else:
        up_atr, down_atr = snapshot.value(Feature.HIGH_20_BREAK_ATR), snapshot.value(Feature.LOW_20_BREAK_ATR)
        up_level, down_level = snapshot.close - up_atr * atr, snapshot.close - down_atr * atr
        name = "20-bar range"
    trend_up = snapshot.regime.trend_up
    if params.min_break_atr <= up_atr <= params.max_break_atr and trend_up is True:
        direction, beyond_atr, level, side = OptionRight.CALL, up_atr, up_level, "high"
    elif params.min_break_atr <= -down_atr <= params.max_break_atr and trend_up is False:
        direction, beyond_atr, level, side = OptionRight.PUT, -down_atr, down_level, "low"
    else:
        return []
    if direction is state.last_direction:
        return []
    sign = 1.0 if direction is OptionRight.CALL else -1.0
    move_atr = ratio(sign * snapshot.value(Feature.RET_30M_BPS), snapshot.value(Feature.ATR_14_BPS))
    volume_ratio = snapshot.value(Feature.VOLUME_RATIO_20)
    if not (move_atr >= params.min_move_30m_atr and volume_ratio >= params.min_volume_ratio):
        return []
    evidence = (
        Evidence("break", 0.35, ramp(beyond_atr, params.min_break_atr, params.full_break_atr)),
        Evidence("30-min move", 0.25, ramp(move_atr, params.min_move_30m_atr, params.full_move_30m_atr)),
        Evidence("volume", 0.25, ramp(volume_ratio, params.min_volume_ratio, params.full_volume_ratio)),
        Evidence("ADX", 0.15, ramp(snapshot.regime.adx, params.adx_zero, params.adx_full)),
    )
    why = (
        f"{snapshot.underlying.value} broke the {name} {side} {level:.2f}: close {snapshot.close:.2f} is "
        f"{abs(snapshot.close - level):.2f} beyond ({beyond_atr:.2f} ATR, ATR {atr:.2f}), "
        f"{sign * snapshot.value(Feature.RET_30M_BPS):+.1f} bps ({move_atr:.1f} ATR) with it in 30 min, "
        f"on {volume_ratio:.2f}x the 20-bar mean volume"
    )
    return [make_signal(NAME, snapshot, history, direction, evidence, why, params)]
