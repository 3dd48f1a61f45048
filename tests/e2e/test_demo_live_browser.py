"""`smart0dte demo` played live, watched and acted on in a real browser: the command itself runs
(a fresh process: the embedded AWS, the real handlers and workflows, the real API), the dashboard
shows its clock moving and a position's mark moving while the day plays, the position is closed
mid-trade with the Trading page's Close button, and the terminal's summary then says the result
changed.

The day: gap_up seed 1, the first 20 minutes of trading cycles (then flatten, post_close and
learning at their times): SPY 583P x13 decided at 09:45 and bought at 09:46's quote, which the
untouched day holds to the close: its data ends at 09:50, so no fresh quote is there to sell into
at the flatten and it settles at expiry (`demo --no-serve`: "09:46-16:00 TRADE ...
(EXPIRY_SETTLEMENT)"); the clock jumps from 09:50 to the flatten. At SPEED market minutes per
second the entry comes about 15 s after the open and stays open at least 5 s (longer when the
handlers are slower than the pace), several of the page's polls (one per market minute, at least
1 s apart).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DAY = ["--scenario", "gap_up", "--seed", "1", "--minutes", "20"]
SPEED = 1.0
"""Market minutes per wall-clock second."""
CONTRACT = "SPY   250314P00583000"
DASHBOARD = re.compile(r"^Dashboard: (http://127\.0\.0\.1:\d+/\?token=\S+)$")
TRADE = re.compile(r"^09:46-(\d\d:\d\d) TRADE SPY   250314P00583000 x13 1\.35 -> .*$")
STARTED_S = 60.0
"""How long the command may take to serve (the issue's target is 15 s; this is only a hang guard)."""
PLAYED_S = 120.0
"""How long the short day may take to play out on a loaded machine (a hang guard)."""


@dataclass
class Demo:
    """The running command, its output collected line by line."""

    process: subprocess.Popen[str]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def read(self) -> None:
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._drain, args=(stream, lines), daemon=True).start()

    def _drain(self, stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self.changed:
                lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout_s: float) -> re.Match[str]:
        """The first stdout line matching `pattern`, waiting for it."""
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while True:
                found = next((m for m in map(pattern.match, self.out) if m is not None), None)
                if found is not None:
                    return found
                left_s = deadline - time.monotonic()
                if left_s <= 0 or self.process.poll() is not None:
                    tail = "\n".join(self.out[-20:] + self.err[-20:])
                    pytest.fail(f"no line like {pattern.pattern!r} (exit {self.process.poll()}):\n{tail}")
                self.changed.wait(min(left_s, 0.5))


@pytest.fixture
def demo(web_dist: Path) -> Iterator[Demo]:
    command = [sys.executable, "-m", "smart0dte.cli", "demo", *DAY, "--speed", f"{SPEED:g}", "--port", "0"]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Demo(process)
    running.read()
    try:
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_played_live_demo_moves_in_the_browser_and_a_position_closed_there_changes_the_day(
    demo: Demo, page
) -> None:  # type: ignore[no-untyped-def]
    url = demo.wait_for(DASHBOARD, STARTED_S).group(1)
    page.goto(f"{url}#/dashboard")

    # The clock: the day starts before the open, then the market opens and the countdown runs.
    phase = page.get_by_test_id("market-phase")
    expect(phase).to_have_text(re.compile("OVERNIGHT|PRE MARKET"))
    expect(phase).to_have_text("TRADING", timeout=PLAYED_S * 1000)
    countdown = page.get_by_test_id("countdown")
    before = countdown.inner_text()
    expect(countdown).not_to_have_text(before)

    # A position opens while the day plays, and its mark moves.
    page.get_by_role("link", name="Trading", exact=True).click()
    positions = page.get_by_test_id("positions-table")
    row = positions.locator("tr", has_text=CONTRACT)
    expect(row).to_be_visible(timeout=PLAYED_S * 1000)
    first = row.inner_text()
    expect(row).not_to_have_text(first)

    # Closed mid-trade from the page.
    row.get_by_role("button", name="Close").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("trading-flash")).to_contain_text("closed at")
    expect(positions).to_contain_text("No open positions.")

    # The terminal: the trade ends at the close, before the data ends, and the summary says so.
    exited = demo.wait_for(TRADE, PLAYED_S).group(0)
    demo.wait_for(re.compile(r"^The day is over; the dashboard stays up"), PLAYED_S)
    out = "\n".join(demo.out)
    assert "(manual close: closed from dashboard)" in exited
    assert exited[6:11] <= "09:50"  # mid-trade: the untouched day settles at 16:00
    assert "You acted 1 time(s) during the day, which changes its result:" in out
    assert "PositionCloseRequested: manual close: closed from dashboard" in out
    assert "Open positions at the close: 0" in out
