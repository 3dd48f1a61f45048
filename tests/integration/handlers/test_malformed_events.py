"""A malformed event fails the execution visibly, naming the field, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.services.events import MalformedEvent

from .conftest import Context, load_handler, schedules, table_items

SIGNAL = {
    "signal_id": "gap_fill-SPY-20250313T1345Z-C",
    "ts": "2025-03-13T09:45:00-04:00",
    "underlying": "SPY",
    "direction": "C",
    "strategy": "gap_fill",
    "confidence": 0.8,
    "rationale": "gap",
}
SIGNALS_RESULT = {
    "mode": "paper",
    "ts": "2025-03-13T09:45:00-04:00",
    "session_date": "2025-03-13",
    "candidates": [SIGNAL],
    "trading_state": "ACTIVE",
    "trading_state_reason": "all limits within bounds",
    "open_positions": 0,
}
CONTRACT = {"root": "SPY", "expiry": "2025-03-13", "right": "C", "strike": 560.0}
INTENT = {
    "intent_id": "0123456789abcdef0123456789abcdef",
    "mode": "paper",
    "ts": "2025-03-13T09:45:00-04:00",
    "contract": CONTRACT,
    "side": "BUY",
    "quantity": 3,
    "limit_price": "1.25",
    "reason": "gap_fill C conf 0.80",
}
QUOTE = {"contract": CONTRACT, "bid": 1.2, "ask": 1.25, "bid_size": 50, "ask_size": 50}
RISK_RESULT = {
    "mode": "paper",
    "ts": "2025-03-13T09:45:00-04:00",
    "session_date": "2025-03-13",
    "intents": [{"intent": INTENT, "quote": QUOTE, "strategy": "gap_fill"}],
    "verdicts": [],
}
REQUEST = {"start": "2025-03-13", "end": "2025-03-13"}

CASES: list[tuple[str, Any, str]] = [
    ("signals", [], "must be a JSON object"),
    ("signals", {}, "ts: Field required"),
    ("signals", {"ts": "yesterday"}, "ts: Input should be a valid datetime"),
    ("signals", {"ts": "2025-03-13T10:15:00"}, "ts: Input should have timezone info"),
    ("signals", {"ts": "2025-03-13T10:15:30-04:00"}, "must be a minute end"),
    (
        "signals",
        {"mode": "demo", "ts": "2025-03-13T10:15:00-04:00"},
        "mode: Input should be 'paper', 'ibkr_paper' or 'live'",
    ),
    (
        "signals",
        {"ts": "2025-03-13T10:15:00-04:00", "symbol": "SPY"},
        "symbol: Extra inputs are not permitted",
    ),
    ("risk", {"mode": "paper", "ts": "2025-03-13T09:45:00-04:00"}, "candidates: Field required"),
    ("risk", {**SIGNALS_RESULT, "candidates": [{**SIGNAL, "confidence": 2}]}, "candidates.0.confidence"),
    (
        "execute",
        {**RISK_RESULT, "intents": [{"intent": {**INTENT, "quantity": 0}, "quote": QUOTE, "strategy": "x"}]},
        "intents.0.intent.quantity",
    ),
    (
        "execute",
        {
            **RISK_RESULT,
            "intents": [
                {
                    "intent": INTENT,
                    "quote": {**QUOTE, "contract": {**CONTRACT, "strike": 561.0}},
                    "strategy": "x",
                }
            ],
        },
        "quote is for SPY   250313C00561000",
    ),
    ("pre_market", {"session_date": "2025-13-01"}, "session_date: Input should be a valid date"),
    (
        "pre_market",
        {"schedule": "pre_market", "scheduled_time": "soon"},
        "scheduled_time='soon' is not an ISO 8601 time",
    ),
    ("flatten", {"mode": "paper"}, "ts: Field required"),
    ("post_close", {"mode": "paper", "session_date": "2025-03-13", "dry_run": True}, "dry_run: Extra inputs"),
    ("learning", {}, "session_date: Field required"),
    ("backtest_day", {"action": "explode"}, "action='explode' must be 'day' or 'aggregate'"),
    ("backtest_day", {"action": "day", "date": "2025-03-13"}, "request: Field required"),
    (
        "backtest_day",
        {"action": "aggregate", "request": {**REQUEST, "seed": -1}, "results": []},
        "request.seed",
    ),
]


@pytest.mark.parametrize(
    ("name", "event", "message"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_a_malformed_event_names_the_field_and_writes_nothing(
    name: str, event: Any, message: str, aws: Provisioned, dynamodb: Any
) -> None:
    with pytest.raises(MalformedEvent, match=f"^{name}: ") as raised:
        load_handler(name).handler(event, Context())

    assert message in str(raised.value)
    assert all(items == [] for items in table_items(dynamodb, aws).values())
    assert schedules() == []
