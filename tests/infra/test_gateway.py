"""Broker trading in the stack: the `liveTrading` / `ibAccount` context, the API's
SMART0DTE_LIVE_TRADING, and the gateway task (VPC without NAT, Fargate task definition, least
privilege roles, the weekday start schedule) that only `-c liveTrading=enabled` (live) or
`-c liveTrading=ibkr_paper` (the IB paper rehearsal) deploys.

The disabled stack is conftest's session synthesis (cdk.json sets no liveTrading); the enabled
and the ibkr_paper stacks are synthesized once each for this module. Bad context values are
refused before anything is built, so those tests synthesize nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from smart0dte_infra import Smart0dteStack
from smart0dte_infra.gateway import (
    HEALTH_CHECK_COMMAND,
    HEALTH_CHECK_INTERVAL_S,
    HEALTH_CHECK_RETRIES,
    HEALTH_CHECK_START_PERIOD_S,
    HEALTH_CHECK_TIMEOUT_S,
    IB_ACCOUNT_CONTEXT,
    IMAGE_CONTEXT,
    IMAGE_DOCKERFILE,
    LIVE_TRADING_CONTEXT,
    Gateway,
    LiveTradingContextError,
)
from smart0dte_infra.storage import Storage

from smart0dte import resources as r
from smart0dte.domain.models import TradingMode
from smart0dte.services.live_arming import LIVE_TRADING_ENABLED, LIVE_TRADING_IBKR_PAPER

from .conftest import REPO_ROOT, Synth, synthesize, write_fake_repo
from .task_checks import (
    check_execution_role,
    check_scheduler_role,
    check_start_schedule,
    container,
    start_schedules,
    table_id,
    task_role,
    the,
)
from .template_queries import (
    READ,
    WRITE,
    actions_on_any_resource,
    grants,
    logical_id,
    resources_of_type,
)

PREFIX = r.DEFAULT_PREFIX
ACCOUNT = "U7654321"
ENABLED = {LIVE_TRADING_CONTEXT: "enabled", IB_ACCOUNT_CONTEXT: ACCOUNT}
PAPER_ACCOUNT = "DU7654321"
IBKR_PAPER = {LIVE_TRADING_CONTEXT: "ibkr_paper", IB_ACCOUNT_CONTEXT: PAPER_ACCOUNT}
GATEWAY_TYPES = ("AWS::ECS::", "AWS::EC2::")
DOCKERFILE = REPO_ROOT / IMAGE_DOCKERFILE


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Synth:
    """The stack with live trading enabled: a generated checkout plus what the image is built from."""
    repo = write_fake_repo(tmp_path_factory.mktemp("repo"))
    for name in ("pyproject.toml", "README.md", "gateway_container"):
        (repo / name).symlink_to(REPO_ROOT / name)
    return synthesize(repo, deps_layer, tmp_path_factory.mktemp("cdk.out"), context=ENABLED)


@pytest.fixture(scope="module")
def t(live: Synth) -> dict[str, Any]:
    return live.template_json


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Synth:
    """The stack whose gateway logs in to an IB paper account (the ibkr_paper rehearsal)."""
    repo = write_fake_repo(tmp_path_factory.mktemp("repo"))
    for name in ("pyproject.toml", "README.md", "gateway_container"):
        (repo / name).symlink_to(REPO_ROOT / name)
    return synthesize(repo, deps_layer, tmp_path_factory.mktemp("cdk.out"), context=IBKR_PAPER)


def api_variables(t: dict[str, Any]) -> dict[str, Any]:
    api = next(f for f in r.FUNCTIONS if f.name == "api")
    fid = logical_id(t, "AWS::Lambda::Function", FunctionName=api.physical_name(PREFIX))
    return dict(t["Resources"][fid]["Properties"]["Environment"]["Variables"])


def role_trusting(t: dict[str, Any], service: str, description_start: str) -> str:
    found = [
        k
        for k, v in resources_of_type(t, "AWS::IAM::Role").items()
        if v["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": service}
        and str(v["Properties"].get("Description", "")).startswith(description_start)
    ]
    assert len(found) == 1, found
    return found[0]


def queue_id(t: dict[str, Any]) -> str:
    return logical_id(t, "AWS::SQS::Queue", QueueName=r.ORDER_INTENT_QUEUE.physical_name(PREFIX))


def topic_id(t: dict[str, Any]) -> str:
    return logical_id(t, "AWS::SNS::Topic", TopicName=r.ALERT_TOPIC.physical_name(PREFIX))


def target_of(resource: Any, ids: dict[str, str]) -> str:
    """Which named resource an IAM resource expression is ('trading/index' for its indexes)."""
    text = json.dumps(resource)
    (name,) = [n for n, i in ids.items() if f'"{i}"' in text] or ["?" + text]
    return name + ("/index" if "/index/" in text else "")


def dockerfile_healthcheck() -> tuple[dict[str, int], str]:
    """(options in seconds / retries, command) of the Dockerfile's HEALTHCHECK instruction."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    (line,) = [ln for ln in text.splitlines() if ln.startswith("HEALTHCHECK")]
    head, command = line.split(" CMD ", 1)
    options = dict(re.findall(r"--([a-z-]+)=(\d+)s?", head))
    return {k: int(v) for k, v in options.items()}, " ".join(command.split())


def dockerfile_copy_sources() -> list[str]:
    sources: list[str] = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY "):
            args = [a for a in line.split()[1:] if not a.startswith("--")]
            sources += args[:-1]
    return sources


# --- the flag ----------------------------------------------------------------------------------


def test_disabled_by_default_deploys_no_gateway_and_tells_the_api(synth: Synth) -> None:
    t = synth.template_json
    gateway = sorted(k for k, v in t["Resources"].items() if v["Type"].startswith(GATEWAY_TYPES))
    assert gateway == []
    assert not [k for k in t["Resources"] if k.startswith("Gateway")]
    assert len(resources_of_type(t, "AWS::Scheduler::Schedule")) == len(r.SCHEDULES)
    trusted = [
        v["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        for v in resources_of_type(t, "AWS::IAM::Role").values()
    ]
    assert {"Service": "ecs-tasks.amazonaws.com"} not in trusted
    assert api_variables(t)[r.ENV_LIVE_TRADING] == "disabled"
    assert not [o for o in t.get("Outputs", {}) if o.startswith("Gateway")]


def test_enabled_lets_the_api_arm_live_trading(t: dict[str, Any]) -> None:
    assert api_variables(t)[r.ENV_LIVE_TRADING] == LIVE_TRADING_ENABLED == "enabled"


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {LIVE_TRADING_CONTEXT: "yes"},
            "liveTrading='yes' is not allowed: use one of -c liveTrading=disabled, "
            "-c liveTrading=ibkr_paper, -c liveTrading=enabled (disabled is the default)",
        ),
        ({LIVE_TRADING_CONTEXT: "Enabled"}, "liveTrading='Enabled' is not allowed"),
        ({LIVE_TRADING_CONTEXT: True}, "liveTrading=True is not allowed"),
        ({LIVE_TRADING_CONTEXT: "enabled"}, "ibAccount is required with liveTrading=enabled"),
        ({LIVE_TRADING_CONTEXT: "enabled", IB_ACCOUNT_CONTEXT: " "}, "ibAccount is required"),
        (
            {LIVE_TRADING_CONTEXT: "enabled", IB_ACCOUNT_CONTEXT: "DU1234567"},
            "ibAccount='DU1234567' does not fit liveTrading=enabled: "
            "account DU1234567 is an IB paper account",
        ),
        (
            {LIVE_TRADING_CONTEXT: "enabled", IB_ACCOUNT_CONTEXT: "DF1234567"},
            "account DF1234567 is an IB paper account",
        ),
        (
            {LIVE_TRADING_CONTEXT: "enabled", IB_ACCOUNT_CONTEXT: "u1234567"},
            "ibAccount='u1234567' is not an IB account id",
        ),
        (
            {LIVE_TRADING_CONTEXT: "ibkr_paper"},
            "ibAccount is required with liveTrading=ibkr_paper: pass an IB paper account id, "
            "e.g. -c ibAccount=DU1234567",
        ),
        (
            {LIVE_TRADING_CONTEXT: "ibkr_paper", IB_ACCOUNT_CONTEXT: "U1234567"},
            "ibAccount='U1234567' does not fit liveTrading=ibkr_paper: account U1234567 is a live account",
        ),
    ],
    ids=[
        "unknown",
        "case",
        "boolean",
        "no-account",
        "blank-account",
        "paper-account",
        "advisor-paper-account",
        "lower-case",
        "ibkr-paper-no-account",
        "ibkr-paper-live-account",
    ],
)
def test_bad_context_is_refused_naming_the_key_and_allowed_values(
    tmp_path: Path, context: dict[str, Any], expected: str
) -> None:
    with pytest.raises(LiveTradingContextError) as raised:
        Smart0dteStack(cdk.App(context=context), "Refused", repo_root=tmp_path)
    assert expected in str(raised.value)
    assert "-c " in str(raised.value)


def test_the_app_exits_with_the_context_error_instead_of_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("smart0dte_cdk_app_live", REPO_ROOT / "cdk" / "app.py")
    assert spec is not None and spec.loader is not None
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    # As `cdk synth -c liveTrading=on` would hand it over (the CLI's CDK_CONTEXT_JSON).
    app_class = cdk.App
    monkeypatch.setattr(
        app.cdk,
        "App",
        lambda: app_class(context={LIVE_TRADING_CONTEXT: "on"}, outdir=str(tmp_path / "cdk.out")),
    )

    with pytest.raises(SystemExit) as raised:
        app.main()
    assert "liveTrading='on' is not allowed" in str(raised.value.code)


# --- network and cluster -----------------------------------------------------------------------


def test_vpc_has_public_subnets_only_and_no_nat_gateway(t: dict[str, Any]) -> None:
    vpc, _ = the(t, "AWS::EC2::VPC")
    assert resources_of_type(t, "AWS::EC2::NatGateway") == {}
    assert resources_of_type(t, "AWS::EC2::EIP") == {}
    subnets = resources_of_type(t, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is True for s in subnets.values())
    routes = [v["Properties"] for v in resources_of_type(t, "AWS::EC2::Route").values()]
    assert routes and all("GatewayId" in p and "NatGatewayId" not in p for p in routes)
    _, flow_log = the(t, "AWS::EC2::FlowLog")
    assert (flow_log["ResourceId"], flow_log["TrafficType"]) == ({"Ref": vpc}, "ALL")


def test_security_group_has_no_ingress_and_egress_to_https_and_ib_only(t: dict[str, Any]) -> None:
    _, props = the(t, "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in props
    assert resources_of_type(t, "AWS::EC2::SecurityGroupIngress") == {}
    egress = {
        (e["IpProtocol"], e["FromPort"], e["ToPort"], e["CidrIp"]) for e in props["SecurityGroupEgress"]
    }
    assert egress == {("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 4000, 4001, "0.0.0.0/0")}


def test_cluster_is_named_with_container_insights_off(t: dict[str, Any]) -> None:
    _, props = the(t, "AWS::ECS::Cluster")
    assert props["ClusterName"] == r.GATEWAY.physical_name(PREFIX)
    assert props["ClusterSettings"] == [{"Name": "containerInsights", "Value": "disabled"}]


# --- the task ----------------------------------------------------------------------------------


def test_task_definition_is_fargate_x86_64_with_1_vcpu_and_2_gib(t: dict[str, Any]) -> None:
    _, props = the(t, "AWS::ECS::TaskDefinition")
    assert props["Family"] == r.GATEWAY.physical_name(PREFIX)
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["NetworkMode"] == "awsvpc"
    assert (props["Cpu"], props["Memory"]) == ("1024", "2048")
    assert props["RuntimePlatform"] == {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"}


def test_container_environment_is_live_on_4001_with_the_account_and_the_queue(t: dict[str, Any]) -> None:
    c = container(t, r.GATEWAY)
    assert c["Essential"] is True
    assert {e["Name"]: e["Value"] for e in c["Environment"]} == {
        "SMART0DTE_MODE": "live",
        "TRADING_MODE": "live",
        "SMART0DTE_IB_PORT": "4001",
        "SMART0DTE_IB_ACCOUNT": ACCOUNT,
        "SMART0DTE_IB_CLIENT_ID": str(r.GATEWAY.ib_client_id),
        "SMART0DTE_PREFIX": PREFIX,
        "SMART0DTE_ACCOUNT": {"Ref": "AWS::AccountId"},
        "AWS_REGION": {"Ref": "AWS::Region"},
        r.queue_url_env(r.ORDER_INTENT_QUEUE): {"Ref": queue_id(t)},
        r.topic_arn_env(r.ALERT_TOPIC): {"Ref": topic_id(t)},  # the bridge's fill notifications
    }


def test_ibkr_paper_runs_the_gateway_on_ibcs_paper_login_on_4002_and_tells_the_api(rehearsal: Synth) -> None:
    t = rehearsal.template_json
    environment = {e["Name"]: e["Value"] for e in container(t, r.GATEWAY)["Environment"]}
    assert {k: environment[k] for k in ("SMART0DTE_MODE", "TRADING_MODE", "SMART0DTE_IB_PORT")} == {
        "SMART0DTE_MODE": "ibkr_paper",
        "TRADING_MODE": "paper",
        "SMART0DTE_IB_PORT": "4002",
    }
    assert environment["SMART0DTE_IB_ACCOUNT"] == PAPER_ACCOUNT
    assert api_variables(t)[r.ENV_LIVE_TRADING] == LIVE_TRADING_IBKR_PAPER == "ibkr_paper"
    # The same task as live's otherwise: one cluster, one task definition, its start schedule.
    assert len(resources_of_type(t, "AWS::ECS::TaskDefinition")) == 1
    assert len(start_schedules(t)) == len(r.SCHEDULES) + 1
    assert rehearsal.nag.success


def test_the_ib_login_comes_from_the_named_secret_never_the_environment(t: dict[str, Any]) -> None:
    c = container(t, r.GATEWAY)
    secrets = {s["Name"]: json.dumps(s["ValueFrom"]) for s in c["Secrets"]}
    assert set(secrets) == {"TWS_USERID", "TWS_PASSWORD"}
    name = r.GATEWAY.secret_name(PREFIX)
    assert f":secret:{name}:{r.GATEWAY.secret_username_key}::" in secrets["TWS_USERID"]
    assert f":secret:{name}:{r.GATEWAY.secret_password_key}::" in secrets["TWS_PASSWORD"]
    assert not {e["Name"] for e in c["Environment"]} & {"TWS_USERID", "TWS_PASSWORD"}
    assert resources_of_type(t, "AWS::SecretsManager::Secret") == {}  # the operator creates it


def test_health_check_is_the_dockerfiles(t: dict[str, Any]) -> None:
    options, command = dockerfile_healthcheck()
    assert options == {
        "interval": HEALTH_CHECK_INTERVAL_S,
        "timeout": HEALTH_CHECK_TIMEOUT_S,
        "start-period": HEALTH_CHECK_START_PERIOD_S,
        "retries": HEALTH_CHECK_RETRIES,
    }
    assert command == HEALTH_CHECK_COMMAND
    assert container(t, r.GATEWAY)["HealthCheck"] == {
        "Command": ["CMD-SHELL", HEALTH_CHECK_COMMAND],
        "Interval": HEALTH_CHECK_INTERVAL_S,
        "Timeout": HEALTH_CHECK_TIMEOUT_S,
        "StartPeriod": HEALTH_CHECK_START_PERIOD_S,
        "Retries": HEALTH_CHECK_RETRIES,
    }


def test_container_logs_to_a_one_month_log_group_and_gets_time_to_stop(t: dict[str, Any]) -> None:
    group = logical_id(t, "AWS::Logs::LogGroup", LogGroupName=r.GATEWAY.log_group_name(PREFIX))
    assert t["Resources"][group]["Properties"]["RetentionInDays"] == 30
    log = container(t, r.GATEWAY)["LogConfiguration"]
    assert log["LogDriver"] == "awslogs"
    assert log["Options"]["awslogs-group"] == {"Ref": group}
    assert container(t, r.GATEWAY)["StopTimeout"] == r.GATEWAY.stop_timeout_s


def test_image_is_the_gateway_dockerfile_staged_not_built(live: Synth) -> None:
    (assets,) = live.outdir.glob("*.assets.json")
    images = json.loads(assets.read_text())["dockerImages"]
    (image,) = images.values()
    assert image["source"]["dockerFile"] == IMAGE_DOCKERFILE
    assert image["source"]["platform"] == "linux/amd64"
    assert (live.outdir / image["source"]["directory"]).is_dir()


# --- least privilege ---------------------------------------------------------------------------


def test_task_role_consumes_the_queue_and_uses_three_tables_only(t: dict[str, Any]) -> None:
    role = task_role(t, r.GATEWAY)
    ids = {
        "queue": queue_id(t),
        "control": table_id(t, r.CONTROL_TABLE),
        "trading": table_id(t, r.TRADING_TABLE),
        "audit": table_id(t, r.AUDIT_TABLE),
        "topic": topic_id(t),
    }
    found: dict[str, set[str]] = {}
    for action, resource, _ in grants(t, role):
        found.setdefault(target_of(resource, ids), set()).add(action)
    assert found == {
        "queue": {"sqs:ReceiveMessage", "sqs:DeleteMessage"},
        "control": READ | WRITE,
        "trading": READ | WRITE,
        "trading/index": READ | WRITE,
        "audit": {"dynamodb:PutItem"},
        "topic": {"sns:Publish"},  # the bridge's fill notifications
    }
    assert actions_on_any_resource(t, role) == set()
    assert t["Resources"][role]["Properties"].get("ManagedPolicyArns", []) == []
    trust = t["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_execution_role_pulls_the_image_reads_the_one_secret_and_writes_its_logs(t: dict[str, Any]) -> None:
    check_execution_role(t, r.GATEWAY)


def test_schedule_runs_the_task_weekdays_at_0845_new_york_with_a_public_ip(t: dict[str, Any]) -> None:
    check_start_schedule(t, r.GATEWAY, "cron(45 8 ? * MON-FRI *)")


def test_scheduler_role_may_only_run_this_family_and_pass_the_two_roles(t: dict[str, Any]) -> None:
    check_scheduler_role(t, r.GATEWAY)


def test_outputs_name_the_cluster_the_logs_and_the_secret(t: dict[str, Any]) -> None:
    outputs = t["Outputs"]
    assert outputs["GatewaySecretName"]["Value"] == r.GATEWAY.secret_name(PREFIX)
    cluster, _ = the(t, "AWS::ECS::Cluster")
    assert outputs["GatewayCluster"]["Value"] == {"Ref": cluster}


def test_the_enabled_stack_passes_aws_solutions(live: Synth) -> None:
    assert live.nag.success, "\n".join(
        f"{v.rule_name} {[x.construct_path for x in v.violating_resources]}" for v in live.nag.violations
    )


def test_bound_to_an_account_as_the_cli_binds_it_the_stack_still_passes_aws_solutions(
    tmp_path_factory: pytest.TempPathFactory, deps_layer: Path
) -> None:
    """cdk-nag acknowledgements naming the bootstrap buckets must match concrete account ids too."""
    repo = write_fake_repo(tmp_path_factory.mktemp("repo"))
    for name in ("pyproject.toml", "README.md", "gateway_container"):
        (repo / name).symlink_to(REPO_ROOT / name)
    bound = synthesize(
        repo, deps_layer, tmp_path_factory.mktemp("cdk.out"), context=ENABLED, account="111111111111"
    )
    assert bound.nag.success, "\n".join(
        f"{v.rule_name} {v.finding_id if hasattr(v, 'finding_id') else ''} "
        f"{[x.construct_path for x in v.violating_resources]}"
        for v in bound.nag.violations
    )


# --- synthesis needs no AWS account ------------------------------------------------------------


class _AccountStack(cdk.Stack):
    """A stack bound to an account and region, as `cdk deploy` makes it, with the stack's zones."""

    availability_zones = Smart0dteStack.availability_zones


def test_an_account_bound_stack_needs_no_lookup_and_stages_only_what_the_dockerfile_copies(
    tmp_path: Path,
) -> None:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    app = cdk.App(context=context, outdir=str(tmp_path / "cdk.out"))
    stack = _AccountStack(app, "Probe", env=cdk.Environment(account="111111111111", region="us-east-1"))
    storage = Storage(stack, "Storage", prefix=PREFIX)
    schedule_group = cdk.aws_scheduler.CfnScheduleGroup(stack, "Group", name=PREFIX)
    Gateway(
        stack,
        "Gateway",
        prefix=PREFIX,
        repo_root=REPO_ROOT,
        mode=TradingMode.LIVE,
        ib_account=ACCOUNT,
        storage=storage,
        schedule_group=schedule_group,
    )
    app.synth()
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())
    assert not manifest.get("missing"), manifest.get("missing")
    subnets = json.loads((tmp_path / "cdk.out" / "Probe.template.json").read_text())
    zones = [
        s["Properties"]["AvailabilityZone"] for s in resources_of_type(subnets, "AWS::EC2::Subnet").values()
    ]
    assert zones == [{"Fn::Select": [i, {"Fn::GetAZs": ""}]} for i in range(2)]

    (context,) = [p for p in (tmp_path / "cdk.out").iterdir() if p.is_dir() and p.name.startswith("asset.")]
    assert sorted(p.name for p in context.iterdir()) == sorted(Path(p).parts[0] for p in IMAGE_CONTEXT)
    assert [p.name for p in (context / "layers").iterdir()] == ["core"]
    assert [p.name for p in (context / "layers" / "core").iterdir()] == ["python"]
    for source in dockerfile_copy_sources():
        assert (context / source).exists(), f"the Dockerfile COPYs {source}, not in the build context"
    assert not list(context.rglob("__pycache__"))
