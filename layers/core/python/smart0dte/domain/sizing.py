"""How many contracts to buy: fixed fractional, half-Kelly and volatility-adjusted.

All methods size on premium at risk (a long option can lose all of it) and never exceed
`max_risk_per_trade` of equity; they return whole contracts, rounding down.
"""

from __future__ import annotations

import math
from enum import StrEnum

from smart0dte.domain.models import CONTRACT_MULTIPLIER, DomainError

KELLY_CAP = 0.25
"""Half-Kelly never risks more than this fraction of equity, however good the edge looks."""


class SizingMethod(StrEnum):
    FIXED_FRACTIONAL = "fixed_fractional"
    HALF_KELLY = "half_kelly"
    VOLATILITY_ADJUSTED = "volatility_adjusted"


def _contracts(risk_budget_usd: float, premium_per_share_usd: float) -> int:
    if premium_per_share_usd <= 0 or not math.isfinite(premium_per_share_usd):
        raise DomainError(f"premium_per_share_usd={premium_per_share_usd} must be a positive price")
    return max(0, math.floor(risk_budget_usd / (premium_per_share_usd * CONTRACT_MULTIPLIER) + 1e-9))


def fixed_fractional(equity_usd: float, premium_per_share_usd: float, risk_fraction: float) -> int:
    """Contracts whose total premium fits in `risk_fraction` of equity."""
    if not 0 < risk_fraction <= 1:
        raise DomainError(f"risk_fraction={risk_fraction} must be within (0, 1]")
    return _contracts(max(equity_usd, 0.0) * risk_fraction, premium_per_share_usd)


def kelly_fraction(win_probability: float, win_loss_ratio: float) -> float:
    """Full Kelly fraction f* = p - (1 - p) / b for a bet paying b per 1 risked; 0 when negative."""
    if not 0 <= win_probability <= 1:
        raise DomainError(f"win_probability={win_probability} must be within [0, 1]")
    if win_loss_ratio <= 0:
        raise DomainError(f"win_loss_ratio={win_loss_ratio} must be > 0")
    return max(0.0, win_probability - (1 - win_probability) / win_loss_ratio)


def half_kelly(
    equity_usd: float,
    premium_per_share_usd: float,
    win_probability: float,
    win_loss_ratio: float,
    max_risk_fraction: float,
) -> int:
    """Half the Kelly fraction, capped at 25% and at `max_risk_fraction` of equity."""
    fraction = min(kelly_fraction(win_probability, win_loss_ratio) / 2, KELLY_CAP, max_risk_fraction)
    if fraction <= 0:
        return 0
    return fixed_fractional(equity_usd, premium_per_share_usd, fraction)


def volatility_adjusted(
    equity_usd: float,
    premium_per_share_usd: float,
    risk_fraction: float,
    current_vol: float,
    reference_vol: float,
) -> int:
    """Fixed fractional scaled by reference / current volatility, never above `risk_fraction`."""
    if current_vol <= 0 or reference_vol <= 0:
        raise DomainError(f"current_vol={current_vol} and reference_vol={reference_vol} must be > 0")
    return fixed_fractional(
        equity_usd, premium_per_share_usd, risk_fraction * min(1.0, reference_vol / current_vol)
    )
