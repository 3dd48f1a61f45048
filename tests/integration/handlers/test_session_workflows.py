"""pre_market, flatten and post_close: the session's plan and schedules, the flatten at close - 10
minutes, the daily report, post_close recovering a crash between an order and its record, and a
step's retry replaying the outbox of a crash between the document's two saves."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.dynamodb.session import DynamoDayDocuments
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.controls import AutomationSettings, TradingState
from smart0dte.domain.models import Order, OrderStatus, PositionStatus, TradingMode
from smart0dte.domain.portfolio import usd_text
from smart0dte.ml.artifact import canonical_json
from smart0dte.resources import MODELS_BUCKET, REPORTS_BUCKET
from smart0dte.services.session import OutOfOrder

from .conftest import (
    CALENDAR,
    ENTRY,
    ENTRY_DAY,
    LIMITS,
    PREFIX,
    REGION,
    SETTINGS,
    Context,
    RecordingQueue,
    at_entry,
    configure,
    entry_gateway,
    load_handler,
    schedules,
    store,
    table_items,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
PAPER = TradingMode.PAPER


def report(aws: Provisioned, key: str) -> dict[str, Any]:
    body = boto3.client("s3", region_name=REGION).get_object(
        Bucket=aws.buckets[REPORTS_BUCKET.logical_name], Key=key
    )["Body"]
    document: dict[str, Any] = json.loads(body.read())
    return document


def orders(mode: TradingMode = PAPER) -> list[Order]:
    state = store(mode)
    return [o for status in OrderStatus for o in state.list_orders(status)]


# --- pre_market -------------------------------------------------------------------------------------


def test_pre_market_does_nothing_on_a_holiday_or_a_weekend(aws: Provisioned, dynamodb: Any) -> None:
    pre_market = load_handler("pre_market")

    good_friday = pre_market.handler({"session_date": "2025-04-18"}, Context())
    saturday = pre_market.handler(
        {"schedule": "pre_market", "scheduled_time": "2025-03-15T12:00:00Z"}, Context()
    )

    assert good_friday == {
        "mode": "paper",
        "session_date": "2025-04-18",
        "is_session": False,
        "reason": "2025-04-18 is a holiday: no session",
    }
    assert saturday["is_session"] is False and saturday["session_date"] == "2025-03-15"
    assert all(items == [] for items in table_items(dynamodb, aws).values())
    assert schedules() == []


@pytest.mark.parametrize("mode", [TradingMode.IBKR_PAPER, TradingMode.LIVE])
def test_the_scheduled_pre_market_runs_in_the_active_mode_and_passes_it_on(
    mode: TradingMode, aws: Provisioned, dynamodb: Any
) -> None:
    at = datetime(2025, 3, 14, 12, tzinfo=UTC)
    store(PAPER).switch_active_mode(mode, "user:alice", "armed", at, {})
    pre_market = load_handler("pre_market")

    result = pre_market.handler(
        {"schedule": "pre_market", "scheduled_time": "2025-03-14T12:00:00Z"}, Context()
    )

    assert (result["mode"], result["is_session"]) == (mode.value, True)
    assert {s["Name"] for s in schedules()} == {f"flatten-{mode}-2025-03-14", f"post-close-{mode}-2025-03-14"}
    assert (
        json.loads(next(s for s in schedules() if s["Name"].startswith("flatten"))["Target"]["Input"])["mode"]
        == mode.value
    )


def test_pre_market_plans_an_early_close_and_schedules_flatten_and_post_close(
    aws: Provisioned, dynamodb: Any
) -> None:
    day = date(2024, 7, 3)  # closes at 13:00
    state = store(PAPER)
    state.add_to_counters(CALENDAR.previous_session(day), day_trades=2)
    state.set_trading_state(
        TradingState.REDUCING, "risk", "daily loss limit", datetime(2024, 7, 2, 19, tzinfo=UTC)
    )
    models = boto3.client("s3", region_name=REGION)
    version = "ab" * 32
    models.put_object(
        Bucket=aws.buckets[MODELS_BUCKET.logical_name],
        Key="direction/promoted.json",
        Body=canonical_json({"version": version, "decision": "d", "decided_at": None}),
    )
    pre_market = load_handler("pre_market")

    result = pre_market.handler({"mode": "paper", "session_date": day.isoformat()}, Context())
    again = pre_market.handler({"mode": "paper", "session_date": day.isoformat()}, Context())

    assert result["is_session"] and result["early_close"]
    assert (result["open"], result["close"], result["flatten"]) == (
        "2024-07-03T09:30:00-04:00",
        "2024-07-03T13:00:00-04:00",
        "2024-07-03T12:50:00-04:00",
    )
    assert result["model_version"] == version and result["trading"] == f"rules + model {version[:12]}"
    assert result["day_trades_in_window"] == 2 and Decimal(result["starting_equity_usd"]) == Decimal("100000")
    assert [s["created"] for s in result["schedules"]] == [True, True]
    assert [s["created"] for s in again["schedules"]] == [False, False]
    by_name = {s["Name"]: s for s in schedules()}
    assert set(by_name) == {"flatten-paper-2024-07-03", "post-close-paper-2024-07-03"}
    flatten = by_name["flatten-paper-2024-07-03"]
    assert flatten["ScheduleExpression"] == "at(2024-07-03T12:50:00)"
    assert flatten["ScheduleExpressionTimezone"] == "America/New_York"
    assert flatten["Target"]["Arn"].endswith(f"stateMachine:{PREFIX}-flatten")
    assert json.loads(flatten["Target"]["Input"]) == {"mode": "paper", "ts": "2024-07-03T12:50:00-04:00"}
    post_close = by_name["post-close-paper-2024-07-03"]
    assert post_close["ScheduleExpression"] == "at(2024-07-03T13:05:00)"
    assert json.loads(post_close["Target"]["Input"]) == {"mode": "paper", "session_date": "2024-07-03"}
    assert state.get_controls().trading_state is TradingState.ACTIVE
    plan_items = [i for i in table_items(dynamodb, aws)["control"] if i["pk"]["S"] == "paper#session"]
    assert [i["sk"]["S"] for i in plan_items] == ["2024-07-03"]


# --- flatten and post_close ---------------------------------------------------------------------------


def test_flatten_sells_every_position_at_the_flatten_time_and_post_close_reports(
    aws: Provisioned, dynamodb: Any, alerts: Any
) -> None:
    cycle = at_entry(PAPER, aws, dynamodb)
    configure(
        PAPER,
        AutomationSettings(
            **{**SETTINGS.model_dump(), "stop_loss_percentage": 0.9, "take_profit_percentage": 5.0}
        ),
        LIMITS,
    )
    load_handler("execute").handler(cycle.risk, Context())
    session = CALENDAR.session(ENTRY_DAY)
    assert session is not None
    gateway = entry_gateway(PAPER)
    gateway.write_until(ENTRY + timedelta(minutes=1))  # the entry trades at the next minute's quote
    load_handler("signals").handler({"ts": (ENTRY + timedelta(minutes=1)).isoformat()}, Context())
    gateway.skip_to(session.flatten_et - timedelta(minutes=3))
    gateway.write_until(session.flatten_et + timedelta(minutes=1))
    flatten = load_handler("flatten")

    with pytest.raises(OutOfOrder, match="before the session's flatten time"):
        flatten.handler({"ts": (session.flatten_et - timedelta(minutes=1)).isoformat()}, Context())
    first = flatten.handler({"mode": "paper", "ts": session.flatten_et.isoformat()}, Context())
    # the feed's cycle for the flatten minute, arriving after the scheduled flatten
    late = load_handler("signals").handler({"ts": session.flatten_et.isoformat()}, Context())
    after = load_handler("signals").handler(
        {"ts": (session.flatten_et + timedelta(minutes=1)).isoformat()}, Context()
    )

    # the exit decided at the flatten trades at the next minute's snapshot
    assert (first["open_positions"], first["exits"], first["already_observed"]) == (1, 1, False)
    assert (late["duplicate"], late["open_positions"], late["exits"]) == (True, 1, 1)
    assert after["candidates"] == [] and after["open_positions"] == 0  # entries are blocked
    state = store(PAPER)
    assert state.list_open_positions() == []
    (exit_order,) = [o for o in orders() if o.side.value == "SELL" and o.oca_group is None]
    protective = [o for o in orders() if o.oca_group is not None]
    assert [o.status for o in protective] == [OrderStatus.CANCELLED] * 2  # cancelled before the exit
    assert exit_order.status is OrderStatus.FILLED and exit_order.created_at == session.flatten_et
    closed = state.list_positions(PositionStatus.CLOSED)
    assert [p.exit_reason for p in closed] == ["TIME_EXIT"]

    closing = load_handler("post_close").handler({"mode": "paper", "session_date": "2025-03-13"}, Context())

    assert closing["trades"] == 1 and closing["incidents"] == 0 and closing["open_positions_at_close"] == 0
    assert closing["reconciliation"] == {
        "outbox_records_recovered": 0,
        "orders_written": [],
        "fills_written": [],
        "positions_repaired": [],
        "orders_cancelled": [],
    }
    daily = report(aws, closing["report_key"])
    assert closing["report_key"] == "daily/paper/2025-03-13.json"
    assert [t["exit_reason"] for t in daily["trades"]] == ["TIME_EXIT"]
    assert (
        Decimal(daily["net_pnl_usd"])
        == Decimal(closing["net_pnl_usd"])
        == state.get_counters(ENTRY_DAY).realized_pnl_usd
    )
    (exited, message) = alerts()  # the exit with its net P&L (emailed: level on), then the report
    (trade,) = daily["trades"]
    assert exited["Subject"] == (
        f"Smart 0DTE paper: closed {' '.join(closed[0].contract.occ_symbol.split())} x{closed[0].quantity}, "
        f"net {usd_text(Decimal(trade['pnl_usd']))}"
    )
    assert message["Subject"] == "Smart 0DTE paper daily report 2025-03-13"
    assert "1 trade(s)" in message["Message"]


def test_post_close_recovers_a_crash_between_the_order_record_and_the_fill_record(
    aws: Provisioned, dynamodb: Any, monkeypatch: pytest.MonkeyPatch, alerts: Any
) -> None:
    cycle = at_entry(PAPER, aws, dynamodb)
    load_handler("execute").handler(cycle.risk, Context())
    filled_at = ENTRY + timedelta(minutes=1)  # the entry trades at the next minute's quote
    entry_gateway(PAPER).write_until(filled_at)

    def crash(self: DynamoState, *args: object, **kwargs: object) -> None:
        raise RuntimeError("the Lambda died here")

    with monkeypatch.context() as patch:
        patch.setattr(DynamoState, "record_fill", crash)
        with pytest.raises(RuntimeError, match="died here"):
            load_handler("signals").handler({"ts": filled_at.isoformat()}, Context())
    (order,) = [o for o in orders() if o.side.value == "BUY"]
    assert store(PAPER).list_fills(order.order_id) == []
    assert store(PAPER).list_open_positions() == []
    phantom = order.model_copy(update={"order_id": "20250313-X0000001", "intent_id": "e" * 32})
    store(PAPER).create_order(phantom, "bridge", "an order whose phase never committed")

    closing = load_handler("post_close").handler({"mode": "paper", "session_date": "2025-03-13"}, Context())

    reconciliation = closing["reconciliation"]
    assert reconciliation["outbox_records_recovered"] > 0
    assert reconciliation["orders_cancelled"] == ["20250313-X0000001"]
    state = store(PAPER)
    recovered = state.get_order(order.order_id)
    assert recovered is not None and recovered.value.status is OrderStatus.FILLED
    assert len(state.list_fills(order.order_id)) == 1
    cancelled = state.get_order("20250313-X0000001")
    assert cancelled is not None and cancelled.value.status is OrderStatus.CANCELLED
    # The day stopped at 09:46 here, so the position outlived the close: settled, an incident.
    (position,) = state.list_positions(PositionStatus.CLOSED)
    assert position.exit_reason == "EXPIRY_SETTLEMENT" and closing["incidents"] == 1
    assert [r.action for r in state.audit.list_day(ENTRY_DAY)].count("IncidentReported") == 1
    assert report(aws, closing["report_key"])["incidents"][0].startswith("INCIDENT:")
    settled, daily, repaired = alerts()
    assert "closed (EXPIRY_SETTLEMENT)" in settled["Message"]
    assert daily["Subject"] == "Smart 0DTE paper daily report 2025-03-13"
    assert repaired["Subject"] == "Smart 0DTE paper: reconciliation repaired the store 2025-03-13"
    assert '"orders_cancelled": ["20250313-X0000001"]' in repaired["Message"]


@pytest.mark.parametrize("mode", [PAPER, TradingMode.IBKR_PAPER])
def test_a_crash_between_the_two_saves_is_replayed_by_the_retry_writing_each_record_once(
    mode: TradingMode, aws: Provisioned, dynamodb: Any, live_queue: RecordingQueue
) -> None:
    cycle = at_entry(mode, aws, dynamodb)
    state = store(mode)
    documents = DynamoDayDocuments(PREFIX, mode, region=REGION)
    put_engine = DynamoDayDocuments.put_engine
    crashes: list[dict[str, Any]] = []

    def crash_after_the_outbox(
        self: DynamoDayDocuments, session_date: date, document: Any, expected_version: int, at: Any = None
    ) -> int:
        """Execute's second save (its outbox written, the emptied document not yet saved) dies once."""
        if document["cursor"]["executed"] and not document["outbox"] and not crashes:
            crashes.append(document)
            raise RuntimeError("the Lambda died between the two saves")
        return put_engine(self, session_date, document, expected_version, at)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoDayDocuments, "put_engine", crash_after_the_outbox)
        with pytest.raises(RuntimeError, match="between the two saves"):
            load_handler("execute").handler(cycle.risk, Context())
    left = documents.get_engine(ENTRY_DAY)
    assert left is not None
    outbox = left.value["outbox"]
    assert isinstance(outbox, list)
    written = [r.action for r in state.audit.list_day(ENTRY_DAY) if r.actor == "execute"]
    # paper: the entry, which trades at the next minute; a broker mode: the entry and its command
    expected = ["OrderCreated"]
    assert [r["type"] for r in outbox] == (
        ["OrderUpdated"] if mode is PAPER else ["OrderUpdated", "CommandQueued"]
    )
    assert Counter(written) == Counter(expected)  # the first flush wrote every record
    counters = state.get_counters(ENTRY_DAY)

    retried = load_handler("execute").handler(cycle.risk, Context())

    (outcome,) = retried["orders"]
    assert outcome["duplicate"] is True
    audit = state.audit.list_day(ENTRY_DAY)
    assert Counter(r.action for r in audit if r.actor == "execute") == Counter(expected)
    after = documents.get_engine(ENTRY_DAY)
    assert after is not None and after.value["outbox"] == []
    (order,) = [o for o in orders(mode) if o.side.value == "BUY"]
    assert order.order_id == outcome["order_id"]
    if mode is PAPER:
        assert order.status is OrderStatus.SUBMITTED and state.list_fills(order.order_id) == []
        assert state.list_open_positions() == [] and state.get_counters(ENTRY_DAY) == counters
    else:
        # the replay sends the place again; the FIFO queue drops it by its deduplication id
        assert [c.intent_id for c in live_queue.commands] == [order.intent_id] * 2
        assert [i.intent_id for i in live_queue.sent] == [order.intent_id]
        assert order.status is OrderStatus.SUBMITTED and state.list_open_positions() == []
