"""Signal benchmarks: the per-minute decision and the day's feature matrix, in process.

Run: .venv/bin/python bench/signals.py [--days N] [--repeat N] [--core K] [--json]

Pinned to one core. Replays simulated days (a mix of scenarios, so signals do fire and their
contract choice is in the figures) minute by minute, after a warm-up day that is not counted:

- strategies at one bar: regime + every allowed strategy for SPY, QQQ and IWM (`run_strategies`),
  the target of the issue (p99 <= 2 ms);
- strategies + model at one bar: the same, plus the direction model's probability on each of the
  three latest feature rows (every bar, though the minute cycle only asks when a signal fires) and
  the ensemble of every signal (target p99 <= 2 ms). The model is trained first, on other simulated
  sessions, with every one of its trees kept (no early stopping): the largest model the defaults make;
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
from typing import Any

import numpy as np

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.ensemble import combine
from smart0dte.domain.features import FeatureSource, day_features, latest_features
from smart0dte.domain.models import Underlying
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.domain.strategies import StateKey, run_strategies
from smart0dte.domain.strategies.base import MarketHistory, StrategyState
from smart0dte.ml.dataset import build_dataset
from smart0dte.ml.model import DirectionModel, ModelParams, train
from smart0dte.ml.sessions import session_dates, simulated_sessions

DAY = date(2025, 3, 14)
SCENARIOS = (Scenario.GAP_UP, Scenario.TREND_UP, Scenario.VIX_SPIKE, Scenario.CHOP, Scenario.NORMAL)
STRATEGIES_P99_TARGET_S = 0.002
DAY_FEATURES_TARGET_S = 0.050
MODEL_TRAINING_DAYS = (date(2025, 1, 2), date(2025, 1, 15))
"""Sessions the benchmark's model is trained on (the first 7 for the trees, the rest to calibrate)."""


def _percentile_s(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


def _per_bar_figures(samples_s: list[float]) -> dict[str, float]:
    """Per-bar latency against the strategies' p99 target, in ms."""
    return {
        "p50_ms": _percentile_s(samples_s, 50) * 1e3,
        "p99_ms": _percentile_s(samples_s, 99) * 1e3,
        "max_ms": max(samples_s) * 1e3,
        "target_p99_ms": STRATEGIES_P99_TARGET_S * 1e3,
        "ratio": _percentile_s(samples_s, 99) / STRATEGIES_P99_TARGET_S,
    }


def _per_bar_row(label: str, figures: dict[str, Any]) -> str:
    verdict = "ok" if figures["ratio"] <= 1 else "SLOW"
    return (
        f"{label:<52} {figures['p50_ms']:7.3f}ms {figures['p99_ms']:7.3f}ms "
        f"{figures['target_p99_ms']:7.1f}ms {figures['ratio']:6.2f}x {verdict}"
    )


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _model() -> DirectionModel:
    dataset = build_dataset(simulated_sessions(session_dates(*MODEL_TRAINING_DAYS), seed=99))
    cut = 7
    trained = train(
        dataset.sessions(0, cut),
        dataset.sessions(cut, len(dataset.session_dates)),
        ModelParams(early_stopping_rounds=None),
        seed=99,
    )
    return trained.model


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
    model = _model()
    probability = model.probability_fn()

    strategy_s: list[float] = []
    with_model_s: list[float] = []
    latest_s: list[float] = []
    day_s: list[float] = []
    signal_count = 0
    for index in range(args.days + 1):
        warm_up = index == 0
        scenario = SCENARIOS[index % len(SCENARIOS)]
        simulated = simulator.day(DAY, seed=index, scenario=scenario)
        day = simulated.market_day
        prior = simulated.prior_close
        sources = {u: FeatureSource.from_day(day, u, session, prior) for u in Underlying.tradable()}
        features = {u: day_features(source) for u, source in sources.items()}
        states: dict[StateKey, StrategyState] = {}
        for ts_ns in day.bars["SPY"].close_ts_ns.tolist():
            history = MarketHistory.from_day(day, ts_ns, session, prior, features)
            started = time.perf_counter()
            decisions = run_strategies(history, states)
            elapsed = time.perf_counter() - started
            started = time.perf_counter()
            again = run_strategies(history, states)  # the same minute, now with the model
            p_up = {u: probability(u, rows[-1]) for u, rows in history.features.items() if len(rows)}
            for signal in again.signals:
                combine(signal.confidence, p_up[signal.underlying], signal.direction)
            elapsed_with_model = time.perf_counter() - started
            states = dict(decisions.states)
            if not warm_up:
                strategy_s.append(elapsed)
                with_model_s.append(elapsed_with_model)
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
        "strategies_3_symbols_one_bar": _per_bar_figures(strategy_s),
        "strategies_and_model_3_symbols_one_bar": {
            "model_trees": model.forest.trees,
            **_per_bar_figures(with_model_s),
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
    with_model = figures["strategies_and_model_3_symbols_one_bar"]
    latest = figures["latest_features_3_symbols_one_bar"]
    whole_day = figures["day_features_3_symbols"]
    assert isinstance(strategies, dict) and isinstance(latest, dict) and isinstance(whole_day, dict)
    assert isinstance(with_model, dict)
    print(
        f"core {core}; {args.days} simulated days after a warm-up day "
        f"({', '.join(s.value for s in SCENARIOS)}); {len(strategy_s)} bars, {signal_count} signals"
    )
    print(f"{'measurement':<52} {'p50':>9} {'p99':>9} {'target':>9} {'ratio':>7}")
    print(_per_bar_row("Strategies, 3 symbols, one bar", strategies))
    print(
        _per_bar_row(
            f"Strategies + model ({with_model['model_trees']} trees), 3 symbols, one bar", with_model
        )
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
