"""The Telegram bot: control and status from a phone, through Telegram's webhook.

`TelegramBot.answer` takes the webhook's HTTP request (API Gateway payload v2): the
X-Telegram-Bot-Api-Secret-Token header is compared in constant time (missing: 401, wrong: 403,
nothing read or run); then the update's message is handled and 200 returned whatever it held
(Telegram re-sends an update answered otherwise, forever), except a /stop whose active mode did not
stop (503, so Telegram delivers it again and the stop is tried again). Messages from chats not on
the allow-list are not answered and are audited in the active mode with the chat id.

Commands (`/cmd@BotName` too): /status, /positions, /trades [n], /pnl, /daily [n], /pause
[reason], /resume [mode] (answers with a code; `/resume [mode] confirm <code>` resumes),
/stop [reason], /help. /stop is the API's emergency stop (`services.api.emergency_stop
.stop_every_mode`): every mode, the active one first, audited with the chat as actor, never refused.
The reads are the dashboard's (controls, counters, positions at the mid), the trades read model and
the journal's closed trades. Money as `usd_text` (−$1,234.56), times in New York.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.controls import cut_reason
from smart0dte.domain.models import Position, TradingMode
from smart0dte.domain.portfolio import cents, usd_text
from smart0dte.ports import AuditRecord, ChatMessenger, ControlRefused, TradingControls, session_date_of
from smart0dte.ports.api import ApiStore
from smart0dte.services.api.context import ApiDeps
from smart0dte.services.api.emergency_stop import stop_every_mode
from smart0dte.services.api.shared import market_status, marks
from smart0dte.services.trades import TradeQuery, TradeView, list_trades

logger = logging.getLogger(__name__)

SECRET_HEADER: Final = "x-telegram-bot-api-secret-token"
MAX_UPDATE_BYTES: Final = 64 * 1024
"""A larger body is not read (an update with a 4096-character message is far smaller)."""
CONFIRM_WINDOW_S: Final = 120
"""A /resume code is valid in the window it was issued in and the next: 2 to 4 minutes."""
TRADES_DEFAULT, TRADES_MAX = 5, 20
TRADES_LOOKBACK_DAYS: Final = 7
DAILY_DEFAULT, DAILY_MAX = 7, 31
COMMAND_CHARS_AUDITED: Final = 64
UNKNOWN_CHAT_ACTION: Final = "TelegramChatRefused"
HELP: Final = "\n".join(
    (
        "/status – mode, state, today's P&L, market",
        "/positions – open positions at the mid",
        f"/trades [n] – the last n round trips (default {TRADES_DEFAULT}, at most {TRADES_MAX})",
        "/pnl – today, 7 and 30 days, net of commissions",
        f"/daily [n] – net P&L of the last n sessions (default {DAILY_DEFAULT}, at most {DAILY_MAX})",
        "/pause [reason] – no new entries in the active mode",
        "/resume [mode] – asks for a confirmation code, then: /resume [mode] confirm <code>",
        "/stop [reason] – EMERGENCY STOP of every mode (never refused)",
        "/help – this list",
    )
)


@dataclass(frozen=True, slots=True)
class Command:
    """One allow-listed message's command: `/name args...` from `chat_id`."""

    chat_id: int
    name: str
    args: tuple[str, ...]
    update_id: int

    @property
    def actor(self) -> str:
        return f"telegram:{self.chat_id}"

    @property
    def request_id(self) -> str:
        """The update's id: Telegram re-sends an update with the same id."""
        return f"telegram-update-{self.update_id}"


@dataclass(frozen=True, slots=True)
class Answered:
    """What the webhook did: the HTTP status for Telegram and, for the log, what happened."""

    status: int
    outcome: str


def confirmation_code(key: bytes, chat_id: int, mode: TradingMode, c: TradingControls, window: int) -> str:
    """Six digits binding a /resume to its chat, mode, the controls it was shown and a time window:
    a newer stop or pause, another chat or an old code gives another code."""
    subject = f"resume|{chat_id}|{mode.value}|{c.emergency_stop}|{c.stops}|{c.paused}|{window}"
    digest = hmac.new(key, subject.encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


def parse_command(update: Mapping[str, Any]) -> Command | None:
    """The command of a new message (`message`, not an edit) whose text starts with '/'; None for
    anything else (a malformed update included)."""
    update_id = update.get("update_id")
    message = update.get("message")
    if not isinstance(update_id, int) or not isinstance(message, dict):
        return None
    chat = message.get("chat")
    text = message.get("text")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    if not isinstance(chat_id, int) or isinstance(chat_id, bool) or not isinstance(text, str):
        return None
    words = text.strip().split()
    if not words or not words[0].startswith("/"):
        return None
    name = words[0][1:].split("@", 1)[0].lower()
    return Command(chat_id=chat_id, name=name, args=tuple(words[1:]), update_id=update_id)


def _count(args: Sequence[str], default: int, most: int) -> int:
    if not args:
        return default
    try:
        return max(1, min(most, int(args[0])))
    except ValueError:
        return default


def _ny(ts: datetime) -> str:
    return f"{ts.astimezone(NEW_YORK):%H:%M}"


def _contract(p: Position | TradeView) -> str:
    c = p.contract
    return f"{c.root} {c.strike:g}{c.right.value}"


def _state_word(c: TradingControls) -> str:
    if c.emergency_stop:
        return "HALTED (emergency stop)"
    if c.paused:
        return "PAUSED"
    return c.trading_state.value


class TelegramBot:
    """The webhook's use case over the API's collaborators (`ApiDeps`) and a chat messenger."""

    def __init__(
        self,
        deps: ApiDeps,
        messenger: ChatMessenger,
        webhook_secret: str,
        allowed_chat_ids: frozenset[int],
        confirm_key: bytes,
    ) -> None:
        if not webhook_secret:
            raise ValueError("webhook_secret must not be empty: it is the webhook's only authentication")
        self._deps = deps
        self._messenger = messenger
        self._secret = webhook_secret.encode()
        self._allowed = allowed_chat_ids
        self._key = confirm_key
        self._commands: dict[str, Callable[[Command], str]] = {
            "start": self._help,
            "help": self._help,
            "status": self._status,
            "positions": self._positions,
            "trades": self._trades,
            "pnl": self._pnl,
            "daily": self._daily,
            "pause": self._pause,
            "resume": self._resume,
        }

    def answer(self, event: Mapping[str, Any]) -> Answered:
        """The webhook request (API Gateway payload v2) handled; see the module doc."""
        headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
        given = headers.get(SECRET_HEADER)
        if not isinstance(given, str) or not given:
            return Answered(401, "refused: no secret token header")
        if not hmac.compare_digest(given.encode(), self._secret):
            return Answered(403, "refused: wrong secret token")
        body = event.get("body")
        if event.get("isBase64Encoded") or not isinstance(body, str) or len(body) > MAX_UPDATE_BYTES:
            logger.warning("telegram update ignored: no body, encoded or over %d bytes", MAX_UPDATE_BYTES)
            return Answered(200, "ignored: unreadable body")
        try:
            update = json.loads(body)
        except (ValueError, RecursionError):
            logger.warning("telegram update ignored: not JSON")
            return Answered(200, "ignored: not JSON")
        command = parse_command(update) if isinstance(update, dict) else None
        if command is None:
            logger.info("telegram update ignored: not a command message")
            return Answered(200, "ignored: not a command message")
        if command.chat_id not in self._allowed:
            self._refuse(command)
            return Answered(200, f"ignored: chat {command.chat_id} is not allowed")
        if command.name == "stop":
            return self._stop(command)
        handler = self._commands.get(command.name)
        try:
            text = handler(command) if handler else f"Unknown command /{command.name}.\n\n{HELP}"
        except Exception as exc:  # a reply, never a retry: Telegram would re-send the update forever
            logger.exception("telegram /%s failed", command.name)
            text = f"/{command.name} failed: {type(exc).__name__}. Nothing else was changed."
        self._send(command.chat_id, text)
        return Answered(200, f"/{command.name} answered")

    def _send(self, chat_id: int, text: str) -> None:
        try:
            self._messenger.send_message(chat_id, text)
        except Exception:  # the command ran; the reply is lost, not the update
            logger.exception("telegram reply to chat %d not sent", chat_id)

    def _refuse(self, command: Command) -> None:
        """Audit a message from a chat off the allow-list (in the active mode); never answered."""
        logger.warning("telegram: chat %d is not allowed (/%s)", command.chat_id, command.name)
        try:
            store = self._deps.store
            store.audit.append(
                AuditRecord(
                    self._deps.clock.now(),
                    store.mode,
                    command.actor,
                    UNKNOWN_CHAT_ACTION,
                    f"Telegram chat {command.chat_id} is not on the allow-list; "
                    f"/{command.name[:COMMAND_CHARS_AUDITED]} ignored",
                    {
                        "chat_id": command.chat_id,
                        "command": command.name[:COMMAND_CHARS_AUDITED],
                        "request_id": command.request_id,
                    },
                )
            )
        except Exception:  # Telegram may re-send; the log keeps the chat id either way
            logger.exception("telegram: the refusal of chat %d was not audited", command.chat_id)

    # --- control ---------------------------------------------------------------------------------

    def _stop(self, command: Command) -> Answered:
        reason = cut_reason(" ".join(command.args), f"Telegram /stop by chat {command.chat_id}")
        at = self._deps.clock.now()
        ok, result = stop_every_mode(self._deps, command.actor, reason, at, command.request_id)
        lines = [
            f"EMERGENCY STOP {'done' if ok else 'NOT CONFIRMED'}: {result.mode.value} first.",
            f"Stopped: {', '.join(m.value for m in result.stopped) or 'none'}.",
        ]
        lines += [f"NOT stopped: {o.mode.value} ({o.error})" for o in result.not_stopped]
        if result.controls is not None:
            lines.append(f"Stop number {result.controls.emergency_stop_number} in {result.mode.value}.")
        lines.append(f"Reason: {reason}")
        if not ok:
            lines.append("Telegram will send /stop again; press the dashboard's red button too.")
        self._send(command.chat_id, "\n".join(lines))
        return Answered(200 if ok else 503, f"/stop: {', '.join(m.value for m in result.stopped)} stopped")

    def _pause(self, command: Command) -> str:
        store = self._deps.store
        reason = cut_reason(" ".join(command.args), f"Telegram /pause by chat {command.chat_id}")
        c = store.pause(command.actor, reason, self._deps.clock.now(), command.request_id)
        return f"{store.mode.value} paused: no new entries; exits keep working.\nState: {_state_word(c)}"

    def _resume(self, command: Command) -> str:
        args = list(command.args)
        mode_arg = args.pop(0) if args and args[0].lower() in {m.value for m in TradingMode} else None
        deps = self._deps
        store = deps.store if mode_arg is None else deps.base_store.for_mode(TradingMode(mode_arg.lower()))
        mode = store.mode
        c = store.get_controls()
        now = self._deps.clock.now()
        window = int(now.timestamp()) // CONFIRM_WINDOW_S
        if not c.emergency_stop and not c.paused:
            return f"{mode.value} is neither stopped nor paused: nothing to resume."
        if len(args) == 2 and args[0].lower() == "confirm":
            valid = {confirmation_code(self._key, command.chat_id, mode, c, w) for w in (window, window - 1)}
            if not any(hmac.compare_digest(args[1].encode(), code.encode()) for code in valid):
                return "That code is wrong or expired (or the controls changed): send /resume again."
            reason = f"Telegram /resume confirmed by chat {command.chat_id}"
            try:
                actor, request_id = command.actor, command.request_id
                if c.emergency_stop:
                    after = store.clear_emergency_stop(actor, reason, now, c.stops, request_id)
                else:
                    after = store.resume(actor, reason, now, request_id)
            except ControlRefused as exc:
                return f"Not resumed: {exc}. Review it, then send /resume again."
            return f"{mode.value} resumed. State: {_state_word(after)} (the next minute checks the limits)."
        code = confirmation_code(self._key, command.chat_id, mode, c, window)
        what = (
            f"emergency stop number {c.stops}"
            + (
                ""
                if c.emergency_stop_change is None
                else f" (by {c.emergency_stop_change.actor} at {_ny(c.emergency_stop_change.at)} New York: "
                f"{c.emergency_stop_change.reason})"
            )
            if c.emergency_stop
            else "the pause"
        )
        prefix = f"/resume {mode.value}" if mode_arg else "/resume"
        return (
            f"Resuming {mode.value} clears {what}. To confirm within 2 minutes send:\n{prefix} confirm {code}"
        )

    # --- reads -----------------------------------------------------------------------------------

    def _help(self, command: Command) -> str:
        return HELP

    def _status(self, command: Command) -> str:
        store = self._deps.store
        now = self._deps.clock.now()
        day = session_date_of(now)
        state = store.get_control_state(day)
        c, counters = state.controls, state.counters
        positions = store.list_open_positions()
        unrealized = _unrealized(store, positions, now)
        market = market_status(self._deps.calendar, now)
        lines = [
            f"Mode: {store.mode.value}",
            f"State: {_state_word(c)}",
            f"Today ({day}): {counters.trades} entries, realized {usd_text(counters.realized_pnl_usd)} net "
            f"(commissions {usd_text(counters.commissions_usd)})",
            f"Open: {len(positions)} positions, unrealized {usd_text(unrealized)} at the mid",
            f"Market: {market.phase.value.lower()}, "
            f"{market.next_event} at {_ny(market.next_event_at)} New York",
        ]
        if c.emergency_stop and c.emergency_stop_change is not None:
            ch = c.emergency_stop_change
            lines.append(f"Stop {c.stops} by {ch.actor} at {_ny(ch.at)}: {ch.reason}")
        elif c.paused and c.pause_change is not None:
            ch = c.pause_change
            lines.append(f"Paused by {ch.actor} at {_ny(ch.at)}: {ch.reason}")
        if not state.settings.master_switch:
            lines.append("Master switch: off")
        return "\n".join(lines)

    def _positions(self, command: Command) -> str:
        store = self._deps.store
        now = self._deps.clock.now()
        positions = store.list_open_positions()
        if not positions:
            return f"{store.mode.value}: no open positions."
        mids = marks(store, positions, now)
        lines = [f"{store.mode.value}: {len(positions)} open"]
        for p in sorted(positions, key=lambda p: p.opened_at):
            mid = mids.get(p.contract.occ_symbol)
            mark = (
                "no mark"
                if mid is None
                else (f"mid ${mid:,.2f}, {usd_text(p.pnl_usd(cents(Decimal(str(mid)))))}")
            )
            protect = ""
            if p.stop_loss_price is not None or p.take_profit_price is not None:
                protect = (
                    f"; stop {'-' if p.stop_loss_price is None else usd_text(p.stop_loss_price)}"
                    f", target {'-' if p.take_profit_price is None else usd_text(p.take_profit_price)}"
                )
            lines.append(
                f"{_contract(p)} ×{p.quantity} {p.strategy}: in {usd_text(p.entry_price)} at "
                f"{_ny(p.opened_at)}, {mark}{protect}"
            )
        return "\n".join(lines)

    def _trades(self, command: Command) -> str:
        n = _count(command.args, TRADES_DEFAULT, TRADES_MAX)
        store = self._deps.store
        now = self._deps.clock.now()
        today = session_date_of(now)
        positions = store.list_open_positions()
        query = TradeQuery(today - timedelta(days=TRADES_LOOKBACK_DAYS - 1), today)
        views = list_trades(store, query, marks(store, positions, now))
        if not views:
            return f"{store.mode.value}: no round trips in the last {TRADES_LOOKBACK_DAYS} days."
        lines = [f"{store.mode.value}: the last {min(n, len(views))} round trips, newest first"]
        for v in reversed(views[-n:]):
            when = f"{v.entry_ts.astimezone(NEW_YORK):%m-%d %H:%M}"
            if v.exit_ts is None:
                at_mid = v.unrealized_pnl_usd
                pnl = "open" + ("" if at_mid is None else f", {usd_text(at_mid)} at the mid")
                lines.append(f"{when} {_contract(v)} ×{v.quantity} {v.strategy}: {pnl}")
            else:
                lines.append(
                    f"{when}–{_ny(v.exit_ts)} {_contract(v)} ×{v.quantity} {v.strategy}: "
                    f"{usd_text(v.net_pnl_usd or Decimal(0))} net ({v.exit_reason})"
                )
        return "\n".join(lines)

    def _pnl(self, command: Command) -> str:
        store = self._deps.store
        now = self._deps.clock.now()
        today = session_date_of(now)
        counters = store.get_control_state(today).counters
        unrealized = _unrealized(store, store.list_open_positions(), now)
        closed = store.list_closed_trades(today - timedelta(days=29))
        lines = [
            f"{store.mode.value}, net of commissions:",
            f"Today: {usd_text(counters.realized_pnl_usd)} realized, {usd_text(unrealized)} open at the mid",
        ]
        for days in (7, 30):
            start = today - timedelta(days=days - 1)
            window = [t for t in closed if session_date_of(t.exit_ts) >= start]
            net = sum((t.pnl_usd for t in window), Decimal("0.00"))
            wins = sum(1 for t in window if t.is_win)
            lines.append(f"{days} days: {usd_text(net)} from {len(window)} trades, {wins} won")
        return "\n".join(lines)

    def _daily(self, command: Command) -> str:
        n = _count(command.args, DAILY_DEFAULT, DAILY_MAX)
        store = self._deps.store
        today = session_date_of(self._deps.clock.now())
        calendar = self._deps.calendar
        sessions: list[date] = [today] if calendar.is_session(today) else []
        while len(sessions) < n:
            sessions.append(calendar.previous_session(sessions[-1] if sessions else today))
        by_day: dict[date, list[Decimal]] = {d: [] for d in sessions}
        for t in store.list_closed_trades(sessions[-1]):
            day = session_date_of(t.exit_ts)
            if day in by_day:
                by_day[day].append(t.pnl_usd)
        lines = [f"{store.mode.value}, net P&L per session:"]
        for d in sessions:
            pnls = by_day[d]
            lines.append(f"{d:%a %Y-%m-%d}: {usd_text(sum(pnls, Decimal('0.00')))} ({len(pnls)} trades)")
        total = sum((sum(p, Decimal("0.00")) for p in by_day.values()), Decimal("0.00"))
        lines.append(f"Total: {usd_text(total)}")
        return "\n".join(lines)


def _unrealized(store: ApiStore, positions: Sequence[Position], now: datetime) -> Decimal:
    """Open positions at the mid before fees, as the dashboard marks them (unmarked ones count 0)."""
    mids = marks(store, positions, now)
    return sum(
        (
            p.pnl_usd(cents(Decimal(str(mids[p.contract.occ_symbol]))))
            for p in positions
            if p.contract.occ_symbol in mids
        ),
        Decimal("0.00"),
    )
