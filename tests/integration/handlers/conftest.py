"""The Lambda handlers on one in-process moto AWS, provisioned from resources.py (as
tests/integration/aws does), emptied before each test; the simulated gateway writes market data.

Live mode never reaches SQS here: `bootstrap_aws.order_queue` is replaced by a guard that fails the test,
and live tests inject a `RecordingQueue`.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from types import ModuleType
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.bootstrap import aws as bootstrap_aws
from smart0dte.bootstrap import runtime as runtime_module
from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.controls import AutomationSettings, RiskLimits
from smart0dte.domain.marketdata import NS_PER_MINUTE, MarketDay, datetime_to_ns, ns_to_datetime
from smart0dte.domain.models import Bar, OrderIntent, OrderStatus, TradingMode
from smart0dte.domain.reconcile import BrokerBook
from smart0dte.domain.simulator import MarketSimulator, Scenario, SimulatedDay
from smart0dte.domain.venue import CancelOrder, PlaceOrder
from smart0dte.resources import ALERT_TOPIC, REPO_ROOT, TABLES

from ..moto_env import REGION, empty_tables, provisioned_moto

PREFIX = "smart0dte-hdl"
ACCOUNT = "123456789012"
CALENDAR = MarketCalendar()
SETTINGS = AutomationSettings(master_switch=True, min_confidence=0.3, max_positions=1)
LIMITS = RiskLimits(min_seconds_between_trades=0)
"""Looser than the defaults so the first 90 minutes hold entries, exits and rejections."""


class Context:
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class RecordingQueue:
    """A stand-in for the order queue of ibkr_paper and live; `send` dedups as SQS FIFO does (a
    place and a cancel per intent id). `sent` holds the intents placed, `cancels` the cancels."""

    sent: list[OrderIntent] = field(default_factory=list)
    cancels: list[CancelOrder] = field(default_factory=list)
    commands: list[PlaceOrder | CancelOrder] = field(default_factory=list)
    """Every command sent, in order (retries included)."""

    def send(self, command: PlaceOrder | CancelOrder) -> str:
        if not command.mode.uses_broker:
            raise AssertionError(f"a {command.mode.value} command reached the order queue")
        self.commands.append(command)
        if isinstance(command, PlaceOrder):
            if all(i.intent_id != command.intent_id for i in self.sent):
                self.sent.append(command.intent)
        elif all(c.intent_id != command.intent_id for c in self.cancels):
            self.cancels.append(command)
        return f"message-{command.command}-{command.intent_id}"


@pytest.fixture(scope="package")
def aws() -> Iterator[Provisioned]:
    extra = {"SMART0DTE_PREFIX": PREFIX, "POWERTOOLS_METRICS_NAMESPACE": "Smart0DTE"}
    with provisioned_moto(PREFIX, **extra) as provisioned, pytest.MonkeyPatch.context() as env:
        boto3.client("scheduler", region_name=REGION).create_schedule_group(Name=PREFIX)
        env.setenv("SMART0DTE_TOPIC_ALERTS_ARN", provisioned.topic_arns[ALERT_TOPIC.logical_name])
        for name in ("flatten", "post_close"):
            env.setenv(
                f"SMART0DTE_STATE_MACHINE_{name.upper()}_ARN",
                f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{PREFIX}-{name.replace('_', '-')}",
            )
        env.setenv("SMART0DTE_SESSION_SCHEDULER_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-sessions")
        yield provisioned


@pytest.fixture(scope="package")
def dynamodb(aws: Provisioned) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture(autouse=True)
def clean(aws: Provisioned, dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Empty tables and schedules, fresh runtimes (adapters cache per session), no SQS for live."""
    empty_tables(aws, dynamodb)
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in aws.buckets.values():
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    scheduler = boto3.client("scheduler", region_name=REGION)
    for schedule in scheduler.list_schedules(GroupName=PREFIX).get("Schedules", []):
        scheduler.delete_schedule(Name=schedule["Name"], GroupName=PREFIX)

    def no_sqs(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a test reached the live SQS order queue; inject a RecordingQueue")

    monkeypatch.setattr(bootstrap_aws, "order_queue", no_sqs)
    forget_market()
    yield


def forget_market() -> None:
    """Warm runtimes keep their clients between tests, not the market data they cached."""
    for rt in runtime_module._RUNTIMES.values():
        if "market" in vars(rt):
            rt.market.forget()


@pytest.fixture
def alerts(aws: Provisioned) -> Any:
    """An SQS queue subscribed to the alert topic: what SNS published, one message per publish."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=f"{PREFIX}-alerts-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=REGION).subscribe(
        TopicArn=aws.topic_arns[ALERT_TOPIC.logical_name], Protocol="sqs", Endpoint=arn
    )

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return received


@pytest.fixture
def live_queue(monkeypatch: pytest.MonkeyPatch) -> RecordingQueue:
    queue = RecordingQueue()
    monkeypatch.setattr(runtime_module.Runtime, "order_queue", lambda self: queue)
    return queue


@cache
def store(mode: TradingMode) -> DynamoState:
    return DynamoState(PREFIX, mode, region=REGION)


def configure(
    mode: TradingMode, settings: AutomationSettings = SETTINGS, limits: RiskLimits = LIMITS
) -> None:
    at = datetime(2025, 1, 2, tzinfo=UTC)
    state = store(mode)
    state.put_settings(settings, "test", "handler tests", at)
    state.put_risk_limits(limits, "test", "handler tests", at)


@cache
def simulated(session_date: date, scenario: Scenario, seed: int) -> SimulatedDay:
    return MarketSimulator(calendar=CALENDAR).day(session_date, seed=seed, scenario=scenario)


def agreeing_book(state: DynamoState, at: datetime) -> BrokerBook:
    """The broker's book as the order bridge publishes it when IB agrees with the store: the open
    positions and every stored fill."""
    positions: dict[str, int] = {}
    for position in state.list_open_positions():
        occ = position.contract.occ_symbol
        positions[occ] = positions.get(occ, 0) + position.quantity
    orders = [o for status in OrderStatus for o in state.list_orders(status)]
    fills = frozenset(f.fill_id for o in orders for f in state.list_fills(o.order_id))
    return BrokerBook(at, positions, fills)


class Gateway:
    """Plays the gateway task: writes each minute's bars and chain snapshots as they close; in a
    broker-backed mode, unless told not to, also the order bridge's broker book (agreeing)."""

    def __init__(self, mode: TradingMode, simulated_day: SimulatedDay, publish_book: bool = True) -> None:
        self.state = store(mode)
        self.publish_book = publish_book and mode.uses_broker
        self.day: MarketDay = simulated_day.market_day
        self.previous = simulated_day.previous
        self.written_until_ns = 0

    def write_previous_close(self) -> None:
        """Yesterday's last bars, as yesterday's gateway left them: the prior closes."""
        previous = CALENDAR.previous_session(self.day.session_date)
        session = CALENDAR.session(previous)
        assert session is not None
        ts = session.close_et - timedelta(minutes=1)
        for underlying, level in self.previous.close_usd.items():
            self.state.put_bar(
                Bar(symbol=underlying.value, ts=ts, open=level, high=level, low=level, close=level, volume=0)
            )

    def skip_to(self, ts: datetime) -> None:
        """Write nothing up to ts (a later `write_until` starts there)."""
        self.written_until_ns = max(self.written_until_ns, datetime_to_ns(ts))

    def write_until(self, ts: datetime) -> None:
        """Bars closed by ts and chain samples taken by ts, not yet written."""
        ts_ns = datetime_to_ns(ts)
        for series in self.day.bars.values():
            for i, close_ns in enumerate(series.close_ts_ns.tolist()):
                if self.written_until_ns < close_ns <= ts_ns:
                    self.state.put_bar(series.bar(i))
        for chain in self.day.chains.values():
            spot = self.day.bars[chain.underlying.value]
            for row, sample_ns in enumerate(chain.sample_ts_ns.tolist()):
                if self.written_until_ns < sample_ns <= ts_ns:
                    price = float(spot.close[max(spot.closed_by(sample_ns) - 1, 0)])
                    self.state.put_chain_snapshot(chain.snapshot(row, price))
        self.written_until_ns = ts_ns
        if self.publish_book:
            self.state.put_broker_book(agreeing_book(self.state, ts))


def minute_ends(session_date: date, until: datetime) -> list[datetime]:
    session = CALENDAR.session(session_date)
    assert session is not None
    start = datetime_to_ns(session.open_et) + NS_PER_MINUTE
    out = []
    ts = start
    while ts <= datetime_to_ns(until):
        out.append(ns_to_datetime(ts).astimezone(session.open_et.tzinfo))
        ts += NS_PER_MINUTE
    return out


def load_handler(name: str) -> ModuleType:
    """lambdas/<name>/handler.py as CDK deploys it (the folder is the function's code)."""
    path = REPO_ROOT / "lambdas" / name / "handler.py"
    module_name = f"lambda_{name}_handler"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Cycle:
    """One trading_cycle execution as Step Functions runs it (Choice states included)."""

    signals: dict[str, Any]
    risk: dict[str, Any] | None = None
    execute: dict[str, Any] | None = None


def run_cycle(mode: TradingMode, ts: datetime) -> Cycle:
    signals = load_handler("signals").handler({"mode": mode.value, "ts": ts.isoformat()}, Context())
    cycle = Cycle(signals)
    if not signals["candidates"]:  # AnyCandidates -> NothingToDo
        return cycle
    cycle.risk = load_handler("risk").handler(signals, Context())
    if not cycle.risk["intents"]:  # AnyApproved -> AllRejected
        return cycle
    cycle.execute = load_handler("execute").handler(cycle.risk, Context())
    return cycle


def prepare_session(mode: TradingMode, session_date: date) -> dict[str, Any]:
    return load_handler("pre_market").handler(
        {"mode": mode.value, "session_date": session_date.isoformat()}, Context()
    )


def table_items(dynamodb: Any, aws: Provisioned) -> dict[str, list[dict[str, Any]]]:
    """Every item of every table, by logical table name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for spec in TABLES:
        pages = dynamodb.get_paginator("scan").paginate(TableName=aws.tables[spec.logical_name])
        out[spec.logical_name] = [item for page in pages for item in page["Items"]]
    return out


def schedules() -> list[dict[str, Any]]:
    client = boto3.client("scheduler", region_name=REGION)
    return [
        client.get_schedule(Name=s["Name"], GroupName=PREFIX)
        for s in client.list_schedules(GroupName=PREFIX).get("Schedules", [])
    ]


def drive(mode: TradingMode, gateway: Gateway, session_date: date, until: datetime) -> list[Cycle]:
    """The trading cycle every minute from the open to `until`, the gateway writing as it goes."""
    cycles = []
    for ts in minute_ends(session_date, until):
        gateway.write_until(ts)
        cycles.append(run_cycle(mode, ts))
    return cycles


ENTRY_DAY = date(2025, 3, 13)
ENTRY_SCENARIO = (Scenario.GAP_DOWN, 10)
ENTRY = datetime(2025, 3, 13, 13, 45, tzinfo=UTC)
"""09:45 New York: gap_fill gives two candidates, the first approved, the second refused (MAX_POSITIONS)."""
_SNAPSHOTS: dict[TradingMode, tuple[dict[str, list[dict[str, Any]]], Cycle]] = {}


def entry_gateway(mode: TradingMode, publish_book: bool = True) -> Gateway:
    """The entry day's gateway, positioned after the entry minute."""
    gateway = Gateway(mode, simulated(ENTRY_DAY, *ENTRY_SCENARIO), publish_book)
    gateway.skip_to(ENTRY)
    return gateway


def at_entry(mode: TradingMode, aws: Provisioned, dynamodb: Any, merge: bool = False) -> Cycle:
    """The tables as Signals and Risk left them at 09:45 (Execute not run yet), and their results.

    The first call drives the session from the open; later ones restore a snapshot of the tables
    (added to what is there when `merge`)."""
    if mode not in _SNAPSHOTS:
        if not merge:
            empty_tables(aws, dynamodb)
        configure(mode)
        gateway = Gateway(mode, simulated(ENTRY_DAY, *ENTRY_SCENARIO))
        gateway.write_previous_close()
        prepare_session(mode, ENTRY_DAY)
        drive(mode, gateway, ENTRY_DAY, ENTRY - timedelta(minutes=1))
        gateway.write_until(ENTRY)
        signals = load_handler("signals").handler({"mode": mode.value, "ts": ENTRY.isoformat()}, Context())
        cycle = Cycle(signals, load_handler("risk").handler(signals, Context()))
        everything = table_items(dynamodb, aws)
        mine = {t: [i for i in items if _mode_of(i) in (mode, None)] for t, items in everything.items()}
        _SNAPSHOTS[mode] = (mine, cycle)
    else:
        items, cycle = _SNAPSHOTS[mode]
        for table, rows in items.items():
            name = aws.tables[table]
            for start in range(0, len(rows), 25):
                puts = [{"PutRequest": {"Item": row}} for row in rows[start : start + 25]]
                dynamodb.batch_write_item(RequestItems={name: puts})
    forget_market()
    return cycle


def _mode_of(item: dict[str, Any]) -> TradingMode | None:
    key = item.get("pk", item.get("id", {})).get("S", "")
    prefix = key.split("#", 1)[0]
    return TradingMode(prefix) if prefix in set(TradingMode) else None
