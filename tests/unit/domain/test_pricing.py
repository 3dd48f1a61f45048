"""Black-Scholes-Merton prices, Greeks and implied vol: against QuantLib, at the edges, and as properties.

Every test runs on both backends: the compiled kernel ("c") and numpy (test_pricing_kernel.py checks
that they agree element by element, and the kernel's build).

QuantLib's Python wheel has day-resolution dates, so the references use its date-free Black functions:
blackFormula / BlackCalculator / blackFormulaImpliedStdDev with stdDev = vol sqrt(t), forward
S e^((r-q)t) and discount e^(-rt), which reach one minute to expiry.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
import QuantLib as ql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smart0dte.domain import pricing
from smart0dte.domain.pricing import (
    MINUTES_PER_YEAR,
    IVStatus,
    PricingInputError,
    bsm_greeks,
    bsm_price,
    implied_vol,
    t_years_from_minutes,
)

ONE_MINUTE = 1.0 / MINUTES_PER_YEAR
# derandomize: CI runs the same examples on every run (a failure reproduces from the commit alone);
# the example counts below (200-300 per property, on top of the fixed grids) keep that set meaningful.
PROPERTY_SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture],  # the backend is the same per test
}


@pytest.fixture(autouse=True, params=["c", "numpy"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on the compiled kernel, then on numpy."""
    if request.param == "numpy":
        monkeypatch.setattr(pricing, "_KERNEL", None)
    assert pricing.backend() == request.param, f"no compiled kernel: `make kernel`; {pricing.KERNEL_ENV} set?"
    return str(request.param)


def _grid() -> dict[str, np.ndarray]:
    """All combinations of spot, strike, expiry (1 minute .. 1 year), vol, rate (also < 0), yield, type."""
    rows = list(
        itertools.product(
            [480.0, 500.0],
            [440.0, 480.0, 495.0, 500.0, 505.0, 520.0, 560.0],
            [1.0, 5.0, 60.0, 390.0, 1440.0, 30 * 1440.0, 365 * 1440.0],
            [0.05, 0.2, 0.8, 1.5],
            [0.045, -0.01],
            [0.0, 0.013],
            [True, False],
        )
    )
    cols = list(zip(*rows, strict=True))
    names = ["spot", "strike", "minutes", "vol", "rate", "div_yield"]
    grid = {name: np.array(col, dtype=float) for name, col in zip(names, cols[:6], strict=True)}
    grid["is_call"] = np.array(cols[6], dtype=bool)
    grid["t_years"] = t_years_from_minutes(grid["minutes"])
    return grid


def _black_calculator(
    spot: float, strike: float, t: float, r: float, q: float, vol: float, call: bool
) -> ql.BlackCalculator:
    kind = ql.Option.Call if call else ql.Option.Put
    fwd = spot * math.exp((r - q) * t)
    return ql.BlackCalculator(ql.PlainVanillaPayoff(kind, strike), fwd, vol * math.sqrt(t), math.exp(-r * t))


def _ql_implied_vol(
    price: float, spot: float, strike: float, t: float, r: float, q: float, call: bool
) -> float:
    kind = ql.Option.Call if call else ql.Option.Put
    fwd = spot * math.exp((r - q) * t)
    sd = ql.blackFormulaImpliedStdDev(
        kind, strike, fwd, price, math.exp(-r * t), 0.0, ql.nullDouble(), 1e-18, 1000
    )
    return float(sd / math.sqrt(t))


# ----------------------------------------------------------------------------------------------
# Against QuantLib
# ----------------------------------------------------------------------------------------------


def test_price_and_greeks_match_quantlib_down_to_one_minute() -> None:
    g = _grid()
    ours = bsm_greeks(g["spot"], g["strike"], g["t_years"], g["rate"], g["div_yield"], g["vol"], g["is_call"])
    reference = {
        name: np.empty(g["spot"].size) for name in ("price", "delta", "gamma", "vega", "theta", "rho")
    }
    for i in range(g["spot"].size):
        s, t = float(g["spot"][i]), float(g["t_years"][i])
        calc = _black_calculator(
            s,
            float(g["strike"][i]),
            t,
            float(g["rate"][i]),
            float(g["div_yield"][i]),
            float(g["vol"][i]),
            bool(g["is_call"][i]),
        )
        reference["price"][i] = calc.value()
        reference["delta"][i] = calc.delta(s)
        reference["gamma"][i] = calc.gamma(s)
        reference["vega"][i] = calc.vega(t)
        # QuantLib's own theta recovers r as log(discount)/T: ~eps/(rT) relative error, 3e-9 at one
        # minute. Its value, delta and gamma are exact, so take theta from the BSM equation instead.
        r, q, v = float(g["rate"][i]), float(g["div_yield"][i]), float(g["vol"][i])
        reference["theta"][i] = (
            r * calc.value() - (r - q) * s * calc.delta(s) - 0.5 * v * v * s * s * calc.gamma(s)
        )
        reference["rho"][i] = calc.rho(t)
    ours_by_name = {
        "price": ours.price,
        "delta": ours.delta,
        "gamma": ours.gamma,
        "vega": ours.vega_per_unit_vol,
        "theta": ours.theta_per_year,
        "rho": ours.rho_per_unit_rate,
    }
    for name, ref in reference.items():
        # 1e-9 relative; the absolute floor only excuses values QuantLib itself computes as noise.
        np.testing.assert_allclose(ours_by_name[name], ref, rtol=1e-9, atol=1e-11, err_msg=name)
    assert np.count_nonzero(g["minutes"] == 1.0) == g["spot"].size // 7


def _exact_greeks(
    spot: float, strike: float, t: float, r: float, q: float, vol: float, call: bool
) -> list[float]:
    """Price, delta, gamma, vega, theta (per year), rho from the closed forms at 50 digits (mpmath)."""
    with mpmath.workdps(50):
        s, k, t_, r_, q_, v = (mpmath.mpf(x) for x in (spot, strike, t, r, q, vol))
        phi = 1 if call else -1
        sd = v * mpmath.sqrt(t_)
        d1 = (mpmath.log(s / k) + (r_ - q_) * t_) / sd + sd / 2
        d2 = d1 - sd
        spot_q, strike_r = s * mpmath.exp(-q_ * t_), k * mpmath.exp(-r_ * t_)
        n1, n2, pdf1 = mpmath.ncdf(phi * d1), mpmath.ncdf(phi * d2), mpmath.npdf(d1)
        values = (
            phi * (spot_q * n1 - strike_r * n2),
            phi * mpmath.exp(-q_ * t_) * n1,
            mpmath.exp(-q_ * t_) * pdf1 / (s * sd),
            spot_q * pdf1 * mpmath.sqrt(t_),
            phi * (q_ * spot_q * n1 - r_ * strike_r * n2) - spot_q * pdf1 * v / (2 * mpmath.sqrt(t_)),
            phi * strike_r * t_ * n2,
        )
        return [float(x) for x in values]


def test_price_and_greeks_within_1e_9_relative_of_exact_including_one_minute() -> None:
    """Against the closed forms at 50 digits: 1e-9 relative, with an absolute floor of 1e-13 (in each
    Greek's units) for values that are essentially 0 (deep out-of-the-money prices and gammas)."""
    g = _grid()
    rng = np.random.default_rng(7)
    short = np.flatnonzero(g["minutes"] <= 390.0)
    one_minute = np.flatnonzero(g["minutes"] == 1.0)
    idx = np.union1d(rng.choice(short, 250, replace=False), rng.choice(one_minute, 100, replace=False))
    args = [g[k][idx] for k in ("spot", "strike", "t_years", "rate", "div_yield", "vol", "is_call")]
    ours = bsm_greeks(*args)
    values = np.stack(
        [
            ours.price,
            ours.delta,
            ours.gamma,
            ours.vega_per_unit_vol,
            ours.theta_per_year,
            ours.rho_per_unit_rate,
        ]
    )
    exact = np.array(
        [_exact_greeks(*(float(a[j]) for a in args[:6]), bool(args[6][j])) for j in range(idx.size)]
    ).T
    error = np.abs(values - exact) / np.maximum(np.abs(exact), 1e-13)
    for name, row in zip(("price", "delta", "gamma", "vega", "theta", "rho"), error, strict=True):
        assert np.max(row) <= 1e-9, (name, float(np.max(row)))
    assert np.count_nonzero(g["minutes"][idx] == 1.0) >= 100


def test_unit_variants_of_vega_and_theta() -> None:
    g = bsm_greeks(500.0, [490.0, 500.0, 510.0], t_years_from_minutes(30.0), 0.045, 0.013, 0.25, True)
    np.testing.assert_allclose(g.vega_per_vol_point, g.vega_per_unit_vol / 100.0, rtol=1e-15)
    np.testing.assert_allclose(g.theta_per_minute, g.theta_per_year / MINUTES_PER_YEAR, rtol=1e-15)


def test_implied_vol_matches_quantlib_on_quotable_options_including_one_minute() -> None:
    g = _grid()
    price = bsm_price(g["spot"], g["strike"], g["t_years"], g["rate"], g["div_yield"], g["vol"], g["is_call"])
    df_r = np.exp(-g["rate"] * g["t_years"])
    fwd = g["spot"] * np.exp((g["rate"] - g["div_yield"]) * g["t_years"])
    intrinsic = df_r * np.maximum(np.where(g["is_call"], fwd - g["strike"], g["strike"] - fwd), 0.0)
    quotable = np.flatnonzero(price - intrinsic >= 0.005)
    vol, status = implied_vol(
        price, g["spot"], g["strike"], g["t_years"], g["rate"], g["div_yield"], g["is_call"]
    )
    assert np.all(status[quotable] == IVStatus.OK)
    reference = np.array(
        [
            _ql_implied_vol(
                float(price[i]),
                float(g["spot"][i]),
                float(g["strike"][i]),
                float(g["t_years"][i]),
                float(g["rate"][i]),
                float(g["div_yield"][i]),
                bool(g["is_call"][i]),
            )
            for i in quotable
        ]
    )
    assert np.max(np.abs(vol[quotable] - reference)) <= 1e-10
    one_minute = g["minutes"][quotable] == 1.0
    assert np.count_nonzero(one_minute) >= 50
    assert np.max(np.abs(vol[quotable][one_minute] - g["vol"][quotable][one_minute])) <= 1e-10


def test_implied_vol_of_out_of_the_money_quotes_one_minute_from_expiry() -> None:
    """Tiny normalised prices (down to 4e-6 dollars, 3 standard deviations out) keep full precision."""
    strikes = np.array([501.0, 502.0, 502.5])
    price = bsm_price(500.0, strikes, ONE_MINUTE, 0.045, 0.0, 0.9, True)
    assert np.all(price < 0.015)
    assert np.all(price > 4e-6)
    vol, status = implied_vol(price, 500.0, strikes, ONE_MINUTE, 0.045, 0.0, True)
    assert np.all(status == IVStatus.OK)
    np.testing.assert_allclose(vol, 0.9, rtol=1e-12)


def _mills_ratio_reference(u: float) -> float:
    """(1 - Phi(u)) / phi(u): from math.erfc for u < 3 (error ~ (1 + u^2) ulp from exp), else Laplace's
    continued fraction 1/(u + 1/(u + 2/(u + ...))), under an ulp there with 400 terms."""
    if u < 3.0:
        return math.erfc(u / math.sqrt(2.0)) * math.exp(0.5 * u * u) * math.sqrt(0.5 * math.pi)
    acc = 0.0
    for k in range(400, 0, -1):
        acc = k / (u + acc)
    return 1.0 / (u + acc)


def test_normal_tail_behind_every_price_is_accurate_to_a_few_ulps(backend: str) -> None:
    """The Mills ratio (table + Taylor step, Cody beyond the table) carries all relative precision."""
    u = np.concatenate([np.linspace(0.0, 45.0, 9001), [60.0, 1e3, 1e6]])
    ours = np.empty_like(u)
    if backend == "c":
        assert pricing._KERNEL is not None
        pricing._KERNEL.pk_mills_ratio(u.size, u.ctypes.data, ours.ctypes.data, *pricing._kernel_table())
    else:
        pricing._mills_ratio(u, ours, [np.empty_like(u) for _ in range(5)], exact_beyond_table=True)
    reference = np.array([_mills_ratio_reference(float(x)) for x in u])
    eps = np.finfo(float).eps
    allowed = eps * np.where(u < 3.0, 6.0 + 1.5 * u * u, 6.0)
    assert np.all(np.abs(ours / reference - 1.0) <= allowed)


# ----------------------------------------------------------------------------------------------
# Round trip and the statuses
# ----------------------------------------------------------------------------------------------


def test_round_trip_price_to_vol_to_price_over_a_wide_domain() -> None:
    rng = np.random.default_rng(11)
    n = 50_000  # more than one processing chunk
    spot = rng.uniform(50.0, 1000.0, n)
    strike = spot * np.exp(rng.normal(0.0, 0.3, n))
    t = t_years_from_minutes(np.exp(rng.uniform(0.0, math.log(3 * 365 * 1440), n)))
    rate, q = rng.uniform(-0.01, 0.08, n), rng.uniform(0.0, 0.05, n)
    vol_in = np.exp(rng.uniform(math.log(0.01), math.log(4.0), n))
    call = rng.random(n) < 0.5
    price = bsm_price(spot, strike, t, rate, q, vol_in, call)
    vol, status = implied_vol(price, spot, strike, t, rate, q, call)
    ok = status == IVStatus.OK
    assert np.count_nonzero(ok) > 0.4 * n  # the rest: deep in or out of the money, no usable time value
    assert np.all(np.isnan(vol[~ok]))
    # Every finite vol reprices the quote to within rounding, and is the generating vol to 1e-9.
    repriced = bsm_price(spot[ok], strike[ok], t[ok], rate[ok], q[ok], vol[ok], call[ok])
    assert np.all(np.abs(repriced - price[ok]) <= 1e-11 * price[ok] + 1e-12 * spot[ok])
    np.testing.assert_allclose(vol[ok], vol_in[ok], rtol=1e-9)


def test_only_a_converged_step_yields_a_vol(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a single Householder step many elements are still 1e-3 off: those must be NaN, not numbers."""
    monkeypatch.setattr(pricing, "_HOUSEHOLDER_STEPS", 1)
    rng = np.random.default_rng(5)
    n = 2_000
    strike = rng.uniform(450.0, 550.0, n)
    t = t_years_from_minutes(rng.uniform(5.0, 390.0, n))
    vol_in = rng.uniform(0.05, 1.5, n)
    price = bsm_price(500.0, strike, t, 0.045, 0.01, vol_in, True)
    vol, status = implied_vol(price, 500.0, strike, t, 0.045, 0.01, True)
    not_converged = status == IVStatus.NOT_CONVERGED
    assert np.count_nonzero(not_converged) > 100
    assert np.all(np.isnan(vol[not_converged]))
    ok = status == IVStatus.OK
    np.testing.assert_allclose(vol[ok], vol_in[ok], rtol=1e-12)


STATUS_CASES = [
    (5.0, 500.0, 500.0, 0.01, 0.045, True, IVStatus.OK),
    (float("nan"), 500.0, 500.0, 0.01, 0.045, True, IVStatus.INVALID_INPUT),
    (-1.0, 500.0, 500.0, 0.01, 0.045, True, IVStatus.INVALID_INPUT),
    (5.0, float("nan"), 500.0, 0.01, 0.045, True, IVStatus.INVALID_INPUT),  # missing spot
    (5.0, 500.0, 500.0, 0.01, float("inf"), True, IVStatus.INVALID_INPUT),
    (5.0, 500.0, 500.0, 0.0, 0.045, True, IVStatus.EXPIRED),
    (9.0, 510.0, 500.0, 0.01, 0.0, True, IVStatus.BELOW_INTRINSIC),  # intrinsic 10
    (9.0, 490.0, 500.0, 0.01, 0.0, False, IVStatus.BELOW_INTRINSIC),
    (500.0, 500.0, 520.0, 0.01, 0.0, True, IVStatus.ABOVE_MAXIMUM),  # a call is worth less than spot
    (520.0, 500.0, 520.0, 0.01, 0.0, False, IVStatus.ABOVE_MAXIMUM),  # a put less than the strike
    (0.0, 500.0, 520.0, 0.01, 0.0, True, IVStatus.NO_TIME_VALUE),  # zero out of the money
    (10.0, 510.0, 500.0, 0.01, 0.0, True, IVStatus.NO_TIME_VALUE),  # exactly intrinsic
    (10.0 + 1e-11, 510.0, 500.0, 0.01, 0.0, True, IVStatus.ILL_CONDITIONED),  # a few ulps above it
]


@pytest.mark.parametrize(("price", "spot", "strike", "t_years", "rate", "is_call", "expected"), STATUS_CASES)
def test_each_status(
    price: float, spot: float, strike: float, t_years: float, rate: float, is_call: bool, expected: IVStatus
) -> None:
    vol, status = implied_vol(price, spot, strike, t_years, rate, 0.0, is_call)
    assert status == expected
    assert np.isfinite(vol) == (expected == IVStatus.OK)


def test_every_status_is_covered() -> None:
    reached = {case[-1] for case in STATUS_CASES}
    reached.add(IVStatus.NOT_CONVERGED)  # test_only_a_converged_step_yields_a_vol
    assert reached == set(IVStatus)


def test_no_time_value_and_maximum_hold_in_every_moneyness() -> None:
    """Puts in the money and calls out of it go through put-call parity: same statuses as their mirror."""
    t, r, q = 0.02, 0.03, 0.01
    df_r, df_q = math.exp(-r * t), math.exp(-q * t)
    put_itm_intrinsic = 520.0 * df_r - 500.0 * df_q
    _, status = implied_vol([put_itm_intrinsic - 0.01, 520.0 * df_r], 500.0, 520.0, t, r, q, False)
    assert list(status) == [IVStatus.BELOW_INTRINSIC, IVStatus.ABOVE_MAXIMUM]


# ----------------------------------------------------------------------------------------------
# Shapes and inputs
# ----------------------------------------------------------------------------------------------


def test_scalar_inputs_give_0d_results() -> None:
    price = bsm_price(500.0, 500.5, ONE_MINUTE * 30, 0.045, 0.01, 0.2, False)
    assert price.shape == ()
    vol, status = implied_vol(price, 500.0, 500.5, ONE_MINUTE * 30, 0.045, 0.01, False)
    assert vol.shape == status.shape == ()
    assert status == IVStatus.OK
    assert abs(float(vol) - 0.2) < 1e-12
    assert bsm_greeks(500.0, 500.5, ONE_MINUTE * 30, 0.045, 0.01, 0.2, False).delta.shape == ()


def test_inputs_broadcast() -> None:
    strikes = np.array([499.0, 500.0, 501.0, 502.0])[None, :]
    minutes = np.array([1.0, 30.0, 390.0])[:, None]
    is_call = np.array([False, True, True, True])  # all out of the money: each has time value to solve
    price = bsm_price(500.0, strikes, t_years_from_minutes(minutes), 0.045, 0.0, 0.3, is_call)
    assert price.shape == (3, 4)
    assert price[1, 2] == bsm_price(500.0, 501.0, t_years_from_minutes(30.0), 0.045, 0.0, 0.3, True)
    assert price[0, 0] == bsm_price(500.0, 499.0, t_years_from_minutes(1.0), 0.045, 0.0, 0.3, False)
    vol, status = implied_vol(price, 500.0, strikes, t_years_from_minutes(minutes), 0.045, 0.0, is_call)
    assert vol.shape == status.shape == (3, 4)
    assert np.all(status == IVStatus.OK)
    np.testing.assert_allclose(vol, 0.3, rtol=1e-10)


def test_nan_input_gives_nan_output_and_invalid_status() -> None:
    g = bsm_greeks([500.0, np.nan, 500.0], [500.0, 500.0, np.nan], 0.01, 0.045, 0.0, [0.2, 0.2, 0.2], True)
    for values in (g.price, g.delta, g.gamma, g.vega_per_unit_vol, g.theta_per_year, g.rho_per_unit_rate):
        assert np.isfinite(values[0])
        assert np.isnan(values[1:]).all()
    _, status = implied_vol([5.0, 5.0], [500.0, np.nan], 500.0, 0.01, 0.045, 0.0, True)
    assert list(status) == [IVStatus.OK, IVStatus.INVALID_INPUT]


def test_pricing_rejects_negative_vol_and_time() -> None:
    with pytest.raises(PricingInputError, match=r"vol must be >= 0 .*got -0\.2"):
        bsm_price(500.0, 500.0, 0.01, 0.0, 0.0, -0.2, True)
    with pytest.raises(PricingInputError, match=r"t_years must be >= 0 .*got -0\.01"):
        bsm_price(500.0, 500.0, -0.01, 0.0, 0.0, 0.2, True)
    with pytest.raises(PricingInputError, match=r"t_years must be >= 0"):
        implied_vol(5.0, 500.0, 500.0, -0.01, 0.0, 0.0, True)


# Structural and impossible inputs raise (naming the field and its limit); per-quote market
# conditions (a NaN or negative price, a price below intrinsic, NaN spot: missing data) get a status
# or NaN per element.
BAD_INPUTS = [
    ("strike", {"strike": -5.0}, r"strike must be > 0 .*got -5\.0"),
    ("zero spot", {"spot": np.array([500.0, 0.0])}, r"spot must be > 0 .*got 0\.0 at flat index 1"),
    ("vol array", {"vol": np.array([0.2, -0.1])}, r"vol must be >= 0"),
    ("string vol", {"vol": "abc"}, r"vol must be a number or an array of numbers: got str 'abc'"),
    ("numeric string", {"spot": "500"}, r"spot must be a number"),
    ("None", {"spot": None}, r"spot must be a number or an array of numbers: got NoneType"),
    ("bool spot", {"spot": True}, r"spot must be a number, not the boolean True"),
    ("complex", {"rate": 0.04 + 1j}, r"rate must be a number"),
    ("object list", {"strike": [500.0, None]}, r"strike must be numeric"),
    ("is_call str", {"is_call": "put"}, r"is_call must be True \(call\) / False \(put\)"),
    ("is_call str False", {"is_call": "False"}, r"is_call must be True"),
    ("is_call int", {"is_call": 1}, r"is_call must be True"),
    ("is_call floats", {"is_call": np.array([0.0, 1.0])}, r"is_call must be True"),
    ("is_call None", {"is_call": None}, r"is_call must be True"),
    (
        "shapes",
        {"spot": np.full(3, 500.0), "strike": np.full(4, 500.0)},
        r"shapes do not broadcast together: spot \(3,\), strike \(4,\)",
    ),
]


@pytest.mark.parametrize(("label", "override", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_inputs_raise_naming_the_field(label: str, override: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "spot": 500.0,
        "strike": 500.0,
        "t_years": 0.001,
        "rate": 0.04,
        "div_yield": 0.0,
        "vol": 0.2,
        "is_call": True,
    }
    args.update(override)
    with pytest.raises(PricingInputError, match=message):
        bsm_price(**args)  # type: ignore[arg-type]
    with pytest.raises(PricingInputError, match=message):
        bsm_greeks(**args)  # type: ignore[arg-type]
    if "vol" not in override:
        iv_args = {k: v for k, v in args.items() if k != "vol"}
        with pytest.raises(PricingInputError, match=message):
            implied_vol(price=5.0, **iv_args)  # type: ignore[arg-type]


def test_market_data_conditions_are_statuses_not_errors() -> None:
    vol, status = implied_vol(
        [5.0, np.nan, -1.0, 0.01], [500.0, 500.0, 500.0, 510.0], 500.0, 0.001, 0.04, 0.0, True
    )
    assert list(status) == [
        IVStatus.OK,
        IVStatus.INVALID_INPUT,
        IVStatus.INVALID_INPUT,
        IVStatus.BELOW_INTRINSIC,
    ]
    assert np.isnan(vol[1:]).all()
    assert np.isnan(bsm_price([np.nan, 500.0], 500.0, 0.001, 0.04, 0.0, 0.2, True)[0])


def test_lists_and_other_numeric_dtypes_are_accepted() -> None:
    expected = bsm_price(
        np.array([500.0, 500.0]), np.array([490.0, 510.0]), 0.001, 0.04, 0.0, 0.2, np.array([True, False])
    )
    np.testing.assert_array_equal(
        bsm_price([500, 500], [490, 510], 0.001, 0.04, 0, 0.2, [True, False]), expected
    )
    np.testing.assert_array_equal(
        bsm_price(
            np.array([500, 500], dtype=np.int32),
            np.array([490.0, 510.0], dtype=">f8"),
            0.001,
            0.04,
            0,
            0.2,
            np.array([True, False]),
        ),
        expected,
    )
    np.testing.assert_array_equal(
        bsm_price(
            np.full(4, 500.0)[::2], np.array([490.0, 510.0]), 0.001, 0.04, 0, 0.2, np.array([True, False])
        ),
        expected,
    )


def test_minutes_are_validated() -> None:
    with pytest.raises(PricingInputError, match=r"minutes must be >= 0 .*got -5\.0"):
        t_years_from_minutes(-5.0)
    with pytest.raises(PricingInputError, match=r"minutes must be a number"):
        t_years_from_minutes("5")
    assert np.isnan(t_years_from_minutes(np.nan))


def test_t_years_from_minutes() -> None:
    assert MINUTES_PER_YEAR == 525_600.0
    np.testing.assert_array_equal(t_years_from_minutes([0.0, 525_600.0, 60.0]), [0.0, 1.0, 60.0 / 525_600.0])


# ----------------------------------------------------------------------------------------------
# Edges: expiry, zero vol, near expiry
# ----------------------------------------------------------------------------------------------


def test_at_expiry_the_payoff_and_its_slope() -> None:
    g = bsm_greeks(500.0, [490.0, 500.0, 510.0], 0.0, 0.045, 0.01, 0.3, True)
    np.testing.assert_array_equal(g.price, [10.0, 0.0, 0.0])
    np.testing.assert_array_equal(g.delta, [1.0, 0.5, 0.0])
    for values in (g.gamma, g.vega_per_unit_vol, g.theta_per_year, g.rho_per_unit_rate):
        np.testing.assert_array_equal(values, 0.0)


def test_zero_vol_is_the_discounted_forward_intrinsic_value() -> None:
    t, r, q = 0.5, 0.05, 0.01
    g = bsm_greeks(500.0, [450.0, 600.0], t, r, q, 0.0, [True, False])
    expected = [
        500.0 * math.exp(-q * t) - 450.0 * math.exp(-r * t),
        600.0 * math.exp(-r * t) - 500.0 * math.exp(-q * t),
    ]
    # numpy's exp (SVML or its own on AVX-512) and glibc's (math.exp) are each within 1 ulp of exact,
    # so each discounted term may differ by 2 eps plus its rounding, and the price is their difference.
    terms = np.array(
        [
            500.0 * math.exp(-q * t) + 450.0 * math.exp(-r * t),
            600.0 * math.exp(-r * t) + 500.0 * math.exp(-q * t),
        ]
    )
    assert np.all(np.abs(g.price - expected) <= 4 * np.finfo(float).eps * terms)
    np.testing.assert_allclose(g.delta, [math.exp(-q * t), -math.exp(-q * t)], rtol=1e-15)
    np.testing.assert_array_equal(g.gamma, 0.0)


def test_theta_is_the_instantaneous_decay_one_minute_from_expiry() -> None:
    """Theta per minute is the derivative, not a one-day difference that crosses the expiry."""
    minutes, dm = 1.0, 1e-4
    args = (500.0, 500.5, 0.045, 0.01, 0.3, True)
    s, k, r, q, v, c = args
    g = bsm_greeks(s, k, t_years_from_minutes(minutes), r, q, v, c)
    later = bsm_price(s, k, t_years_from_minutes(minutes - dm), r, q, v, c)
    earlier = bsm_price(s, k, t_years_from_minutes(minutes + dm), r, q, v, c)
    assert float(g.theta_per_minute) == pytest.approx(float(later - earlier) / (2 * dm), rel=1e-6)
    assert float(g.theta_per_minute) < 0.0


# ----------------------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------------------

spots = st.floats(10.0, 2000.0)
moneyness = st.floats(-0.5, 0.5)
minutes = st.floats(1.0, 2 * 365 * 1440.0)
vols = st.floats(0.01, 3.0)
rates = st.floats(-0.02, 0.1)
yields = st.floats(0.0, 0.06)


@settings(max_examples=300, **PROPERTY_SETTINGS)
@given(spots, moneyness, minutes, vols, rates, yields)
def test_put_call_parity(spot: float, m: float, mins: float, vol: float, r: float, q: float) -> None:
    strike = spot * math.exp(m)
    t = float(t_years_from_minutes(mins))
    call, put = bsm_price(spot, strike, t, r, q, vol, [True, False])
    assert call - put == pytest.approx(spot * math.exp(-q * t) - strike * math.exp(-r * t), abs=1e-12 * spot)


@settings(max_examples=300, **PROPERTY_SETTINGS)
@given(spots, moneyness, minutes, vols, vols, rates, yields, st.booleans())
def test_price_rises_with_vol(
    spot: float, m: float, mins: float, v1: float, v2: float, r: float, q: float, call: bool
) -> None:
    lo, hi = sorted((v1, v2))
    t = float(t_years_from_minutes(mins))
    p_lo, p_hi = bsm_price(spot, spot * math.exp(m), t, r, q, [lo, hi], call)
    assert p_hi >= p_lo - 1e-13 * spot


@settings(max_examples=300, **PROPERTY_SETTINGS)
@given(spots, moneyness, minutes, vols, rates, yields)
def test_greek_signs_and_bounds(spot: float, m: float, mins: float, vol: float, r: float, q: float) -> None:
    t = float(t_years_from_minutes(mins))
    g = bsm_greeks(spot, spot * math.exp(m), t, r, q, vol, [True, False])
    assert 0.0 <= g.delta[0] <= 1.0
    assert -1.0 <= g.delta[1] <= 0.0
    assert g.delta[0] - g.delta[1] == pytest.approx(math.exp(-q * t), abs=1e-12)
    assert np.all(g.gamma >= 0.0)
    assert np.all(g.vega_per_unit_vol >= 0.0)
    assert g.gamma[0] == g.gamma[1]


@settings(max_examples=200, **PROPERTY_SETTINGS)
@given(spots, moneyness, st.floats(1.0, 390.0), st.floats(0.05, 1.5), st.booleans())
def test_round_trip_on_0dte_quotes(spot: float, m: float, mins: float, vol: float, call: bool) -> None:
    strike = spot * math.exp(m / 10.0)
    t = float(t_years_from_minutes(mins))
    price = float(bsm_price(spot, strike, t, 0.045, 0.013, vol, call))
    fwd_intrinsic = max(
        (1 if call else -1) * (spot * math.exp(-0.013 * t) - strike * math.exp(-0.045 * t)), 0.0
    )
    implied, status = implied_vol(price, spot, strike, t, 0.045, 0.013, call)
    if price - fwd_intrinsic >= 1e-5 * spot:  # quotable: must be solved, to the generating vol
        assert status == IVStatus.OK
        assert float(implied) == pytest.approx(vol, rel=1e-10)
    else:  # solved exactly or honestly refused
        assert status == IVStatus.OK or np.isnan(implied)
        if status == IVStatus.OK:
            assert float(implied) == pytest.approx(vol, rel=1e-9)
