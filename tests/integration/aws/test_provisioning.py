import json
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.provisioning import Provisioned, dead_letter_queue_name, provision
from smart0dte.resources import BUCKETS, ORDER_INTENT_QUEUE, TABLES, TOPICS

from .conftest import PREFIX, REGION


def _keys(schema: list[dict[str, str]]) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in schema}


@pytest.mark.parametrize("spec", TABLES, ids=lambda s: s.logical_name)
def test_every_table_has_the_keys_indexes_and_ttl_of_its_spec(
    aws: Provisioned, dynamodb: Any, spec: Any
) -> None:
    name = aws.tables[spec.logical_name]
    table = dynamodb.describe_table(TableName=name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]

    assert name == spec.physical_name(PREFIX)
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    expected_keys = {"HASH": spec.partition_key.name}
    if spec.sort_key is not None:
        expected_keys["RANGE"] = spec.sort_key.name
    assert _keys(table["KeySchema"]) == expected_keys
    indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {i.name for i in spec.indexes}
    for index in spec.indexes:
        assert _keys(indexes[index.name]["KeySchema"]) == {
            "HASH": index.partition_key.name,
            "RANGE": index.sort_key.name,
        }
        assert indexes[index.name]["Projection"] == {"ProjectionType": "ALL"}
    if spec.ttl_attribute is None:
        assert ttl["TimeToLiveStatus"] == "DISABLED"
    else:
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", spec.ttl_attribute)


def test_buckets_queue_with_dead_letter_redrive_and_topic_exist(aws: Provisioned) -> None:
    s3, sqs, sns = (boto3.client(s, region_name=REGION) for s in ("s3", "sqs", "sns"))
    queue_url = aws.queue_urls[ORDER_INTENT_QUEUE.logical_name]
    dlq_url = aws.dead_letter_queue_urls[ORDER_INTENT_QUEUE.logical_name]
    queue = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]

    assert {b.physical_name(PREFIX) for b in BUCKETS} <= {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert queue_url.endswith("/" + ORDER_INTENT_QUEUE.physical_name(PREFIX))
    assert dlq_url.endswith("/" + dead_letter_queue_name(ORDER_INTENT_QUEUE, PREFIX))
    assert dlq_url.endswith("-dlq.fifo")
    assert (queue["FifoQueue"], queue["ContentBasedDeduplication"], dlq["FifoQueue"]) == (
        "true",
        "false",
        "true",
    )
    assert queue["VisibilityTimeout"] == str(ORDER_INTENT_QUEUE.visibility_timeout_s)
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq["QueueArn"],
        "maxReceiveCount": ORDER_INTENT_QUEUE.max_receive_count,
    }
    arns = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    topics = [a for a in arns if a.rsplit(":", 1)[-1].startswith(PREFIX + "-")]  # other tests' stacks too
    assert topics == [aws.topic_arns[t.logical_name] for t in TOPICS]
    assert topics[0].endswith(":" + TOPICS[0].physical_name(PREFIX))


def test_provisioning_again_keeps_what_exists(aws: Provisioned, dynamodb: Any) -> None:
    dynamodb.put_item(TableName=aws.tables["audit"], Item={"pk": {"S": "paper#x"}, "sk": {"S": "1"}})

    again = provision(PREFIX, boto3.session.Session(region_name=REGION))

    assert again == aws
    assert dynamodb.scan(TableName=aws.tables["audit"])["Count"] == 1


def test_buckets_carry_the_account_suffix_outside_us_east_1(aws: Provisioned) -> None:
    created = provision("other", boto3.session.Session(region_name="eu-west-1"), account="123456789012")
    s3 = boto3.client("s3", region_name="eu-west-1")

    assert created.buckets == {b.logical_name: f"other-{b.logical_name}-123456789012" for b in BUCKETS}
    for name in created.buckets.values():
        assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
