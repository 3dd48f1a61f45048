"""A full trading day on the embedded AWS, against the issue's budget of 3 minutes.

Run: .venv/bin/python bench/embedded_day.py [--date D] [--scenario NAME] [--seed N] [--minutes N] [--json]

What is timed, wall clock, one run: `EmbeddedAws` start-up (moto server, provisioning every
resource of resources.py, functions, state machines), the replay of the day (the gateway's
writes of every minute's bars and chain snapshots through DynamoState, pre_market, one
trading_cycle per minute from the open + 1 to the close, flatten, post_close, learning,
each execution through moto's Step Functions interpreter and in-process Lambda dispatch),
reading the day back from DynamoDB, and shutdown.

Functions whose lambdas/<name>/handler.py does not exist yet run on contract-shaped stand-ins
(smart0dte.local.stand_ins) that decide nothing; the output names them, so the figure is the
runtime's own cost until every real handler is present. `--minutes N` replays the first N
minutes and extrapolates the trading cycles linearly to the full session (labelled as such).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date

from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.simulator import DEFAULT_SEED, Scenario
from smart0dte.local.embedded import EmbeddedAws, missing_handlers
from smart0dte.local.replay import TRADING_CYCLE, ReplayDriver, day_schedule, simulated_day
from smart0dte.local.stand_ins import stand_ins_for
from smart0dte.local.summary import read_day

DAY = date(2025, 3, 14)
BUDGET_S = 180.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", type=date.fromisoformat, default=DAY)
    parser.add_argument("--scenario", type=Scenario.parse, default=Scenario.TREND_UP)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--minutes", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    stand_ins = [spec.name for spec in missing_handlers()]
    day = simulated_day(args.date, scenario=args.scenario, seed=args.seed)
    began = time.perf_counter()
    with EmbeddedAws(handlers=stand_ins_for(stand_ins)) as aws:
        up_s = time.perf_counter() - began
        driver = ReplayDriver(
            aws, day, minutes=args.minutes, automation=AutomationSettings(master_switch=True)
        )
        report = driver.run()
        read_began = time.perf_counter()
        summary = read_day(aws.state_store(), day.session.session_date)
        read_s = time.perf_counter() - read_began
        invocations = aws.dispatcher.invocations
        stop_began = time.perf_counter()
    stop_s = time.perf_counter() - stop_began
    total_s = time.perf_counter() - began

    runs = [r for r in report.runs if r.result is not None]
    cycles = [r for r in runs if r.start.state_machine == TRADING_CYCLE]
    execution_s = sum(r.result.elapsed_s for r in runs if r.result is not None)
    cycle_s = sum(r.result.elapsed_s for r in cycles if r.result is not None)
    after_flatten = [r.result.elapsed_s for r in cycles if r.result and r.start.at > day.session.flatten_et]
    handler_s = sum(i.elapsed_s for i in invocations)
    writes_s = report.elapsed_s - execution_s
    full_cycles = sum(1 for s in day_schedule(day.session, aws.mode) if s.state_machine == TRADING_CYCLE)
    extrapolated = args.minutes is not None and len(cycles) < full_cycles
    if extrapolated and cycles:
        per_minute_s = (cycle_s + writes_s) / len(cycles)
        day_s = total_s + per_minute_s * (full_cycles - len(cycles))
    else:
        day_s = total_s
    figures = {
        "date": day.session.session_date.isoformat(),
        "stand_ins": stand_ins,
        "trading_cycles": len(cycles),
        "full_day_trading_cycles": full_cycles,
        "startup_s": round(up_s, 2),
        "replay_s": round(report.elapsed_s, 2),
        "executions_s": round(execution_s, 2),
        "trading_cycle_mean_ms": round(1000 * cycle_s / len(cycles), 1) if cycles else None,
        "after_flatten_cycle_mean_ms": (
            round(1000 * sum(after_flatten) / len(after_flatten), 1) if after_flatten else None
        ),
        "handlers_s": round(handler_s, 2),
        "market_data_writes_s": round(writes_s, 2),
        "read_back_s": round(read_s, 2),
        "shutdown_s": round(stop_s, 2),
        "full_day_s": round(day_s, 1),
        "extrapolated": extrapolated,
        "budget_s": BUDGET_S,
        "ratio_to_budget": round(day_s / BUDGET_S, 3),
        "executions": report.executions,
        "trades": len(summary.closed),
    }
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    label = f"extrapolated from {len(cycles)} of {full_cycles} minutes" if extrapolated else "measured"
    print(
        f"embedded day {figures['date']}: {len(cycles)} trading cycles, {report.bars_written} bars, "
        f"{report.snapshots_written} chain snapshots"
    )
    if stand_ins:
        print(f"stand-ins (no handler file yet): {', '.join(stand_ins)}")
    print(f"  start-up (server, provisioning, functions, state machines) {up_s:8.2f} s")
    print(f"  replay                                                      {report.elapsed_s:8.2f} s")
    print(f"    executions (Step Functions + Lambda)                      {execution_s:8.2f} s")
    print(f"      of which handler code                                   {handler_s:8.2f} s")
    print(
        f"      trading_cycle mean                                      {figures['trading_cycle_mean_ms']} ms"
    )
    print(
        f"      after the flatten (marks, exits; no signals)            "
        f"{figures['after_flatten_cycle_mean_ms']} ms"
    )
    print(f"    market data writes (bars, chain snapshots)                {writes_s:8.2f} s")
    print(f"  read back from DynamoDB                                     {read_s:8.2f} s")
    print(f"  shutdown                                                    {stop_s:8.2f} s")
    print(f"full day {day_s:.1f} s ({label}) vs budget {BUDGET_S:.0f} s: ratio {day_s / BUDGET_S:.2f}")
    failed = {k: v["failed"] for k, v in report.executions.items() if v["failed"]}
    if failed:
        print(f"failed executions: {failed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
