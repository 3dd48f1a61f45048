"""Analytics of one 0DTE chain at one instant: mid IV and Greeks per strike, contract choice,
the ATM straddle's expected move, put/call skew and ex-dividend flags.

Quotes that are missing, crossed, locked or have no bid are marked and never used: their IV
and Greeks are NaN and no selection picks them. Time to expiry runs to the session close
(0DTE options on SPY, QQQ and IWM stop trading and settle at the close).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from smart0dte.domain.models import ChainSnapshot, DomainError, OptionRight, Underlying
from smart0dte.domain.pricing import IVStatus, bsm_greeks, implied_vol, t_years_from_minutes

F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class QuoteFlag(IntEnum):
    """Why a quote is (not) usable for analytics and trading."""

    OK = 0
    MISSING = 1
    ZERO_BID = 2
    CROSSED = 3
    LOCKED = 4


@dataclass(frozen=True, slots=True)
class PricingInputs:
    """Rate and dividend yields the analytics price with (continuous, annual fractions)."""

    rate: float = 0.043
    div_yield: Mapping[Underlying, float] = field(
        default_factory=lambda: {Underlying.SPY: 0.012, Underlying.QQQ: 0.006, Underlying.IWM: 0.011}
    )
    ex_dividend_dates: Mapping[Underlying, frozenset[date]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not -0.05 <= self.rate <= 0.25:
            raise DomainError(f"rate={self.rate} must be within -0.05..0.25")
        for underlying, q in self.div_yield.items():
            if not 0 <= q <= 0.2:
                raise DomainError(f"div_yield[{underlying}]={q} must be within 0..0.2")


@dataclass(frozen=True, slots=True)
class ChainAnalytics:
    """Per-contract arrays (same order as the input) plus the flags that gate their use."""

    strike: F64
    is_call: BoolArray
    bid: F64
    ask: F64
    mid: F64
    quote_flag: npt.NDArray[np.int8]
    iv: F64
    iv_status: npt.NDArray[np.int8]
    delta: F64
    gamma: F64
    theta_per_minute: F64
    vega_per_vol_point: F64
    spot: float
    minutes_to_expiry: float
    early_exercise_risk: BoolArray

    @property
    def usable(self) -> BoolArray:
        """Quote is clean and its IV is defined: the only rows selections and signals may use."""
        usable: BoolArray = (self.quote_flag == QuoteFlag.OK) & (self.iv_status == IVStatus.OK)
        return usable


def flag_quotes(bid: F64, ask: F64) -> npt.NDArray[np.int8]:
    flags = np.zeros(bid.shape, dtype=np.int8)
    flags[bid == ask] = QuoteFlag.LOCKED
    flags[bid > ask] = QuoteFlag.CROSSED
    flags[bid <= 0] = QuoteFlag.ZERO_BID
    flags[~(np.isfinite(bid) & np.isfinite(ask)) | (ask <= 0)] = QuoteFlag.MISSING
    return flags


def analyze(
    underlying: Underlying,
    session_date: date,
    strike: F64,
    is_call: BoolArray,
    bid: F64,
    ask: F64,
    spot: float,
    minutes_to_expiry: float,
    inputs: PricingInputs,
) -> ChainAnalytics:
    """IV from the mid and Greeks at that IV for every clean quote (vectorized)."""
    if not spot > 0:
        raise DomainError(f"spot={spot} must be > 0")
    if minutes_to_expiry < 0:
        raise DomainError(f"minutes_to_expiry={minutes_to_expiry} must be >= 0")
    flags = flag_quotes(bid, ask)
    clean = flags == QuoteFlag.OK
    mid = np.where(clean, (bid + ask) / 2, np.nan)
    t_years = float(t_years_from_minutes(minutes_to_expiry))
    q = inputs.div_yield.get(underlying, 0.0)
    iv, status = implied_vol(mid, spot, strike, t_years, inputs.rate, q, is_call)
    status = np.where(clean, status, IVStatus.INVALID_INPUT).astype(np.int8)
    iv = np.where(status == IVStatus.OK, iv, np.nan)
    greeks = bsm_greeks(spot, strike, t_years, inputs.rate, q, iv, is_call)
    ex_dividend_today = session_date in inputs.ex_dividend_dates.get(underlying, frozenset())
    return ChainAnalytics(
        strike=strike,
        is_call=is_call,
        bid=bid,
        ask=ask,
        mid=mid,
        quote_flag=flags,
        iv=iv,
        iv_status=status,
        delta=greeks.delta,
        gamma=greeks.gamma,
        theta_per_minute=greeks.theta_per_minute,
        vega_per_vol_point=greeks.vega_per_vol_point,
        spot=spot,
        minutes_to_expiry=minutes_to_expiry,
        early_exercise_risk=is_call & (strike < spot) & ex_dividend_today,
    )


def analyze_snapshot(snapshot: ChainSnapshot, close_at: datetime, inputs: PricingInputs) -> ChainAnalytics:
    """`analyze` for a domain ChainSnapshot, expiring at `close_at` (the session close)."""
    quotes = snapshot.quotes
    return analyze(
        snapshot.underlying,
        snapshot.expiry,
        np.array([q.contract.strike for q in quotes], dtype=np.float64),
        np.array([q.contract.right is OptionRight.CALL for q in quotes], dtype=np.bool_),
        np.array([q.bid for q in quotes], dtype=np.float64),
        np.array([q.ask for q in quotes], dtype=np.float64),
        snapshot.underlying_price,
        max(0.0, (close_at - snapshot.ts).total_seconds() / 60),
        inputs,
    )


def _nearest(candidates: BoolArray, distance: F64) -> int | None:
    if not candidates.any():
        return None
    return int(np.argmin(np.where(candidates, distance, np.inf)))


def select_by_delta(chain: ChainAnalytics, right: OptionRight, target_abs_delta: float) -> int | None:
    """Index of the usable contract of `right` whose |delta| is closest to the target."""
    if not 0 < target_abs_delta < 1:
        raise DomainError(f"target_abs_delta={target_abs_delta} must be within (0, 1)")
    side = chain.is_call if right is OptionRight.CALL else ~chain.is_call
    return _nearest(side & chain.usable, np.abs(np.abs(chain.delta) - target_abs_delta))


def select_by_moneyness(chain: ChainAnalytics, right: OptionRight, otm_fraction: float) -> int | None:
    """Index of the usable contract nearest to spot x (1 +/- otm_fraction), out of the money side."""
    if not -0.5 < otm_fraction < 0.5:
        raise DomainError(f"otm_fraction={otm_fraction} must be within (-0.5, 0.5)")
    is_call = right is OptionRight.CALL
    target = chain.spot * (1 + otm_fraction if is_call else 1 - otm_fraction)
    side = chain.is_call if is_call else ~chain.is_call
    return _nearest(side & chain.usable, np.abs(chain.strike - target))


@dataclass(frozen=True, slots=True)
class ExpectedMove:
    strike: float
    straddle_usd: float
    """Call mid + put mid at the ATM strike: the market's price of the move to the close."""
    move_fraction: float
    """straddle / spot."""


def atm_straddle(chain: ChainAnalytics) -> ExpectedMove | None:
    """The straddle at the strike nearest spot where both call and put are usable."""
    usable = chain.usable
    calls = {float(k): i for i, k in enumerate(chain.strike) if chain.is_call[i] and usable[i]}
    puts = {float(k): i for i, k in enumerate(chain.strike) if not chain.is_call[i] and usable[i]}
    both = sorted(set(calls) & set(puts), key=lambda k: abs(k - chain.spot))
    if not both:
        return None
    strike = both[0]
    straddle = float(chain.mid[calls[strike]] + chain.mid[puts[strike]])
    return ExpectedMove(strike, straddle, straddle / chain.spot)


def put_call_skew(chain: ChainAnalytics, abs_delta: float = 0.25) -> float | None:
    """IV of the ~25-delta put minus IV of the ~25-delta call (positive: puts richer)."""
    put = select_by_delta(chain, OptionRight.PUT, abs_delta)
    call = select_by_delta(chain, OptionRight.CALL, abs_delta)
    if put is None or call is None:
        return None
    return float(chain.iv[put] - chain.iv[call])
