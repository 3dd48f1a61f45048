"""Create every resource `resources` names: tables (keys, GSIs, TTL), buckets, the order queue with
its dead-letter queue, and the alert topic. The embedded AWS and the tests use it; CDK builds the
same resources in AWS from the same specs, with the same choices: on-demand tables, GSIs
projecting all attributes, FIFO queues with explicit deduplication ids, a redrive to a FIFO
dead-letter queue after `max_receive_count` receives.

Running it again leaves existing resources as they are (it does not diff them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from smart0dte.resources import BUCKETS, QUEUES, TABLES, TOPICS, Key, QueueSpec, TableSpec

DEAD_LETTER_RETENTION_S: Final = 14 * 24 * 3600
"""SQS's maximum retention, so a failed intent stays inspectable for two weeks."""
_US_EAST_1 = "us-east-1"


@dataclass(frozen=True, slots=True)
class Provisioned:
    """Physical names by logical name, as created."""

    tables: Mapping[str, str]
    buckets: Mapping[str, str]
    queue_urls: Mapping[str, str]
    dead_letter_queue_urls: Mapping[str, str]
    topic_arns: Mapping[str, str]


def dead_letter_queue_name(spec: QueueSpec, prefix: str) -> str:
    """`<queue>-dlq`, FIFO when the queue is (a FIFO queue's dead-letter queue must be FIFO)."""
    base = spec.physical_name(prefix).removesuffix(".fifo")
    return f"{base}-dlq" + (".fifo" if spec.fifo else "")


def _key_schema(partition_key: Key, sort_key: Key | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition_key.name, "KeyType": "HASH"}]
    if sort_key is not None:
        schema.append({"AttributeName": sort_key.name, "KeyType": "RANGE"})
    return schema


def table_definition(spec: TableSpec, prefix: str) -> dict[str, Any]:
    """CreateTable arguments for `spec`: on-demand, every GSI projecting all attributes."""
    keys = [spec.partition_key, spec.sort_key]
    for index in spec.indexes:
        keys += [index.partition_key, index.sort_key]
    attributes = {key.name: key.type.value for key in keys if key is not None}
    definition: dict[str, Any] = {
        "TableName": spec.physical_name(prefix),
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": _key_schema(spec.partition_key, spec.sort_key),
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attributes.items()],
    }
    if spec.indexes:
        definition["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.partition_key, index.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    return definition


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _create_table(client: Any, spec: TableSpec, prefix: str) -> str:
    name = spec.physical_name(prefix)
    try:
        client.create_table(**table_definition(spec, prefix))
    except ClientError as exc:
        if _error_code(exc) != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(TableName=name)
    if spec.ttl_attribute is not None:
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
    return name


def _create_bucket(client: Any, name: str, region: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != _US_EAST_1:
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as exc:
        if _error_code(exc) != "BucketAlreadyOwnedByYou":
            raise


def _create_queue(client: Any, spec: QueueSpec, prefix: str) -> tuple[str, str]:
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"} if spec.fifo else {}
    dlq_url = client.create_queue(
        QueueName=dead_letter_queue_name(spec, prefix),
        Attributes={**fifo, "MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_S)},
    )["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
    url = client.create_queue(
        QueueName=spec.physical_name(prefix),
        Attributes={
            **fifo,
            "VisibilityTimeout": str(spec.visibility_timeout_s),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    return str(url), str(dlq_url)


def provision(
    prefix: str, session: Any, *, endpoint_url: str | None = None, account: str | None = None
) -> Provisioned:
    """Create everything in `session`'s region (at `endpoint_url` if given, e.g. a moto server).

    `account` suffixes bucket names (the AWS account id in AWS); None keeps the spec's default.
    """
    region = str(session.region_name or _US_EAST_1)

    def client(service: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint_url)

    dynamodb, s3, sqs, sns = client("dynamodb"), client("s3"), client("sqs"), client("sns")
    tables = {spec.logical_name: _create_table(dynamodb, spec, prefix) for spec in TABLES}
    buckets: dict[str, str] = {}
    for bucket in BUCKETS:
        name = bucket.physical_name(prefix) if account is None else bucket.physical_name(prefix, account)
        _create_bucket(s3, name, region)
        buckets[bucket.logical_name] = name
    queue_urls: dict[str, str] = {}
    dead_letter_urls: dict[str, str] = {}
    for queue in QUEUES:
        queue_urls[queue.logical_name], dead_letter_urls[queue.logical_name] = _create_queue(
            sqs, queue, prefix
        )
    topics = {t.logical_name: str(sns.create_topic(Name=t.physical_name(prefix))["TopicArn"]) for t in TOPICS}
    return Provisioned(tables, buckets, queue_urls, dead_letter_urls, topics)
