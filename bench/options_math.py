"""Throughput and accuracy of smart0dte's option maths against QuantLib and py_vollib, on one core.

One seeded synthetic 0DTE chain per size (spot 500, strikes 450-550, 5 minutes to 6.5 hours to
expiry, vol 5%-150%, rate 4%-5%, dividend yield 0%-2%, calls and puts; 1,000 and 100,000 options by
default) is priced by our bsm_price; then implied vol and price + Greeks are timed for ours on each
backend (the compiled kernel "c", if built, and "numpy"; whole chain), QuantLib (Python loop over
blackFormulaImpliedStdDev / BlackCalculator, the accuracy reference) and py_vollib (pure-Python Let's
Be Rational). The Python-loop references are timed on a sample of each chain (all of a chain up to
--reference-sample options, else its first --reference-sample), as the output states. Every figure
is wall-clock time (perf_counter) of whole calls on one pinned core: the median and the best of many
repeats; the targets are judged on the backend in use, at every size, on the median.

Accuracy: implied vols against QuantLib on every quotable option (time value >= $0.005) of the
largest chain and of a chain one minute from expiry; price and Greeks against an exact reference
(mpmath, 50 significant digits) on a sample of both, with QuantLib's BlackCalculator beside ours.
Run: python bench/options_math.py [--json] [--cpu N].
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
CPU = int(sys.argv[sys.argv.index("--cpu") + 1]) if "--cpu" in sys.argv else 0
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {CPU})  # before numpy is imported, like the thread limits

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Any  # noqa: E402

import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import QuantLib as ql  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from py_vollib.black_scholes_merton import black_scholes_merton as vollib_price
    from py_vollib.black_scholes_merton.greeks import analytical as vollib_greeks
    from py_vollib.black_scholes_merton.implied_volatility import implied_volatility as vollib_iv

from smart0dte.domain import pricing  # noqa: E402
from smart0dte.domain.pricing import IVStatus, bsm_greeks, bsm_price, implied_vol, t_years_from_minutes  # noqa: E402

QUOTABLE_TIME_VALUE = 0.005  # dollars: below this a quote carries no usable vol information
QL_ACCURACY = 1e-18  # stdDev accuracy passed to QuantLib: its default (1e-6) is far too loose
QL_MAX_ITERATIONS = 1000
TARGETS = {"price_greeks_per_s": 15e6, "implied_vol_per_s": 5e6}
"""Throughput targets on one core, at every chain size measured."""
TARGET_IV_ERROR = 1e-10
"""Largest absolute implied-vol difference from QuantLib allowed on quotable options."""
TARGET_GREEKS_RELATIVE_ERROR = 1e-9
"""Largest relative error of the price and each Greek against the exact (mpmath) value."""
GREEKS_ABSOLUTE_FLOOR = 1e-13
"""Relative errors are |ours - exact| / max(|exact|, floor): values below the floor (in the Greek's
own units: deep out-of-the-money prices and gammas) are judged in absolute terms against it."""
GREEKS_SAMPLE = 2_000
"""Options of the largest chain (and of the one-minute chain) checked against mpmath."""
MP_DIGITS = 50
GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta", "rho")


@contextmanager
def backend(name: str) -> Iterator[None]:
    """Run our functions on the named backend: "numpy" sets the compiled kernel aside meanwhile."""
    kernel = pricing._KERNEL
    if name == "numpy":
        pricing._KERNEL = None
    assert pricing.backend() == name
    try:
        yield
    finally:
        pricing._KERNEL = kernel


def make_chain(n: int, seed: int, minutes: tuple[float, float] = (5.0, 390.0)) -> dict[str, np.ndarray]:
    """A seeded synthetic 0DTE chain with prices from our own bsm_price."""
    rng = np.random.default_rng(seed)
    chain = {
        "spot": np.full(n, 500.0),
        "strike": rng.uniform(450.0, 550.0, n),
        "t_years": t_years_from_minutes(rng.uniform(minutes[0], minutes[1], n)),
        "rate": rng.uniform(0.04, 0.05, n),
        "div_yield": rng.uniform(0.0, 0.02, n),
        "vol": rng.uniform(0.05, 1.5, n),
        "is_call": rng.random(n) < 0.5,
    }
    chain["price"] = bsm_price(
        chain["spot"],
        chain["strike"],
        chain["t_years"],
        chain["rate"],
        chain["div_yield"],
        chain["vol"],
        chain["is_call"],
    )
    df_r = np.exp(-chain["rate"] * chain["t_years"])
    fwd = chain["spot"] * np.exp((chain["rate"] - chain["div_yield"]) * chain["t_years"])
    intrinsic = df_r * np.maximum(
        np.where(chain["is_call"], fwd - chain["strike"], chain["strike"] - fwd), 0.0
    )
    chain["quotable"] = chain["price"] - intrinsic >= QUOTABLE_TIME_VALUE
    return chain


def wall_times(fn: Callable[[], object], min_runs: int = 5, min_seconds: float = 1.0) -> tuple[float, float]:
    """(median, best) wall-clock seconds of one call, over at least min_runs runs and min_seconds.

    Wall clock (perf_counter) of this single-threaded process pinned to one core: it counts what a
    caller waits, including slices other processes take from the core (see the load average).
    """
    fn()  # warm-up: caches, allocator and scratch buffers
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), min(times)


def rates(n: int, fn: Callable[[], object], **kwargs: Any) -> dict[str, float]:
    """Options per second of fn over n options: median and best."""
    median, best = wall_times(fn, **kwargs)
    return {"median": n / median, "best": n / best}


def ql_implied_vols(chain: dict[str, np.ndarray], idx: np.ndarray) -> np.ndarray:
    """QuantLib implied vols (NaN where it raises) for the options at idx: the accuracy reference."""
    out = np.full(idx.size, np.nan)
    for j, i in enumerate(idx):
        t = float(chain["t_years"][i])
        df_r = math.exp(-chain["rate"][i] * t)
        fwd = chain["spot"][i] * math.exp((chain["rate"][i] - chain["div_yield"][i]) * t)
        kind = ql.Option.Call if chain["is_call"][i] else ql.Option.Put
        try:
            sd = ql.blackFormulaImpliedStdDev(
                kind,
                float(chain["strike"][i]),
                fwd,
                float(chain["price"][i]),
                df_r,
                0.0,
                ql.nullDouble(),
                QL_ACCURACY,
                QL_MAX_ITERATIONS,
            )
        except RuntimeError:
            continue
        out[j] = sd / math.sqrt(t)
    return out


def vollib_implied_vols(chain: dict[str, np.ndarray], idx: np.ndarray) -> np.ndarray:
    """py_vollib implied vols (NaN where it raises) for the options at idx."""
    out = np.full(idx.size, np.nan)
    for j, i in enumerate(idx):
        flag = "c" if chain["is_call"][i] else "p"
        try:
            out[j] = vollib_iv(
                float(chain["price"][i]),
                float(chain["spot"][i]),
                float(chain["strike"][i]),
                float(chain["t_years"][i]),
                float(chain["rate"][i]),
                float(chain["div_yield"][i]),
                flag,
            )
        except Exception:  # py_vollib raises its own exception types for out-of-range prices
            continue
    return out


def ql_price_greeks(chain: dict[str, np.ndarray], idx: np.ndarray) -> None:
    """Price, delta, gamma, vega, theta, rho per option with QuantLib's BlackCalculator."""
    for i in idx:
        t = float(chain["t_years"][i])
        spot = float(chain["spot"][i])
        df_r = math.exp(-chain["rate"][i] * t)
        fwd = spot * math.exp((chain["rate"][i] - chain["div_yield"][i]) * t)
        kind = ql.Option.Call if chain["is_call"][i] else ql.Option.Put
        calc = ql.BlackCalculator(
            ql.PlainVanillaPayoff(kind, float(chain["strike"][i])),
            fwd,
            float(chain["vol"][i]) * math.sqrt(t),
            df_r,
        )
        calc.value()
        calc.delta(spot)
        calc.gamma(spot)
        calc.vega(t)
        calc.theta(spot, t)
        calc.rho(t)


def vollib_price_greeks(chain: dict[str, np.ndarray], idx: np.ndarray) -> None:
    """Price, delta, gamma, vega, theta, rho per option with py_vollib (analytical Greeks)."""
    for i in idx:
        args = (
            "c" if chain["is_call"][i] else "p",
            float(chain["spot"][i]),
            float(chain["strike"][i]),
            float(chain["t_years"][i]),
            float(chain["rate"][i]),
            float(chain["vol"][i]),
            float(chain["div_yield"][i]),
        )
        vollib_price(*args)
        for greek in (
            vollib_greeks.delta,
            vollib_greeks.gamma,
            vollib_greeks.vega,
            vollib_greeks.theta,
            vollib_greeks.rho,
        ):
            greek(*args)


def ql_greek_values(chain: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    """QuantLib BlackCalculator's price, delta, gamma, vega, theta (per year) and rho at idx."""
    out = {name: np.empty(idx.size) for name in GREEK_NAMES}
    for j, i in enumerate(idx):
        t = float(chain["t_years"][i])
        spot = float(chain["spot"][i])
        kind = ql.Option.Call if chain["is_call"][i] else ql.Option.Put
        calc = ql.BlackCalculator(
            ql.PlainVanillaPayoff(kind, float(chain["strike"][i])),
            spot * math.exp((chain["rate"][i] - chain["div_yield"][i]) * t),
            float(chain["vol"][i]) * math.sqrt(t),
            math.exp(-chain["rate"][i] * t),
        )
        values = (
            calc.value(),
            calc.delta(spot),
            calc.gamma(spot),
            calc.vega(t),
            calc.theta(spot, t),
            calc.rho(t),
        )
        for name, value in zip(GREEK_NAMES, values, strict=True):
            out[name][j] = value
    return out


def exact_greeks(chain: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    """Price and Greeks at idx from the closed forms evaluated with mpmath at MP_DIGITS digits, on the
    exact binary values of the inputs: the reference for the Greeks target."""
    out = {name: np.empty(idx.size) for name in GREEK_NAMES}
    with mpmath.workdps(MP_DIGITS):
        for j, i in enumerate(idx):
            s, k, t, r, q, v = (
                mpmath.mpf(float(chain[name][i]))
                for name in ("spot", "strike", "t_years", "rate", "div_yield", "vol")
            )
            phi = 1 if chain["is_call"][i] else -1
            sd = v * mpmath.sqrt(t)
            d1 = (mpmath.log(s / k) + (r - q) * t) / sd + sd / 2
            d2 = d1 - sd
            spot_q, strike_r = s * mpmath.exp(-q * t), k * mpmath.exp(-r * t)
            n1, n2 = mpmath.ncdf(phi * d1), mpmath.ncdf(phi * d2)
            pdf1 = mpmath.npdf(d1)
            values = (
                phi * (spot_q * n1 - strike_r * n2),
                phi * mpmath.exp(-q * t) * n1,
                mpmath.exp(-q * t) * pdf1 / (s * sd),
                spot_q * pdf1 * mpmath.sqrt(t),
                phi * (q * spot_q * n1 - r * strike_r * n2) - spot_q * pdf1 * v / (2 * mpmath.sqrt(t)),
                phi * strike_r * t * n2,
            )
            for name, value in zip(GREEK_NAMES, values, strict=True):
                out[name][j] = float(value)
    return out


def our_greek_values(chain: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    g = bsm_greeks(
        *(chain[k][idx] for k in ("spot", "strike", "t_years", "rate", "div_yield", "vol", "is_call"))
    )
    values = (g.price, g.delta, g.gamma, g.vega_per_unit_vol, g.theta_per_year, g.rho_per_unit_rate)
    return dict(zip(GREEK_NAMES, values, strict=True))


def max_relative_errors(values: dict[str, np.ndarray], exact: dict[str, np.ndarray]) -> dict[str, float]:
    """Per Greek: max |value - exact| / max(|exact|, GREEKS_ABSOLUTE_FLOOR) (NaN counts as infinite)."""
    out = {}
    for name in GREEK_NAMES:
        error = np.abs(values[name] - exact[name]) / np.maximum(np.abs(exact[name]), GREEKS_ABSOLUTE_FLOOR)
        out[name] = float(np.max(np.where(np.isnan(error), np.inf, error)))
    return out


def our_iv(chain: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return implied_vol(
        chain["price"],
        chain["spot"],
        chain["strike"],
        chain["t_years"],
        chain["rate"],
        chain["div_yield"],
        chain["is_call"],
    )


def our_greeks(chain: dict[str, np.ndarray]) -> object:
    return bsm_greeks(
        chain["spot"],
        chain["strike"],
        chain["t_years"],
        chain["rate"],
        chain["div_yield"],
        chain["vol"],
        chain["is_call"],
    )


def run(sizes: list[int], seed: int, sample: int) -> dict[str, Any]:
    """All measurements, as a JSON-ready dict."""
    backends = ["c", "numpy"] if pricing.backend() == "c" else ["numpy"]
    result: dict[str, Any] = {
        "seed": seed,
        "reference_sample": sample,
        "cpu": CPU,
        "load_average_at_start": list(os.getloadavg()),  # other work on the machine skews every figure
        "backend": pricing.backend(),
        "ours": {name: {} for name in backends},
        "quantlib": {},
        "vollib": {},
    }
    chains = {n: make_chain(n, seed) for n in sizes}
    for n, chain in chains.items():
        # Small calls: many repeats, so the median is not one scheduler slice.
        runs = {"min_runs": 200 if n <= 10_000 else 10, "min_seconds": 2.0}
        for name in backends:
            with backend(name):
                iv = rates(n, lambda chain=chain: our_iv(chain), **runs)
                greeks = rates(n, lambda chain=chain: our_greeks(chain), **runs)
                _, status = our_iv(chain)
            result["ours"][name][str(n)] = {
                "implied_vol_per_s": iv,
                "price_greeks_per_s": greeks,
                "status_counts": {s.name: int(np.count_nonzero(status == s)) for s in IVStatus},
                "quotable": int(np.count_nonzero(chain["quotable"])),
            }
        sub = np.arange(min(sample, n))
        ref_runs = {"min_runs": 3, "min_seconds": 0.0}
        result["quantlib"][str(n)] = {
            "sample": int(sub.size),
            "implied_vol_per_s": rates(
                sub.size, lambda c=chain, sub=sub: ql_implied_vols(c, sub), **ref_runs
            ),
            "price_greeks_per_s": rates(
                sub.size, lambda c=chain, sub=sub: ql_price_greeks(c, sub), **ref_runs
            ),
        }
        result["vollib"][str(n)] = {
            "sample": int(sub.size),
            "implied_vol_per_s": rates(
                sub.size, lambda c=chain, sub=sub: vollib_implied_vols(c, sub), **ref_runs
            ),
            "price_greeks_per_s": rates(
                sub.size, lambda c=chain, sub=sub: vollib_price_greeks(c, sub), **ref_runs
            ),
        }

    # Accuracy on every quotable option of the largest chain, and on a chain one minute from expiry.
    chain = chains[max(sizes)]
    one_minute = make_chain(20_000, seed + 1, (1.0, 1.0))
    result["accuracy"] = {}
    result["greeks_accuracy"] = {}
    for label, acc_chain in (("chain", chain), ("one_minute", one_minute)):
        quotable = np.flatnonzero(acc_chain["quotable"])
        reference = ql_implied_vols(acc_chain, quotable)
        vl_idx = quotable[:sample]
        vl = vollib_implied_vols(acc_chain, vl_idx)
        vl_both = np.isfinite(vl) & np.isfinite(reference[: vl_idx.size])
        accuracy: dict[str, Any] = {
            "quotable": int(quotable.size),
            "quantlib_failed_on_quotable": int(np.count_nonzero(~np.isfinite(reference))),
            "vollib_compared": int(np.count_nonzero(vl_both)),
            "vollib_max_abs_err_vs_quantlib": float(
                np.max(np.abs(vl[vl_both] - reference[: vl_idx.size][vl_both]))
            ),
        }
        for name in backends:
            with backend(name):
                ours, status = our_iv(acc_chain)
            ours_q = ours[quotable]
            both = np.isfinite(reference) & np.isfinite(ours_q)
            accuracy[name] = {
                "compared": int(np.count_nonzero(both)),
                "not_ok_on_quotable": int(np.count_nonzero(status[quotable] != IVStatus.OK)),
                "max_abs_err_vs_quantlib": float(np.max(np.abs(ours_q[both] - reference[both]))),
            }
        result["accuracy"][label] = accuracy

        # Price and Greeks against mpmath, on every option of a sample (not only quotable ones).
        idx = np.arange(min(GREEKS_SAMPLE, acc_chain["price"].size))
        exact = exact_greeks(acc_chain, idx)
        greeks_acc: dict[str, Any] = {"sample": int(idx.size)}
        for name in backends:
            with backend(name):
                greeks_acc[name] = max_relative_errors(our_greek_values(acc_chain, idx), exact)
        greeks_acc["quantlib"] = max_relative_errors(ql_greek_values(acc_chain, idx), exact)
        result["greeks_accuracy"][label] = greeks_acc
    result["targets"] = judge_targets(result)
    return result


def judge_targets(r: dict[str, Any]) -> dict[str, Any]:
    """Each target on the backend in use, at every size (throughput on the median): figure, bound, met."""
    ours = r["ours"][r["backend"]]
    judged: dict[str, Any] = {}
    for n, figures in ours.items():
        for key, bound in TARGETS.items():
            value = figures[key]["median"]
            judged[f"{key}@{n}"] = {
                "value": value,
                "best": figures[key]["best"],
                "at_least": bound,
                "met": value >= bound,
                "met_on_best": figures[key]["best"] >= bound,
            }
    # Every quotable option must have a vol (QuantLib's failures aside), within the error bound.
    errors = [a[r["backend"]]["max_abs_err_vs_quantlib"] for a in r["accuracy"].values()]
    all_ok = all(a[r["backend"]]["not_ok_on_quotable"] == 0 for a in r["accuracy"].values())
    judged["iv_max_abs_err_vs_quantlib"] = {
        "value": max(errors),
        "at_most": TARGET_IV_ERROR,
        "met": max(errors) <= TARGET_IV_ERROR and all_ok,
    }
    greek_errors = [max(g[r["backend"]].values()) for g in r["greeks_accuracy"].values()]
    judged["greeks_max_rel_err_vs_exact"] = {
        "value": max(greek_errors),
        "at_most": TARGET_GREEKS_RELATIVE_ERROR,
        "met": max(greek_errors) <= TARGET_GREEKS_RELATIVE_ERROR,
    }
    return judged


def rate(x: float) -> str:
    """Options per second, human-readable."""
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} k"


def ratio(x: float) -> str:
    return f"{x:.0f}x" if x >= 10 else f"{x:.2f}x"


def print_table(r: dict[str, Any]) -> None:
    backends = list(r["ours"])
    sizes = list(r["ours"][backends[0]])
    kernel = f"compiled kernel {pricing._KERNEL_PATH.name}" if r["backend"] == "c" else "no compiled kernel"
    load = ", ".join(f"{x:.2f}" for x in r["load_average_at_start"])
    print(
        f"Smart 0DTE option maths: throughput on one core (CPU {r['cpu']}), wall clock (perf_counter), "
        f"median and best of many calls (load average 1/5/15 min at start: {load}; other processes "
        "slow every figure)"
    )
    print(f"Backend in use: {r['backend']} ({kernel}); measured: {', '.join(backends)}")
    print(
        f"Chain: seed {r['seed']}, spot 500, strikes 450-550, 5 min-6.5 h to expiry, vol 5%-150%, rate 4-5%, "
        "dividend yield 0-2%, calls and puts"
    )
    print(
        "QuantLib and vollib are Python loops, timed on a sample of each chain: "
        + "; ".join(
            f"n={int(n):,}: {'all' if r['quantlib'][n]['sample'] == int(n) else 'the first'} "
            f"{r['quantlib'][n]['sample']:,} options"
            for n in sizes
        )
        + ".\n"
    )
    for n in sizes:
        print(f"n = {int(n):,} options")
        head = "".join(f"{f'{b} median':>14}{f'{b} best':>12}" for b in backends)
        ratios = [f"{b}/QuantLib" for b in backends] + [f"{b}/vollib" for b in backends]
        if len(backends) == 2:
            ratios.append("c/numpy")
        print(
            f"  {'options/s':<14}{head}{'QuantLib':>11}{'vollib':>11}" + "".join(f"{x:>15}" for x in ratios)
        )
        for key, label in (("implied_vol_per_s", "implied vol"), ("price_greeks_per_s", "price+Greeks")):
            ours = {b: r["ours"][b][n][key] for b in backends}
            cells = "".join(f"{rate(ours[b]['median']):>14}{rate(ours[b]['best']):>12}" for b in backends)
            ql_rate, vl_rate = r["quantlib"][n][key]["median"], r["vollib"][n][key]["median"]
            x = [ours[b]["median"] / ql_rate for b in backends] + [
                ours[b]["median"] / vl_rate for b in backends
            ]
            if len(backends) == 2:
                x.append(ours["c"]["median"] / ours["numpy"]["median"])
            print(
                f"  {label:<14}{cells}{rate(ql_rate):>11}{rate(vl_rate):>11}"
                + "".join(f"{ratio(v):>15}" for v in x)
            )
        print("  (ratios: medians)\n")

    print("Implied vol accuracy vs QuantLib (accuracy 1e-18) on quotable options (time value >= $0.005):")
    for label, a in r["accuracy"].items():
        what = (
            f"the {int(sizes[-1]):,}-option chain"
            if label == "chain"
            else "a 20,000-option chain 1 minute from expiry"
        )
        ours = "; ".join(
            f"{name} max |error| {a[name]['max_abs_err_vs_quantlib']:.1e} over {a[name]['compared']:,} "
            f"(not OK on {a[name]['not_ok_on_quotable']} quotable)"
            for name in backends
        )
        print(
            f"  {what}: {ours}; QuantLib failed on {a['quantlib_failed_on_quotable']}; "
            f"vollib max |error| {a['vollib_max_abs_err_vs_quantlib']:.1e} over {a['vollib_compared']:,}"
        )
    print(
        f"\nPrice and Greeks: max relative error vs exact (mpmath, {MP_DIGITS} digits), relative to "
        f"max(|exact|, {GREEKS_ABSOLUTE_FLOOR:.0e}) (the absolute floor, in each Greek's units, covers "
        "values that are essentially 0: deep out-of-the-money prices and gammas).\n"
        "  vega per unit vol, theta per year, rho per unit rate. QuantLib's BlackCalculator is shown for "
        "context: its theta and rho recover r and q from the discount factors (log(D)/T), which costs "
        "~eps/(rT) relative, ~1e-8 near expiry; its price and delta lose the deep out-of-the-money tails to "
        "cancellation (S N(d1) - K N(d2), N near 1), hence its large relative errors there."
    )
    for label, g in r["greeks_accuracy"].items():
        what = (
            f"first {g['sample']:,} options of the {int(sizes[-1]):,}-option chain"
            if label == "chain"
            else f"first {g['sample']:,} options of the 1-minute chain"
        )
        print(f"  {what} (all options, quotable or not):")
        print(f"    {'':<10}" + "".join(f"{name:>10}" for name in GREEK_NAMES))
        for name in (*backends, "quantlib"):
            print(f"    {name:<10}" + "".join(f"{g[name][k]:>10.1e}" for k in GREEK_NAMES))
    counts = {k: v for k, v in r["ours"][r["backend"]][sizes[-1]]["status_counts"].items() if v}
    quotable = r["ours"][r["backend"]][sizes[-1]]["quotable"]
    print(f"\nOur IV statuses on the {int(sizes[-1]):,}-option chain ({quotable:,} quotable): {counts}")
    print(
        f"\nTargets on one core, backend {r['backend']} (throughput judged on the median; best in brackets):"
    )
    t = r["targets"]
    for n in sizes:
        for key, label in (("price_greeks_per_s", "price+Greeks"), ("implied_vol_per_s", "implied vol")):
            j = t[f"{key}@{n}"]
            verdict = (
                "met" if j["met"] else "NOT MET" + (" (met on the best run)" if j["met_on_best"] else "")
            )
            print(
                f"  {label + f' n={int(n):,}':<30} >= {rate(j['at_least'])}/s: {rate(j['value']) + '/s':>11} "
                f"({rate(j['best'])}/s)  {verdict}"
            )
    err = t["iv_max_abs_err_vs_quantlib"]
    print(
        f"  {'max |IV error| vs QuantLib':<30} <= {err['at_most']:.0e}: {err['value']:>11.1e}  "
        f"{'met' if err['met'] else 'NOT MET'}"
    )
    err = t["greeks_max_rel_err_vs_exact"]
    print(
        f"  {'Greeks max rel. error vs exact':<30} <= {err['at_most']:.0e}: {err['value']:>11.1e}  "
        f"{'met' if err['met'] else 'NOT MET'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--cpu", type=int, default=0, help="the one core to run on (pinned at import)")
    parser.add_argument("--seed", type=int, default=20240603)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument(
        "--reference-sample", type=int, default=2_000, help="options timed in the QuantLib and vollib loops"
    )
    args = parser.parse_args()
    results = run(sorted(args.sizes), args.seed, args.reference_sample)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)


if __name__ == "__main__":
    main()
