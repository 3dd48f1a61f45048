"""`smart0dte demo` played live with the real handlers and workflows: the API answers while the day
plays (the clock moves, a position is open mid-day), the played-live day trades exactly as the
`--no-serve` one does, a position can be closed mid-trade through the API (and the summary says the
result changed), and progress off a terminal is plain lines.

The day: gap_up seed 1, the first 25 minutes of trading cycles (then flatten, post_close and
learning at their times): one trade, SPY 583P x13 09:46-09:51 (decided 09:45, bought at the
next minute's quote). A high --speed, so the pace never
waits on the handlers and the test costs what the replay costs.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import pytest

from smart0dte.cli import main
from smart0dte.commands import demo
from smart0dte.commands.demo_live import LiveDay
from smart0dte.domain.calendar import NEW_YORK

pytestmark = pytest.mark.slow

DAY = ["--scenario", "gap_up", "--seed", "1", "--minutes", "25"]
SPEED = 60.0
TRADE = re.compile(r"^\d\d:\d\d-\d\d:\d\d TRADE .*$", re.MULTILINE)
POLL_S = 0.05


def _request(live: LiveDay, path: str, body: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
    assert live.server is not None
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        live.server.url + path,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {live.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response), dict(response.headers.items())


@dataclass
class Watcher:
    """Polls /api/dashboard while the day plays; with `close`, closes the first open position."""

    close: bool = False
    seen: list[tuple[datetime, int, str | None]] = field(default_factory=list)
    closed: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def start(self, live: LiveDay) -> None:
        threading.Thread(target=self._run, args=(live,), daemon=True).start()

    def _run(self, live: LiveDay) -> None:
        while live.server is not None:
            try:
                dash, headers = _request(live, "/api/dashboard")
                positions = dash["openPositions"]
                now = datetime.fromisoformat(dash["market"]["nowEt"])
                self.seen.append((now, len(positions), headers.get("X-Clock-Rate")))
                if self.close and positions and not self.closed:
                    position_id = positions[0]["positionId"]
                    self.closed.append(
                        _request(live, f"/api/positions/{position_id}/close", {"reason": "test"})[0]
                    )
            except urllib.error.HTTPError as exc:  # 503 once closing has begun is the server's answer
                if live.server is not None or exc.code != 503:
                    self.errors.append(f"{exc}: {exc.read()[:500]!r}")
            except OSError as exc:  # the server closes when the day ends
                if live.server is not None:
                    self.errors.append(repr(exc))
            time.sleep(POLL_S)


def _play(monkeypatch: pytest.MonkeyPatch, watcher: Watcher) -> int:
    monkeypatch.setattr(demo, "play_live", partial(demo.play_live, on_served=watcher.start, stay=False))
    return main(["demo", *DAY, "--speed", f"{SPEED:g}", "--port", "0"])


def test_the_day_plays_live_while_served_and_trades_as_the_no_serve_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    watcher = Watcher()
    assert _play(monkeypatch, watcher) == 0
    live = capsys.readouterr()
    assert main(["demo", *DAY, "--no-serve"]) == 0
    fast = capsys.readouterr()

    assert watcher.errors == []
    clock = [now for now, _, _ in watcher.seen]
    assert clock == sorted(clock) and len({c for c in clock if c.hour == 9 and c.minute > 30}) >= 5
    assert any(open_ > 0 for now, open_, _ in watcher.seen if now.hour < 16)  # a position open mid-day
    assert {rate for _, _, rate in watcher.seen} == {f"{SPEED * 60:g}"}
    # Printed as it happened, then in the summary; the same trades as the run that never waits.
    assert "09:46 FILL BUY 13 SPY   250314P00583000 @ 1.35" in live.out
    assert TRADE.findall(live.out) == TRADE.findall(fast.out) != []
    assert "You acted" not in live.out
    # Off a terminal, progress is plain lines (a few for the cycles, one per other workflow).
    progress = [line for line in live.err.splitlines() if line.startswith("progress ")]
    assert progress[0].startswith("progress 1/29: 08:00 ET pre_market SUCCEEDED")
    assert progress[-1].startswith("progress 29/29: 17:00 ET learning SUCCEEDED")
    assert 5 <= len(progress) < 29
    assert any(line.startswith("progress ") for line in fast.err.splitlines())


def test_a_position_closed_mid_trade_through_the_api_changes_the_day_and_the_summary_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    watcher = Watcher(close=True)
    assert _play(monkeypatch, watcher) == 0
    out = capsys.readouterr().out

    assert watcher.errors == []
    [closed] = watcher.closed
    assert closed["status"] == "closed"
    at = datetime.fromisoformat(closed["position"]["closedAt"]).astimezone(NEW_YORK).strftime("%H:%M")
    assert f"{at} user:trader PositionCloseRequested: manual close: test" in out
    [trade] = TRADE.findall(out)
    assert trade.startswith(f"09:46-{at} TRADE SPY   250314P00583000 x13 1.35 -> ")
    assert at < "09:51"  # before the take profit the untouched day exits at
    assert "(manual close: test)" in trade
    assert "You acted 1 time(s) during the day, which changes its result:" in out
    assert "`smart0dte demo --no-serve` plays the same day untouched." in out
