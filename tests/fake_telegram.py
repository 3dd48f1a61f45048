"""A fake Telegram Bot API on a local port: records each call (token, method, JSON body) and answers
as Telegram does (`{"ok": true, "result": ...}`), or with the errors a test queues."""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Call:
    token: str
    method: str
    params: dict[str, Any]


@dataclass
class FakeTelegram:
    base_url: str = ""
    calls: list[Call] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    """(HTTP status, description) answered to the next calls, in order."""
    refused_chats: set[int] = field(default_factory=set)
    """sendMessage to these chats answers 403 'bot was blocked by the user'."""

    def sent_html(self, chat_id: int | None = None) -> list[str]:
        """The texts sent with sendMessage (to `chat_id`), in order, as sent (HTML)."""
        return [
            c.params["text"]
            for c in self.calls
            if c.method == "sendMessage" and (chat_id is None or c.params["chat_id"] == chat_id)
        ]

    def sent(self, chat_id: int | None = None) -> list[str]:
        """The texts sent (to `chat_id`) as the chat shows them: tags dropped, entities decoded."""
        return [html.unescape(re.sub(r"</?b>", "", text)) for text in self.sent_html(chat_id)]

    def answer(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls.append(Call(token, method, params))
        if self.errors:
            status, description = self.errors.pop(0)
            return status, {"ok": False, "error_code": status, "description": description}
        if method == "sendMessage" and params.get("chat_id") in self.refused_chats:
            return 403, {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
        if method == "sendMessage":
            return 200, {
                "ok": True,
                "result": {"message_id": len(self.calls), "chat": {"id": params["chat_id"]}},
            }
        return 200, {"ok": True, "result": True}


@contextmanager
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            _, bot, method = self.path.split("/", 2)
            length = int(self.headers.get("Content-Length") or 0)
            params = json.loads(self.rfile.read(length) or b"{}")
            status, body = fake.answer(bot.removeprefix("bot"), method, params)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
