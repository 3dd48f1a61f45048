"""`smart0dte cost` on a small template: its figures equal the month computed here by hand from
the stated list prices, and bad flags are refused naming the flag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from smart0dte.cli import main
from smart0dte.domain.aws_prices import PRICES_AS_OF, US_EAST_1
from smart0dte.domain.models import DomainError
from smart0dte.services.cost import Usage, cron_runs_per_month, days_per_week

# The us-east-1 list prices this example is computed from (checked against the table below).
FARGATE_ARM_VCPU_HOUR = 0.03238
FARGATE_ARM_GB_HOUR = 0.00356
PUBLIC_IPV4_HOUR = 0.005
LAMBDA_X86_GB_SECOND = 0.0000166667
LAMBDA_PER_REQUEST = 0.20 / 1e6
EXPRESS_PER_REQUEST = 1.00 / 1e6
EXPRESS_GB_SECOND = 0.00001667
DYNAMODB_WRITE_UNIT = 0.625 / 1e6
DYNAMODB_READ_UNIT = 0.125 / 1e6
DYNAMODB_GB_MONTH = 0.25
SECRET_MONTH = 0.40
SECRET_API_CALL = 0.05 / 10_000
ALARM_MONTH = 0.10
ECR_GB_MONTH = 0.10
SCHEDULER_INVOCATION = 1.00 / 1e6

SECRET_ARN = {
    "Fn::Join": [
        "",
        ["arn:", {"Ref": "AWS::Partition"}, ":secretsmanager:us-east-1:1:secret:smart0dte/databento"],
    ]
}


def small_template() -> dict[str, Any]:
    """One cycle function, the trading_cycle workflow, an ARM feed task started at 09:15 with a
    public IP and a secret, one on-demand table and one alarm."""
    return {
        "Resources": {
            "Signals": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "smart0dte-signals",
                    "MemorySize": 1024,
                    "Architectures": ["x86_64"],
                },
            },
            "Cycle": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"StateMachineName": "smart0dte-trading-cycle", "StateMachineType": "EXPRESS"},
            },
            "FeedTask": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": "smart0dte-feed",
                    "Cpu": "512",
                    "Memory": "1024",
                    "RuntimePlatform": {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
                    "ContainerDefinitions": [
                        {
                            "Image": "repo:abc",
                            "Secrets": [{"Name": "DATABENTO_API_KEY", "ValueFrom": SECRET_ARN}],
                        }
                    ],
                },
            },
            "FeedStart": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "Name": "smart0dte-feed-start",
                    "ScheduleExpression": "cron(15 9 ? * MON-FRI *)",
                    "Target": {
                        "Arn": {"Fn::GetAtt": ["Cluster", "Arn"]},
                        "EcsParameters": {
                            "TaskDefinitionArn": {"Ref": "FeedTask"},
                            "NetworkConfiguration": {"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED"}},
                        },
                    },
                },
            },
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {}},
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "PAY_PER_REQUEST"}},
            "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmName": "errors", "Period": 60}},
        }
    }


ASSUME = {
    "sessions_per_month": "20",
    "session_hours": "6",
    "cycle_step_ms": "200",
    "lambda_log_kb_per_run": "0",
    "task_log_mb_per_hour": "0",
    "custom_metrics": "0",
    "api_requests_per_session": "0",
    "always_free_tiers": "0",
}


def run_cost(capsys: pytest.CaptureFixture[str], template: Path, *extra: str) -> dict[str, Any]:
    flags = [arg for name, value in ASSUME.items() for arg in ("--assume", f"{name}={value}")]
    assert main(["cost", "--template", str(template), "--json", *flags, *extra]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_the_stated_prices_are_the_tables() -> None:
    p = US_EAST_1
    assert (p.fargate_arm_vcpu_hour, p.fargate_arm_gb_hour, p.public_ipv4_hour) == (
        FARGATE_ARM_VCPU_HOUR,
        FARGATE_ARM_GB_HOUR,
        PUBLIC_IPV4_HOUR,
    )
    assert p.lambda_x86_gb_second == LAMBDA_X86_GB_SECOND
    assert p.lambda_per_million_requests / 1e6 == LAMBDA_PER_REQUEST
    assert p.sfn_express_per_million_requests / 1e6 == EXPRESS_PER_REQUEST
    assert p.sfn_express_gb_second == EXPRESS_GB_SECOND
    assert p.dynamodb_per_million_write_units / 1e6 == DYNAMODB_WRITE_UNIT
    assert p.dynamodb_per_million_read_units / 1e6 == DYNAMODB_READ_UNIT
    assert p.dynamodb_storage_gb_month == DYNAMODB_GB_MONTH
    assert (p.secret_month, p.secrets_per_10k_api_calls / 10_000) == (SECRET_MONTH, SECRET_API_CALL)
    assert (p.cloudwatch_alarm_metric_month, p.ecr_storage_gb_month) == (ALARM_MONTH, ECR_GB_MONTH)
    assert p.scheduler_per_million_invocations / 1e6 == SCHEDULER_INVOCATION


def test_the_commands_figures_equal_the_month_computed_by_hand(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    template = tmp_path / "small.template.json"
    template.write_text(json.dumps(small_template()))
    document = run_cost(capsys, template)

    cycles = 20 * 6 * 60  # sessions x hours x 60 minutes, one cycle a minute
    signals = cycles * (1.0 * 0.2 * LAMBDA_X86_GB_SECOND + LAMBDA_PER_REQUEST)  # 1 GB for 200 ms
    express = cycles * (EXPRESS_PER_REQUEST + 0.0625 * 0.6 * EXPRESS_GB_SECOND)  # 64 MB, 3 steps x 200 ms
    task_hours = 20 * (16.25 - 9.25)  # from the 09:15 start to 15 minutes after the close
    fargate = task_hours * (0.5 * FARGATE_ARM_VCPU_HOUR + 1.0 * FARGATE_ARM_GB_HOUR)
    ipv4 = task_hours * PUBLIC_IPV4_HOUR
    secret = SECRET_MONTH + 20 * 2 * SECRET_API_CALL  # two reads a session
    dynamodb = cycles * (150 * DYNAMODB_WRITE_UNIT + 100 * DYNAMODB_READ_UNIT) + 1.0 * DYNAMODB_GB_MONTH
    ecr = 1.5 * ECR_GB_MONTH
    scheduler = 5 * 52.1775 / 12 * SCHEDULER_INVOCATION  # weekday starts
    total = signals + express + fargate + ipv4 + secret + dynamodb + ecr + ALARM_MONTH + scheduler

    assert document["total_usd_month"] == round(total, 2) == 5.17
    assert document["by_service"] == {
        "Fargate": round(fargate, 2),
        "DynamoDB": round(dynamodb, 2),
        "VPC": round(ipv4, 2),
        "Secrets Manager": round(secret, 2),
        "ECR": round(ecr, 2),
        "CloudWatch": round(ALARM_MONTH, 2),
        "Lambda": round(signals, 2),
        "Step Functions": round(express, 2),
        "EventBridge Scheduler": round(scheduler, 2),
    }
    lines = {(line["resource"], line["service"]): line["usd_month"] for line in document["by_resource"]}
    assert lines[("smart0dte-feed", "Fargate")] == round(fargate, 4)
    assert lines[("smart0dte-signals", "Lambda")] == round(signals, 4)
    assert lines[("smart0dte-trading-cycle", "Step Functions")] == round(express, 4)
    assert lines[("smart0dte/databento", "Secrets Manager")] == round(secret, 4)
    assert document["prices_as_of"] == PRICES_AS_OF
    assert document["assumptions"]["sessions_per_month"] == 20
    assert "not applied" in document["assumptions"]["free_tiers"]
    assert document["unpriced_resource_types"] == {}


def test_the_always_free_tiers_taken_off_are_lines_of_their_own_beside_the_total_without_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    template = tmp_path / "small.template.json"
    template.write_text(json.dumps(small_template()))
    before = run_cost(capsys, template)
    after = run_cost(capsys, template, "--assume", "always_free_tiers=1")

    cycles = 20 * 6 * 60
    requests_free = cycles * LAMBDA_PER_REQUEST  # all within 1M requests
    gb_seconds_free = cycles * 0.2 * LAMBDA_X86_GB_SECOND  # 1,440 GB-s, within 400,000
    storage_free = 1.0 * DYNAMODB_GB_MONTH  # 1 GB of the 25 free
    alarm_free = ALARM_MONTH  # 1 of the 10 free alarm metrics
    scheduler_free = 5 * 52.1775 / 12 * SCHEDULER_INVOCATION
    free = {
        line["detail"]: line["usd_month"]
        for line in after["by_resource"]
        if line["resource"] == "always-free tier"
    }
    assert free == {
        "7,200 of 1M requests": round(-requests_free, 4),
        "1,440 of 400,000 GB-s": round(-gb_seconds_free, 4),
        "1 of 25 GB stored": round(-storage_free, 4),
        "1 of 10 alarm metrics": round(-alarm_free, 4),
        "21.74 of 14M invocations": round(-scheduler_free, 4),
    }
    assert after["by_service"]["Lambda"] == 0.0 and after["by_service"]["CloudWatch"] == 0.0
    taken_off = requests_free + gb_seconds_free + storage_free + alarm_free + scheduler_free
    assert after["total_usd_month"] == round(5.1674 - taken_off, 2) == 4.79
    assert before["total_usd_month"] == 5.17
    assert after["total_without_free_tiers_usd_month"] == before["total_without_free_tiers_usd_month"] == 5.17
    assert after["assumptions"]["free_tiers"].startswith("applied")


def test_without_the_feed_task_nothing_starts_a_trading_cycle(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    template = small_template()
    del template["Resources"]["FeedTask"], template["Resources"]["FeedStart"]
    path = tmp_path / "no-feed.template.json"
    path.write_text(json.dumps(template))
    lines = {line["resource"]: line["usd_month"] for line in run_cost(capsys, path)["by_resource"]}
    assert lines["smart0dte-signals"] == 0 and lines["smart0dte-trading-cycle"] == 0


def test_an_unknown_resource_type_is_reported_not_priced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    template = small_template()
    template["Resources"]["Waf"] = {"Type": "AWS::WAFv2::WebACL", "Properties": {}}
    path = tmp_path / "waf.template.json"
    path.write_text(json.dumps(template))
    assert run_cost(capsys, path)["unpriced_resource_types"] == {"AWS::WAFv2::WebACL": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--context", "x"], "--context 'x' must be key=value"),
        (["--assume", "=3"], "--assume '=3' must be key=value"),
    ],
)
def test_a_malformed_pair_is_refused_naming_its_flag(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["cost", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("assume", "message"),
    [
        (
            "sessions=21",
            "--assume sessions: unknown assumption; known: always_free_tiers, api_access_log_kb_per_request",
        ),
        ("session_hours=-1", "--assume session_hours='-1' must be a finite number >= 0"),
        ("session_hours=nan", "--assume session_hours='nan' must be a finite number >= 0"),
        ("session_hours=six", "--assume session_hours='six' must be a finite number >= 0"),
        ("always_free_tiers=0.5", "--assume always_free_tiers='0.5' must be 0 or 1"),
    ],
)
def test_a_bad_assumption_is_refused_naming_the_flag_and_the_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, assume: str, message: str
) -> None:
    path = tmp_path / "small.template.json"
    path.write_text(json.dumps(small_template()))
    assert main(["cost", "--template", str(path), "--assume", assume]) == 2
    assert message in capsys.readouterr().err


def test_a_template_that_is_not_json_is_refused_naming_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{")
    assert main(["cost", "--template", str(path)]) == 2
    assert f"--template {path}: not a readable JSON template" in capsys.readouterr().err


def test_a_template_with_synthesis_context_is_refused_naming_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "small.template.json"
    path.write_text(json.dumps(small_template()))
    assert main(["cost", "--template", str(path), "--context", "marketData=databento"]) == 2
    assert "--context with --template may only name the stack's prefix" in capsys.readouterr().err


def test_a_stage_prefix_names_its_functions(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = json.dumps(small_template()).replace('"smart0dte-', '"smart0dte-staging-')
    path = tmp_path / "staging.template.json"
    path.write_text(text)
    document = run_cost(capsys, path, "--context", "prefix=smart0dte-staging")
    lines = {(line["resource"], line["service"]): line["detail"] for line in document["by_resource"]}
    assert "one step of each trading cycle" in lines[("smart0dte-staging-signals", "Lambda")]
    assert lines[("smart0dte-staging-feed", "Fargate")].startswith("140.0 h")


def test_cron_days_give_the_runs_of_a_month() -> None:
    assert days_per_week("MON-FRI") == 5 and days_per_week("SAT") == 1 and days_per_week("MON,WED") == 2
    assert days_per_week("?") == 7
    assert cron_runs_per_month("cron(0 17 ? * MON-FRI *)") == pytest.approx(21.74, abs=0.01)
    with pytest.raises(DomainError, match="only cron"):
        cron_runs_per_month("rate(5 minutes)")
    with pytest.raises(DomainError, match=r"SUN\.\.SAT"):
        days_per_week("2-6")


def test_the_usage_defaults_are_the_stated_month() -> None:
    usage = Usage()
    assert usage.cycles_per_month() == 21 * 6.5 * 60
    assert usage.always_free_tiers == 1, "AWS applies the always-free allowances to every account"
