"""`smart0dte telegram-webhook --url https://<distribution>/api/telegram/webhook`: registers the bot's
webhook with Telegram (setWebhook) with the secret token of the stage's secret, so Telegram sends
every message to the webhook Lambda with the X-Telegram-Bot-Api-Secret-Token header it checks.

The secret is `<prefix>/telegram` (README: "Control from Telegram"), read with the caller's AWS
credentials; the prefix is --prefix, else SMART0DTE_PREFIX, else `smart0dte`. The token is never
printed. Exit 2 when the secret or the URL is refused or Telegram answers with an error.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from smart0dte.adapters.telegram import TELEGRAM_API_URL, TelegramApiError, TelegramClient
from smart0dte.bootstrap import aws
from smart0dte.bootstrap.telegram_secret import read_settings
from smart0dte.resources import TELEGRAM_WEBHOOK_PATH


def _run(args: argparse.Namespace) -> int:
    config = aws.AwsConfig.from_env()
    if args.prefix:
        config = replace(config, prefix=args.prefix)
    try:
        settings = read_settings(config)
        client = TelegramClient(settings.bot_token, base_url=args.api_url)
        client.set_webhook(args.url, settings.webhook_secret)
    except (ValueError, TelegramApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    chats = len(settings.chat_ids)
    print(f"webhook set: {args.url}; {chats} allowed chat(s) in the secret and the function's variable")
    return 0


def register(commands: Any) -> None:
    tg = commands.add_parser(
        "telegram-webhook", help="register the Telegram bot's webhook URL and secret token with Telegram"
    )
    tg.add_argument("--url", required=True, help=f"https://<distribution>{TELEGRAM_WEBHOOK_PATH}")
    tg.add_argument("--prefix", default=None, help="the stage's prefix (else SMART0DTE_PREFIX or smart0dte)")
    tg.add_argument("--api-url", default=TELEGRAM_API_URL, help=argparse.SUPPRESS)
    tg.set_defaults(run=_run)
