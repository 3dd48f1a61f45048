"""Telegram webhook Lambda: API Gateway HTTP API (payload v2, POST /api/telegram/webhook, no JWT:
the X-Telegram-Bot-Api-Secret-Token header authenticates) -> the Telegram bot service.

Answers 401/403 to a missing/wrong secret token (nothing run), 503 to a /stop whose active mode
did not stop (Telegram delivers it again), 200 otherwise (a malformed update too: Telegram would
re-send it forever). The bot comes from the composition root (`bootstrap.telegram`) on the first
request; tests call `configure` to inject their own.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from smart0dte.bootstrap.tracing import lambda_tracer
from smart0dte.services.telegram_bot import TelegramBot

logger = Logger(service="telegram")
tracer = lambda_tracer("telegram")

_bot: TelegramBot | None = None


def configure(bot: TelegramBot) -> None:
    """Use `bot` from the next invocation on (tests)."""
    global _bot
    _bot = bot


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bot = _bot
    if bot is None:
        from smart0dte.bootstrap.telegram import webhook_bot

        bot = webhook_bot()
        configure(bot)
    answered = bot.answer(event)
    logger.info("telegram webhook", extra={"status": answered.status, "outcome": answered.outcome})
    return {
        "statusCode": answered.status,
        "headers": {"Content-Type": "text/plain"},
        "body": answered.outcome if answered.status != 200 else "",
    }
