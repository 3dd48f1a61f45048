"""The compiled pricing kernel: it agrees with the numpy reference, loads on Lambda, and is chosen as stated.

test_pricing.py runs its accuracy, edge and property tests on both backends; here the two are compared
element by element on a large random chain salted with edge cases.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from smart0dte.domain import pricing
from smart0dte.domain.pricing import (
    MINUTES_PER_YEAR,
    Greeks,
    IVStatus,
    bsm_greeks,
    bsm_price,
    implied_vol,
    t_years_from_minutes,
)

EPS = float(np.finfo(float).eps)
LAMBDA_GLIBC = (2, 34)
"""glibc of the python3.12 Lambda runtime (Amazon Linux 2023): the newest symbol version allowed."""


@pytest.fixture
def kernel() -> object:
    assert pricing._KERNEL_PATH.exists(), "the pricing kernel is not built: run `make kernel`"
    assert pricing.backend() == "c", f"compiled kernel built but not in use: {pricing.KERNEL_ENV} is set?"
    return pricing._KERNEL


def _chain(n: int, seed: int) -> dict[str, np.ndarray]:
    """Random options over a wide domain, a fortieth of them edge cases: NaN and infinite inputs,
    expiry, zero and tiny variance, at the money. (Zero or negative spot and strike, negative time or
    vol raise PricingInputError: test_pricing.py checks that on both backends.)"""
    rng = np.random.default_rng(seed)
    spot = rng.uniform(50.0, 1000.0, n)
    c = {
        "spot": spot,
        "strike": spot * np.exp(rng.normal(0.0, 0.3, n)),
        "t_years": t_years_from_minutes(np.exp(rng.uniform(0.0, math.log(3 * 365 * 1440), n))),
        "rate": rng.uniform(-0.01, 0.08, n),
        "div_yield": rng.uniform(0.0, 0.05, n),
        "vol": np.exp(rng.uniform(math.log(0.005), math.log(5.0), n)),
        "is_call": rng.random(n) < 0.5,
    }
    edges = rng.permutation(n)[: n // 40].reshape(20, -1)
    c["spot"][edges[0]] = np.nan
    c["strike"][edges[1]] = np.nan
    c["t_years"][edges[2]] = 0.0
    c["vol"][edges[3]] = 0.0
    c["spot"][edges[4]] = np.nan
    c["rate"][edges[5]] = np.inf
    c["t_years"][edges[6]] = np.inf
    c["vol"][edges[7]] = np.inf
    c["strike"][edges[8]] = c["spot"][edges[8]]  # at the money
    c["t_years"][edges[9]] = 1e-12
    c["vol"][edges[10]] = 1e-9
    c["vol"][edges[11]] = np.nan
    c["strike"][edges[12]] = c["spot"][edges[12]] * 3.0  # deep out of / in the money
    c["strike"][edges[13]] = c["spot"][edges[13]] / 3.0
    c["strike"][edges[18]] = c["spot"][edges[18]]  # zero vol at the money forward: infinite gamma
    c["vol"][edges[18]] = 0.0
    c["rate"][edges[18]] = c["div_yield"][edges[18]]
    c["edges"] = edges
    return c


def _both(fn: object, monkeypatch: pytest.MonkeyPatch, *args: object) -> tuple[object, object]:
    """fn(*args) on the kernel, then on numpy."""
    assert callable(fn)
    on_c = fn(*args)
    with monkeypatch.context() as m:
        m.setattr(pricing, "_KERNEL", None)
        on_numpy = fn(*args)
    return on_c, on_numpy


# ----------------------------------------------------------------------------------------------
# How far the two backends may differ, element by element
# ----------------------------------------------------------------------------------------------
#
# The kernel and the numpy backend run the same formulas in the same order, so they differ only where
# a step is not a correctly rounded IEEE operation (+ - * / and sqrt are, on every x86-64 build, and
# both builds of the kernel contract nothing):
#
# - exp and log. The kernel calls glibc; numpy calls glibc on baseline and AVX2 builds, its own
#   AVX512F kernels or Intel SVML (`__svml_exp8_ha`, `__svml_log8_ha`) on AVX-512 machines; numpy's
#   test_umath_accuracy holds each of them to 1 ulp of the exact value, so two of them differ by at
#   most 2 ulp, i.e. 2 eps relative. The discount factors are Taylor polynomials (< 1 ulp) in the
#   kernel element by element but in numpy only when the whole chunk's exponents are small, else
#   np.exp: the same 2 eps.
# - the Mills ratio R: the kernel sums the Taylor step in another order (mills_taylor); each is
#   within 4 ulp of exact, so 8 eps apart. Both read the same table.
#
# A difference of 2 eps in an exp or log is then carried by the condition number of each later step.
# First order in eps, with delta (difference between the backends) of each quantity:
#
#   F/K                 relative 7 eps: two discount factors (2 eps each) and three roundings;
#   x = ln(F/K)         absolute 7 eps + 2 eps |x|: ln turns a relative change into an absolute one;
#   d = x/s +- s/2      absolute 7 eps / s + 4 eps max|d|: divided by s = vol sqrt(t), which near
#                       expiry is tiny (6e-6 at one minute and vol 0.005), so d moves by up to ~1e-10;
#   phi(d)              relative |d| delta_d + eps d^2 + 11 eps: exp(-d^2/2) turns that into a relative
#                       change |d| times as large (|d| <= 37.7 before phi is flushed to zero);
#   N(-|d|) = phi R     relative delta_phi + 0.8 delta_d + 9 eps (|R'/R| <= 0.8);
#   N(|d|) = 1 - phi R  relative 3 (phi R / N) delta_tail + 2 eps;
#   Greeks              products add relative differences; price and theta are sums of terms, so
#                       the terms' absolute differences add (cancellation makes them ill-conditioned).
#
# The bound is twice the sum (second-order terms, and the condition numbers evaluated here in double
# precision). Where exp(-d^2/2) lies within its own difference of the flush threshold one backend may
# flush it to zero and the other not: there the values may differ by all of themselves (no element of
# this chain is). On this chain the Greeks may differ by 1e-14 relative (median) up to 1e-8 deep in
# the tails near expiry (an AVX-512 machine saw 2.1e-11 in delta at index 5582, where this allows
# 3.3e-10); the price, a difference, by its terms' differences. Each backend is still held to 1e-9 of
# the exact values (mpmath, QuantLib) in test_pricing.py.


def _greeks_difference_bound(
    c: dict[str, np.ndarray], ours: Greeks
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Largest absolute difference between the backends' results on the chain c, per output, and
    where phi(d) is within its difference of the flush threshold."""
    spot, strike, t, rate, q, vol = (c[k] for k in ("spot", "strike", "t_years", "rate", "div_yield", "vol"))
    phi = np.where(c["is_call"], 1.0, -1.0)
    with np.errstate(all="ignore"):
        sd = vol * np.sqrt(t)
        df_q, df_r = np.exp(-q * t), np.exp(-rate * t)
        spot_q, strike_r = spot * df_q, strike * df_r
        ratio = spot_q / strike_r
        h = np.log(ratio) / sd
        d = np.stack([h + 0.5 * sd, h - 0.5 * sd])
        d_max, d_min = np.max(np.abs(d), axis=0), np.min(np.abs(d), axis=0)
        delta_d = 7 * EPS / sd + 4 * EPS * d_max
        delta_pdf = d_min * delta_d + EPS * d_min**2 + 11 * EPS
        tail = np.exp(-0.5 * d * d) * pricing._INV_SQRT_TWO_PI * pricing._mills_ratio_cody(np.abs(d))
        n = np.where(phi * d > 0.0, 1.0 - tail, tail)  # N(phi d1), N(phi d2)
        delta_tail = delta_pdf + 0.8 * delta_d + 9 * EPS
        delta_n = np.where(phi * d > 0.0, 3.0 * tail / n * delta_tail + 2 * EPS, delta_tail)
        a1, a2 = np.abs(spot_q * n[0]), np.abs(strike_r * n[1])
        delta_a1, delta_a2 = delta_n[0] + 4 * EPS, delta_n[1] + 4 * EPS
        decay = np.abs(ours.vega_per_unit_vol) * vol / (2.0 * t)  # S e^(-qt) phi(d1) vol / (2 sqrt(t))
        theta = (
            a1 * np.abs(q) * (delta_a1 + 3 * EPS)
            + a2 * np.abs(rate) * (delta_a2 + 3 * EPS)
            + decay * (delta_pdf + 8 * EPS)
        )
        bound = {
            "price": a1 * delta_a1 + a2 * delta_a2 + EPS * np.abs(ours.price),
            "delta": np.abs(ours.delta) * (delta_n[0] + 3 * EPS),
            "gamma": np.abs(ours.gamma) * (delta_pdf + 7 * EPS),
            "vega_per_unit_vol": np.abs(ours.vega_per_unit_vol) * (delta_pdf + 5 * EPS),
            "vega_per_vol_point": np.abs(ours.vega_per_vol_point) * (delta_pdf + 6 * EPS),
            "theta_per_year": theta,
            "theta_per_minute": theta / MINUTES_PER_YEAR + EPS * np.abs(ours.theta_per_minute),
            "rho_per_unit_rate": np.abs(ours.rho_per_unit_rate) * (delta_n[1] + 6 * EPS),
        }
        # Zero variance (vol or t zero): the limits, products of discount factors (3 eps each) but for
        # the price and theta, differences of two such terms.
        limits = ~((sd > 0.0) & np.isfinite(sd + spot + strike + t + rate + q))  # invalid inputs: NaN
        zero_variance = {
            "price": 4 * EPS * (spot_q + strike_r),
            "delta": 4 * EPS * np.abs(ours.delta),
            "theta_per_year": 5 * EPS * (np.abs(q) * spot_q + np.abs(rate) * strike_r),
            "rho_per_unit_rate": 6 * EPS * np.abs(ours.rho_per_unit_rate),
            "vega_per_unit_vol": 6 * EPS * np.abs(ours.vega_per_unit_vol),
            "vega_per_vol_point": 7 * EPS * np.abs(ours.vega_per_vol_point),
        }
        zero_variance["theta_per_minute"] = zero_variance["theta_per_year"] / MINUTES_PER_YEAR
        exponent = 0.5 * d_min**2
        near_flush = np.abs(exponent + pricing._EXP_MIN_ARG) <= 2.0 * (d_min * delta_d + EPS * d_min**2)
        near_flush &= ~limits
    for name, b in bound.items():
        b *= 2.0
        b[limits] = zero_variance[name][limits] if name in zero_variance else 0.0  # gamma: 0 or inf
        b[near_flush] = np.inf
    return bound, near_flush


_GREEKS = (
    "delta",
    "gamma",
    "vega_per_unit_vol",
    "vega_per_vol_point",
    "theta_per_year",
    "theta_per_minute",
    "rho_per_unit_rate",
)


def test_prices_and_greeks_agree_with_numpy_element_by_element(
    kernel: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _chain(100_000, 3)
    args = [c[k] for k in ("spot", "strike", "t_years", "rate", "div_yield", "vol", "is_call")]
    on_c, on_numpy = _both(bsm_greeks, monkeypatch, *args)
    assert isinstance(on_c, Greeks) and isinstance(on_numpy, Greeks)
    price_c, price_np = on_c.price, on_numpy.price
    assert np.count_nonzero(np.isnan(price_np)) > 500  # the invalid edge cases
    assert np.count_nonzero(price_np == 0.0) > 100
    bound, near_flush = _greeks_difference_bound(c, on_numpy)
    # Zero prices come from phi(d) flushed to zero (decided alike outside the flush window) or from
    # clamping a negative rounding result (none on this chain).
    np.testing.assert_array_equal(price_c[~near_flush] == 0.0, price_np[~near_flush] == 0.0)
    for name in ("price", *_GREEKS):
        ours_c, ours_np = getattr(on_c, name), getattr(on_numpy, name)
        np.testing.assert_array_equal(np.isnan(ours_c), np.isnan(ours_np), err_msg=name)
        infinite = np.isinf(ours_np)
        np.testing.assert_array_equal(ours_c[infinite], ours_np[infinite], err_msg=name)
        finite = np.flatnonzero(np.isfinite(ours_np))
        difference = np.abs(ours_c[finite] - ours_np[finite])
        beyond = finite[difference > bound[name][finite]]
        assert beyond.size == 0, (name, beyond[:5], ours_c[beyond[:5]], ours_np[beyond[:5]])
    assert np.count_nonzero(np.isinf(on_c.gamma)) == c["edges"].shape[1]
    price_only = bsm_price(*args)
    np.testing.assert_array_equal(price_only, price_c)


# Implied vols: each backend solves b(x, s) = beta for the normalised out-of-the-money price b
# (pricing._black_normalised) and converges to machine precision (the last Householder(3) step is
# at most 2e-5 s and the method is of fourth order: what is left is ~1e-19 s). So the vols differ by
# what moves the solution: s moves by (the difference in beta + the difference in b(s)) / b'(s),
# b' = exp(-(h^2 + t^2)/2) / sqrt(2 pi), h = x/s, t = s/2. With the same model as the Greeks above:
#
#   beta = (price/df - intrinsic) / sqrt(F K)   8 eps relative, plus the rounding of F - K in the
#                                               money (the kernel's "noise", 4 eps (price + F + K));
#   x = ln(S/K) + (r - q) t                     absolute 2 eps |ln(S/K)| + eps |x|, which moves b by
#                                               db/dx = b/2 + b' R(t - h);
#   b = b' [R(-h-t) -+ R(t-h)]                  8 eps R1 + 8 eps R2 from the two Mills ratios (R <= 1.26
#                                               here: both arguments are >= 0), (3 + 2(h^2 + t^2)) eps
#                                               relative from b'; above the inflection point b = b_max -
#                                               b'[...], and b_max = e^(x/2) is computed from F and K
#                                               (4 eps b_max).
#
# The bound is twice the sum over s b', plus 2 eps for the last step's rounding. Near expiry at the
# money the Mills ratio term dominates (~20 eps / s: 6e-10 at s = 7e-6); the kernel withholds a
# vol (ILL_CONDITIONED) only for its inputs' rounding, so an OK vol may differ by more than 1e-10.


def _implied_vol_difference_bound(
    c: dict[str, np.ndarray], price: np.ndarray, vol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Largest relative difference between the backends' implied vols (where vol is a number), and
    where a status is decided by a comparison within its difference of the threshold."""
    spot, strike, t, rate, q = (c[k] for k in ("spot", "strike", "t_years", "rate", "div_yield"))
    phi = np.where(c["is_call"], 1.0, -1.0)
    with np.errstate(all="ignore"):
        drift = (rate - q) * t
        fwd = spot * np.exp(drift)
        undiscounted = price / np.exp(-rate * t)
        intrinsic = np.maximum(phi * (fwd - strike), 0.0)
        in_the_money = intrinsic > 0.0
        noise = 4 * EPS * (undiscounted + fwd + strike) * in_the_money
        time_value = undiscounted - intrinsic
        sqrt_fk = np.sqrt(fwd * strike)
        beta = time_value / sqrt_fk
        b_max = np.sqrt(np.minimum(fwd, strike) / np.maximum(fwd, strike))
        log_moneyness = np.log(spot / strike)
        x = -np.abs(log_moneyness + drift)
        s = vol * np.sqrt(t)
        h, half = x / s, 0.5 * s
        vega = np.exp(-0.5 * (h * h + half * half)) * pricing._INV_SQRT_TWO_PI
        above = h + half > 0.0
        r1, r2 = pricing._mills_ratio_cody(np.abs(h + half)), pricing._mills_ratio_cody(half - h)
        bracket = np.where(above, r1 + r2, r1 - r2)
        b = np.where(above, b_max - vega * bracket, vega * bracket)
        delta_beta = noise / sqrt_fk + 8 * EPS * beta + 8 * np.finfo(float).smallest_subnormal
        delta_x = 2 * EPS * np.abs(log_moneyness) + EPS * np.abs(x)
        delta_b = (
            vega * (8 * EPS * (r1 + r2) + (3 + 2 * (h * h + half * half)) * EPS * bracket)
            + 4 * EPS * b_max * above
            + (0.5 * b + vega * r2) * delta_x
        )
        relative = 2.0 * (delta_beta + delta_b) / (s * vega) + 4 * EPS
        # The classification compares the time value with +-noise, the undiscounted price with its
        # maximum (F or K) and beta with b_max: each side moves by a few eps of its terms (linearly:
        # no factor 2). In the money the time value's difference is as large as the noise itself.
        delta_time_value = 3 * EPS * (undiscounted + fwd * in_the_money) + EPS * np.abs(time_value)
        delta_time_value += EPS * np.abs(fwd - strike) * in_the_money
        maximum = np.where(c["is_call"], fwd, strike)
        at_threshold = np.abs(np.abs(time_value) - noise) <= delta_time_value
        at_threshold &= delta_time_value > 0.0  # a zero price out of the money: exactly no time value
        at_threshold |= np.abs(undiscounted - maximum) <= 3 * EPS * (undiscounted + maximum)
        at_threshold |= np.abs(beta - b_max) <= 8 * EPS * beta + 4 * EPS * b_max
    return relative, at_threshold


@pytest.mark.parametrize("steps", [2, 1])
def test_implied_vols_and_statuses_agree_with_numpy_element_by_element(
    kernel: object, monkeypatch: pytest.MonkeyPatch, steps: int
) -> None:
    """Two Householder steps, and one (which leaves many elements NOT_CONVERGED): same statuses."""
    monkeypatch.setattr(pricing, "_HOUSEHOLDER_STEPS", steps)
    c = _chain(100_000, 4)
    with monkeypatch.context() as m:
        m.setattr(pricing, "_KERNEL", None)
        price = bsm_price(
            c["spot"], c["strike"], c["t_years"], c["rate"], c["div_yield"], c["vol"], c["is_call"]
        )
    rng = np.random.default_rng(5)
    edges = c["edges"]
    price[edges[14]] = rng.uniform(0.0, 1e-300, edges.shape[1])  # tiny, down to sub-normal
    price[edges[15]] = -1.0
    price[edges[16]] = np.nan
    price[edges[17]] *= 1.0 + 1e-14  # a few ulps off: noise around the intrinsic value and the maximum
    args = (price, c["spot"], c["strike"], c["t_years"], c["rate"], c["div_yield"], c["is_call"])
    on_c, on_numpy = _both(implied_vol, monkeypatch, *args)
    assert isinstance(on_c, tuple) and isinstance(on_numpy, tuple)
    (vol_c, status_c), (vol_np, status_np) = on_c, on_numpy
    allowed, at_threshold = _implied_vol_difference_bound(c, price, vol_np)
    # Same statuses, except where the classification's comparison is within rounding of its
    # threshold (prices a few ulps from the intrinsic value or the maximum, e.g. edges[17]). The
    # solver's thresholds (last step <= 2e-5 s; rounding estimate <= 1e-10) would need a quantity
    # within ~1e-9 relative of them to flip: none is, on this seeded chain (1-ulp changes of every
    # numpy exp and log, tried by hand, flipped only elements at the classification's thresholds).
    np.testing.assert_array_equal(status_c[~at_threshold], status_np[~at_threshold])
    assert np.count_nonzero(at_threshold) < 0.01 * at_threshold.size
    counts = np.bincount(status_np, minlength=len(IVStatus))
    expected = {IVStatus.OK, IVStatus.NO_TIME_VALUE, IVStatus.EXPIRED, IVStatus.INVALID_INPUT}
    expected.add(IVStatus.ILL_CONDITIONED if steps == 2 else IVStatus.NOT_CONVERGED)
    assert all(counts[s] > 0 for s in expected), counts
    np.testing.assert_array_equal(np.isnan(vol_c), status_c != IVStatus.OK)
    np.testing.assert_array_equal(np.isnan(vol_np), status_np != IVStatus.OK)
    ok = (status_c == IVStatus.OK) & (status_np == IVStatus.OK)
    # Rounding decides the last digits where the vol is ill-conditioned (near expiry: ~eps / (vol
    # sqrt(t)); in the money: the intrinsic value's rounding): as much as derived above.
    relative = np.abs(vol_c[ok] - vol_np[ok]) / vol_np[ok]
    beyond = np.flatnonzero(relative > allowed[ok])
    assert beyond.size == 0, (beyond[:5], relative[beyond[:5]], allowed[ok][beyond[:5]])


def test_scalar_inputs_are_broadcast_without_copies(kernel: object) -> None:
    """Scalars reach the kernel with stride 0; mixed shapes broadcast as in numpy."""
    shape, (_, strides, _, call_stride), _ = pricing._kernel_operands(
        True, 500.0, [490.0, 510.0], 0.01, 0.0, 0.0, 0.2
    )
    assert shape == (2,)
    assert list(strides) == [0, 1, 0, 0, 0, 0]
    assert call_stride == 0
    strikes = np.array([495.0, 500.0, 505.0])
    grid = bsm_greeks(
        500.0, strikes[None, :], np.array([0.001, 0.01])[:, None], 0.045, 0.0, 0.2, [[True], [False]]
    )
    assert grid.delta.shape == (2, 3)
    assert grid.delta[1, 2] == bsm_greeks(500.0, 505.0, 0.01, 0.045, 0.0, 0.2, False).delta
    assert np.all(grid.delta[0] > 0.0) and np.all(grid.delta[1] < 0.0)


# ----------------------------------------------------------------------------------------------
# The shared object shipped in the Lambda layer
# ----------------------------------------------------------------------------------------------


BUILDS = pytest.mark.parametrize("build", [pricing._KERNEL_PATH, pricing._KERNEL_V3_PATH], ids=["v2", "v3"])


def _readelf(build: Path, *flags: str) -> str:
    assert shutil.which("readelf"), "binutils' readelf is needed to check the kernel"
    assert build.exists(), f"{build.name} is not built: run `make kernel`"
    result = subprocess.run(
        ["readelf", "--wide", *flags, str(build)], capture_output=True, text=True, check=True
    )
    return result.stdout


@BUILDS
def test_kernel_needs_nothing_newer_than_lambdas_glibc(build: Path) -> None:
    versions = {
        tuple(int(part) for part in v.split("."))
        for v in re.findall(r"@GLIBC_(\d+(?:\.\d+)+)", _readelf(build, "--dyn-syms"))
    }
    assert versions, "no versioned glibc symbol found: is this the kernel?"
    assert max(versions) <= LAMBDA_GLIBC, sorted(versions)


@BUILDS
def test_kernel_links_only_libm_and_libc(build: Path) -> None:
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", _readelf(build, "--dynamic")))
    assert "libm.so.6" in needed
    assert needed <= {"libm.so.6", "libc.so.6"}


@BUILDS
def test_kernel_is_x86_64_position_independent_code(build: Path) -> None:
    header = _readelf(build, "--file-header")
    assert re.search(r"Machine:\s+Advanced Micro Devices X86-64", header)
    assert re.search(r"Type:\s+DYN", header)


def test_the_v2_and_v3_builds_give_bit_identical_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FP contraction and elementwise loops: wider vectors change no result, NaNs included."""
    v2 = pricing._load_kernel(pricing._KERNEL_PATH, "c")
    if v2 is None or v2.pk_isa_level() < 3:
        pytest.skip("this CPU cannot run the x86-64-v3 build")
    v3 = pricing._load_kernel(pricing._KERNEL_V3_PATH, "c")
    c = _chain(40_000, 11)
    args = [c[k] for k in ("spot", "strike", "t_years", "rate", "div_yield", "vol", "is_call")]
    results = []
    for build in (v2, v3):
        monkeypatch.setattr(pricing, "_KERNEL", build)
        greeks = bsm_greeks(*args)
        vols, statuses = implied_vol(greeks.price, *args[:5], args[6])
        results.append((greeks, vols, statuses))
    (g2, vol2, st2), (g3, vol3, st3) = results
    for name in ("price", "delta", "gamma", "vega_per_unit_vol", "theta_per_year", "rho_per_unit_rate"):
        np.testing.assert_array_equal(getattr(g3, name), getattr(g2, name), err_msg=name)
    np.testing.assert_array_equal(vol3, vol2)
    np.testing.assert_array_equal(st3, st2)


def test_the_v3_build_is_taken_only_where_the_cpu_runs_it() -> None:
    level = pricing._load_kernel(pricing._KERNEL_PATH, "c").pk_isa_level()  # type: ignore[union-attr]
    assert level in (2, 3)
    assert pricing.kernel_isa() == ("x86-64-v3" if level == 3 else "x86-64-v2")
    forced = subprocess.run(
        [sys.executable, "-c", "from smart0dte.domain import pricing; print(pricing.kernel_isa())"],
        env={**os.environ, pricing.ISA_ENV: "v2"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert forced.stdout.strip() == "x86-64-v2"


# ----------------------------------------------------------------------------------------------
# Choosing the backend
# ----------------------------------------------------------------------------------------------


def _backend_in_subprocess(choice: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in __import__("os").environ.items() if k != pricing.KERNEL_ENV}
    if choice is not None:
        env[pricing.KERNEL_ENV] = choice
    code = "from smart0dte.domain import pricing; print(pricing.backend())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


@pytest.mark.parametrize(("choice", "expected"), [(None, "c"), ("auto", "c"), ("c", "c"), ("numpy", "numpy")])
def test_environment_variable_chooses_the_backend(kernel: object, choice: str | None, expected: str) -> None:
    result = _backend_in_subprocess(choice)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_unknown_backend_choice_fails_loudly() -> None:
    result = _backend_in_subprocess("fortran")
    assert result.returncode != 0
    assert "SMART0DTE_PRICING_KERNEL='fortran'" in result.stderr


def test_missing_kernel_falls_back_to_numpy_unless_demanded(tmp_path: Path) -> None:
    missing = tmp_path / "_pricing_kernel.so"
    assert pricing._load_kernel(missing, "auto") is None
    assert pricing._load_kernel(missing, "numpy") is None
    with pytest.raises(ImportError, match="make kernel"):
        pricing._load_kernel(missing, "c")


def test_unloadable_or_stale_kernel_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.so"
    garbage.write_bytes(b"not an ELF file")
    with pytest.raises(ImportError, match="does not load"):
        pricing._load_kernel(garbage, "auto")
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "a C compiler builds the kernel; it is needed here too"
    source = tmp_path / "stale.c"
    source.write_text(f"int pk_abi_version(void) {{ return {pricing._KERNEL_ABI_VERSION - 1}; }}\n")
    stale = tmp_path / "stale.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(stale), str(source)], check=True)
    with pytest.raises(ImportError, match="ABI version"):
        pricing._load_kernel(stale, "auto")


def test_an_unknown_instruction_set_choice_fails_loudly() -> None:
    with pytest.raises(ImportError, match="SMART0DTE_PRICING_ISA='avx512'"):
        pricing._load_best_kernel("auto", "avx512")
