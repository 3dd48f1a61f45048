from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.models import DomainError, IllegalTransition, OrderStatus, TradingMode
from smart0dte.ports import ConcurrentUpdate, ConflictingRecord, RecordNotFound, Versioned

from .builders import SESSION, T0, all_items, fill, item_count, order


def test_create_stores_the_order_version_one_with_its_audit_record(paper: DynamoState) -> None:
    created = paper.create_order(order(), actor="execute", reason="risk approved signal S1")

    assert created == Versioned(order(), 1)
    assert paper.get_order("order-1") == created
    assert paper.get_order_by_intent(order().intent_id) == created
    (record,) = paper.audit.list_day(SESSION)
    assert (record.action, record.actor, record.reason) == (
        "OrderCreated",
        "execute",
        "risk approved signal S1",
    )
    assert record.details["intent_id"] == order().intent_id


def test_a_retried_or_duplicated_create_returns_the_first_order_and_writes_nothing(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    first = paper.create_order(order(), actor="execute", reason="approved")
    before = all_items(dynamodb, aws)

    retried = paper.create_order(order(), actor="execute", reason="approved")
    duplicate = paper.create_order(
        order(order_id="order-from-a-second-delivery"), actor="execute", reason="dup"
    )

    assert retried == duplicate == first
    assert all_items(dynamodb, aws) == before
    assert paper.get_order("order-from-a-second-delivery") is None


def test_an_order_id_taken_by_another_intent_is_refused_and_writes_nothing(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    paper.create_order(order(n=1, order_id="same-id"), actor="execute", reason="approved")
    before = item_count(dynamodb, aws)

    with pytest.raises(ConflictingRecord, match="order_id=same-id"):
        paper.create_order(order(n=2, order_id="same-id"), actor="execute", reason="approved")

    assert item_count(dynamodb, aws) == before
    assert paper.get_order_by_intent(order(n=2).intent_id) is None


def test_an_order_of_the_other_mode_is_refused(paper: DynamoState, aws: Provisioned, dynamodb: Any) -> None:
    with pytest.raises(ValueError, match="mode=live"):
        paper.create_order(order(TradingMode.LIVE), actor="execute", reason="approved")

    assert item_count(dynamodb, aws) == 0


def test_a_legal_transition_bumps_the_version_moves_the_index_and_is_audited(paper: DynamoState) -> None:
    paper.create_order(order(), actor="execute", reason="approved")
    assert [o.order_id for o in paper.list_working_orders()] == ["order-1"]

    submitted = paper.transition_order("order-1", OrderStatus.SUBMITTED, T0, actor="broker", reason="acked")
    cancelled = paper.transition_order(
        "order-1", OrderStatus.CANCELLED, T0 + timedelta(seconds=5), actor="flatten", reason="flatten time"
    )

    assert (submitted.value.status, submitted.version) == (OrderStatus.SUBMITTED, 2)
    assert (cancelled.value.status, cancelled.version) == (OrderStatus.CANCELLED, 3)
    assert paper.get_order("order-1") == cancelled
    assert paper.list_working_orders() == []
    assert [o.order_id for o in paper.list_orders(OrderStatus.CANCELLED)] == ["order-1"]
    changes = [r.details for r in paper.audit.list_day(SESSION) if r.action == "OrderStatusChanged"]
    assert [(c["from"], c["to"]) for c in changes] == [
        ("PENDING_SUBMIT", "SUBMITTED"),
        ("SUBMITTED", "CANCELLED"),
    ]


def test_an_illegal_transition_is_refused_and_writes_nothing(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    paper.create_order(order(), actor="execute", reason="approved")
    before = all_items(dynamodb, aws)

    with pytest.raises(IllegalTransition, match="PENDING_SUBMIT -> FILLED"):
        paper.transition_order("order-1", OrderStatus.FILLED, T0, actor="broker", reason="?")

    assert all_items(dynamodb, aws) == before


def test_a_stale_version_loses_the_optimistic_lock_and_writes_nothing(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    seen = paper.create_order(order(), actor="execute", reason="approved")
    paper.transition_order("order-1", OrderStatus.SUBMITTED, T0, actor="bridge", reason="acked")
    before = all_items(dynamodb, aws)

    with pytest.raises(ConcurrentUpdate, match="version 1"):
        paper.transition_order(
            "order-1",
            OrderStatus.CANCELLED,
            T0,
            actor="flatten",
            reason="flatten",
            expected_version=seen.version,
        )

    assert all_items(dynamodb, aws) == before
    current = paper.get_order("order-1")
    assert current is not None and (current.value.status, current.version) == (OrderStatus.SUBMITTED, 2)


def test_transition_of_an_unknown_order_names_it(paper: DynamoState) -> None:
    with pytest.raises(RecordNotFound, match="order nope"):
        paper.transition_order("nope", OrderStatus.SUBMITTED, T0, actor="bridge", reason="acked")


def test_fills_apply_once_per_fill_id(paper: DynamoState, aws: Provisioned, dynamodb: Any) -> None:
    paper.create_order(order(), actor="execute", reason="approved")
    paper.transition_order("order-1", OrderStatus.SUBMITTED, T0, actor="bridge", reason="acked")

    partial = paper.record_fill(fill("order-1", "F1", 1, "1.20"), actor="bridge")
    before = all_items(dynamodb, aws)
    redelivered = paper.record_fill(fill("order-1", "F1", 1, "1.20"), actor="bridge")
    assert all_items(dynamodb, aws) == before
    done = paper.record_fill(fill("order-1", "F2", 1, "1.25", minutes=2), actor="bridge")

    assert redelivered == partial
    assert (partial.value.status, partial.value.filled_quantity, partial.version) == (
        OrderStatus.PARTIALLY_FILLED,
        1,
        3,
    )
    assert (done.value.status, done.value.filled_quantity, done.value.avg_fill_price) == (
        OrderStatus.FILLED,
        2,
        Decimal("1.225"),
    )
    assert [f.fill_id for f in paper.list_fills("order-1")] == ["F1", "F2"]
    assert paper.list_fills("order-1")[0] == fill("order-1", "F1", 1, "1.20")
    assert [r.action for r in paper.audit.list_day(SESSION)].count("OrderFilled") == 2


def test_commission_is_stored_in_cents(paper: DynamoState, dynamodb: Any, aws: Provisioned) -> None:
    paper.create_order(order(), actor="execute", reason="approved")
    paper.transition_order("order-1", OrderStatus.SUBMITTED, T0, actor="bridge", reason="acked")

    paper.record_fill(fill("order-1", "F1", 2, "1.20"), actor="bridge")

    (stored,) = [i for i in all_items(dynamodb, aws)["trading"] if i["sk"]["S"] == "fill#F1"]
    assert stored["commission_usd"] == {"N": "1.30"}
    assert stored["price"] == {"N": "1.20"}


def test_a_fill_that_does_not_fit_its_order_is_refused_and_writes_nothing(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    paper.create_order(order(), actor="execute", reason="approved")
    paper.transition_order("order-1", OrderStatus.SUBMITTED, T0, actor="bridge", reason="acked")
    before = all_items(dynamodb, aws)

    with pytest.raises(DomainError, match="exceeds remaining_quantity=2"):
        paper.record_fill(fill("order-1", "F9", 3, "1.20"), actor="bridge")

    assert all_items(dynamodb, aws) == before


def test_a_fill_for_an_unknown_order_names_it(paper: DynamoState) -> None:
    with pytest.raises(RecordNotFound, match="order ghost"):
        paper.record_fill(fill("ghost", "F1", 1, "1.20"), actor="bridge")
