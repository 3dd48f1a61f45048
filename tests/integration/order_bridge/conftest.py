"""One in-process moto AWS for the package (as tests/integration/aws), emptied before each test."""

from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.models import Order, OrderIntent, OrderStatus, TradingMode
from smart0dte.domain.venue import qualified
from smart0dte.ports import Versioned

from ..moto_env import REGION, empty_tables, provisioned_moto
from .fakes import SESSION

PREFIX = "smart0dte-gw-test"


@pytest.fixture(scope="package")
def aws() -> Iterator[Provisioned]:
    with provisioned_moto(PREFIX) as provisioned:
        yield provisioned


@pytest.fixture(scope="package")
def dynamodb(aws: Provisioned) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture(scope="package")
def sqs(aws: Provisioned) -> Any:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture(autouse=True)
def empty_tables_before_each_test(aws: Provisioned, dynamodb: Any) -> None:
    empty_tables(aws, dynamodb)


@pytest.fixture(scope="package")
def live(aws: Provisioned) -> DynamoState:
    return DynamoState(PREFIX, TradingMode.LIVE, region=REGION)


def record(store: DynamoState, intent: OrderIntent) -> Versioned[Order]:
    """What the Execute step stores for a live intent: the order, SUBMITTED, under a qualified id."""
    order = Order.from_intent(intent, qualified(SESSION, f"o{intent.intent_id[-4:]}"))
    submitted = order.model_copy(update={"status": OrderStatus.SUBMITTED})
    return store.create_order(submitted, "execute", intent.reason)


def drain_queue(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Receive and delete every message; returns them in the order received."""
    received: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        received += messages
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return received
