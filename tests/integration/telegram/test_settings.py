"""The bot's settings from its Secrets Manager secret (moto) and the chat ids variable."""

from __future__ import annotations

import json

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.bootstrap.aws import AwsConfig
from smart0dte.bootstrap.runtime import Runtime
from smart0dte.bootstrap.telegram_secret import TelegramSettings, read_settings, telegram_settings
from smart0dte.cli import main
from smart0dte.domain.controls import NotificationKind
from smart0dte.resources import (
    ALERT_TOPIC,
    ENV_TELEGRAM_CHAT_IDS,
    ENV_TELEGRAM_SECRET,
    telegram_secret_name,
    topic_arn_env,
)

from ...fake_telegram import fake_telegram
from ..moto_env import REGION
from .conftest import PREFIX

DOC = {"bot_token": "123:abc", "webhook_secret": "s3cret-TOKEN_1", "chat_ids": [111, "-1002"]}


def test_the_secret_and_the_variable_make_the_allow_list(aws: Provisioned) -> None:
    name = telegram_secret_name(PREFIX)
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name=name, SecretString=json.dumps(DOC))
    config = AwsConfig(prefix=PREFIX, region=REGION)
    expected = TelegramSettings("123:abc", "s3cret-TOKEN_1", frozenset({111, -1002, 333}))
    assert read_settings(config, {ENV_TELEGRAM_CHAT_IDS: " 333, "}) == expected
    assert read_settings(config, {ENV_TELEGRAM_SECRET: name}).chat_ids == {111, -1002}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("not json", "must be a JSON object"),
        ({"webhook_secret": "x"}, "bot_token must be a non-empty string"),
        ({"bot_token": "1:a", "webhook_secret": ""}, "webhook_secret must be a non-empty string"),
        ({"bot_token": "1:a", "webhook_secret": "a b"}, "webhook_secret may hold only"),
        ({**DOC, "chat_ids": "111"}, "chat_ids must be a list of integers"),
        ({**DOC, "chat_ids": [True]}, "chat id True must be an integer"),
    ],
)
def test_a_wrong_secret_names_the_key_and_never_the_token(doc: object, message: str) -> None:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(ValueError, match=message) as raised:
        telegram_settings(text)
    assert "1:a" not in str(raised.value)


def test_a_wrong_chat_id_in_the_variable_names_the_variable() -> None:
    with pytest.raises(ValueError, match=f"{ENV_TELEGRAM_CHAT_IDS}: chat id '12x' must be an integer"):
        telegram_settings(json.dumps(DOC), "111,12x")


def test_the_cli_registers_the_webhook_with_the_secrets_token(
    aws: Provisioned, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = "smart0dte-cli"
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=telegram_secret_name(prefix), SecretString=json.dumps(DOC)
    )
    url = "https://d111.cloudfront.net/api/telegram/webhook"
    with fake_telegram() as telegram:
        args = ["telegram-webhook", "--url", url, "--prefix", prefix, "--api-url", telegram.base_url]
        assert main(args) == 0
        (call,) = telegram.calls
    assert (call.token, call.method) == ("123:abc", "setWebhook")
    assert call.params["url"] == url and call.params["secret_token"] == "s3cret-TOKEN_1"
    out = capsys.readouterr()
    assert "webhook set" in out.out and "123:abc" not in out.out + out.err
    assert main(["telegram-webhook", "--url", url, "--prefix", "smart0dte-none"]) == 2
    assert "the Telegram secret smart0dte-none/telegram could not be read" in capsys.readouterr().err


def test_a_notification_reaches_email_when_the_telegram_secret_cannot_be_read(aws: Provisioned) -> None:
    """The runtime's channels: the alert topic and, where the environment names the secret, the
    chats; an unreadable secret fails the Telegram channel alone."""
    environ = {
        topic_arn_env(ALERT_TOPIC): aws.topic_arns[ALERT_TOPIC.logical_name],
        ENV_TELEGRAM_SECRET: f"{PREFIX}/no-such-secret",
    }
    runtime = Runtime(AwsConfig(prefix=PREFIX, region=REGION), environ)
    delivery = runtime.notifications.send(NotificationKind.EXIT, "Exit", "sold 1 SPY")
    assert delivery.sent == ("SnsNotifier",) and delivery.failed == ("TelegramChannel",)
    without = Runtime(
        AwsConfig(prefix=PREFIX, region=REGION),
        {topic_arn_env(ALERT_TOPIC): environ[topic_arn_env(ALERT_TOPIC)]},
    )
    assert [type(c).__name__ for c in without.channels] == ["SnsNotifier"]
