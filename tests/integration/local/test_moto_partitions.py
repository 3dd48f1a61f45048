"""moto with partition reads answers every Query exactly as moto's own Query does."""

import random
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto.dynamodb.models.table import Table

from smart0dte.local import moto_partitions
from tests.integration.moto_env import REGION, provisioned_moto

TABLE = "partitions-test"


def _create(client: Any) -> None:
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_status",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


def _fill(client: Any, rng: random.Random) -> None:
    for i in range(400):
        item = {
            "pk": {"S": f"p#{rng.randrange(12)}"},
            "sk": {"S": f"{rng.randrange(10_000):05d}#{i}"},
            "n": {"N": str(rng.randrange(100))},
        }
        if rng.random() < 0.6:
            item["gsi1pk"] = {"S": f"status#{rng.choice('ABC')}"}
            item["gsi1sk"] = {"S": f"{rng.randrange(1000):04d}"}
        client.put_item(TableName=TABLE, Item=item)


def _queries(rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(40):
        forward = rng.random() < 0.5
        base = rng.random() < 0.5
        query: dict[str, Any] = {
            "TableName": TABLE,
            "ScanIndexForward": forward,
            "Limit": rng.choice([3, 7, 1000]),
        }
        if base:
            query["KeyConditionExpression"] = "pk = :h AND sk > :s"
            query["ExpressionAttributeValues"] = {
                ":h": {"S": f"p#{rng.randrange(13)}"},  # p#12 is an empty partition
                ":s": {"S": f"{rng.randrange(10_000):05d}"},
            }
        else:
            query["IndexName"] = "by_status"
            query["KeyConditionExpression"] = "gsi1pk = :h"
            query["ExpressionAttributeValues"] = {":h": {"S": f"status#{rng.choice('ABCD')}"}}
        if rng.random() < 0.3:
            query["FilterExpression"] = "n < :n"
            query["ExpressionAttributeValues"][":n"] = {"N": "50"}
        out.append(query)
    return out


def _all_pages(client: Any, query: dict[str, Any]) -> list[list[dict[str, Any]]]:
    pages, start = [], None
    while True:
        response = client.query(**query, **({"ExclusiveStartKey": start} if start else {}))
        pages.append(response["Items"])
        start = response.get("LastEvaluatedKey")
        if start is None:
            return pages


def test_partition_queries_return_exactly_what_moto_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    with provisioned_moto("partitions"):
        client = boto3.client("dynamodb", region_name=REGION)
        _create(client)
        _fill(client, rng)
        queries = _queries(rng)
        moto_partitions.install()
        assert Table.query is not moto_partitions.original_query()
        ours = [_all_pages(client, q) for q in queries]
        monkeypatch.setattr(Table, "query", moto_partitions.original_query())
        theirs = [_all_pages(client, q) for q in queries]
    assert ours == theirs
    assert sum(len(page) for pages in ours for page in pages) > 200  # the queries found items
    assert any(len(pages) > 1 for pages in ours)  # and paginated


def test_install_is_idempotent() -> None:
    moto_partitions.install()
    wrapped = Table.query
    moto_partitions.install()
    assert Table.query is wrapped
