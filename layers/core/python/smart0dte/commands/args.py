"""Argument types and the progress bar the commands share."""

from __future__ import annotations

import argparse
import calendar
import re
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import TextIO

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.models import DomainError
from smart0dte.domain.simulator import MAX_SEED, Scenario

_YYYY_MM_DD = re.compile(r"(\d{4})-(\d{2})-\d{2}")


def date_arg(flag: str) -> Callable[[str], date]:
    """Parse YYYY-MM-DD; the error names the flag, and for a well-formed date that does not exist
    (2025-02-30, 2025-13-01) says which part is out of range."""

    def parse(text: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        if (shape := _YYYY_MM_DD.fullmatch(text)) is None:
            raise argparse.ArgumentTypeError(f"{flag}={text!r} must be a date as YYYY-MM-DD")
        year, month = (int(part) for part in shape.groups())
        if year < 1:
            raise argparse.ArgumentTypeError(f"{flag}={text!r} is not a valid day: year 0 does not exist")
        if not 1 <= month <= 12:
            raise argparse.ArgumentTypeError(
                f"{flag}={text!r} is not a valid day: month {month} is not 1..12"
            )
        days_in_month = calendar.monthrange(year, month)[1]
        raise argparse.ArgumentTypeError(
            f"{flag}={text!r} is not a valid day: {calendar.month_name[month]} {year} has days "
            f"1..{days_in_month}"
        )

    return parse


def check_range(start: date, end: date) -> None:
    """Refuse --start after --end, naming both flags."""
    if start > end:
        raise DomainError(f"--start={start.isoformat()} is after --end={end.isoformat()}")


def missing_sessions_text(missing: Sequence[date], start: date, end: date) -> str:
    """The NYSE sessions from start to end that `missing` lists, runs of consecutive sessions
    written first..last: "3 session(s) missing: 2025-03-12, 2025-03-17..2025-03-18"."""
    absent = set(missing)
    runs: list[list[date]] = []
    previous_absent = False
    for session in MarketCalendar().sessions_between(start, end):
        if session in absent:
            if previous_absent:
                runs[-1].append(session)
            else:
                runs.append([session])
        previous_absent = session in absent
    spans = [
        run[0].isoformat() if len(run) == 1 else f"{run[0].isoformat()}..{run[-1].isoformat()}"
        for run in runs
    ]
    return f"{len(absent)} session(s) missing: {', '.join(spans)}"


def scenario_arg(text: str) -> Scenario:
    try:
        return Scenario.parse(text)
    except DomainError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("scenario=", "--scenario=", 1)) from None


def seed_arg(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"--seed={text!r} must be an integer within 0..{MAX_SEED}")
    return seed


class ProgressBar:
    """A one-line progress bar on a terminal; silent when the stream is not one (logs, pipes)."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self._total = total
        self._stream = stream
        self._width = width
        self._enabled = total > 1 and stream.isatty()
        self._started = time.monotonic()

    def update(self, done: int, label: str) -> None:
        if not self._enabled:
            return
        filled = self._width * done // self._total
        elapsed_s = time.monotonic() - self._started
        bar = "#" * filled + "." * (self._width - filled)
        self._stream.write(f"\r[{bar}] {done}/{self._total} {label} {elapsed_s:5.1f}s")
        self._stream.flush()

    def close(self) -> None:
        if self._enabled:
            self._stream.write("\n")
            self._stream.flush()
