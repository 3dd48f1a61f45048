"""Black-Scholes-Merton prices, Greeks and implied volatility, correct down to one minute to expiry.

(Over 800 lines on purpose: the numpy reference and the kernel's binding implement one set of
formulas and must change together; splitting them would put the two halves of each formula in
different files.)

Inputs broadcast against each other (float64), outputs have the broadcast shape, and scalars work
too. Two backends compute the same algorithms and agree to rounding:

- "c": a compiled kernel, pricing_kernel.c built to _pricing_kernel.so next to this module (`make
  kernel`; `make test` and `make demo` build it), loaded with ctypes and run on the numpy buffers
  (scalar inputs are not copied); about twice the numpy throughput (bench/options_math.py). A kernel
  of another ABI version (a stale build) is refused with an ImportError rather than misused.
- "numpy": vectorised numpy, the reference the kernel is tested against, used when the shared
  object is absent or the environment variable SMART0DTE_PRICING_KERNEL is "numpy" ("c" demands the
  kernel; unset or "auto" takes it if present). ``backend()`` tells which one is in use.

Either way only the standard library (ctypes) and numpy are imported, so the domain layer stays small
enough for a Lambda layer.

Validation (the boundary): structural errors and impossible parameters raise PricingInputError (a
ValueError) naming the field and its limit: an argument that is not numeric (a string, None, a
boolean, complex or object data; lists of numbers are accepted), is_call that is not boolean (a
string such as "put" never prices a call), shapes that do not broadcast (the message lists each
field's shape), spot or strike <= 0, a negative t_years or vol (or minutes). Per-element market
data conditions are not errors: NaN (a missing value) prices as NaN and is INVALID_INPUT for
implied_vol, as are a negative or infinite price; a price below intrinsic or above the maximum gets
its IVStatus. The checks cost a few attribute reads per call: the kernel reports out-of-domain
values as a by-product of its own irregular-input path, and inputs that already are contiguous
float64 arrays of one length (a boolean is_call like them) reach it without a copy.

Implied volatility follows the structure of Peter Jaeckel's "Let's Be Rational" (2015/2016):
prices are normalised to Black space (x = ln(F/K), beta = undiscounted price / sqrt(F K)), reduced
to out-of-the-money by put-call parity, given a rational initial guess in one of four regions and
refined by exactly two Householder(3) steps on region-specific objective functions; an element
that did not converge is NaN with a status, never a wrong number. Normal tails come from the Mills
ratio (1 - Phi(u)) / phi(u) (a table built from W. J. Cody's erfcx approximations plus an exact
Taylor step), so tiny normalised prices (deep out-of-the-money near expiry) keep their relative
precision.

Precision: prices and Greeks are within ~1e-11 relative of exact wherever the normal tails they
use are normal doubles (sub-normal tails, below 2.2e-308, are flushed to zero). Near expiry the
difference of two nearly equal tails costs ~eps / (vol sqrt(t)) relative (~1e-12 at one minute),
as in QuantLib; implied vols are accurate to that level, e.g. ~2e-13 absolute at one minute.

Speed of the numpy backend: work runs in chunks through per-thread scratch buffers with in-place
ufuncs, because numpy temporaries that are freed and re-allocated on every call cost page faults
(several microseconds each on a virtual machine such as Lambda's) that outweigh the arithmetic.
"""

from __future__ import annotations

import ctypes
import enum
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Operand = FloatArray | float
"""A chunk of one input: an array, or a scalar that numpy broadcasts."""

MINUTES_PER_YEAR: Final = 365.0 * 24.0 * 60.0
"""Calendar minutes in a (365-day) year: the time unit of every ``t_years`` argument."""

_EPS: Final = float(np.finfo(np.float64).eps)
_SQRT_TWO_PI: Final = math.sqrt(2.0 * math.pi)
_INV_SQRT_TWO_PI: Final = 1.0 / _SQRT_TWO_PI
_SQRT_HALF_PI: Final = math.sqrt(0.5 * math.pi)
_SQRT_HALF: Final = math.sqrt(0.5)
_SQRT_THREE: Final = math.sqrt(3.0)
_CHUNK: Final = 32768
"""Elements per pass: the scratch buffers of one pass stay in cache, call overhead stays small."""
_SMALL_EXPONENT: Final = 2.0**-10
"""Below this |z| exp(z) is a degree-4 Taylor polynomial (truncation < 1e-17 relative)."""
_TINY_EXPONENT: Final = 2.0**-14
"""Below this |z| degree 3 suffices (truncation < 1e-18 relative): rate x hours always is."""
_EXP_MIN_ARG: Final = math.log(float(np.finfo(np.float64).tiny))
"""exp() below this is sub-normal: glibc's slow path. Such results are flushed to zero instead."""
_HOUSEHOLDER_STEPS = 2
"""Fixed number of Householder(3) steps after the rational initial guess (fourth-order convergence)."""
_MAX_STEP_AFTER_CONVERGENCE: Final = 2e-5
"""Relative size of the last Householder(3) step above which an element is declared not converged."""
_MAX_ROUNDING_TO_VOL: Final = 1e-10
"""Largest relative vol error that rounding of the inputs may cause before a vol is withheld
(status ILL_CONDITIONED rather than a vol with few true digits)."""

# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 1969 (the
# coefficients of netlib SPECFUN's CALERF), for a = |argument| in three ranges.
_CODY_SMALL_MAX: Final = 0.46875  # erf(a) = a P(a^2) / Q(a^2)
# erfcx(a) = P(a) / Q(a) up to 4; beyond: erfcx(a) = (1/sqrt(pi) - z P(z)/Q(z)) / a, z = a^-2
_CODY_MID_MAX: Final = 4.0
_CODY_A: Final = (
    0.185777706184603153,
    3.1611237438705656,
    113.864154151050156,
    377.485237685302021,
    3209.37758913846947,
)
_CODY_B: Final = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_CODY_C: Final = (
    2.15311535474403846e-8,
    0.564188496988670089,
    8.88314979438837594,
    66.1191906371416295,
    298.635138197400131,
    881.95222124176909,
    1712.04761263407058,
    2051.07837782607147,
    1230.33935479799725,
)
_CODY_D: Final = (
    15.7449261107098347,
    117.693950891312499,
    537.181101862009858,
    1621.38957456669019,
    3290.79923573345963,
    4362.61909014324716,
    3439.36767414372164,
    1230.33935480374942,
)
_CODY_P: Final = (
    0.0163153871373020978,
    0.305326634961232344,
    0.360344899949804439,
    0.125781726111229246,
    0.0160837851487422766,
    6.58749161529837803e-4,
)
_CODY_Q: Final = (
    2.56852019228982242,
    1.87295284992346047,
    0.527905102951428412,
    0.0605183413124413191,
    0.00233520497626869185,
)
# The Mills ratio R(u) = sqrt(pi/2) erfcx(u / sqrt 2): fold sqrt(pi/2) into the numerators.
_MILLS_MID_NUM: Final = tuple(c * _SQRT_HALF_PI for c in _CODY_C)
_MILLS_LARGE_NUM: Final = tuple(c * _SQRT_HALF_PI for c in _CODY_P)

# P. J. Acklam's inverse normal CDF (relative error < 1.2e-9): only used for initial guesses, which
# two fourth-order steps then take to machine precision.
_ACKLAM_LOG_P_LOW: Final = math.log(0.02425)
_ACKLAM_A: Final = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_ACKLAM_B: Final = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
    1.0,
)
_ACKLAM_C: Final = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_ACKLAM_D: Final = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
    1.0,
)

_LOWER_MAP_SCALE: Final = 2.0 * math.pi / (3.0 * _SQRT_THREE)
"""c in Jaeckel's lower map f(s) = c |x| Phi(x / (sqrt(3) s))^3, which matches b(x, s) as s -> 0."""


class PricingInputError(ValueError):
    """An input no option has: not a number (or is_call not a boolean), shapes that do not broadcast,
    spot or strike <= 0, or a negative t_years, vol or minute count. The message names the field and
    its limit. Missing market data (NaN) is not an error: it gives NaN and an IVStatus per element."""


class IVStatus(enum.IntEnum):
    """Why an implied volatility is (or is not) defined, one per element.

    When several reasons apply, the one with the largest value is reported.
    """

    OK = 0
    NOT_CONVERGED = 1
    """The fixed iteration budget did not reach machine precision; no number is better than a bad one."""
    ILL_CONDITIONED = 2
    """Rounding of the inputs alone could move the vol by more than 1e-10 relative (time value within a
    few ulps of the intrinsic value, or price within a few ulps of its maximum: vega ~ 0)."""
    NO_TIME_VALUE = 3
    """Price equals intrinsic value within rounding, so the volatility is not identifiable."""
    BELOW_INTRINSIC = 4
    """Price below the discounted intrinsic value max(phi (F - K), 0) e^(-r t)."""
    ABOVE_MAXIMUM = 5
    """Price at or above the no-arbitrage maximum (S e^(-q t) for a call, K e^(-r t) for a put)."""
    EXPIRED = 6
    """t_years == 0: there is no time value left to carry a volatility."""
    INVALID_INPUT = 7
    """A non-finite input (missing data) or a negative price. (Spot or strike <= 0 and t_years < 0
    raise PricingInputError instead.)"""


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and analytic Black-Scholes-Merton sensitivities, in the units their names state.

    Money amounts are in the currency of spot and strike, per option on one unit of the underlying.
    Theta is the change of value as calendar time passes (usually negative).
    """

    price: FloatArray
    delta: FloatArray
    """d price / d spot."""
    gamma: FloatArray
    """d delta / d spot."""
    vega_per_unit_vol: FloatArray
    """d price / d vol, vol as a fraction (0.20 -> 1.20 is one unit)."""
    vega_per_vol_point: FloatArray
    """Price change for one volatility point (0.20 -> 0.21)."""
    theta_per_year: FloatArray
    """d price / d calendar time, per year."""
    theta_per_minute: FloatArray
    """d price / d calendar time, per minute (theta_per_year / MINUTES_PER_YEAR)."""
    rho_per_unit_rate: FloatArray
    """d price / d rate, rate as a fraction (continuously compounded)."""


def t_years_from_minutes(minutes: ArrayLike) -> FloatArray:
    """Year fraction of calendar minutes to expiry, on the MINUTES_PER_YEAR clock used throughout.

    Raises PricingInputError for a non-numeric or negative minute count (NaN passes through as NaN).
    """
    value = _float_input("minutes", minutes)
    _check_domain(("minutes",), [value])
    return np.asarray(value, dtype=np.float64) / MINUTES_PER_YEAR


# ----------------------------------------------------------------------------------------------
# Scratch memory and input handling
# ----------------------------------------------------------------------------------------------


class _Workspace(threading.local):
    """Per-thread scratch buffers of _CHUNK elements (or pairs of rows), handed out as views."""

    def __init__(self) -> None:
        self._floats: list[FloatArray] = []
        self._pairs: list[FloatArray] = []
        self._flags: list[BoolArray] = []
        self._flag_pairs: list[BoolArray] = []
        self._indices: list[NDArray[np.intp]] = []

    def floats(self, count: int, size: int) -> list[FloatArray]:
        while len(self._floats) < count:
            self._floats.append(np.empty(_CHUNK))
        return [buf[:size] for buf in self._floats[:count]]

    def pairs(self, count: int, size: int) -> list[FloatArray]:
        """Contiguous (2, size) buffers: two related quantities (d1 and d2, ...) in one ufunc call."""
        while len(self._pairs) < count:
            self._pairs.append(np.empty(2 * _CHUNK))
        return [buf[: 2 * size].reshape(2, size) for buf in self._pairs[:count]]

    def flags(self, count: int, size: int) -> list[BoolArray]:
        while len(self._flags) < count:
            self._flags.append(np.empty(_CHUNK, dtype=bool))
        return [buf[:size] for buf in self._flags[:count]]

    def flag_pairs(self, count: int, size: int) -> list[BoolArray]:
        while len(self._flag_pairs) < count:
            self._flag_pairs.append(np.empty(2 * _CHUNK, dtype=bool))
        return [buf[: 2 * size].reshape(2, size) for buf in self._flag_pairs[:count]]

    def indices(self, shape: tuple[int, ...]) -> NDArray[np.intp]:
        """An index buffer of the given shape (at most 2 x _CHUNK elements)."""
        if not self._indices:
            self._indices.append(np.empty(2 * _CHUNK, dtype=np.intp))
        return self._indices[0][: math.prod(shape)].reshape(shape)


_WORKSPACE: Final = _Workspace()


_F64: Final = np.dtype(np.float64)
_BOOL: Final = np.dtype(np.bool_)
_BSM_FIELDS: Final = ("spot", "strike", "t_years", "rate", "div_yield", "vol")
_IV_FIELDS: Final = ("price", "spot", "strike", "t_years", "rate", "div_yield")
_POSITIVE: Final = {"spot": True, "strike": True, "t_years": False, "vol": False, "minutes": False}
"""The parameters with a domain: True must be > 0, False must be >= 0 (NaN is a missing value)."""


def _float_input(name: str, value: object) -> FloatArray | float:
    """A numeric input as a float or a float64 array (lists and other numeric dtypes are converted);
    anything else (strings, None, booleans, complex or object arrays) raises a PricingInputError."""
    if type(value) is np.ndarray:
        if value.dtype is _F64:
            return value
    elif type(value) is float:
        return value
    if isinstance(value, bool | np.bool_):
        raise PricingInputError(f"{name} must be a number, not the boolean {value!r}")
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, list | tuple | np.ndarray):
        try:
            array = np.asarray(value)
        except ValueError as error:  # ragged nesting
            raise PricingInputError(f"{name} must be a number or an array of numbers: {error}") from None
        if array.dtype.kind in "iuf":
            return array.astype(np.float64, copy=False)
        raise PricingInputError(f"{name} must be numeric: got {type(value).__name__} of dtype {array.dtype}")
    raise PricingInputError(
        f"{name} must be a number or an array of numbers: got {type(value).__name__} {value!r:.40}"
    )


def _bool_input(value: object) -> BoolArray | bool:
    """is_call as a bool or a boolean array; anything else (a string like "put", 0/1, None) raises."""
    if type(value) is np.ndarray:
        if value.dtype is _BOOL:
            return value
    elif type(value) is bool:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, list | tuple | np.ndarray):
        array = np.asarray(value)
        if array.dtype == _BOOL:
            return array
    raise PricingInputError(
        "is_call must be True (call) / False (put) or an array of booleans: "
        f"got {type(value).__name__} {value!r:.40}"
    )


def _prepare(
    fields: tuple[str, ...], is_call: object, args: tuple[object, ...]
) -> tuple[tuple[int, ...], list[FloatArray | float], BoolArray | bool]:
    """Validated inputs: the broadcast shape, the float inputs and is_call (scalars stay scalars).

    Raises PricingInputError naming the field for a non-numeric input or a non-boolean is_call, and naming
    every field and its shape when the shapes do not broadcast.
    """
    floats = [_float_input(name, value) for name, value in zip(fields, args, strict=True)]
    calls = _bool_input(is_call)
    shape: tuple[int, ...] | None = None
    same = True
    for value in (*floats, calls):
        if type(value) is np.ndarray:
            if shape is None:
                shape = value.shape
            elif value.shape != shape:
                same = False
    if same:
        return (() if shape is None else shape), floats, calls
    shapes = [np.shape(v) for v in (*floats, calls)]
    try:
        return np.broadcast_shapes(*shapes), floats, calls
    except ValueError:
        named = ", ".join(
            f"{name} {s}" for name, s in zip((*fields, "is_call"), shapes, strict=True) if s != ()
        )
        raise PricingInputError(f"input shapes do not broadcast together: {named}") from None


def _check_domain(fields: tuple[str, ...], values: list[FloatArray | float]) -> None:
    """Raise a PricingInputError naming the first field outside its domain (spot, strike > 0; t_years, vol
    >= 0) and an offending value. NaN passes: it is a missing value, priced as NaN per element."""
    for name, value in zip(fields, values, strict=True):
        positive = _POSITIVE.get(name)
        if positive is None:
            continue
        with np.errstate(invalid="ignore"):
            bad = np.less_equal(value, 0.0) if positive else np.less(value, 0.0)
        if np.any(bad):
            index = int(np.flatnonzero(np.ravel(bad))[0])
            got = float(np.ravel(value)[index]) if np.ndim(value) else float(value)
            where = f" at flat index {index}" if np.ndim(value) else ""
            raise PricingInputError(
                f"{name} must be {'> 0' if positive else '>= 0'} (NaN marks a missing value): "
                f"got {got!r}{where}"
            )


def _flat_inputs(shape: tuple[int, ...], floats: list[FloatArray | float]) -> list[FloatArray]:
    """Each validated float input flattened to the broadcast shape (size 1 if it was a scalar)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in floats]
    return [
        a.reshape(1) if a.size == 1 else np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)
        for a in arrays
    ]


def _option_sign(calls: BoolArray | bool, shape: tuple[int, ...]) -> FloatArray:
    """+1.0 for calls, -1.0 for puts, flattened (size 1 if is_call was a scalar)."""
    flags = np.asarray(calls, dtype=bool)
    if flags.size != 1:
        flags = np.ascontiguousarray(np.broadcast_to(flags, shape)).reshape(-1)
    return np.where(flags.reshape(-1), 1.0, -1.0)


def _chunk(a: FloatArray, lo: int, hi: int) -> Operand:
    """Elements lo:hi of a flat input, or its single value if it was a scalar."""
    return float(a[0]) if a.size == 1 else a[lo:hi]


# ----------------------------------------------------------------------------------------------
# Special functions (all write into ``out`` and use caller-provided scratch)
# ----------------------------------------------------------------------------------------------


def _polynomial(z: FloatArray, coefficients: tuple[float, ...], out: FloatArray) -> FloatArray:
    """out = polynomial in z, coefficients from the highest power down (Horner)."""
    np.multiply(z, coefficients[0], out=out)
    for c in coefficients[1:-1]:
        out += c
        out *= z
    out += coefficients[-1]
    return out


def _monic_polynomial(z: FloatArray, coefficients: tuple[float, ...], out: FloatArray) -> FloatArray:
    """out = z^n + c0 z^(n-1) + ... + c(n-1)."""
    np.add(z, coefficients[0], out=out)
    for c in coefficients[1:]:
        out *= z
        out += c
    return out


def _mills_ratio_cody(u: FloatArray) -> FloatArray:
    """Mills ratio R(u) = (1 - Phi(u)) / phi(u) = sqrt(pi/2) erfcx(u / sqrt 2), u >= 0, by Cody's three
    rational approximations (a few ulp). Used to build the lookup table and beyond its end."""
    a = u * _SQRT_HALF
    r = _polynomial(a, _MILLS_MID_NUM, np.empty_like(a)) / _monic_polynomial(a, _CODY_D, np.empty_like(a))
    large = a > _CODY_MID_MAX
    z = 1.0 / (a[large] * a[large])
    tail = (
        _polynomial(z, _MILLS_LARGE_NUM, np.empty_like(z))
        * z
        / _monic_polynomial(z, _CODY_Q, np.empty_like(z))
    )
    r[large] = (_SQRT_HALF - tail) / a[large]
    small = a <= _CODY_SMALL_MAX
    a_s = a[small]
    erf_over_a = _polynomial(a_s * a_s, _CODY_A, np.empty_like(a_s)) / _monic_polynomial(
        a_s * a_s, _CODY_B, np.empty_like(a_s)
    )
    r[small] = _SQRT_HALF_PI * np.exp(a_s * a_s) * (1.0 - a_s * erf_over_a)
    return r


_MILLS_TABLE_PER_UNIT: Final = 1024.0
_MILLS_TABLE_MAX: Final = 40.0
_MILLS_TABLE: Final = _mills_ratio_cody(
    np.arange(int(_MILLS_TABLE_MAX * _MILLS_TABLE_PER_UNIT) + 1) / _MILLS_TABLE_PER_UNIT
)
"""R(u) on a grid of step 1/1024 up to 40 (320 kB): a lookup plus a 4th-order Taylor step replaces
Cody's piecewise rational functions (same accuracy, a third of the work, no branches)."""


def _mills_ratio(
    u: FloatArray, out: FloatArray, scratch: list[FloatArray], exact_beyond_table: bool
) -> FloatArray:
    """out = Mills ratio R(u) = (1 - Phi(u)) / phi(u) for u >= 0 (elementwise; any shape).

    Phi(-u) = phi(u) R(u) keeps full relative precision however far in the tail u is. From the
    table value R(u0) at the nearest grid point, R's derivatives follow exactly from R' = u R - 1,
    so with e = u - u0 (|e| <= 1/2048), S_k = R^(k)(u0) / k!:
    S_1 = u0 S_0 - 1, S_(k+1) = (u0 S_k + S_(k-1)) / (k + 1), R(u) = sum S_k e^k (k <= 4; < 4 ulp).
    Beyond the table (u > 40) the result is R(40) unless ``exact_beyond_table``; callers that multiply
    by phi(u), which is 0 there, skip that fix-up.
    """
    u0, e, s1, s2, s3 = scratch[:5]  # shaped like u
    index = _WORKSPACE.indices(u.shape)
    np.fmin(u, _MILLS_TABLE_MAX, out=e)  # also maps NaN into the table; NaN comes back through phi
    np.multiply(e, _MILLS_TABLE_PER_UNIT, out=u0)
    np.rint(u0, out=u0)
    np.copyto(index, u0, casting="unsafe")
    u0 *= 1.0 / _MILLS_TABLE_PER_UNIT
    e -= u0
    np.take(_MILLS_TABLE, index, out=out, mode="clip")  # S_0
    np.multiply(u0, out, out=s1)
    s1 -= 1.0
    np.multiply(u0, s1, out=s2)
    s2 += out
    s2 *= 0.5
    np.multiply(u0, s2, out=s3)
    s3 += s1
    s3 *= 1.0 / 3.0
    u0 *= s3
    u0 += s2
    u0 *= 0.25  # S_4
    u0 *= e
    u0 += s3
    u0 *= e
    u0 += s2
    u0 *= e
    u0 += s1
    u0 *= e
    out += u0
    if exact_beyond_table and u.size and float(np.fmax.reduce(u, axis=None)) > _MILLS_TABLE_MAX:  # NaN-proof
        beyond = np.flatnonzero(u > _MILLS_TABLE_MAX)
        out.reshape(-1)[beyond] = _mills_ratio_cody(u.reshape(-1).take(beyond))
    return out


def _norm_cdf(
    z: FloatArray, pdf: FloatArray, out: FloatArray, scratch: list[FloatArray], positive: BoolArray
) -> FloatArray:
    """out = Phi(z) given pdf = phi(z): Phi(-|z|) = phi(z) R(|z|) keeps tails relatively exact."""
    a, tmp = scratch[0], scratch[1]
    np.abs(z, out=a)
    _mills_ratio(a, out, scratch[2:], exact_beyond_table=False)  # phi(z) = 0 beyond the table
    out *= pdf  # Phi(-|z|)
    # Phi(z) = Phi(-|z|) + [z > 0] (1 - 2 Phi(-|z|)): exact where z <= 0, where the tail is small.
    np.multiply(out, -2.0, out=tmp)
    tmp += 1.0
    np.greater(z, 0.0, out=positive)
    tmp *= positive
    out += tmp
    return out


def _exp_of_small(z: FloatArray, out: FloatArray, sign: float = 1.0) -> FloatArray:
    """out = exp(sign z): a Taylor polynomial when every |z| is small (rate x hours), else np.exp.

    Degree 3 below _TINY_EXPONENT, degree 4 below _SMALL_EXPONENT.
    """
    largest = max(float(np.max(z)), -float(np.min(z)))  # NaN fails both tests below: np.exp
    if largest < _SMALL_EXPONENT:
        degree = 3 if largest < _TINY_EXPONENT else 4
        coefficients = tuple(sign**k / math.factorial(k) for k in range(degree, -1, -1))
        return _polynomial(z, coefficients, out)
    np.multiply(z, sign, out=out)
    return np.exp(out, out=out)


def _all_regular(*values: Operand) -> bool:
    """True if every element of every value is positive and finite (reductions only: no temporaries)."""
    return all(float(np.min(v)) > 0.0 for v in values) and math.isfinite(
        sum(float(np.sum(v)) for v in values)
    )


def _exp_flush(z: FloatArray, out: FloatArray, keep: BoolArray) -> FloatArray:
    """out = exp(z), sub-normal results flushed to zero (they would take glibc's slow path)."""
    np.greater_equal(z, _EXP_MIN_ARG, out=keep)
    np.maximum(z, _EXP_MIN_ARG, out=out)
    np.exp(out, out=out)
    out *= keep
    return out


# ----------------------------------------------------------------------------------------------
# The compiled kernel
# ----------------------------------------------------------------------------------------------

KERNEL_ENV: Final = "SMART0DTE_PRICING_KERNEL"
"""Environment variable choosing the backend: "numpy", "c" (the kernel or an ImportError) or "auto"
(the default: the kernel if its shared object exists)."""
_KERNEL_PATH: Final = Path(__file__).with_name("_pricing_kernel.so")
_KERNEL_V3_PATH: Final = Path(__file__).with_name("_pricing_kernel_v3.so")
"""The same kernel compiled for x86-64-v3 (AVX2, FMA): loaded instead when the CPU has them (the
baseline build's pk_isa_level says so) and ISA_ENV does not ask for v2. Results are bit-identical."""
ISA_ENV: Final = "SMART0DTE_PRICING_ISA"
""""v2" keeps the baseline build on any CPU; unset or "auto" takes the v3 build where it runs."""
_KERNEL_ABI_VERSION: Final = 3
"""The kernel interface this module calls: PK_ABI_VERSION in pricing_kernel.c."""
_Pointers6 = ctypes.c_void_p * 6
_Strides6 = ctypes.c_int64 * 6
_Doubles6 = ctypes.c_double * 6
_I64, _PTR = ctypes.c_int64, ctypes.c_void_p


def _load_kernel(path: Path, choice: str) -> ctypes.CDLL | None:
    """The compiled kernel at path, or None for the numpy backend ("numpy", or "auto" and no file).

    Raises ImportError for an unknown choice, a file that does not load, a kernel of another ABI
    version (a stale build: rebuild with `make kernel`), or choice "c" without the file.
    """
    if choice not in ("auto", "c", "numpy"):
        raise ImportError(f"{KERNEL_ENV}={choice!r}: expected 'auto', 'c' or 'numpy'")
    if choice == "numpy" or (choice == "auto" and not path.exists()):
        return None
    try:
        kernel = ctypes.CDLL(str(path))
        kernel.pk_abi_version.restype = ctypes.c_int
        version = kernel.pk_abi_version()
    except (OSError, AttributeError) as error:
        raise ImportError(
            f"pricing kernel {path} does not load ({error}): rebuild with `make kernel`"
        ) from error
    if version != _KERNEL_ABI_VERSION:
        raise ImportError(
            f"pricing kernel {path} has ABI version {version}, this module needs {_KERNEL_ABI_VERSION}: "
            "rebuild with `make kernel`"
        )
    kernel.pk_isa_level.restype = ctypes.c_int
    kernel.pk_mills_ratio.argtypes = [_I64, _PTR, _PTR, _PTR, _I64]
    kernel.pk_bsm.argtypes = [_I64, _Pointers6, _Strides6, _PTR, _I64, _PTR, _I64, _I64, _PTR]
    kernel.pk_implied_vol.argtypes = [_I64, _Pointers6, _Strides6, _PTR, _I64, _I64, _PTR, _I64, _PTR, _PTR]
    kernel.pk_mills_ratio.restype = None
    kernel.pk_bsm.restype = _I64  # bit i set: input i of the domain checks out of its domain
    kernel.pk_implied_vol.restype = _I64
    return kernel


def _load_best_kernel(choice: str, isa: str) -> tuple[ctypes.CDLL | None, str | None]:
    """The baseline kernel, or its x86-64-v3 build when the CPU runs it and `isa` allows; with the
    instruction set level loaded ("x86-64-v2" or "x86-64-v3", None for numpy)."""
    if isa not in ("auto", "v2"):
        raise ImportError(f"{ISA_ENV}={isa!r}: expected 'auto' or 'v2'")
    baseline = _load_kernel(_KERNEL_PATH, choice)
    if baseline is None:
        return None, None
    if isa == "auto" and baseline.pk_isa_level() >= 3 and _KERNEL_V3_PATH.exists():
        return _load_kernel(_KERNEL_V3_PATH, "c"), "x86-64-v3"
    return baseline, "x86-64-v2"


_KERNEL, _KERNEL_ISA = _load_best_kernel(
    os.environ.get(KERNEL_ENV) or "auto", os.environ.get(ISA_ENV) or "auto"
)


def backend() -> str:
    """The backend in use: "c" (the compiled kernel) or "numpy"."""
    return "numpy" if _KERNEL is None else "c"


def kernel_isa() -> str | None:
    """The instruction set the loaded kernel was built for, None on the numpy backend."""
    return _KERNEL_ISA


_ADDRESS_AT: Final = ctypes.c_void_p.from_address
_DATA_OFFSET: Final = 2 * ctypes.sizeof(ctypes.c_void_p)
"""Where an ndarray object keeps its data pointer: right after the object header (PyArrayObject's first
field, numpy 1.x and 2.x). Reading it costs a tenth of ``a.ctypes.data``, which builds a helper
object per call; _data_address checks the layout once at import and falls back if it differs."""


def _data_address_slow(a: NDArray[np.generic]) -> int:
    return int(a.ctypes.data)


def _data_address_fast(a: NDArray[np.generic]) -> int:
    return _ADDRESS_AT(id(a) + _DATA_OFFSET).value or 0


def _pick_data_address() -> Callable[[NDArray[np.generic]], int]:
    base = np.arange(12.0).reshape(3, 4)
    samples: list[NDArray[np.generic]] = [base, base[1:, ::2], np.empty(0), np.array(1.5), np.ones(3, bool)]
    if all(_data_address_fast(a) == _data_address_slow(a) for a in samples):
        return _data_address_fast
    return _data_address_slow


_data_address: Final = _pick_data_address()
_CALL_BYTES: Final = (ctypes.c_uint8(0), ctypes.c_uint8(1))
"""is_call scalars as the kernel reads them (stride 0), shared read-only."""


_UNIT_STRIDES: Final = _Strides6(1, 1, 1, 1, 1, 1)
"""Every input an array (read-only, shared)."""
_F64_STEP: Final = (8,)
_BOOL_STEP: Final = (1,)


def _kernel_operands(
    is_call: object, *args: object, fields: tuple[str, ...] = _BSM_FIELDS
) -> tuple[tuple[int, ...], tuple[object, ...], tuple[object, ...]]:
    """The validated broadcast shape; the kernel's input arguments (pointers, strides: 0 broadcasts
    a scalar, is_call bytes and their stride); and what is behind the pointers (kept alive by the
    caller), the validated float inputs last. Inputs that already are contiguous float64 (bool)
    arrays of the broadcast shape, and scalars, are passed without a copy.

    The common case, one-dimensional contiguous float64 arrays of one length and a boolean is_call
    like them, is recognised first with a handful of attribute reads: every type and shape check
    holds by construction, and the kernel checks the values' domains.
    """
    if type(is_call) is np.ndarray and is_call.dtype is _BOOL and is_call.strides == _BOOL_STEP:
        shape = is_call.shape
        for a in args:
            if type(a) is not np.ndarray or a.dtype is not _F64 or a.strides != _F64_STEP or a.shape != shape:
                break
        else:
            arrays = list(args)
            pointers = _Pointers6(*[_data_address(a) for a in arrays])  # type: ignore[arg-type]
            return shape, (pointers, _UNIT_STRIDES, _data_address(is_call), 1), (is_call, arrays)
    shape, floats, calls = _prepare(fields, is_call, args)
    pointers = _Pointers6()
    strides = _Strides6()
    scalars = _Doubles6()
    alive: list[object] = [scalars]
    scalar_base = ctypes.addressof(scalars)
    for i, value in enumerate(floats):
        if type(value) is float:
            scalars[i] = value
            pointers[i] = scalar_base + 8 * i
            continue
        array: FloatArray = value  # type: ignore[assignment]
        if array.size != 1:
            if array.shape != shape or not array.flags.c_contiguous:
                array = np.ascontiguousarray(np.broadcast_to(array, shape))
                alive.append(array)
            strides[i] = 1
        pointers[i] = _data_address(array)
    if type(calls) is bool:
        call_pointer, call_stride = ctypes.addressof(_CALL_BYTES[calls]), 0
    else:
        flags: BoolArray = calls
        call_stride = int(flags.size != 1)
        if call_stride and (flags.shape != shape or not flags.flags.c_contiguous):
            flags = np.ascontiguousarray(np.broadcast_to(flags, shape))
        alive.append(flags)
        call_pointer = _data_address(flags)
    return shape, (pointers, strides, call_pointer, call_stride), (*alive, floats)


def _kernel_table() -> tuple[int, int]:
    """The Mills ratio table as the kernel takes it: address and length."""
    return _MILLS_TABLE.ctypes.data, _MILLS_TABLE.size


_TABLE_ADDRESS, _TABLE_SIZE = _kernel_table()


def _raise_domain_error(fields: tuple[str, ...], floats: list[FloatArray | float], mask: int) -> None:
    """The kernel found inputs out of their domain (mask bit i: the i-th of spot, strike, t_years, vol
    in fields order): raise the PricingInputError that names the first."""
    _check_domain(fields, floats)
    raise PricingInputError(f"inputs out of their domain (kernel mask {mask})")  # not reached


# ----------------------------------------------------------------------------------------------
# Prices and Greeks
# ----------------------------------------------------------------------------------------------


def bsm_price(
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    div_yield: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """Black-Scholes-Merton value of European options (continuous rate and dividend yield).

    t_years == 0 gives the payoff, vol == 0 the discounted forward intrinsic value; a non-finite
    input (a missing value) gives NaN for its element. Raises PricingInputError for spot or strike
    <= 0, t_years or vol < 0, non-numeric inputs, a non-boolean is_call or shapes that do not
    broadcast.
    """
    return _run_greeks(spot, strike, t_years, rate, div_yield, vol, is_call, rows=1)[0]


def bsm_greeks(
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    div_yield: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
) -> Greeks:
    """Price and analytic Greeks of European options, sharing d1, d2, pdf and cdf between them.

    Edge cases as in ``bsm_price``; at expiry delta is the payoff's slope (half at the money) and
    the other Greeks are 0.
    """
    price, delta, gamma, vega, vega_pt, theta, theta_min, rho = _run_greeks(
        spot, strike, t_years, rate, div_yield, vol, is_call, rows=8
    )
    return Greeks(
        price=price,
        delta=delta,
        gamma=gamma,
        vega_per_unit_vol=vega,
        vega_per_vol_point=vega_pt,
        theta_per_year=theta,
        theta_per_minute=theta_min,
        rho_per_unit_rate=rho,
    )


def _run_greeks(
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    div_yield: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    rows: int,
) -> list[FloatArray]:
    """The first ``rows`` of (price, delta, gamma, vega, vega/point, theta/yr, theta/min, rho), each
    with the broadcast shape: 1 for the price alone, 8 for everything."""
    if _KERNEL is not None:
        shape, operands, alive = _kernel_operands(is_call, spot, strike, t_years, rate, div_yield, vol)
        n = math.prod(shape)
        block = np.empty((rows, n))
        pointers, strides, call_pointer, call_stride = operands
        mask = _KERNEL.pk_bsm(
            n,
            pointers,
            strides,
            call_pointer,
            call_stride,
            _TABLE_ADDRESS,
            _TABLE_SIZE,
            rows,
            _data_address(block),
        )
        if mask:
            _raise_domain_error(_BSM_FIELDS, alive[-1], mask)  # type: ignore[arg-type]
        if len(shape) == 1:
            return list(block)
        return [row.reshape(shape) for row in block]
    shape, floats, calls = _prepare(_BSM_FIELDS, is_call, (spot, strike, t_years, rate, div_yield, vol))
    _check_domain(_BSM_FIELDS, floats)
    inputs = _flat_inputs(shape, floats)
    phi = _option_sign(calls, shape)
    n = math.prod(shape)
    block = np.empty((rows, n))  # one allocation for all outputs: reused by malloc from call to call
    with np.errstate(all="ignore"):
        for lo in range(0, n, _CHUNK):
            hi = min(lo + _CHUNK, n)
            _greeks_chunk(tuple(_chunk(a, lo, hi) for a in (*inputs, phi)), block[:, lo:hi])
    return [row.reshape(shape) for row in block]


def _greeks_chunk(inputs: tuple[Operand, ...], out: FloatArray) -> None:
    """Fill ``out`` for the chunk's (spot, strike, t_years, rate, div_yield, vol, phi): row 0 the price
    and, if it has 8 rows, delta, gamma, vega, vega/point, theta/yr, theta/min and rho."""
    spot, strike, t_years, rate, div_yield, vol, phi = inputs
    m = out.shape[1]
    price = out[0]
    sqrt_t, sd, df_r, df_q, spot_q, strike_r, ratio, x, tmp = _WORKSPACE.floats(9, m)
    d, pdf, cdf, *scratch = _WORKSPACE.pairs(10, m)  # row 0 for d1, row 1 for d2
    keep, finite = _WORKSPACE.flags(2, m)
    (positive,) = _WORKSPACE.flag_pairs(1, m)
    np.sqrt(t_years, out=sqrt_t)
    np.multiply(vol, sqrt_t, out=sd)  # total standard deviation s = vol sqrt(t)
    np.multiply(rate, t_years, out=tmp)
    _exp_of_small(tmp, df_r, sign=-1.0)
    np.multiply(div_yield, t_years, out=tmp)
    _exp_of_small(tmp, df_q, sign=-1.0)
    np.multiply(spot, df_q, out=spot_q)  # S e^(-q t)
    np.multiply(strike, df_r, out=strike_r)  # K e^(-r t)
    np.divide(spot_q, strike_r, out=ratio)  # F / K
    np.log(ratio, out=x)
    x /= sd  # h = ln(F/K) / s
    np.multiply(sd, 0.5, out=tmp)
    np.add(x, tmp, out=d[0])
    np.subtract(x, tmp, out=d[1])
    # phi(d1) and phi(d2) differ by the factor F/K: exponentiate the smaller |d| (so neither
    # underflows before its time), phi(d2) = phi(d1) F/K.
    np.multiply(d, d, out=pdf)
    np.minimum(pdf[0], pdf[1], out=tmp)
    tmp *= -0.5
    _exp_flush(tmp, tmp, keep)
    tmp *= _INV_SQRT_TWO_PI
    np.divide(strike_r, spot_q, out=pdf[0])
    np.copyto(pdf[1], ratio)
    np.minimum(pdf, 1.0, out=pdf)
    pdf *= tmp
    d *= phi
    _norm_cdf(d, pdf, cdf, scratch, positive)  # N(phi d1), N(phi d2)
    a1, a2 = d  # reuse: S e^(-qt) N(phi d1) and K e^(-rt) N(phi d2)
    np.multiply(spot_q, cdf[0], out=a1)
    np.multiply(strike_r, cdf[1], out=a2)
    np.subtract(a1, a2, out=price)
    price *= phi
    np.maximum(price, 0.0, out=price)  # rounding in the sub-normal tail must not make it negative
    # Positive finite inputs take the formulas; the rest (zero variance or invalid input) is rare
    # and fixed up element by element at the end.
    irregular = None
    if not (_all_regular(sd, spot, strike) and math.isfinite(float(np.sum(rate)) + float(np.sum(div_yield)))):
        np.minimum(sd, spot, out=tmp)
        np.minimum(tmp, strike, out=tmp)
        np.greater(tmp, 0.0, out=keep)
        np.add(sd, spot, out=tmp)
        tmp += strike
        tmp += t_years
        tmp += rate
        tmp += div_yield
        np.isfinite(tmp, out=finite)
        keep &= finite
        irregular = None if keep.all() else np.flatnonzero(~keep)
    if out.shape[0] == 1:
        if irregular is not None:
            price[irregular] = _zero_variance_limits(
                *(np.broadcast_to(a, (m,)).take(irregular) for a in inputs)
            )[0]
        return
    delta, gamma, vega, vega_pt, theta, theta_min, rho = out[1:]
    np.multiply(df_q, cdf[0], out=delta)
    delta *= phi
    spot_pdf = pdf[0]
    spot_pdf *= spot_q  # S e^(-qt) phi(d1), shared by gamma, vega and theta
    np.multiply(sd, spot, out=gamma)
    gamma *= spot
    np.divide(spot_pdf, gamma, out=gamma)
    np.multiply(spot_pdf, sqrt_t, out=vega)
    np.multiply(vega, 0.01, out=vega_pt)
    np.multiply(a1, div_yield, out=theta)
    np.multiply(a2, rate, out=tmp)
    theta -= tmp
    theta *= phi
    np.multiply(spot_pdf, vol, out=tmp)
    tmp /= sqrt_t
    tmp *= 0.5
    theta -= tmp
    np.multiply(theta, 1.0 / MINUTES_PER_YEAR, out=theta_min)
    np.multiply(strike_r, t_years, out=rho)
    rho *= cdf[1]
    rho *= phi
    if irregular is not None:
        values = _zero_variance_limits(*(np.broadcast_to(a, (m,)).take(irregular) for a in inputs))
        for row, value in zip((price, delta, gamma, vega, theta, rho), values, strict=True):
            row[irregular] = value
        vega_pt[irregular] = values[3] * 0.01
        theta_min[irregular] = values[4] / MINUTES_PER_YEAR


def _zero_variance_limits(
    spot: FloatArray,
    strike: FloatArray,
    t_years: FloatArray,
    rate: FloatArray,
    div_yield: FloatArray,
    vol: FloatArray,
    phi: FloatArray,
) -> tuple[FloatArray, ...]:
    """Price, delta, gamma, vega, theta, rho as vol sqrt(t) -> 0; NaN for invalid inputs.

    At expiry: the payoff, its slope as delta (half at the money), other Greeks 0. With vol == 0 and
    time left: the discounted forward intrinsic value and its sensitivities (at the money forward the
    limits of the formulas: half the forward delta, infinite gamma, finite vega).
    """
    valid = np.isfinite(spot + strike + t_years + rate + div_yield + vol)
    valid &= (spot > 0.0) & (strike > 0.0) & (t_years >= 0.0) & (vol >= 0.0)
    expired = t_years == 0.0
    df_r = np.exp(-rate * t_years)
    df_q = np.exp(-div_yield * t_years)
    spot_q = spot * df_q
    strike_r = strike * df_r
    moneyness = np.sign(phi * (spot_q - strike_r))  # +1 in, 0 at, -1 out of the money (forward)
    moneyness = np.where(expired, np.sign(phi * (spot - strike)), moneyness)
    weight = 0.5 * (moneyness + 1.0)  # the limit of N(phi d1) = N(phi d2): 1, 1/2 or 0
    live = ~expired
    atm_live = live & (moneyness == 0.0)
    price = weight * phi * (spot_q - strike_r)
    delta = weight * phi * df_q
    gamma = np.where(atm_live, np.inf, 0.0)
    vega = np.where(atm_live, spot_q * np.sqrt(t_years) * _INV_SQRT_TWO_PI, 0.0)
    theta = np.where(live, weight * phi * (div_yield * spot_q - rate * strike_r), 0.0)
    rho = np.where(live, weight * phi * strike_r * t_years, 0.0)
    return tuple(np.where(valid, g, np.nan) for g in (price, delta, gamma, vega, theta, rho))


# ----------------------------------------------------------------------------------------------
# Implied volatility
# ----------------------------------------------------------------------------------------------


def implied_vol(
    price: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    rate: ArrayLike,
    div_yield: ArrayLike,
    is_call: ArrayLike,
) -> tuple[FloatArray, NDArray[np.int8]]:
    """Black-Scholes-Merton implied volatility of European option prices, and a status per element.

    Returns (vol, status): status holds IVStatus values and vol is NaN wherever status is not OK.
    A finite vol was iterated to machine precision; an element that was not is NaN, NOT_CONVERGED.
    Market data problems are statuses (a NaN, infinite or negative price or a NaN spot:
    INVALID_INPUT; below intrinsic, above the maximum, ...); PricingInputError is raised for spot or
    strike <= 0, t_years < 0, non-numeric inputs, a non-boolean is_call or shapes that do not
    broadcast.
    """
    if _KERNEL is not None:
        shape, operands, alive = _kernel_operands(
            is_call, price, spot, strike, t_years, rate, div_yield, fields=_IV_FIELDS
        )
        n = math.prod(shape)
        vol = np.empty(n)
        status = np.empty(n, dtype=np.int8)
        pointers, strides, call_pointer, call_stride = operands
        mask = _KERNEL.pk_implied_vol(
            n,
            pointers,
            strides,
            call_pointer,
            call_stride,
            _HOUSEHOLDER_STEPS,
            _TABLE_ADDRESS,
            _TABLE_SIZE,
            _data_address(vol),
            _data_address(status),
        )
        if mask:
            _raise_domain_error(_IV_FIELDS, alive[-1], mask)  # type: ignore[arg-type]
        if len(shape) == 1:
            return vol, status
        return vol.reshape(shape), status.reshape(shape)
    shape, floats, calls = _prepare(_IV_FIELDS, is_call, (price, spot, strike, t_years, rate, div_yield))
    _check_domain(_IV_FIELDS, floats)
    inputs = _flat_inputs(shape, floats)
    phi = _option_sign(calls, shape)
    n = math.prod(shape)
    vol = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    with np.errstate(all="ignore"):
        for lo in range(0, n, _CHUNK):
            hi = min(lo + _CHUNK, n)
            _implied_vol_chunk(tuple(_chunk(a, lo, hi) for a in (*inputs, phi)), vol[lo:hi], status[lo:hi])
    return vol.reshape(shape), status.reshape(shape)


def _implied_vol_chunk(
    inputs: tuple[Operand, ...], vol_out: FloatArray, status_out: NDArray[np.int8]
) -> None:
    """Classify, normalise to out-of-the-money Black space, solve, and write vol and status, for the
    chunk's (price, spot, strike, t_years, rate, div_yield, phi)."""
    price, spot, strike, t_years, rate, div_yield, phi = inputs
    m = vol_out.size
    (df_r, drift, fwd, x, undiscounted, intrinsic, time_value, noise, sqrt_fk, beta, b_max, tmp, *scratch) = (
        _WORKSPACE.floats(60, m)
    )
    itm, flag = _WORKSPACE.flags(2, m)
    np.subtract(rate, div_yield, out=drift)
    drift *= t_years  # (r - q) t
    np.multiply(rate, t_years, out=tmp)
    _exp_of_small(tmp, df_r, sign=-1.0)
    _exp_of_small(drift, fwd)
    fwd *= spot
    np.divide(spot, strike, out=x)
    np.log(x, out=x)
    x += drift  # ln(F / K)
    np.divide(price, df_r, out=undiscounted)
    np.subtract(fwd, strike, out=intrinsic)
    intrinsic *= phi
    np.greater(intrinsic, 0.0, out=itm)
    np.maximum(intrinsic, 0.0, out=intrinsic)
    np.subtract(undiscounted, intrinsic, out=time_value)
    # Rounding of F - K (and of the price) is the only noise in an in-the-money time value.
    np.add(undiscounted, fwd, out=noise)
    noise += strike
    noise *= 4.0 * _EPS
    noise *= itm
    np.multiply(fwd, strike, out=sqrt_fk)
    np.sqrt(sqrt_fk, out=sqrt_fk)
    np.divide(time_value, sqrt_fk, out=beta)
    np.minimum(fwd, strike, out=b_max)
    np.maximum(fwd, strike, out=tmp)
    b_max /= tmp
    np.sqrt(b_max, out=b_max)  # e^(-|x|/2): the normalised price can only approach it
    np.abs(x, out=x)
    np.negative(x, out=x)  # out-of-the-money: b(x, s) for a call, x <= 0

    _classify(
        price,
        spot,
        strike,
        t_years,
        rate,
        div_yield,
        phi,
        undiscounted,
        fwd,
        time_value,
        noise,
        beta,
        b_max,
        status_out,
        tmp,
        flag,
    )
    todo = None if not status_out.any() else np.flatnonzero(status_out == IVStatus.OK)
    k = m if todo is None else todo.size
    vol_out.fill(np.nan)
    if k == 0:
        return
    solver_in = [beta, x, b_max, noise, sqrt_fk]
    if todo is not None:
        solver_in = [
            np.take(a, todo, out=s[:k], mode="clip") for a, s in zip(solver_in, scratch[:5], strict=False)
        ]
        scratch = scratch[5:]
    beta_k, x_k, b_max_k, noise_k, sqrt_fk_k = solver_in
    sd, converged, vega = _normalised_implied_sd(beta_k, x_k, b_max_k, [s[:k] for s in scratch])
    # Relative vol error that rounding of the inputs alone could cause: of the intrinsic value
    # subtracted in the money (noise) and of the price itself (a few ulps of beta).
    rounding = np.divide(noise_k, sqrt_fk_k, out=sqrt_fk_k)
    rounding += (4.0 * _EPS) * beta_k
    rounding /= sd
    rounding /= vega
    result = np.where(
        converged,
        np.where(rounding > _MAX_ROUNDING_TO_VOL, IVStatus.ILL_CONDITIONED, IVStatus.OK),
        IVStatus.NOT_CONVERGED,
    ).astype(np.int8)
    t_k = np.broadcast_to(t_years, (m,)) if todo is None else np.broadcast_to(t_years, (m,)).take(todo)
    sd /= np.sqrt(t_k)
    sd[result != IVStatus.OK] = np.nan
    if todo is None:
        vol_out[:] = sd
        status_out[:] = result
    else:
        vol_out[todo] = sd
        status_out[todo] = result


def _classify(
    price: Operand,
    spot: Operand,
    strike: Operand,
    t_years: Operand,
    rate: Operand,
    div_yield: Operand,
    phi: Operand,
    undiscounted: FloatArray,
    fwd: FloatArray,
    time_value: FloatArray,
    noise: FloatArray,
    beta: FloatArray,
    b_max: FloatArray,
    status: NDArray[np.int8],
    tmp: FloatArray,
    flag: BoolArray,
) -> None:
    """status = the largest IVStatus code whose condition holds (0 = OK, worth solving)."""
    code = np.empty(status.size, dtype=np.int8)

    def apply(value: IVStatus) -> None:
        np.multiply(flag, np.int8(value), out=code)
        np.maximum(status, code, out=status)

    np.less_equal(time_value, noise, out=flag)
    np.multiply(flag, np.int8(IVStatus.NO_TIME_VALUE), out=status)
    np.negative(noise, out=tmp)
    np.less(time_value, tmp, out=flag)
    apply(IVStatus.BELOW_INTRINSIC)
    # At or above F (call) or K (put), undiscounted: compared in price space, where "at" is exact.
    calls = np.greater(phi, 0.0)
    np.multiply(fwd, calls, out=tmp)
    tmp += np.multiply(strike, ~calls)
    np.greater_equal(undiscounted, tmp, out=flag)
    flag |= np.greater_equal(beta, b_max)
    apply(IVStatus.ABOVE_MAXIMUM)
    np.logical_not(np.greater(t_years, 0.0), out=flag)
    apply(IVStatus.EXPIRED)
    finite = math.isfinite(sum(float(np.sum(v)) for v in (price, t_years, rate, div_yield)))
    if finite and _all_regular(spot, strike) and float(np.min(price)) >= 0.0:
        return  # every input valid: no element is INVALID_INPUT
    np.add(price, spot, out=tmp)
    tmp += strike
    tmp += t_years
    tmp += rate
    tmp += div_yield
    np.isfinite(tmp, out=flag)
    flag &= np.greater(np.minimum(spot, strike), 0.0)
    flag &= np.greater_equal(price, 0.0)
    np.logical_not(flag, out=flag)
    apply(IVStatus.INVALID_INPUT)


def _black_normalised(
    x: FloatArray,
    sd: FloatArray,
    b_max: FloatArray,
    out: list[FloatArray],
    scratch: list[FloatArray],
    pairs: list[FloatArray],
    keep: BoolArray,
    with_third: bool = True,
) -> None:
    """Normalised out-of-the-money Black price b(x, s), x <= 0, and what Householder steps need.

    b = e^(x/2) Phi(x/s + s/2) - e^(-x/2) Phi(x/s - s/2). Fills out = [b, b_max - b, b', b''/b',
    b'''/b'] (derivatives in s; the last only if with_third). With h = x/s, t = s/2, the Mills ratio R
    and b' = exp(-(h^2 + t^2)/2) / sqrt(2 pi):
    b = b' [R(-h-t) - R(t-h)] when h + t <= 0, else b_max - b = b' [R(h+t) + R(t-h)],
    so neither b nor b_max - b is ever a difference of nearly equal numbers, except for the two
    Mills ratios near expiry (a relative error ~ eps / s there).
    """
    b, gap, vega, b2, b3 = out
    h, t, h2, t2, above, other = scratch[:6]
    args, mills, *mills_scratch = pairs
    np.divide(x, sd, out=h)
    np.multiply(sd, 0.5, out=t)
    np.multiply(h, h, out=h2)
    np.multiply(t, t, out=t2)
    np.add(h2, t2, out=vega)
    vega *= -0.5
    _exp_flush(vega, vega, keep)
    vega *= _INV_SQRT_TWO_PI
    np.add(h, t, out=args[0])
    np.greater(args[0], 0.0, out=keep)
    np.multiply(keep, 1.0, out=above)  # 1.0 above the inflection point s_c, else 0.0
    np.abs(args[0], out=args[0])
    np.subtract(t, h, out=args[1])
    _mills_ratio(args, mills, mills_scratch, exact_beyond_table=True)
    r1, r2 = mills
    # diff = R1 + R2 above s_c (there it is b_max - b), R1 - R2 below (there it is b)
    np.multiply(above, 2.0, out=h)
    h -= 1.0
    h *= r2
    h += r1
    h *= vega
    np.subtract(b_max, h, out=other)  # the other one of b and b_max - b
    np.subtract(1.0, above, out=r2)
    np.multiply(other, above, out=b)
    np.multiply(h, r2, out=gap)
    b += gap  # exact blend: one term is always 0
    np.multiply(h, above, out=gap)
    other *= r2
    gap += other
    np.subtract(h2, t2, out=b2)
    b2 /= sd
    if with_third:
        np.multiply(h2, 3.0, out=b3)
        b3 += t2
        np.multiply(sd, sd, out=h)
        b3 /= h
        np.multiply(b2, b2, out=h)
        np.subtract(h, b3, out=b3)


def _rational_cubic(
    tau: FloatArray,
    omega: FloatArray,
    width: FloatArray,
    y_l: FloatArray | float,
    y_r: FloatArray,
    d_l: FloatArray | float,
    d_r: FloatArray,
    r: FloatArray,
    out: FloatArray,
    scratch: list[FloatArray],
) -> FloatArray:
    """out = Delbourgo-Gregory rational cubic at tau = (x - x_l)/width, omega = 1 - tau (passed
    separately for precision): values y_l, y_r and slopes d_l, d_r at the ends, shape parameter r
    (r = 3 is the cubic Hermite interpolant, r -> inf the straight line)."""
    a, b = scratch[0], scratch[1]
    # numerator = tau^2 [y_r tau + (r y_r - width d_r) omega] + omega^2 [(r y_l + width d_l) tau + y_l omega]
    np.multiply(r, y_r, out=a)
    np.multiply(width, d_r, out=b)
    a -= b
    a *= omega
    np.multiply(y_r, tau, out=b)
    a += b
    np.multiply(tau, tau, out=b)
    a *= b
    np.multiply(r, y_l, out=out)
    np.multiply(width, d_l, out=b)
    out += b
    out *= tau
    np.multiply(omega, y_l, out=b)
    out += b
    np.multiply(omega, omega, out=b)
    out *= b
    out += a
    np.subtract(r, 3.0, out=a)  # denominator 1 + (r - 3) tau omega
    a *= tau
    a *= omega
    a += 1.0
    out /= a
    return out


_MAX_SHAPE_PARAMETER: Final = 1e6
"""A larger rational cubic shape parameter is indistinguishable from linear interpolation."""


def _shape_preserving_r(
    r: FloatArray, d_l: FloatArray | float, d_r: FloatArray, slope: FloatArray, tmp: FloatArray
) -> FloatArray:
    """Raise r (in place) so that monotone and convex or concave data stay so (Delbourgo-Gregory):
    r >= (d_l + d_r) / slope, and r >= max(A, 1/A) with A = (d_r - slope) / (slope - d_l) > 0."""
    np.add(d_r, d_l, out=tmp)
    tmp /= slope
    np.fmax(r, tmp, out=r)
    np.subtract(d_r, slope, out=tmp)
    np.divide(tmp, np.subtract(slope, d_l), out=tmp)
    np.fmax(r, tmp, out=r)
    np.reciprocal(tmp, out=tmp)
    np.fmax(r, tmp, out=r)
    np.fmin(r, _MAX_SHAPE_PARAMETER, out=r)
    return r


def _inverse_norm_cdf_lower(log_p: FloatArray, out: FloatArray) -> FloatArray:
    """out = Phi^-1(p) for 0 < p <= 0.5 given ln p (p may be far below the float range); ~1e-9 relative."""
    tail = np.flatnonzero(log_p < _ACKLAM_LOG_P_LOW)
    if tail.size:
        q = np.sqrt(-2.0 * log_p.take(tail))
        num = _polynomial(q, _ACKLAM_C, np.empty_like(q))
        num /= _polynomial(q, _ACKLAM_D, q.copy())
        out[tail] = num
    if tail.size < log_p.size:
        centre = np.flatnonzero(log_p >= _ACKLAM_LOG_P_LOW)
        q = np.exp(log_p.take(centre))
        q -= 0.5
        r = q * q
        num = _polynomial(r, _ACKLAM_A, np.empty_like(q))
        num *= q
        num /= _polynomial(r, _ACKLAM_B, q)
        out[centre] = num
    return out


def _normalised_implied_sd(
    beta: FloatArray, x: FloatArray, b_max: FloatArray, scratch: list[FloatArray]
) -> tuple[FloatArray, BoolArray, FloatArray]:
    """Solve b(x, s) = beta for s = vol sqrt(t), given x <= 0 and 0 < beta < b_max = e^(x/2).

    Returns (s, converged, b'(s)). Regions, guesses and objectives as in "Let's Be Rational": the
    inflection point s_c = sqrt(2|x|) and the tangents there split beta into lower, lower-middle,
    upper-middle and upper ranges; each gets a rational guess and its own objective function, on
    which two Householder(3) steps (fourth order) reach machine precision.
    """
    k = beta.size
    (
        s_c,
        r_c,
        b_c,
        s_bound,
        b_bound,
        gap_bound,
        v_bound,
        b2_bound,
        sd,
        log_target,
        b,
        gap,
        vega,
        b2,
        b3,
        newton,
        step,
        *rest,
    ) = scratch
    permuted, rest = rest[:10], rest[10:]
    (keep,) = _WORKSPACE.flags(1, k)
    pairs = _WORKSPACE.pairs(7, k)
    np.multiply(x, -2.0, out=s_c)
    np.sqrt(s_c, out=s_c)
    _mills_ratio(s_c, r_c, rest, exact_beyond_table=True)
    np.multiply(r_c, -_INV_SQRT_TWO_PI, out=b_c)
    b_c += 0.5
    b_c *= b_max  # b(x, s_c) = e^(x/2) / 2 - e^(-x/2) Phi(-s_c)
    below_c = np.less(beta, b_c, out=keep)
    # Where the tangent at s_c (slope b_max / sqrt(2 pi)) meets 0 (below b_c) or b_max (above).
    np.multiply(below_c, -2.0 * _SQRT_HALF_PI, out=s_bound)
    s_bound += _SQRT_HALF_PI
    s_bound += s_c
    s_bound += r_c
    region = 2 - 2 * below_c.view(np.int8)
    _black_normalised(
        x, s_bound, b_max, [b_bound, gap_bound, v_bound, b2_bound, b3], rest, pairs, keep, with_third=False
    )
    region += np.greater(beta, b_bound, out=keep).view(np.int8)  # 0 lower, 1, 2 middle, 3 upper

    # Group the elements by region so that each region's code runs on contiguous slices.
    order = np.argsort(region, kind="stable")
    ends = np.cumsum(np.bincount(region, minlength=4))
    inputs = (beta, x, b_max, s_c, b_c, s_bound, b_bound, gap_bound, v_bound, b2_bound)
    beta, x, b_max, s_c, b_c, s_bound, b_bound, gap_bound, v_bound, b2_bound = (
        np.take(a, order, out=p, mode="clip") for a, p in zip(inputs, permuted, strict=True)
    )
    lower = slice(0, int(ends[0]))
    middle = slice(int(ends[0]), int(ends[2]))
    upper = slice(int(ends[2]), k)
    if ends[0] > 0:
        _guess_lower(
            beta[lower],
            x[lower],
            s_bound[lower],
            b_bound[lower],
            v_bound[lower],
            b2_bound[lower],
            sd[lower],
            [a[lower] for a in rest],
        )
        np.log(beta[lower], out=log_target[lower])
    if ends[2] > ends[0]:
        _guess_middle(
            beta[middle],
            s_c[middle],
            b_c[middle],
            b_max[middle],
            s_bound[middle],
            b_bound[middle],
            v_bound[middle],
            sd[middle],
            [a[middle] for a in rest],
        )
    if ends[2] < k:
        _guess_upper(
            beta[upper],
            b_max[upper],
            s_bound[upper],
            gap_bound[upper],
            v_bound[upper],
            b2_bound[upper],
            sd[upper],
            [a[upper] for a in rest],
        )
        np.subtract(b_max[upper], beta[upper], out=log_target[upper])
        np.log(log_target[upper], out=log_target[upper])

    step.fill(np.inf)  # no step taken is no convergence
    for _ in range(_HOUSEHOLDER_STEPS):
        _black_normalised(x, sd, b_max, [b, gap, vega, b2, b3], rest, pairs, keep)
        # Newton step n and h2 = g''/g', h3 = g'''/g' of the objective g: b - beta by default,
        if ends[0] > 0:  # 1/ln(b) - 1/ln(beta) in the lower region (nearly linear in s^2 there),
            _lower_objective(
                b[lower],
                vega[lower],
                b2[lower],
                b3[lower],
                log_target[lower],
                newton[lower],
                [a[lower] for a in rest],
            )
        if ends[2] > ends[0]:
            np.subtract(beta[middle], b[middle], out=newton[middle])
            newton[middle] /= vega[middle]
        if ends[2] < k:  # ln(b_max - b) - ln(b_max - beta) in the upper region (flat approach to b_max).
            _upper_objective(
                gap[upper],
                vega[upper],
                b2[upper],
                b3[upper],
                log_target[upper],
                newton[upper],
                [a[upper] for a in rest],
            )
        # Householder(3): s += n (1 + h2 n / 2) / (1 + n (h2 + h3 n / 6))
        tmp = rest[0]
        np.multiply(b3, newton, out=tmp)
        tmp *= 1.0 / 6.0
        tmp += b2
        tmp *= newton
        tmp += 1.0
        np.multiply(b2, newton, out=step)
        step *= 0.5
        step += 1.0
        step *= newton
        step /= tmp
        sd += step
    np.abs(step, out=step)
    np.multiply(sd, _MAX_STEP_AFTER_CONVERGENCE, out=b)
    converged = np.less_equal(step, b)  # False for NaN
    converged &= sd > 0.0
    converged &= sd < np.inf
    result_sd = np.empty(k)
    result_sd[order] = sd
    result_ok = np.empty(k, dtype=bool)
    result_ok[order] = converged
    result_vega = np.empty(k)
    result_vega[order] = vega
    return result_sd, result_ok, result_vega


def _lower_objective(
    b: FloatArray,
    vega: FloatArray,
    b2: FloatArray,
    b3: FloatArray,
    log_beta: FloatArray,
    newton: FloatArray,
    scratch: list[FloatArray],
) -> None:
    """Newton step and h2, h3 (into b2, b3) for g = 1/ln(b) - 1/ln(beta), given b'' / b', b''' / b'.

    With L = ln b, lam = L' = b'/b: L''/L' = b''/b' - lam, L'''/L' = b'''/b' - 3 lam b''/b' + 2 lam^2;
    g' = -L'/L^2, so h2 = L''/L' - 2 rho and h3 = L'''/L' - 6 rho L''/L' + 6 rho^2 with rho = lam / L.
    """
    log_b, lam, tmp = scratch[0], scratch[1], scratch[2]
    np.log(b, out=log_b)
    np.divide(vega, b, out=lam)
    np.subtract(log_beta, log_b, out=newton)  # -g/g' = L (ln beta - L) / (ln beta lam)
    newton *= log_b
    newton /= log_beta
    newton /= lam
    np.multiply(lam, -2.0 / 3.0, out=tmp)
    tmp += b2
    tmp *= lam
    np.multiply(tmp, 3.0, out=tmp)
    b3 -= tmp  # L'''/L'
    b2 -= lam  # L''/L'
    lam /= log_b  # rho
    np.subtract(b2, lam, out=tmp)
    tmp *= lam
    tmp *= 6.0
    b3 -= tmp
    lam *= 2.0
    b2 -= lam


def _upper_objective(
    gap: FloatArray,
    vega: FloatArray,
    b2: FloatArray,
    b3: FloatArray,
    log_gap_beta: FloatArray,
    newton: FloatArray,
    scratch: list[FloatArray],
) -> None:
    """Newton step and h2, h3 (into b2, b3) for g = ln(b_max - b) - ln(b_max - beta).

    With G = ln(b_max - b), mu = G' = -b' / (b_max - b): G''/G' = b''/b' - mu and
    G'''/G' = b'''/b' - 3 mu b''/b' + 2 mu^2.
    """
    mu, tmp = scratch[0], scratch[1]
    np.divide(vega, gap, out=mu)
    np.negative(mu, out=mu)
    np.log(gap, out=tmp)
    np.subtract(log_gap_beta, tmp, out=newton)
    newton /= mu
    np.multiply(mu, -2.0 / 3.0, out=tmp)
    tmp += b2
    tmp *= mu
    tmp *= 3.0
    b3 -= tmp
    b2 -= mu


def _guess_middle(
    beta: FloatArray,
    s_c: FloatArray,
    b_c: FloatArray,
    b_max: FloatArray,
    s_bound: FloatArray,
    b_bound: FloatArray,
    v_bound: FloatArray,
    out: FloatArray,
    scratch: list[FloatArray],
) -> None:
    """s(beta) between b_c and a tangent bound: rational cubic in beta with s'' = 0 at the inflection b_c."""
    width, tau, omega, d_l, d_r, slope, r, *rest = scratch
    np.subtract(b_bound, b_c, out=width)
    np.subtract(beta, b_c, out=tau)
    tau /= width
    np.subtract(b_bound, beta, out=omega)
    omega /= width
    np.divide(_SQRT_TWO_PI, b_max, out=d_l)  # ds/db at s_c
    np.reciprocal(v_bound, out=d_r)
    np.subtract(s_bound, s_c, out=slope)
    slope /= width
    np.subtract(d_r, d_l, out=r)  # s''(b_c) = 0: r = (d_r - d_l) / (slope - d_l)
    np.subtract(slope, d_l, out=rest[0])
    r /= rest[0]
    _shape_preserving_r(r, d_l, d_r, slope, rest[0])
    _rational_cubic(tau, omega, width, s_c, s_bound, d_l, d_r, r, out, rest)


def _guess_lower(
    beta: FloatArray,
    x: FloatArray,
    s_l: FloatArray,
    b_l: FloatArray,
    v_l: FloatArray,
    b2_l: FloatArray,
    out: FloatArray,
    scratch: list[FloatArray],
) -> None:
    """s(beta) below b_l: interpolate Jaeckel's lower map f = c|x| Phi(z)^3, z = x/(sqrt(3) s), in beta
    (f ~ beta as beta -> 0, f and df/dbeta, d2f/dbeta2 matched at b_l), then invert f exactly.

    With R = R(-z) the Mills ratio: f'/f = -3z/(R s), f''/f = (f'/f)(z^2 - 2 - 2z/R)/s.
    """
    z, mills, f, g1, g2, scale, d_r, slope, r, *rest = scratch
    np.divide(x, s_l, out=z)
    z *= 1.0 / _SQRT_THREE
    np.negative(z, out=g1)
    _mills_ratio(g1, mills, rest, exact_beyond_table=True)
    (keep,) = _WORKSPACE.flags(1, z.size)
    np.multiply(z, z, out=f)
    f *= -0.5
    _exp_flush(f, f, keep)
    f *= _INV_SQRT_TWO_PI
    f *= mills  # Phi(z)
    np.multiply(f, f, out=g2)
    f *= g2
    np.multiply(x, -_LOWER_MAP_SCALE, out=scale)
    f *= scale  # f(s_l)
    g1 *= 3.0
    g1 /= mills
    g1 /= s_l  # f'/f
    np.divide(z, mills, out=g2)  # f''/f = g1 (z^2 - 2 - 2z/R) / s
    g2 *= -2.0
    np.multiply(z, z, out=slope)
    g2 += slope
    g2 -= 2.0
    g2 *= g1
    g2 /= s_l
    np.divide(g1, v_l, out=d_r)
    d_r *= f  # df/dbeta at b_l
    np.multiply(g1, b2_l, out=slope)  # d2f/dbeta2 = f (f''/f - f'/f b''/b') / b'^2
    np.subtract(g2, slope, out=g2)
    g2 *= f
    g2 /= v_l
    g2 /= v_l
    np.divide(f, b_l, out=slope)
    # Fit the second derivative at b_l: r = (b_l y''/2 + d_r - d_l) / (d_r - slope), d_l = 1.
    np.multiply(g2, b_l, out=r)
    r *= 0.5
    r += d_r
    r -= 1.0
    np.subtract(d_r, slope, out=g1)
    r /= g1
    _shape_preserving_r(r, 1.0, d_r, slope, g1)
    tau, omega = g1, g2
    np.divide(beta, b_l, out=tau)
    np.subtract(b_l, beta, out=omega)
    omega /= b_l
    _rational_cubic(tau, omega, b_l, 0.0, f, 1.0, d_r, r, mills, rest)  # f(beta)
    mills /= scale
    np.log(mills, out=mills)
    mills *= 1.0 / 3.0  # ln Phi(z(beta))
    _inverse_norm_cdf_lower(mills, z)
    z *= _SQRT_THREE
    np.divide(x, z, out=out)


def _guess_upper(
    beta: FloatArray,
    b_max: FloatArray,
    s_u: FloatArray,
    gap_u: FloatArray,
    v_u: FloatArray,
    b2_u: FloatArray,
    out: FloatArray,
    scratch: list[FloatArray],
) -> None:
    """s(beta) above b_u: interpolate the upper map f = Phi(-s/2) in beta (slope -1/2 at b_max, f and
    its first two derivatives matched at b_u), then invert f exactly."""
    half, pdf, f, d_l, y2, slope, r, tau, omega, *rest = scratch
    np.multiply(s_u, 0.5, out=half)
    _mills_ratio(half, f, rest, exact_beyond_table=True)
    (keep,) = _WORKSPACE.flags(1, half.size)
    np.multiply(half, half, out=pdf)
    pdf *= -0.5
    _exp_flush(pdf, pdf, keep)
    pdf *= _INV_SQRT_TWO_PI
    f *= pdf  # f(s_u)
    np.divide(pdf, v_u, out=d_l)
    d_l *= -0.5  # df/dbeta = f'/b' with f' = -pdf/2
    np.multiply(b2_u, 0.5, out=y2)  # d2f/dbeta2 = (f'' - f' b''/b') / b'^2 with f'' = s pdf / 8
    np.multiply(s_u, 0.125, out=slope)
    y2 += slope
    y2 *= pdf
    y2 /= v_u
    y2 /= v_u
    np.divide(f, gap_u, out=slope)
    np.negative(slope, out=slope)
    # Fit the second derivative at b_u: r = (width y''/2 + d_r - d_l) / (slope - d_l), d_r = -1/2.
    np.multiply(y2, gap_u, out=r)
    r *= 0.5
    r -= 0.5
    r -= d_l
    np.subtract(slope, d_l, out=tau)
    r /= tau
    _shape_preserving_r(r, d_l, np.full_like(r, -0.5), slope, tau)
    np.subtract(gap_u, b_max, out=tau)
    tau += beta
    tau /= gap_u  # (beta - b_u) / (b_max - b_u)
    np.subtract(b_max, beta, out=omega)
    omega /= gap_u
    _rational_cubic(tau, omega, gap_u, f, np.zeros_like(f), d_l, np.full_like(f, -0.5), r, pdf, rest)
    np.log(pdf, out=pdf)
    _inverse_norm_cdf_lower(pdf, out)
    out *= -2.0
