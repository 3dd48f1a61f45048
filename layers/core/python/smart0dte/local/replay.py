"""Play one trading day on the embedded AWS, on a simulated clock, without sleeping.

The driver takes two roles of the live system:

- the gateway task's: at each minute end t it writes the bars that closed at t (SPY, QQQ, IWM,
  VIX) and the chain snapshots sampled at t into the market table through `DynamoState`, as the
  gateway writes them live; nothing stamped after t is written before t;
- the scheduler's and the feed's: pre_market at 08:00 New York, one trading_cycle per minute end
  from the open + 1 minute to the close (after that minute's data), flatten at the flatten time
  (after that minute's cycle, which the feed normally starts first), post_close at the close + 5
  minutes and learning at 17:00 (resources.SCHEDULES).

Each execution runs to its end before the clock moves on. If pre_market fails or says the day
is no session, the session's workflows are skipped, as they would be live (pre_market creates
them); learning still runs, being a recurring schedule.

The handlers' "now" is the driver's clock (`bootstrap.runtime.use_clock`) while the day plays.
Played live (a clock with a rate), each session minute lasts at least 1/rate of its 60 s: once a
minute's data is written the clock runs toward the next minute end while that minute's workflows
run, and stops there until the driver writes the next minute (it never shows an instant whose data
is not written yet). Before the open and after the close it jumps from start to start.

`turns`, when given, is held around each minute's writes and each execution: a served API that
takes the same turns acts between two steps of the day, never inside one (so a close or a pause
lands at a minute boundary and moto's tables are never read while a step writes them).
"""

from __future__ import annotations

import math
import threading
import time as wall
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final

from smart0dte.bootstrap.runtime import use_clock
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar, SessionTimes
from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.marketdata import MarketDay, datetime_to_ns
from smart0dte.domain.models import Bar, DomainError, TradingMode, Underlying
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.local.clock import SimulatedClock
from smart0dte.local.embedded import EmbeddedAws, ExecutionResult

MINUTE: Final = timedelta(minutes=1)
PRE_MARKET_ET: Final = time(8, 0)
POST_CLOSE_DELAY: Final = timedelta(minutes=5)
LEARNING_ET: Final = time(17, 0)
"""resources.SCHEDULES learning_weekday: cron(0 17 ? * MON-FRI *)."""
DEMO_ACTOR: Final = "user:demo"

PRE_MARKET = "pre_market"
TRADING_CYCLE = "trading_cycle"
FLATTEN = "flatten"
POST_CLOSE = "post_close"
LEARNING = "learning"
DAY_WORKFLOWS: Final = (PRE_MARKET, TRADING_CYCLE, FLATTEN, POST_CLOSE, LEARNING)


@dataclass(frozen=True, eq=False)
class ReplayDay:
    """One session's market data and the previous session's closes (what the gateway wrote then)."""

    session: SessionTimes
    market_day: MarketDay
    previous_close: Mapping[str, float] | None
    source: str


def simulated_day(
    session_date: date, *, scenario: Scenario, seed: int, calendar: MarketCalendar | None = None
) -> ReplayDay:
    """A synthetic session from the simulator, opening from its default levels (as the
    in-process demo's backtest does), so both paths see the same market."""
    session = _session(calendar or MarketCalendar(), session_date)
    simulated = MarketSimulator().day(session_date, seed=seed, scenario=scenario)
    previous = {u.value: level for u, level in simulated.previous.close_usd.items()}
    return ReplayDay(session, simulated.market_day, previous, f"simulator {scenario.value} seed {seed}")


def archived_day(data_dir: Path, session_date: date, calendar: MarketCalendar | None = None) -> ReplayDay:
    """A session from a DBN day folder (`smart0dte data generate` or a Databento download)."""
    from smart0dte.adapters.databento.historical import DbnFolderMarketData  # needs databento-dbn

    cal = calendar or MarketCalendar()
    session = _session(cal, session_date)
    source = DbnFolderMarketData(data_dir, cal)
    day = source.load_day(session_date)
    return ReplayDay(session, day, source.previous_close(session_date), f"DBN files in {data_dir}")


def _session(calendar: MarketCalendar, session_date: date) -> SessionTimes:
    session = calendar.session(session_date)
    if session is None:
        raise DomainError(f"date={session_date.isoformat()} is not an NYSE session")
    return session


@dataclass(frozen=True, slots=True)
class ScheduledStart:
    """One execution the scheduler starts: when (simulated), which state machine, with what input."""

    at: datetime
    state_machine: str
    input: Mapping[str, Any]


def _ts(instant: datetime) -> str:
    """ISO 8601 in New York time with its offset, e.g. 2025-03-14T09:31:00-04:00."""
    return instant.astimezone(NEW_YORK).isoformat()


def check_minutes(session: SessionTimes, minutes: int | None) -> None:
    if minutes is not None and not 1 <= minutes <= session.minutes:
        raise DomainError(f"minutes={minutes} must be within 1..{session.minutes} for {session.session_date}")


def day_schedule(
    session: SessionTimes, mode: TradingMode, minutes: int | None = None
) -> list[ScheduledStart]:
    """The day's starts in order. `minutes` replays only the first N minutes of trading cycles."""
    check_minutes(session, minutes)
    day = session.session_date
    day_input = {"mode": mode.value, "session_date": day.isoformat()}
    last_cycle = session.close_et
    if minutes is not None:
        last_cycle = min(last_cycle, session.open_et + minutes * MINUTE)
    starts = [ScheduledStart(datetime.combine(day, PRE_MARKET_ET, NEW_YORK), PRE_MARKET, day_input)]
    cycles: list[ScheduledStart] = []
    at = session.open_et + MINUTE
    while at <= last_cycle:
        cycles.append(ScheduledStart(at, TRADING_CYCLE, {"mode": mode.value, "ts": _ts(at)}))
        at += MINUTE
    through_flatten = sum(1 for c in cycles if c.at <= session.flatten_et)
    flatten = ScheduledStart(session.flatten_et, FLATTEN, {"mode": mode.value, "ts": _ts(session.flatten_et)})
    starts += [*cycles[:through_flatten], flatten, *cycles[through_flatten:]]
    starts.append(ScheduledStart(session.close_et + POST_CLOSE_DELAY, POST_CLOSE, day_input))
    learning_at = max(datetime.combine(day, LEARNING_ET, NEW_YORK), session.close_et + POST_CLOSE_DELAY)
    starts.append(ScheduledStart(learning_at, LEARNING, day_input))
    return starts


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A scheduled start and how its execution ended."""

    start: ScheduledStart
    result: ExecutionResult | None
    """None when the start was skipped (see ReplayReport.notes)."""


@dataclass(frozen=True)
class ReplayReport:
    session_date: date
    source: str
    runs: tuple[RunRecord, ...]
    bars_written: int
    snapshots_written: int
    notes: tuple[str, ...]
    elapsed_s: float
    """Wall-clock time of the replay."""
    data_end: datetime | None
    """The last minute end whose data was written (None: none was)."""

    @property
    def executions(self) -> dict[str, dict[str, int]]:
        """Per state machine: how many executions succeeded and failed (timed out, aborted)."""
        counts = {name: {"succeeded": 0, "failed": 0} for name in DAY_WORKFLOWS}
        for run in self.runs:
            if run.result is None:
                continue
            entry = counts.setdefault(run.start.state_machine, {"succeeded": 0, "failed": 0})
            entry["succeeded" if run.result.succeeded else "failed"] += 1
        return counts

    @property
    def failures(self) -> list[RunRecord]:
        return [r for r in self.runs if r.result is not None and not r.result.succeeded]


@dataclass
class _Gateway:
    """Writes each minute's closed bars and chain snapshots, never ahead of the clock."""

    day: MarketDay
    store: Any
    bars_written: dict[str, int] = field(default_factory=dict)
    rows_written: dict[Underlying, int] = field(default_factory=dict)
    last_close: dict[str, float] = field(default_factory=dict)
    bar_count: int = 0
    snapshot_count: int = 0

    def write_until(self, minute_end: datetime) -> None:
        ts_ns = datetime_to_ns(minute_end)
        for symbol, series in self.day.bars.items():
            closed = series.closed_by(ts_ns)
            for index in range(self.bars_written.get(symbol, 0), closed):
                values = (series.open[index], series.high[index], series.low[index], series.close[index])
                if all(math.isfinite(float(v)) and v > 0 for v in values):
                    self.store.put_bar(series.bar(index))
                    self.last_close[symbol] = float(series.close[index])
                    self.bar_count += 1
            self.bars_written[symbol] = closed
        for underlying, chain in self.day.chains.items():
            sampled = chain.sampled_by(ts_ns)
            price = self.last_close.get(underlying.value)
            for row in range(self.rows_written.get(underlying, 0), sampled):
                if price is not None:
                    self.store.put_chain_snapshot(chain.snapshot(row, price))
                    self.snapshot_count += 1
            self.rows_written[underlying] = sampled


class Turns:
    """A first-come, first-served lock: the replay driver and the served API take turns, and a
    request waits for at most the step in progress (a plain lock lets the driver take it again
    before a waiting request wakes)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()

    @contextmanager
    def turn(self) -> Iterator[None]:
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            self._cond.wait_for(lambda: self._queue[0] is ticket)
        try:
            yield
        finally:
            with self._cond:
                self._queue.popleft()
                self._cond.notify_all()


class ReplayDriver:
    """Plays `day` on `aws`: data minute by minute, workflows on schedule, on a simulated clock.

    `automation`, when given, is written as the settings before the day (as a human would
    switch automation on); `before_start` hears of every execution about to start (after its
    minute's data is written); `on_result` hears of every execution as it ends.
    """

    def __init__(
        self,
        aws: EmbeddedAws,
        day: ReplayDay,
        *,
        minutes: int | None = None,
        clock: SimulatedClock | None = None,
        automation: AutomationSettings | None = None,
        on_result: Callable[[ScheduledStart, ExecutionResult], None] | None = None,
        before_start: Callable[[ScheduledStart], None] | None = None,
        calendar: MarketCalendar | None = None,
        turns: Turns | None = None,
    ) -> None:
        self.aws = aws
        self.day = day
        self.minutes = minutes
        self.schedule = day_schedule(day.session, aws.mode, minutes)
        first = self.schedule[0].at - MINUTE
        self.clock = clock or SimulatedClock(first)
        self.automation = automation
        self.on_result = on_result
        self.before_start = before_start
        self.calendar = calendar or MarketCalendar()
        self.turns = turns
        session = day.session
        self.data_end = session.close_et if minutes is None else session.open_et + minutes * MINUTE

    def _turn(self) -> AbstractContextManager[None]:
        return nullcontext() if self.turns is None else self.turns.turn()

    def _seed_previous_close(self, store: Any) -> int:
        """The previous session's last bar per symbol, carrying its close, as the gateway wrote it."""
        if not self.day.previous_close:
            return 0
        previous = self.calendar.session(self.calendar.previous_session(self.day.session.session_date))
        if previous is None:  # pragma: no cover - previous_session returns a session
            return 0
        last_bar_open = previous.close_et - MINUTE
        written = 0
        for symbol, level in sorted(self.day.previous_close.items()):
            if math.isfinite(level) and level > 0:
                prices = {"open": level, "high": level, "low": level, "close": level}
                store.put_bar(Bar(symbol=symbol, ts=last_bar_open, volume=0, **prices))
                written += 1
        return written

    def run(self) -> ReplayReport:
        use_clock(self.clock)
        try:
            return self._run()
        finally:
            use_clock(None)

    def _run(self) -> ReplayReport:
        started = wall.perf_counter()
        store = self.aws.state_store()
        notes: list[str] = []
        gateway = _Gateway(self.day.market_day, store)
        with self._turn():
            if self.automation is not None:
                reason = "local replay: automation switched on"
                store.put_settings(self.automation, actor=DEMO_ACTOR, reason=reason, at=self.clock.now())
            seeded = self._seed_previous_close(store)
        minute_end = self.day.session.open_et + MINUTE
        runs: list[RunRecord] = []
        session_open = True
        data_end: datetime | None = None
        for start in self.schedule:
            while session_open and minute_end <= min(start.at, self.data_end):
                self.clock.wait_until(minute_end)
                with self._turn():
                    self.clock.advance_to(minute_end)
                    gateway.write_until(minute_end)
                data_end = minute_end
                minute_end += MINUTE
                if minute_end <= self.data_end:
                    self.clock.run_until(minute_end)
            self.clock.advance_to(start.at)
            if not session_open and start.state_machine != LEARNING:
                runs.append(RunRecord(start, None))
                continue
            if self.before_start is not None:
                self.before_start(start)
            with self._turn():
                result = self.aws.start_and_wait(start.state_machine, dict(start.input))
                runs.append(RunRecord(start, result))
                if self.on_result is not None:
                    self.on_result(start, result)
            if start.state_machine == PRE_MARKET:
                if not result.succeeded:
                    session_open = False
                    notes.append(
                        f"pre_market {result.status} ({result.task_error or result.error}): "
                        "the session's workflows were not started"
                    )
                elif isinstance(result.output, dict) and result.output.get("is_session") is False:
                    session_open = False
                    notes.append(
                        "pre_market says the market is closed: the session's workflows were not started"
                    )
        return ReplayReport(
            session_date=self.day.session.session_date,
            source=self.day.source,
            runs=tuple(runs),
            bars_written=gateway.bar_count + seeded,
            snapshots_written=gateway.snapshot_count,
            notes=tuple(notes),
            elapsed_s=wall.perf_counter() - started,
            data_end=data_end,
        )
