"""Backtest benchmarks: one session, a year of sessions, and a bar strategy against backtrader.

Run: .venv/bin/python bench/backtest.py [--quick] [--json] [--core K] [--bt-bars N]

1. One full session through `services.backtest.run_day`, pinned to one core: the simulated day
   (SPY, QQQ, IWM and VIX bars; SPY 122, QQQ 102, IWM 62 0DTE contracts quoted every minute),
   the day's features, the four rule strategies every minute, risk, the simulated broker, the
   portfolio. Median of several runs of one day, and the median and worst over the seven
   scenarios (target <= 0.5 s).
2. 252 sessions (the 2024 NYSE year, `normal`, default settings) through `run_backtest` with 2
   worker processes, the account carried from day to day (the workers prepare days: market data,
   features, signals; the engine runs them in order here), wall time from the request to the
   report, including the parent's pass that chains the days' price levels (target <= 20 s, beside
   the reference 12.9 s measured without carry before it existed); then the same year with
   `Account.PER_DAY` (no carry) measured now, under the same load. The carried year's intraday max
   drawdown must stay within the 15% limit plus one trade's risk (`max_risk_per_trade`), with the
   default settings and again with the consecutive-loss breaker at its highest setting (100): with
   the streak carried, the default breaker (5) stops the entries for good at the first five
   straight losses, before the drawdown limit is ever tested.
   `--quick` runs the first 20 sessions and extrapolates linearly to 252 (labelled as such;
   process start-up is then counted 12.6 times, so the estimate errs high).
3. SMA(10)/SMA(30) crossover on 1,000,000 one-minute bars of a seeded random walk (cent prices):
   buy 1 unit when SMA10 crosses above SMA30, close when it crosses below, market orders filled
   at the next bar's open. Ours: `bench/sma_cross.py`'s `sma_cross_trades` (median of 5 runs);
   backtrader 1.9 (Cerebro with stdstats off, default runonce + preload, PandasData feed; one
   run, timed from Cerebro() to the end of run()). Both pinned to the same core. backtrader runs
   all 1,000,000 bars by default (one to several minutes), `--quick` or `--bt-bars N` gives it
   the first N bars; the trade lists are compared on the bars both ran (entry and exit bar
   index and price, open positions included). Target: ours >= 50x faster, identical trades.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import date  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from sma_cross import BarTrade, sma_cross_trades  # noqa: E402

from smart0dte.domain.calendar import MarketCalendar  # noqa: E402
from smart0dte.domain.simulator import MarketSimulator, Scenario  # noqa: E402
from smart0dte.services.backtest import (  # noqa: E402
    Account,
    BacktestRequest,
    DayJob,
    refusals,
    run_backtest,
    run_day,
)

SESSION_DAY = date(2025, 3, 14)
SESSION_TARGET_S = 0.5
YEAR = (date(2024, 1, 2), date(2024, 12, 31))
YEAR_SESSIONS = 252
YEAR_TARGET_S = 20.0
"""Issue 17's target for a year with the account carried."""
YEAR_NO_CARRY_REFERENCE_S = 12.9
"""The year without carry as measured before the carry existed (issue 17)."""
YEAR_WORKERS = 2
QUICK_SESSIONS = 20
BARS = 1_000_000
QUICK_BACKTRADER_BARS = 100_000
SPEEDUP_TARGET = 50.0
BACKTRADER_REFERENCE_BARS_PER_S = 14_000.0
"""The issue's own measurement of backtrader on this strategy."""
FAST, SLOW = 10, 30
BAR_SEED = 20240102


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# --- 1. one session -------------------------------------------------------------------------------


def _job(scenario: Scenario, seed: int = 7) -> DayJob:
    return DayJob(SESSION_DAY, BacktestRequest(SESSION_DAY, SESSION_DAY, scenario=scenario, seed=seed), None)


def _run_day_s(job: DayJob) -> float:
    return _timed(lambda: run_day(job))


def bench_session(repeat: int) -> dict[str, Any]:
    normal = _job(Scenario.NORMAL)
    run_day(normal)  # warm-up: imports, calendar, caches
    runs_s = [_run_day_s(normal) for _ in range(repeat)]
    simulate_s = [
        _timed(lambda: MarketSimulator().day(SESSION_DAY, seed=7, scenario=Scenario.NORMAL))
        for _ in range(repeat)
    ]
    per_scenario_s: dict[str, float] = {}
    for scenario in Scenario:
        per_scenario_s[scenario.value] = statistics.median(_run_day_s(_job(scenario)) for _ in range(2))
    outcome = run_day(normal)
    return {
        "day": SESSION_DAY.isoformat(),
        "runs": repeat,
        "median_s": statistics.median(runs_s),
        "min_s": min(runs_s),
        "of_which_simulating_the_day_s": statistics.median(simulate_s),
        "decisions": len(outcome.decisions),
        "trades": len(outcome.trades),
        "scenarios_median_s": statistics.median(per_scenario_s.values()),
        "scenarios_worst_s": max(per_scenario_s.values()),
        "by_scenario_s": per_scenario_s,
        "target_s": SESSION_TARGET_S,
        "ratio": statistics.median(runs_s) / SESSION_TARGET_S,
    }


# --- 2. a year with two workers ---------------------------------------------------------------------


def _year(request: BacktestRequest) -> tuple[float, Any]:
    started = time.perf_counter()
    report = run_backtest(request)
    return time.perf_counter() - started, report


def bench_year(quick: bool) -> dict[str, Any]:
    sessions = MarketCalendar().sessions_between(*YEAR)
    assert len(sessions) == YEAR_SESSIONS, len(sessions)
    end = sessions[QUICK_SESSIONS - 1] if quick else sessions[-1]
    request = BacktestRequest(start=sessions[0], end=end, workers=YEAR_WORKERS)
    load_before = os.getloadavg()[0]
    elapsed_s, report = _year(request)
    per_day_s, _ = _year(
        BacktestRequest(start=sessions[0], end=end, workers=YEAR_WORKERS, account=Account.PER_DAY)
    )
    config = request.config
    no_breaker = replace(config, limits=config.limits.model_copy(update={"max_consecutive_losses": 100}))
    _, unbroken = _year(replace(request, config=no_breaker))
    ran = len(report.days)
    estimate_s = elapsed_s * YEAR_SESSIONS / ran
    intraday, unbroken_intraday = (_intraday(r) for r in (report, unbroken))
    bound = config.limits.max_drawdown + config.settings.max_risk_per_trade
    halted = refusals(unbroken.days).get("MAX_DRAWDOWN")
    return {
        "sessions_run": ran,
        "first": sessions[0].isoformat(),
        "last": end.isoformat(),
        "workers": YEAR_WORKERS,
        "account": request.account.value,
        "load_average_1m_before": load_before,
        "elapsed_s": elapsed_s,
        "per_session_s": elapsed_s / ran,
        "sessions_252_s": estimate_s,
        "extrapolated": ran != YEAR_SESSIONS,
        "trades": len(report.trades),
        "target_s": YEAR_TARGET_S,
        "ratio": estimate_s / YEAR_TARGET_S,
        "no_carry_reference_s": YEAR_NO_CARRY_REFERENCE_S,
        "ratio_to_reference": estimate_s / YEAR_NO_CARRY_REFERENCE_S,
        "no_carry_now_252_s": per_day_s * YEAR_SESSIONS / ran,
        "ratio_to_no_carry_now": elapsed_s / per_day_s,
        "max_drawdown_intraday": intraday,
        "max_drawdown_eod": report.metrics.drawdown.max_fraction,
        "drawdown_bound": bound,
        "drawdown_within_bound": intraday <= bound,
        "breaker_trading_stopped": _first_refusal(report, "CONSECUTIVE_LOSSES"),
        "breaker_off_trades": len(unbroken.trades),
        "breaker_off_max_drawdown_intraday": unbroken_intraday,
        "breaker_off_max_drawdown_eod": unbroken.metrics.drawdown.max_fraction,
        "breaker_off_within_bound": unbroken_intraday <= bound,
        "breaker_off_halted_from": None if halted is None else halted.first_date.isoformat(),
    }


def _intraday(report: Any) -> float:
    minute_drawdown = report.metrics.intraday_drawdown
    assert minute_drawdown is not None
    return float(minute_drawdown.max_fraction)


def _first_refusal(report: Any, rule: str) -> str | None:
    found = refusals(report.days).get(rule)
    return None if found is None else found.first_date.isoformat()


# --- 3. SMA crossover against backtrader ----------------------------------------------------------


def random_walk_bars(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Opens and closes in cents: a geometric random walk from $100 (about 0.05% a minute), each
    open the previous close plus a cent or two of noise."""
    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, n))), 2)
    previous = np.concatenate([[100.0], close[:-1]])
    open_ = np.round(previous + rng.normal(0.0, 0.01, n), 2)
    return open_, close


def backtrader_trades(open_: np.ndarray, close: np.ndarray) -> tuple[list[BarTrade], float]:
    """The same strategy in backtrader, and its wall time (Cerebro set-up, feed preload, run)."""
    import backtrader as bt  # type: ignore[import-untyped,unused-ignore]
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.cross = bt.ind.CrossOver(bt.ind.SMA(period=FAST), bt.ind.SMA(period=SLOW))
            self.fills: list[tuple[int, float]] = []

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                self.fills.append((len(self.data) - 1, float(order.executed.price)))

        def next(self) -> None:
            if not self.position:
                if self.cross[0] > 0:
                    self.buy(size=1)
            elif self.cross[0] < 0:
                self.close()

    n = close.size
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": np.full(n, 100.0),
        },
        index=pd.date_range("2000-01-03", periods=n, freq="min"),
    )
    started = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1e12)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(SmaCross)
    fills = cerebro.run()[0].fills
    elapsed_s = time.perf_counter() - started
    trades = []
    for k in range(0, len(fills), 2):
        entry, entry_price = fills[k]
        if k + 1 < len(fills):
            trades.append(BarTrade(entry, entry_price, fills[k + 1][0], fills[k + 1][1]))
        else:
            trades.append(BarTrade(entry, entry_price, None, None))
    return trades, elapsed_s


def bench_bars(backtrader_bars: int) -> dict[str, Any]:
    open_, close = random_walk_bars(BARS, BAR_SEED)
    sma_cross_trades(open_[:10_000], close[:10_000])  # warm-up
    ours_s = statistics.median(_timed(lambda: sma_cross_trades(open_, close, FAST, SLOW)) for _ in range(5))
    ours = sma_cross_trades(open_, close, FAST, SLOW)
    n = min(backtrader_bars, BARS)
    theirs, theirs_s = backtrader_trades(open_[:n], close[:n])
    ours_on_theirs = sma_cross_trades(open_[:n], close[:n], FAST, SLOW).to_list()
    mismatch = next(
        (i for i, (a, b) in enumerate(zip(ours_on_theirs, theirs, strict=False)) if a != b),
        None if len(ours_on_theirs) == len(theirs) else min(len(ours_on_theirs), len(theirs)),
    )
    ours_rate = BARS / ours_s
    theirs_rate = n / theirs_s
    return {
        "bars": BARS,
        "seed": BAR_SEED,
        "ours_s": ours_s,
        "ours_bars_per_s": ours_rate,
        "ours_trades": len(ours),
        "backtrader_bars": n,
        "backtrader_s": theirs_s,
        "backtrader_bars_per_s": theirs_rate,
        "backtrader_reference_bars_per_s": BACKTRADER_REFERENCE_BARS_PER_S,
        "speedup": ours_rate / theirs_rate,
        "speedup_target": SPEEDUP_TARGET,
        "compared_bars": n,
        "compared_trades": len(theirs),
        "trades_identical": mismatch is None,
        "first_mismatch": mismatch,
        "open_at_end_compared": bool(theirs and theirs[-1].exit_index is None),
    }


# --- report --------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_table(figures: dict[str, Any]) -> None:
    s, y, b = figures["session"], figures["year"], figures["bars"]
    print(
        f"cores allowed {figures['cores_allowed']}, pinned to core {figures['core']} for 1 and 3; "
        f"load average at start {figures['load_average']}"
    )
    worst_ratio = s["scenarios_worst_s"] / s["target_s"]
    header = f"{'measurement':<58} {'figure':>14} {'target / ref':>16} {'ratio':>9}"
    print(header)
    print("-" * len(header))
    rows = [
        (
            f"1. One session, 3 symbols, full chains (median of {s['runs']})",
            f"{s['median_s']:.3f} s",
            f"<= {s['target_s']:.1f} s",
            f"{s['ratio']:.2f}x {_verdict(s['ratio'] <= 1)}",
        ),
        ("   of which simulating the day", f"{s['of_which_simulating_the_day_s']:.3f} s", "", ""),
        (
            "   7 scenarios: median / worst",
            f"{s['scenarios_median_s']:.3f} / {s['scenarios_worst_s']:.3f} s",
            f"<= {s['target_s']:.1f} s",
            f"{worst_ratio:.2f}x {_verdict(worst_ratio <= 1)}",
        ),
    ]
    label = (
        f"2. 252 sessions carried, {y['workers']} workers (extrapolated from {y['sessions_run']})"
        if y["extrapolated"]
        else f"2. 252 sessions carried, {y['workers']} workers"
    )
    rows += [
        (
            label,
            f"{y['sessions_252_s']:.1f} s",
            f"<= {y['target_s']:.0f} s",
            f"{y['ratio']:.2f}x {_verdict(y['ratio'] <= 1)}",
        ),
        (
            f"   measured: {y['sessions_run']} sessions {y['first']}..{y['last']}",
            f"{y['elapsed_s']:.1f} s",
            f"{y['per_session_s']:.3f} s/session",
            f"load {y['load_average_1m_before']:.2f}",
        ),
        (
            "   beside the reference without carry",
            f"{y['sessions_252_s']:.1f} s",
            f"ref {y['no_carry_reference_s']:.1f} s",
            f"{y['ratio_to_reference']:.2f}x",
        ),
        (
            "   without carry (--no-carry), measured now",
            f"{y['no_carry_now_252_s']:.1f} s",
            "",
            f"{y['ratio_to_no_carry_now']:.2f}x",
        ),
        (
            f"   max drawdown intraday / end of day ({y['trades']} trades)",
            f"{y['max_drawdown_intraday']:.2%} / {y['max_drawdown_eod']:.2%}",
            f"<= {y['drawdown_bound']:.0%}",
            _verdict(y["drawdown_within_bound"]),
        ),
        (
            f"   entries stopped by 5 straight losses from {y['breaker_trading_stopped'] or 'never'}",
            "",
            "",
            "",
        ),
        (
            f"   breaker at 100: drawdown ({y['breaker_off_trades']} trades, halted "
            f"{y['breaker_off_halted_from'] or 'never'})",
            f"{y['breaker_off_max_drawdown_intraday']:.2%} / {y['breaker_off_max_drawdown_eod']:.2%}",
            f"<= {y['drawdown_bound']:.0%}",
            _verdict(y["breaker_off_within_bound"]),
        ),
        (
            f"3. SMA 10/30 cross, ours ({b['bars']:,} bars, {b['ours_trades']:,} trades)",
            f"{b['ours_bars_per_s'] / 1e6:.1f} M bars/s",
            f"{b['ours_s'] * 1e3:.0f} ms",
            "",
        ),
        (
            f"   backtrader ({b['backtrader_bars']:,} bars)",
            f"{b['backtrader_bars_per_s'] / 1e3:.1f} k bars/s",
            f"ref {b['backtrader_reference_bars_per_s'] / 1e3:.0f} k bars/s",
            f"{b['backtrader_s']:.1f} s",
        ),
        (
            "   speed-up, ours / backtrader",
            f"{b['speedup']:,.0f}x",
            f">= {b['speedup_target']:.0f}x",
            _verdict(b["speedup"] >= b["speedup_target"]),
        ),
        (
            "   speed-up against the reference 14 k bars/s",
            f"{b['ours_bars_per_s'] / b['backtrader_reference_bars_per_s']:,.0f}x",
            f">= {b['speedup_target']:.0f}x",
            _verdict(b["ours_bars_per_s"] / b["backtrader_reference_bars_per_s"] >= b["speedup_target"]),
        ),
        (
            f"   trades identical on the {b['compared_bars']:,} bars both ran",
            f"{b['compared_trades']:,} trades",
            "identical" if b["trades_identical"] else f"differ at trade {b['first_mismatch']}",
            _verdict(b["trades_identical"]),
        ),
    ]
    for name, figure, target, ratio in rows:
        print(f"{name:<58} {figure:>14} {target:>16} {ratio:>9}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="20 sessions (extrapolated), backtrader on 100,000 bars"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--core", type=int, default=None, help="CPU to pin 1 and 3 to (default: the first allowed)"
    )
    parser.add_argument(
        "--bt-bars",
        type=int,
        default=None,
        help="bars backtrader runs (default: all, or 100,000 with --quick)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs of the one-session measurement (default 7, 3 with --quick)",
    )
    args = parser.parse_args()

    allowed = os.sched_getaffinity(0)
    core = args.core if args.core is not None else min(allowed)
    backtrader_bars = args.bt_bars or (QUICK_BACKTRADER_BARS if args.quick else BARS)
    figures: dict[str, Any] = {
        "cores_allowed": len(allowed),
        "core": core,
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "quick": args.quick,
    }
    os.sched_setaffinity(0, {core})
    figures["session"] = bench_session(args.repeat or (3 if args.quick else 7))
    os.sched_setaffinity(0, allowed)  # the workers inherit the affinity: give them every core
    figures["year"] = bench_year(args.quick)
    os.sched_setaffinity(0, {core})
    figures["bars"] = bench_bars(backtrader_bars)
    os.sched_setaffinity(0, allowed)

    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_table(figures)
    return 0 if figures["bars"]["trades_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
