"""The Telegram bot in the stack (`-c telegram=enabled`): its function with the layers, the
webhook route without the JWT authorizer, least-privilege IAM with the one secret, the outputs;
the default deploys none of it and bad context is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from smart0dte_infra.telegram import (
    TELEGRAM_CHAT_IDS_CONTEXT,
    TELEGRAM_CONTEXT,
    TelegramContextError,
    telegram_from_context,
)

from smart0dte import resources as r

from .conftest import Synth, synthesize, write_fake_repo
from .template_queries import actions_on_any_resource, grants, logical_id, resources_of_type, role_of

PREFIX = r.DEFAULT_PREFIX
ROUTE_KEY = f"POST {r.TELEGRAM_WEBHOOK_PATH}"


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Synth:
    repo = write_fake_repo(tmp_path_factory.mktemp("repo"))
    handler = repo / "lambdas" / "telegram" / "handler.py"
    handler.parent.mkdir(parents=True)
    handler.write_text("def handler(event, context):\n    return event\n")
    context = {TELEGRAM_CONTEXT: "enabled", TELEGRAM_CHAT_IDS_CONTEXT: "111, -1002"}
    return synthesize(repo, deps_layer, tmp_path_factory.mktemp("cdk.out"), context=context)


@pytest.fixture(scope="module")
def t(bot: Synth) -> dict[str, Any]:
    return bot.template_json


def function_id(t: dict[str, Any]) -> str:
    return logical_id(t, "AWS::Lambda::Function", FunctionName=r.TELEGRAM_FUNCTION.physical_name(PREFIX))


def test_the_context_defaults_to_no_bot_and_refuses_other_values() -> None:
    assert telegram_from_context(cdk.App().node) == (False, "")
    with pytest.raises(TelegramContextError, match="telegram='yes' is not allowed: use -c telegram=enabled"):
        telegram_from_context(cdk.App(context={TELEGRAM_CONTEXT: "yes"}).node)
    with pytest.raises(TelegramContextError, match="telegramChatIds='12,abc': abc is not a chat id"):
        telegram_from_context(
            cdk.App(context={TELEGRAM_CONTEXT: "enabled", TELEGRAM_CHAT_IDS_CONTEXT: "12,abc"}).node
        )


def test_the_function_runs_the_handler_with_both_layers_and_names_its_secret(t: dict[str, Any]) -> None:
    props = t["Resources"][function_id(t)]["Properties"]
    assert props["Handler"] == "handler.handler"
    assert len(props["Layers"]) == 2
    assert props["Timeout"] == r.TELEGRAM_FUNCTION.timeout_s
    env = props["Environment"]["Variables"]
    assert env[r.ENV_TELEGRAM_SECRET] == r.telegram_secret_name(PREFIX)
    assert env[r.ENV_TELEGRAM_CHAT_IDS] == "111,-1002"
    assert not [k for k in env if "TOKEN" in k.upper()]  # the token lives in the secret only


def test_the_webhook_route_has_no_authorizer_and_every_other_route_keeps_the_jwt(t: dict[str, Any]) -> None:
    routes = {
        v["Properties"]["RouteKey"]: v["Properties"]
        for v in resources_of_type(t, "AWS::ApiGatewayV2::Route").values()
    }
    webhook = routes[ROUTE_KEY]
    assert webhook["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in webhook
    target = json.dumps(webhook["Target"])
    integration = t["Resources"][target.split('"Ref": "')[1].split('"')[0]]["Properties"]
    assert function_id(t) in json.dumps(integration["IntegrationUri"])
    public = {f"GET {p}" for p in ("/api/health", "/api/openapi.json")} | {ROUTE_KEY}
    for key, props in routes.items():
        if key not in public:
            assert props["AuthorizationType"] == "JWT", key


def test_the_role_reads_the_one_secret_and_only_the_tables_it_needs(t: dict[str, Any]) -> None:
    role = role_of(t, function_id(t))
    tables = {
        spec.logical_name: logical_id(t, "AWS::DynamoDB::Table", TableName=spec.physical_name(PREFIX))
        for spec in r.TABLES
    }
    found: dict[str, set[str]] = {}
    secrets: list[Any] = []
    for action, resource, _ in grants(t, role):
        text = json.dumps(resource)
        if action.startswith("secretsmanager:"):
            secrets.append((action, resource))
            continue
        if not action.startswith("dynamodb:"):
            continue
        (name,) = [n for n, i in tables.items() if f'"{i}"' in text]
        found.setdefault(name, set()).add(action)
    read = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"}
    write = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    assert found == {"control": read | write, "audit": {"dynamodb:PutItem"}, "trading": read, "market": read}
    ((action, resource),) = secrets
    assert action == "secretsmanager:GetSecretValue"
    assert f":secret:{r.telegram_secret_name(PREFIX)}-??????" in json.dumps(resource)
    others = {a.split(":")[0] for a, _, _ in grants(t, role)} - {"dynamodb", "secretsmanager", "logs"}
    assert others == {"xray"}
    assert actions_on_any_resource(t, role) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_the_outputs_name_the_cloudfront_webhook_url_and_the_secret(t: dict[str, Any]) -> None:
    url = json.dumps(t["Outputs"]["TelegramWebhookUrl"]["Value"])
    assert "https://" in url and r.TELEGRAM_WEBHOOK_PATH in url and "DomainName" in url
    assert t["Outputs"]["TelegramSecretName"]["Value"] == r.telegram_secret_name(PREFIX)


def test_cdk_nag_finds_nothing_unacknowledged_in_the_bot(bot: Synth) -> None:
    mine = [
        (v.rule_name, [x.construct_path for x in v.violating_resources])
        for v in bot.nag.violations
        if any(
            "/Telegram" in x.construct_path or "telegram" in x.construct_path for x in v.violating_resources
        )
    ]
    assert mine == []


def test_every_notifying_function_and_no_other_sends_to_the_chats_too(t: dict[str, Any]) -> None:
    """With the bot, each function that publishes alerts names the secret and may read it, so its
    notifications reach the allow-listed chats (bootstrap/telegram_secret.TelegramChannel)."""
    from smart0dte_infra.access import ACCESS

    for spec in r.FUNCTIONS:
        fid = logical_id(t, "AWS::Lambda::Function", FunctionName=spec.physical_name(PREFIX))
        env = t["Resources"][fid]["Properties"]["Environment"]["Variables"]
        reads = [a for a, res, _ in grants(t, role_of(t, fid)) if a == "secretsmanager:GetSecretValue"]
        if r.ALERT_TOPIC in ACCESS[spec.name].publishes_to:
            assert env[r.ENV_TELEGRAM_SECRET] == r.telegram_secret_name(PREFIX), spec.name
            assert env[r.ENV_TELEGRAM_CHAT_IDS] == "111,-1002", spec.name
            assert reads == ["secretsmanager:GetSecretValue"], spec.name
        else:
            assert r.ENV_TELEGRAM_SECRET not in env and not reads, spec.name
