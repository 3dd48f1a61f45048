"""Throughput and accuracy of smart0dte's option maths against QuantLib and py_vollib, on one core.

One seeded synthetic 0DTE chain (spot 500, strikes 450-550, 5 minutes to 6.5 hours to expiry, vol
5%-150%, rate 4%-5%, dividend yield 0%-2%, calls and puts) is priced by our bsm_price; then
implied vol and price + Greeks are timed for ours on each backend (the compiled kernel "c", if built,
and "numpy"; whole chain), QuantLib (Python loop over blackFormulaImpliedStdDev / BlackCalculator, the
accuracy reference) and py_vollib (pure-Python Let's Be Rational). The Python-loop references are
timed on a subsample, as stated in the output. Every figure is the best CPU time of several runs; the
targets are judged on the backend in use. Run: python bench/options_math.py [--json] [--cpu N].
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
TARGET_SIZE = 100_000
TARGETS = {"price_greeks_per_s": 15e6, "implied_vol_per_s": 5e6}
"""Throughput targets at TARGET_SIZE options on one core."""
TARGET_IV_ERROR = 1e-10
"""Largest absolute implied-vol difference from QuantLib allowed on quotable options."""


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


def best_time(fn: Callable[[], object], min_runs: int = 5, min_seconds: float = 2.0) -> float:
    """Best CPU time of one call over at least min_runs runs and min_seconds in total.

    CPU time of this (single-threaded, pinned) process equals wall time on an idle core, and unlike
    wall time it does not count the slices other processes take from the core.
    """
    fn()  # warm-up: caches, allocator and scratch buffers
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


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


def run(sizes: list[int], seed: int, sample: int) -> dict[str, Any]:
    """All measurements, as a JSON-ready dict."""
    backends = ["c", "numpy"] if pricing.backend() == "c" else ["numpy"]
    result: dict[str, Any] = {
        "seed": seed,
        "reference_sample": sample,
        "cpu": CPU,
        "load_average_1min_at_start": os.getloadavg()[0],  # other work on the machine skews every figure
        "backend": pricing.backend(),
        "ours": {name: {} for name in backends},
    }
    for n in sizes:
        chain = make_chain(n, seed)
        for name in backends:
            with backend(name):
                iv_seconds = best_time(lambda chain=chain: our_iv(chain))
                greeks_seconds = best_time(
                    lambda chain=chain: bsm_greeks(
                        chain["spot"],
                        chain["strike"],
                        chain["t_years"],
                        chain["rate"],
                        chain["div_yield"],
                        chain["vol"],
                        chain["is_call"],
                    )
                )
                _, status = our_iv(chain)
            result["ours"][name][str(n)] = {
                "implied_vol_per_s": n / iv_seconds,
                "price_greeks_per_s": n / greeks_seconds,
                "status_counts": {s.name: int(np.count_nonzero(status == s)) for s in IVStatus},
                "quotable": int(np.count_nonzero(chain["quotable"])),
            }

    chain = make_chain(max(sizes), seed)
    sub = np.arange(min(sample, chain["price"].size))
    result["quantlib"] = {
        "implied_vol_per_s": sub.size / best_time(lambda: ql_implied_vols(chain, sub), min_runs=3),
        "price_greeks_per_s": sub.size / best_time(lambda: ql_price_greeks(chain, sub), min_runs=3),
    }
    result["vollib"] = {
        "implied_vol_per_s": sub.size / best_time(lambda: vollib_implied_vols(chain, sub), min_runs=3),
        "price_greeks_per_s": sub.size / best_time(lambda: vollib_price_greeks(chain, sub), min_runs=3),
    }

    # Accuracy on every quotable option of the largest chain, and on a chain one minute from expiry.
    result["accuracy"] = {}
    for label, acc_chain in (("chain", chain), ("one_minute", make_chain(20_000, seed + 1, (1.0, 1.0)))):
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
    result["targets"] = judge_targets(result)
    return result


def judge_targets(r: dict[str, Any]) -> dict[str, Any]:
    """Each target on the backend in use: the figure, the bound and whether it is met."""
    ours = r["ours"][r["backend"]].get(str(TARGET_SIZE))
    judged: dict[str, Any] = {}
    for key, bound in TARGETS.items():
        value = None if ours is None else ours[key]
        judged[key] = {"value": value, "at_least": bound, "met": value is not None and value >= bound}
    # Every quotable option must have a vol (QuantLib's failures aside), within the error bound.
    errors = [a[r["backend"]]["max_abs_err_vs_quantlib"] for a in r["accuracy"].values()]
    all_ok = all(a[r["backend"]]["not_ok_on_quotable"] == 0 for a in r["accuracy"].values())
    judged["iv_max_abs_err_vs_quantlib"] = {
        "value": max(errors),
        "at_most": TARGET_IV_ERROR,
        "met": max(errors) <= TARGET_IV_ERROR and all_ok,
    }
    return judged


def rate(x: float) -> str:
    """Options per second, human-readable."""
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} k"


def print_table(r: dict[str, Any]) -> None:
    backends = list(r["ours"])
    sizes = list(r["ours"][backends[0]])
    big = sizes[-1]
    kernel = f"compiled kernel {pricing._KERNEL_PATH.name}" if r["backend"] == "c" else "no compiled kernel"
    print(
        f"Smart 0DTE option maths: throughput on one core (CPU {r['cpu']}), best CPU time of several runs "
        f"(1-minute load average at start: {r['load_average_1min_at_start']:.2f})"
    )
    print(f"Backend in use: {r['backend']} ({kernel}); measured: {', '.join(backends)}")
    print(
        f"Chain: seed {r['seed']}, spot 500, strikes 450-550, 5 min-6.5 h to expiry, vol 5%-150%, rate 4-5%, "
        "dividend yield 0-2%, calls and puts"
    )
    print(
        f"QuantLib and vollib are Python loops, timed on the first {r['reference_sample']} options of the "
        f"{int(big):,}-option chain.\n"
    )
    ours_head = "".join(f"{f'{name} n={int(n):,}':>17}" for name in backends for n in sizes)
    ratios = [f"{b}/QuantLib" for b in backends] + [f"{b}/vollib" for b in backends]
    if len(backends) == 2:
        ratios.append("c/numpy")
    print(f"{'options/s':<14}{ours_head}{'QuantLib':>11}{'vollib':>11}" + "".join(f"{x:>16}" for x in ratios))
    for key, label in (("implied_vol_per_s", "implied vol"), ("price_greeks_per_s", "price+Greeks")):
        ours = "".join(f"{rate(r['ours'][name][n][key]):>17}" for name in backends for n in sizes)
        best = {name: r["ours"][name][big][key] for name in backends}
        cells = [best[b] / r["quantlib"][key] for b in backends]
        cells += [best[b] / r["vollib"][key] for b in backends]
        if len(backends) == 2:
            cells.append(best["c"] / best["numpy"])
        print(
            f"{label:<14}{ours}{rate(r['quantlib'][key]):>11}{rate(r['vollib'][key]):>11}"
            + "".join(f"{x:>15.{0 if x >= 10 else 2}f}x" for x in cells)
        )
    print("\nImplied vol accuracy vs QuantLib (accuracy 1e-18) on quotable options (time value >= $0.005):")
    for label, a in r["accuracy"].items():
        what = "the chain above" if label == "chain" else "a 20,000-option chain 1 minute from expiry"
        ours = "; ".join(
            f"{name} max |error| {a[name]['max_abs_err_vs_quantlib']:.1e} over {a[name]['compared']:,} "
            f"(not OK on {a[name]['not_ok_on_quotable']} quotable)"
            for name in backends
        )
        print(
            f"  {what}: {ours}; QuantLib failed on {a['quantlib_failed_on_quotable']}; "
            f"vollib max |error| {a['vollib_max_abs_err_vs_quantlib']:.1e} over {a['vollib_compared']:,}"
        )
    counts = {k: v for k, v in r["ours"][r["backend"]][big]["status_counts"].items() if v}
    quotable = r["ours"][r["backend"]][big]["quotable"]
    print(f"\nOur IV statuses on the {int(big):,}-option chain ({quotable:,} quotable): {counts}")
    print(f"\nTargets at n={TARGET_SIZE:,} on one core, backend {r['backend']}:")
    t = r["targets"]
    for key, label in (("price_greeks_per_s", "price+Greeks"), ("implied_vol_per_s", "implied vol")):
        value = "not measured" if t[key]["value"] is None else f"{rate(t[key]['value'])}/s"
        verdict = "met" if t[key]["met"] else "NOT MET"
        print(f"  {label:<28} >= {rate(t[key]['at_least'])}/s: {value:>14}  {verdict}")
    err = t["iv_max_abs_err_vs_quantlib"]
    verdict = "met" if err["met"] else "NOT MET"
    print(f"  {'max |IV error| vs QuantLib':<28} <= {err['at_most']:.0e}: {err['value']:>14.1e}  {verdict}")


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
