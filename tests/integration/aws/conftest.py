"""One in-process moto AWS for the package, provisioned from resources.py and emptied before each test."""

from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.models import TradingMode

from ..moto_env import REGION, empty_tables, provisioned_moto

PREFIX = "smart0dte-test"


@pytest.fixture(scope="package")
def aws() -> Iterator[Provisioned]:
    """moto with fake keys and no profile or endpoint override, so nothing reaches a real account."""
    with provisioned_moto(PREFIX) as provisioned:
        yield provisioned


@pytest.fixture(scope="package")
def dynamodb(aws: Provisioned) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture(scope="package")
def s3(aws: Provisioned) -> Any:
    return boto3.client("s3", region_name=REGION)


@pytest.fixture(scope="package")
def sqs(aws: Provisioned) -> Any:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture(autouse=True)
def empty_tables_before_each_test(aws: Provisioned, dynamodb: Any) -> None:
    """Every table starts the test empty."""
    empty_tables(aws, dynamodb)


def empty_bucket(s3: Any, bucket: str) -> None:
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])


def drain_queue(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Receive and delete every message; returns them in the order received."""
    received: list[dict[str, Any]] = []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages"):
        received += messages
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return received


@pytest.fixture(scope="package")
def paper(aws: Provisioned) -> DynamoState:
    return DynamoState(PREFIX, TradingMode.PAPER, region=REGION)


@pytest.fixture(scope="package")
def live(aws: Provisioned) -> DynamoState:
    return DynamoState(PREFIX, TradingMode.LIVE, region=REGION)


@pytest.fixture(scope="package")
def ibkr_paper(aws: Provisioned) -> DynamoState:
    return DynamoState(PREFIX, TradingMode.IBKR_PAPER, region=REGION)
