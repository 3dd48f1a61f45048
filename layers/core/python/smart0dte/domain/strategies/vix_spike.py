"""VIX spike: in a HIGH_VOL regime, side with fear while it jumps, with relief once it fades, and
otherwise stand aside.

- PUT when VIX rose at least `min_jump_15m_pct` over 15 minutes and the underlying fell at least
  `min_drop_bps` over the same 15 minutes (the sell-off confirms the fear).
- CALL when VIX, still `min_elevated_pct` above the prior close, has fallen `min_fade_pct` from its
  session high and the underlying rose at least `min_rebound_bps` over 15 minutes.
- Nothing otherwise: a high VIX alone says stand aside, which the regime gate already does for the
  other strategies.

Confidence (see `base`), PUT: 0.5 x VIX jump (min_jump_15m_pct -> full_jump_15m_pct) + 0.3 x drop
(min_drop_bps -> full_drop_bps) + 0.2 x VIX level (level_zero -> level_full). CALL: 0.5 x fade from
the high (min_fade_pct -> full_fade_pct) + 0.3 x rebound (min_rebound_bps -> full_rebound_bps) + 0.2
x VIX level.
"""

from __future__ import annotations

from typing import Self

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
    require_ordered,
)

NAME = "vix_spike"


@validated_dataclass(frozen=True)
class VixSpikeParams(StrategyParams):
    target_delta: float = Field(default=0.35, gt=0.05, lt=0.95)
    min_jump_15m_pct: float = Field(default=10.0, gt=0, le=200)
    full_jump_15m_pct: float = Field(default=25.0, gt=0, le=400)
    min_drop_bps: float = Field(default=15.0, ge=0, le=2000)
    full_drop_bps: float = Field(default=80.0, gt=0, le=5000)
    min_elevated_pct: float = Field(default=15.0, ge=0, le=500)
    min_fade_pct: float = Field(default=8.0, gt=0, le=90)
    full_fade_pct: float = Field(default=20.0, gt=0, le=99)
    min_rebound_bps: float = Field(default=15.0, ge=0, le=2000)
    full_rebound_bps: float = Field(default=80.0, gt=0, le=5000)
    level_zero: float = Field(default=18.0, ge=5, le=100)
    level_full: float = Field(default=35.0, gt=5, le=150)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        pairs = (
            ("min_jump_15m_pct", "full_jump_15m_pct"),
            ("min_drop_bps", "full_drop_bps"),
            ("min_fade_pct", "full_fade_pct"),
            ("min_rebound_bps", "full_rebound_bps"),
            ("level_zero", "level_full"),
        )
        require_ordered(self, pairs)
        return self


def decide(
    snapshot: Snapshot, history: MarketHistory, state: StrategyState, params: VixSpikeParams
) -> list[Signal]:
    """A PUT into a VIX jump, a CALL as it fades, or nothing."""
    vix = snapshot.value(Feature.VIX_LEVEL)
    jump_pct = snapshot.value(Feature.VIX_RET_15M_PCT)
    vs_prior_pct = snapshot.value(Feature.VIX_RET_PRIOR_CLOSE_PCT)
    off_high_pct = snapshot.value(Feature.VIX_OFF_HIGH_PCT)
    move_bps = snapshot.value(Feature.RET_15M_BPS)
    symbol = snapshot.underlying.value
    level = Evidence("VIX level", 0.2, ramp(vix, params.level_zero, params.level_full))
    if jump_pct >= params.min_jump_15m_pct and -move_bps >= params.min_drop_bps:
        direction = OptionRight.PUT
        evidence = (
            Evidence("jump", 0.5, ramp(jump_pct, params.min_jump_15m_pct, params.full_jump_15m_pct)),
            Evidence("drop", 0.3, ramp(-move_bps, params.min_drop_bps, params.full_drop_bps)),
            level,
        )
        why = (
            f"VIX jumped {jump_pct:+.1f}% in 15 min to {vix:.2f} ({vs_prior_pct:+.1f}% vs prior close) "
            f"while {symbol} fell {move_bps:+.1f} bps to {snapshot.close:.2f}"
        )
    elif (
        vs_prior_pct >= params.min_elevated_pct
        and -off_high_pct >= params.min_fade_pct
        and move_bps >= params.min_rebound_bps
    ):
        direction = OptionRight.CALL
        evidence = (
            Evidence("fade", 0.5, ramp(-off_high_pct, params.min_fade_pct, params.full_fade_pct)),
            Evidence("rebound", 0.3, ramp(move_bps, params.min_rebound_bps, params.full_rebound_bps)),
            level,
        )
        why = (
            f"VIX {vix:.2f} is {off_high_pct:+.1f}% off its session high but still {vs_prior_pct:+.1f}% vs "
            f"prior close, and {symbol} rebounded {move_bps:+.1f} bps in 15 min to {snapshot.close:.2f}"
        )
    else:
        return []
    return [make_signal(NAME, snapshot, history, direction, evidence, why, params)]
