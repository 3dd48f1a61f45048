"""The market-data half of the gateway task on moto: a fake databento.Live through the real
LiveMarketFeed into the Feed (on its own thread) and the real DynamoState. No network.

Uses this package's moto (conftest `aws`, emptied before each test); the pump writes the paper
records, which nothing else in the package writes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws import stepfunctions
from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.adapters.databento.live import FeedConfig, LiveMarketFeed
from smart0dte.bootstrap import feed as feed_parts
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar
from smart0dte.domain.marketdata import ns_to_datetime
from smart0dte.domain.models import TradingMode, Underlying
from smart0dte.services.feed import Feed

from ...unit.adapters.test_databento_live import (
    EQUS,
    OPRA,
    T0,
    TODAY,
    WAIT_S,
    FakeClock,
    FakeGateway,
    FakeLive,
    M,
    S,
    cbbo,
    mapping,
    sec_bar,
)
from ..moto_env import REGION
from .conftest import PREFIX

UNDERLYINGS = (Underlying.SPY, Underlying.QQQ, Underlying.IWM)
IDS = {"SPY": 15144, "QQQ": 13340, "IWM": 9001}
PRICES = {"SPY": 561.0, "QQQ": 480.0, "IWM": 205.0}
CONTRACTS = {  # one 0DTE call per underlying, instrument ids 1..3
    "SPY": (1, "SPY   250314C00561000"),
    "QQQ": (2, "QQQ   250314C00480000"),
    "IWM": (3, "IWM   250314C00205000"),
}


def et(hour: int, minute: int) -> datetime:
    return datetime(2025, 3, 14, hour, minute, tzinfo=NEW_YORK)


@dataclass
class Rig:
    clock: FakeClock
    feed: LiveMarketFeed
    pump: Feed
    cycles: list[datetime]
    equities: FakeLive
    options: FakeLive

    def wait_for(self, predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while not predicate():
            assert time.monotonic() < deadline, f"timed out; cycles so far {self.cycles}"
            time.sleep(0.005)

    def minute_of_data(self, start_ns: int) -> None:
        """Ten seconds of one-second bars per symbol and a quote per contract in the minute."""
        for symbol, instrument in IDS.items():
            self.equities.push(
                *(sec_bar(instrument, start_ns + k * S, PRICES[symbol]) for k in range(10, 20))
            )
        for symbol, (instrument, _) in CONTRACTS.items():
            bid = round(PRICES[symbol] / 280, 2)
            self.options.push(cbbo(instrument, start_ns + 30 * S, bid, round(bid + 0.05, 2)))


@pytest.fixture
def rig(aws: Provisioned) -> Iterator[Rig]:
    session = MarketCalendar().session(TODAY)
    assert session is not None
    store = DynamoState(PREFIX, TradingMode.PAPER, region=REGION)
    clock = FakeClock(T0 + 5 * S)  # 10:30:05 New York
    cycles: list[datetime] = []
    pump = Feed(store, cycles.append, clock, session, UNDERLYINGS, poll_s=0.01)
    gateway = FakeGateway()
    feed = LiveMarketFeed(
        FeedConfig(underlyings=UNDERLYINGS),
        pump.put,
        clock=clock,
        session_date=TODAY,
        client_factory=gateway.create,
        sleep=lambda _: None,
        seed=3,
    )
    stop = threading.Event()
    threads = [
        threading.Thread(target=pump.run, args=(stop,), daemon=True),
        *(threading.Thread(target=feed.run_dataset, args=(d,), daemon=True) for d in (EQUS, OPRA)),
    ]
    for thread in threads:
        thread.start()
    equities, options = gateway.client(EQUS, 0), gateway.client(OPRA, 0)
    equities.push(*(mapping(i, s) for s, i in IDS.items()))
    options.push(*(mapping(i, occ, f"{s}.OPT") for s, (i, occ) in CONTRACTS.items()))
    yield Rig(clock, feed, pump, cycles, equities, options)
    feed.stop()
    stop.set()
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive()


def test_closed_minutes_land_in_the_market_table_and_start_one_cycle_each(rig: Rig) -> None:
    store = DynamoState(PREFIX, TradingMode.PAPER, region=REGION)
    rig.minute_of_data(T0)
    assert rig.cycles == []

    # the stream passes 10:31: the 10:30 bars and the 10:31 snapshots close
    rig.clock.ts_ns = T0 + M + 2 * S
    rig.minute_of_data(T0 + M)
    rig.wait_for(lambda: rig.cycles == [et(10, 31)])

    # nothing after 10:32 arrives: the clock closes the quiet minute
    rig.clock.ts_ns = T0 + 2 * M + 3 * S
    rig.feed.tick()
    rig.wait_for(lambda: len(rig.cycles) == 2)
    assert rig.cycles == [et(10, 31), et(10, 32)]

    for symbol, price in PRICES.items():
        bars = store.list_bars(symbol, TODAY)
        assert [(b.ts, b.open, b.close, b.volume) for b in bars] == [
            (et(10, 30), price, price, 1_000),
            (et(10, 31), price, price, 1_000),
        ]
    for underlying in UNDERLYINGS:
        latest = store.latest_chain_snapshot(underlying, et(10, 32))
        assert latest is not None and latest.ts == et(10, 32)
        assert latest.underlying_price == PRICES[underlying.value]
        assert [q.contract.occ_symbol for q in latest.quotes] == [CONTRACTS[underlying.value][1]]
        earlier = store.latest_chain_snapshot(underlying, et(10, 31) + timedelta(seconds=30))
        assert earlier is not None and earlier.ts == et(10, 31)
    stats = rig.pump.stats
    assert (stats.bars_written, stats.snapshots_written, stats.cycles_started) == (6, 6, 2)
    assert (stats.partial_cycles, stats.write_failures, stats.gaps) == (0, 0, 0)
    assert stats.last_bar_at == ns_to_datetime(T0 + M)


def test_a_silent_options_dataset_starts_the_cycle_after_the_grace_on_the_bars(rig: Rig) -> None:
    for symbol, instrument in IDS.items():
        rig.equities.push(*(sec_bar(instrument, T0 + k * S, PRICES[symbol]) for k in range(10, 20)))
    rig.clock.ts_ns = T0 + M + 2 * S
    for symbol, instrument in IDS.items():
        rig.equities.push(sec_bar(instrument, T0 + M + S, PRICES[symbol]))  # closes 10:30's bars
    rig.wait_for(lambda: rig.pump.stats.bars_written == 3)
    assert rig.cycles == []  # the chains are not in: the options stream has said nothing since 10:30

    rig.clock.ts_ns = T0 + M + 10 * S  # the grace deadline
    rig.wait_for(lambda: rig.cycles == [et(10, 31)])
    assert rig.pump.stats.partial_cycles == 1


def test_the_cycle_starter_starts_the_express_state_machine_found_by_name(aws: Provisioned) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    created = sfn.create_state_machine(
        name=f"{PREFIX}-trading-cycle",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/sfn",
        type="EXPRESS",
    )
    try:
        arn = feed_parts.trading_cycle_arn(sfn, PREFIX, {})
        assert arn == created["stateMachineArn"]
        start: Any = stepfunctions.cycle_starter(sfn, arn, TradingMode.PAPER)
        start(et(10, 31))
        executions = sfn.list_executions(stateMachineArn=arn)["executions"]
        assert [e["name"] for e in executions] == ["paper-20250314T1031"]
    finally:
        sfn.delete_state_machine(stateMachineArn=created["stateMachineArn"])
