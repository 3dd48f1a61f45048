"""moto in-process with fake keys and no profile or endpoint override, so nothing reaches a real
account, and every resource of resources.py provisioned."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto import mock_aws

from smart0dte.adapters.aws.provisioning import Provisioned, provision
from smart0dte.resources import TABLES

REGION = "us-east-1"
NOT_OURS = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@contextmanager
def provisioned_moto(prefix: str, **extra_env: str) -> Iterator[Provisioned]:
    with pytest.MonkeyPatch.context() as env:
        for name in NOT_OURS:
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        for name, value in extra_env.items():
            env.setenv(name, value)
        with mock_aws():
            yield provision(prefix, boto3.session.Session(region_name=REGION))


def empty_tables(aws: Provisioned, dynamodb: Any) -> None:
    """Delete every item of every table (tests share one provisioned moto per package)."""
    for spec in TABLES:
        table = aws.tables[spec.logical_name]
        names = {f"#k{i}": key.name for i, key in enumerate((spec.partition_key, spec.sort_key)) if key}
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
        )
        keys = [item for page in pages for item in page["Items"]]
        for start in range(0, len(keys), 25):
            deletes = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]
            dynamodb.batch_write_item(RequestItems={table: deletes})
