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
    # S N(d1) - K N(d2) is exact only to a few ulps of the spot: that much absolute slack.
    np.testing.assert_allclose(price_c, price_np, rtol=1e-12, atol=4 * EPS * float(np.nanmax(c["spot"])))
    np.testing.assert_array_equal(np.isnan(price_c), np.isnan(price_np))
    np.testing.assert_array_equal(price_c == 0.0, price_np == 0.0)
    greeks = (
        "delta",
        "gamma",
        "vega_per_unit_vol",
        "vega_per_vol_point",
        "theta_per_year",
        "theta_per_minute",
    )
    for name in (*greeks, "rho_per_unit_rate"):
        # Greeks are products, not differences: relative agreement down to the deepest tails.
        np.testing.assert_allclose(
            getattr(on_c, name), getattr(on_numpy, name), rtol=1e-11, atol=0.0, err_msg=name
        )
    assert np.count_nonzero(np.isinf(on_c.gamma)) == c["edges"].shape[1]
    price_only = bsm_price(*args)
    np.testing.assert_array_equal(price_only, price_c)


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
    np.testing.assert_array_equal(status_c, status_np)
    counts = np.bincount(status_np, minlength=len(IVStatus))
    expected = {IVStatus.OK, IVStatus.NO_TIME_VALUE, IVStatus.EXPIRED, IVStatus.INVALID_INPUT}
    expected.add(IVStatus.ILL_CONDITIONED if steps == 2 else IVStatus.NOT_CONVERGED)
    assert all(counts[s] > 0 for s in expected), counts
    ok = status_np == IVStatus.OK
    np.testing.assert_array_equal(np.isnan(vol_c), ~ok)
    # Rounding decides the last digits where the vol is ill-conditioned (near expiry: ~eps / (vol
    # sqrt(t)); in the money: the intrinsic value's rounding), up to the 1e-10 an OK vol may carry.
    relative = np.abs(vol_c[ok] - vol_np[ok]) / vol_np[ok]
    assert np.max(relative) <= pricing._MAX_ROUNDING_TO_VOL
    if steps == 2:  # converged to machine precision, where the inputs allow it
        assert np.count_nonzero(relative > 1e-12) <= 1e-3 * relative.size


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
