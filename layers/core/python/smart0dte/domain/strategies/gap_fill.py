"""Gap fill: fade an opening gap against the prior close once the fade has started.

After a gap up of `min_gap_bps`..`max_gap_bps` that is also at least `min_gap_straddles` times the
move the ATM straddle prices to the close (a gap large for the day's volatility), between
`earliest_minute` and `latest_minute` after the open: PUT when price has already retraced
`min_fill_fraction`..`max_fill_fraction` of the gap, the last 5 minutes moved at least
`min_move_atr` ATRs toward the fill and at least `min_room_atr` ATRs are left to it. CALL on the
mirror image after a gap down. In a TREND regime the leading DI must point toward the fill. One
signal a day by default.

Confidence (see `base`): 0.4 x retrace (min_fill_fraction -> full_fill_fraction) + 0.3 x distance
still to the prior close (min_room_atr -> full_room_atr) + 0.3 x 5-minute move toward the fill
(min_move_atr -> full_move_atr).
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic.dataclasses import dataclass as validated_dataclass

from smart0dte.domain.features import Feature
from smart0dte.domain.models import OptionRight, Signal
from smart0dte.domain.regime import Regime
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

NAME = "gap_fill"


@validated_dataclass(frozen=True)
class GapFillParams(StrategyParams):
    target_delta: float = Field(default=0.45, gt=0.05, lt=0.95)
    max_signals_per_day: int = Field(default=1, ge=1, le=50)
    min_gap_bps: float = Field(default=30.0, gt=0, le=1000)
    min_gap_straddles: float = Field(default=1.25, ge=0, le=20)
    """Gap over the ATM straddle (STRADDLE_BPS); without a chain the gap cannot be judged: no signal."""
    max_gap_bps: float = Field(default=300.0, gt=0, le=2000)
    """Larger gaps carry news; they fill less often."""
    earliest_minute: float = Field(default=15.0, ge=1, le=390)
    """ATR(14) needs 14 bars; the room and move tests need ATR."""
    latest_minute: float = Field(default=60.0, ge=1, le=390)
    min_fill_fraction: float = Field(default=0.2, ge=0, lt=1)
    full_fill_fraction: float = Field(default=0.4, gt=0, le=1)
    max_fill_fraction: float = Field(default=0.6, gt=0, lt=1)
    """Past this, too little of the gap is left to earn."""
    min_room_atr: float = Field(default=1.0, ge=0, le=50)
    full_room_atr: float = Field(default=6.0, gt=0, le=100)
    min_move_atr: float = Field(default=0.5, ge=0, le=50)
    full_move_atr: float = Field(default=3.0, gt=0, le=50)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        pairs = (
            ("min_gap_bps", "max_gap_bps"),
            ("earliest_minute", "latest_minute"),
            ("min_fill_fraction", "full_fill_fraction"),
            ("full_fill_fraction", "max_fill_fraction"),
            ("min_room_atr", "full_room_atr"),
            ("min_move_atr", "full_move_atr"),
        )
        require_ordered(self, pairs)
        return self


def decide(
    snapshot: Snapshot, history: MarketHistory, state: StrategyState, params: GapFillParams
) -> list[Signal]:
    """A fade of the opening gap toward the prior close, or nothing."""
    gap_bps = snapshot.value(Feature.GAP_BPS)
    minute = snapshot.value(Feature.MINUTES_SINCE_OPEN)
    straddle_bps = snapshot.value(Feature.STRADDLE_BPS)
    gap_straddles = ratio(abs(gap_bps), straddle_bps)
    if not (params.min_gap_bps <= abs(gap_bps) <= params.max_gap_bps):
        return []
    if not gap_straddles >= params.min_gap_straddles:
        return []
    if not (params.earliest_minute <= minute <= params.latest_minute):
        return []
    filled = snapshot.value(Feature.GAP_FILL_FRACTION)
    if not (params.min_fill_fraction <= filled <= params.max_fill_fraction):
        return []
    direction = OptionRight.PUT if gap_bps > 0 else OptionRight.CALL
    if snapshot.regime.regime is Regime.TREND and snapshot.regime.trend_up is not (
        direction is OptionRight.CALL
    ):
        return []
    toward_fill = 1.0 if direction is OptionRight.CALL else -1.0
    move_bps = snapshot.value(Feature.RET_5M_BPS) * toward_fill
    move_atr = ratio(move_bps, snapshot.value(Feature.ATR_14_BPS))
    room_atr = abs(snapshot.value(Feature.GAP_REMAINING_ATR))
    if not (move_atr >= params.min_move_atr and room_atr >= params.min_room_atr):
        return []
    evidence = (
        Evidence("retrace", 0.4, ramp(filled, params.min_fill_fraction, params.full_fill_fraction)),
        Evidence("room", 0.3, ramp(room_atr, params.min_room_atr, params.full_room_atr)),
        Evidence("move", 0.3, ramp(move_atr, params.min_move_atr, params.full_move_atr)),
    )
    prior = history.prior_close[snapshot.underlying.value]
    first_open = float(history.bars[snapshot.underlying.value].open[0])
    why = (
        f"{snapshot.underlying.value} gapped {'up' if gap_bps > 0 else 'down'} {abs(gap_bps):.0f} bps "
        f"(open {first_open:.2f} vs prior close {prior:.2f}, {gap_straddles:.2f}x the {straddle_bps:.0f} bps "
        f"ATM straddle); {filled:.0%} filled at {snapshot.close:.2f} "
        f"after {minute:.0f} min, {room_atr:.2f} ATR still to the fill, last 5 min "
        f"{move_bps:+.1f} bps toward it ({move_atr:.2f} ATR)"
    )
    return [make_signal(NAME, snapshot, history, direction, evidence, why, params)]
