"""SqsCommandReceiver on moto's FIFO order queue, end to end with SqsOrderQueue and the bridge."""

from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.adapters.aws.sqs import MODE_ATTRIBUTE, SqsCommandReceiver, SqsOrderQueue
from smart0dte.domain.models import OrderStatus, TradingMode
from smart0dte.domain.venue import CancelOrder, PlaceOrder
from smart0dte.resources import ORDER_INTENT_QUEUE, mode_key
from smart0dte.services.order_bridge import OrderBridge, Outcome

from .conftest import drain_queue, record
from .fakes import FakeBroker, FakeClock, make_intent


@pytest.fixture
def queue_url(aws: Provisioned, sqs: Any) -> str:
    url = aws.queue_urls[ORDER_INTENT_QUEUE.logical_name]
    drain_queue(sqs, url)
    return url


def test_a_sent_intent_is_received_parsed_placed_and_deleted(
    live: DynamoState, sqs: Any, queue_url: str
) -> None:
    intent = make_intent()
    record(live, intent)
    SqsOrderQueue(queue_url, sqs).send(PlaceOrder(intent=intent))
    receiver = SqsCommandReceiver(queue_url, sqs)
    broker = FakeBroker()

    (handled,) = OrderBridge(broker, live, receiver, FakeClock()).process(10, 0)

    assert handled.outcome is Outcome.PLACED
    assert broker.placed == {intent.intent_id: intent}
    assert sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0).get("Messages", []) == []


def test_a_cancel_follows_its_order_and_the_broker_cancels_it(
    live: DynamoState, sqs: Any, queue_url: str
) -> None:
    intent = make_intent()
    record(live, intent)
    queue = SqsOrderQueue(queue_url, sqs)
    cancel = CancelOrder(
        mode=intent.mode, intent_id=intent.intent_id, root="SPY", ts=intent.ts, reason="exit re-priced"
    )
    queue.send(PlaceOrder(intent=intent))
    queue.send(cancel)
    queue.send(cancel)  # a retried step: deduplicated
    broker = FakeBroker()

    handled = OrderBridge(broker, live, SqsCommandReceiver(queue_url, sqs), FakeClock()).process(10, 0)

    assert [h.outcome for h in handled] == [Outcome.PLACED, Outcome.CANCELLED]
    assert broker.cancelled == [intent.intent_id]
    stored = live.get_order_by_intent(intent.intent_id)
    assert stored is not None and stored.value.status is OrderStatus.CANCELLED


def test_a_malformed_body_comes_back_as_a_refusable_item(sqs: Any, queue_url: str) -> None:
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody='{"intent_id": "nope"}',
        MessageGroupId=mode_key(TradingMode.LIVE, "SPY"),
        MessageDeduplicationId="malformed-1",
        MessageAttributes={MODE_ATTRIBUTE: {"DataType": "String", "StringValue": "live"}},
    )

    (item,) = SqsCommandReceiver(queue_url, sqs).receive(10, 0)

    assert item.command is None and item.intent_id is None
    assert item.mode == "live"
    assert "validation error" in item.error
    assert item.receipt


def test_limits_are_checked_before_calling_sqs(sqs: Any, queue_url: str) -> None:
    receiver = SqsCommandReceiver(queue_url, sqs)
    with pytest.raises(ValueError, match=r"max_messages=11 must be within 1\.\.10"):
        receiver.receive(11, 0)
    with pytest.raises(ValueError, match=r"wait_s=21 must be within 0\.\.20"):
        receiver.receive(1, 21)
    with pytest.raises(ValueError, match="must name a FIFO queue"):
        SqsCommandReceiver("https://sqs.us-east-1.amazonaws.com/123456789012/orders", sqs)
