"""The Telegram bot for the webhook Lambda: the Bot API client and the bot over the API's store,
with the settings of its secret (`bootstrap/telegram_secret.py`)."""

from __future__ import annotations

from smart0dte.adapters.clock import SystemClock
from smart0dte.adapters.telegram import TelegramClient
from smart0dte.bootstrap import aws
from smart0dte.bootstrap.telegram_secret import TelegramSettings, read_settings
from smart0dte.services.api import ApiDeps
from smart0dte.services.telegram_bot import TelegramBot


def telegram_bot(settings: TelegramSettings, deps: ApiDeps, client: TelegramClient) -> TelegramBot:
    return TelegramBot(
        deps,
        client,
        webhook_secret=settings.webhook_secret,
        allowed_chat_ids=settings.chat_ids,
        confirm_key=settings.webhook_secret.encode(),
    )


def webhook_bot() -> TelegramBot:
    """The webhook Lambda's bot in AWS: the secret, the Bot API, the store of the stage."""
    config = aws.AwsConfig.from_env()
    settings = read_settings(config)
    deps = ApiDeps(store_factory=lambda: aws.state_store(config), clock=SystemClock())
    return telegram_bot(settings, deps, TelegramClient(settings.bot_token))
