"""Feed: feed outputs -> market writes and one trading_cycle start per closed minute; and the
`smart0dte feed` command's helpers. A fake store, a recording start_cycle, a hand-moved clock."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from smart0dte.adapters.aws import stepfunctions
from smart0dte.adapters.databento.live import Connected, Disconnected, ReconnectAbandoned, Stale
from smart0dte.bootstrap import feed as feed_parts
from smart0dte.cli import main
from smart0dte.commands import feed as feed_command
from smart0dte.domain.aggregation import BarGap, ChainSkipped, QuotesExcluded
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar, SessionTimes
from smart0dte.domain.models import Bar, ChainSnapshot, DomainError, TradingMode, Underlying
from smart0dte.resources import ENV_DATABENTO_API_KEY, state_machine_arn_env
from smart0dte.services.feed import Decision, Feed

DAY = date(2025, 3, 14)


def _session() -> SessionTimes:
    session = MarketCalendar().session(DAY)
    assert session is not None
    return session


SESSION = _session()
SYMBOLS = (Underlying.SPY, Underlying.QQQ, Underlying.IWM)
MINUTE = timedelta(minutes=1)
PRICES = {"SPY": 560.0, "QQQ": 480.0, "IWM": 205.0}


def et(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2025, 3, 14, hour, minute, second, tzinfo=NEW_YORK)


START = et(10, 30, 5)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.ts = now

    def now(self) -> datetime:
        return self.ts


class FakeStore:
    """Records writes; `fail(pred, times)` makes matching writes raise `times` times (-1: always)."""

    def __init__(self) -> None:
        self.bars: list[Bar] = []
        self.snapshots: list[ChainSnapshot] = []
        self._failures: list[tuple[Callable[[Any], bool], int]] = []

    def fail(self, predicate: Callable[[Any], bool], times: int = -1) -> None:
        self._failures.append((predicate, times))

    def _maybe_fail(self, item: Any) -> None:
        for index, (predicate, times) in enumerate(self._failures):
            if times != 0 and predicate(item):
                self._failures[index] = (predicate, times - 1)
                raise ConnectionError("DynamoDB throttled")

    def put_bar(self, bar: Bar) -> None:
        self._maybe_fail(bar)
        self.bars.append(bar)

    def put_chain_snapshot(self, snapshot: ChainSnapshot) -> None:
        self._maybe_fail(snapshot)
        self.snapshots.append(snapshot)


class Rig:
    def __init__(self, start: datetime = START, session: SessionTimes = SESSION, **kwargs: Any) -> None:
        self.clock = FakeClock(start)
        self.store = FakeStore()
        self.cycles: list[datetime] = []
        self.sleeps: list[float] = []
        self.cycle_error: Exception | None = None
        self.pump = Feed(
            self.store,
            self._start,
            self.clock,
            session,
            SYMBOLS,
            sleep=self.sleeps.append,
            **{"poll_s": 0.01, **kwargs},
        )

    def _start(self, minute_end: datetime) -> None:
        if self.cycle_error is not None:
            raise self.cycle_error
        self.cycles.append(minute_end)

    def at(self, ts: datetime) -> None:
        self.clock.ts = ts
        self.pump.check_deadlines()

    def send(self, *outputs: object) -> None:
        for output in outputs:
            self.pump.handle(output)

    def minute(
        self, end: datetime, *, bars: tuple[str, ...] = ("SPY", "QQQ", "IWM"), chains: bool = True
    ) -> None:
        """The feed's outputs for the minute ending at `end`, at end + 1 s: bars, then snapshots."""
        self.clock.ts = end + timedelta(seconds=1)
        self.send(*(bar(s, end - MINUTE) for s in bars))
        if chains:
            self.send(*(snapshot(u, end) for u in SYMBOLS))
        self.pump.check_deadlines()


def bar(symbol: str, open_at: datetime) -> Bar:
    price = PRICES[symbol]
    return Bar(
        symbol=symbol,
        ts=open_at.astimezone(UTC),
        open=price,
        high=price + 1,
        low=price - 1,
        close=price,
        volume=10,
    )


def snapshot(underlying: Underlying, at: datetime) -> ChainSnapshot:
    return ChainSnapshot(
        underlying=underlying,
        ts=at.astimezone(UTC),
        expiry=DAY,
        underlying_price=PRICES[underlying.value],
        quotes=(),
    )


# --- complete minutes ----------------------------------------------------------------------------


def test_each_complete_minute_starts_one_cycle_in_order() -> None:
    rig = Rig()
    assert rig.pump.first_minute_end == et(10, 31)
    for end in (et(10, 31), et(10, 32), et(10, 33)):
        rig.minute(end)

    assert rig.cycles == [et(10, 31), et(10, 32), et(10, 33)]
    assert len(rig.store.bars) == 9 and len(rig.store.snapshots) == 9
    stats = rig.pump.stats
    assert (stats.cycles_started, stats.partial_cycles, stats.last_cycle) == (3, 0, et(10, 33))
    assert stats.last_bar_at == et(10, 32)


def test_no_cycle_until_every_symbols_bar_and_chain_is_in() -> None:
    rig = Rig()
    rig.minute(et(10, 31), bars=("SPY", "QQQ"))
    assert rig.cycles == []
    rig.send(bar("IWM", et(10, 30)))
    assert rig.cycles == [et(10, 31)]

    rig.minute(et(10, 32), chains=False)
    rig.send(snapshot(Underlying.SPY, et(10, 32)), snapshot(Underlying.QQQ, et(10, 32)))
    assert rig.cycles == [et(10, 31)]
    rig.send(snapshot(Underlying.IWM, et(10, 32)))
    assert rig.cycles == [et(10, 31), et(10, 32)]


def test_a_gap_or_skipped_chain_from_the_feed_completes_the_minute_without_waiting() -> None:
    rig = Rig()
    rig.minute(et(10, 31), bars=("SPY", "QQQ"), chains=False)
    rig.send(BarGap("IWM", et(10, 30).astimezone(UTC), 1))
    rig.send(snapshot(Underlying.SPY, et(10, 31)), snapshot(Underlying.QQQ, et(10, 31)))
    rig.send(ChainSkipped(Underlying.IWM, et(10, 31).astimezone(UTC), "no underlying price"))
    rig.send(QuotesExcluded(Underlying.SPY, et(10, 31).astimezone(UTC), crossed=2))

    assert rig.cycles == [et(10, 31)]
    stats = rig.pump.stats
    assert (stats.partial_cycles, stats.gaps, stats.chains_skipped, stats.quotes_excluded) == (0, 1, 1, 2)


def test_a_silent_symbol_starts_the_cycle_at_the_grace_deadline_as_partial() -> None:
    rig = Rig(grace_s=10.0)
    rig.minute(et(10, 31), bars=("SPY", "QQQ"))  # IWM silent: no bar, no gap (its dataset lags)
    rig.at(et(10, 31, 9))
    assert rig.cycles == []
    rig.at(et(10, 31, 10))
    assert rig.cycles == [et(10, 31)]
    assert rig.pump.stats.partial_cycles == 1

    rig.send(bar("IWM", et(10, 30)))  # arrives late: written, no second cycle
    assert rig.cycles == [et(10, 31)]
    assert [b.symbol for b in rig.store.bars] == ["SPY", "QQQ", "IWM"]


def test_a_minute_of_which_nothing_was_written_gets_no_cycle() -> None:
    rig = Rig()
    rig.minute(et(10, 31))
    rig.at(et(10, 34, 30))  # both datasets down for three minutes
    assert rig.cycles == [et(10, 31)]
    assert rig.pump.stats.skipped_no_data == 3
    assert rig.pump.decision(et(10, 32)) is Decision.SKIPPED_NO_DATA

    rig.minute(et(10, 32))  # replayed after the reconnect: written, but its minute is decided
    assert rig.cycles == [et(10, 31)]
    rig.minute(et(10, 35))
    assert rig.cycles == [et(10, 31), et(10, 35)]


def test_cycles_stay_in_minute_order_when_a_later_minute_completes_first() -> None:
    rig = Rig()
    rig.minute(et(10, 31), bars=("SPY",), chains=False)  # incomplete, deadline not reached
    rig.clock.ts = et(10, 31, 3)
    rig.send(*(bar(s, et(10, 31)) for s in PRICES), *(snapshot(u, et(10, 32)) for u in SYMBOLS))

    assert rig.cycles == [et(10, 31), et(10, 32)]
    assert rig.pump.stats.partial_cycles == 1


# --- the session window --------------------------------------------------------------------------


def test_no_cycle_before_open_plus_one_minute_and_no_pre_market_data_written() -> None:
    rig = Rig(start=et(9, 0))
    assert rig.pump.first_minute_end == et(9, 31)
    rig.minute(et(9, 30))  # the pre-market minute 09:29-09:30
    rig.at(et(9, 30, 30))
    assert (rig.cycles, rig.store.bars, rig.store.snapshots) == ([], [], [])
    assert rig.pump.stats.outside_session == 6

    rig.minute(et(9, 31))
    assert rig.cycles == [et(9, 31)]


def test_cycles_continue_after_the_flatten_to_the_close_and_no_after_hours_data() -> None:
    # from the flatten the cycles only mark, work orders and walk exits: they run until the close
    rig = Rig(start=et(15, 48, 30))
    assert (SESSION.flatten_et, SESSION.close_et) == (et(15, 50), et(16, 0))
    for minute_end in (et(15, 49), et(15, 50), et(15, 51)):
        rig.minute(minute_end)
    rig.at(et(15, 58, 30))  # 15:52-15:58 sent nothing: each is decided at its deadline, no cycle
    for minute_end in (et(15, 59), et(16, 0)):
        rig.minute(minute_end)
    rig.at(et(16, 0, 30))
    assert rig.cycles == [et(15, 49), et(15, 50), et(15, 51), et(15, 59), et(16, 0)]
    assert rig.pump.stats.skipped_no_data == 7
    assert len(rig.store.bars) == 15  # every regular-session bar, for the API and the prior close

    rig.minute(et(16, 1))  # after hours: would become "the last bar of the day"
    rig.at(et(16, 5))
    assert len(rig.store.bars) == 15 and rig.pump.stats.outside_session == 6
    assert rig.cycles[-1] == et(16, 0) and rig.pump.last_decided == et(16, 0)


# --- duplicates -----------------------------------------------------------------------------------


def test_repeated_and_replayed_outputs_never_start_a_second_cycle() -> None:
    rig = Rig()
    rig.minute(et(10, 31))
    rig.minute(et(10, 31))  # the same outputs again
    rig.minute(et(10, 32))
    rig.minute(et(10, 31))  # a replay of an older minute
    rig.at(et(10, 32, 30))

    assert rig.cycles == [et(10, 31), et(10, 32)]
    assert rig.pump.stats.cycles_started == 2


# --- failures --------------------------------------------------------------------------------------


def test_a_write_that_keeps_failing_skips_the_minutes_cycle_and_is_counted() -> None:
    rig = Rig(write_attempts=3, retry_delay_s=0.1)
    rig.store.fail(lambda item: isinstance(item, Bar) and item.symbol == "QQQ" and item.ts == et(10, 30))
    rig.minute(et(10, 31))
    rig.at(et(10, 31, 30))
    rig.minute(et(10, 32))

    assert rig.cycles == [et(10, 32)]
    stats = rig.pump.stats
    assert (stats.write_failures, stats.write_retries, stats.skipped_write_failure) == (1, 2, 1)
    assert rig.sleeps == [0.1, 0.2]
    assert rig.pump.decision(et(10, 31)) is Decision.SKIPPED_WRITE_FAILURE


def test_a_write_that_fails_once_is_retried_and_the_cycle_starts() -> None:
    rig = Rig()
    rig.store.fail(lambda item: isinstance(item, ChainSnapshot), times=1)
    rig.minute(et(10, 31))
    assert rig.cycles == [et(10, 31)]
    assert (rig.pump.stats.write_retries, rig.pump.stats.write_failures) == (1, 0)
    assert len(rig.store.snapshots) == 3


def test_a_cycle_that_cannot_be_started_is_retried_then_counted_and_not_tried_again() -> None:
    rig = Rig(write_attempts=2)
    rig.cycle_error = RuntimeError("ThrottlingException")
    rig.minute(et(10, 31))
    assert rig.pump.decision(et(10, 31)) is Decision.START_FAILED
    assert rig.pump.stats.cycle_start_failures == 1
    rig.cycle_error = None
    rig.at(et(10, 31, 30))
    rig.minute(et(10, 32))
    assert rig.cycles == [et(10, 32)]


# --- feed events and the loop ----------------------------------------------------------------------


def test_feed_events_track_datasets_down_and_an_abandoned_feed_ends_the_loop() -> None:
    rig = Rig()
    now = et(10, 30, 6).astimezone(UTC)
    rig.send(Disconnected("EQUS.MINI", now, "connection lost"), Stale("OPRA.PILLAR", now, now, 15.0))
    assert rig.pump.stats.datasets_down == {"EQUS.MINI", "OPRA.PILLAR"}
    rig.send(Connected("EQUS.MINI", now, 1, now))
    assert rig.pump.stats.datasets_down == {"OPRA.PILLAR"}
    assert rig.pump.fatal is None

    rig.pump.put(bar("SPY", et(10, 30)))
    rig.pump.put(ReconnectAbandoned("OPRA.PILLAR", now, 10, "refused"))
    stats = rig.pump.run(threading.Event())  # returns by itself: the feed gave up
    assert rig.pump.fatal == "OPRA.PILLAR: refused"
    assert stats.bars_written == 1 and stats.feed_events == 4


def test_run_processes_the_queue_on_its_thread_until_stopped_and_drains_it() -> None:
    rig = Rig()
    stop = threading.Event()
    thread = threading.Thread(target=rig.pump.run, args=(stop,), daemon=True)
    rig.clock.ts = et(10, 31, 1)
    thread.start()
    for output in [*(bar(s, et(10, 30)) for s in PRICES), *(snapshot(u, et(10, 31)) for u in SYMBOLS)]:
        rig.pump.put(output)
    stop.set()
    thread.join(5.0)
    assert not thread.is_alive()
    assert rig.cycles == [et(10, 31)]


def test_run_stops_at_stop_at() -> None:
    rig = Rig()
    rig.pump.run(threading.Event(), stop_at=et(10, 30))
    assert rig.cycles == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"grace_s": 60.0}, "grace_s"), ({"write_attempts": 0}, "write_attempts"), ({"poll_s": 0}, "poll_s")],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rig(**kwargs)


# --- the command's helpers ---------------------------------------------------------------------


class FakeSfn:
    class exceptions:
        class ExecutionAlreadyExists(Exception):
            pass

    def __init__(self, machines: list[dict[str, str]] | None = None) -> None:
        self.machines = machines or []
        self.started: list[dict[str, Any]] = []
        self.refuse = False

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_state_machines"
        machines = self.machines

        class Pages:
            def paginate(self) -> list[dict[str, Any]]:
                return [{"stateMachines": machines[:1]}, {"stateMachines": machines[1:]}]

        return Pages()

    def start_execution(self, **kwargs: Any) -> dict[str, str]:
        if self.refuse:
            raise self.exceptions.ExecutionAlreadyExists("exists")
        self.started.append(kwargs)
        return {"executionArn": "arn:x"}


def test_cycle_starter_names_executions_per_mode_and_minute_and_sends_the_replays_input() -> None:
    sfn = FakeSfn()
    start = stepfunctions.cycle_starter(sfn, "arn:tc", TradingMode.LIVE)
    start(et(10, 31).astimezone(UTC))
    assert sfn.started == [
        {
            "stateMachineArn": "arn:tc",
            "name": "live-20250314T1031",
            "input": '{"mode": "live", "ts": "2025-03-14T10:31:00-04:00"}',
        }
    ]
    sfn.refuse = True
    start(et(10, 31))  # a name Step Functions already holds counts as started


def test_trading_cycle_arn_comes_from_the_environment_else_by_name() -> None:
    sfn = FakeSfn(
        [
            {"name": "p-pre-market", "stateMachineArn": "arn:pm"},
            {"name": "p-trading-cycle", "stateMachineArn": "arn:tc"},
        ]
    )
    env = {state_machine_arn_env("trading_cycle"): "arn:env"}
    assert feed_parts.trading_cycle_arn(sfn, "p", env) == "arn:env"
    assert feed_parts.trading_cycle_arn(sfn, "p", {}) == "arn:tc"
    with pytest.raises(DomainError, match="no state machine is named q-trading-cycle"):
        feed_parts.trading_cycle_arn(sfn, "q", {})


def test_the_feed_refuses_a_day_without_a_session() -> None:
    calendar = MarketCalendar()
    session, underlyings = feed_command.session_or_refuse(calendar, et(8, 0))
    assert session == SESSION and underlyings == SYMBOLS
    with pytest.raises(DomainError, match="2025-03-15 is not an NYSE session"):
        feed_command.session_or_refuse(calendar, datetime(2025, 3, 15, 12, tzinfo=NEW_YORK))


def test_the_command_refuses_without_the_api_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENV_DATABENTO_API_KEY, raising=False)
    assert main(["feed", "--mode", "paper"]) == 2
    assert "DATABENTO_API_KEY is not set" in capsys.readouterr().err


def test_the_command_refuses_on_a_market_holiday(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Holiday:
        def now(self) -> datetime:
            return datetime(2025, 12, 25, 10, tzinfo=NEW_YORK)

    monkeypatch.setenv(ENV_DATABENTO_API_KEY, "db-secret-key")
    monkeypatch.setattr(feed_command, "SystemClock", Holiday)
    assert main(["feed"]) == 2
    err = capsys.readouterr().err
    assert "2025-12-25 is not an NYSE session" in err and "db-secret-key" not in err


class TickingClock(FakeClock):
    """Moves `step` forward at every reading, so the run loop's minutes pass without waiting."""

    def __init__(self, now: datetime, step: timedelta) -> None:
        super().__init__(now)
        self.step = step

    def now(self) -> datetime:
        self.ts += self.step
        return self.ts


def test_run_beats_each_minute_healthy_and_unhealthy_while_a_dataset_is_down() -> None:
    clock = TickingClock(START, timedelta(seconds=2))
    beats: list[tuple[datetime, bool]] = []
    pump = Feed(
        FakeStore(),
        lambda _m: None,
        clock,
        SESSION,
        SYMBOLS,
        poll_s=0.001,
        heartbeat=lambda healthy: beats.append((clock.ts, healthy)),
    )
    pump.run(threading.Event(), stop_at=START + 5 * MINUTE)
    assert len(beats) == 5 and all(healthy for _, healthy in beats)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(beats)]
    assert all(MINUTE <= gap <= MINUTE + timedelta(seconds=10) for gap in gaps), gaps

    pump.handle(Disconnected("EQUS.MINI", clock.ts.astimezone(UTC), "connection lost"))
    pump.run(threading.Event(), stop_at=clock.ts + 2 * MINUTE)
    assert [healthy for _, healthy in beats[5:]] == [False, False]
