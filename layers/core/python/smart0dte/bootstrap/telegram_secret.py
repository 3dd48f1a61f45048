"""The Telegram secret (Secrets Manager, one JSON document) and the alert channel built from it,
apart from the bot so that a trading Lambda's channel imports no API code.

The secret (`resources.telegram_secret_name`, named by ENV_TELEGRAM_SECRET) holds `bot_token`
(BotFather's), `webhook_secret` (what Telegram sends in X-Telegram-Bot-Api-Secret-Token) and
`chat_ids` (the allow-list, a list of integers; optional). ENV_TELEGRAM_CHAT_IDS adds chat ids,
comma-separated. It is read once per container: a changed secret reaches new containers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from smart0dte.adapters.telegram import TelegramClient, TelegramNotifier, check_secret_token
from smart0dte.bootstrap import aws
from smart0dte.resources import ENV_TELEGRAM_CHAT_IDS, ENV_TELEGRAM_SECRET, telegram_secret_name


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    bot_token: str
    webhook_secret: str
    chat_ids: frozenset[int]


def _chat_id(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{where}: chat id {value!r} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{where}: chat id {value!r} must be an integer") from None


def telegram_settings(secret_text: str, extra_chat_ids: str = "") -> TelegramSettings:
    """The settings from the secret's JSON and ENV_TELEGRAM_CHAT_IDS's value; ValueError naming the
    key that is missing or wrong (never its value)."""
    try:
        doc = json.loads(secret_text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise ValueError("the Telegram secret must be a JSON object (bot_token, webhook_secret, chat_ids)")
    for key in ("bot_token", "webhook_secret"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise ValueError(f"the Telegram secret's {key} must be a non-empty string")
    listed = doc.get("chat_ids", [])
    if not isinstance(listed, list):
        raise ValueError("the Telegram secret's chat_ids must be a list of integers")
    chats = {_chat_id(c, "the Telegram secret's chat_ids") for c in listed}
    chats |= {_chat_id(c.strip(), ENV_TELEGRAM_CHAT_IDS) for c in extra_chat_ids.split(",") if c.strip()}
    return TelegramSettings(
        bot_token=doc["bot_token"],
        webhook_secret=check_secret_token(doc["webhook_secret"]),
        chat_ids=frozenset(chats),
    )


def read_settings(config: aws.AwsConfig, environ: Mapping[str, str] | None = None) -> TelegramSettings:
    """The settings of the stage's secret (ENV_TELEGRAM_SECRET, else `<prefix>/telegram`); ValueError
    naming the secret when it cannot be read."""
    env = os.environ if environ is None else environ
    name = env.get(ENV_TELEGRAM_SECRET) or telegram_secret_name(config.prefix)
    try:
        secret = aws.aws_client(config, "secretsmanager").get_secret_value(SecretId=name)
    except Exception as exc:  # botocore's errors: missing secret, no permission, no credentials
        why = f"{type(exc).__name__}: {exc}"
        raise ValueError(f"the Telegram secret {name} could not be read: {why}") from None
    return telegram_settings(secret["SecretString"], env.get(ENV_TELEGRAM_CHAT_IDS, ""))


class TelegramChannel:
    """The alert channel on Telegram for a function or task whose environment names the secret
    (ENV_TELEGRAM_SECRET): the secret is read at the first message, so a secret that cannot be read
    fails this channel only (the notification service logs and counts it; e-mail still goes), and
    is tried again at the next message."""

    def __init__(self, config: aws.AwsConfig, environ: Mapping[str, str]) -> None:
        self._config = config
        self._environ = environ

    @cached_property
    def _notifier(self) -> TelegramNotifier:
        settings = read_settings(self._config, self._environ)
        return TelegramNotifier(TelegramClient(settings.bot_token), sorted(settings.chat_ids))

    def notify(self, subject: str, message: str) -> None:
        self._notifier.notify(subject, message)

    def notify_quietly(self, subject: str, message: str) -> None:
        self._notifier.notify_quietly(subject, message)
