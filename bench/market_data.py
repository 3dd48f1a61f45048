"""Market data benchmarks: simulate a full day, write it as DBN, load it back.

Run: .venv/bin/python bench/market_data.py [--repeat N]
Prints each measurement (median of N runs after one warm-up) beside its target and the ratio.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from smart0dte.adapters.databento.dbn_writer import write_simulated_day
from smart0dte.domain.simulator import MarketSimulator

DAY = date(2025, 3, 14)


def _median_s(action: Callable[[], object], repeat: int) -> float:
    action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _row(name: str, seconds: float, target_s: float | None) -> str:
    if target_s is None:
        return f"{name:<52} {seconds * 1000:9.1f} ms {'-':>11} {'-':>7}"
    ratio = seconds / target_s
    verdict = "ok" if ratio <= 1 else "SLOW"
    return f"{name:<52} {seconds * 1000:9.1f} ms {target_s * 1000:8.0f} ms {ratio:6.2f}x {verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("smart0dte").setLevel(logging.ERROR)  # the reader logs each day's quality summary

    simulator = MarketSimulator()
    day = simulator.day(DAY, seed=1)
    chains = day.market_day.chains
    quotes = sum(c.bid.size for c in chains.values())
    print(
        f"One session ({DAY}, {len(day.market_day.bars['SPY'])} minutes): "
        f"{sum(len(c.contracts) for c in chains.values())} contracts, {quotes:,} quotes"
    )
    print(f"{'measurement':<52} {'median':>12} {'target':>11} {'ratio':>7}")

    generate_s = _median_s(lambda: simulator.day(DAY, seed=1), args.repeat)
    print(_row("Generate one full day (in memory)", generate_s, 2.0))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_s = _median_s(lambda: write_simulated_day(day, root), args.repeat)
        print(_row("Write one day to DBN (zstd)", write_s, None))
        folder = root / DAY.isoformat()
        size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        print(f"  folder size {size_mb:.2f} MB")
        try:
            from smart0dte.adapters.databento.historical import DbnFolderMarketData
        except ImportError:
            print("Load one day from DBN into arrays: reader not available")
        else:
            reader = DbnFolderMarketData(root)
            load_s = _median_s(lambda: reader.load_day(DAY), args.repeat)
            print(_row("Load one day from DBN into arrays", load_s, 0.2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
