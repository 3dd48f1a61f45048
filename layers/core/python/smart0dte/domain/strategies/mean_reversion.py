"""Mean reversion: fade a fast move that left price stretched from VWAP and oversold (overbought)
on RSI(14), once a bar has turned back, if the market was ranging before the move.

CALL when, at the bar before this one, RSI_14 <= rsi_oversold; the last 15 minutes fell at least
`min_move_15m_atr` ATRs; the close is at least `min_vwap_atr` ATRs below VWAP; and (with
require_turn) this bar closed up. PUT on the mirror image (RSI >= 100 - rsi_oversold). The market
must have been ranging before the move: ADX(14) `context_bars` ago below `max_context_adx`. ADX
itself rises with a sharp move, so the gate in `strategies` admits RANGE and TREND and this rule
tells a stretch out of a range (faded) from a trend (left alone).

Confidence (see `base`): 0.35 x 15-minute move (min_move_15m_atr -> full_move_15m_atr) + 0.25 x
RSI extremity (rsi_oversold -> rsi_full, mirrored for PUT) + 0.2 x VWAP distance (min_vwap_atr ->
full_vwap_atr) + 0.2 x Bollinger z beyond the mean (z_zero -> z_full).
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
    ratio,
    require_ordered,
)

NAME = "mean_reversion"


@validated_dataclass(frozen=True)
class MeanReversionParams(StrategyParams):
    target_delta: float = Field(default=0.50, gt=0.05, lt=0.95)
    rsi_oversold: float = Field(default=25.0, ge=1, le=49)
    """PUT side uses 100 - rsi_oversold."""
    rsi_full: float = Field(default=5.0, ge=0, le=48)
    min_move_15m_atr: float = Field(default=6.0, ge=0, le=50)
    full_move_15m_atr: float = Field(default=12.0, gt=0, le=100)
    min_vwap_atr: float = Field(default=3.0, ge=0, le=50)
    full_vwap_atr: float = Field(default=8.0, gt=0, le=100)
    z_zero: float = Field(default=1.0, ge=0, le=10)
    z_full: float = Field(default=3.0, gt=0, le=10)
    require_turn: bool = True
    """Wait for a bar that closed back toward the mean before fading."""
    context_bars: int = Field(default=10, ge=1, le=120)
    max_context_adx: float = Field(default=25.0, ge=5, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        pairs = (
            ("rsi_full", "rsi_oversold"),
            ("min_move_15m_atr", "full_move_15m_atr"),
            ("min_vwap_atr", "full_vwap_atr"),
            ("z_zero", "z_full"),
        )
        require_ordered(self, pairs)
        return self


def decide(
    snapshot: Snapshot, history: MarketHistory, state: StrategyState, params: MeanReversionParams
) -> list[Signal]:
    """A CALL after a stretch down, a PUT after a stretch up, or nothing."""
    rows = history.features[snapshot.underlying]
    if rows.shape[0] <= max(1, params.context_bars):
        return []
    prev_rsi = float(rows[-2, Feature.RSI_14])
    move_bps = snapshot.value(Feature.RET_15M_BPS)
    move_atr = ratio(move_bps, snapshot.value(Feature.ATR_14_BPS))
    vwap_atr = snapshot.value(Feature.VWAP_DIST_ATR)
    last_bps = snapshot.value(Feature.RET_1M_BPS)
    down = prev_rsi <= params.rsi_oversold and -move_atr >= params.min_move_15m_atr
    up = prev_rsi >= 100 - params.rsi_oversold and move_atr >= params.min_move_15m_atr
    if down and vwap_atr <= -params.min_vwap_atr:
        direction, side, turned = OptionRight.CALL, "down", last_bps > 0
        rsi_strength = ramp(prev_rsi, params.rsi_oversold, params.rsi_full)
    elif up and vwap_atr >= params.min_vwap_atr:
        direction, side, turned = OptionRight.PUT, "up", last_bps < 0
        rsi_strength = ramp(prev_rsi, 100 - params.rsi_oversold, 100 - params.rsi_full)
    else:
        return []
    if params.require_turn and not turned:
        return []
    context_adx = float(rows[-1 - params.context_bars, Feature.ADX_14])
    if not context_adx < params.max_context_adx:
        return []
    z = snapshot.value(Feature.BB_Z_20)
    evidence = (
        Evidence("move", 0.35, ramp(abs(move_atr), params.min_move_15m_atr, params.full_move_15m_atr)),
        Evidence("RSI", 0.25, rsi_strength),
        Evidence("VWAP", 0.2, ramp(abs(vwap_atr), params.min_vwap_atr, params.full_vwap_atr)),
        Evidence("band", 0.2, ramp(abs(z), params.z_zero, params.z_full)),
    )
    why = (
        f"{snapshot.underlying.value} stretched {side} {move_bps:+.1f} bps ({move_atr:+.1f} ATR) in 15 min "
        f"to {snapshot.close:.2f}, {vwap_atr:+.2f} ATR from VWAP {snapshot.value(Feature.VWAP):.2f}, "
        f"RSI(14) {prev_rsi:.1f} a bar ago, Bollinger z {z:+.2f}; last bar {last_bps:+.1f} bps back; "
        f"ADX {context_adx:.1f} {params.context_bars} bars before (a range)"
    )
    return [make_signal(NAME, snapshot, history, direction, evidence, why, params)]
