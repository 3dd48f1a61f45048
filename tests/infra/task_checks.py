"""Queries and checks shared by the tests of the stack's ECS tasks (the gateway and the feed): both
come from the same helpers in cdk/smart0dte_infra/gateway.py, so both templates hold the same
shapes, named by their TaskSpec."""

from __future__ import annotations

import json
from typing import Any

from smart0dte import resources as r

from .template_queries import grants, logical_id, resources_of_type, role_of

PREFIX = r.DEFAULT_PREFIX


def the(t: dict[str, Any], cfn_type: str) -> tuple[str, dict[str, Any]]:
    """The one resource of `cfn_type` and its properties."""
    found = resources_of_type(t, cfn_type)
    assert len(found) == 1, f"{cfn_type}: {sorted(found)}"
    ((key, value),) = found.items()
    return key, value.get("Properties", {})


def task_definition(t: dict[str, Any], spec: r.TaskSpec) -> tuple[str, dict[str, Any]]:
    tid = logical_id(t, "AWS::ECS::TaskDefinition", Family=spec.physical_name(PREFIX))
    return tid, dict(t["Resources"][tid]["Properties"])


def container(t: dict[str, Any], spec: r.TaskSpec) -> dict[str, Any]:
    (definition,) = task_definition(t, spec)[1]["ContainerDefinitions"]
    return dict(definition)


def task_role(t: dict[str, Any], spec: r.TaskSpec) -> str:
    return str(task_definition(t, spec)[1]["TaskRoleArn"]["Fn::GetAtt"][0])


def execution_role(t: dict[str, Any], spec: r.TaskSpec) -> str:
    return str(task_definition(t, spec)[1]["ExecutionRoleArn"]["Fn::GetAtt"][0])


def start_schedule(t: dict[str, Any], spec: r.TaskSpec) -> tuple[str, dict[str, Any]]:
    sid = logical_id(t, "AWS::Scheduler::Schedule", Name=spec.start_schedule_name(PREFIX))
    return sid, t["Resources"][sid]["Properties"]


def table_id(t: dict[str, Any], spec: r.TableSpec) -> str:
    return logical_id(t, "AWS::DynamoDB::Table", TableName=spec.physical_name(PREFIX))


def check_execution_role(t: dict[str, Any], spec: r.TaskSpec) -> None:
    """Pulls the image, reads the task's one secret, writes its logs: nothing else."""
    role = execution_role(t, spec)
    group = logical_id(t, "AWS::Logs::LogGroup", LogGroupName=spec.log_group_name(PREFIX))
    by_resource: dict[str, set[str]] = {}
    for action, resource, _ in grants(t, role):
        by_resource.setdefault(json.dumps(resource), set()).add(action)
    secret = [k for k in by_resource if f":secret:{spec.secret_name(PREFIX)}-??????" in k]
    repository = [k for k in by_resource if "container-assets" in k]
    assert len(secret) == 1 and len(repository) == 1
    assert by_resource == {
        json.dumps("*"): {"ecr:GetAuthorizationToken"},
        repository[0]: {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"},
        json.dumps({"Fn::GetAtt": [group, "Arn"]}): {"logs:CreateLogStream", "logs:PutLogEvents"},
        secret[0]: {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
    }


def check_start_schedule(t: dict[str, Any], spec: r.TaskSpec, cron: str) -> None:
    """Runs one Fargate task at `cron` New York time in the public subnets with a public IP; the task
    stops itself after the close, so there is no stop schedule."""
    sid, props = start_schedule(t, spec)
    group, _ = the(t, "AWS::Scheduler::ScheduleGroup")
    assert props["GroupName"] == PREFIX
    assert group in t["Resources"][sid]["DependsOn"]
    assert (props["ScheduleExpression"], props["ScheduleExpressionTimezone"]) == (cron, "America/New_York")
    assert props["State"] == "ENABLED"
    cluster, _ = the(t, "AWS::ECS::Cluster")
    task, _ = task_definition(t, spec)
    sg, _ = the(t, "AWS::EC2::SecurityGroup")
    target = props["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [cluster, "Arn"]}
    ecs = target["EcsParameters"]
    assert (ecs["TaskDefinitionArn"], ecs["LaunchType"], ecs["TaskCount"]) == ({"Ref": task}, "FARGATE", 1)
    network = ecs["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    assert network["SecurityGroups"] == [{"Fn::GetAtt": [sg, "GroupId"]}]
    assert sorted(s["Ref"] for s in network["Subnets"]) == sorted(resources_of_type(t, "AWS::EC2::Subnet"))
    assert len(start_schedules(t)) == len(r.SCHEDULES) + 1


def start_schedules(t: dict[str, Any]) -> list[str]:
    """The schedules that start something: not the monitoring's switches of the session alarms, not
    the IB re-authentication reminder (notifications.py's, with the gateway)."""
    reminder = f"{PREFIX}-{r.REAUTHENTICATION_SCHEDULE}"
    return [
        v["Properties"]["Name"]
        for v in resources_of_type(t, "AWS::Scheduler::Schedule").values()
        if not str(v["Properties"]["Target"]["Arn"]).startswith("arn:aws:scheduler:::aws-sdk:cloudwatch:")
        and v["Properties"]["Name"] != reminder
    ]


def check_scheduler_role(t: dict[str, Any], spec: r.TaskSpec) -> None:
    """May only run this task family in its cluster and pass the task's two roles to ECS tasks."""
    sid, _ = start_schedule(t, spec)
    role = role_of(t, sid)
    cluster, _ = the(t, "AWS::ECS::Cluster")
    found = [(a, json.dumps(res), s.get("Condition")) for a, res, s in grants(t, role)]
    run = [f for f in found if f[0] == "ecs:RunTask"]
    passes = [f for f in found if f[0] == "iam:PassRole"]
    assert len(run) + len(passes) == len(found) == 3
    ((_, resource, condition),) = run
    assert resource.endswith(f':task-definition/{spec.physical_name(PREFIX)}:*"]]}}')
    assert condition == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [cluster, "Arn"]}}}
    passed = {json.loads(res)["Fn::GetAtt"][0] for _, res, _ in passes}
    assert passed == {task_role(t, spec), execution_role(t, spec)}
    assert all(
        c == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}} for _, _, c in passes
    )
    trust = t["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
