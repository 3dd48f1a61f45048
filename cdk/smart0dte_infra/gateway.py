"""Broker trading: the deployment flag and the gateway task (IB Gateway + IBC + `smart0dte order-bridge`).

Context (`cdk synth -c liveTrading=ibkr_paper -c ibAccount=DU1234567`, later
`-c liveTrading=enabled -c ibAccount=U1234567`):

    liveTrading   disabled (default) | ibkr_paper | enabled. Disabled deploys no gateway resource
                  at all (paper trading, the simulated venue, needs none). ibkr_paper deploys the
                  gateway logged in to an IB paper account (IBC's paper mode, port 4002): the
                  dashboard may then switch to ibkr_paper, the rehearsal of the broker path without
                  money. enabled deploys it for the live account (port 4001): the dashboard may arm
                  live. The API is told which (SMART0DTE_LIVE_TRADING), and one gateway serves one.
    ibAccount     the IB account id, required unless disabled: an IB paper id (DU..., DF...) with
                  ibkr_paper, a real-money id with enabled; the other kind is refused.

When enabled, the Gateway construct holds, named from resources.GATEWAY:

* the VPC of public subnets only, no NAT gateway (~$32/month saved), shared with the market-data
  feed task when both are deployed (TaskNetwork, `<prefix>-tasks`): the task gets a public IPv4
  address and a security group of its own with no ingress rule at all; egress is TCP 443 (the AWS APIs it
  calls: SQS, DynamoDB, Secrets Manager, ECR/S3 image pull, CloudWatch Logs; and IB's login and
  update servers) and TCP 4000-4001 (IB Gateway's connections to IB's trading servers). DNS and
  time go to the VPC's Amazon resolver and time sync, which security groups do not filter;
* a Fargate cluster and task definition (x86_64, 1 vCPU / 2 GiB) running the image built from
  gateway_container/ (built and pushed by `cdk deploy`; synthesis only stages the build context);
* the IB login read from the Secrets Manager secret `<prefix>/ibkr` (JSON keys `username`,
  `password`) that the operator creates before deploying; it is referenced by name, never looked up;
* a weekday 08:45 New York schedule that runs the task. Nothing stops it on a schedule: the
  container refuses a day with no NYSE session and stops 15 minutes after the close by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aws_cdk import Aws, Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, Node

from smart0dte import resources as r
from smart0dte.domain.models import TradingMode
from smart0dte.ports import GATEWAY_PORTS, account_refusal
from smart0dte.resources import ENV_IB_ACCOUNT, ENV_IB_CLIENT_ID, ENV_IB_PORT
from smart0dte.services.live_arming import (
    GATEWAY_MODE_OF_SETTING,
    LIVE_TRADING_DISABLED,
    LIVE_TRADING_ENABLED,
    LIVE_TRADING_IBKR_PAPER,
    gateway_mode,
)

from .access import TABLE_ACTIONS, TABLE_READS_INDEXES, TableAccess
from .nag import acknowledge, finding_resource
from .scheduling import RETRY_ATTEMPTS
from .storage import Storage

LIVE_TRADING_CONTEXT: Final = "liveTrading"
IB_ACCOUNT_CONTEXT: Final = "ibAccount"
LIVE_TRADING_VALUES: Final = (LIVE_TRADING_DISABLED, LIVE_TRADING_IBKR_PAPER, LIVE_TRADING_ENABLED)
IBC_TRADING_MODE: Final = {TradingMode.IBKR_PAPER: "paper", TradingMode.LIVE: "live"}
"""IBC's TradingMode (which login IB Gateway opens) of each broker-backed mode."""
EXAMPLE_ACCOUNT: Final = {TradingMode.IBKR_PAPER: "DU1234567", TradingMode.LIVE: "U1234567"}
IB_ACCOUNT_PATTERN: Final = re.compile(r"[A-Z0-9]+")

GATEWAY_TABLES: Final = {
    r.CONTROL_TABLE: TableAccess.READ_WRITE,  # trading controls, the heartbeat
    r.TRADING_TABLE: TableAccess.READ_WRITE,  # orders, fills, positions; by_status: working orders
    r.AUDIT_TABLE: TableAccess.APPEND,  # every order transition and fill is audited
}
"""What the bridge touches through DynamoState (smart0dte.services.order_bridge): the levels of
access.py, so the gateway reads and writes exactly as the Lambdas of the same level do."""
QUEUE_ACTIONS: Final = ("sqs:ReceiveMessage", "sqs:DeleteMessage")
"""SqsCommandReceiver's calls (receive_message, delete_message). The queue is SQS-managed SSE,
so no KMS permission is needed; the URL comes from the environment, so no GetQueueUrl."""

IMAGE_DOCKERFILE: Final = "gateway_container/Dockerfile"
IMAGE_CONTEXT: Final = ("pyproject.toml", "README.md", "layers/core/python", "gateway_container")
"""What the Dockerfile COPYs from the repository root: the build context holds these only."""
IMAGE_EXCLUDE: Final = [
    "*",
    *(f"!{path}" for path in IMAGE_CONTEXT),
    "**/__pycache__",
    "**/*.pyc",
    "**/*.egg-info",
]

HEALTH_CHECK_COMMAND: Final = (
    'pgrep -f "smart0dte order-bridge" >/dev/null '
    '&& bash -c \'port=${SMART0DTE_IB_PORT:-$([ "$TRADING_MODE" = live ] && echo 4001 || echo 4002)}; '
    "exec 3<>/dev/tcp/127.0.0.1/$port' "
    "|| exit 1"
)
"""The Dockerfile's HEALTHCHECK (ECS ignores it): the bridge runs and IB Gateway's API port answers."""
HEALTH_CHECK_INTERVAL_S: Final = 30
HEALTH_CHECK_TIMEOUT_S: Final = 5
HEALTH_CHECK_START_PERIOD_S: Final = 180
HEALTH_CHECK_RETRIES: Final = 6

APP_USER: Final = "10001"
"""The image's `gateway` user (gateway_container/Dockerfile APP_UID): the tasks never run as root."""
WRITABLE_PATHS: Final = {"tmp": "/tmp", "home": "/home/gateway"}
"""The only writable paths of the tasks' read-only root filesystem, each a task volume (Fargate
ephemeral storage) that the Dockerfile declares as a VOLUME owned by APP_USER: Xvfb's socket and
Java's temporary files in /tmp; IB Gateway's settings and logs (Jts), IBC's config and logs and
Java's preferences under the home. IB Gateway's own files (/opt/ibgateway) stay read-only."""

LOG_RETENTION: Final = logs.RetentionDays.ONE_MONTH
NETWORK_NAME: Final = "tasks"
"""The shared VPC is named `<prefix>-tasks`: the gateway's and the feed's."""
START_MAX_EVENT_AGE_S: Final = 1800
"""A start retried until 09:15 still logs in before the open; later, the day is better skipped."""
EGRESS_PORTS: Final = (
    (ec2.Port.tcp(443), "HTTPS: AWS APIs (SQS, DynamoDB, Secrets Manager, ECR, Logs) and IB login"),
    (ec2.Port.tcp_range(4000, 4001), "IB Gateway to IB's trading servers"),
)


class LiveTradingContextError(ValueError):
    """The liveTrading or ibAccount context is missing or not allowed."""


@dataclass(frozen=True, slots=True)
class LiveTrading:
    """The deployment's broker setting, read from the CDK context: the broker-backed mode its
    gateway serves (None: no gateway) and the IB account it logs in to."""

    mode: TradingMode | None = None
    ib_account: str | None = None

    @property
    def enabled(self) -> bool:
        """A gateway is deployed (for ibkr_paper or live)."""
        return self.mode is not None

    @property
    def env_value(self) -> str:
        """SMART0DTE_LIVE_TRADING, which `services.live_arming.gateway_mode` reads back."""
        return next((v for v, m in GATEWAY_MODE_OF_SETTING.items() if m is self.mode), LIVE_TRADING_DISABLED)


def live_trading_from_context(node: Node) -> LiveTrading:
    """`liveTrading` (default disabled) and, unless disabled, an `ibAccount` that fits it (an IB
    paper id for ibkr_paper, a real one for enabled); anything else is refused with the context key
    and the values it takes."""
    raw = node.try_get_context(LIVE_TRADING_CONTEXT)
    value = LIVE_TRADING_DISABLED if raw is None else str(raw)
    if value not in LIVE_TRADING_VALUES:
        allowed = ", ".join(f"-c {LIVE_TRADING_CONTEXT}={v}" for v in LIVE_TRADING_VALUES)
        raise LiveTradingContextError(
            f"context {LIVE_TRADING_CONTEXT}={raw!r} is not allowed: use one of {allowed} "
            f"({LIVE_TRADING_DISABLED} is the default)"
        )
    mode = gateway_mode(value)
    if mode is None:
        return LiveTrading()
    account = node.try_get_context(IB_ACCOUNT_CONTEXT)
    example = f"-c {IB_ACCOUNT_CONTEXT}={EXAMPLE_ACCOUNT[mode]}"
    kind = "an IB paper account id" if mode is TradingMode.IBKR_PAPER else "the live IB account id"
    if account is None or not str(account).strip():
        raise LiveTradingContextError(
            f"context {IB_ACCOUNT_CONTEXT} is required with {LIVE_TRADING_CONTEXT}={value}: "
            f"pass {kind}, e.g. {example}"
        )
    account = str(account).strip()
    if not IB_ACCOUNT_PATTERN.fullmatch(account):
        raise LiveTradingContextError(
            f"context {IB_ACCOUNT_CONTEXT}={account!r} is not an IB account id (upper-case letters and "
            f"digits, e.g. {example})"
        )
    refusal = account_refusal(mode, account)
    if refusal is not None:
        raise LiveTradingContextError(
            f"context {IB_ACCOUNT_CONTEXT}={account!r} does not fit {LIVE_TRADING_CONTEXT}={value}: "
            f"{refusal}; pass {kind}, e.g. {example}"
        )
    return LiveTrading(mode=mode, ib_account=account)


class Gateway(Construct):
    """The network, cluster, task definition, roles and start schedule of the gateway task, which
    serves one broker-backed `mode` (ibkr_paper or live) on `ib_account`."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        prefix: str,
        repo_root: Path,
        mode: TradingMode,
        ib_account: str,
        storage: Storage,
        schedule_group: scheduler.CfnScheduleGroup,
        network: TaskNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id_)
        spec = r.GATEWAY
        name = spec.physical_name(prefix)

        self.network = network or TaskNetwork(self, "Network", prefix=prefix)
        self.vpc = self.network.vpc
        self.task_role = self._task_role(name, storage)
        base = task_foundation(
            self,
            name=name,
            spec=spec,
            prefix=prefix,
            vpc=self.vpc,
            egress=EGRESS_PORTS,
            egress_to="AWS APIs and IB",
            monitoring="its logs and the heartbeat it writes to DynamoDB (shown on the dashboard)",
            execution_reads="the IB login secret",
            task_role=self.task_role,
        )
        self.security_group, self.cluster, self.log_group = base.security_group, base.cluster, base.log_group
        self.execution_role, self.task_definition = base.execution_role, base.task_definition
        self.secret = secretsmanager.Secret.from_secret_name_v2(self, "IbLogin", spec.secret_name(prefix))
        self.image = task_image(self, repo_root)
        self.container = self.task_definition.add_container(
            "Gateway",
            container_name=spec.name,
            image=ecs.ContainerImage.from_docker_image_asset(self.image),
            essential=True,
            environment=self._environment(prefix, mode, ib_account, storage),
            secrets={
                "TWS_USERID": ecs.Secret.from_secrets_manager(self.secret, spec.secret_username_key),
                "TWS_PASSWORD": ecs.Secret.from_secrets_manager(self.secret, spec.secret_password_key),
            },
            health_check=ecs.HealthCheck(
                command=["CMD-SHELL", HEALTH_CHECK_COMMAND],
                interval=Duration.seconds(HEALTH_CHECK_INTERVAL_S),
                timeout=Duration.seconds(HEALTH_CHECK_TIMEOUT_S),
                start_period=Duration.seconds(HEALTH_CHECK_START_PERIOD_S),
                retries=HEALTH_CHECK_RETRIES,
            ),
            logging=ecs.LogDrivers.aws_logs(stream_prefix=spec.name, log_group=self.log_group),
            # tini forwards SIGTERM to the bridge, which finishes its current step and stops.
            stop_timeout=Duration.seconds(spec.stop_timeout_s),
            user=APP_USER,
            readonly_root_filesystem=True,
        )
        mount_writable_paths(self.task_definition, self.container)
        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The plain environment variables are non-secret settings (mode, port, account id, prefix, "
            "region, queue URL); the IB login comes from Secrets Manager as ECS secrets.",
        )
        self._acknowledge_execution_role()

        self.start_role, self.start_schedule = self._start_schedule(prefix, name, schedule_group)

    def _task_role(self, name: str, storage: Storage) -> iam.Role:
        """The bridge's own permissions: consume the order-intent queue, and the tables it uses."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal(
                "ecs-tasks.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"{name}: consume the order-intent queue; the control, trading and audit tables",
        )
        queue = storage.queues[r.ORDER_INTENT_QUEUE]
        role.add_to_policy(iam.PolicyStatement(actions=list(QUEUE_ACTIONS), resources=[queue.queue_arn]))
        topic = storage.topics[r.ALERT_TOPIC]  # the bridge's fill notifications
        role.add_to_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn]))
        for spec, level in GATEWAY_TABLES.items():
            table = storage.tables[spec]
            resources = [table.table_arn]
            if level in TABLE_READS_INDEXES:
                resources += [f"{table.table_arn}/index/{index.name}" for index in spec.indexes]
            role.add_to_policy(iam.PolicyStatement(actions=list(TABLE_ACTIONS[level]), resources=resources))
        return role

    def _environment(
        self, prefix: str, mode: TradingMode, ib_account: str, storage: Storage
    ) -> dict[str, str]:
        return {
            r.ENV_MODE: mode.value,
            "TRADING_MODE": IBC_TRADING_MODE[mode],  # IBC's mode; the entrypoint refuses one that disagrees
            ENV_IB_PORT: str(GATEWAY_PORTS[mode]),
            ENV_IB_ACCOUNT: ib_account,
            ENV_IB_CLIENT_ID: str(r.GATEWAY.ib_client_id),
            r.ENV_PREFIX: prefix,
            r.ENV_ACCOUNT: Aws.ACCOUNT_ID,
            r.ENV_AWS_REGION: Aws.REGION,
            r.queue_url_env(r.ORDER_INTENT_QUEUE): storage.queues[r.ORDER_INTENT_QUEUE].queue_url,
            r.topic_arn_env(r.ALERT_TOPIC): storage.topics[r.ALERT_TOPIC].topic_arn,
        }

    def _acknowledge_execution_role(self) -> None:
        acknowledge_execution_role(self.execution_role, self.secret)

    def _start_schedule(
        self, prefix: str, family: str, schedule_group: scheduler.CfnScheduleGroup
    ) -> tuple[iam.Role, scheduler.CfnSchedule]:
        """Weekdays 08:45 New York: RunTask on Fargate in the public subnets with a public IP.

        No stop schedule: the bridge stops 15 minutes after the close (earlier on early closes)
        and refuses to start on a day without an NYSE session; ECS then stops the task."""
        spec = r.GATEWAY
        return start_task_schedule(
            self,
            schedule_name=spec.start_schedule_name(prefix),
            cron=spec.start_cron,
            timezone=spec.timezone,
            family=family,
            cluster=self.cluster,
            task_definition=self.task_definition,
            passed_roles=(self.task_role, self.execution_role),
            subnets=self.vpc.public_subnets,
            security_group=self.security_group,
            schedule_group=schedule_group,
            max_event_age_s=START_MAX_EVENT_AGE_S,
        )


class TaskNetwork(Construct):
    """The VPC the Fargate tasks (the gateway, the feed) share: public subnets in two zones, no NAT
    gateway (~$32/month saved), flow logs to CloudWatch. Each task brings its own security group
    (no ingress, its own egress ports) and gets a public IPv4 address to reach AWS and its vendor."""

    def __init__(self, scope: Construct, construct_id_: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id_)
        self.flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            vpc_name=f"{prefix}-{NETWORK_NAME}",
            max_azs=2,
            nat_gateways=0,  # public subnets only: a task's public IP reaches its vendor and AWS directly
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
            ],
            # The default security group is attached to nothing; restricting it would add a
            # custom-resource Lambda for no gain.
            restrict_default_security_group=False,
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )


@dataclass(frozen=True)
class TaskFoundation:
    security_group: ec2.SecurityGroup
    cluster: ecs.Cluster
    log_group: logs.LogGroup
    execution_role: iam.Role
    task_definition: ecs.FargateTaskDefinition


def task_foundation(
    scope: Construct,
    *,
    name: str,
    spec: r.TaskSpec,
    prefix: str,
    vpc: ec2.IVpc,
    egress: tuple[tuple[ec2.Port, str], ...],
    egress_to: str,
    monitoring: str,
    execution_reads: str,
    task_role: iam.IRole,
) -> TaskFoundation:
    """What every task of the stack has: a security group with no ingress, a cluster without Container
    Insights, a log group, the execution role and an x86_64 Fargate task definition."""
    security_group = ec2.SecurityGroup(
        scope,
        "SecurityGroup",
        vpc=vpc,
        description=f"{name}: no ingress; egress to {egress_to} only",
        allow_all_outbound=False,
    )
    for port, why in egress:
        security_group.add_egress_rule(ec2.Peer.any_ipv4(), port, why)
    cluster = ecs.Cluster(
        scope, "Cluster", cluster_name=name, vpc=vpc, container_insights_v2=ecs.ContainerInsights.DISABLED
    )
    acknowledge(
        cluster,
        "AwsSolutions-ECS4",
        f"Container Insights is off for cost: one task a day; {monitoring} are the monitoring.",
    )
    log_group = logs.LogGroup(
        scope,
        "Logs",
        log_group_name=spec.log_group_name(prefix),
        retention=LOG_RETENTION,
        removal_policy=RemovalPolicy.DESTROY,
    )
    execution_role = iam.Role(
        scope,
        "ExecutionRole",
        assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
        description=f"{name}: pull the image, read {execution_reads}, write logs",
    )
    task_definition = ecs.FargateTaskDefinition(
        scope,
        "TaskDefinition",
        family=name,
        cpu=spec.cpu_units,
        memory_limit_mib=spec.memory_mib,
        # x86_64: the image installs the smart0dte package, whose pricing kernel is x86-64 code.
        runtime_platform=ecs.RuntimePlatform(
            cpu_architecture=ecs.CpuArchitecture.X86_64,
            operating_system_family=ecs.OperatingSystemFamily.LINUX,
        ),
        task_role=task_role,
        execution_role=execution_role,
    )
    return TaskFoundation(security_group, cluster, log_group, execution_role, task_definition)


def mount_writable_paths(task_definition: ecs.TaskDefinition, container: ecs.ContainerDefinition) -> None:
    """One task volume per WRITABLE_PATHS entry, mounted read-write in `container`."""
    for volume, path in WRITABLE_PATHS.items():
        task_definition.add_volume(name=volume)
        container.add_mount_points(ecs.MountPoint(container_path=path, source_volume=volume, read_only=False))


def task_image(scope: Construct, repo_root: Path) -> ecr_assets.DockerImageAsset:
    """The gateway_container/ image, built from the repository root by `cdk deploy` (synthesis only
    stages the build context). The gateway and the feed run the same image; CDK stages and pushes
    an identical asset once."""
    return ecr_assets.DockerImageAsset(
        scope,
        "Image",
        directory=str(repo_root),
        file=IMAGE_DOCKERFILE,
        exclude=IMAGE_EXCLUDE,
        ignore_mode=IgnoreMode.DOCKER,
        platform=ecr_assets.Platform.LINUX_AMD64,
    )


def acknowledge_execution_role(execution_role: iam.Role, secret: secretsmanager.ISecret) -> None:
    """The two wildcards of an ECS execution role that pulls the asset image and reads one secret."""
    policy = execution_role.node.try_find_child("DefaultPolicy")
    acknowledge(
        policy or execution_role,
        "AwsSolutions-IAM5",
        "ecr:GetAuthorizationToken supports no resource-level permission; the image layers are "
        "pulled from the CDK assets repository only.",
        "Resource::*",
    )
    acknowledge(
        policy or execution_role,
        "AwsSolutions-IAM5",
        "Secrets Manager appends 6 random characters to a secret's ARN; the secret is created by "
        "the operator, so it is granted by its name plus that suffix (one secret).",
        finding_resource(execution_role, f"{secret.secret_arn}-??????"),
    )


def start_task_schedule(
    scope: Construct,
    *,
    schedule_name: str,
    cron: str,
    timezone: str,
    family: str,
    cluster: ecs.ICluster,
    task_definition: ecs.TaskDefinition,
    passed_roles: tuple[iam.IRole, ...],
    subnets: list[ec2.ISubnet],
    security_group: ec2.ISecurityGroup,
    schedule_group: scheduler.CfnScheduleGroup,
    max_event_age_s: int,
) -> tuple[iam.Role, scheduler.CfnSchedule]:
    """A recurring EventBridge Scheduler schedule in `schedule_group` that runs one Fargate task of
    `family` in `subnets` with a public IP. Its role may RunTask that family's revisions in that
    cluster only, and pass the task's roles to ECS tasks only."""
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "StartRole",
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
        ),
        description=f"{schedule_name}: runs the {family} task only",
    )
    family_arn = stack.format_arn(service="ecs", resource="task-definition", resource_name=f"{family}:*")
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["ecs:RunTask"],
            resources=[family_arn],
            conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[passed.role_arn for passed in passed_roles],
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        )
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5",
        "Every deployment registers a new revision of the task definition: RunTask is allowed on "
        "this family's revisions only, in this cluster only.",
        finding_resource(scope, family_arn),
    )
    schedule = scheduler.CfnSchedule(
        scope,
        "StartSchedule",
        name=schedule_name,
        group_name=schedule_group.name,
        schedule_expression=cron,
        schedule_expression_timezone=timezone,
        flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
        state="ENABLED",
        description=f"starts the {family} task ({cron} {timezone}); it stops itself",
        target=scheduler.CfnSchedule.TargetProperty(
            arn=cluster.cluster_arn,
            role_arn=role.role_arn,
            ecs_parameters=scheduler.CfnSchedule.EcsParametersProperty(
                task_definition_arn=task_definition.task_definition_arn,
                launch_type="FARGATE",
                platform_version="LATEST",
                task_count=1,
                network_configuration=scheduler.CfnSchedule.NetworkConfigurationProperty(
                    awsvpc_configuration=scheduler.CfnSchedule.AwsVpcConfigurationProperty(
                        subnets=[s.subnet_id for s in subnets],
                        security_groups=[security_group.security_group_id],
                        assign_public_ip="ENABLED",  # no NAT: the public IP is the way out
                    )
                ),
            ),
            retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                maximum_retry_attempts=RETRY_ATTEMPTS, maximum_event_age_in_seconds=max_event_age_s
            ),
        ),
    )
    schedule.node.add_dependency(schedule_group)
    return role, schedule
