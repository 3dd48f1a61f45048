"""The Telegram webhook from the handler file down to the real control store on moto and a fake
Telegram: the secret header, the allow-list, /stop (the API's emergency stop), /resume's
confirmation, /pause and the reads from seeded data."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.domain.models import TradingMode
from smart0dte.domain.portfolio import usd_text
from smart0dte.services.api import ApiDeps
from smart0dte.services.telegram_bot import UNKNOWN_CHAT_ACTION

from ...fake_telegram import FakeTelegram
from ..api.conftest import SESSION, FixedClock
from .conftest import OWNER_CHAT, STRANGER_CHAT, Webhook, make_webhook


def stopped_modes(store: DynamoState) -> dict[TradingMode, bool]:
    return {m: store.for_mode(m).get_controls().emergency_stop for m in TradingMode}


def test_a_missing_or_wrong_secret_is_refused_and_nothing_runs(
    webhook: Webhook, seeded: DynamoState, telegram: FakeTelegram
) -> None:
    audit_before = seeded.audit.list_day(SESSION)
    assert webhook("/stop", secret=None) == 401
    assert webhook("/stop", secret="webhook_SECRET-012345678X") == 403
    assert webhook("/stop", secret="") == 401
    assert stopped_modes(seeded) == dict.fromkeys(TradingMode, False)
    assert seeded.audit.list_day(SESSION) == audit_before
    assert telegram.calls == []


def test_an_unknown_chat_is_ignored_and_audited_with_its_id(
    webhook: Webhook, seeded: DynamoState, telegram: FakeTelegram
) -> None:
    assert webhook("/stop", chat=STRANGER_CHAT) == 200
    assert webhook("/" + "s" * 3000, chat=STRANGER_CHAT) == 200  # audited with its command cut
    assert webhook("/status", chat=STRANGER_CHAT) == 200
    assert stopped_modes(seeded) == dict.fromkeys(TradingMode, False)
    assert telegram.calls == []  # not even an answer
    refused = [r for r in seeded.audit.list_day(SESSION) if r.action == UNKNOWN_CHAT_ACTION]
    assert [(r.actor, r.details["chat_id"], r.details["command"]) for r in refused] == [
        (f"telegram:{STRANGER_CHAT}", STRANGER_CHAT, "stop"),
        (f"telegram:{STRANGER_CHAT}", STRANGER_CHAT, "s" * 64),
        (f"telegram:{STRANGER_CHAT}", STRANGER_CHAT, "status"),
    ]


def test_stop_without_arguments_stops_every_mode_persisted_and_audited_with_the_chat(
    webhook: Webhook, seeded: DynamoState, telegram: FakeTelegram
) -> None:
    assert webhook("/stop") == 200
    assert stopped_modes(seeded) == dict.fromkeys(TradingMode, True)
    reason = f"Telegram /stop by chat {OWNER_CHAT}"
    for mode in TradingMode:
        controls = seeded.for_mode(mode).get_controls()
        assert controls.stops == 1
        assert controls.emergency_stop_change is not None
        assert (controls.emergency_stop_change.actor, controls.emergency_stop_change.reason) == (
            f"telegram:{OWNER_CHAT}",
            reason,
        )
        (record,) = [
            r for r in seeded.for_mode(mode).audit.list_day(SESSION) if r.action == "EmergencyStopActivated"
        ]
        assert (record.actor, record.reason) == (f"telegram:{OWNER_CHAT}", reason)
    (reply,) = telegram.sent(OWNER_CHAT)
    assert reply.startswith("EMERGENCY STOP done: paper first.")
    assert "Stopped: paper, ibkr_paper, live." in reply


def test_stop_with_a_bot_suffix_and_a_reason_records_that_reason(
    webhook: Webhook, seeded: DynamoState
) -> None:
    assert webhook("/stop@Smart0dteBot  spreads   look wrong ") == 200
    change = seeded.get_controls().emergency_stop_change
    assert change is not None and change.reason == "spreads look wrong"


def test_a_stop_that_cannot_be_written_is_503_so_telegram_sends_it_again(
    seeded: DynamoState, telegram: FakeTelegram
) -> None:
    def broken() -> DynamoState:
        raise ConnectionError("DynamoDB unreachable")

    waits: list[float] = []
    post = make_webhook(ApiDeps(store_factory=broken, clock=FixedClock(), sleep=waits.append), telegram)
    assert post("/stop") == 503
    (reply,) = telegram.sent(OWNER_CHAT)
    assert reply.startswith("EMERGENCY STOP NOT CONFIRMED")
    assert "ConnectionError: DynamoDB unreachable" in reply
    assert len(waits) == 3 * (1 + len(TradingMode))  # every read and every mode retried 4 times


def test_resume_asks_for_a_code_and_only_the_fresh_right_code_clears_the_stop(
    webhook: Webhook, seeded: DynamoState, telegram: FakeTelegram, clock: FixedClock
) -> None:
    assert webhook("/stop") == 200
    assert webhook("/resume") == 200
    assert seeded.get_controls().emergency_stop
    asked = telegram.sent(OWNER_CHAT)[-1]
    assert asked.startswith(
        "Resuming paper clears emergency stop number 1 (by telegram:111 at 10:31 New York"
    )
    match = re.search(r"/resume confirm (\d{6})$", asked)
    assert match is not None
    code = match.group(1)

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for attempt in (wrong, "١٢٣٤٥٦", code + "0"):
        assert webhook(f"/resume confirm {attempt}") == 200
        assert seeded.get_controls().emergency_stop
        assert telegram.sent(OWNER_CHAT)[-1].startswith("That code is wrong or expired")

    clock.at += timedelta(minutes=5)  # two windows later: expired
    assert webhook(f"/resume confirm {code}") == 200
    assert seeded.get_controls().emergency_stop
    clock.at -= timedelta(minutes=5)

    assert webhook(f"/resume confirm {code}") == 200
    controls = seeded.get_controls()
    assert not controls.emergency_stop and not controls.paused
    assert telegram.sent(OWNER_CHAT)[-1].startswith("paper resumed.")
    (cleared,) = [r for r in seeded.audit.list_day(SESSION) if r.action == "EmergencyStopCleared"]
    assert cleared.actor == f"telegram:{OWNER_CHAT}"
    assert seeded.for_mode(TradingMode.LIVE).get_controls().emergency_stop  # only the mode named


def test_a_code_shown_before_a_newer_stop_clears_nothing(
    webhook: Webhook, seeded: DynamoState, telegram: FakeTelegram
) -> None:
    assert webhook("/stop") == 200
    assert webhook("/resume live") == 200
    match = re.search(r"/resume live confirm (\d{6})$", telegram.sent(OWNER_CHAT)[-1])
    assert match is not None
    assert webhook("/stop again") == 200  # stop number 2
    assert webhook(f"/resume live confirm {match.group(1)}") == 200
    assert seeded.for_mode(TradingMode.LIVE).get_controls().emergency_stop


def test_pause_pauses_the_active_mode_audited_and_resume_needs_the_code(
    webhook: Webhook, seeded: DynamoState, telegram: FakeTelegram
) -> None:
    assert webhook("/pause") == 200
    controls = seeded.get_controls()
    assert controls.paused and controls.pause_change is not None
    assert controls.pause_change.actor == f"telegram:{OWNER_CHAT}"
    assert webhook("/resume") == 200
    assert seeded.get_controls().paused
    code = telegram.sent(OWNER_CHAT)[-1].rsplit(" ", 1)[-1]
    assert webhook(f"/resume confirm {code}") == 200
    assert not seeded.get_controls().paused


def test_status_and_positions_answer_from_the_seeded_store(
    webhook: Webhook, seeded: DynamoState, telegram: FakeTelegram
) -> None:
    # Both open SPY calls (562 and 564) are quoted 1.00/1.10: mid 1.05 against 1.25 paid, 2 contracts.
    each = (Decimal("1.05") - Decimal("1.25")) * 2 * 100
    assert webhook("/status") == 200
    status = telegram.sent(OWNER_CHAT)[-1]
    assert "Mode: paper" in status
    assert "State: ACTIVE" in status
    assert f"Open: 2 positions, unrealized {usd_text(2 * each)} at the mid" in status
    assert "unrealized −$80.00" in status
    assert "Market: trading, close at 16:00 New York" in status

    assert webhook("/positions") == 200
    lines = telegram.sent(OWNER_CHAT)[-1].splitlines()
    protection = "stop $1.06, target $1.56"
    assert lines == [
        "paper: 2 open",
        f"SPY 562C ×2 momentum_breakout: in $1.25 at 09:50, mid $1.05, {usd_text(each)}; {protection}",
        f"SPY 564C ×2 mean_reversion: in $1.25 at 10:10, mid $1.05, {usd_text(each)}; {protection}",
    ]


def test_trades_pnl_and_daily_use_the_journals_net_pnl(webhook: Webhook, telegram: FakeTelegram) -> None:
    # Closed (seed): 2 SPY 560C bought at 1.25, sold at 1.60 on Thursday (+$70.00) and at 0.90 on
    # Wednesday (−$70.00), no commissions booked; a third 40 days ago. Open today: two at −$40.00.
    assert webhook("/daily 3") == 200
    assert telegram.sent(OWNER_CHAT)[-1].splitlines() == [
        "paper, net P&L per session:",
        "Fri 2025-03-14: $0.00 (0 trades)",
        "Thu 2025-03-13: $70.00 (1 trades)",
        "Wed 2025-03-12: −$70.00 (1 trades)",
        "Total: $0.00",
    ]
    assert webhook("/pnl") == 200
    assert telegram.sent(OWNER_CHAT)[-1].splitlines() == [
        "paper, net of commissions:",
        "Today: $0.00 realized, −$80.00 open at the mid",
        "7 days: $0.00 from 2 trades, 1 won",
        "30 days: $0.00 from 2 trades, 1 won",
    ]
    assert webhook("/trades 4") == 200
    assert telegram.sent(OWNER_CHAT)[-1].splitlines() == [
        "paper: the last 4 round trips, newest first",
        "03-14 10:10 SPY 564C ×2 mean_reversion: open, −$40.00 at the mid",
        "03-14 09:50 SPY 562C ×2 momentum_breakout: open, −$40.00 at the mid",
        "03-13 09:35–10:05 SPY 560C ×2 momentum_breakout: $70.00 net (target)",
        "03-12 09:35–10:05 SPY 560C ×2 gap_fill: −$70.00 net (target)",
    ]


def test_malformed_updates_are_answered_200_and_change_nothing(
    webhook: Webhook, seeded: DynamoState, telegram: FakeTelegram
) -> None:
    for body in (
        "not json",
        "[1, 2]",
        "{}",
        '{"update_id": 1, "message": {"chat": {"id": "111"}}}',
        "[" * 30_000 + "]" * 30_000,
        "x" * 70_000,
    ):
        assert webhook(body=body) == 200
    assert webhook("just words, no command") == 200
    assert telegram.calls == []
    assert stopped_modes(seeded) == dict.fromkeys(TradingMode, False)
    assert webhook("/frobnicate") == 200
    assert telegram.sent(OWNER_CHAT)[-1].startswith("Unknown command /frobnicate.")
