"""`smart0dte demo`: replay one built-in trading day in-process and explain every decision."""

from __future__ import annotations

import argparse
from datetime import date

from smart0dte import __version__
from smart0dte.commands.args import date_arg, scenario_arg, seed_arg
from smart0dte.commands.backtest import summary_lines
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar
from smart0dte.domain.models import DomainError
from smart0dte.domain.simulator import Scenario
from smart0dte.services.backtest import BacktestRequest, run_backtest

DEMO_DATE = date(2025, 3, 14)
DEMO_SCENARIO = Scenario.TREND_UP
DEMO_SEED = 7


def _run(args: argparse.Namespace) -> int:
    session = MarketCalendar().session(args.date)
    if session is None:
        raise DomainError(f"--date={args.date.isoformat()} is not an NYSE session")
    print(f"Smart 0DTE {__version__} - replaying {args.date.isoformat()} in-process (paper, synthetic data)")
    print(
        f"Session {session.open_et:%H:%M}-{session.close_et:%H:%M} New York, flatten at "
        f"{session.flatten_et:%H:%M}; scenario {args.scenario.value}, seed {args.seed}"
    )
    print(
        "Signals come from the four rule strategies; no model is promoted yet, so it trades on rules only.\n"
    )
    request = BacktestRequest(start=args.date, end=args.date, scenario=args.scenario, seed=args.seed)
    report = run_backtest(request)
    (day,) = report.days
    for record in day.decisions:
        at = record.ts.astimezone(NEW_YORK).strftime("%H:%M")
        d = record.detail
        if record.kind == "signal":
            print(f"{at} SIGNAL {d['symbol']} {d['direction']} by {d['strategy']} conf {d['confidence']}")
            print(f"      why: {d['rationale']}")
        elif record.kind == "risk":
            verdict = "APPROVED" if d["approved"] else "REJECTED " + "; ".join(d["violations"])  # type: ignore[arg-type]
            print(f"      risk: {verdict} ({d['contract']} x{d['quantity']})")
        elif record.kind == "fill":
            fee = d["commission_usd"]
            print(f"{at} FILL {d['side']} {d['quantity']} {d['contract']} @ {d['price']} (fee ${fee})")
        elif record.kind == "exit":
            print(f"{at} EXIT {d['position_id']}: {d['reason']} (bid {d['bid']})")
        elif record.kind == "incident":
            print(f"{at} {d['message']}")
    print()
    print("\n".join(summary_lines(report)))
    print(f"\nOpen positions at the close: {day.open_positions_at_close} (0DTE must end flat)")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("demo", help="replay a built-in trading day and explain every decision")
    parser.add_argument("--date", type=date_arg("--date"), default=DEMO_DATE, help="session to replay")
    parser.add_argument("--scenario", type=scenario_arg, default=DEMO_SCENARIO, help="shape of the day")
    parser.add_argument("--seed", type=seed_arg, default=DEMO_SEED, help="simulator seed")
    parser.set_defaults(run=_run)
