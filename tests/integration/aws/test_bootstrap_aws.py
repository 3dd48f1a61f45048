import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from moto.server import ThreadedMotoServer

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned, provision
from smart0dte.adapters.aws.s3 import S3ObjectStore
from smart0dte.adapters.aws.sqs import SqsOrderQueue
from smart0dte.bootstrap import aws as bootstrap_aws
from smart0dte.bootstrap.aws import AwsConfig
from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.models import TradingMode
from smart0dte.domain.venue import PlaceOrder
from smart0dte.ports import AuditLog, ObjectStore, OrderQueue, StateStore
from smart0dte.resources import IDEMPOTENCY_TABLE, MODELS_BUCKET, ORDER_INTENT_QUEUE

from .builders import SESSION, T0, intent, order
from .conftest import PREFIX, REGION, drain_queue


def test_defaults_and_environment() -> None:
    assert AwsConfig.from_env({}) == AwsConfig()
    assert AwsConfig().mode is TradingMode.PAPER
    config = AwsConfig.from_env(
        {
            "SMART0DTE_PREFIX": "smart0dte-prod",
            "SMART0DTE_MODE": "live",
            "SMART0DTE_ACCOUNT": "123456789012",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5555",
        }
    )

    assert config == AwsConfig(
        prefix="smart0dte-prod",
        mode=TradingMode.LIVE,
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:5555",
        account="123456789012",
    )
    assert config.bucket_name(MODELS_BUCKET) == "smart0dte-prod-models-123456789012"
    assert (
        AwsConfig.from_env({"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"}).region
        == "us-west-2"
    )


def test_bad_configuration_names_the_variable_and_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="SMART0DTE_MODE='LIVE!' must be one of paper, ibkr_paper, live"):
        AwsConfig.from_env({"SMART0DTE_MODE": "LIVE!"})
    with pytest.raises(ValueError, match="SMART0DTE_PREFIX='Prod_1' must be 1 to 40 characters"):
        AwsConfig.from_env({"SMART0DTE_PREFIX": "Prod_1"})


def test_importing_the_composition_root_loads_no_aws_sdk() -> None:
    code = (
        "import sys, smart0dte.bootstrap.aws; "
        "print(sorted({'boto3', 'botocore', 'pynamodb'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "[]"


def test_factories_build_working_adapters(aws: Provisioned, sqs: Any) -> None:
    config = AwsConfig(prefix=PREFIX, region=REGION)

    url = aws.queue_urls[ORDER_INTENT_QUEUE.logical_name]
    drain_queue(sqs, url)
    store = bootstrap_aws.state_store(config)
    objects = bootstrap_aws.object_store(config, MODELS_BUCKET)
    queue = bootstrap_aws.order_queue(config, client=sqs)
    store.put_settings(AutomationSettings(max_positions=2), actor="test", reason="wiring", at=T0)
    objects.put_bytes("registry.json", b"{}")
    queue.send(PlaceOrder(intent=intent(TradingMode.LIVE)))

    assert store.mode is TradingMode.PAPER
    assert store.get_settings().max_positions == 2
    assert objects.bucket == aws.buckets[MODELS_BUCKET.logical_name]
    assert objects.get_bytes("registry.json") == b"{}"
    assert [m["Body"] for m in drain_queue(sqs, url)] == [
        PlaceOrder(intent=intent(TradingMode.LIVE)).model_dump_json()
    ]


@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time left")
def test_a_retried_execute_runs_once_with_a_mode_prefixed_idempotency_record(
    aws: Provisioned, dynamodb: Any
) -> None:
    config = AwsConfig(prefix=PREFIX, region=REGION)
    runs: list[str] = []

    @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools returns an untyped wrapper
        data_keyword_argument="payload",
        persistence_store=bootstrap_aws.idempotency_persistence(config),
        key_prefix=bootstrap_aws.idempotency_key_prefix(config, "execute"),
    )
    def execute(payload: dict[str, Any]) -> dict[str, str]:
        runs.append(payload["intent_id"])
        return {"order_id": f"order-for-{payload['intent_id']}"}

    payload = intent().model_dump(mode="json")
    first, retried = execute(payload=payload), execute(payload=payload)

    assert first == retried == {"order_id": f"order-for-{intent().intent_id}"}
    assert runs == [intent().intent_id]
    (record,) = dynamodb.scan(TableName=aws.tables[IDEMPOTENCY_TABLE.logical_name])["Items"]
    assert record[IDEMPOTENCY_TABLE.partition_key.name]["S"].startswith("paper#execute#")
    assert IDEMPOTENCY_TABLE.ttl_attribute in record


@pytest.fixture
def moto_server() -> Iterator[str]:
    """The embedded AWS the demo runs: moto's server on a free local port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_the_endpoint_override_reaches_a_local_moto_server(moto_server: str) -> None:
    config = AwsConfig.from_env({"SMART0DTE_PREFIX": "local", "AWS_ENDPOINT_URL": moto_server})
    provision(config.prefix, boto3.session.Session(region_name=REGION), endpoint_url=moto_server)
    store = bootstrap_aws.state_store(config)

    created = store.create_order(order(), actor="execute", reason="approved")

    assert store.get_order("order-1") == created
    served = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server)
    assert (
        served.scan(TableName="local-trading", Select="COUNT")["Count"] == 2
    )  # the order and its intent guard


def test_the_adapters_implement_their_ports(aws: Provisioned, paper: DynamoState, s3: Any, sqs: Any) -> None:
    """mypy checks the assignments; the calls go through the port types only."""
    url = aws.queue_urls[ORDER_INTENT_QUEUE.logical_name]
    drain_queue(sqs, url)
    store: StateStore = paper
    audit: AuditLog = paper.audit
    objects: ObjectStore = S3ObjectStore(aws.buckets[MODELS_BUCKET.logical_name], s3)
    queue: OrderQueue = SqsOrderQueue(url, sqs)

    store.put_settings(AutomationSettings(max_positions=4), actor="user:alice", reason="fewer", at=T0)
    objects.put_bytes("ports/model.json", b"{}")
    message_id = queue.send(PlaceOrder(intent=intent(TradingMode.LIVE, n=7)))

    assert store.get_settings().max_positions == 4
    assert [r.action for r in audit.list_day(SESSION)] == ["SettingsChanged"]
    assert list(objects.list_keys("ports/")) == ["ports/model.json"]
    assert [m["MessageId"] for m in drain_queue(sqs, url)] == [message_id]
