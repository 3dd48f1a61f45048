"""moto with item backups leaves after every transaction, written or cancelled, exactly what moto's
own table backups leave, and answers the same errors."""

import copy
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from moto.dynamodb import models

from smart0dte.local import moto_transactions
from tests.integration.moto_env import REGION, provisioned_moto

TABLE = "transactions-test"
HASH_ONLY = "transactions-hash-only"


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _put(pk: str, sk: str, n: int, condition: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": TABLE, "Item": {**_key(pk, sk), "n": {"N": str(n)}}}
    if condition:
        op["ConditionExpression"] = condition
    return {"Put": op}


def _update(pk: str, sk: str, by: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": _key(pk, sk),
            "UpdateExpression": "ADD n :d",
            "ExpressionAttributeValues": {":d": {"N": str(by)}},
        }
    }


def _delete(pk: str, sk: str) -> dict[str, Any]:
    return {"Delete": {"TableName": TABLE, "Key": _key(pk, sk)}}


def _absent(pk: str, sk: str) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": _key(pk, sk),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def _hash_only(pk: str, n: int) -> dict[str, Any]:
    return {"Put": {"TableName": HASH_ONLY, "Item": {"pk": {"S": pk}, "n": {"N": str(n)}}}}


TRANSACTIONS = [
    [_put("a", "1", 1), _put("a", "2", 2), _hash_only("h1", 1)],  # written
    [_update("a", "1", 5), _put("b", "1", 3), _hash_only("h2", 2), _absent("a", "2")],  # a#2 exists
    [_update("a", "1", 7), _put("c", "1", 4), _hash_only("h1", 9), _put("z", "1", 0, "attribute_exists(pk)")],
    [_delete("a", "1"), _put("b", "2", 5), _put("b", "2", 6)],  # the same item twice: refused
    [_put("d", "1", 8), _delete("a", "2"), _update("a", "1", 1), _hash_only("h3", 3)],  # written
    [_put("e", "1", 9), _update("d", "1", 1), _delete("b", "1"), _absent("a", "1")],  # a#1 exists
]


def _run(client: Any) -> list[tuple[str | None, list[Any], list[Any]]]:
    """Each transaction's error code and both tables' items after it."""
    for name, keys in ((TABLE, ("pk", "sk")), (HASH_ONLY, ("pk",))):
        client.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
            KeySchema=[
                {"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"), strict=False)
            ],
        )
    seen = []
    for items in TRANSACTIONS:
        code = None
        try:
            client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
        tables = [sorted(client.scan(TableName=t)["Items"], key=str) for t in (TABLE, HASH_ONLY)]
        seen.append((code, *tables))
    for name in (TABLE, HASH_ONLY):
        client.delete_table(TableName=name)
    return seen


def test_item_backups_leave_what_table_backups_leave(monkeypatch: pytest.MonkeyPatch) -> None:
    with provisioned_moto("transactions"):
        client = boto3.client("dynamodb", region_name=REGION)
        with monkeypatch.context() as moto_own:
            backend = models.DynamoDBBackend
            own = getattr(backend.transact_write_items, "__smart0dte_item_backups__", None)
            if own is not None:  # installed earlier in this process: put moto's own back
                moto_own.setattr(backend, "transact_write_items", own)
                moto_own.setattr(models, "copy", copy)
            theirs = _run(client)
        moto_transactions.install()
        ours = _run(client)
    assert ours == theirs
    assert [code for code, *_ in ours] == [
        None,
        "TransactionCanceledException",
        "TransactionCanceledException",
        "ValidationException",
        None,
        "TransactionCanceledException",
    ]


def test_install_is_idempotent_and_a_table_is_not_copied() -> None:
    from moto.dynamodb.models.table import Table

    moto_transactions.install()
    wrapped = models.DynamoDBBackend.transact_write_items
    moto_transactions.install()
    assert models.DynamoDBBackend.transact_write_items is wrapped
    table = Table.__new__(Table)
    assert models.copy.deepcopy(table) is table
    listed = [[1]]
    copied = models.copy.deepcopy(listed)
    assert copied == listed and copied[0] is not listed[0]  # anything else is copied as before
