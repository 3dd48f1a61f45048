"""Messages to one chat: what the Telegram bot answers with."""

from __future__ import annotations

from typing import Protocol


class ChatMessenger(Protocol):
    """Sends plain text to a chat (Telegram's Bot API in AWS), split as the service needs."""

    def send_message(self, chat_id: int, text: str, disable_notification: bool = False) -> object: ...
