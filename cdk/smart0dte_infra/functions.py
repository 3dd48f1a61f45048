"""The two layers and one Lambda function per resources.FUNCTIONS entry, each with its own role
holding only what access.py grants it, and environment variables naming those resources."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aws_cdk import AssetHashType, Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, Node

from smart0dte import resources as r
from smart0dte.domain.pricing import KERNEL_ENV

from .access import (
    BUCKET_LISTS,
    BUCKET_OBJECT_ACTIONS,
    TABLE_ACTIONS,
    TABLE_READS_INDEXES,
    FunctionAccess,
    access_for,
)
from .layer_build import DEPS_DIR_PREFIX
from .nag import acknowledge, finding_resource
from .sources import handler_path
from .storage import Storage, construct_id

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64
"""x86_64 because the dependency layer is built from manylinux_2_28_x86_64 wheels."""
HANDLER = "handler.handler"
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
ASSET_EXCLUDE = ["**/__pycache__", "**/*.pyc", "**/*.egg-info", "**/.mypy_cache", "**/.pytest_cache"]
"""Never shipped: bytecode caches (Lambda's /opt is read-only, stale .pyc only cost space),
packaging metadata of the editable install, tool caches."""
METRICS_NAMESPACE = r.METRICS_NAMESPACE

RESERVED_CONCURRENCY_CONTEXT: Final = "reservedConcurrency"
RESERVED_CONCURRENCY: Final = {
    "api": 10,  # one operator's dashboard: ~2 requests in flight at the stage's 50/s; caps a runaway client
    "backtest_day": 40,  # the backtest workflow's Distributed Map MaxConcurrency: two runs share it
    "learning": 1,  # 3 GB for up to 15 minutes; one retraining at a time (the registry promotes one)
}
"""Functions whose runaway would cost money, and their cap (reserved = maximum concurrency). 51 in
all: Lambda keeps 100 of the account's limit unreserved, so a limit of 1,000 (the default) fits and
a new account's limit of 10 does not: deploy those with `-c reservedConcurrency=off` (and ask for
more). The trading cycle's functions (signals, risk, execute) and the once-a-day ones are not capped:
a throttled trading minute costs more than it saves."""
RESERVED_CONCURRENCY_VALUES: Final = ("on", "off")

XRAY_REASON = "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (tracing)."


class ReservedConcurrencyContextError(ValueError):
    """The reservedConcurrency context is not on or off."""


def reserved_concurrency_from_context(node: Node) -> dict[str, int]:
    """RESERVED_CONCURRENCY unless `-c reservedConcurrency=off`; any other value is refused."""
    raw = node.try_get_context(RESERVED_CONCURRENCY_CONTEXT)
    value = "on" if raw is None else str(raw)
    if value not in RESERVED_CONCURRENCY_VALUES:
        raise ReservedConcurrencyContextError(
            f"context {RESERVED_CONCURRENCY_CONTEXT}={raw!r} is not allowed: use on (the default: "
            f"{', '.join(f'{k} {v}' for k, v in RESERVED_CONCURRENCY.items())}) or off (an account whose "
            f"Lambda concurrency limit is below {sum(RESERVED_CONCURRENCY.values()) + 100})"
        )
    return dict(RESERVED_CONCURRENCY) if value == "on" else {}


class Functions(Construct):
    """Layers and functions. `functions[name]` is the function of the spec with that name;
    `reserved_concurrency[name]`, when given, caps that function's concurrency."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        prefix: str,
        repo_root: Path,
        deps_layer_dir: Path,
        storage: Storage,
        reserved_concurrency: dict[str, int] | None = None,
    ) -> None:
        super().__init__(scope, construct_id_)
        self.reserved_concurrency = reserved_concurrency or {}
        self.core_layer = lambda_.LayerVersion(
            self,
            "CoreLayer",
            code=lambda_.Code.from_asset(
                str(repo_root / "layers" / "core"), exclude=[*ASSET_EXCLUDE, "**/*.c"]
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="the smart0dte package (layers/core)",
            removal_policy=RemovalPolicy.RETAIN,  # a rollback may still need the previous version
        )
        self.deps_layer = lambda_.LayerVersion(
            self,
            "DepsLayer",
            code=_deps_code(deps_layer_dir),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=f"third-party dependencies (layers/deps/requirements.txt, {deps_layer_dir.name})",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.access = access_for()
        self.functions: dict[str, lambda_.Function] = {}
        for spec in r.FUNCTIONS:
            self.functions[spec.name] = self._function(spec, prefix, repo_root, storage)

    def _function(
        self, spec: r.FunctionSpec, prefix: str, repo_root: Path, storage: Storage
    ) -> lambda_.Function:
        cid = construct_id(spec.name)
        log_group = logs.LogGroup(
            self, f"{cid}Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        role = iam.Role(
            self,
            f"{cid}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{spec.physical_name(prefix)}: only what cdk/smart0dte_infra/access.py grants",
        )
        log_group.grant_write(role)
        access = self.access[spec.name]
        environment = {
            r.ENV_PREFIX: prefix,
            r.ENV_ACCOUNT: Aws.ACCOUNT_ID,
            "POWERTOOLS_SERVICE_NAME": spec.name,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": "INFO",
            KERNEL_ENV: "c",  # the compiled kernel or an import error, never a silent fallback
        }
        environment.update(_grant(role, access, storage))
        function = lambda_.Function(
            self,
            f"{cid}Function",
            function_name=spec.physical_name(prefix),
            description=spec.purpose,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(handler_path(spec, repo_root).parent), exclude=ASSET_EXCLUDE),
            layers=[self.core_layer, self.deps_layer],
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment=environment,
            reserved_concurrent_executions=self.reserved_concurrency.get(spec.name),
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Pinned to python3.12 on purpose: the dependency layer is built for cp312 manylinux_2_28_x86_64 "
            "wheels (Amazon Linux 2023); runtime and layer move together.",
        )
        acknowledge(role, "AwsSolutions-IAM5", XRAY_REASON, "Resource::*")
        object_arns = [storage.buckets[b].arn_for_objects("*") for b in access.buckets]
        object_arns += [
            storage.buckets[b].arn_for_objects(f"{prefix}*")
            for b, prefixes in access.deletes_objects.items()
            for prefix in prefixes
        ]
        if object_arns:
            acknowledge(
                role,
                "AwsSolutions-IAM5",
                "Object-level access (get/put) is granted on <bucket>/* of the buckets this function "
                "needs, never on other buckets or bucket-level actions; deletes only under named "
                "<bucket>/<prefix>*.",
                *(finding_resource(self, arn) for arn in object_arns),
            )
        return function


def _deps_code(deps_layer_dir: Path) -> lambda_.AssetCode:
    """A layer built by layer_build is named by its requirements hash: reuse that as the asset hash
    instead of fingerprinting ~100 MB on every synth. Any other folder is fingerprinted."""
    if deps_layer_dir.name.startswith(DEPS_DIR_PREFIX):
        return lambda_.Code.from_asset(
            str(deps_layer_dir), asset_hash=deps_layer_dir.name, asset_hash_type=AssetHashType.CUSTOM
        )
    return lambda_.Code.from_asset(str(deps_layer_dir), exclude=ASSET_EXCLUDE)


def _grant(role: iam.Role, access: FunctionAccess, storage: Storage) -> dict[str, str]:
    """Add the statements of one access entry to `role`; return the environment naming its resources."""
    environment: dict[str, str] = {}
    for spec, level in access.tables.items():
        table = storage.tables[spec]
        resources = [table.table_arn]
        if level in TABLE_READS_INDEXES:
            resources += [f"{table.table_arn}/index/{index.name}" for index in spec.indexes]
        role.add_to_policy(iam.PolicyStatement(actions=list(TABLE_ACTIONS[level]), resources=resources))
        environment[r.env_var("TABLE", spec.logical_name)] = table.table_name
    for bucket_spec, bucket_level in access.buckets.items():
        bucket = storage.buckets[bucket_spec]
        role.add_to_policy(
            iam.PolicyStatement(
                actions=list(BUCKET_OBJECT_ACTIONS[bucket_level]), resources=[bucket.arn_for_objects("*")]
            )
        )
        if bucket_level in BUCKET_LISTS:
            role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
        environment[r.env_var("BUCKET", bucket_spec.logical_name)] = bucket.bucket_name
        if prefixes := access.deletes_objects.get(bucket_spec):
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:DeleteObject"], resources=[bucket.arn_for_objects(f"{p}*") for p in prefixes]
                )
            )
    for queue_spec in access.sends_to:
        queue = storage.queues[queue_spec]
        role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn]))
        environment[r.queue_url_env(queue_spec)] = queue.queue_url
    for topic_spec in access.publishes_to:
        topic = storage.topics[topic_spec]
        role.add_to_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn]))
        environment[r.env_var("TOPIC", topic_spec.logical_name, "ARN")] = topic.topic_arn
    return environment
