"""The `smart0dte` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date

from smart0dte import __version__
from smart0dte.commands import (
    backtest,
    chaos,
    cost,
    data_generate,
    data_show,
    demo,
    feed,
    order_bridge,
    telegram,
    train,
)
from smart0dte.commands.args import date_arg
from smart0dte.domain.calendar import (
    DEFAULT_FLATTEN_MINUTES_BEFORE_CLOSE,
    MAX_FLATTEN_MINUTES_BEFORE_CLOSE,
    MarketCalendar,
    SessionTimes,
)
from smart0dte.domain.models import DomainError, Underlying


def calendar_report(calendar: MarketCalendar, day: date) -> dict[str, object]:
    """The session facts of `day` as JSON-ready values (New York times, ISO 8601)."""
    times = calendar.session(day)
    return {
        "date": day.isoformat(),
        "is_session": times is not None,
        "open_et": times.open_et.isoformat() if times else None,
        "close_et": times.close_et.isoformat() if times else None,
        "flatten_et": times.flatten_et.isoformat() if times else None,
        "early_close": times.early_close if times else False,
        "session_minutes": times.minutes if times else 0,
        "expiries_0dte": [u.value for u in Underlying.tradable() if calendar.has_0dte_expiry(u, day)],
    }


def _describe(times: SessionTimes | None, day: date) -> str:
    if times is None:
        return f"{day.isoformat()}: market closed"
    early = " (early close)" if times.early_close else ""
    return (
        f"{day.isoformat()}: open {times.open_et:%H:%M}, close {times.close_et:%H:%M}{early}, "
        f"flatten {times.flatten_et:%H:%M} New York"
    )


def _flatten_minutes(text: str) -> int:
    value = int(text) if text.isdigit() else -1
    if not 0 <= value <= MAX_FLATTEN_MINUTES_BEFORE_CLOSE:
        raise argparse.ArgumentTypeError(
            f"--flatten-minutes={text!r} must be an integer within 0..{MAX_FLATTEN_MINUTES_BEFORE_CLOSE}"
        )
    return value


def _cmd_version(_: argparse.Namespace) -> int:
    print(f"smart0dte {__version__}")
    return 0


def _cmd_calendar(args: argparse.Namespace) -> int:
    calendar = MarketCalendar(flatten_minutes_before_close=args.flatten_minutes)
    report = calendar_report(calendar, args.date)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_describe(calendar.session(args.date), args.date))
        print(f"0DTE expiries: {', '.join(report['expiries_0dte']) or 'none'}")  # type: ignore[arg-type]
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smart0dte", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("version", help="print the version").set_defaults(run=_cmd_version)

    cal = commands.add_parser("calendar", help="NYSE session facts for a date")
    cal.add_argument("--date", type=date_arg("--date"), required=True, help="YYYY-MM-DD, 2020-2030")
    cal.add_argument(
        "--flatten-minutes",
        type=_flatten_minutes,
        default=DEFAULT_FLATTEN_MINUTES_BEFORE_CLOSE,
        help=f"minutes before close to flatten, 0..{MAX_FLATTEN_MINUTES_BEFORE_CLOSE} "
        f"(default {DEFAULT_FLATTEN_MINUTES_BEFORE_CLOSE})",
    )
    cal.add_argument("--json", action="store_true", help="machine-readable output")
    cal.set_defaults(run=_cmd_calendar)

    data = commands.add_parser("data", help="market data: generate synthetic sessions, show DBN files")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    data_generate.register(data_commands)
    data_show.register(data_commands)

    backtest.register(commands)
    train.register(commands)
    demo.register(commands)
    order_bridge.register(commands)
    feed.register(commands)
    chaos.register(commands)
    telegram.register(commands)
    cost.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
