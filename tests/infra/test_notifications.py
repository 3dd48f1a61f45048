"""The alert topic's email subscriptions from `-c alertEmail=...`, and the Sunday-evening reminder
of IB's weekly re-authentication that a gateway deployment schedules, asserted in the synthesized
template (one synthesis for this module: two addresses and the IB paper gateway; conftest's session
synthesis has neither); a malformed address is refused before anything is built."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from smart0dte_infra import Smart0dteStack
from smart0dte_infra.gateway import IB_ACCOUNT_CONTEXT, LIVE_TRADING_CONTEXT
from smart0dte_infra.notifications import ALERT_EMAIL_CONTEXT, AlertEmailContextError

from smart0dte import resources as r
from smart0dte.adapters.aws.sns import ORIGIN_ATTRIBUTE

from .conftest import REPO_ROOT, Synth, synthesize, write_fake_repo
from .template_queries import actions_on_any_resource, grants, logical_id, mentions, resources_of_type

EMAILS = ("owner@example.com", "backup@example.org")


@pytest.fixture(scope="module")
def subscribed(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Synth:
    repo = write_fake_repo(tmp_path_factory.mktemp("repo"))
    for name in ("pyproject.toml", "README.md", "gateway_container"):  # the gateway image's sources
        (repo / name).symlink_to(REPO_ROOT / name)
    context = {
        ALERT_EMAIL_CONTEXT: " , ".join(EMAILS),
        LIVE_TRADING_CONTEXT: "ibkr_paper",
        IB_ACCOUNT_CONTEXT: "DU1234567",
    }
    return synthesize(repo, deps_layer, tmp_path_factory.mktemp("cdk.out"), context=context)


def topic_id(synth: Synth) -> str:
    return logical_id(
        synth.template_json, "AWS::SNS::Topic", TopicName=r.ALERT_TOPIC.physical_name(r.DEFAULT_PREFIX)
    )


def test_each_address_is_an_email_subscription_of_the_alert_topic(subscribed: Synth) -> None:
    subscriptions = resources_of_type(subscribed.template_json, "AWS::SNS::Subscription")
    assert sorted(
        (s["Properties"]["Protocol"], s["Properties"]["Endpoint"], s["Properties"]["TopicArn"]["Ref"])
        for s in subscriptions.values()
        if s["Properties"]["Protocol"] == "email"
    ) == sorted(("email", e, topic_id(subscribed)) for e in EMAILS)
    outputs = subscribed.template_json["Outputs"]
    (listed,) = [o for k, o in outputs.items() if "AlertEmails" in k]
    assert listed["Value"] == ", ".join(EMAILS) and "confirm" in listed["Description"]


def test_without_the_context_nothing_subscribes_and_the_output_says_how(synth: Synth) -> None:
    subscriptions = resources_of_type(synth.template_json, "AWS::SNS::Subscription").values()
    assert [s["Properties"]["Protocol"] for s in subscriptions] == ["lambda"]  # the alarm forwarder
    (listed,) = [o for k, o in synth.template_json["Outputs"].items() if "AlertEmails" in k]
    assert listed["Value"] == "none" and f"-c {ALERT_EMAIL_CONTEXT}=" in listed["Description"]


@pytest.mark.parametrize("value", ["owner", "owner@example.com,not an address", "a@b"])
def test_a_malformed_address_is_refused_naming_the_context_and_the_value(value: str, tmp_path: Path) -> None:
    app = cdk.App(context={ALERT_EMAIL_CONTEXT: value}, outdir=str(tmp_path / "out"))
    with pytest.raises(AlertEmailContextError, match=ALERT_EMAIL_CONTEXT) as refused:
        Smart0dteStack(app, "Refused", repo_root=write_fake_repo(tmp_path / "repo", layers=False))
    bad = [p.strip() for p in value.split(",") if p.strip() != "owner@example.com"]
    assert all(repr(b) in str(refused.value) for b in bad)


def test_a_gateway_deployment_reminds_of_the_weekly_reauthentication_on_sunday_evening(
    subscribed: Synth,
) -> None:
    t = subscribed.template_json
    (schedule,) = [
        s["Properties"]
        for s in resources_of_type(t, "AWS::Scheduler::Schedule").values()
        if s["Properties"]["Name"] == f"{r.DEFAULT_PREFIX}-{r.REAUTHENTICATION_SCHEDULE}"
    ]
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 18 ? * SUN *)",
        "America/New_York",
    )
    notify = logical_id(
        t,
        "AWS::Lambda::Function",
        FunctionName=next(f.physical_name() for f in r.FUNCTIONS if f.name == "notify"),
    )
    assert mentions(schedule["Target"]["Arn"], notify)
    assert json.loads(schedule["Target"]["Input"]) == {
        "kind": "ib_reauthentication",
        "mode": "ibkr_paper",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    role = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    assert [(a, mentions(res, notify)) for a, res, _ in grants(t, role)] == [("lambda:InvokeFunction", True)]
    assert actions_on_any_resource(t, role) == set()


def test_without_a_gateway_there_is_no_reminder(synth: Synth) -> None:
    names = [
        s["Properties"]["Name"]
        for s in resources_of_type(synth.template_json, "AWS::Scheduler::Schedule").values()
    ]
    assert f"{r.DEFAULT_PREFIX}-{r.REAUTHENTICATION_SCHEDULE}" not in names


def test_the_notify_function_hears_only_what_smart0dte_did_not_publish(synth: Synth) -> None:
    t = synth.template_json
    notify = logical_id(
        t,
        "AWS::Lambda::Function",
        FunctionName=next(f.physical_name() for f in r.FUNCTIONS if f.name == "notify"),
    )
    (forwarder,) = [
        s["Properties"]
        for s in resources_of_type(t, "AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "lambda"
    ]
    assert mentions(forwarder["Endpoint"], notify) and forwarder["TopicArn"] == {"Ref": topic_id(synth)}
    assert forwarder["FilterPolicy"] == {ORIGIN_ATTRIBUTE: [{"exists": False}]}  # the alarms' messages
    (permission,) = [
        p["Properties"]
        for p in resources_of_type(t, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "sns.amazonaws.com"
    ]
    assert mentions(permission["FunctionName"], notify) and permission["SourceArn"] == {
        "Ref": topic_id(synth)
    }
