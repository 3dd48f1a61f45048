"""The gateway task's market-data half: the live feed's closed minutes into the market table, and one
trading_cycle per closed minute (what `local.replay` does on a simulated clock).

`LiveMarketFeed` calls its sink under its lock, so the sink here (`Feed.put`) only queues;
`Feed.run` takes the outputs off the queue on its own thread and:

- writes each `Bar` (`store.put_bar`) and each `ChainSnapshot` (`store.put_chain_snapshot`) as it
  arrives, bars first as the feed sends them, so the API's data-feed health (bar ages) stays current;
  only regular-session data is written: bars opening in [open, close), snapshots sampled in
  (open, close]. Pre-market and after-hours minutes would otherwise become "the last bar of the
  day" that the next pre_market reads as the prior close;
- logs `BarGap`, `QuotesExcluded`, `ChainSkipped` and the feed's connection events;
- starts the trading cycle for minute end E (E = bar open + 1 min = snapshot time) once, when

  1. complete: every expected underlying has its bar for the minute written, or a `BarGap` saying
     it had none, and its chain snapshot written, or a `ChainSkipped` saying why not. With a
     connected feed this happens a second or two after E (the feed closes quiet minutes itself
     `close_grace_s` after E); or
  2. at the deadline E + `grace_s` (default 10 s), when some of it is still missing - a dataset is
     disconnected, replaying after a reconnect, or lagging - provided at least one bar or
     snapshot of the minute was written: the cycle runs on what the store holds (the engine reads
     the latest data at or before E) and the minute is counted in `partial_cycles`, the missing
     symbols logged. A minute of which nothing was written is skipped (`skipped_no_data`): the
     engine would see only the previous minute again.

  A minute with a failed write (after `write_attempts` tries) gets no cycle at all (counted in
  `skipped_write_failure`): a cycle over data the store lacks is worse than none.

Cycles are started in minute order, for minute ends in [open + 1 min, close] only (the minutes a
backtest steps): from the flatten time on the engine asks for no signal and risk refuses entries, so
those cycles only mark, work orders and walk exits until every position is flat. Never for a
minute at or before the last one decided (started, skipped or failed), and never twice: repeated or
replayed outputs only rewrite the same items. Data arriving for a minute already decided is written
and changes nothing else.

Step Functions does not deduplicate asynchronous Express executions by name (a reused name starts
a second, concurrent execution), so this in-process rule is what prevents doubles; the trading
cycle itself also answers a minute it has already observed with its stored result, which covers a
task restart. Pure of AWS and vendor SDKs: the store, the cycle starter and the clock are injected,
and feed events are recognised by their class name.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from smart0dte.domain.aggregation import BarGap, ChainSkipped, QuotesExcluded
from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.models import Bar, ChainSnapshot, Underlying
from smart0dte.ports import Clock, MarketWriter

logger = logging.getLogger(__name__)

MINUTE: Final = timedelta(minutes=1)
DEFAULT_GRACE_S: Final = 10.0
DEFAULT_WRITE_ATTEMPTS: Final = 3
DEFAULT_RETRY_DELAY_S: Final = 0.25
DEFAULT_POLL_S: Final = 0.5
DEFAULT_REPORT_EVERY: Final = timedelta(minutes=5)

_EVENT_LEVELS: Final = {
    "Connected": logging.INFO,
    "Recovered": logging.INFO,
    "Disconnected": logging.WARNING,
    "Reconnecting": logging.WARNING,
    "Stale": logging.WARNING,
    "GatewayError": logging.WARNING,
    "ReconnectAbandoned": logging.ERROR,
}
"""databento_live's FeedEvents, by class name (importing them would import the vendor SDK)."""
_DOWN_EVENTS: Final = frozenset({"Disconnected", "Reconnecting", "Stale", "ReconnectAbandoned"})
_UP_EVENTS: Final = frozenset({"Connected", "Recovered"})
FATAL_EVENT: Final = "ReconnectAbandoned"


class Decision(StrEnum):
    STARTED = "STARTED"
    """The trading cycle was started for the minute end."""
    SKIPPED_WRITE_FAILURE = "SKIPPED_WRITE_FAILURE"
    SKIPPED_NO_DATA = "SKIPPED_NO_DATA"
    START_FAILED = "START_FAILED"
    """start_cycle raised on every attempt."""


@dataclass
class _Minute:
    """What arrived for the minute ending at the key."""

    bars: set[str] = field(default_factory=set)
    gaps: set[str] = field(default_factory=set)
    chains: set[Underlying] = field(default_factory=set)
    skipped_chains: set[Underlying] = field(default_factory=set)
    write_failed: bool = False
    decision: Decision | None = None

    @property
    def written(self) -> bool:
        return bool(self.bars or self.chains)


@dataclass
class FeedStats:
    """Counts for logs and monitoring; `last_bar_at` is the newest bar's open time written."""

    bars_written: int = 0
    snapshots_written: int = 0
    write_failures: int = 0
    """Items not written after every attempt."""
    write_retries: int = 0
    outside_session: int = 0
    """Bars and snapshots outside regular hours, not written."""
    unexpected_symbol: int = 0
    gaps: int = 0
    """Symbol-minutes without a bar (BarGap)."""
    chains_skipped: int = 0
    quotes_excluded: int = 0
    feed_events: int = 0
    cycles_started: int = 0
    partial_cycles: int = 0
    """Cycles started at the deadline with some of the minute missing."""
    skipped_write_failure: int = 0
    skipped_no_data: int = 0
    cycle_start_failures: int = 0
    last_bar_at: datetime | None = None
    last_cycle: datetime | None = None
    datasets_down: set[str] = field(default_factory=set)


class Feed:
    """Feed outputs -> market table writes and one trading_cycle start per closed minute.

    `symbols` are the underlyings whose bar and chain make a minute complete (SPY, QQQ, IWM: the
    feed's underlyings; Databento carries no VIX). `sleep` waits between write attempts.
    `heartbeat(healthy)` is called every `heartbeat_every` while `run` runs (the monitoring's
    dead man's switch).
    """

    def __init__(
        self,
        store: MarketWriter,
        start_cycle: Callable[[datetime], None],
        clock: Clock,
        session: SessionTimes,
        symbols: Sequence[Underlying],
        *,
        grace_s: float = DEFAULT_GRACE_S,
        write_attempts: int = DEFAULT_WRITE_ATTEMPTS,
        retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
        sleep: Callable[[float], None] = time.sleep,
        poll_s: float = DEFAULT_POLL_S,
        report_every: timedelta = DEFAULT_REPORT_EVERY,
        heartbeat: Callable[[bool], None] | None = None,
        heartbeat_every: timedelta = MINUTE,
    ) -> None:
        if not symbols:
            raise ValueError("symbols must name at least one underlying")
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"symbols={[s.value for s in symbols]} has duplicates")
        if not 0 < grace_s < 60:
            raise ValueError(f"grace_s={grace_s} must be > 0 and < 60 (a minute's cycle before the next's)")
        if write_attempts < 1:
            raise ValueError(f"write_attempts={write_attempts} must be >= 1")
        if retry_delay_s < 0 or poll_s <= 0:
            raise ValueError(f"retry_delay_s={retry_delay_s} must be >= 0 and poll_s={poll_s} > 0")
        self._store = store
        self._start_cycle = start_cycle
        self._clock = clock
        self._session = session
        self._symbols = tuple(symbols)
        self._tickers = frozenset(s.value for s in symbols)
        self._grace = timedelta(seconds=grace_s)
        self._attempts = write_attempts
        self._retry_delay_s = retry_delay_s
        self._sleep = sleep
        self._poll_s = poll_s
        self._report_every = report_every
        self._heartbeat = heartbeat
        self._heartbeat_every = heartbeat_every
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._minutes: dict[datetime, _Minute] = {}
        self._last_decided: datetime | None = None
        self._first_end = max(session.open_et + MINUTE, _floor_minute(clock.now()) + MINUTE)
        """The feed starts at the current minute: earlier minutes are not this task's to decide."""
        self._fatal: str | None = None
        self.stats = FeedStats()

    # --- the feed's side ------------------------------------------------------------------------

    def put(self, output: object) -> None:
        """The feed's sink: queue and return (it is called under the feed's lock)."""
        self._queue.put(output)

    @property
    def healthy(self) -> bool:
        """Alive and every dataset up: what the heartbeat reports (1, else 0)."""
        return self._fatal is None and not self.stats.datasets_down

    @property
    def fatal(self) -> str | None:
        """Why the feed gave up (a ReconnectAbandoned), None while it is alive."""
        return self._fatal

    @property
    def first_minute_end(self) -> datetime:
        return self._first_end

    @property
    def last_decided(self) -> datetime | None:
        """The last minute end whose cycle was started, skipped or failed."""
        return self._last_decided

    def decision(self, minute_end: datetime) -> Decision | None:
        minute = self._minutes.get(minute_end)
        return None if minute is None else minute.decision

    # --- the feed's thread ----------------------------------------------------------------------

    def run(self, stop: threading.Event, stop_at: datetime | None = None) -> FeedStats:
        """Process outputs until `stop` is set, `stop_at` passes or the feed gives up; then drain
        what is queued (writes and any cycle it completes) and return the counts."""
        next_report = self._clock.now() + self._report_every
        next_beat = self._clock.now()
        while not stop.is_set() and self._fatal is None:
            if stop_at is not None and self._clock.now() >= stop_at:
                break
            if self._heartbeat is not None and self._clock.now() >= next_beat:
                self._heartbeat(self.healthy)
                next_beat = self._clock.now() + self._heartbeat_every
            try:
                output = self._queue.get(timeout=self._poll_s)
            except queue.Empty:
                pass
            else:
                self.handle(output)
            self.check_deadlines()
            if self._clock.now() >= next_report:
                self.report()
                next_report = self._clock.now() + self._report_every
        self.drain()
        self.report()
        return self.stats

    def drain(self) -> int:
        """Handle everything queued now, then check the deadlines; returns how many were handled."""
        handled = 0
        while True:
            try:
                output = self._queue.get_nowait()
            except queue.Empty:
                break
            self.handle(output)
            handled += 1
        self.check_deadlines()
        return handled

    def report(self) -> None:
        s = self.stats
        logger.info(
            "feed: %d bar(s) and %d snapshot(s) written (last bar %s), %d cycle(s) started "
            "(%d partial, last %s), skipped %d for write failures and %d without data, %d start "
            "failure(s), %d write failure(s), %d gap minute(s), datasets down: %s",
            s.bars_written,
            s.snapshots_written,
            s.last_bar_at.isoformat() if s.last_bar_at else "none",
            s.cycles_started,
            s.partial_cycles,
            s.last_cycle.isoformat() if s.last_cycle else "none",
            s.skipped_write_failure,
            s.skipped_no_data,
            s.cycle_start_failures,
            s.write_failures,
            s.gaps,
            ", ".join(sorted(s.datasets_down)) or "none",
        )

    def handle(self, output: object) -> None:
        """Apply one feed output: write it, note it, and start the minute's cycle if it completes."""
        if isinstance(output, Bar):
            self._bar(output)
        elif isinstance(output, ChainSnapshot):
            self._snapshot(output)
        elif isinstance(output, BarGap):
            self._gap(output)
        elif isinstance(output, ChainSkipped):
            self._chain_skipped(output)
        elif isinstance(output, QuotesExcluded):
            self.stats.quotes_excluded += output.total
            logger.info(
                "%s chain at %s: %d contract(s) left out: %s",
                output.underlying.value,
                output.ts.isoformat(),
                output.total,
                _excluded_counts(output),
            )
        else:
            self._feed_event(output)

    def check_deadlines(self) -> None:
        """Decide every minute whose deadline (minute end + grace) the clock has passed."""
        now = self._clock.now()
        for minute_end in self._window_minutes(now - self._grace):
            self._decide_at_deadline(minute_end)

    # --- outputs --------------------------------------------------------------------------------

    def _bar(self, bar: Bar) -> None:
        if bar.symbol not in self._tickers:
            self.stats.unexpected_symbol += 1
            logger.warning(
                "bar of %s at %s: not one of %s; not written", bar.symbol, bar.ts, sorted(self._tickers)
            )
            return
        if not self._session.open_et <= bar.ts < self._session.close_et:
            self.stats.outside_session += 1
            logger.debug("bar of %s at %s: outside regular hours; not written", bar.symbol, bar.ts)
            return
        minute_end = bar.ts + timedelta(seconds=bar.interval_s)
        minute = self._minute(minute_end)
        if self._write(lambda: self._store.put_bar(bar), f"bar {bar.symbol} {bar.ts.isoformat()}"):
            self.stats.bars_written += 1
            if self.stats.last_bar_at is None or bar.ts > self.stats.last_bar_at:
                self.stats.last_bar_at = bar.ts
            minute.bars.add(bar.symbol)
        else:
            self._write_failed(minute_end, minute)
        self._maybe_start(minute_end)

    def _snapshot(self, snapshot: ChainSnapshot) -> None:
        label = f"chain {snapshot.underlying.value} {snapshot.ts.isoformat()}"
        if snapshot.underlying not in self._symbols:
            self.stats.unexpected_symbol += 1
            logger.warning("%s: not one of the expected underlyings; not written", label)
            return
        if not self._session.open_et < snapshot.ts <= self._session.close_et:
            self.stats.outside_session += 1
            logger.debug("%s: outside regular hours; not written", label)
            return
        minute = self._minute(snapshot.ts)
        if self._write(lambda: self._store.put_chain_snapshot(snapshot), label):
            self.stats.snapshots_written += 1
            minute.chains.add(snapshot.underlying)
        else:
            self._write_failed(snapshot.ts, minute)
        self._maybe_start(snapshot.ts)

    def _gap(self, gap: BarGap) -> None:
        self.stats.gaps += gap.minutes
        logger.warning("no bar of %s for %d minute(s) from %s", gap.symbol, gap.minutes, gap.ts.isoformat())
        if gap.symbol not in self._tickers:
            return
        ends = [gap.ts + (k + 1) * MINUTE for k in range(gap.minutes)]
        for minute_end in ends:
            self._minute(minute_end).gaps.add(gap.symbol)
        for minute_end in ends:
            self._maybe_start(minute_end)

    def _chain_skipped(self, skipped: ChainSkipped) -> None:
        self.stats.chains_skipped += 1
        logger.warning(
            "no %s chain snapshot at %s: %s", skipped.underlying.value, skipped.ts.isoformat(), skipped.reason
        )
        if skipped.underlying in self._symbols:
            self._minute(skipped.ts).skipped_chains.add(skipped.underlying)
            self._maybe_start(skipped.ts)

    def _feed_event(self, event: object) -> None:
        name = type(event).__name__
        dataset = str(getattr(event, "dataset", "?"))
        self.stats.feed_events += 1
        level = _EVENT_LEVELS.get(name, logging.WARNING)
        details = {k: v for k, v in getattr(event, "__dict__", {}).items() if k not in ("dataset", "ts")}
        logger.log(level, "feed %s: %s %s", dataset, name, details or "")
        if name in _DOWN_EVENTS:
            self.stats.datasets_down.add(dataset)
        elif name in _UP_EVENTS:
            self.stats.datasets_down.discard(dataset)
        if name == FATAL_EVENT:
            self._fatal = f"{dataset}: {details.get('reason', 'reconnecting abandoned')}"

    # --- writes ---------------------------------------------------------------------------------

    def _write(self, write: Callable[[], None], label: str) -> bool:
        """`write` with up to `write_attempts` tries; False (logged) when every one failed."""
        for attempt in range(1, self._attempts + 1):
            try:
                write()
            except Exception as exc:
                if attempt == self._attempts:
                    self.stats.write_failures += 1
                    logger.error("%s: not written after %d attempt(s): %s", label, attempt, _describe(exc))
                    return False
                self.stats.write_retries += 1
                logger.warning("%s: write attempt %d failed: %s; retrying", label, attempt, _describe(exc))
                self._sleep(self._retry_delay_s * 2 ** (attempt - 1))
            else:
                return True
        return False  # pragma: no cover - the loop returns

    def _write_failed(self, minute_end: datetime, minute: _Minute) -> None:
        minute.write_failed = True
        if self._in_window(minute_end) and self._undecided(minute_end):
            self._settle_before(minute_end)
            self._decide(minute_end, minute, Decision.SKIPPED_WRITE_FAILURE)

    # --- cycles ---------------------------------------------------------------------------------

    def _minute(self, minute_end: datetime) -> _Minute:
        minute = self._minutes.get(minute_end)
        if minute is None:
            minute = self._minutes[minute_end] = _Minute()
        return minute

    def _in_window(self, minute_end: datetime) -> bool:
        return self._first_end <= minute_end <= self._session.close_et

    def _undecided(self, minute_end: datetime) -> bool:
        return self._last_decided is None or minute_end > self._last_decided

    def _complete(self, minute: _Minute) -> bool:
        bars = all(t in minute.bars or t in minute.gaps for t in self._tickers)
        chains = all(u in minute.chains or u in minute.skipped_chains for u in self._symbols)
        return bars and chains

    def _maybe_start(self, minute_end: datetime) -> None:
        if not (self._in_window(minute_end) and self._undecided(minute_end)):
            return
        minute = self._minutes[minute_end]
        if not self._complete(minute):
            return
        self._settle_before(minute_end)
        if minute.write_failed:  # pragma: no cover - a failed write decides the minute at once
            self._decide(minute_end, minute, Decision.SKIPPED_WRITE_FAILURE)
        elif not minute.written:
            self._decide(minute_end, minute, Decision.SKIPPED_NO_DATA)
        else:
            self._start(minute_end, minute, partial=False)

    def _decide_at_deadline(self, minute_end: datetime) -> None:
        minute = self._minute(minute_end)
        if minute.write_failed:
            self._decide(minute_end, minute, Decision.SKIPPED_WRITE_FAILURE)
        elif not minute.written:
            self._decide(minute_end, minute, Decision.SKIPPED_NO_DATA)
        else:
            self._start(minute_end, minute, partial=not self._complete(minute))

    def _settle_before(self, minute_end: datetime) -> None:
        """Decide every undecided minute before `minute_end` first, so cycles go in minute order."""
        for earlier in self._window_minutes(minute_end - MINUTE):
            self._decide_at_deadline(earlier)

    def _window_minutes(self, through: datetime) -> Iterable[datetime]:
        """Undecided minute ends in the window up to `through`, oldest first."""
        start = self._first_end if self._last_decided is None else self._last_decided + MINUTE
        last = min(through, self._session.close_et)
        minute_end = start
        while minute_end <= last:
            yield minute_end
            minute_end += MINUTE

    def _start(self, minute_end: datetime, minute: _Minute, *, partial: bool) -> None:
        if partial:
            missing_bars = sorted(self._tickers - minute.bars - minute.gaps)
            missing_chains = sorted(
                u.value for u in set(self._symbols) - minute.chains - minute.skipped_chains
            )
            logger.warning(
                "minute ending %s incomplete after %.0f s (no bar yet: %s; no chain yet: %s): "
                "starting the trading cycle on what is stored",
                minute_end.isoformat(),
                self._grace.total_seconds(),
                ", ".join(missing_bars) or "-",
                ", ".join(missing_chains) or "-",
            )
        for attempt in range(1, self._attempts + 1):
            try:
                self._start_cycle(minute_end)
            except Exception as exc:
                if attempt == self._attempts:
                    logger.error(
                        "trading cycle for %s not started after %d attempt(s): %s",
                        minute_end.isoformat(),
                        attempt,
                        _describe(exc),
                    )
                    self._decide(minute_end, minute, Decision.START_FAILED)
                    return
                logger.warning("trading cycle for %s: start attempt %d failed: %s", minute_end, attempt, exc)
                self._sleep(self._retry_delay_s * 2 ** (attempt - 1))
            else:
                break
        if partial:
            self.stats.partial_cycles += 1
        self.stats.last_cycle = minute_end
        self._decide(minute_end, minute, Decision.STARTED)

    def _decide(self, minute_end: datetime, minute: _Minute, decision: Decision) -> None:
        minute.decision = decision
        self._last_decided = minute_end
        if decision is Decision.STARTED:
            self.stats.cycles_started += 1
            logger.info("trading cycle started for the minute ending %s", minute_end.isoformat())
        elif decision is Decision.SKIPPED_WRITE_FAILURE:
            self.stats.skipped_write_failure += 1
            logger.error("no trading cycle for the minute ending %s: a write failed", minute_end.isoformat())
        elif decision is Decision.SKIPPED_NO_DATA:
            self.stats.skipped_no_data += 1
            logger.error(
                "no trading cycle for the minute ending %s: no data was written", minute_end.isoformat()
            )
        else:
            self.stats.cycle_start_failures += 1
        for old in [m for m in self._minutes if m < minute_end - 10 * MINUTE]:
            del self._minutes[old]


def _floor_minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


def _excluded_counts(excluded: QuotesExcluded) -> str:
    names = ("no_quote", "one_sided", "nonpositive", "no_bid", "crossed", "locked")
    return ", ".join(f"{n} {getattr(excluded, n)}" for n in names if getattr(excluded, n))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


__all__: Sequence[str] = ("Decision", "Feed", "FeedStats")
