"""Signal benchmarks: the per-minute decision and the day's feature matrix, in process.

Run: .venv/bin/python bench/signals.py [--days N] [--repeat N] [--core K] [--json]

Pinned to one core. Replays simulated days (a mix of scenarios, so signals do fire and their
contract choice is in the figures) minute by minute, after a warm-up day that is not counted:

- strategies at one bar: regime + every allowed strategy for SPY, QQQ and IWM (`run_strategies`),
  the target of the issue (p99 <= 2 ms);
- the minute's features: `latest_features` for the three underlyings (no target; reported because
  the minute cycle pays it too);
- the day's features, vectorised: `day_features` for the three underlyings (target <= 50 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date

import numpy as np

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.features import FeatureSource, day_features, latest_features
from smart0dte.domain.models import Underlying
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.domain.strategies import StateKey, run_strategies
from smart0dte.domain.strategies.base import MarketHistory, StrategyState

DAY = date(2025, 3, 14)
SCENARIOS = (Scenario.GAP_UP, Scenario.TREND_UP, Scenario.VIX_SPIKE, Scenario.CHOP, Scenario.NORMAL)
STRATEGIES_P99_TARGET_S = 0.002
DAY_FEATURES_TARGET_S = 0.050


def _percentile_s(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--days", type=int, default=len(SCENARIOS), help="days replayed after the warm-up day"
    )
    parser.add_argument("--repeat", type=int, default=7, help="runs of the day-features measurement")
    parser.add_argument("--core", type=int, default=None, help="CPU to pin to (default: the first allowed)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    core = args.core if args.core is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    calendar = MarketCalendar()
    session = calendar.session(DAY)
    assert session is not None
    simulator = MarketSimulator(calendar=calendar)

    strategy_s: list[float] = []
    latest_s: list[float] = []
    day_s: list[float] = []
    signal_count = 0
    for index in range(args.days + 1):
        warm_up = index == 0
        scenario = SCENARIOS[index % len(SCENARIOS)]
        simulated = simulator.day(DAY, seed=index, scenario=scenario)
        day = simulated.market_day
        prior = {u.value: level for u, level in simulated.previous.close_usd.items()}
        sources = {u: FeatureSource.from_day(day, u, session, prior) for u in Underlying.tradable()}
        features = {u: day_features(source) for u, source in sources.items()}
        states: dict[StateKey, StrategyState] = {}
        for ts_ns in day.bars["SPY"].close_ts_ns.tolist():
            history = MarketHistory.from_day(day, ts_ns, session, prior, features)
            started = time.perf_counter()
            decisions = run_strategies(history, states)
            elapsed = time.perf_counter() - started
            states = dict(decisions.states)
            if not warm_up:
                strategy_s.append(elapsed)
                signal_count += len(decisions.signals)
                known = day.until(ts_ns)
                prefixes = [FeatureSource.from_day(known, u, session, prior) for u in Underlying.tradable()]
                started = time.perf_counter()
                for prefix in prefixes:
                    latest_features(prefix)
                latest_s.append(time.perf_counter() - started)
    for _ in range(args.repeat):
        day_s.append(_timed(lambda: [day_features(source) for source in sources.values()]))

    figures = {
        "core": core,
        "days": args.days,
        "bars": len(strategy_s),
        "signals": signal_count,
        "strategies_3_symbols_one_bar": {
            "p50_ms": _percentile_s(strategy_s, 50) * 1e3,
            "p99_ms": _percentile_s(strategy_s, 99) * 1e3,
            "max_ms": max(strategy_s) * 1e3,
            "target_p99_ms": STRATEGIES_P99_TARGET_S * 1e3,
            "ratio": _percentile_s(strategy_s, 99) / STRATEGIES_P99_TARGET_S,
        },
        "latest_features_3_symbols_one_bar": {
            "p50_ms": _percentile_s(latest_s, 50) * 1e3,
            "p99_ms": _percentile_s(latest_s, 99) * 1e3,
        },
        "day_features_3_symbols": {
            "median_ms": statistics.median(day_s) * 1e3,
            "target_ms": DAY_FEATURES_TARGET_S * 1e3,
            "ratio": statistics.median(day_s) / DAY_FEATURES_TARGET_S,
        },
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    strategies = figures["strategies_3_symbols_one_bar"]
    latest = figures["latest_features_3_symbols_one_bar"]
    whole_day = figures["day_features_3_symbols"]
    assert isinstance(strategies, dict) and isinstance(latest, dict) and isinstance(whole_day, dict)
    print(
        f"core {core}; {args.days} simulated days after a warm-up day "
        f"({', '.join(s.value for s in SCENARIOS)}); {len(strategy_s)} bars, {signal_count} signals"
    )
    print(f"{'measurement':<52} {'p50':>9} {'p99':>9} {'target':>9} {'ratio':>7}")
    verdict = "ok" if strategies["ratio"] <= 1 else "SLOW"
    print(
        f"{'Strategies, 3 symbols, one bar':<52} {strategies['p50_ms']:7.3f}ms {strategies['p99_ms']:7.3f}ms "
        f"{strategies['target_p99_ms']:7.1f}ms {strategies['ratio']:6.2f}x {verdict}"
    )
    print(
        f"{'Latest features, 3 symbols, one bar':<52} {latest['p50_ms']:7.3f}ms {latest['p99_ms']:7.3f}ms "
        f"{'-':>9} {'-':>7}"
    )
    verdict = "ok" if whole_day["ratio"] <= 1 else "SLOW"
    print(
        f"{'Day features, 3 symbols, vectorised (median)':<52} {whole_day['median_ms']:7.2f}ms {'':>9} "
        f"{whole_day['target_ms']:7.1f}ms {whole_day['ratio']:6.2f}x {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
