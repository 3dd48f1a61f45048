"""`smart0dte demo` played live: the dashboard is served before the day starts, then the day plays
on the replay clock at `--speed` market minutes per second while every signal, fill and trade is
printed as the handlers record it, and what you do on the dashboard (pause, emergency stop, close a
position) goes through the same API and lands between two steps of the day.

Progress goes to stderr: a status line redrawn in place on a terminal, plain lines otherwise.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, TextIO

from smart0dte.domain.calendar import NEW_YORK, SessionTimes

if TYPE_CHECKING:
    from smart0dte.local.clock import SimulatedClock
    from smart0dte.local.embedded import EmbeddedAws, ExecutionResult
    from smart0dte.local.http_server import ApiServer
    from smart0dte.local.replay import ReplayDay, ScheduledStart, Turns
    from smart0dte.local.summary import AuditFeed
    from smart0dte.ports.api import BacktestRunner

DEMO_WALL_S: Final = 300.0
"""The default pace plays the whole session in about this many wall-clock seconds."""
PLAIN_EVERY: Final = timedelta(minutes=30)
"""Off a terminal, a progress line every this much market time (and one per other workflow)."""
TOKEN_SUBJECT: Final = "trader"
USER_ACTOR: Final = f"user:{TOKEN_SUBJECT}"
"""Who the dashboard's actions are recorded as (the served token's subject)."""


def default_speed(session: SessionTimes) -> float:
    """Market minutes per wall-clock second that play `session` in about DEMO_WALL_S."""
    return session.minutes / DEMO_WALL_S


class DayProgress:
    """Where the day is. On a terminal, one status line on `status`, redrawn in place, with each
    event line printed above it on `out`; otherwise a plain line per PLAIN_EVERY of market time and
    per workflow other than the trading cycle."""

    def __init__(self, total: int, out: TextIO, status: TextIO, width: int = 30) -> None:
        self._total = total
        self._out = out
        self._status = status
        self._width = width
        self._tty = status.isatty()
        self._started = time.monotonic()
        self._done = 0
        self._line = ""
        self._next_plain: Any = None

    def event(self, line: str) -> None:
        if self._tty and self._line:
            self._status.write("\r\033[K")
            self._status.flush()
        print(line, file=self._out, flush=True)
        if self._tty and self._line:
            self._status.write(self._line)
            self._status.flush()

    def step(self, start: ScheduledStart, result: ExecutionResult) -> None:
        self._done += 1
        at = start.at.astimezone(NEW_YORK)
        elapsed_s = time.monotonic() - self._started
        what = f"{at:%H:%M} ET {start.state_machine} {result.status}"
        if self._tty:
            filled = self._width * self._done // max(self._total, 1)
            bar = "#" * filled + "." * (self._width - filled)
            self._line = f"\r[{bar}] {self._done}/{self._total} {what} {elapsed_s:5.1f}s"
            self._status.write("\r\033[K" + self._line.lstrip("\r"))
            self._status.flush()
            return
        if start.state_machine == "trading_cycle" and result.succeeded:
            if self._next_plain is not None and at < self._next_plain:
                return
            self._next_plain = at + PLAIN_EVERY
        print(f"progress {self._done}/{self._total}: {what} after {elapsed_s:.1f} s", file=self._status)
        self._status.flush()

    def close(self) -> None:
        if self._tty and self._line:
            self._status.write("\n")
            self._status.flush()
            self._line = ""


WORKFLOWS_PENDING: Final = (
    "the backtest workflow is still being created (the demo's first seconds); try again in a moment"
)


class BacktestsOnceCreated:
    """The API's backtest runner in the played-live demo, which serves before the embedded AWS
    creates its state machines: Step Functions once the backtest machine exists, until then a
    503 saying so (rather than a wait that would hold every other request's turn)."""

    def __init__(self, aws: EmbeddedAws) -> None:
        self._aws = aws
        self._runner: BacktestRunner | None = None

    def _ready(self) -> BacktestRunner:
        if self._runner is None:
            from smart0dte.adapters.aws.stepfunctions import StepFunctionsBacktests
            from smart0dte.services.api.shared import ApiError

            arn = self._aws.state_machine_arns.get("backtest")
            if arn is None:
                raise ApiError(503, WORKFLOWS_PENDING)
            self._runner = StepFunctionsBacktests(self._aws.client("stepfunctions"), arn)
        return self._runner

    def start(self, request: Mapping[str, object]) -> str:
        return self._ready().start(request)

    def status(self, run_id: str) -> Mapping[str, object] | None:
        return self._ready().status(run_id)

    def runs(self, limit: int) -> list[Mapping[str, object]]:
        return self._ready().runs(limit)

    def cancel(self, run_id: str, reason: str) -> None:
        self._ready().cancel(run_id, reason)


@dataclass
class LiveDay:
    """One played-live day's moving parts (see `play_live`)."""

    clock: SimulatedClock
    turns: Turns
    progress: DayProgress
    server: ApiServer | None = None
    token: str | None = None
    feed: AuditFeed | None = None

    def serve(self, aws: EmbeddedAws, day: ReplayDay, port: int) -> ApiServer:
        """The dashboard and the real API on `aws`, on the replay's clock, taking the replay's turns.
        Served once the stores exist (see `BacktestsOnceCreated` for the workflows)."""
        from smart0dte.adapters.aws.scheduler import ScheduleGroupReader
        from smart0dte.bootstrap.aws import object_store
        from smart0dte.local.http_server import serve
        from smart0dte.local.summary import AuditFeed
        from smart0dte.resources import REPO_ROOT, REPORTS_BUCKET
        from smart0dte.services.api import ApiDeps

        deps = ApiDeps(
            store_factory=aws.state_store,
            clock=self.clock,
            backtests=BacktestsOnceCreated(aws),
            reports=object_store(aws.config, REPORTS_BUCKET, aws.client("s3")),
            schedules=ScheduleGroupReader(aws.client("scheduler"), aws.config.prefix),
        )
        clock = self.clock
        self.server = serve(
            port,
            REPO_ROOT / "web" / "dist",
            deps=deps,
            turn=self.turns.turn,
            clock_rate=lambda: clock.rate,
        )
        self.token = self.server.issue_token(TOKEN_SUBJECT)
        self.feed = AuditFeed(aws.state_store(), day.session.session_date)
        return self.server

    def on_result(self, start: ScheduledStart, result: ExecutionResult) -> None:
        """After each step (inside its turn): what the handlers recorded, then the progress."""
        from smart0dte.local.summary import event_lines

        if self.feed is not None:
            for record in self.feed.new_records():
                for line in event_lines(record):
                    self.progress.event(line)
        self.progress.step(start, result)

    def close(self) -> None:
        self.progress.close()
        server, self.server = self.server, None  # no server from the moment it starts closing
        if server is not None:
            server.close()


def wait_for_interrupt(stop: threading.Event | None = None) -> None:
    """Block until Ctrl-C (or `stop` is set)."""
    with contextlib.suppress(KeyboardInterrupt):
        (stop or threading.Event()).wait()


ServedHook = Callable[[LiveDay], None]
"""Hears the served day (its server and token) before the first step plays."""
