"""Analytics of one 0DTE chain at one instant: mid IV and Greeks per strike, contract choice,
the ATM strike and the ATM straddle's expected move, put/call skew and ex-dividend flags.

Quotes that are missing, crossed, locked or have no bid are marked and never used: their IV
and Greeks are NaN and no selection picks them. Time to expiry runs to the session close
(0DTE options on SPY, QQQ and IWM stop trading and settle at the close).

Pricing is European, the listed options American: on an ex-dividend date (the config list in
ex_dividend.py, PricingInputs' default) in-the-money calls are flagged ``early_exercise_risk`` and the
selections skip them. Validation: structural errors and impossible parameters raise DomainError naming
the field (arrays that are not numeric or of different lengths, is_call not boolean, a strike that is
not a finite positive number, spot or minutes to expiry not finite and positive / non-negative, an
unknown underlying, ex-dividend dates that are not dates); per-quote market conditions (missing,
crossed, locked or zero-bid quotes, a mid below intrinsic) are flags and IV statuses, not errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import IntEnum
from numbers import Real

import numpy as np
import numpy.typing as npt

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.ex_dividend import default_ex_dividend_dates, validated_ex_dividend_dates
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
    """Rate and dividend yields the analytics price with (continuous, annual fractions), and the
    ex-dividend dates per underlying (default: the maintained list in ex_dividend.py)."""

    rate: float = 0.043
    div_yield: Mapping[Underlying, float] = field(
        default_factory=lambda: {Underlying.SPY: 0.012, Underlying.QQQ: 0.006, Underlying.IWM: 0.011}
    )
    ex_dividend_dates: Mapping[Underlying, frozenset[date]] = field(default_factory=default_ex_dividend_dates)

    def __post_init__(self) -> None:
        if not _is_number(self.rate) or not -0.05 <= self.rate <= 0.25:
            raise DomainError(f"rate={self.rate!r} must be a number within -0.05..0.25")
        yields: dict[Underlying, float] = {}
        for key, q in self.div_yield.items():
            underlying = _underlying("div_yield", key)
            if not _is_number(q) or not 0 <= q <= 0.2:
                raise DomainError(f"div_yield[{underlying.value}]={q!r} must be a number within 0..0.2")
            yields[underlying] = float(q)
        try:
            dates = validated_ex_dividend_dates(self.ex_dividend_dates)
        except ValueError as error:
            raise DomainError(str(error)) from None
        object.__setattr__(self, "div_yield", yields)
        object.__setattr__(self, "ex_dividend_dates", dates)

    def is_ex_dividend(self, underlying: Underlying, day: date) -> bool:
        return day in self.ex_dividend_dates.get(underlying, frozenset())


def _is_number(value: object) -> bool:
    """A finite real number (not a bool, not a string)."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


def _underlying(field_name: str, key: object) -> Underlying:
    if isinstance(key, Underlying):
        return key
    try:
        return Underlying(str(key))
    except ValueError:
        known = ", ".join(u.value for u in Underlying)
        raise DomainError(f"{field_name}: unknown underlying {key!r} (known: {known})") from None


@dataclass(frozen=True, slots=True)
class ChainAnalytics:
    """Per-contract arrays (same order as the input) plus the flags that gate their use.

    Greeks are at each contract's mid IV (NaN where it is not usable), in the units of
    pricing.Greeks: vega per unit vol and per vol point, theta per year and per minute, rho per unit
    rate.
    """

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
    """In-the-money call on an ex-dividend date of its underlying: American early exercise may be
    optimal, which our European pricing ignores. Selections skip these."""
    theta_per_year: F64 = field(default_factory=lambda: np.empty(0))
    vega_per_unit_vol: F64 = field(default_factory=lambda: np.empty(0))
    rho_per_unit_rate: F64 = field(default_factory=lambda: np.empty(0))
    ex_dividend_today: bool = False

    @property
    def usable(self) -> BoolArray:
        """Quote is clean and its IV is defined: the only rows analytics (straddle, skew) may use."""
        usable: BoolArray = (self.quote_flag == QuoteFlag.OK) & (self.iv_status == IVStatus.OK)
        return usable

    @property
    def selectable(self) -> BoolArray:
        """Usable and not at risk of early exercise: the rows a contract selection may pick."""
        selectable: BoolArray = self.usable & ~self.early_exercise_risk
        return selectable


def flag_quotes(bid: F64, ask: F64) -> npt.NDArray[np.int8]:
    flags = np.zeros(bid.shape, dtype=np.int8)
    flags[bid == ask] = QuoteFlag.LOCKED
    flags[bid > ask] = QuoteFlag.CROSSED
    flags[bid <= 0] = QuoteFlag.ZERO_BID
    flags[~(np.isfinite(bid) & np.isfinite(ask)) | (ask <= 0)] = QuoteFlag.MISSING
    return flags


def _array(name: str, value: object, kinds: str) -> npt.NDArray[np.generic]:
    if isinstance(value, str | bytes) or value is None:
        raise DomainError(f"{name} must be an array, got {type(value).__name__} {value!r:.40}")
    try:
        array = np.asarray(value)
    except ValueError as error:
        raise DomainError(f"{name} must be a one-dimensional array: {error}") from None
    if array.ndim != 1:
        raise DomainError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.dtype.kind not in kinds:
        what = "booleans (True for calls)" if kinds == "b" else "numbers"
        raise DomainError(f"{name} must be an array of {what}, got dtype {array.dtype}")
    return array


def _chain_arrays(
    strike: object, is_call: object, bid: object, ask: object
) -> tuple[F64, BoolArray, F64, F64]:
    """The per-contract inputs as arrays of one length (lists are accepted), or a DomainError."""
    k = _array("strike", strike, "iuf").astype(np.float64, copy=False)
    c: BoolArray = _array("is_call", is_call, "b").astype(np.bool_, copy=False)
    b = _array("bid", bid, "iuf").astype(np.float64, copy=False)
    a = _array("ask", ask, "iuf").astype(np.float64, copy=False)
    lengths = {"strike": k.size, "is_call": c.size, "bid": b.size, "ask": a.size}
    if len(set(lengths.values())) > 1:
        raise DomainError("strike, is_call, bid and ask must have one length, got " + str(lengths))
    if k.size and not (np.all(np.isfinite(k)) and float(k.min()) > 0):
        bad = int(np.flatnonzero(~(np.isfinite(k) & (k > 0)))[0])
        raise DomainError(f"strike[{bad}]={float(k[bad])!r} must be a finite number > 0")
    return k, c, b, a


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
    """IV from the mid and Greeks at that IV for every clean quote (vectorized).

    `session_date` is the trading date (New York) the ex-dividend check uses. Raises DomainError
    naming the field for structural errors and impossible parameters (see the module docstring).
    """
    if not isinstance(underlying, Underlying):
        raise DomainError(f"underlying must be an Underlying, got {underlying!r:.40}")
    if type(session_date) is not date:
        raise DomainError(f"session_date must be a datetime.date, got {session_date!r:.40}")
    if not _is_number(spot) or not spot > 0:
        raise DomainError(f"spot={spot!r} must be a finite number > 0")
    if not _is_number(minutes_to_expiry) or minutes_to_expiry < 0:
        raise DomainError(f"minutes_to_expiry={minutes_to_expiry!r} must be a finite number >= 0")
    if not isinstance(inputs, PricingInputs):
        raise DomainError(f"inputs must be PricingInputs, got {type(inputs).__name__}")
    strike, is_call, bid, ask = _chain_arrays(strike, is_call, bid, ask)
    spot, minutes_to_expiry = float(spot), float(minutes_to_expiry)
    flags = flag_quotes(bid, ask)
    clean = flags == QuoteFlag.OK
    mid = np.where(clean, (bid + ask) / 2, np.nan)
    t_years = float(t_years_from_minutes(minutes_to_expiry))
    q = inputs.div_yield.get(underlying, 0.0)
    iv, status = implied_vol(mid, spot, strike, t_years, inputs.rate, q, is_call)
    status = np.where(clean, status, IVStatus.INVALID_INPUT).astype(np.int8)
    iv = np.where(status == IVStatus.OK, iv, np.nan)
    greeks = bsm_greeks(spot, strike, t_years, inputs.rate, q, iv, is_call)
    ex_dividend_today = inputs.is_ex_dividend(underlying, session_date)
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
        theta_per_year=greeks.theta_per_year,
        vega_per_unit_vol=greeks.vega_per_unit_vol,
        rho_per_unit_rate=greeks.rho_per_unit_rate,
        ex_dividend_today=ex_dividend_today,
    )


def analyze_snapshot(snapshot: ChainSnapshot, close_at: datetime, inputs: PricingInputs) -> ChainAnalytics:
    """`analyze` for a domain ChainSnapshot, expiring at `close_at` (the session close).

    The ex-dividend check uses the snapshot's New York trading date (from its timestamp), not the
    options' expiry.
    """
    quotes = snapshot.quotes
    return analyze(
        snapshot.underlying,
        snapshot.ts.astimezone(NEW_YORK).date(),
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


def _side(chain: ChainAnalytics, right: OptionRight, allow_early_exercise_risk: bool) -> BoolArray:
    if not isinstance(right, OptionRight):
        raise DomainError(f"right must be an OptionRight, got {right!r:.40}")
    side = chain.is_call if right is OptionRight.CALL else ~chain.is_call
    rows: BoolArray = side & (chain.usable if allow_early_exercise_risk else chain.selectable)
    return rows


def select_by_delta(
    chain: ChainAnalytics,
    right: OptionRight,
    target_abs_delta: float,
    allow_early_exercise_risk: bool = False,
) -> int | None:
    """Index of the usable contract of `right` whose |delta| is closest to the target; calls flagged
    for early-exercise risk are skipped unless allowed."""
    if not _is_number(target_abs_delta) or not 0 < target_abs_delta < 1:
        raise DomainError(f"target_abs_delta={target_abs_delta!r} must be within (0, 1)")
    rows = _side(chain, right, allow_early_exercise_risk)
    return _nearest(rows, np.abs(np.abs(chain.delta) - target_abs_delta))


def select_by_moneyness(
    chain: ChainAnalytics,
    right: OptionRight,
    otm_fraction: float,
    allow_early_exercise_risk: bool = False,
) -> int | None:
    """Index of the usable contract nearest to spot x (1 +/- otm_fraction), out of the money side;
    calls flagged for early-exercise risk are skipped unless allowed."""
    if not _is_number(otm_fraction) or not -0.5 < otm_fraction < 0.5:
        raise DomainError(f"otm_fraction={otm_fraction!r} must be within (-0.5, 0.5)")
    rows = _side(chain, right, allow_early_exercise_risk)
    is_call = right is OptionRight.CALL
    target = chain.spot * (1 + otm_fraction if is_call else 1 - otm_fraction)
    return _nearest(rows, np.abs(chain.strike - target))


def early_exercise_skips(chain: ChainAnalytics, right: OptionRight) -> int:
    """How many usable contracts of `right` the selections skip for early-exercise risk."""
    side = chain.is_call if right is OptionRight.CALL else ~chain.is_call
    return int(np.count_nonzero(side & chain.usable & chain.early_exercise_risk))


def atm_strike(chain: ChainAnalytics) -> float | None:
    """The strike nearest spot whatever its quotes (the lower of two equally near), None for an
    empty chain: the at-the-money line a trader reads the chain around."""
    if chain.strike.size == 0:
        return None
    strikes = np.unique(chain.strike)  # sorted, so argmin's first hit is the lower of a tie
    return float(strikes[int(np.argmin(np.abs(strikes - chain.spot)))])


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
    """IV of the ~25-delta put minus IV of the ~25-delta call (positive: puts richer); contracts that
    are not usable (bad quote, no IV) never enter."""
    put = select_by_delta(chain, OptionRight.PUT, abs_delta)
    call = select_by_delta(chain, OptionRight.CALL, abs_delta)
    if put is None or call is None:
        return None
    return float(chain.iv[put] - chain.iv[call])
