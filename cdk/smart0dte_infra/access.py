"""Who may touch what: the least-privilege matrix of the Lambda functions.

Each function gets exactly the table, bucket, queue and topic access listed here and nothing else;
the functions construct turns an entry into IAM statements and into environment variables naming
those resources, so a function learns only the names it may use:

    SMART0DTE_PREFIX                          the stage prefix (e.g. smart0dte, smart0dte-prod)
    SMART0DTE_ACCOUNT                         the account id, the suffix of bucket names
    SMART0DTE_TABLE_<LOGICAL>                 table name, e.g. SMART0DTE_TABLE_TRADING
    SMART0DTE_BUCKET_<LOGICAL>                bucket name, e.g. SMART0DTE_BUCKET_MODELS
    SMART0DTE_QUEUE_<LOGICAL>_URL             queue URL, e.g. SMART0DTE_QUEUE_ORDER_INTENTS_URL (senders)
    SMART0DTE_TOPIC_<LOGICAL>_ARN             topic ARN, e.g. SMART0DTE_TOPIC_ALERTS_ARN
    pre_market only: SMART0DTE_SCHEDULE_GROUP, SMART0DTE_SESSION_SCHEDULER_ROLE_ARN,
    SMART0DTE_STATE_MACHINE_FLATTEN_ARN, SMART0DTE_STATE_MACHINE_POST_CLOSE_ARN
    api only: SMART0DTE_STATE_MACHINE_BACKTEST_ARN    the workflow it starts

Every name comes from `smart0dte.resources` (env_var and the ENV_* constants), the module the
composition root (`smart0dte.bootstrap`) reads them with, so the two cannot drift apart.

A function added to resources.py without an entry here fails synthesis, so every new function gets
a deliberate decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from smart0dte import resources as r


class TableAccess(Enum):
    READ = "read"
    READ_WRITE = "read_write"
    APPEND = "append"
    """PutItem only: the audit log is append-only (conditional put, no update or delete path)."""
    READ_WRITE_SCAN = "read_write_scan"
    """READ_WRITE plus Scan: POST /api/reset finds a scope's records by key prefix."""
    READ_APPEND = "read_append"
    """READ plus PutItem: the dashboard API lists the audit log and appends to it, never rewrites it."""
    IDEMPOTENCY = "idempotency"
    """What Powertools' DynamoDB persistence layer calls: get, put, update, delete of its records."""


class BucketAccess(Enum):
    READ = "read"
    WRITE = "write"
    READ_WRITE = "read_write"


_READS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
_WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
TABLE_ACTIONS: dict[TableAccess, tuple[str, ...]] = {
    TableAccess.READ: _READS,
    TableAccess.READ_WRITE: _READS + _WRITES,
    TableAccess.READ_WRITE_SCAN: (*_READS, *_WRITES, "dynamodb:Scan"),
    TableAccess.APPEND: ("dynamodb:PutItem",),
    TableAccess.READ_APPEND: (*_READS, "dynamodb:PutItem"),
    TableAccess.IDEMPOTENCY: (
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ),
}
TABLE_READS_INDEXES = frozenset(
    {TableAccess.READ, TableAccess.READ_WRITE, TableAccess.READ_WRITE_SCAN, TableAccess.READ_APPEND}
)

BUCKET_OBJECT_ACTIONS: dict[BucketAccess, tuple[str, ...]] = {
    BucketAccess.READ: ("s3:GetObject",),
    BucketAccess.WRITE: ("s3:PutObject",),
    BucketAccess.READ_WRITE: ("s3:GetObject", "s3:PutObject"),
}
BUCKET_LISTS = frozenset({BucketAccess.READ, BucketAccess.READ_WRITE})
"""ListBucket lets a reader tell a missing key (404) from a denied one (403) and list a prefix."""


@dataclass(frozen=True)
class FunctionAccess:
    tables: Mapping[r.TableSpec, TableAccess] = field(default_factory=dict)
    buckets: Mapping[r.BucketSpec, BucketAccess] = field(default_factory=dict)
    sends_to: tuple[r.QueueSpec, ...] = ()
    publishes_to: tuple[r.TopicSpec, ...] = ()
    creates_session_schedules: bool = False
    """Creates today's one-time flatten and post_close schedules (pre_market)."""
    starts_workflows: tuple[str, ...] = ()
    """State machines (resources.STATE_MACHINES names) it starts and whose executions it describes."""
    deletes_objects: Mapping[r.BucketSpec, tuple[str, ...]] = field(default_factory=dict)
    """DeleteObject on these key prefixes only, of buckets it also lists in `buckets`."""


RW, READ, APPEND = TableAccess.READ_WRITE, TableAccess.READ, TableAccess.APPEND
RESET_REPORT_PREFIXES = r.reset_report_prefixes(r.TradingMode.PAPER)
"""What POST /api/reset deletes from the reports bucket (paper only: never daily/live/)."""

ACCESS: dict[str, FunctionAccess] = {
    "pre_market": FunctionAccess(
        tables={r.CONTROL_TABLE: RW, r.TRADING_TABLE: READ, r.AUDIT_TABLE: APPEND},
        buckets={r.MODELS_BUCKET: BucketAccess.READ},
        publishes_to=(r.ALERT_TOPIC,),
        creates_session_schedules=True,
    ),
    # Every trading_cycle phase saves the session engine's state (control table); signals' exits
    # in live mode go to the order queue like execute's entries; a position still open five
    # minutes before the close is alerted by signals.
    "signals": FunctionAccess(
        tables={r.MARKET_TABLE: READ, r.CONTROL_TABLE: RW, r.TRADING_TABLE: RW, r.AUDIT_TABLE: APPEND},
        buckets={r.MODELS_BUCKET: BucketAccess.READ},
        sends_to=(r.ORDER_INTENT_QUEUE,),
        publishes_to=(r.ALERT_TOPIC,),
    ),
    # A risk limit refusing an entry is notified once a day (claimed in the audit log).
    "risk": FunctionAccess(
        tables={r.CONTROL_TABLE: RW, r.MARKET_TABLE: READ, r.TRADING_TABLE: RW, r.AUDIT_TABLE: APPEND},
        publishes_to=(r.ALERT_TOPIC,),
    ),
    "execute": FunctionAccess(
        tables={
            r.CONTROL_TABLE: RW,
            r.TRADING_TABLE: RW,
            r.MARKET_TABLE: READ,
            r.AUDIT_TABLE: APPEND,
            r.IDEMPOTENCY_TABLE: TableAccess.IDEMPOTENCY,
        },
        sends_to=(r.ORDER_INTENT_QUEUE,),
        publishes_to=(r.ALERT_TOPIC,),
    ),
    "flatten": FunctionAccess(
        tables={r.CONTROL_TABLE: RW, r.TRADING_TABLE: RW, r.MARKET_TABLE: READ, r.AUDIT_TABLE: APPEND},
        sends_to=(r.ORDER_INTENT_QUEUE,),
        publishes_to=(r.ALERT_TOPIC,),
    ),
    "post_close": FunctionAccess(
        tables={r.CONTROL_TABLE: RW, r.TRADING_TABLE: RW, r.MARKET_TABLE: READ, r.AUDIT_TABLE: APPEND},
        buckets={r.REPORTS_BUCKET: BucketAccess.WRITE},
        publishes_to=(r.ALERT_TOPIC,),
    ),
    "learning": FunctionAccess(
        tables={r.CONTROL_TABLE: READ, r.AUDIT_TABLE: APPEND},
        buckets={
            r.ARCHIVE_BUCKET: BucketAccess.READ,
            r.MODELS_BUCKET: BucketAccess.READ_WRITE,
            r.REPORTS_BUCKET: BucketAccess.WRITE,
        },
        publishes_to=(r.ALERT_TOPIC,),
    ),
    "backtest_day": FunctionAccess(
        buckets={
            r.ARCHIVE_BUCKET: BucketAccess.READ,
            r.MODELS_BUCKET: BucketAccess.READ,
            r.REPORTS_BUCKET: BucketAccess.WRITE,
        },
    ),
    # The scheduled reminders read the mode's notification levels (settings) and publish.
    "notify": FunctionAccess(tables={r.CONTROL_TABLE: READ}, publishes_to=(r.ALERT_TOPIC,)),
    # The dashboard: settings, controls and the engine state (control); POST /api/reset deletes
    # paper records, found by a Scan of trading and deleted in batches; bars and chains (market);
    # the audit page reads the log and every change appends to it. Never the idempotency table.
    "api": FunctionAccess(
        tables={
            r.CONTROL_TABLE: RW,
            r.TRADING_TABLE: TableAccess.READ_WRITE_SCAN,
            r.MARKET_TABLE: READ,
            r.AUDIT_TABLE: TableAccess.READ_APPEND,
        },
        # Optimization results (GET /api/analytics/optimization/...); POST /api/reset of the
        # analytics scope deletes the paper daily reports, backtest and optimization results.
        buckets={r.REPORTS_BUCKET: BucketAccess.READ},
        deletes_objects={r.REPORTS_BUCKET: RESET_REPORT_PREFIXES},
        starts_workflows=("backtest",),
        publishes_to=(r.ALERT_TOPIC,),  # the emergency stop and resume are notified
    ),
}


class AccessMatrixError(ValueError):
    """The matrix and resources.FUNCTIONS disagree."""


def access_for(functions: tuple[r.FunctionSpec, ...] = r.FUNCTIONS) -> dict[str, FunctionAccess]:
    """The matrix, checked to cover exactly the functions resources.py declares."""
    declared = {f.name for f in functions}
    if missing := sorted(declared - ACCESS.keys()):
        raise AccessMatrixError(
            f"no least-privilege entry in cdk/smart0dte_infra/access.py for function(s): {', '.join(missing)}"
        )
    if extra := sorted(ACCESS.keys() - declared):
        raise AccessMatrixError(f"access.py lists function(s) that resources.py does not: {', '.join(extra)}")
    machines = {m.name for m in r.STATE_MACHINES}
    for name in sorted(declared):
        if unknown := sorted(set(ACCESS[name].starts_workflows) - machines):
            raise AccessMatrixError(f"{name} starts unknown state machine(s): {', '.join(unknown)}")
        if unlisted := sorted(
            b.logical_name for b in ACCESS[name].deletes_objects if b not in ACCESS[name].buckets
        ):
            raise AccessMatrixError(
                f"{name} deletes objects of bucket(s) it has no access to: {', '.join(unlisted)}"
            )
    return {name: ACCESS[name] for name in sorted(declared)}
