"""The Bot API client and the Telegram notifier against a fake Telegram on a local port."""

from __future__ import annotations

import html
import socket
from collections.abc import Iterator

import pytest

from smart0dte.adapters.telegram import (
    TELEGRAM_MAX_CHARS,
    TelegramApiError,
    TelegramClient,
    TelegramNotifier,
    split_text,
    utf16_len,
)
from smart0dte.ports import Notifier

from ...fake_telegram import FakeTelegram, fake_telegram

TOKEN = "123456:AAE-secret-token_value"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with fake_telegram() as running:
        yield running


@pytest.fixture
def client(fake: FakeTelegram) -> TelegramClient:
    return TelegramClient(TOKEN, base_url=fake.base_url)


def test_split_text_keeps_every_character_and_cuts_after_a_newline() -> None:
    lines = [f"line {n}: " + "x" * 90 for n in range(120)]  # ~12,000 characters
    text = "\n".join(lines)
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert len(pieces) == 3
    assert all(utf16_len(p) <= TELEGRAM_MAX_CHARS for p in pieces)
    assert all(p.endswith("\n") for p in pieces[:-1])  # cut after a line, never inside one


def test_split_text_counts_utf16_units_and_never_splits_a_surrogate_pair() -> None:
    text = "😀" * 3000  # 2 UTF-16 units each: 6000 units, no newline to cut at
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert [utf16_len(p) for p in pieces] == [4096, 1904]
    assert split_text("x" * TELEGRAM_MAX_CHARS) == ["x" * TELEGRAM_MAX_CHARS]


def test_send_message_escapes_html_and_splits_at_the_limit(
    fake: FakeTelegram, client: TelegramClient
) -> None:
    ids = client.send_message(42, "P&L <b>not bold</b> > −$1,234.56", disable_notification=True)
    call = fake.calls[-1]
    assert (call.token, call.method) == (TOKEN, "sendMessage")
    assert call.params["text"] == "P&amp;L &lt;b&gt;not bold&lt;/b&gt; &gt; −$1,234.56"
    assert call.params["parse_mode"] == "HTML"
    assert call.params["disable_notification"] is True
    assert ids == [1]

    long = "\n".join("<&>" * 100 for _ in range(50))  # 15,049 characters, more than 3 times once escaped
    ids = client.send_message(42, long)
    texts = fake.sent_html(42)[1:]
    assert len(ids) == len(texts) == 4
    assert "".join(html.unescape(t) for t in texts) == long


def test_notifier_sends_the_subject_in_bold_to_every_chat_and_names_the_chat_that_failed(
    fake: FakeTelegram, client: TelegramClient
) -> None:
    notifier: Notifier = TelegramNotifier(client, [1, 2, 3])
    fake.refused_chats.add(2)
    with pytest.raises(TelegramApiError) as raised:
        notifier.notify("Emergency stop <paper>", "by telegram:1: a & b")
    assert "chat 2: 403 Forbidden: bot was blocked by the user" in str(raised.value)
    assert "chat 1" not in str(raised.value) and "chat 3" not in str(raised.value)
    expected = "<b>Emergency stop &lt;paper&gt;</b>\nby telegram:1: a &amp; b"
    assert fake.sent_html(1) == [expected] and fake.sent_html(3) == [expected]


def test_a_quiet_notification_reaches_every_chat_without_a_sound(
    fake: FakeTelegram, client: TelegramClient
) -> None:
    TelegramNotifier(client, [1, 2]).notify_quietly("Fill", "bought 1 SPY")
    TelegramNotifier(client, [1]).notify("Exit", "sold 1 SPY")
    quiet = [c.params["disable_notification"] for c in fake.calls if c.method == "sendMessage"]
    assert quiet == [True, True, False]


def test_an_api_error_names_the_method_and_telegrams_description_never_the_token(
    fake: FakeTelegram, client: TelegramClient
) -> None:
    fake.errors.append((400, "Bad Request: chat not found"))
    with pytest.raises(
        TelegramApiError, match=r"sendMessage failed \(400\): Bad Request: chat not found"
    ) as e:
        client.send_message(7, "hi")
    assert e.value.error_code == 400
    assert TOKEN not in str(e.value)


def test_an_unreachable_api_is_an_api_error_without_the_token() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(TelegramApiError, match="no answer") as e:
        TelegramClient(TOKEN, base_url=f"http://127.0.0.1:{port}", timeout_s=2).send_message(7, "hi")
    assert TOKEN not in str(e.value)


def test_set_webhook_registers_the_url_and_secret_and_refuses_what_telegram_would(
    fake: FakeTelegram, client: TelegramClient
) -> None:
    client.set_webhook("https://d123.cloudfront.net/api/telegram/webhook", "s3cret_TOKEN-1")
    call = fake.calls[-1]
    assert call.method == "setWebhook"
    assert call.params == {
        "url": "https://d123.cloudfront.net/api/telegram/webhook",
        "secret_token": "s3cret_TOKEN-1",
        "allowed_updates": ["message"],
    }
    with pytest.raises(ValueError, match="https"):
        client.set_webhook("http://d123.cloudfront.net/api/telegram/webhook", "s3cret")
    with pytest.raises(ValueError, match="webhook_secret may hold only"):
        client.set_webhook("https://d123.cloudfront.net/api/telegram/webhook", "has space")
    with pytest.raises(ValueError, match="1 to 256 characters"):
        client.set_webhook("https://d123.cloudfront.net/api/telegram/webhook", "x" * 257)
    assert len(fake.calls) == 1


def test_a_token_without_the_bot_id_is_refused_before_any_call() -> None:
    with pytest.raises(ValueError, match="bot_token must look like"):
        TelegramClient("no-colon-here")
