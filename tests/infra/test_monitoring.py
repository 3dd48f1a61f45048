"""Monitoring in the synthesized template: an alarm per function, state machine, dead-letter queue
and the API's 5xx, each notifying the alert topic; the tasks' heartbeat alarms (the dead man's
switch) and task-count alarms, switched on and off by the session schedules; the CloudWatch
dashboard. The heartbeat alarms read exactly the metric the tasks emit (adapters/aws/metrics.py).

Two synthesized stacks of the session (conftest): the paper stack (`synth`: no task, so no session
alarm) and the one with both tasks and a custom domain (`synth_with_tasks`)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from smart0dte_infra.monitoring import (
    HEARTBEAT_MINUTES,
    SESSION_ACTIONS,
    SESSION_ALARMS_OFF,
    SESSION_ALARMS_ON,
    SESSION_ALARMS_RESET,
    TASK_COUNT_WINDOW_S,
    most_beats_of_one_task,
)

from smart0dte import resources as r
from smart0dte.adapters.aws.metrics import heartbeat_line

from .conftest import Synth
from .template_queries import grants, logical_id, resources_of_type

PREFIX = r.DEFAULT_PREFIX


@pytest.fixture(scope="module")
def tasks(synth_with_tasks: Synth) -> Synth:
    return synth_with_tasks


@pytest.fixture(scope="module")
def paper(synth: Synth) -> dict[str, Any]:
    return synth.template_json


@pytest.fixture(scope="module")
def t(tasks: Synth) -> dict[str, Any]:
    return tasks.template_json


def alarms(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Alarm properties by alarm name."""
    return {
        v["Properties"]["AlarmName"]: v["Properties"]
        for v in resources_of_type(t, "AWS::CloudWatch::Alarm").values()
    }


def topic_id(t: dict[str, Any]) -> str:
    return logical_id(t, "AWS::SNS::Topic", TopicName=r.ALERT_TOPIC.physical_name(PREFIX))


def dimension(alarm: dict[str, Any], name: str) -> Any:
    (value,) = [d["Value"] for d in alarm["Dimensions"] if d["Name"] == name]
    return value


def assert_counts_events(alarm: dict[str, Any], namespace: str, metric: str, statistic: str = "Sum") -> None:
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (namespace, metric, statistic)
    assert alarm["Period"] == 300 and alarm["EvaluationPeriods"] == 1
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"


# --- always-on alarms ------------------------------------------------------------------------------


def test_every_function_has_an_errors_and_a_throttles_alarm_on_itself(paper: dict[str, Any]) -> None:
    found = alarms(paper)
    for spec in r.FUNCTIONS:
        fid = logical_id(paper, "AWS::Lambda::Function", FunctionName=spec.physical_name(PREFIX))
        for what, metric in (("errors", "Errors"), ("throttles", "Throttles")):
            alarm = found[f"{PREFIX}-lambda-{spec.name}-{what}"]
            assert_counts_events(alarm, "AWS/Lambda", metric)
            assert dimension(alarm, "FunctionName") == {"Ref": fid}


def test_every_state_machine_has_a_failed_and_a_timed_out_alarm(paper: dict[str, Any]) -> None:
    found = alarms(paper)
    assert any(s.type is r.WorkflowType.EXPRESS for s in r.STATE_MACHINES)  # trading_cycle among them
    for spec in r.STATE_MACHINES:
        sid = logical_id(
            paper, "AWS::StepFunctions::StateMachine", StateMachineName=spec.physical_name(PREFIX)
        )
        for what, metric in (("failed", "ExecutionsFailed"), ("timed-out", "ExecutionsTimedOut")):
            alarm = found[f"{PREFIX}-sfn-{spec.name}-{what}"]
            assert_counts_events(alarm, "AWS/States", metric)
            assert dimension(alarm, "StateMachineArn") == {"Ref": sid}


def test_the_order_dead_letter_queue_alarms_on_its_first_message(paper: dict[str, Any]) -> None:
    alarm = alarms(paper)[f"{PREFIX}-{r.ORDER_INTENT_QUEUE.logical_name}-dlq"]
    assert_counts_events(alarm, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")
    dlq = logical_id(paper, "AWS::SQS::Queue", QueueName=f"{PREFIX}-order-intents-dlq.fifo")
    assert dimension(alarm, "QueueName") == {"Fn::GetAtt": [dlq, "QueueName"]}


def test_the_api_alarms_on_any_server_error(paper: dict[str, Any]) -> None:
    alarm = alarms(paper)[f"{PREFIX}-api-5xx"]
    assert_counts_events(alarm, "AWS/ApiGateway", "5xx")
    (api,) = resources_of_type(paper, "AWS::ApiGatewayV2::Api")
    assert dimension(alarm, "ApiId") == {"Ref": api}


def test_the_paper_stack_has_exactly_these_alarms_and_no_session_switch(paper: dict[str, Any]) -> None:
    expected = (
        {f"{PREFIX}-lambda-{f.name}-{w}" for f in r.FUNCTIONS for w in ("errors", "throttles")}
        | {f"{PREFIX}-sfn-{s.name}-{w}" for s in r.STATE_MACHINES for w in ("failed", "timed-out")}
        | {f"{PREFIX}-order-intents-dlq", f"{PREFIX}-api-5xx"}
    )
    assert set(alarms(paper)) == expected
    names = [s["Properties"]["Name"] for s in resources_of_type(paper, "AWS::Scheduler::Schedule").values()]
    assert not [n for n in names if "-session-" in n]


@pytest.mark.parametrize("stack", ["paper", "t"])
def test_every_alarm_notifies_the_alert_topic_and_only_it(stack: str, request: pytest.FixtureRequest) -> None:
    template = request.getfixturevalue(stack)
    for name, alarm in alarms(template).items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id(template)}], name
        assert alarm.get("ActionsEnabled", True) is True, name


# --- the dead man's switch -------------------------------------------------------------------------


def emitted(spec: r.TaskSpec) -> dict[str, Any]:
    return dict(json.loads(heartbeat_line(PREFIX, spec.name, True, 0)))


@pytest.mark.parametrize("spec", [r.FEED, r.GATEWAY], ids=lambda s: s.name)
def test_the_heartbeat_alarm_reads_the_metric_the_task_emits_and_fires_on_silence(
    t: dict[str, Any], spec: r.TaskSpec
) -> None:
    alarm = alarms(t)[f"{PREFIX}-{spec.name}-heartbeat"]
    line = emitted(spec)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    (metric,) = directive["Metrics"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (directive["Namespace"], metric["Name"])
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        k: line[k] for k in directive["Dimensions"][0]
    }
    assert alarm["Statistic"] == "Maximum" and alarm["Period"] == 60
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == HEARTBEAT_MINUTES
    assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 1
    assert alarm["TreatMissingData"] == "breaching"  # a dead task sends nothing at all
    assert "holiday" in alarm["AlarmDescription"]


@pytest.mark.parametrize("spec", [r.FEED, r.GATEWAY], ids=lambda s: s.name)
def test_the_task_count_alarm_fires_only_above_what_one_task_sends(
    t: dict[str, Any], spec: r.TaskSpec
) -> None:
    alarm = alarms(t)[f"{PREFIX}-{spec.name}-tasks"]
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == (
        r.HEARTBEAT_METRIC,
        "SampleCount",
        TASK_COUNT_WINDOW_S,
    )
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == most_beats_of_one_task(spec.heartbeat_every_s)
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("every_s", [r.FEED.heartbeat_every_s, r.GATEWAY.heartbeat_every_s])
def test_one_task_never_exceeds_the_count_threshold_and_two_always_do(every_s: int) -> None:
    """Beats at a steady interval (the worst case for one task: exactly `every_s`; a slower loop
    sends fewer), counted in every 5-minute window at every offset, second by second."""
    most = most_beats_of_one_task(every_s)

    def in_window(start_s: int, phase_s: int, interval_s: int) -> int:
        return sum(
            1
            for k in range(-2, 2 * TASK_COUNT_WINDOW_S)
            if start_s <= phase_s + k * interval_s < start_s + TASK_COUNT_WINDOW_S
        )

    for phase in range(every_s):
        for start in range(every_s):
            assert in_window(start, phase, every_s) <= most
            two = in_window(start, phase, every_s) + in_window(start, (phase + 7) % every_s, every_s)
            assert two > most


def test_the_session_schedules_switch_exactly_the_session_alarms(t: dict[str, Any]) -> None:
    session = {n for n in alarms(t) if n.endswith(("-heartbeat", "-tasks"))}
    assert session == {f"{PREFIX}-{s.name}-{w}" for s in (r.FEED, r.GATEWAY) for w in ("heartbeat", "tasks")}
    schedules = {
        v["Properties"]["Name"]: v["Properties"]
        for v in resources_of_type(t, "AWS::Scheduler::Schedule").values()
        if "-session-" in v["Properties"]["Name"]
    }
    by_action: dict[str, list[dict[str, Any]]] = {}
    for props in schedules.values():
        action = props["Target"]["Arn"].removeprefix("arn:aws:scheduler:::aws-sdk:cloudwatch:")
        by_action.setdefault(action, []).append(props)
        assert props["ScheduleExpressionTimezone"] == "America/New_York"
        assert props["State"] == "ENABLED"
    (on,) = by_action["enableAlarmActions"]
    (off,) = by_action["disableAlarmActions"]
    assert on["ScheduleExpression"] == SESSION_ALARMS_ON and off["ScheduleExpression"] == SESSION_ALARMS_OFF
    for props in (on, off):
        assert "MON-FRI" in props["ScheduleExpression"]
        assert set(resolve_names(t, props["Target"]["Input"])["AlarmNames"]) == session
    resets = by_action["setAlarmState"]
    assert {resolve_names(t, p["Target"]["Input"])["AlarmName"] for p in resets} == {
        n for n in session if n.endswith("-heartbeat")
    }
    for props in resets:
        assert props["ScheduleExpression"] == SESSION_ALARMS_RESET
        assert resolve_names(t, props["Target"]["Input"])["StateValue"] == "OK"
    assert set(by_action) == {"enableAlarmActions", "disableAlarmActions", "setAlarmState"}


def test_the_reset_comes_after_the_actions_are_on_and_the_off_after_the_close() -> None:
    def minutes(cron: str) -> int:
        minute, hour = re.match(r"cron\((\d+) (\d+) ", cron).groups()  # type: ignore[union-attr]
        return int(hour) * 60 + int(minute)

    assert minutes(SESSION_ALARMS_ON) < minutes(SESSION_ALARMS_RESET) < minutes(SESSION_ALARMS_OFF)
    assert minutes(SESSION_ALARMS_ON) >= 9 * 60 + 30 and minutes(SESSION_ALARMS_OFF) >= 16 * 60


def resolve_names(t: dict[str, Any], value: Any) -> dict[str, Any]:
    """The schedule's JSON input with each alarm Ref replaced by that alarm's name."""
    if isinstance(value, str):
        return dict(json.loads(value))
    parts = []
    for part in value["Fn::Join"][1]:
        parts.append(
            part if isinstance(part, str) else t["Resources"][part["Ref"]]["Properties"]["AlarmName"]
        )
    return dict(json.loads("".join(parts)))


def test_the_session_role_may_only_switch_the_session_alarms(t: dict[str, Any]) -> None:
    (schedule,) = [
        v
        for v in resources_of_type(t, "AWS::Scheduler::Schedule").values()
        if v["Properties"]["Name"] == f"{PREFIX}-session-alarms-on"
    ]
    role = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
    session_ids = {
        k
        for k, v in resources_of_type(t, "AWS::CloudWatch::Alarm").items()
        if v["Properties"]["AlarmName"].endswith(("-heartbeat", "-tasks"))
    }
    allowed = list(grants(t, role))
    assert {a for a, _, _ in allowed} == set(SESSION_ACTIONS)
    assert {res["Fn::GetAtt"][0] for _, res, _ in allowed} == session_ids
    trust = t["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}


def test_the_stack_with_the_tasks_is_cdk_nag_clean(tasks: Synth) -> None:
    findings = [
        f"{v.rule_name}: {', '.join(str(res.construct_path) for res in v.violating_resources)}"
        for v in tasks.nag.violations
    ]
    assert tasks.nag.success, "\n".join(findings)


# --- the dashboard ---------------------------------------------------------------------------------


def test_one_dashboard_shows_every_alarm_and_the_heartbeats(t: dict[str, Any]) -> None:
    (dashboard,) = resources_of_type(t, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == PREFIX
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for alarm_id in resources_of_type(t, "AWS::CloudWatch::Alarm"):
        assert f'"{alarm_id}"' in body, alarm_id
    assert f'\\"{r.HEARTBEAT_METRIC}\\"' in body
    for title in ("Alarms", "Lambda errors", "Workflow runs failed or timed out", "Task heartbeats"):
        assert title in body
