"""The monthly cost of a synthesized stack: its template's resources, a usage model and a price
table give one line per resource (`estimate`). What runs how often is `Usage`, every figure an
explicit assumption that `smart0dte cost --assume name=value` overrides. The always-free
allowances (AWS applies them to every account, for good) are lines of their own, negative, unless
`always_free_tiers` is 0 (an account whose other workloads already use them); the total without
them is given beside (`total_without_free_tiers_usd_month`).

What the template decides: which functions, workflows, tasks, tables, alarms and secrets exist,
their memory, CPU, architecture, workflow type, schedules (runs a month from each cron's weekdays)
and public IPs. What the usage decides: sessions, cycles, durations, requests, bytes. Without the
feed task nothing starts the trading cycle in AWS, so a stack without it has no cycles.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Final

from smart0dte import resources
from smart0dte.domain.aws_prices import ALWAYS_FREE, PRICES_AS_OF, REGION, SOURCES, AwsPrices
from smart0dte.domain.models import DomainError

Template = Mapping[str, Any]

WEEKS_PER_MONTH: Final = 52.1775 / 12
"""A year's weeks over twelve months: a weekday cron runs 5 x this (21.74) times a month."""
FREE_TIER_RESOURCE: Final = "always-free tier"
"""The resource name of the negative lines that take an always-free allowance off."""
EXPRESS_MEMORY_GB: Final = 0.0625
"""An Express execution's memory, billed in 64 MB steps; these workflows pass small documents."""
EXPRESS_BILLING_STEP_MS: Final = 100
KB_PER_GB: Final = 1_000_000
MB_PER_GB: Final = 1_000
DAYS_PER_MONTH: Final = 365.25 / 12
HOURS_PER_MONTH: Final = 730.0
"""The month CloudWatch prorates a custom metric over."""
FREE_TYPES: Final = frozenset(
    {
        "AWS::ApiGatewayV2::Authorizer",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::Stage",
        "AWS::CDK::Metadata",
        "AWS::CloudFront::CachePolicy",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::OriginRequestPolicy",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolDomain",
        "AWS::Cognito::UserPoolResourceServer",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::Route",
        "AWS::EC2::RouteTable",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::Subnet",
        "AWS::EC2::SubnetRouteTableAssociation",
        "AWS::EC2::VPC",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::ECS::Cluster",
        "AWS::Events::Rule",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::OIDCProvider",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::Lambda::Alias",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::LayerVersion",
        "AWS::Lambda::Permission",
        "AWS::Lambda::Url",
        "AWS::Lambda::Version",
        "AWS::Logs::LogGroup",
        "AWS::Logs::MetricFilter",
        "AWS::Logs::ResourcePolicy",
        "AWS::Logs::SubscriptionFilter",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::Subscription",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::SSM::Parameter",
    }
)
"""Resource types with no charge of their own: their cost is in the lines of what uses them (a log
group's in its producer's logs line, a subnet's public IP in its task's, a subscription's in its
topic's; an SSM parameter of the standard tier is free). Custom resources (`Custom::*`) are free
too: their functions are priced as functions."""


@dataclass(frozen=True, slots=True)
class Usage:
    """How the stack is used in a month: every figure an assumption, overridable by name."""

    sessions_per_month: float = 21.0
    """252 NYSE sessions a year over 12 months."""
    session_hours: float = 6.5
    cycles_per_minute: float = 1.0
    """trading_cycle executions per session minute (the feed starts one per closed minute)."""
    cycle_step_ms: float = 300.0
    """Mean billed duration of each Lambda step of a cycle (signals, risk, execute)."""
    cycle_dynamodb_write_units: float = 150.0
    """Per cycle minute: the feed's bars and three chain snapshots, the engine document, outbox records."""
    cycle_dynamodb_read_units: float = 100.0
    cycle_log_kb: float = 30.0
    """Per cycle: the Express workflow's log at level ALL (with execution data)."""
    lambda_log_kb_per_run: float = 2.0
    daily_function_s: float = 10.0
    """pre_market, flatten and post_close: billed seconds per run."""
    learning_s: float = 120.0
    api_requests_per_session: float = 2_000.0
    """The dashboard's API calls through CloudFront on a trading day (a page polls a few routes)."""
    api_request_ms: float = 100.0
    api_dynamodb_read_units_per_request: float = 10.0
    api_response_kb: float = 8.0
    api_access_log_kb_per_request: float = 0.5
    page_loads_per_session: float = 10.0
    page_kb: float = 600.0
    page_requests: float = 8.0
    """Static files per page load (HTML, scripts, styles, config.json)."""
    backtests_per_month: float = 4.0
    sessions_per_backtest: float = 21.0
    backtest_day_s: float = 5.0
    standard_transitions_per_run: float = 5.0
    """State transitions of one Standard execution or one Distributed Map item."""
    one_time_schedules_per_session: float = 2.0
    """pre_market's flatten and post_close schedules of the day."""
    other_function_runs_per_month: float = 30.0
    """Functions the model has no role for (deploy-time custom resources, webhooks): runs each."""
    other_function_s: float = 1.0
    task_stop_hour_et: float = 16.25
    """The tasks stop themselves 15 minutes after a 16:00 close (early closes not deducted)."""
    task_log_mb_per_hour: float = 1.0
    """A task's own log lines (the feed: a few lines a minute; IB Gateway more)."""
    flow_log_mb_per_task_hour: float = 0.1
    """VPC flow log records (~150 B each, a record per flow per 10 minutes) while a task runs."""
    container_image_gb: float = 1.5
    """Each distinct container image in the CDK assets repository (IB Gateway, Java, Python)."""
    order_queue_receives_per_minute: float = 6.0
    """The order bridge's long polls (10 s wait) while the gateway task runs."""
    secret_reads_per_session: float = 2.0
    """Per secret: a task start reads it, a retry reads it again."""
    dynamodb_storage_gb: float = 1.0
    """Market items expire after 3 days; orders, fills, journal and audit grow by megabytes a month."""
    s3_storage_gb: float = 5.0
    s3_puts_per_session: float = 50.0
    s3_gets_per_session: float = 200.0
    notifications_per_session: float = 10.0
    custom_metrics: float = 13.0
    """Powertools metrics (name x bounded dimensions): the 13 names the handlers publish today,
    each with the one `service` dimension."""
    custom_metric_hours_per_month: float = 136.5
    """Hours a month a metric is sent (CloudWatch prorates custom metrics by the hour): every
    session hour, 21 x 6.5, an upper bound for the metrics sent once a day."""
    log_retention_days: float = 90.0
    cognito_monthly_active_users: float = 1.0
    always_free_tiers: float = 1.0
    """1 takes the always-free allowances off, as if this stack were the account's only user of
    them (they are an account's: shared by every stage and workload in it); 0 does not."""

    def overridden(self, pairs: Mapping[str, str], flag: str) -> Usage:
        """This usage with `name=value` overrides; a name it lacks or a value that is not a finite
        number >= 0 is refused, naming `flag`."""
        known = {f.name for f in fields(self)}
        changes: dict[str, float] = {}
        for name, text in pairs.items():
            if name not in known:
                raise DomainError(f"{flag} {name}: unknown assumption; known: {', '.join(sorted(known))}")
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < 0:
                raise DomainError(f"{flag} {name}={text!r} must be a finite number >= 0")
            if name == "always_free_tiers" and value not in (0, 1):
                raise DomainError(f"{flag} {name}={text!r} must be 0 or 1")
            changes[name] = value
        return replace(self, **changes)

    def cycles_per_month(self) -> float:
        return self.sessions_per_month * self.session_hours * 60 * self.cycles_per_minute


@dataclass(frozen=True, slots=True)
class CostLine:
    """One priced item: a resource (its physical name when it has one) and what it costs a month."""

    resource: str
    service: str
    usd_month: float
    detail: str


@dataclass(frozen=True, slots=True)
class CostEstimate:
    lines: tuple[CostLine, ...]
    usage: Usage
    unpriced_types: Mapping[str, int]
    """Resource types in the template that the model neither prices nor knows to be free."""

    @property
    def total_usd_month(self) -> float:
        return sum(line.usd_month for line in self.lines)

    @property
    def total_without_free_tiers_usd_month(self) -> float:
        return sum(line.usd_month for line in self.lines if line.resource != FREE_TIER_RESOURCE)

    def by_service(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.service] = totals.get(line.service, 0.0) + line.usd_month
        return dict(sorted(totals.items(), key=lambda item: -item[1]))

    def as_json(self) -> dict[str, Any]:
        """The command's --json document; money rounded to the cent, lines costliest first."""
        lines = sorted(self.lines, key=lambda line: -line.usd_month)
        return {
            "total_usd_month": _cents(self.total_usd_month),
            "total_without_free_tiers_usd_month": _cents(self.total_without_free_tiers_usd_month),
            "by_service": {k: _cents(v) for k, v in self.by_service().items()},
            "by_resource": [
                {
                    "resource": line.resource,
                    "service": line.service,
                    "usd_month": round(line.usd_month, 4),
                    "detail": line.detail,
                }
                for line in lines
            ],
            "assumptions": {
                **asdict(self.usage),
                "free_tiers": ("applied" if self.usage.always_free_tiers else "not applied")
                + " (always_free_tiers): "
                + "; ".join(f"{a.service} {a.what}" for a in ALWAYS_FREE),
                "excluded": "Databento and IBKR fees, data transfer in (free), tax, support plans",
            },
            "unpriced_resource_types": dict(self.unpriced_types),
            "prices_as_of": PRICES_AS_OF,
            "region": REGION,
            "price_sources": list(SOURCES),
        }


def _cents(usd: float) -> float:
    """Rounded to the cent, without a negative zero (an allowance that covered a whole line)."""
    return round(usd, 2) + 0.0


_CRON = re.compile(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def days_per_week(day_of_week: str) -> int:
    """Weekdays a cron day-of-week field names: `MON-FRI` 5, `SAT` 1, `*` or `?` 7."""
    if day_of_week in ("*", "?"):
        return 7
    days: set[str] = set()
    for part in day_of_week.split(","):
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise DomainError(f"cron day-of-week {day_of_week!r}: use names SUN..SAT")
        lo, hi = _DAYS.index(first), _DAYS.index(last or first)
        days.update(_DAYS[lo : hi + 1])
    return len(days)


def cron_runs_per_month(expression: str) -> float:
    """Runs a month of an EventBridge cron that fires once on each day it names (a fixed minute
    and hour, every day of the month); anything else is refused."""
    match = _CRON.fullmatch(expression)
    if match is None or not (match[1].isdigit() and match[2].isdigit() and match[3] in ("?", "*")):
        raise DomainError(f"schedule {expression!r}: only cron(M H ? * DAYS *) is modelled")
    return days_per_week(match[5]) * WEEKS_PER_MONTH


def cron_hour_et(expression: str) -> float:
    """The hour of day (fractional) a modelled cron fires."""
    match = _CRON.fullmatch(expression)
    if match is None:
        raise DomainError(f"schedule {expression!r}: only cron(M H ? * DAYS *) is modelled")
    return int(match[2]) + int(match[1]) / 60


def _resources(template: Template, cfn_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == cfn_type:
            yield logical_id, resource.get("Properties", {})


def _ref(value: Any) -> str | None:
    """The logical id a Ref or GetAtt points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def _name(props: Mapping[str, Any], key: str, logical_id: str) -> str:
    value = props.get(key)
    return value if isinstance(value, str) else logical_id


def _text(value: Any) -> str:
    """A CloudFormation string with its intrinsics reduced to their literal parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join(part for part in value["Fn::Join"][1] if isinstance(part, str))
    return ""


def secret_name(value_from: Any) -> str:
    """The secret a container's `ValueFrom` names, without its JSON key (`...:secret:a/b:key::`)."""
    return _text(value_from).rpartition(":secret:")[2].split(":")[0]


class _Pricer:
    def __init__(self, template: Template, usage: Usage, prices: AwsPrices, prefix: str) -> None:
        self.t, self.u, self.p, self.prefix = template, usage, prices, prefix
        self.lines: list[CostLine] = []
        families = {
            _text(props.get("Family")) for _, props in _resources(template, "AWS::ECS::TaskDefinition")
        }
        has_feed = resources.FEED.physical_name(prefix) in families
        self.cycles = usage.cycles_per_month() if has_feed else 0.0
        self.schedule_runs: dict[str, float] = {}
        for _, props in _resources(template, "AWS::Scheduler::Schedule"):
            target = _ref(props.get("Target", {}).get("Arn"))
            if target is not None:
                runs = cron_runs_per_month(props["ScheduleExpression"])
                self.schedule_runs[target] = self.schedule_runs.get(target, 0.0) + runs
        self.task_hours: dict[str, float] = {}
        """Per task definition family: hours it runs a month."""
        self.used: dict[str, float] = {}
        """Per quantity of ALWAYS_FREE: how much the lines used a month."""

    def add(self, resource: str, service: str, usd: float, detail: str) -> None:
        self.lines.append(CostLine(resource, service, usd, detail))

    def count(self, quantity: str, amount: float) -> None:
        self.used[quantity] = self.used.get(quantity, 0.0) + amount

    def free_tiers(self) -> None:
        """One negative line per always-free allowance: what it covers of the month's use."""
        for allowance in ALWAYS_FREE:
            covered = min(self.used.get(allowance.quantity, 0.0), allowance.per_month)
            if covered:
                unit_usd = getattr(self.p, allowance.price) / allowance.price_units
                detail = f"{covered:,.4g} of {allowance.what}"
                self.add(FREE_TIER_RESOURCE, allowance.service, -covered * unit_usd, detail)

    def logs(self, resource: str, gb_month: float, vended: bool = False) -> None:
        """Ingestion of a month's logs and their storage at the retention's steady state."""
        ingest = self.p.logs_vended_ingest_gb if vended else self.p.logs_ingest_gb
        stored = gb_month * self.u.log_retention_days / DAYS_PER_MONTH
        usd = gb_month * ingest + stored * self.p.logs_storage_gb_month
        self.count("logs_ingest_gb", gb_month)
        self.add(f"{resource} logs", "CloudWatch", usd, f"{gb_month:.4f} GB/month in, {stored:.4f} GB stored")

    # -- compute ---------------------------------------------------------------------------------

    def function_usage(self, physical: str) -> tuple[float, float, str]:
        """(runs a month, billed seconds a run, why) of one Lambda function."""
        u = self.u
        by_name = {f.physical_name(self.prefix): f.name for f in resources.FUNCTIONS}
        machines = {m.name: m.physical_name(self.prefix) for m in resources.STATE_MACHINES}
        daily = u.sessions_per_month
        match by_name.get(physical):
            case "signals" | "risk" | "execute":
                return self.cycles, u.cycle_step_ms / 1000, "one step of each trading cycle"
            case "pre_market":
                return self._machine_runs(machines["pre_market"]), u.daily_function_s, "its schedule"
            case "flatten" | "post_close":
                return daily, u.daily_function_s, "once a session"
            case "learning":
                return self._machine_runs(machines["learning"]), u.learning_s, "its schedules"
            case "backtest_day":
                runs = u.backtests_per_month * u.sessions_per_backtest
                return runs, u.backtest_day_s, "one per backtest session"
            case "api":
                return u.api_requests_per_session * daily, u.api_request_ms / 1000, "dashboard requests"
        return u.other_function_runs_per_month, u.other_function_s, "no modelled role"

    def _machine_runs(self, physical: str) -> float:
        for logical_id, props in _resources(self.t, "AWS::StepFunctions::StateMachine"):
            if props.get("StateMachineName") == physical:
                return self.schedule_runs.get(logical_id, 0.0)
        return 0.0

    def functions(self) -> None:
        for logical_id, props in _resources(self.t, "AWS::Lambda::Function"):
            name = _name(props, "FunctionName", logical_id)
            runs, seconds, why = self.function_usage(name)
            gb = float(props.get("MemorySize", 128)) / 1024
            arm = props.get("Architectures", ["x86_64"]) == ["arm64"]
            gb_s_price = self.p.lambda_arm_gb_second if arm else self.p.lambda_x86_gb_second
            usd = runs * (gb * seconds * gb_s_price + self.p.lambda_per_million_requests / 1e6)
            self.count("lambda_requests", runs)
            self.count("lambda_gb_seconds", runs * gb * seconds)
            self.add(name, "Lambda", usd, f"{runs:,.0f} runs x {seconds:g} s x {gb:g} GB ({why})")
            if props.get("TracingConfig", {}).get("Mode") == "Active":
                self.add(name, "X-Ray", runs * self.p.xray_per_million_traces / 1e6, f"{runs:,.0f} traces")
                self.count("xray_traces", runs)
            self.logs(name, runs * self.u.lambda_log_kb_per_run / KB_PER_GB)

    def state_machines(self) -> None:
        u, p = self.u, self.p
        specs = {m.physical_name(self.prefix): m for m in resources.STATE_MACHINES}
        for logical_id, props in _resources(self.t, "AWS::StepFunctions::StateMachine"):
            name = _name(props, "StateMachineName", logical_id)
            spec = specs.get(name)
            if props.get("StateMachineType") == "EXPRESS":
                runs = self.cycles if spec is not None and spec.name == "trading_cycle" else 0.0
                steps = len(spec.functions) if spec is not None else 1
                billed_ms = (
                    math.ceil(steps * u.cycle_step_ms / EXPRESS_BILLING_STEP_MS) * EXPRESS_BILLING_STEP_MS
                )
                usd = runs * (
                    p.sfn_express_per_million_requests / 1e6
                    + EXPRESS_MEMORY_GB * billed_ms / 1000 * p.sfn_express_gb_second
                )
                self.add(name, "Step Functions", usd, f"{runs:,.0f} Express runs x {billed_ms} ms billed")
            else:
                runs, transitions = self._standard_runs(name, logical_id)
                usd = runs * transitions * p.sfn_standard_per_thousand_transitions / 1000
                self.count("sfn_standard_transitions", runs * transitions)
                self.add(name, "Step Functions", usd, f"{runs:,.1f} runs x {transitions:g} transitions")
            if props.get("LoggingConfiguration", {}).get("Level") not in (None, "OFF"):
                self.logs(name, runs * u.cycle_log_kb / KB_PER_GB)

    def _standard_runs(self, name: str, logical_id: str) -> tuple[float, float]:
        u = self.u
        short = {m.physical_name(self.prefix): m.name for m in resources.STATE_MACHINES}.get(name)
        if short in ("flatten", "post_close"):
            return u.sessions_per_month, u.standard_transitions_per_run
        if short == "backtest":
            items = u.sessions_per_backtest + 1
            return u.backtests_per_month, items * u.standard_transitions_per_run
        return self.schedule_runs.get(logical_id, 0.0), u.standard_transitions_per_run

    def tasks(self) -> None:
        u, p = self.u, self.p
        starts: dict[str, dict[str, Any]] = {}
        for _, props in _resources(self.t, "AWS::Scheduler::Schedule"):
            ecs = props.get("Target", {}).get("EcsParameters")
            if ecs is not None and (task := _ref(ecs.get("TaskDefinitionArn"))) is not None:
                starts[task] = props
        images: set[str] = set()
        secrets: set[str] = set()
        for logical_id, props in _resources(self.t, "AWS::ECS::TaskDefinition"):
            name = _text(props.get("Family")) or logical_id
            schedule = starts.get(logical_id)
            if schedule is None:
                self.add(name, "Fargate", 0.0, "no schedule starts it: not priced")
                continue
            hours = u.sessions_per_month * (
                u.task_stop_hour_et - cron_hour_et(schedule["ScheduleExpression"])
            )
            self.task_hours[name] = hours
            vcpu, gb = int(props["Cpu"]) / 1024, int(props["Memory"]) / 1024
            arm = props.get("RuntimePlatform", {}).get("CpuArchitecture") == "ARM64"
            vcpu_price = p.fargate_arm_vcpu_hour if arm else p.fargate_x86_vcpu_hour
            gb_price = p.fargate_arm_gb_hour if arm else p.fargate_x86_gb_hour
            arch = "ARM" if arm else "x86"
            self.add(
                name,
                "Fargate",
                hours * (vcpu * vcpu_price + gb * gb_price),
                f"{hours:,.1f} h x ({vcpu:g} vCPU + {gb:g} GB) {arch}",
            )
            network = schedule["Target"]["EcsParameters"].get("NetworkConfiguration", {})
            if network.get("AwsvpcConfiguration", {}).get("AssignPublicIp") == "ENABLED":
                self.add(name, "VPC", hours * p.public_ipv4_hour, f"public IPv4 for {hours:,.1f} h")
            self.logs(name, hours * u.task_log_mb_per_hour / MB_PER_GB)
            for container in props.get("ContainerDefinitions", []):
                images.add(str(container.get("Image")))
                secrets.update(secret_name(s.get("ValueFrom")) for s in container.get("Secrets", []))
        for image in sorted(images):
            tag = image.rpartition(":")[2][:12]
            usd = u.container_image_gb * p.ecr_storage_gb_month
            self.add(f"container image {tag}", "ECR", usd, f"{u.container_image_gb:g} GB stored")
        for secret in sorted(secrets | self._stack_secrets()):
            calls = u.sessions_per_month * u.secret_reads_per_session
            usd = p.secret_month + calls * p.secrets_per_10k_api_calls / 10_000
            self.add(secret, "Secrets Manager", usd, f"1 secret, {calls:g} reads")

    def _stack_secrets(self) -> set[str]:
        return {
            _text(props.get("Name")) or logical_id
            for logical_id, props in _resources(self.t, "AWS::SecretsManager::Secret")
        }

    def flow_logs(self) -> None:
        for logical_id, props in _resources(self.t, "AWS::EC2::FlowLog"):
            gb = sum(self.task_hours.values()) * self.u.flow_log_mb_per_task_hour / MB_PER_GB
            if props.get("LogDestinationType", "cloud-watch-logs") == "cloud-watch-logs":
                self.logs(f"flow log {logical_id}", gb, vended=True)

    # -- data and messaging ----------------------------------------------------------------------

    def tables(self) -> None:
        u, p = self.u, self.p
        tables = list(_resources(self.t, "AWS::DynamoDB::Table"))
        if not tables:
            return
        api_requests = u.api_requests_per_session * u.sessions_per_month
        writes = self.cycles * u.cycle_dynamodb_write_units
        reads = (
            self.cycles * u.cycle_dynamodb_read_units + api_requests * u.api_dynamodb_read_units_per_request
        )
        names = ", ".join(_name(props, "TableName", logical_id) for logical_id, props in tables)
        on_demand = all(props.get("BillingMode") == "PAY_PER_REQUEST" for _, props in tables)
        if not on_demand:
            raise DomainError(f"DynamoDB tables {names}: only on-demand (PAY_PER_REQUEST) is modelled")
        requests = (
            writes * p.dynamodb_per_million_write_units + reads * p.dynamodb_per_million_read_units
        ) / 1e6
        self.add(f"{len(tables)} tables", "DynamoDB", requests, f"{writes:,.0f} WRU, {reads:,.0f} RRU")
        storage_price = p.dynamodb_storage_gb_month
        pitr = all(
            props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled")
            for _, props in tables
        )
        storage_price += p.dynamodb_pitr_gb_month if pitr else 0.0
        backups = " with point-in-time recovery" if pitr else ""
        self.count("dynamodb_storage_gb", u.dynamodb_storage_gb)
        self.add(
            f"{len(tables)} tables storage",
            "DynamoDB",
            u.dynamodb_storage_gb * storage_price,
            f"{u.dynamodb_storage_gb:g} GB{backups}",
        )

    def buckets(self) -> None:
        u, p = self.u, self.p
        count = sum(1 for _ in _resources(self.t, "AWS::S3::Bucket"))
        if count == 0:
            return
        puts, gets = (
            u.s3_puts_per_session * u.sessions_per_month,
            u.s3_gets_per_session * u.sessions_per_month,
        )
        usd = (
            u.s3_storage_gb * p.s3_standard_gb_month
            + puts * p.s3_per_1k_put_requests / 1000
            + gets * p.s3_per_1k_get_requests / 1000
        )
        self.add(f"{count} buckets", "S3", usd, f"{u.s3_storage_gb:g} GB, {puts:,.0f} PUT, {gets:,.0f} GET")

    def queues(self) -> None:
        gateway_hours = self.task_hours.get(resources.GATEWAY.physical_name(self.prefix), 0.0)
        receives = self.u.order_queue_receives_per_minute * 60 * gateway_hours
        dead_letters = {
            _ref(props["RedrivePolicy"]["deadLetterTargetArn"])
            for _, props in _resources(self.t, "AWS::SQS::Queue")
            if "RedrivePolicy" in props
        }
        for logical_id, props in _resources(self.t, "AWS::SQS::Queue"):
            name = _name(props, "QueueName", logical_id)
            requests = 0.0 if logical_id in dead_letters else receives
            self.count("sqs_requests", requests)
            price = (
                self.p.sqs_fifo_per_million_requests
                if props.get("FifoQueue")
                else self.p.sqs_standard_per_million_requests
            )
            self.add(name, "SQS", requests * price / 1e6, f"{requests:,.0f} requests")

    def topics(self) -> None:
        u, p = self.u, self.p
        emails = sum(
            1 for _, props in _resources(self.t, "AWS::SNS::Subscription") if props.get("Protocol") == "email"
        )
        for logical_id, props in _resources(self.t, "AWS::SNS::Topic"):
            name = _name(props, "TopicName", logical_id)
            publishes = u.notifications_per_session * u.sessions_per_month
            self.count("sns_publishes", publishes)
            self.count("sns_emails", publishes * emails)
            usd = (
                publishes * p.sns_per_million_publishes / 1e6
                + publishes * emails * p.sns_per_100k_email_deliveries / 1e5
            )
            self.add(name, "SNS", usd, f"{publishes:g} publishes, {emails} email subscription(s)")

    def schedules(self) -> None:
        p = self.p
        for logical_id, props in _resources(self.t, "AWS::Scheduler::Schedule"):
            runs = cron_runs_per_month(props["ScheduleExpression"])
            name = _name(props, "Name", logical_id)
            self.count("scheduler_invocations", runs)
            self.add(
                name,
                "EventBridge Scheduler",
                runs * p.scheduler_per_million_invocations / 1e6,
                f"{runs:.2f} runs",
            )
        for logical_id, props in _resources(self.t, "AWS::Scheduler::ScheduleGroup"):
            runs = self.u.one_time_schedules_per_session * self.u.sessions_per_month
            usd = runs * p.scheduler_per_million_invocations / 1e6
            self.count("scheduler_invocations", runs)
            self.add(
                _name(props, "Name", logical_id), "EventBridge Scheduler", usd, f"{runs:g} one-time schedules"
            )

    # -- monitoring and the edge -----------------------------------------------------------------

    def monitoring(self) -> None:
        p = self.p
        for logical_id, props in _resources(self.t, "AWS::CloudWatch::Alarm"):
            metrics = [m for m in props.get("Metrics", []) if "MetricStat" in m] or [props]
            period = min(int(m.get("MetricStat", m).get("Period", 60)) for m in metrics)
            price = (
                p.cloudwatch_high_resolution_alarm_metric_month
                if period < 60
                else p.cloudwatch_alarm_metric_month
            )
            name = _name(props, "AlarmName", logical_id)
            self.add(name, "CloudWatch", len(metrics) * price, f"alarm on {len(metrics)} metric(s)")
            self.count("cloudwatch_alarm_metrics", len(metrics))
        for logical_id, props in _resources(self.t, "AWS::CloudWatch::CompositeAlarm"):
            name = _name(props, "AlarmName", logical_id)
            self.add(name, "CloudWatch", p.cloudwatch_composite_alarm_month, "composite alarm")
        for logical_id, props in _resources(self.t, "AWS::CloudWatch::Dashboard"):
            name = _name(props, "DashboardName", logical_id)
            self.add(name, "CloudWatch", p.cloudwatch_dashboard_month, "dashboard")
            self.count("cloudwatch_dashboards", 1)
        if self.u.custom_metrics:
            months = min(self.u.custom_metric_hours_per_month / HOURS_PER_MONTH, 1.0)
            usd = self.u.custom_metrics * months * p.cloudwatch_custom_metric_month
            detail = f"{self.u.custom_metrics:g} metrics x {self.u.custom_metric_hours_per_month:g} h sent"
            self.add("custom metrics", "CloudWatch", usd, detail)
            self.count("cloudwatch_custom_metric_months", self.u.custom_metrics * months)
        for logical_id, _ in _resources(self.t, "AWS::KMS::Key"):
            self.add(logical_id, "KMS", p.kms_key_month, "customer managed key")

    def edge(self) -> None:
        u, p = self.u, self.p
        api_requests = u.api_requests_per_session * u.sessions_per_month
        for logical_id, props in _resources(self.t, "AWS::ApiGatewayV2::Api"):
            name = _name(props, "Name", logical_id)
            usd = api_requests * p.http_api_per_million_requests / 1e6
            self.add(name, "API Gateway", usd, f"{api_requests:,.0f} requests")
            if any("AccessLogSettings" in s for _, s in _resources(self.t, "AWS::ApiGatewayV2::Stage")):
                self.logs(name, api_requests * u.api_access_log_kb_per_request / KB_PER_GB)
        page_loads = u.page_loads_per_session * u.sessions_per_month
        requests = api_requests + page_loads * u.page_requests
        gb_out = (api_requests * u.api_response_kb + page_loads * u.page_kb) / KB_PER_GB
        for logical_id, _ in _resources(self.t, "AWS::CloudFront::Distribution"):
            usd = (
                gb_out * p.cloudfront_transfer_out_gb
                + requests * p.cloudfront_per_10k_https_requests / 10_000
            )
            self.add(logical_id, "CloudFront", usd, f"{requests:,.0f} HTTPS requests, {gb_out:.3f} GB out")
            self.count("cloudfront_gb", gb_out)
            self.count("cloudfront_requests", requests)
        for logical_id, _ in _resources(self.t, "AWS::CloudFront::Function"):
            usd = requests * p.cloudfront_function_per_million / 1e6
            self.add(logical_id, "CloudFront", usd, f"{requests:,.0f} invocations")
        tiers = {
            "LITE": p.cognito_lite_mau,
            "ESSENTIALS": p.cognito_essentials_mau,
            "PLUS": p.cognito_plus_mau,
        }
        for logical_id, props in _resources(self.t, "AWS::Cognito::UserPool"):
            tier = str(props.get("UserPoolTier", "ESSENTIALS"))
            usd = u.cognito_monthly_active_users * tiers[tier]
            self.add(logical_id, "Cognito", usd, f"{u.cognito_monthly_active_users:g} MAU, {tier}")
            if tier == "ESSENTIALS":  # Lite's allowance is the same users at its lower price; Plus has none
                self.count("cognito_mau", u.cognito_monthly_active_users)


PRICED_TYPES: Final = frozenset(
    {
        "AWS::Lambda::Function",
        "AWS::StepFunctions::StateMachine",
        "AWS::ECS::TaskDefinition",
        "AWS::EC2::FlowLog",
        "AWS::SecretsManager::Secret",
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::Scheduler::Schedule",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::CompositeAlarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::KMS::Key",
        "AWS::ApiGatewayV2::Api",
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::Function",
        "AWS::Cognito::UserPool",
    }
)


def estimate(
    template: Template, usage: Usage, prices: AwsPrices, prefix: str = resources.DEFAULT_PREFIX
) -> CostEstimate:
    """The month's cost of `template` (a synthesized CloudFormation template of the stack named
    after `prefix`) under `usage` at `prices`, one line per priced resource."""
    pricer = _Pricer(template, usage, prices, prefix)
    pricer.functions()
    pricer.state_machines()
    pricer.tasks()
    pricer.flow_logs()
    pricer.tables()
    pricer.buckets()
    pricer.queues()
    pricer.topics()
    pricer.schedules()
    pricer.monitoring()
    pricer.edge()
    if usage.always_free_tiers:
        pricer.free_tiers()
    unpriced: dict[str, int] = {}
    for resource in template.get("Resources", {}).values():
        cfn_type = str(resource.get("Type"))
        if (
            cfn_type not in PRICED_TYPES
            and cfn_type not in FREE_TYPES
            and not cfn_type.startswith("Custom::")
        ):
            unpriced[cfn_type] = unpriced.get(cfn_type, 0) + 1
    return CostEstimate(tuple(pricer.lines), usage, unpriced)
