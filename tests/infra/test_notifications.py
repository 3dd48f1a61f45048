"""The alert topic's email subscriptions from `-c alertEmail=...`, asserted in the synthesized
template (one synthesis for this module, with two addresses; conftest's session synthesis has
none); a malformed address is refused before anything is built."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from smart0dte_infra import Smart0dteStack
from smart0dte_infra.notifications import ALERT_EMAIL_CONTEXT, AlertEmailContextError

from smart0dte import resources as r

from .conftest import Synth, synthesize, write_fake_repo
from .template_queries import resources_of_type

EMAILS = ("owner@example.com", "backup@example.org")


@pytest.fixture(scope="module")
def subscribed(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Synth:
    repo = write_fake_repo(tmp_path_factory.mktemp("repo"))
    context = {ALERT_EMAIL_CONTEXT: " , ".join(EMAILS)}
    return synthesize(repo, deps_layer, tmp_path_factory.mktemp("cdk.out"), context=context)


def topic_id(synth: Synth) -> str:
    (found,) = [
        logical
        for logical, resource in synth.template_json["Resources"].items()
        if resource["Type"] == "AWS::SNS::Topic"
        and resource["Properties"]["TopicName"] == r.ALERT_TOPIC.physical_name(r.DEFAULT_PREFIX)
    ]
    return found


def test_each_address_is_an_email_subscription_of_the_alert_topic(subscribed: Synth) -> None:
    subscriptions = resources_of_type(subscribed.template_json, "AWS::SNS::Subscription")
    assert sorted(
        (s["Properties"]["Protocol"], s["Properties"]["Endpoint"], s["Properties"]["TopicArn"]["Ref"])
        for s in subscriptions.values()
    ) == sorted(("email", e, topic_id(subscribed)) for e in EMAILS)
    outputs = subscribed.template_json["Outputs"]
    (listed,) = [o for k, o in outputs.items() if "AlertEmails" in k]
    assert listed["Value"] == ", ".join(EMAILS) and "confirm" in listed["Description"]


def test_without_the_context_nothing_subscribes_and_the_output_says_how(synth: Synth) -> None:
    assert resources_of_type(synth.template_json, "AWS::SNS::Subscription") == {}
    (listed,) = [o for k, o in synth.template_json["Outputs"].items() if "AlertEmails" in k]
    assert listed["Value"] == "none" and f"-c {ALERT_EMAIL_CONTEXT}=" in listed["Description"]


@pytest.mark.parametrize("value", ["owner", "owner@example.com,not an address", "a@b"])
def test_a_malformed_address_is_refused_naming_the_context_and_the_value(value: str, tmp_path: Path) -> None:
    app = cdk.App(context={ALERT_EMAIL_CONTEXT: value}, outdir=str(tmp_path / "out"))
    with pytest.raises(AlertEmailContextError, match=ALERT_EMAIL_CONTEXT) as refused:
        Smart0dteStack(app, "Refused", repo_root=write_fake_repo(tmp_path / "repo", layers=False))
    bad = [p.strip() for p in value.split(",") if p.strip() != "owner@example.com"]
    assert all(repr(b) in str(refused.value) for b in bad)
