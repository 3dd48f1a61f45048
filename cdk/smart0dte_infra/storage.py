"""Tables, buckets, the order-intent queue and the alert topic, one per spec in resources.py."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from smart0dte import resources as r

ATTRIBUTE_TYPES = {
    r.KeyType.STRING: dynamodb.AttributeType.STRING,
    r.KeyType.NUMBER: dynamodb.AttributeType.NUMBER,
}
ACCESS_LOG_RETENTION = Duration.days(90)
DLQ_RETENTION = Duration.days(14)
NONCURRENT_VERSION_RETENTION = Duration.days(30)
"""Every bucket is versioned: an overwritten or deleted object (a report, a model, a day of the
archive, the site) can be restored for this long, then its old version expires."""
OLD_VERSIONS = s3.LifecycleRule(
    id="expire-old-versions",
    noncurrent_version_expiration=NONCURRENT_VERSION_RETENTION,
    expired_object_delete_marker=True,
    abort_incomplete_multipart_upload_after=Duration.days(7),
)


def _attribute(key: r.Key) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=ATTRIBUTE_TYPES[key.type])


def construct_id(logical_name: str) -> str:
    """A CloudFormation-friendly id from a logical name: 'order-intents' -> 'OrderIntents'."""
    return "".join(part.capitalize() for part in logical_name.replace("-", "_").split("_"))


def dead_letter_name(spec: r.QueueSpec, prefix: str) -> str:
    return f"{prefix}-{spec.logical_name}-dlq" + (".fifo" if spec.fifo else "")


class Storage(Construct):
    """Everything that keeps state. Data outlives the stack: tables and buckets are retained on
    delete, tables have point-in-time recovery, buckets are private, encrypted, TLS-only and
    versioned (old versions expire after NONCURRENT_VERSION_RETENTION)."""

    def __init__(self, scope: Construct, construct_id_: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id_)
        self.tables: dict[r.TableSpec, dynamodb.Table] = {t: self._table(t, prefix) for t in r.TABLES}

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery cannot write SSE-KMS
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-logs", expiration=ACCESS_LOG_RETENTION),
                OLD_VERSIONS,
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.buckets: dict[r.BucketSpec, s3.Bucket] = {b: self._bucket(b, prefix) for b in r.BUCKETS}

        self.dead_letter_queues: dict[r.QueueSpec, sqs.Queue] = {}
        self.queues: dict[r.QueueSpec, sqs.Queue] = {q: self._queue(q, prefix) for q in r.QUEUES}

        sns_key = kms.Alias.from_alias_name(self, "SnsManagedKey", "alias/aws/sns")
        self.topics: dict[r.TopicSpec, sns.Topic] = {
            t: sns.Topic(
                self,
                construct_id(t.logical_name) + "Topic",
                topic_name=t.physical_name(prefix),
                display_name=f"{prefix} {t.logical_name}",
                master_key=sns_key,
                enforce_ssl=True,
            )
            for t in r.TOPICS
        }

    def _table(self, spec: r.TableSpec, prefix: str) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            construct_id(spec.logical_name) + "Table",
            table_name=spec.physical_name(prefix),
            partition_key=_attribute(spec.partition_key),
            sort_key=_attribute(spec.sort_key) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.partition_key),
                sort_key=_attribute(index.sort_key) if index.sort_key else None,
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    def _bucket(self, spec: r.BucketSpec, prefix: str) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id(spec.logical_name) + "Bucket",
            bucket_name=spec.physical_name(prefix, account=Aws.ACCOUNT_ID),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,  # a reset or a bad promotion can be rolled back
            lifecycle_rules=[OLD_VERSIONS],
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{spec.logical_name}/",
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _queue(self, spec: r.QueueSpec, prefix: str) -> sqs.Queue:
        dead_letters = sqs.Queue(
            self,
            construct_id(spec.logical_name) + "DeadLetters",
            queue_name=dead_letter_name(spec, prefix),
            fifo=spec.fifo or None,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.dead_letter_queues[spec] = dead_letters
        return sqs.Queue(
            self,
            construct_id(spec.logical_name) + "Queue",
            queue_name=spec.physical_name(prefix),
            fifo=spec.fifo or None,
            # The deduplication id is the order intent id, set by the sender; never the body's hash.
            content_based_deduplication=False if spec.fifo else None,
            visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=spec.max_receive_count, queue=dead_letters
            ),
        )
