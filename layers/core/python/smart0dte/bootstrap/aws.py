"""Build the AWS adapters from configuration. Importing this module loads no AWS SDK and calls
nothing; each factory imports its adapter when called, so the CLI runs without the `aws` extra.

Environment (all optional; `AwsConfig.from_env` reads them):

    SMART0DTE_PREFIX           resource name prefix, e.g. `smart0dte-prod` (default `smart0dte`)
    SMART0DTE_MODE             `paper` (default) or `live`: which records the state store keeps
    SMART0DTE_ACCOUNT          bucket name suffix: the AWS account id in AWS (default `local`)
    SMART0DTE_ORDER_QUEUE_URL  the order-intent queue URL; looked up by name when absent
    AWS_REGION                 region, else AWS_DEFAULT_REGION, else us-east-1
    AWS_ENDPOINT_URL           one endpoint for every service, e.g. the embedded moto server
                               `http://127.0.0.1:<port>`; credentials come from the usual chain

Choosing live here only picks the live records and queue; arming live trading is validated
elsewhere before any order is sent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from smart0dte.domain.models import TradingMode
from smart0dte.resources import DEFAULT_PREFIX, IDEMPOTENCY_TABLE, ORDER_INTENT_QUEUE, BucketSpec, mode_key

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from smart0dte.adapters.aws.dynamodb import DynamoState
    from smart0dte.adapters.aws.s3 import S3ObjectStore
    from smart0dte.adapters.aws.sqs import SqsOrderQueue

ENV_PREFIX: Final = "SMART0DTE_PREFIX"
ENV_MODE: Final = "SMART0DTE_MODE"
ENV_ACCOUNT: Final = "SMART0DTE_ACCOUNT"
ENV_ORDER_QUEUE_URL: Final = "SMART0DTE_ORDER_QUEUE_URL"
ENV_REGION: Final = "AWS_REGION"
ENV_DEFAULT_REGION: Final = "AWS_DEFAULT_REGION"
ENV_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
DEFAULT_REGION: Final = "us-east-1"
MAX_PREFIX_CHARS: Final = 40
"""Leaves room in a 63-character bucket name for `-reports-` and a 12-digit account id."""
_PREFIX_PATTERN = re.compile(rf"^[a-z0-9][a-z0-9-]{{0,{MAX_PREFIX_CHARS - 1}}}$")


@dataclass(frozen=True, slots=True)
class AwsConfig:
    """Where the adapters point; `account` None keeps the bucket names' default suffix."""

    prefix: str = DEFAULT_PREFIX
    mode: TradingMode = TradingMode.PAPER
    region: str = DEFAULT_REGION
    endpoint_url: str | None = None
    account: str | None = None
    order_queue_url: str | None = None

    def __post_init__(self) -> None:
        if not _PREFIX_PATTERN.match(self.prefix):
            raise ValueError(
                f"{ENV_PREFIX}={self.prefix!r} must be 1 to {MAX_PREFIX_CHARS} characters of a-z, 0-9 "
                "and '-', starting with a letter or digit"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AwsConfig:
        env = os.environ if environ is None else environ
        mode_text = env.get(ENV_MODE, TradingMode.PAPER.value)
        try:
            mode = TradingMode(mode_text)
        except ValueError:
            allowed = ", ".join(m.value for m in TradingMode)
            raise ValueError(f"{ENV_MODE}={mode_text!r} must be one of {allowed}") from None
        return cls(
            prefix=env.get(ENV_PREFIX, DEFAULT_PREFIX),
            mode=mode,
            region=env.get(ENV_REGION) or env.get(ENV_DEFAULT_REGION) or DEFAULT_REGION,
            endpoint_url=env.get(ENV_ENDPOINT_URL) or None,
            account=env.get(ENV_ACCOUNT) or None,
            order_queue_url=env.get(ENV_ORDER_QUEUE_URL) or None,
        )

    def bucket_name(self, bucket: BucketSpec) -> str:
        return (
            bucket.physical_name(self.prefix)
            if self.account is None
            else bucket.physical_name(self.prefix, self.account)
        )


def aws_client(config: AwsConfig, service: str) -> Any:
    """A boto3 client for `service` in the configured region and endpoint."""
    import boto3  # type: ignore[import-untyped]

    return boto3.session.Session(region_name=config.region).client(service, endpoint_url=config.endpoint_url)


def state_store(config: AwsConfig) -> DynamoState:
    from smart0dte.adapters.aws.dynamodb import DynamoState

    return DynamoState(config.prefix, config.mode, region=config.region, endpoint_url=config.endpoint_url)


def object_store(config: AwsConfig, bucket: BucketSpec, client: Any = None) -> S3ObjectStore:
    from smart0dte.adapters.aws.s3 import S3ObjectStore

    return S3ObjectStore(config.bucket_name(bucket), client or aws_client(config, "s3"))


def order_queue(config: AwsConfig, client: Any = None) -> SqsOrderQueue:
    """The order-intent queue; without a configured URL this asks SQS for it by name."""
    from smart0dte.adapters.aws.sqs import SqsOrderQueue

    sqs = client or aws_client(config, "sqs")
    url = (
        config.order_queue_url
        or sqs.get_queue_url(QueueName=ORDER_INTENT_QUEUE.physical_name(config.prefix))["QueueUrl"]
    )
    return SqsOrderQueue(str(url), sqs)


def idempotency_persistence(config: AwsConfig, client: Any = None) -> DynamoDBPersistenceLayer:
    """Powertools idempotency records in the idempotency table (key and TTL names from resources)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    if IDEMPOTENCY_TABLE.ttl_attribute is None:
        raise TypeError(f"table {IDEMPOTENCY_TABLE.logical_name} needs a TTL attribute for Powertools")
    return DynamoDBPersistenceLayer(
        table_name=IDEMPOTENCY_TABLE.physical_name(config.prefix),
        key_attr=IDEMPOTENCY_TABLE.partition_key.name,
        expiry_attr=IDEMPOTENCY_TABLE.ttl_attribute,
        boto3_client=client or aws_client(config, "dynamodb"),
    )


def idempotency_key_prefix(config: AwsConfig, function_name: str) -> str:
    """`key_prefix` for Powertools' idempotent decorators: records open with the mode, like every key."""
    return mode_key(config.mode, function_name)
