"""Build the AWS adapters from configuration. Importing this module loads no AWS SDK and calls
nothing; each factory imports its adapter when called, so the CLI runs without the `aws` extra.

Environment (all optional, names in `resources`; `AwsConfig.from_env` reads them): the prefix, the
mode, the account (bucket suffix), the order-intent queue's URL (looked up by name when absent),
AWS_REGION (else AWS_DEFAULT_REGION, else us-east-1) and AWS_ENDPOINT_URL (one endpoint for every
service, e.g. the embedded moto server; credentials come from the usual chain).

One boto3 session per process and region: its service models load once per warm container.

Choosing live here only picks the live records and queue; arming live trading is validated
elsewhere before any order is sent.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from smart0dte.domain.models import TradingMode
from smart0dte.resources import (
    DEFAULT_PREFIX,
    ENV_ACCOUNT,
    ENV_AWS_DEFAULT_REGION,
    ENV_AWS_ENDPOINT_URL,
    ENV_AWS_REGION,
    ENV_MODE,
    ENV_PREFIX,
    IDEMPOTENCY_TABLE,
    ORDER_INTENT_QUEUE,
    STATE_MACHINES,
    BucketSpec,
    TaskSpec,
    mode_key,
    queue_url_env,
    state_machine_arn_env,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from smart0dte.adapters.aws.dynamodb import DynamoState
    from smart0dte.adapters.aws.s3 import S3ObjectStore
    from smart0dte.adapters.aws.sqs import SqsOrderQueue

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
            region=env.get(ENV_AWS_REGION) or env.get(ENV_AWS_DEFAULT_REGION) or DEFAULT_REGION,
            endpoint_url=env.get(ENV_AWS_ENDPOINT_URL) or None,
            account=env.get(ENV_ACCOUNT) or None,
            order_queue_url=env.get(queue_url_env(ORDER_INTENT_QUEUE)) or None,
        )

    def bucket_name(self, bucket: BucketSpec) -> str:
        return (
            bucket.physical_name(self.prefix)
            if self.account is None
            else bucket.physical_name(self.prefix, self.account)
        )


@functools.cache
def boto3_session(region: str) -> Any:
    """The process's boto3 session for `region` (sessions are not thread-safe to create; clients are)."""
    import boto3  # type: ignore[import-untyped]

    return boto3.session.Session(region_name=region)


def aws_client(config: AwsConfig, service: str) -> Any:
    """A boto3 client for `service` in the configured region and endpoint."""
    return boto3_session(config.region).client(service, endpoint_url=config.endpoint_url)


def state_machine_arn(sfn: Any, prefix: str, name: str, environ: Mapping[str, str]) -> str:
    """A workflow's ARN from the variable CDK sets, else the state machine's of its physical name;
    LookupError naming both when neither is there."""
    from smart0dte.adapters.aws import stepfunctions

    arn = environ.get(state_machine_arn_env(name))
    if arn:
        return arn
    physical = next(s for s in STATE_MACHINES if s.name == name).physical_name(prefix)
    try:
        return stepfunctions.state_machine_arn(sfn, physical)
    except LookupError:
        raise LookupError(
            f"{state_machine_arn_env(name)} is not set and no state machine is named {physical}"
        ) from None


def state_store(config: AwsConfig) -> DynamoState:
    from smart0dte.adapters.aws.dynamodb import DynamoState

    return DynamoState(config.prefix, config.mode, region=config.region, endpoint_url=config.endpoint_url)


def task_heartbeat(config: AwsConfig, task: TaskSpec) -> Callable[[bool], None]:
    """The ECS task's heartbeat metric (EMF on stdout, which its awslogs driver ships)."""
    from smart0dte.adapters.aws.metrics import heartbeat_emitter

    return heartbeat_emitter(config.prefix, task.name)


def object_store(config: AwsConfig, bucket: BucketSpec, client: Any = None) -> S3ObjectStore:
    from smart0dte.adapters.aws.s3 import S3ObjectStore

    return S3ObjectStore(config.bucket_name(bucket), client or aws_client(config, "s3"))


def order_queue(config: AwsConfig, client: Any = None) -> SqsOrderQueue:
    """The order-intent queue; without a configured URL this asks SQS for it by name."""
    from smart0dte.adapters.aws.sqs import SqsOrderQueue

    sqs = client or aws_client(config, "sqs")
    return SqsOrderQueue(order_queue_url(config, sqs), sqs)


def order_queue_url(config: AwsConfig, sqs: Any) -> str:
    """The configured URL, else SQS's answer for the queue's physical name."""
    url = (
        config.order_queue_url
        or sqs.get_queue_url(QueueName=ORDER_INTENT_QUEUE.physical_name(config.prefix))["QueueUrl"]
    )
    return str(url)


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
