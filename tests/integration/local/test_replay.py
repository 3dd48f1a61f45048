"""The replay driver plays the scheduler and the gateway: workflows in the day's order on the
simulated clock, and each minute's data in the market table before, never after, its cycle."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from smart0dte.bootstrap.aws import AwsConfig, aws_client
from smart0dte.cli import main
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar
from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.models import DomainError, TradingMode
from smart0dte.domain.simulator import Scenario
from smart0dte.local.embedded import EmbeddedAws
from smart0dte.local.replay import (
    FLATTEN,
    LEARNING,
    POST_CLOSE,
    PRE_MARKET,
    TRADING_CYCLE,
    ReplayDriver,
    ReplayReport,
    archived_day,
    day_schedule,
    simulated_day,
)
from smart0dte.local.stand_ins import STAND_INS
from smart0dte.resources import MARKET_TABLE

from .conftest import PREFIX

DAY = date(2025, 3, 14)
EARLY_CLOSE = date(2025, 11, 28)
MINUTES = 15
SYMBOLS = ("IWM", "QQQ", "SPY", "VIX")
UNDERLYINGS = ("IWM", "QQQ", "SPY")


def _et(hh: int, mm: int, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=NEW_YORK)


def test_a_regular_day_cycles_to_the_close_with_the_flatten_after_its_minutes_cycle() -> None:
    session = MarketCalendar().session(DAY)
    assert session is not None

    starts = day_schedule(session, TradingMode.PAPER)

    cycles = [s for s in starts if s.state_machine == TRADING_CYCLE]
    assert [(s.state_machine, s.at) for s in starts if s.state_machine != TRADING_CYCLE] == [
        (PRE_MARKET, _et(8, 0)),
        (FLATTEN, _et(15, 50)),
        (POST_CLOSE, _et(16, 5)),
        (LEARNING, _et(17, 0)),
    ]
    # every minute end a backtest steps: after the flatten the cycles walk exits until flat
    assert (len(cycles), cycles[0].at, cycles[-1].at) == (390, _et(9, 31), _et(16, 0))
    assert [s.at for s in starts] == sorted(s.at for s in starts)
    flatten = [s.state_machine for s in starts].index(FLATTEN)
    assert (starts[flatten - 1].state_machine, starts[flatten - 1].at) == (TRADING_CYCLE, _et(15, 50))
    assert (starts[flatten + 1].state_machine, starts[flatten + 1].at) == (TRADING_CYCLE, _et(15, 51))
    assert cycles[0].input == {"mode": "paper", "ts": "2025-03-14T09:31:00-04:00"}
    assert starts[0].input == {"mode": "paper", "session_date": "2025-03-14"}


def test_an_early_close_moves_flatten_and_post_close_and_minutes_cut_the_cycles() -> None:
    session = MarketCalendar().session(EARLY_CLOSE)
    assert session is not None

    starts = day_schedule(session, TradingMode.PAPER, minutes=MINUTES)

    machines = [s.state_machine for s in starts]
    assert machines == [PRE_MARKET] + [TRADING_CYCLE] * MINUTES + [FLATTEN, POST_CLOSE, LEARNING]
    assert [s.at for s in starts[-3:]] == [
        _et(12, 50, EARLY_CLOSE),
        _et(13, 5, EARLY_CLOSE),
        _et(17, 0, EARLY_CLOSE),
    ]
    assert starts[MINUTES].at == _et(9, 45, EARLY_CLOSE)
    whole_day = [s.at for s in day_schedule(session, TradingMode.PAPER) if s.state_machine == TRADING_CYCLE]
    assert (len(whole_day), whole_day[-1]) == (210, _et(13, 0, EARLY_CLOSE))
    with pytest.raises(DomainError, match=r"minutes=211 must be within 1\.\.210 for 2025-11-28"):
        day_schedule(session, TradingMode.PAPER, minutes=211)


@pytest.fixture(scope="module")
def replay_aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(prefix=PREFIX) as runtime:
        yield runtime


_CLIENTS: dict[str, Any] = {}


def _market_view(day: date) -> dict[tuple[str, str], datetime]:
    """The latest instant stamped in the market table per (bar|chain, symbol) for `day`, as a
    handler sees it through the runtime's environment."""
    config = AwsConfig.from_env()
    client = _CLIENTS.get(str(config.endpoint_url)) or _CLIENTS.setdefault(
        str(config.endpoint_url), aws_client(config, "dynamodb")
    )
    items = client.scan(TableName=MARKET_TABLE.physical_name(PREFIX), ConsistentRead=True)["Items"]
    latest: dict[tuple[str, str], datetime] = {}
    for item in items:
        _, kind, symbol, item_day = item["pk"]["S"].split("#")
        if item_day != day.isoformat():
            continue
        stamped = datetime.strptime(item["sk"]["S"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        latest[(kind, symbol)] = max(stamped, latest.get((kind, symbol), stamped))
    return latest


def _recording_handlers(calls: list[dict[str, Any]], clock_now: Any) -> dict[str, Any]:
    def handler(name: str, result: dict[str, Any]) -> Any:
        def handle(event: Any, context: Any) -> Any:
            calls.append({"function": name, "event": event, "now": clock_now(), "market": _market_view(DAY)})
            return {**event, **result}

        return handle

    return {
        "pre_market": handler("pre_market", {"is_session": True}),
        "signals": handler("signals", {"candidates": []}),
        "flatten": handler("flatten", {"open_positions": 0}),
        "post_close": handler("post_close", {}),
        "learning": handler("learning", {}),
    }


@pytest.fixture(scope="module")
def short_day(replay_aws: EmbeddedAws) -> tuple[ReplayReport, list[dict[str, Any]], Any]:
    """15 minutes of a synthetic session with handlers that record what they saw."""
    calls: list[dict[str, Any]] = []
    day = simulated_day(DAY, scenario=Scenario.TREND_UP, seed=7)
    holder: dict[str, ReplayDriver] = {}
    replay_aws.dispatcher.set_handlers(_recording_handlers(calls, lambda: holder["driver"].clock.now()))
    driver = ReplayDriver(replay_aws, day, minutes=MINUTES, automation=AutomationSettings(master_switch=True))
    holder["driver"] = driver
    report = driver.run()
    return report, calls, replay_aws.state_store()


def test_the_workflows_run_in_the_days_order_with_one_cycle_per_minute(
    short_day: tuple[ReplayReport, list[dict[str, Any]], Any],
) -> None:
    report, calls, _ = short_day

    functions = [c["function"] for c in calls]
    assert functions == ["pre_market"] + ["signals"] * MINUTES + ["flatten", "post_close", "learning"]
    cycle_ts = [datetime.fromisoformat(c["event"]["ts"]) for c in calls if c["function"] == "signals"]
    assert cycle_ts == [_et(9, 31) + timedelta(minutes=i) for i in range(MINUTES)]
    assert all(later > earlier for earlier, later in pairwise(cycle_ts))
    assert [c["event"] for c in calls if c["function"] != "signals"] == [
        {"mode": "paper", "session_date": "2025-03-14"},
        {"mode": "paper", "ts": "2025-03-14T15:50:00-04:00"},
        {"mode": "paper", "session_date": "2025-03-14"},
        {"mode": "paper", "session_date": "2025-03-14"},
    ]
    assert [c["now"] for c in calls] == [
        _et(8, 0),
        *cycle_ts,
        _et(15, 50),
        _et(16, 5),
        _et(17, 0),
    ]
    assert report.executions == {
        PRE_MARKET: {"succeeded": 1, "failed": 0},
        TRADING_CYCLE: {"succeeded": MINUTES, "failed": 0},
        FLATTEN: {"succeeded": 1, "failed": 0},
        POST_CLOSE: {"succeeded": 1, "failed": 0},
        LEARNING: {"succeeded": 1, "failed": 0},
    }
    assert (report.failures, report.notes) == ([], ())


def test_each_cycle_sees_its_minutes_bars_and_snapshots_and_nothing_later(
    short_day: tuple[ReplayReport, list[dict[str, Any]], Any],
) -> None:
    report, calls, _ = short_day

    assert calls[0]["market"] == {}  # 08:00: nothing of today yet
    for call in calls:
        if call["function"] != "signals":
            continue
        t = datetime.fromisoformat(call["event"]["ts"])
        market = call["market"]
        assert {symbol: market[("bar", symbol)] for symbol in SYMBOLS} == dict.fromkeys(
            SYMBOLS, t - timedelta(minutes=1)
        )
        assert {u: market[("chain", u)] for u in UNDERLYINGS} == dict.fromkeys(UNDERLYINGS, t)
        assert max(market.values()) <= t
    last = _et(9, 31) + timedelta(minutes=MINUTES - 1)
    assert max(calls[-3]["market"].values()) == last  # flatten: the data stopped with the replay
    assert report.data_end == last
    assert (report.bars_written, report.snapshots_written) == (MINUTES * 4 + 4, MINUTES * 3)


def test_the_gateway_role_leaves_yesterdays_close_and_the_human_switched_automation_on(
    short_day: tuple[ReplayReport, list[dict[str, Any]], Any],
) -> None:
    _, _, store = short_day

    yesterday = {symbol: store.list_bars(symbol, date(2025, 3, 13)) for symbol in SYMBOLS}
    last_bar_open = _et(15, 59, date(2025, 3, 13))
    assert {s: [(b.ts, b.volume) for b in bars] for s, bars in yesterday.items()} == {
        s: [(last_bar_open, 0)] for s in SYMBOLS
    }
    assert store.get_settings().master_switch is True
    assert [(r.actor, r.action) for r in store.audit.list_day(DAY)] == [("user:demo", "SettingsChanged")]


def test_a_failed_pre_market_skips_the_session_but_not_learning(replay_aws: EmbeddedAws) -> None:
    def broken(event: Any, context: Any) -> Any:
        raise RuntimeError("calendar unavailable")

    replay_aws.dispatcher.set_handlers({"pre_market": broken, "learning": lambda e, c: e})
    day = simulated_day(date(2025, 3, 17), scenario=Scenario.NORMAL, seed=1)

    report = ReplayDriver(replay_aws, day, minutes=3).run()

    assert {name: counts for name, counts in report.executions.items() if any(counts.values())} == {
        PRE_MARKET: {"succeeded": 0, "failed": 1},
        LEARNING: {"succeeded": 1, "failed": 0},
    }
    assert [r.start.state_machine for r in report.runs if r.result is None] == [TRADING_CYCLE] * 3 + [
        FLATTEN,
        POST_CLOSE,
    ]
    assert report.notes == ("pre_market FAILED (RuntimeError): the session's workflows were not started",)
    assert (report.bars_written, report.snapshots_written, report.data_end) == (4, 0, None)
    failure = report.failures[0].result
    assert failure is not None and (failure.error, failure.task_cause) == (
        "PreMarketFailed",
        "calendar unavailable",
    )


def test_a_dbn_folder_replays_like_the_simulator(replay_aws: EmbeddedAws, tmp_path: Path) -> None:
    day = date(2025, 3, 18)
    assert main(["data", "generate", "--start", day.isoformat(), "--out", str(tmp_path), "--seed", "3"]) == 0
    replay_aws.dispatcher.set_handlers(STAND_INS)

    report = ReplayDriver(replay_aws, archived_day(tmp_path, day), minutes=2).run()

    assert report.source == f"DBN files in {tmp_path}"
    assert report.executions[TRADING_CYCLE] == {"succeeded": 2, "failed": 0}
    assert (report.bars_written, report.snapshots_written) == (2 * 4, 2 * 3)  # no earlier day archived
    bars = replay_aws.state_store().list_bars("SPY", day)
    assert [b.ts for b in bars] == [_et(9, 30, day), _et(9, 31, day)]
