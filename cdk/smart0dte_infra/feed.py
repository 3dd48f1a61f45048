"""Market data: the deployment flag and the feed task (`smart0dte feed`: Databento -> market table ->
one trading_cycle execution per closed minute).

Context (`cdk synth -c marketData=databento`):

    marketData    databento | none (default). `none` deploys no feed resource at all: nothing then
                  writes market data or starts trading cycles in AWS, so the stack does not trade
                  by itself (the stack says so in its MarketData output). `databento` deploys the
                  feed task below, in paper and live deployments alike.

With `databento`, the Feed construct holds, named from resources.FEED:

* a security group in the tasks' shared VPC (gateway.TaskNetwork: public subnets, no NAT gateway,
  a public IPv4 address) with no ingress rule at all; egress is TCP 443 (DynamoDB, Step Functions,
  Secrets Manager, ECR/S3 image pull, CloudWatch Logs) and TCP 13000 (Databento's live gateway);
* a Fargate cluster and task definition (x86_64, 0.5 vCPU / 1 GiB) running the gateway image
  (gateway_container/, the same asset as the gateway task) with its entrypoint replaced:
  tini runs `smart0dte feed` directly, so IB Gateway never starts in this task;
* the Databento API key read from the Secrets Manager secret `<prefix>/databento` (a plain string)
  that the operator creates before deploying; it is referenced by name, never looked up;
* a weekday 09:15 New York schedule that runs the task. Nothing stops it on a schedule: the
  command refuses a day with no NYSE session or 0DTE expiry and stops 15 minutes after the close.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, Node

from smart0dte import resources as r
from smart0dte.bootstrap.feed import TRADING_CYCLE

from .access import TABLE_ACTIONS, TableAccess
from .gateway import (
    APP_USER,
    START_MAX_EVENT_AGE_S,
    TaskNetwork,
    acknowledge_execution_role,
    mount_writable_paths,
    start_task_schedule,
    task_foundation,
    task_image,
)
from .nag import acknowledge
from .storage import Storage

MARKET_DATA_CONTEXT: Final = "marketData"
MARKET_DATA_DATABENTO: Final = "databento"
MARKET_DATA_NONE: Final = "none"
MARKET_DATA_VALUES: Final = (MARKET_DATA_DATABENTO, MARKET_DATA_NONE)

FEED_TABLE_ACTIONS: Final = {
    # DynamoState.put_bar / put_chain_snapshot: PynamoDB Model.save(), one PutItem each (the
    # access.py APPEND level).
    r.MARKET_TABLE: TABLE_ACTIONS[TableAccess.APPEND],
    # DynamoState.get_active_mode: one consistent GetItem of the active-mode item. The READ level
    # (BatchGetItem, Query, ConditionCheckItem too) would be more than the feed calls.
    r.CONTROL_TABLE: ("dynamodb:GetItem",),
}
"""What `smart0dte feed` calls through DynamoState, per table (table ARNs only; no index)."""
START_EXECUTION_ACTIONS: Final = ("states:StartExecution",)
"""cycle_starter's only Step Functions call; the ARN comes from the environment, so no listing."""

ENTRY_POINT: Final = ("/usr/bin/tini", "--")
COMMAND: Final = ("smart0dte", "feed")
"""Replaces the image's `tini -- entrypoint.sh` (which starts IB Gateway): tini (PID 1) runs the
feed directly and forwards ECS's SIGTERM to it."""

DATABENTO_LIVE_PORT: Final = 13000
EGRESS_PORTS: Final = (
    (ec2.Port.tcp(443), "HTTPS: AWS APIs (DynamoDB, Step Functions, Secrets Manager, ECR, Logs)"),
    # Databento's live subscription gateways (<dataset>.lsg.databento.com) speak their raw TCP
    # protocol on port 13000; the feed reaches them through the databento client (databento.Live).
    (ec2.Port.tcp(DATABENTO_LIVE_PORT), "Databento live gateway (raw TCP, through the databento client)"),
)


class MarketDataContextError(ValueError):
    """The marketData context is not one of its allowed values."""


@dataclass(frozen=True, slots=True)
class MarketData:
    """The deployment's market-data source, read from the CDK context."""

    source: str

    @property
    def enabled(self) -> bool:
        return self.source != MARKET_DATA_NONE


def market_data_from_context(node: Node) -> MarketData:
    """`marketData` (default none); anything else is refused with the context key and its values."""
    raw = node.try_get_context(MARKET_DATA_CONTEXT)
    value = MARKET_DATA_NONE if raw is None else str(raw)
    if value not in MARKET_DATA_VALUES:
        raise MarketDataContextError(
            f"context {MARKET_DATA_CONTEXT}={raw!r} is not allowed: use "
            f"-c {MARKET_DATA_CONTEXT}={MARKET_DATA_DATABENTO} (deploy the Databento feed task) or "
            f"-c {MARKET_DATA_CONTEXT}={MARKET_DATA_NONE} (the default: no feed, the stack does not trade)"
        )
    return MarketData(source=value)


class Feed(Construct):
    """The security group, cluster, task definition, roles and start schedule of the feed task."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        prefix: str,
        repo_root: Path,
        network: TaskNetwork,
        storage: Storage,
        trading_cycle: sfn.IStateMachine,
        schedule_group: scheduler.CfnScheduleGroup,
    ) -> None:
        super().__init__(scope, construct_id_)
        spec = r.FEED
        name = spec.physical_name(prefix)
        self.vpc = network.vpc

        self.task_role = self._task_role(name, storage, trading_cycle)
        base = task_foundation(
            self,
            name=name,
            spec=spec,
            prefix=prefix,
            vpc=self.vpc,
            egress=EGRESS_PORTS,
            egress_to="AWS APIs and Databento",
            monitoring="its logs and the bar ages the API reports (data-feed health on the dashboard)",
            execution_reads="the Databento key secret",
            task_role=self.task_role,
        )
        self.security_group, self.cluster, self.log_group = base.security_group, base.cluster, base.log_group
        self.execution_role, self.task_definition = base.execution_role, base.task_definition
        self.secret = secretsmanager.Secret.from_secret_name_v2(
            self, "DatabentoKey", spec.secret_name(prefix)
        )
        self.image = task_image(self, repo_root)
        self.container = self.task_definition.add_container(
            "Feed",
            container_name=spec.name,
            image=ecs.ContainerImage.from_docker_image_asset(self.image),
            entry_point=list(ENTRY_POINT),
            command=list(COMMAND),
            essential=True,
            environment={
                r.ENV_PREFIX: prefix,
                r.ENV_ACCOUNT: Aws.ACCOUNT_ID,
                r.ENV_AWS_REGION: Aws.REGION,
                r.state_machine_arn_env(TRADING_CYCLE): trading_cycle.state_machine_arn,
            },
            secrets={r.ENV_DATABENTO_API_KEY: ecs.Secret.from_secrets_manager(self.secret)},
            logging=ecs.LogDrivers.aws_logs(stream_prefix=spec.name, log_group=self.log_group),
            stop_timeout=Duration.seconds(spec.stop_timeout_s),
            user=APP_USER,
            readonly_root_filesystem=True,
        )
        mount_writable_paths(self.task_definition, self.container)
        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The plain environment variables are non-secret settings (prefix, account id, region, the "
            "trading_cycle ARN); the Databento API key comes from Secrets Manager as an ECS secret.",
        )
        acknowledge_execution_role(self.execution_role, self.secret)

        self.start_role, self.start_schedule = start_task_schedule(
            self,
            schedule_name=spec.start_schedule_name(prefix),
            cron=spec.start_cron,
            timezone=spec.timezone,
            family=name,
            cluster=self.cluster,
            task_definition=self.task_definition,
            passed_roles=(self.task_role, self.execution_role),
            subnets=self.vpc.public_subnets,
            security_group=self.security_group,
            schedule_group=schedule_group,
            max_event_age_s=START_MAX_EVENT_AGE_S,
        )

    def _task_role(self, name: str, storage: Storage, trading_cycle: sfn.IStateMachine) -> iam.Role:
        """The feed's own permissions: write the market table, read the active mode, start cycles."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal(
                "ecs-tasks.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"{name}: write the market table, read the active mode, start {TRADING_CYCLE}",
        )
        for spec, actions in FEED_TABLE_ACTIONS.items():
            table = storage.tables[spec]
            role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=[table.table_arn]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=list(START_EXECUTION_ACTIONS), resources=[trading_cycle.state_machine_arn]
            )
        )
        return role
