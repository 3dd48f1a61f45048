"""`smart0dte chaos`: the fault-injection harness. One replayed day in ibkr_paper on the embedded AWS,
through the real trading_cycle workflow, order bridge and IBKR adapter over an in-memory IB, with
seeded faults; prints what was injected and whether fills, positions and protection held.

Exit status 0 when every target holds (no fill lost or booked twice, book and broker agree, nothing
open at the close, no minute with a position unprotected at the broker), 1 otherwise, 2 on usage
errors."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from datetime import date
from typing import Any

from smart0dte.commands.args import date_arg, scenario_arg, seed_arg
from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.models import DomainError
from smart0dte.domain.simulator import DEFAULT_SEED, Scenario

CHAOS_DATE = date(2025, 3, 13)
CHAOS_SCENARIO = Scenario.GAP_UP
CHAOS_MARKET_SEED = 5
"""A simulated day with entries from 09:45 on (three with the product's settings)."""
DEFAULT_FAULTS = 200
TARGETS = (
    "fills_lost",
    "fills_duplicated",
    "position_mismatches",
    "open_at_close",
    "unprotected_position_minutes",
)


def _count(flag: str, low: int) -> Any:
    def parse(text: str) -> int:
        value = int(text) if text.isdigit() else -1
        if value < low:
            raise argparse.ArgumentTypeError(f"{flag}={text!r} must be a whole number >= {low}")
        return value

    return parse


def _lines(wire: dict[str, Any]) -> list[str]:
    injected = ", ".join(f"{k} {v}" for k, v in wire["faults_injected"].items()) or "none"
    unfired = ", ".join(f"{k} {v}" for k, v in wire["faults_unfired"].items()) or "none"
    lines = [
        f"chaos day {wire['session_date']} (ibkr_paper, embedded AWS, in-memory IB), {wire['elapsed_s']} s",
        f"faults injected ({sum(wire['faults_injected'].values())} of {wire['faults_planned']}): {injected}",
        f"faults still armed at the end: {unfired}",
        f"orders {wire['orders']} (at IB {wire['broker_orders']}), fills {wire['fills']}, "
        f"bridge reconnects {wire['bridge_reconnects']}, trading cycles failed after their retry "
        f"{wire['cycle_failures']}",
        f"exposed position minutes (no SELL at all at IB): {wire['exposed_position_minutes']}",
    ]
    for name in TARGETS:
        lines.append(f"{name:<30} {wire[name]:>5}  {'ok' if wire[name] == 0 else 'TARGET MISSED (0)'}")
    lines.append("targets met" if wire["targets_met"] else "targets MISSED")
    return lines


def _run(args: argparse.Namespace) -> int:
    from smart0dte.local.chaos import ChaosRun
    from smart0dte.local.replay import simulated_day

    if MarketCalendar().session(args.date) is None:
        raise DomainError(f"--date={args.date.isoformat()} (a {args.date:%A}) is not an NYSE session")
    day = simulated_day(args.date, scenario=args.scenario, seed=args.market_seed)
    run = ChaosRun(day, faults=args.faults, seed=args.seed, minutes=args.minutes)
    with contextlib.redirect_stdout(sys.stderr):  # handler logs never mix with the report
        report = run.run()
    wire = report.to_wire()
    if args.json:
        print(json.dumps(wire, indent=1))
    else:
        print("\n".join(_lines(wire)))
    return 0 if report.targets_met else 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "chaos",
        help="replay a day in IB paper against an in-memory IB with injected faults",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--faults", type=_count("--faults", 0), default=DEFAULT_FAULTS, help="faults to inject (default 200)"
    )
    parser.add_argument(
        "--seed", type=seed_arg, default=DEFAULT_SEED, help=f"seed of the faults (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--market-seed",
        type=seed_arg,
        default=CHAOS_MARKET_SEED,
        help=f"simulator seed of the day (default {CHAOS_MARKET_SEED})",
    )
    parser.add_argument("--date", type=date_arg("--date"), default=CHAOS_DATE, help="session to replay")
    parser.add_argument("--scenario", type=scenario_arg, default=CHAOS_SCENARIO, help="shape of the day")
    parser.add_argument(
        "--minutes", type=_count("--minutes", 1), help="replay only the first N trading minutes"
    )
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    parser.set_defaults(run=_run)
