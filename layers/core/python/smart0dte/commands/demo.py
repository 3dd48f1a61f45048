"""`smart0dte demo`: replay one trading day and explain every decision.

Two runtimes play the day:

- embedded: moto's server on 127.0.0.1 with every resource of resources.py, the Step Functions
  definitions run by moto's interpreter and every Lambda invocation dispatched in-process to
  `lambdas/<name>/handler.py`; a replay driver writes the market data minute by minute and
  starts the workflows on a simulated clock (smart0dte.local);
- in-process: the same domain session engine the backtest runs, without AWS.

`DEFAULT_RUNTIME` picks one when neither `--embedded` nor `--in-process` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from smart0dte import __version__
from smart0dte.bootstrap import files
from smart0dte.commands.args import date_arg, scenario_arg, seed_arg
from smart0dte.commands.backtest import summary_lines
from smart0dte.commands.demo_live import (
    USER_ACTOR,
    DayProgress,
    LiveDay,
    ServedHook,
    default_speed,
    wait_for_interrupt,
)
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar, SessionTimes
from smart0dte.domain.models import DomainError, TradingMode
from smart0dte.domain.portfolio import usd_text
from smart0dte.domain.simulator import DEFAULT_SEED, Scenario
from smart0dte.services.backtest import BacktestReport, BacktestRequest, run_backtest

if TYPE_CHECKING:
    from smart0dte.local.clock import SimulatedClock
    from smart0dte.local.embedded import EmbeddedAws, LambdaHandler
    from smart0dte.local.replay import ReplayDay, ReplayReport, ScheduledStart, Turns
    from smart0dte.local.summary import DaySummary


class Runtime(StrEnum):
    EMBEDDED = "embedded"
    IN_PROCESS = "in-process"


DEFAULT_RUNTIME: Final = Runtime.EMBEDDED
"""Until every lambdas/<name>/handler.py exists; then Runtime.EMBEDDED."""
DEMO_DATE = date(2025, 3, 14)
DEMO_SCENARIO = Scenario.TREND_DOWN
MAX_FAILURES_SHOWN = 10
MAX_SPEED: Final = 10_000.0
"""Market minutes per second; beyond the replay's own pace anyway."""


def _minutes(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--minutes={text!r} must be a whole number of minutes >= 1")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= MAX_SPEED:
        raise argparse.ArgumentTypeError(
            f"--speed={text!r} must be a number of market minutes per second within (0, {MAX_SPEED:g}]"
        )
    return value


def _hhmm(ts: datetime) -> str:
    return ts.astimezone(NEW_YORK).strftime("%H:%M")


def _session(day: date) -> SessionTimes:
    session = MarketCalendar().session(day)
    if session is None:
        raise DomainError(f"--date={day.isoformat()} (a {day:%A}) is not an NYSE session")
    return session


def _check_archived(data_dir: Path, day: date) -> None:
    """Refuse a --date the --data-dir has no day folder for, saying which days it holds."""
    held = files.dbn_folder(data_dir).available_days()
    if day not in held:
        span = f"{len(held)} day folder(s) {held[0]}..{held[-1]}" if held else "no day folders"
        raise DomainError(f"--date={day.isoformat()} is missing from --data-dir {data_dir}: it holds {span}")


def _check_minutes(session: SessionTimes, minutes: int | None) -> None:
    if minutes is not None and minutes > session.minutes:
        raise DomainError(
            f"--minutes={minutes} must be within 1..{session.minutes} for {session.session_date.isoformat()}"
        )


def _source(args: argparse.Namespace) -> str:
    if args.data_dir is not None:
        return f"DBN files in {args.data_dir}"
    return f"synthetic data, scenario {args.scenario.value}, seed {args.seed}"


# --- in-process --------------------------------------------------------------------------------


def in_process_to_wire(report: BacktestReport) -> dict[str, object]:
    """The in-process day in the JSON shape of the embedded one (no workflows, no audit log)."""
    (day,) = report.days
    rejections: dict[str, int] = {}
    decisions: list[dict[str, object]] = []
    by_signal: dict[str, dict[str, object]] = {}
    for record in day.decisions:
        detail = record.detail
        if record.kind == "signal":
            entry = {"ts": record.ts.astimezone(NEW_YORK).isoformat(), **detail}
            entry.update(approved=None, violations=[], quantity=None)
            by_signal[str(detail["signal_id"])] = entry
            decisions.append(entry)
        elif record.kind == "risk":
            entry = by_signal.get(str(detail["signal_id"]), {})
            entry.update(
                approved=detail["approved"], violations=detail["violations"], quantity=detail["quantity"]
            )
            if not detail["approved"]:
                for rule in detail["rules"]:  # type: ignore[attr-defined]  # a list of rule names
                    rejections[str(rule)] = rejections.get(str(rule), 0) + 1
    trades = [
        {
            "position_id": t.position_id,
            "symbol": t.contract.root,
            "contract": t.contract.occ_symbol,
            "strategy": t.strategy,
            "quantity": t.quantity,
            "entry_time": t.entry_ts.astimezone(NEW_YORK).isoformat(),
            "entry_price": str(t.entry_price),
            "exit_time": t.exit_ts.astimezone(NEW_YORK).isoformat(),
            "exit_price": str(t.exit_price),
            "exit_reason": t.exit_reason,
            "pnl": str(t.pnl_usd),
        }
        for t in day.trades
    ]
    return {
        "runtime": Runtime.IN_PROCESS.value,
        "date": day.session_date.isoformat(),
        "executions": {},
        "failures": [],
        "notes": list(day.incidents),
        "trades": trades,
        "pnl": str(day.pnl_usd),
        "open_positions": day.open_positions_at_close,
        "rejections_by_rule": dict(sorted(rejections.items())),
        "audit_records": None,
        "decisions": decisions,
    }


def _print_in_process(report: BacktestReport) -> None:
    (day,) = report.days
    for record in day.decisions:
        at = _hhmm(record.ts)
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


def _run_in_process(args: argparse.Namespace, session: SessionTimes) -> int:
    data_until = None
    if args.minutes is not None:
        data_until = (session.open_et + timedelta(minutes=args.minutes)).time()
    request = BacktestRequest(
        start=args.date,
        end=args.date,
        archive=None if args.data_dir is None else files.dbn_folder(args.data_dir),
        scenario=args.scenario,
        seed=args.seed,
        data_until=data_until,
    )
    report = run_backtest(request)
    if args.json:
        print(json.dumps(in_process_to_wire(report), indent=1))
        return 0
    print(f"Smart 0DTE {__version__} - replaying {args.date.isoformat()} in-process (paper, {_source(args)})")
    print(
        f"Session {session.open_et:%H:%M}-{session.close_et:%H:%M} New York, flatten at "
        f"{session.flatten_et:%H:%M}"
    )
    print(
        "Signals come from the four rule strategies; no model is promoted yet, so it trades on rules only.\n"
    )
    _print_in_process(report)
    return 0


# --- embedded -----------------------------------------------------------------------------------


def missing_handlers_message() -> str | None:
    """Why the embedded runtime cannot run yet, or None when every handler file exists."""
    from smart0dte.local.embedded import missing_handlers, repo_relative
    from smart0dte.local.replay import DAY_WORKFLOWS
    from smart0dte.resources import FUNCTIONS, STATE_MACHINES

    used = {name for machine in STATE_MACHINES if machine.name in DAY_WORKFLOWS for name in machine.functions}
    missing = missing_handlers([spec for spec in FUNCTIONS if spec.name in used])
    if not missing:
        return None
    files = "\n".join(f"  {repo_relative(spec.handler_path)}" for spec in missing)
    return (
        f"the embedded runtime runs the deployed Lambda handlers, and {len(missing)} are missing:\n{files}\n"
        "run `smart0dte demo --in-process` meanwhile"
    )


def replay_day(args: argparse.Namespace) -> ReplayDay:
    from smart0dte.local.replay import archived_day, simulated_day

    if args.data_dir is not None:
        return archived_day(args.data_dir, args.date)
    return simulated_day(args.date, scenario=args.scenario, seed=args.seed)


def run_embedded(
    day: ReplayDay,
    *,
    minutes: int | None = None,
    handlers: Mapping[str, LambdaHandler] | None = None,
    on_result: Callable[[ScheduledStart, Any], None] | None = None,
    on_start: Callable[[EmbeddedAws, int], None] | None = None,
    after: Callable[[EmbeddedAws, ReplayReport, DaySummary], None] | None = None,
    clock: SimulatedClock | None = None,
    turns: Turns | None = None,
) -> tuple[ReplayReport, DaySummary]:
    """Play `day` on a fresh embedded AWS with automation on (paper) and read back what the
    handlers recorded. `on_start` hears the embedded AWS and the number of scheduled starts once
    its stores exist, before the functions and state machines are created (e.g. to serve the
    dashboard on it at once); `after` runs while the embedded AWS is still up. `clock` and
    `turns`: see `ReplayDriver` (a clock with a rate plays the day live)."""
    from smart0dte.domain.controls import AutomationSettings
    from smart0dte.local.embedded import EmbeddedAws
    from smart0dte.local.replay import ReplayDriver
    from smart0dte.local.summary import read_day

    with EmbeddedAws(handlers=handlers, workflows=False) as aws:
        driver = ReplayDriver(
            aws,
            day,
            minutes=minutes,
            clock=clock,
            automation=AutomationSettings(master_switch=True),
            on_result=on_result,
            turns=turns,
        )
        if on_start is not None:
            on_start(aws, len(driver.schedule))
        aws.provision_workflows()
        report = driver.run()
        summary = read_day(aws.state_store(), day.session.session_date)
        if after is not None:
            after(aws, report, summary)
    return report, summary


def _print_embedded(report: ReplayReport, summary: DaySummary) -> None:
    from smart0dte.local.summary import decisions_to_wire, trade_to_wire

    pre_market = next((r for r in report.runs if r.start.state_machine == "pre_market"), None)
    if pre_market is not None and pre_market.result is not None:
        print(f"08:00 pre_market {pre_market.result.status}")
    for d in decisions_to_wire(summary):
        at = str(d["ts"])[11:16]
        confidence = float(str(d["confidence"]))
        print(f"{at} SIGNAL {d['symbol']} {d['direction']} by {d['strategy']} conf {confidence:.0%}")
        print(f"      why: {d['rationale']}")
        if d["approved"] is None:
            print("      risk: no decision recorded")
        else:
            verdict = "APPROVED" if d["approved"] else "REJECTED " + "; ".join(d["violations"])  # type: ignore[arg-type]
            print(f"      risk: {verdict} (x{d['quantity']})")
    net = summary.net_pnl_by_position
    for position in summary.closed:
        t = trade_to_wire(position, net.get(position.position_id))
        held = f"{str(t['entry_time'])[11:16]}-{str(t['exit_time'])[11:16]}"
        print(
            f"{held} TRADE {t['contract']} x{t['quantity']} {t['entry_price']} -> {t['exit_price']} "
            f"({t['exit_reason']}), net P&L {usd_text(Decimal(str(t['pnl'])))}"
        )
    for note in report.notes:
        print(f"NOTE {note}")
    print()
    print(f"{'workflow':<14} {'succeeded':>9} {'failed':>7}")
    for name, counts in report.executions.items():
        print(f"{name:<14} {counts['succeeded']:>9} {counts['failed']:>7}")
    failures = report.failures
    for run in failures[:MAX_FAILURES_SHOWN]:
        result = run.result
        if result is None:  # pragma: no cover - failures have results
            continue
        why = f"{result.task_error}: {result.task_cause}" if result.task_error else result.cause
        print(f"  {_hhmm(run.start.at)} {run.start.state_machine} {result.status} {result.error}: {why}")
    if len(failures) > MAX_FAILURES_SHOWN:
        print(f"  ... and {len(failures) - MAX_FAILURES_SHOWN} more (see --json)")
    print()
    rejections = ", ".join(f"{rule} {n}" for rule, n in summary.rejections_by_rule.items()) or "none"
    print(f"trades {len(summary.closed)}, net P&L {usd_text(summary.realized_pnl_usd)}")
    print(f"rejections by rule: {rejections}")
    print(f"audit records: {len(summary.audit)}")
    print(
        f"{report.bars_written} bars and {report.snapshots_written} chain snapshots written minute by "
        f"minute; replayed in {report.elapsed_s:.1f} s"
    )
    print(f"\nOpen positions at the close: {len(summary.open_positions)} (0DTE must end flat)")
    acted = summary.interventions(USER_ACTOR)
    if acted:
        print(f"\nYou acted {len(acted)} time(s) during the day, which changes its result:")
        for record in acted:
            print(f"  {_hhmm(record.ts)} {record.action}: {record.reason}")
        print("`smart0dte demo --no-serve` plays the same day untouched.")


def _intro(args: argparse.Namespace, session: SessionTimes, endpoint: str) -> None:
    print(
        f"Smart 0DTE {__version__} - replaying {args.date.isoformat()} on the embedded AWS at "
        f"{endpoint} (paper, {_source(args)})"
    )
    print(
        f"Session {session.open_et:%H:%M}-{session.close_et:%H:%M} New York, flatten at "
        f"{session.flatten_et:%H:%M}; every workflow runs its stepfunctions/*.asl.json in moto, "
        "every Lambda runs lambdas/<name>/handler.py in-process.\n",
        flush=True,
    )


def _run_embedded(args: argparse.Namespace, session: SessionTimes) -> int:
    if (problem := missing_handlers_message()) is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        import moto  # noqa: F401 - the embedded runtime is moto
    except ImportError:
        print("error: the embedded runtime needs moto[server]: pip install -e '.[aws,dev]'", file=sys.stderr)
        return 2
    day = replay_day(args)
    if not args.json and not args.no_serve:
        report = play_live(day, args, session, speed=args.speed or default_speed(session), port=args.port)
        return 0 if report is None or not report.failures else 1
    progress: DayProgress | None = None

    def on_start(aws: EmbeddedAws, starts: int) -> None:
        nonlocal progress
        progress = DayProgress(starts, sys.stderr if args.json else sys.stdout, sys.stderr)
        if not args.json:
            _intro(args, session, aws.endpoint_url)

    def on_result(start: ScheduledStart, result: Any) -> None:
        if progress is not None:
            progress.step(start, result)

    if not args.json:
        report, summary = run_embedded(day, minutes=args.minutes, on_result=on_result, on_start=on_start)
        if progress is not None:
            progress.close()
        _print_embedded(report, summary)
        return 0 if not report.failures else 1
    # Handler logs go to stderr while --json owns stdout.
    with contextlib.redirect_stdout(sys.stderr):
        report, summary = run_embedded(day, minutes=args.minutes, on_result=on_result, on_start=on_start)
    if progress is not None:
        progress.close()
    from smart0dte.local.summary import to_wire

    print(json.dumps(to_wire(report, summary), indent=1))
    return 0 if not report.failures else 1


def play_live(
    day: ReplayDay,
    args: argparse.Namespace,
    session: SessionTimes,
    *,
    speed: float,
    port: int,
    on_served: ServedHook | None = None,
    stay: bool = True,
) -> ReplayReport | None:
    """Serve the dashboard, then play the day at `speed` market minutes per wall-clock second,
    printing what happens; after the summary keep serving until Ctrl-C when `stay` (the clock then
    runs on at the wall clock's pace). None when Ctrl-C stopped the day before its end."""
    from smart0dte.local.clock import SimulatedClock
    from smart0dte.local.replay import MINUTE, Turns, day_schedule

    first = (
        day_schedule(session, TradingMode.PAPER, args.minutes)[0].at - MINUTE
    )  # the embedded AWS trades paper
    live = LiveDay(SimulatedClock(first, rate=speed * 60), Turns(), DayProgress(0, sys.stdout, sys.stderr))

    def on_start(aws: EmbeddedAws, starts: int) -> None:
        live.progress = DayProgress(starts, sys.stdout, sys.stderr)
        server = live.serve(aws, day, port)
        _intro(args, session, aws.endpoint_url)
        print(f"Dashboard: {server.url}/?token={live.token}")
        print(f"API token (expires in 12 h): {live.token}")
        print(f"  curl -H 'Authorization: Bearer {live.token}' {server.url}/api/dashboard")
        wall_s = session.minutes / speed
        print(
            f"Playing the day live at {speed:g} market minute(s) per second (the session in about "
            f"{wall_s / 60:.1f} min) once its workflows are created, in a few seconds: pause, stop or "
            "close a position on the dashboard (Trading page) as it plays. Ctrl-C to stop.\n",
            flush=True,
        )
        if on_served is not None:
            on_served(live)

    def after(aws: EmbeddedAws, report: ReplayReport, summary: DaySummary) -> None:
        live.progress.close()
        _print_embedded(report, summary)
        if stay and live.server is not None:
            live.clock.run_until(None, rate=1.0)
            print(f"\nThe day is over; the dashboard stays up: {live.server.url}/?token={live.token}")
            print("Ctrl-C to stop", flush=True)
            wait_for_interrupt()
        live.close()  # before the embedded AWS stops under it

    try:
        report, _ = run_embedded(
            day,
            minutes=args.minutes,
            on_result=live.on_result,
            on_start=on_start,
            after=after,
            clock=live.clock,
            turns=live.turns,
        )
    except KeyboardInterrupt:
        live.progress.close()
        print(f"\nStopped at {_hhmm(live.clock.now())} New York (Ctrl-C).")
        return None
    finally:
        live.close()
    return report


def _run(args: argparse.Namespace) -> int:
    session = _session(args.date)
    _check_minutes(session, args.minutes)
    if args.data_dir is not None:
        _check_archived(args.data_dir, args.date)
    runtime = args.runtime or DEFAULT_RUNTIME
    if runtime is Runtime.EMBEDDED:
        return _run_embedded(args, session)
    return _run_in_process(args, session)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "demo",
        help="replay a built-in trading day and explain every decision",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("--date", type=date_arg("--date"), default=DEMO_DATE, help="session to replay")
    parser.add_argument("--scenario", type=scenario_arg, default=DEMO_SCENARIO, help="shape of the day")
    parser.add_argument(
        "--seed", type=seed_arg, default=DEFAULT_SEED, help=f"simulator seed (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="DBN day folders (see `data generate`); default: simulate"
    )
    parser.add_argument("--minutes", type=_minutes, help="replay only the first N minutes of the session")
    parser.add_argument("--json", action="store_true", help="machine-readable outcome")
    parser.add_argument(
        "--port", type=int, default=8000, help="serve the dashboard and API on 127.0.0.1:PORT"
    )
    parser.add_argument(
        "--no-serve",
        action="store_true",
        help="play as fast as possible without serving and exit with the summary",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        help="market minutes per second while served (default: the session in about 5 minutes)",
    )
    runtime = parser.add_mutually_exclusive_group()
    runtime.add_argument(
        "--embedded",
        dest="runtime",
        action="store_const",
        const=Runtime.EMBEDDED,
        help="moto + Step Functions + in-process Lambda handlers",
    )
    runtime.add_argument(
        "--in-process",
        dest="runtime",
        action="store_const",
        const=Runtime.IN_PROCESS,
        help="the session engine in this process, without AWS",
    )
    parser.set_defaults(run=_run, runtime=None)
