"""Every AWS resource of the system, named once: tables and their keys, buckets, the order queue,
the alert topic, Lambda functions, state machines and schedules.

cdk/ synthesizes the stack from these specs and local/ provisions the embedded AWS from them, so
a name written here is the only place that name exists. Physical names are
`<prefix>-<logical name>`; the prefix defaults to `smart0dte` and carries a stage in AWS
(e.g. `smart0dte-prod`). Paper and live share tables but never a record: the trading mode
opens every partition key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from smart0dte.domain.models import TradingMode

DEFAULT_PREFIX = "smart0dte"
SCHEDULE_TIMEZONE = "America/New_York"
REPO_ROOT = Path(__file__).resolve().parents[4]
"""The repository checkout (layers/core/python/smart0dte/resources.py is four levels down)."""


class KeyType(StrEnum):
    STRING = "S"
    NUMBER = "N"


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    type: KeyType = KeyType.STRING


@dataclass(frozen=True, slots=True)
class IndexSpec:
    name: str
    partition_key: Key
    sort_key: Key | None = None


@dataclass(frozen=True, slots=True)
class TableSpec:
    logical_name: str
    partition_key: Key
    sort_key: Key | None = None
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None
    purpose: str = ""

    def physical_name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"{prefix}-{self.logical_name}"


PK = Key("pk")
SK = Key("sk")

CONTROL_TABLE = TableSpec(
    "control",
    PK,
    SK,
    purpose="settings and trading state (switches, pause, emergency stop) and daily counters, per mode",
)
TRADING_TABLE = TableSpec(
    "trading",
    PK,
    SK,
    indexes=(IndexSpec("by_status", Key("gsi1pk"), Key("gsi1sk")),),
    purpose="signals, risk decisions, orders, fills and positions; by_status finds open positions "
    "and working orders",
)
MARKET_TABLE = TableSpec(
    "market",
    PK,
    SK,
    ttl_attribute="expires_at",
    purpose="1-minute bars and chain snapshots written by the gateway task, expiring after a few days",
)
AUDIT_TABLE = TableSpec(
    "audit",
    PK,
    SK,
    purpose="append-only audit log: who, what, when and why of every decision and manual action",
)
IDEMPOTENCY_TABLE = TableSpec(
    "idempotency",
    Key("id"),
    ttl_attribute="expiration",
    purpose="Powertools idempotency records (execute is idempotent on the order intent id)",
)
TABLES = (CONTROL_TABLE, TRADING_TABLE, MARKET_TABLE, AUDIT_TABLE, IDEMPOTENCY_TABLE)


def mode_key(mode: TradingMode, *parts: str) -> str:
    """A partition key that starts with the trading mode, so no two modes (paper, ibkr_paper, live) meet."""
    return "#".join((mode.value, *parts))


@dataclass(frozen=True, slots=True)
class BucketSpec:
    logical_name: str
    purpose: str

    def physical_name(self, prefix: str = DEFAULT_PREFIX, account: str = "local") -> str:
        return f"{prefix}-{self.logical_name}-{account}"


ARCHIVE_BUCKET = BucketSpec("archive", "DBN market-data archive, one folder per session date")
MODELS_BUCKET = BucketSpec("models", "model artifacts and the registry of promoted models")
REPORTS_BUCKET = BucketSpec("reports", "daily reports, backtest and optimization results")
BUCKETS = (ARCHIVE_BUCKET, MODELS_BUCKET, REPORTS_BUCKET)

# Key layout of the reports bucket.
BACKTESTS_PREFIX = "backtests/"
"""backtests/<request id>/report.json, backtests/<request id>/days/<YYYY-MM-DD>.json and
backtests/runs/<execution name>/failure.json (mode-free)."""
OPTIMIZATION_PREFIX = "optimization/"
"""optimization/<strategy>/latest.json and optimization/<strategy>/<YYYY-MM-DD>.json (mode-free)."""


def daily_reports_prefix(mode: TradingMode) -> str:
    """daily/<mode>/<YYYY-MM-DD>.json: post_close's report of each session."""
    return f"daily/{mode.value}/"


def backtest_failure_key(run_id: str) -> str:
    """Where backtest run `run_id` (the workflow's execution name) records why it failed, in words."""
    return f"{BACKTESTS_PREFIX}runs/{run_id}/failure.json"


def optimization_key(strategy: str, session_date: str = "latest") -> str:
    """The optimization report of `strategy` written on `session_date` (default: the newest)."""
    return f"{OPTIMIZATION_PREFIX}{strategy}/{session_date}.json"


def reset_report_prefixes(mode: TradingMode) -> tuple[str, ...]:
    """What a reset of the analytics deletes from the reports bucket for `mode`."""
    return (daily_reports_prefix(mode), BACKTESTS_PREFIX, OPTIMIZATION_PREFIX)


@dataclass(frozen=True, slots=True)
class QueueSpec:
    logical_name: str
    fifo: bool
    visibility_timeout_s: int
    max_receive_count: int
    purpose: str

    def physical_name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"{prefix}-{self.logical_name}" + (".fifo" if self.fifo else "")


ORDER_INTENT_QUEUE = QueueSpec(
    "order-intents",
    fifo=True,
    visibility_timeout_s=60,
    max_receive_count=3,
    purpose="live order intents for the gateway's IB bridge; deduplication id = intent id",
)
QUEUES = (ORDER_INTENT_QUEUE,)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    logical_name: str
    purpose: str

    def physical_name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"{prefix}-{self.logical_name}"


ALERT_TOPIC = TopicSpec("alerts", "incidents, circuit breakers, emergency stops and daily reports")
TOPICS = (ALERT_TOPIC,)


# --- environment variables ---------------------------------------------------------------------
# CDK (cdk/smart0dte_infra) sets them on the functions and tasks; only smart0dte.bootstrap reads them.


def env_var(kind: str, logical_name: str = "", suffix: str = "") -> str:
    """SMART0DTE_<KIND>[_<NAME>][_<SUFFIX>], e.g. SMART0DTE_TABLE_TRADING, SMART0DTE_TOPIC_ALERTS_ARN."""
    words = ["SMART0DTE", kind, logical_name, suffix]
    return "_".join(w.upper().replace("-", "_") for w in words if w)


def queue_url_env(queue: QueueSpec) -> str:
    return env_var("QUEUE", queue.logical_name, "URL")


def topic_arn_env(topic: TopicSpec) -> str:
    return env_var("TOPIC", topic.logical_name, "ARN")


def state_machine_arn_env(name: str) -> str:
    """The variable holding a workflow's ARN where a function or task starts it."""
    return env_var("STATE_MACHINE", name, "ARN")


ENV_PREFIX = env_var("PREFIX")
"""Resource name prefix, e.g. `smart0dte-prod` (default `smart0dte`)."""
ENV_MODE = env_var("MODE")
"""`paper` (default), `ibkr_paper` or `live`: whose records a process keeps when no event names the
mode (the gateway task: the broker-backed mode it trades)."""
ENV_ACCOUNT = env_var("ACCOUNT")
"""Bucket name suffix: the AWS account id in AWS (default `local`)."""
ENV_SCHEDULE_GROUP = env_var("SCHEDULE_GROUP")
ENV_SESSION_SCHEDULER_ROLE_ARN = env_var("SESSION_SCHEDULER_ROLE", suffix="ARN")
ENV_LIVE_TRADING = env_var("LIVE_TRADING")
"""The API's: the broker-backed mode the deployment's gateway serves, which it may arm (after every
check): `ibkr_paper` (an IB paper account), `enabled` (live), `disabled` (none: paper only)."""
ENV_TELEGRAM_SECRET = env_var("TELEGRAM_SECRET")
"""The Telegram function's: the name of its secret (`telegram_secret_name`)."""
ENV_TELEGRAM_CHAT_IDS = env_var("TELEGRAM_CHAT_IDS")
"""The Telegram function's: more allowed chat ids, comma-separated (`-c telegramChatIds=`), beside
the secret's `chat_ids`."""
ENV_ORIGIN_VERIFY = env_var("ORIGIN_VERIFY")
"""The API's: the value CloudFront sends in ORIGIN_VERIFY_HEADER; a request without it did not come
through CloudFront (it called the execute-api endpoint directly) and is refused with 403."""
ORIGIN_VERIFY_HEADER = "x-smart0dte-origin"
ENV_IB_HOST = env_var("IB_HOST")
ENV_IB_PORT = env_var("IB_PORT")
"""IB Gateway's API port: 4002 for ibkr_paper, 4001 for live (`ports.GATEWAY_PORTS`)."""
ENV_IB_CLIENT_ID = env_var("IB_CLIENT_ID")
ENV_IB_ACCOUNT = env_var("IB_ACCOUNT")
"""The IB account: a paper id (DU..., DF...) for ibkr_paper, a real one for live."""
ENV_DATABENTO_API_KEY = "DATABENTO_API_KEY"
"""Databento's own name for its key (the feed task gets it from Secrets Manager)."""
ENV_AWS_REGION = "AWS_REGION"
ENV_AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"
ENV_AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
"""One endpoint for every service, e.g. the embedded moto server."""


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A Lambda function: `lambdas/<name>/handler.py`, entry point `handler`."""

    name: str
    memory_mb: int = 512
    timeout_s: int = 30
    purpose: str = ""

    @property
    def handler_path(self) -> Path:
        return REPO_ROOT / "lambdas" / self.name / "handler.py"

    def physical_name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"{prefix}-{self.name.replace('_', '-')}"


FUNCTIONS = (
    FunctionSpec("pre_market", purpose="calendar check, health, daily reset, model load, today's schedules"),
    FunctionSpec("signals", memory_mb=1024, purpose="strategies and model on the latest closed bar"),
    FunctionSpec("risk", purpose="pre-trade checks and sizing, every violated rule named"),
    FunctionSpec("execute", purpose="idempotent on the intent id: paper fills, live goes to the FIFO queue"),
    FunctionSpec("flatten", purpose="cancel working orders, close every 0DTE position, block entries"),
    FunctionSpec("post_close", timeout_s=300, purpose="reconcile, daily analytics, report to S3 and SNS"),
    FunctionSpec(
        "learning", memory_mb=3008, timeout_s=900, purpose="retrain walk-forward, promote if better"
    ),
    FunctionSpec("backtest_day", memory_mb=2048, timeout_s=300, purpose="one backtest session"),
    FunctionSpec("notify", purpose="scheduled notices: IB's weekly re-authentication (Sunday evening)"),
    FunctionSpec(
        "api",
        memory_mb=1024,
        timeout_s=29,  # API Gateway gives up on an HTTP API integration after 30 s
        purpose="the dashboard's HTTP API behind API Gateway's Cognito JWT authorizer and CloudFront",
    ),
)

TELEGRAM_FUNCTION = FunctionSpec(
    "telegram",
    memory_mb=512,
    timeout_s=15,
    purpose="the Telegram bot's webhook: status and control from a phone (POST /api/telegram/webhook)",
)
"""Not in FUNCTIONS: deployed only with `-c telegram=enabled` (cdk/smart0dte_infra/telegram.py)."""
TELEGRAM_WEBHOOK_PATH = "/api/telegram/webhook"
TELEGRAM_SECRET_SUFFIX = "telegram"
TELEGRAM_SECRET_KEYS = ("bot_token", "webhook_secret", "chat_ids")
"""The secret's JSON: BotFather's token, the webhook's secret token, the allowed chat ids (a list)."""


def telegram_secret_name(prefix: str = DEFAULT_PREFIX) -> str:
    """The Secrets Manager secret `<prefix>/telegram` the bot reads (created by hand, see README)."""
    return f"{prefix}/{TELEGRAM_SECRET_SUFFIX}"


class WorkflowType(StrEnum):
    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


@dataclass(frozen=True, slots=True)
class StateMachineSpec:
    """A workflow defined in `stepfunctions/<name>.asl.json`; `${<Function>Arn}` placeholders
    are substituted with the ARNs of the functions it invokes."""

    name: str
    type: WorkflowType
    functions: tuple[str, ...]
    purpose: str = ""

    @property
    def definition_path(self) -> Path:
        return REPO_ROOT / "stepfunctions" / f"{self.name}.asl.json"

    @property
    def substitutions(self) -> dict[str, str]:
        """Placeholder -> function name, e.g. {'SignalsFunctionArn': 'signals'}."""
        return {f"{_camel(f)}FunctionArn": f for f in self.functions}

    def physical_name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"{prefix}-{self.name.replace('_', '-')}"


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


STATE_MACHINES = (
    StateMachineSpec("pre_market", WorkflowType.STANDARD, ("pre_market",)),
    StateMachineSpec("trading_cycle", WorkflowType.EXPRESS, ("signals", "risk", "execute")),
    StateMachineSpec("flatten", WorkflowType.STANDARD, ("flatten",)),
    StateMachineSpec("post_close", WorkflowType.STANDARD, ("post_close",)),
    StateMachineSpec("learning", WorkflowType.STANDARD, ("learning",)),
    StateMachineSpec("backtest", WorkflowType.STANDARD, ("backtest_day",)),
)


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A recurring EventBridge Scheduler schedule, in New York time. Flatten and post_close are
    one-time schedules that pre_market creates each session from the calendar (early closes)."""

    name: str
    cron: str
    target_state_machine: str
    timezone: str = field(default=SCHEDULE_TIMEZONE)

    def physical_name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"{prefix}-{self.name.replace('_', '-')}"


SCHEDULES = (
    ScheduleSpec("pre_market", "cron(0 8 ? * MON-FRI *)", "pre_market"),
    ScheduleSpec("learning_weekday", "cron(0 17 ? * MON-FRI *)", "learning"),
    ScheduleSpec("learning_weekend", "cron(0 10 ? * SAT *)", "learning"),
)
REAUTHENTICATION_SCHEDULE = "ib-reauthentication"
REAUTHENTICATION_CRON = "cron(0 18 ? * SUN *)"
"""Sunday 18:00 New York: the notify function reminds the owner of IB's weekly re-authentication
(deployed with the gateway only; the schedule invokes the function, no state machine)."""
FLATTEN_SCHEDULE_PREFIX = "flatten"
POST_CLOSE_SCHEDULE_PREFIX = "post-close"


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """An ECS Fargate task of the stack, built from gateway_container/. Started on weekdays by a
    recurring schedule; the command itself refuses a day with no NYSE session and stops 15 minutes
    after the close, so nothing stops it on a schedule."""

    name: str
    cpu_units: int
    memory_mib: int
    start_cron: str
    secret_suffix: str
    """The Secrets Manager secret `<prefix>/<suffix>` the task reads its credentials from."""
    stop_timeout_s: int
    heartbeat_every_s: int = 60
    """How often the running task emits its HEARTBEAT_METRIC (the monitoring's dead man's switch)."""
    timezone: str = field(default=SCHEDULE_TIMEZONE)

    def physical_name(self, prefix: str = DEFAULT_PREFIX) -> str:
        """The cluster and the task definition family."""
        return f"{prefix}-{self.name}"

    def log_group_name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"/ecs/{self.physical_name(prefix)}"

    def secret_name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"{prefix}/{self.secret_suffix}"

    def start_schedule_name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"{self.physical_name(prefix)}-start"


@dataclass(frozen=True, slots=True)
class GatewaySpec(TaskSpec):
    """The gateway task: IB Gateway, IBC and `smart0dte order-bridge`, for ibkr_paper (an IB paper
    account) or live. Deployed only with `-c liveTrading=ibkr_paper` or `-c liveTrading=enabled`;
    paper trading needs none of it. Its secret holds the IB login (paper or live) as JSON."""

    ib_client_id: int = 1
    secret_username_key: str = "username"
    secret_password_key: str = "password"


GATEWAY = GatewaySpec(
    "gateway",
    cpu_units=1024,  # 1 vCPU, 2 GiB: IB Gateway is a Java application
    memory_mib=2048,
    start_cron="cron(45 8 ? * MON-FRI *)",  # 08:45 New York: logged in well before the open
    ib_client_id=1,
    secret_suffix="ibkr",
    secret_username_key="username",
    secret_password_key="password",
    stop_timeout_s=120,  # Fargate's maximum: SIGTERM, then the bridge finishes its current step
    heartbeat_every_s=30,  # the order bridge's beat (services.order_bridge.LoopTimings)
)
# The market-data feed task: `smart0dte feed` from the same image, deployed with
# `-c marketData=databento` in every mode alike; its secret is the Databento API key.
FEED = TaskSpec(
    "feed",
    cpu_units=512,  # 0.5 vCPU, 1 GiB: one Python process
    memory_mib=1024,
    start_cron="cron(15 9 ? * MON-FRI *)",  # 09:15 New York: connected and subscribed before the open
    secret_suffix="databento",
    stop_timeout_s=30,  # SIGTERM: the feed stops, the pump finishes its current write and joins
    heartbeat_every_s=60,
)

METRICS_NAMESPACE = "Smart0DTE"
"""The CloudWatch namespace of the handlers' Powertools metrics and the tasks' heartbeats."""
HEARTBEAT_METRIC = "Heartbeat"
"""1 per beat while an ECS task is healthy (the feed alive with every dataset up, the order bridge
connected to IB), else 0. Dimensions: HEARTBEAT_DIMENSIONS, both bounded (stage prefix, task name)."""
HEARTBEAT_DIMENSIONS = ("Prefix", "Task")
