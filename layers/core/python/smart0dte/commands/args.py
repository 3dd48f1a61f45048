"""Argument types and the progress bar the commands share."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date
from typing import TextIO

from smart0dte.domain.models import DomainError
from smart0dte.domain.simulator import MAX_SEED, Scenario


def date_arg(flag: str) -> Callable[[str], date]:
    """Parse YYYY-MM-DD; the error names the flag."""

    def parse(text: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}={text!r} must be a date as YYYY-MM-DD") from None

    return parse


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
