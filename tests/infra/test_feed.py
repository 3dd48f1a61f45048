"""Market data in the stack: the `marketData` context and the feed task (`smart0dte feed` in the
gateway image, in the tasks' shared VPC without NAT, least-privilege roles, the weekday start
schedule) that only `-c marketData=databento` deploys, in paper and live deployments alike.

`none` (the default) is conftest's session synthesis. Two more synthesises for this module: the
feed alone (paper), and the feed with the live gateway, bound to an account as the CLI binds it
(one shared VPC, cdk-nag clean with concrete account ids). Bad context values are refused before
anything is built, so those tests synthesize nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from smart0dte_infra import Smart0dteStack
from smart0dte_infra.feed import (
    COMMAND,
    DATABENTO_LIVE_PORT,
    ENTRY_POINT,
    MARKET_DATA_CONTEXT,
    MarketDataContextError,
)
from smart0dte_infra.gateway import IB_ACCOUNT_CONTEXT, IMAGE_DOCKERFILE, LIVE_TRADING_CONTEXT

from smart0dte import resources as r

from .conftest import REPO_ROOT, Synth, synthesize, write_fake_repo
from .task_checks import (
    check_execution_role,
    check_scheduler_role,
    check_start_schedule,
    container,
    table_id,
    task_role,
    the,
)
from .template_queries import actions_on_any_resource, grants, logical_id, resources_of_type

PREFIX = r.DEFAULT_PREFIX
DATABENTO = {MARKET_DATA_CONTEXT: "databento"}
BOTH = {**DATABENTO, LIVE_TRADING_CONTEXT: "enabled", IB_ACCOUNT_CONTEXT: "U7654321"}
TASK_TYPES = ("AWS::ECS::", "AWS::EC2::")
DOCKERFILE = REPO_ROOT / IMAGE_DOCKERFILE


def _synthesize(factory: pytest.TempPathFactory, deps_layer: Path, **kwargs: Any) -> Synth:
    repo = write_fake_repo(factory.mktemp("repo"))
    for name in ("pyproject.toml", "README.md", "gateway_container"):
        (repo / name).symlink_to(REPO_ROOT / name)
    return synthesize(repo, deps_layer, factory.mktemp("cdk.out"), **kwargs)


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Synth:
    """Paper trading with the Databento feed (no gateway)."""
    return _synthesize(tmp_path_factory, deps_layer, context=DATABENTO)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Synth:
    """The feed and the live gateway, bound to an account as `cdk deploy` binds it."""
    return _synthesize(tmp_path_factory, deps_layer, context=BOTH, account="111111111111")


@pytest.fixture(scope="module")
def t(feed: Synth) -> dict[str, Any]:
    return feed.template_json


def state_machine_id(t: dict[str, Any], name: str) -> str:
    spec = next(s for s in r.STATE_MACHINES if s.name == name)
    return logical_id(t, "AWS::StepFunctions::StateMachine", StateMachineName=spec.physical_name(PREFIX))


def target_of(resource: Any, ids: dict[str, str]) -> str:
    text = json.dumps(resource)
    (name,) = [n for n, i in ids.items() if f'"{i}"' in text] or ["?" + text]
    return name + ("/index" if "/index/" in text else "")


def nag_report(synth: Synth) -> str:
    return "\n".join(
        f"{v.rule_name} {getattr(v, 'finding_id', '')} {[x.construct_path for x in v.violating_resources]}"
        for v in synth.nag.violations
    )


# --- the flag ----------------------------------------------------------------------------------


def test_none_by_default_deploys_no_feed_and_says_the_stack_does_not_trade(synth: Synth) -> None:
    t = synth.template_json
    assert sorted(k for k, v in t["Resources"].items() if v["Type"].startswith(TASK_TYPES)) == []
    assert not [k for k in t["Resources"] if k.startswith(("Feed", "TaskNetwork"))]
    names = {v["Properties"].get("Name") for v in resources_of_type(t, "AWS::Scheduler::Schedule").values()}
    assert r.FEED.start_schedule_name(PREFIX) not in names
    assert not [o for o in t["Outputs"] if o.startswith("Feed")]
    output = t["Outputs"]["MarketData"]
    assert output["Value"] == "none"
    assert "does not trade by itself" in output["Description"]
    assert "-c marketData=databento" in output["Description"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Databento", "marketData='Databento' is not allowed"),
        ("ib", "marketData='ib' is not allowed: use -c marketData=databento"),
        (True, "marketData=True is not allowed"),
        ("", "marketData='' is not allowed"),
    ],
    ids=["case", "unknown", "boolean", "empty"],
)
def test_bad_context_is_refused_naming_the_key_and_allowed_values(
    tmp_path: Path, value: Any, expected: str
) -> None:
    with pytest.raises(MarketDataContextError) as raised:
        Smart0dteStack(cdk.App(context={MARKET_DATA_CONTEXT: value}), "Refused", repo_root=tmp_path)
    assert expected in str(raised.value)
    assert "-c marketData=databento" in str(raised.value)
    assert "-c marketData=none" in str(raised.value)


def test_the_app_exits_with_the_context_error_instead_of_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("smart0dte_cdk_app_feed", REPO_ROOT / "cdk" / "app.py")
    assert spec is not None and spec.loader is not None
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    app_class = cdk.App
    monkeypatch.setattr(
        app.cdk,
        "App",
        lambda: app_class(context={MARKET_DATA_CONTEXT: "polygon"}, outdir=str(tmp_path / "cdk.out")),
    )

    with pytest.raises(SystemExit) as raised:
        app.main()
    assert "marketData='polygon' is not allowed" in str(raised.value.code)


def test_databento_outputs_name_the_logs_and_the_secret(t: dict[str, Any]) -> None:
    outputs = t["Outputs"]
    assert outputs["MarketData"]["Value"] == "databento"
    assert outputs["FeedSecretName"]["Value"] == r.FEED.secret_name(PREFIX) == f"{PREFIX}/databento"
    group = logical_id(t, "AWS::Logs::LogGroup", LogGroupName=r.FEED.log_group_name(PREFIX))
    assert outputs["FeedLogGroup"]["Value"] == {"Ref": group}
    assert not [o for o in outputs if o.startswith("Gateway")]  # paper: no gateway


# --- network -----------------------------------------------------------------------------------


def test_vpc_has_public_subnets_only_and_no_nat_gateway(t: dict[str, Any]) -> None:
    vpc, props = the(t, "AWS::EC2::VPC")
    assert {"Key": "Name", "Value": f"{PREFIX}-tasks"} in props["Tags"]
    assert resources_of_type(t, "AWS::EC2::NatGateway") == {}
    assert resources_of_type(t, "AWS::EC2::EIP") == {}
    subnets = resources_of_type(t, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is True for s in subnets.values())
    routes = [v["Properties"] for v in resources_of_type(t, "AWS::EC2::Route").values()]
    assert routes and all("GatewayId" in p and "NatGatewayId" not in p for p in routes)
    _, flow_log = the(t, "AWS::EC2::FlowLog")
    assert (flow_log["ResourceId"], flow_log["TrafficType"]) == ({"Ref": vpc}, "ALL")


def test_security_group_has_no_ingress_and_egress_to_https_and_databento_only(t: dict[str, Any]) -> None:
    _, props = the(t, "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in props
    assert resources_of_type(t, "AWS::EC2::SecurityGroupIngress") == {}
    egress = {
        (e["IpProtocol"], e["FromPort"], e["ToPort"], e["CidrIp"]) for e in props["SecurityGroupEgress"]
    }
    assert egress == {("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 13000, 13000, "0.0.0.0/0")}
    assert DATABENTO_LIVE_PORT == 13000


def test_one_vpc_is_shared_when_the_gateway_and_the_feed_are_both_deployed(both: Synth) -> None:
    t = both.template_json
    vpc, _ = the(t, "AWS::EC2::VPC")
    assert len(resources_of_type(t, "AWS::EC2::FlowLog")) == 1
    assert resources_of_type(t, "AWS::EC2::NatGateway") == {}
    groups = resources_of_type(t, "AWS::EC2::SecurityGroup")
    assert len(groups) == 2 and all(g["Properties"]["VpcId"] == {"Ref": vpc} for g in groups.values())
    subnets = sorted(resources_of_type(t, "AWS::EC2::Subnet"))
    families = set()
    for name in (r.GATEWAY.start_schedule_name(PREFIX), r.FEED.start_schedule_name(PREFIX)):
        sid = logical_id(t, "AWS::Scheduler::Schedule", Name=name)
        network = t["Resources"][sid]["Properties"]["Target"]["EcsParameters"]["NetworkConfiguration"]
        assert sorted(s["Ref"] for s in network["AwsvpcConfiguration"]["Subnets"]) == subnets
        families.add(name)
    assert len(families) == 2
    clusters = {c["Properties"]["ClusterName"] for c in resources_of_type(t, "AWS::ECS::Cluster").values()}
    assert clusters == {r.GATEWAY.physical_name(PREFIX), r.FEED.physical_name(PREFIX)}
    # one image asset, built and pushed once for both tasks
    (assets,) = both.outdir.glob("*.assets.json")
    assert len(json.loads(assets.read_text())["dockerImages"]) == 1


# --- the task ----------------------------------------------------------------------------------


def test_task_definition_is_fargate_x86_64_with_half_a_vcpu_and_1_gib(t: dict[str, Any]) -> None:
    _, props = the(t, "AWS::ECS::TaskDefinition")
    assert props["Family"] == r.FEED.physical_name(PREFIX)
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["NetworkMode"] == "awsvpc"
    assert (props["Cpu"], props["Memory"]) == ("512", "1024")
    assert props["RuntimePlatform"] == {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"}
    _, cluster = the(t, "AWS::ECS::Cluster")
    assert cluster["ClusterName"] == r.FEED.physical_name(PREFIX)


def test_container_runs_smart0dte_feed_through_tini_not_the_ib_gateway_entrypoint(t: dict[str, Any]) -> None:
    c = container(t, r.FEED)
    assert c["EntryPoint"] == ["/usr/bin/tini", "--"] == list(ENTRY_POINT)
    assert c["Command"] == ["smart0dte", "feed"] == list(COMMAND)
    assert c["Essential"] is True
    assert "HealthCheck" not in c
    # the image's own entrypoint is tini in front of the IB Gateway script: the override keeps tini
    (entrypoint,) = [ln for ln in DOCKERFILE.read_text().splitlines() if ln.startswith("ENTRYPOINT")]
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT "))[:2] == list(ENTRY_POINT)


def test_container_environment_names_the_trading_cycle_and_no_mode(t: dict[str, Any]) -> None:
    assert {e["Name"]: e["Value"] for e in container(t, r.FEED)["Environment"]} == {
        "SMART0DTE_PREFIX": PREFIX,
        "SMART0DTE_ACCOUNT": {"Ref": "AWS::AccountId"},
        "AWS_REGION": {"Ref": "AWS::Region"},
        r.state_machine_arn_env("trading_cycle"): {"Ref": state_machine_id(t, "trading_cycle")},
    }


def test_the_api_key_comes_from_the_named_secret_never_the_environment(t: dict[str, Any]) -> None:
    c = container(t, r.FEED)
    ((name, value_from),) = [(s["Name"], json.dumps(s["ValueFrom"])) for s in c["Secrets"]]
    assert name == r.ENV_DATABENTO_API_KEY == "DATABENTO_API_KEY"
    assert value_from.endswith(f':secret:{r.FEED.secret_name(PREFIX)}"]]}}')  # the whole plain string
    assert r.ENV_DATABENTO_API_KEY not in {e["Name"] for e in c["Environment"]}
    assert resources_of_type(t, "AWS::SecretsManager::Secret") == {}  # the operator creates it


def test_container_logs_to_a_one_month_log_group_and_stops_within_30_s(t: dict[str, Any]) -> None:
    group = logical_id(t, "AWS::Logs::LogGroup", LogGroupName=r.FEED.log_group_name(PREFIX))
    assert t["Resources"][group]["Properties"]["RetentionInDays"] == 30
    log = container(t, r.FEED)["LogConfiguration"]
    assert log["LogDriver"] == "awslogs"
    assert log["Options"]["awslogs-group"] == {"Ref": group}
    assert container(t, r.FEED)["StopTimeout"] == r.FEED.stop_timeout_s == 30


def test_image_is_the_gateway_dockerfile_staged_not_built(feed: Synth) -> None:
    (assets,) = feed.outdir.glob("*.assets.json")
    (image,) = json.loads(assets.read_text())["dockerImages"].values()
    assert image["source"]["dockerFile"] == IMAGE_DOCKERFILE
    assert image["source"]["platform"] == "linux/amd64"
    assert (feed.outdir / image["source"]["directory"]).is_dir()


# --- least privilege ---------------------------------------------------------------------------


def test_task_role_writes_the_market_table_reads_the_mode_and_starts_trading_cycles_only(
    t: dict[str, Any],
) -> None:
    role = task_role(t, r.FEED)
    ids = {
        "market": table_id(t, r.MARKET_TABLE),
        "control": table_id(t, r.CONTROL_TABLE),
        "trading_cycle": state_machine_id(t, "trading_cycle"),
    }
    found: dict[str, set[str]] = {}
    for action, resource, statement in grants(t, role):
        assert "Condition" not in statement
        found.setdefault(target_of(resource, ids), set()).add(action)
    assert found == {
        "market": {"dynamodb:PutItem"},
        "control": {"dynamodb:GetItem"},
        "trading_cycle": {"states:StartExecution"},
    }
    for action, resource, _ in grants(t, role):  # the tables and the machine themselves, no index
        assert "/index/" not in json.dumps(resource), (action, resource)
    assert actions_on_any_resource(t, role) == set()
    assert t["Resources"][role]["Properties"].get("ManagedPolicyArns", []) == []
    trust = t["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_execution_role_pulls_the_image_reads_the_one_secret_and_writes_its_logs(t: dict[str, Any]) -> None:
    check_execution_role(t, r.FEED)


def test_schedule_runs_the_task_weekdays_at_0915_new_york_with_a_public_ip(t: dict[str, Any]) -> None:
    check_start_schedule(t, r.FEED, "cron(15 9 ? * MON-FRI *)")


def test_scheduler_role_may_only_run_this_family_and_pass_the_two_roles(t: dict[str, Any]) -> None:
    check_scheduler_role(t, r.FEED)


def test_the_feed_stack_passes_aws_solutions(feed: Synth) -> None:
    assert feed.nag.success, nag_report(feed)


def test_bound_to_an_account_with_the_gateway_too_the_stack_passes_aws_solutions(both: Synth) -> None:
    assert both.nag.success, nag_report(both)
