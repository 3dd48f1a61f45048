"""`smart0dte data generate`: synthetic sessions written as DBN folders, one per session date."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from smart0dte.commands.args import ProgressBar, check_range, date_arg, scenario_arg, seed_arg
from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.models import DomainError
from smart0dte.domain.simulator import DEFAULT_SEED, MarketSimulator, Scenario


def _cmd_generate(args: argparse.Namespace) -> int:
    from smart0dte.adapters.databento.dbn_writer import write_simulated_day  # needs the gateway extra

    start: date = args.start
    end: date = args.end or start
    check_range(start, end)
    sessions = MarketCalendar().sessions_between(start, end)
    calendar_days = (end - start).days + 1
    if not sessions:
        raise DomainError(f"no NYSE session between {start.isoformat()} and {end.isoformat()}")
    out: Path = args.out
    progress = ProgressBar(len(sessions), sys.stderr)
    simulator = MarketSimulator()
    for done, day in enumerate(simulator.days(sessions, seed=args.seed, scenario=args.scenario), start=1):
        write_simulated_day(day, out)
        progress.update(done, day.market_day.session_date.isoformat())
    progress.close()
    skipped = calendar_days - len(sessions)
    span = f"{sessions[0].isoformat()}..{sessions[-1].isoformat()}"
    print(
        f"Generated {len(sessions)} synthetic session(s) {span} "
        f"(scenario {args.scenario.value}, seed {args.seed}) into {out}; "
        f"skipped {skipped} non-session day(s) (weekends, holidays)"
    )
    return 0


def register(data_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `generate` to the `smart0dte data` commands."""
    generate = data_commands.add_parser(
        "generate",
        help="write synthetic sessions (bars, VIX, 0DTE chains) as DBN folders",
        description=(
            "Simulate every NYSE session from --start to --end and write <out>/<YYYY-MM-DD>/ "
            "with DBN files and a manifest marked synthetic. Days chain: each opens from the "
            "previous one's close."
        ),
    )
    generate.add_argument("--start", type=date_arg("--start"), required=True, help="first date, YYYY-MM-DD")
    generate.add_argument("--end", type=date_arg("--end"), help="last date, YYYY-MM-DD (default: --start)")
    generate.add_argument("--out", type=Path, required=True, help="folder that receives one folder per date")
    generate.add_argument(
        "--seed", type=seed_arg, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    generate.add_argument(
        "--scenario",
        type=scenario_arg,
        default=Scenario.NORMAL,
        help=f"shape of every day: {', '.join(s.value for s in Scenario)} (default normal)",
    )
    generate.set_defaults(run=_cmd_generate)
