import json
from typing import Any

import pytest

from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.adapters.aws.sqs import MODE_ATTRIBUTE, SqsOrderQueue
from smart0dte.domain.models import TradingMode
from smart0dte.domain.venue import VENUE_COMMAND, CancelOrder, PlaceOrder
from smart0dte.resources import ORDER_INTENT_QUEUE

from .builders import intent
from .conftest import drain_queue


@pytest.fixture
def queue_url(aws: Provisioned, sqs: Any) -> str:
    url = aws.queue_urls[ORDER_INTENT_QUEUE.logical_name]
    drain_queue(sqs, url)
    return url


def test_a_place_goes_out_as_json_deduplicated_on_its_intent_id(sqs: Any, queue_url: str) -> None:
    queue = SqsOrderQueue(queue_url, sqs)
    live_intent = intent(TradingMode.LIVE)

    first_id = queue.send(PlaceOrder(intent=live_intent))
    queue.send(PlaceOrder(intent=live_intent))  # a retried execute

    (message,) = drain_queue(sqs, queue_url)
    assert message["MessageId"] == first_id
    assert VENUE_COMMAND.validate_json(message["Body"]) == PlaceOrder(intent=live_intent)
    assert json.loads(message["Body"])["command"] == "place"
    assert message["Attributes"]["MessageDeduplicationId"] == live_intent.intent_id
    assert message["Attributes"]["MessageGroupId"] == "live#SPY"
    assert message["MessageAttributes"][MODE_ATTRIBUTE]["StringValue"] == "live"


def test_a_cancel_follows_in_the_same_group_with_its_own_deduplication_id(sqs: Any, queue_url: str) -> None:
    queue = SqsOrderQueue(queue_url, sqs)
    live_intent = intent(TradingMode.LIVE)
    cancel = CancelOrder(
        mode=TradingMode.LIVE,
        intent_id=live_intent.intent_id,
        root="SPY",
        ts=live_intent.ts,
        reason="exit re-priced",
    )

    queue.send(PlaceOrder(intent=live_intent))
    queue.send(cancel)

    place, cancelled = drain_queue(sqs, queue_url)
    assert VENUE_COMMAND.validate_json(cancelled["Body"]) == cancel
    assert cancelled["Attributes"]["MessageDeduplicationId"] == f"cancel-{live_intent.intent_id}"
    assert cancelled["Attributes"]["MessageGroupId"] == place["Attributes"]["MessageGroupId"]


def test_different_intents_are_different_messages(sqs: Any, queue_url: str) -> None:
    queue = SqsOrderQueue(queue_url, sqs)

    queue.send(PlaceOrder(intent=intent(TradingMode.LIVE, n=1)))
    queue.send(PlaceOrder(intent=intent(TradingMode.LIVE, n=2)))

    bodies = [VENUE_COMMAND.validate_json(m["Body"]) for m in drain_queue(sqs, queue_url)]
    assert [b.intent_id for b in bodies] == [intent(n=1).intent_id, intent(n=2).intent_id]


def test_a_standard_queue_is_refused(sqs: Any) -> None:
    with pytest.raises(ValueError, match="must name a FIFO queue"):
        SqsOrderQueue("https://sqs.us-east-1.amazonaws.com/123456789012/orders", sqs)
