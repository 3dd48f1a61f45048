"""The trading_cycle handlers: one order per intent whatever is duplicated or retried, paper and
live kept apart, and only the minute's own candidates and intents accepted."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.dynamodb.session import DynamoDayDocuments
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.models import OrderStatus, TradingMode
from smart0dte.resources import IDEMPOTENCY_TABLE
from smart0dte.services.session import OutOfOrder

from .conftest import (
    ENTRY,
    ENTRY_DAY,
    PREFIX,
    REGION,
    Context,
    RecordingQueue,
    at_entry,
    entry_gateway,
    load_handler,
    run_cycle,
    store,
    table_items,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def orders(mode: TradingMode) -> list[Any]:
    state = store(mode)
    return [o for status in OrderStatus for o in state.list_orders(status)]


def entries(mode: TradingMode) -> list[Any]:
    """The entry orders (the rest are each fill's protective stop and target)."""
    return [o for o in orders(mode) if o.side.value == "BUY"]


def execute(risk: dict[str, Any] | None) -> dict[str, Any]:
    assert risk is not None
    result: dict[str, Any] = load_handler("execute").handler(risk, Context())
    return result


def test_the_entry_minute_runs_signals_risk_and_execute_with_every_record(
    aws: Provisioned, dynamodb: Any
) -> None:
    cycle = at_entry(TradingMode.PAPER, aws, dynamodb)
    assert cycle.risk is not None

    executed = execute(cycle.risk)

    assert len(cycle.signals["candidates"]) == 2
    assert [v["approved"] for v in cycle.risk["verdicts"]] == [True, False]
    assert "MAX_POSITIONS" in cycle.risk["verdicts"][1]["rules"]
    (outcome,) = executed["orders"]
    # nothing fills at the snapshot the decision saw: the order waits in the engine's document
    assert outcome["status"] == "SUBMITTED" and outcome["fills"] == 0 and not outcome["sent_to_broker"]
    assert executed["open_positions"] == 0
    state = store(TradingMode.PAPER)
    (order,) = entries(TradingMode.PAPER)
    assert order.order_id == outcome["order_id"] and order.order_id.startswith("20250313-O")
    assert order.status is OrderStatus.SUBMITTED and state.list_fills(order.order_id) == []
    document = DynamoDayDocuments(PREFIX, TradingMode.PAPER, region=REGION).get_engine(ENTRY_DAY)
    assert document is not None
    working = document.value["engine"]["venue"]["working"]
    assert [w[0] for w in working] == [order.order_id.split("-", 1)[1]]

    # the next minute's step trades it against that minute's quote
    next_minute = ENTRY + timedelta(minutes=1)
    entry_gateway(TradingMode.PAPER).write_until(next_minute)
    run_cycle(TradingMode.PAPER, next_minute)

    assert len(state.list_signals(ENTRY_DAY)) >= 2
    assert [d.verdict.approved for d in state.list_risk_decisions(ENTRY_DAY)].count(True) >= 1
    (order,) = entries(TradingMode.PAPER)
    assert order.status is OrderStatus.FILLED
    (fill,) = state.list_fills(order.order_id)
    assert fill.ts == next_minute
    # the fill is protected at the venue: a stop and a target for its quantity, one OCA group
    stop, target = sorted(
        (o for o in orders(TradingMode.PAPER) if o.side.value == "SELL"),
        key=lambda o: o.order_type.value != "STOP",
    )
    assert (stop.order_type.value, target.order_type.value) == ("STOP", "LIMIT")
    assert (
        stop.oca_group == target.oca_group is not None
        and stop.status is target.status is OrderStatus.SUBMITTED
    )
    assert stop.quantity == target.quantity == order.filled_quantity
    (position,) = state.list_open_positions()
    assert position.quantity == order.filled_quantity
    assert state.get_counters(ENTRY_DAY).trades == 1
    actions = {r.action for r in state.audit.list_day(ENTRY_DAY)}
    assert {
        "SignalGenerated",
        "RiskCheckCompleted",
        "OrderCreated",
        "OrderFilled",
        "PositionOpened",
    } <= actions


def test_a_duplicated_trading_cycle_event_creates_no_second_order(aws: Provisioned, dynamodb: Any) -> None:
    cycle = at_entry(TradingMode.PAPER, aws, dynamodb)
    first = execute(cycle.risk)
    before = table_items(dynamodb, aws)

    again = run_cycle(TradingMode.PAPER, ENTRY)

    assert again.signals["duplicate"] and again.signals["candidates"] == cycle.signals["candidates"]
    assert again.risk is not None and again.risk["duplicate"]
    assert again.execute == first  # Powertools' stored outcome of the intent
    after = table_items(dynamodb, aws)
    for table in ("trading", "audit", "control", "market"):
        assert after[table] == before[table], table
    assert len(entries(TradingMode.PAPER)) == 1
    # An older minute arriving late is stale: nothing to do.
    stale = run_cycle(TradingMode.PAPER, ENTRY - timedelta(minutes=5))
    assert stale.signals["stale"] and stale.signals["candidates"] == [] and stale.risk is None


def test_a_retried_execute_returns_the_first_outcome_and_one_order(aws: Provisioned, dynamodb: Any) -> None:
    cycle = at_entry(TradingMode.PAPER, aws, dynamodb)
    first = execute(cycle.risk)

    assert execute(cycle.risk) == first  # Powertools returns the stored result

    # With the idempotency record gone (expired), the session document still knows the intent.
    client = boto3.client("dynamodb", region_name=REGION)
    idempotency = aws.tables[IDEMPOTENCY_TABLE.logical_name]
    records = client.scan(TableName=idempotency)["Items"]
    assert [r["id"]["S"].split("#")[:2] for r in records] == [["paper", "execute"]]
    for record in records:
        client.delete_item(TableName=idempotency, Key={"id": record["id"]})
    after_expiry = execute(cycle.risk)
    assert [o["duplicate"] for o in after_expiry["orders"]] == [True]
    assert after_expiry["orders"][0]["order_id"] == first["orders"][0]["order_id"]
    (order,) = entries(TradingMode.PAPER)
    assert store(TradingMode.PAPER).list_fills(order.order_id) == []  # it trades at the next minute


def test_only_the_minutes_own_candidates_and_intents_are_accepted(aws: Provisioned, dynamodb: Any) -> None:
    cycle = at_entry(TradingMode.PAPER, aws, dynamodb)
    first = execute(cycle.risk)
    assert cycle.risk is not None
    next_minute = ENTRY + timedelta(minutes=1)
    entry_gateway(TradingMode.PAPER).write_until(next_minute)
    observed = load_handler("signals").handler({"ts": next_minute.isoformat()}, Context())

    forged = {**observed, "candidates": cycle.signals["candidates"]}
    with pytest.raises(OutOfOrder, match="are not those Signals observed"):
        load_handler("risk").handler(forged, Context())
    planned = cycle.risk["intents"][0]
    unseen = {**cycle.risk, "intents": [{**planned, "intent": {**planned["intent"], "intent_id": "f" * 32}}]}
    with pytest.raises(
        OutOfOrder, match=re.escape("but the engine has observed 2025-03-13T13:46:00+00:00 last")
    ):
        execute(unseen)
    with pytest.raises(OutOfOrder, match=f"intent {'f' * 32} was not approved by risk"):
        execute({**unseen, "ts": next_minute.isoformat()})
    # The 09:45 intent itself, retried after the engine moved on: its stored outcome, no new order.
    assert execute(cycle.risk) == first
    assert len(entries(TradingMode.PAPER)) == 1


@pytest.mark.parametrize("mode", [TradingMode.IBKR_PAPER, TradingMode.LIVE])
def test_a_broker_mode_sends_each_intent_once_and_never_meets_paper(
    mode: TradingMode, aws: Provisioned, dynamodb: Any, live_queue: RecordingQueue
) -> None:
    broker = at_entry(mode, aws, dynamodb)
    executed = execute(broker.risk)
    run_cycle(mode, ENTRY)  # a duplicated event
    execute(broker.risk)  # a retried execute

    (outcome,) = executed["orders"]
    assert outcome["sent_to_broker"] and outcome["status"] == "SUBMITTED"
    assert [(i.intent_id, i.mode) for i in live_queue.sent] == [(outcome["intent_id"], mode)]
    (order,) = orders(mode)
    assert order.status is OrderStatus.SUBMITTED and store(mode).list_fills(order.order_id) == []
    others = [m for m in TradingMode if m is not mode]
    for other in others:
        assert orders(other) == [] and store(other).list_signals(ENTRY_DAY) == []

    paper = at_entry(TradingMode.PAPER, aws, dynamodb, merge=True)
    paper_outcome = execute(paper.risk)["orders"][0]
    assert not paper_outcome["sent_to_broker"] and len(live_queue.sent) == 1  # paper sent nothing
    (paper_order,) = entries(TradingMode.PAPER)
    assert paper_order.status is OrderStatus.SUBMITTED and paper_order.intent_id != order.intent_id
    assert orders(mode) == [order]
    assert [orders(m) for m in others if m is not TradingMode.PAPER] == [[]]
    for table, items in table_items(dynamodb, aws).items():
        keys = [i.get("pk", i.get("id", {})).get("S", "") for i in items]
        assert all(k.startswith(("paper#", f"{mode.value}#")) for k in keys), table
    trading = [i["pk"]["S"] for i in table_items(dynamodb, aws)["trading"]]
    assert any(k.startswith(f"{mode.value}#") for k in trading) and any(
        k.startswith("paper#") for k in trading
    )
