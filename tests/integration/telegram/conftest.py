"""The Telegram webhook on moto: the API tests' seeded paper store (10:31 New York on 2025-03-14),
the real Bot API client pointed at a fake Telegram, and the webhook Lambda's handler file."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.adapters.telegram import TelegramClient
from smart0dte.bootstrap.telegram import telegram_bot
from smart0dte.bootstrap.telegram_secret import TelegramSettings
from smart0dte.domain.models import TradingMode
from smart0dte.local.http_server import LambdaContext
from smart0dte.resources import REPO_ROOT
from smart0dte.services.api import ApiDeps
from smart0dte.services.telegram_bot import SECRET_HEADER

from ...fake_telegram import FakeTelegram, fake_telegram
from ..api.conftest import FixedClock, seed
from ..moto_env import REGION, empty_tables, provisioned_moto

PREFIX = "smart0dte-tgtest"
SECRET = "webhook_SECRET-0123456789"
OWNER_CHAT = 111
STRANGER_CHAT = 999
HANDLER = REPO_ROOT / "lambdas" / "telegram" / "handler.py"


@pytest.fixture(scope="package")
def aws() -> Iterator[Provisioned]:
    with provisioned_moto(PREFIX, POWERTOOLS_TRACE_DISABLED="true") as provisioned:
        yield provisioned


@pytest.fixture
def seeded(aws: Provisioned) -> DynamoState:
    empty_tables(aws, boto3.client("dynamodb", region_name=REGION))
    paper = DynamoState(PREFIX, TradingMode.PAPER, region=REGION)
    seed(paper)
    return paper


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with fake_telegram() as fake:
        yield fake


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def load_handler(path: Path = HANDLER) -> ModuleType:
    spec = importlib.util.spec_from_file_location("telegram_webhook_handler", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


Webhook = Callable[..., int]


def make_webhook(deps: ApiDeps, telegram: FakeTelegram) -> Webhook:
    """POST an update to the handler as API Gateway would; returns the HTTP status."""
    settings = TelegramSettings(bot_token="1:fake", webhook_secret=SECRET, chat_ids=frozenset({OWNER_CHAT}))
    module = load_handler()
    module.configure(
        telegram_bot(settings, deps, TelegramClient(settings.bot_token, base_url=telegram.base_url))
    )
    update_ids = iter(range(1000, 10_000))

    def post(
        text: str | None = None,
        chat: int = OWNER_CHAT,
        secret: str | None = SECRET,
        body: str | None = None,
    ) -> int:
        headers = {"content-type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        if body is None:
            update = {
                "update_id": next(update_ids),
                "message": {
                    "message_id": 5,
                    "date": 1741962660,
                    "chat": {"id": chat, "type": "private"},
                    "from": {"id": chat, "is_bot": False, "first_name": "Owner"},
                    "text": text,
                },
            }
            body = json.dumps(update)
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "POST /api/telegram/webhook",
            "rawPath": "/api/telegram/webhook",
            "headers": headers,
            "body": body,
            "isBase64Encoded": False,
            "requestContext": {
                "http": {"method": "POST", "path": "/api/telegram/webhook"},
                "requestId": "r1",
            },
        }
        return int(module.handler(event, LambdaContext())["statusCode"])

    return post


@pytest.fixture
def webhook(seeded: DynamoState, telegram: FakeTelegram, clock: FixedClock) -> Webhook:
    return make_webhook(ApiDeps(store_factory=lambda: seeded, clock=clock, sleep=lambda s: None), telegram)
