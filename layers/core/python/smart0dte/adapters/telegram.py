"""Telegram's Bot API over urllib: `TelegramClient` (sendMessage, setWebhook) and `TelegramNotifier`,
the `Notifier` that sends alerts to the allow-listed chats.

Text is sent in HTML parse mode, escaped here, so a reply or an alert is shown as written (a `<`
in a reason is never markup). Telegram takes at most TELEGRAM_MAX_CHARS characters per message
(counted in UTF-16 code units); a longer text is split into several messages at line ends where
it can be, else inside a line. The bot token is part of every request's URL and never of an error.
"""

from __future__ import annotations

import html
import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Final

TELEGRAM_API_URL: Final = "https://api.telegram.org"
TELEGRAM_MAX_CHARS: Final = 4096
"""Telegram's limit on one message's text, in UTF-16 code units after entities are parsed."""
REQUEST_TIMEOUT_S: Final = 10.0
TITLE_MAX_CHARS: Final = 256
"""A longer title (an alert's subject) is cut: it must fit the first message with room to spare."""
SECRET_TOKEN_MAX_CHARS: Final = 256
"""Telegram's limit on a webhook's secret token (characters A-Z, a-z, 0-9, _ and -)."""
SECRET_TOKEN_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class TelegramApiError(RuntimeError):
    """The Bot API refused a call or could not be reached (the method and Telegram's description)."""

    def __init__(self, method: str, description: str, error_code: int | None = None) -> None:
        super().__init__(f"Telegram {method} failed ({error_code or 'no answer'}): {description}")
        self.method = method
        self.description = description
        self.error_code = error_code


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TELEGRAM_MAX_CHARS) -> list[str]:
    """`text` in pieces of at most `limit` UTF-16 code units, cut after a newline where one falls in
    the piece, else at the limit (never inside a character); the pieces joined are `text`."""
    if limit < 2:
        raise ValueError(f"limit={limit} must be at least 2 (a surrogate pair)")
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        end, units = 0, 0
        while end < len(rest) and units + utf16_len(rest[end]) <= limit:
            units += utf16_len(rest[end])
            end += 1
        newline = rest.rfind("\n", 0, end)
        cut = newline + 1 if newline > 0 else end
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def check_secret_token(token: str) -> str:
    """`token` if Telegram accepts it as a webhook secret; ValueError naming the rule otherwise."""
    if not 1 <= len(token) <= SECRET_TOKEN_MAX_CHARS:
        raise ValueError(
            f"webhook_secret must have 1 to {SECRET_TOKEN_MAX_CHARS} characters, got {len(token)}"
        )
    if not set(token) <= SECRET_TOKEN_CHARS:
        raise ValueError("webhook_secret may hold only A-Z, a-z, 0-9, _ and - (Telegram's rule)")
    return token


class TelegramClient:
    """One bot's Bot API calls. `base_url` is Telegram's unless a test points it at a fake."""

    def __init__(
        self, token: str, base_url: str = TELEGRAM_API_URL, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> None:
        if ":" not in token or any(c.isspace() for c in token):
            raise ValueError("bot_token must look like BotFather's <bot id>:<secret>, without spaces")
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s

    def call(self, method: str, params: Mapping[str, Any]) -> Any:
        """POST `params` as JSON to `method`; Telegram's `result`, or TelegramApiError."""
        request = urllib.request.Request(
            f"{self._base_url}/bot{self._token}/{method}",
            data=json.dumps(params).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:  # Telegram answers errors with a JSON body too
            body = exc.read()
            answer = _json(body)
            raise TelegramApiError(method, str(answer.get("description") or exc.reason), exc.code) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TelegramApiError(method, type(exc).__name__) from None
        answer = _json(body)
        if not answer.get("ok"):
            raise TelegramApiError(
                method, str(answer.get("description") or "no description"), answer.get("error_code")
            )
        return answer.get("result")

    def send_message(self, chat_id: int, text: str, disable_notification: bool = False) -> list[int]:
        """Send plain `text` (escaped for HTML) to `chat_id`, split into as many messages as
        Telegram's limit needs; the ids of the messages sent."""
        return self.send_html(chat_id, "", text, disable_notification)

    def send_html(self, chat_id: int, title: str, text: str, disable_notification: bool = False) -> list[int]:
        """Like `send_message`, with `title` (plain, may be empty) in bold on the first message."""
        ids: list[int] = []
        title = title[:TITLE_MAX_CHARS]
        heading = f"{title}\n" if title else ""
        for n, piece in enumerate(split_text(heading + text)):
            body = html.escape(piece, quote=False)
            if n == 0 and title:
                rest = html.escape(piece[len(heading) :], quote=False)
                body = f"<b>{html.escape(title, quote=False)}</b>\n{rest}"
            result = self.call(
                "sendMessage",
                {
                    "chat_id": chat_id,
                    "text": body,
                    "parse_mode": "HTML",
                    "disable_notification": disable_notification,
                    "link_preview_options": {"is_disabled": True},
                },
            )
            ids.append(int(result["message_id"]) if isinstance(result, dict) else 0)
        return ids

    def set_webhook(self, url: str, secret_token: str) -> None:
        """Have Telegram POST the bot's message updates to `url` with `secret_token` in the
        X-Telegram-Bot-Api-Secret-Token header."""
        if not url.startswith("https://"):
            raise ValueError(f"url={url!r} must be https:// (Telegram calls only HTTPS webhooks)")
        self.call(
            "setWebhook",
            {"url": url, "secret_token": check_secret_token(secret_token), "allowed_updates": ["message"]},
        )


def _json(body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


class TelegramNotifier:
    """The alert channel on Telegram: each message goes to every allow-listed chat."""

    def __init__(self, client: TelegramClient, chat_ids: Sequence[int]) -> None:
        if not chat_ids:
            raise ValueError("chat_ids must name at least one chat")
        self._client = client
        self._chat_ids = tuple(chat_ids)

    def notify(self, subject: str, message: str) -> None:
        """Send to every chat, the subject in bold; a chat that fails does not keep the others from
        theirs, and the error then names every chat that failed."""
        self._send(subject, message, quietly=False)

    def notify_quietly(self, subject: str, message: str) -> None:
        """As `notify`, delivered without a sound (Telegram's disable_notification)."""
        self._send(subject, message, quietly=True)

    def _send(self, subject: str, message: str, *, quietly: bool) -> None:
        failed: list[str] = []
        for chat_id in self._chat_ids:
            try:
                self._client.send_html(chat_id, subject, message, disable_notification=quietly)
            except TelegramApiError as exc:
                failed.append(f"chat {chat_id}: {exc.error_code or 'no answer'} {exc.description}")
        if failed:
            raise TelegramApiError("sendMessage", "; ".join(failed))
