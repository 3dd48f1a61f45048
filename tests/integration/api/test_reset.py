"""POST /api/reset: paper only, with trading paused, never orphaning an open position; audited."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.local_store import FolderObjectStore
from smart0dte.domain.models import OrderStatus, PositionStatus, TradingMode
from smart0dte.ports import session_date_of
from smart0dte.services.api import ApiDeps

from .conftest import SESSION, T0, Call, FixedClock, make_call, position

RESET = "/api/reset"


@pytest.fixture
def reports(tmp_path: Path) -> FolderObjectStore:
    store = FolderObjectStore(tmp_path / "reports")
    for key in (
        "daily/paper/2025-03-13.json",
        "daily/live/2025-03-13.json",
        "backtests/abc/report.json",
        "backtests/abc/days/2025-03-13.json",
        "optimization/gap_fill/latest.json",
        "learning/2025-03-13-1234.json",
    ):
        store.put_bytes(key, b"{}")
    return store


@pytest.fixture
def api(seeded: DynamoState, reports: FolderObjectStore) -> Call:
    return make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock(), reports=reports))


def _flat(store: DynamoState) -> None:
    """Close the seeded open positions, cancel the working order, pause trading."""
    for p in store.list_open_positions():
        store.close_position(p.position_id, Decimal("1.30"), T0, "manual", "user:test")
    for o in store.list_working_orders():
        store.transition_order(o.order_id, OrderStatus.CANCELLED, T0, "user:test", "cancel")
    store.pause("user:test", "before reset", T0)


def _actions(store: DynamoState) -> list[tuple[str, str, Any]]:
    return [
        (r.action, r.actor, r.details) for r in store.audit.list_day(SESSION) if r.action.startswith("reset")
    ]


def test_reset_is_refused_while_trading_runs_and_deletes_nothing(api: Call, seeded: DynamoState) -> None:
    status, body = api("POST", RESET, {"scope": "signals", "confirm": "RESET"})
    assert status == 409 and "pause trading" in body["message"]
    assert len(seeded.list_signals(SESSION)) == 3
    assert _actions(seeded) == []


def test_reset_positions_is_refused_while_a_position_is_open(api: Call, seeded: DynamoState) -> None:
    seeded.pause("user:test", "before reset", T0)
    status, body = api("POST", RESET, {"scope": "positions", "confirm": "RESET"})
    assert status == 409
    assert "position-1" in body["message"] and "order-2" in body["message"]
    assert len(seeded.list_open_positions()) == 2
    assert len(seeded.list_positions(PositionStatus.CLOSED)) == 3


def test_reset_signals_deletes_signals_and_decisions_only(api: Call, seeded: DynamoState) -> None:
    seeded.pause("user:test", "before reset", T0)
    status, body = api("POST", RESET, {"scope": "signals", "confirm": "RESET"})
    assert status == 200, body
    assert body == {"scope": "signals", "deleted": {"signals": 3, "riskDecisions": 3}}
    assert seeded.list_signals(SESSION) == [] and seeded.list_risk_decisions(SESSION) == []
    assert len(seeded.list_open_positions()) == 2  # untouched
    actions = {action: (who, details) for action, who, details in _actions(seeded)}
    assert actions.keys() == {"reset", "reset_completed"}
    assert actions["reset"] == ("user:alice", {"scope": "signals"})
    assert actions["reset_completed"][1]["deleted"] == {"signals": 3, "riskDecisions": 3}


def test_reset_positions_deletes_the_trade_history_and_counters(
    api: Call, seeded: DynamoState, live: DynamoState
) -> None:
    _flat(seeded)
    live_position = position(9, 562.0, T0 - timedelta(minutes=30)).model_copy(
        update={"mode": TradingMode.LIVE}
    )
    live.open_position(live_position, "bridge", "entry")
    live.close_position("position-9", Decimal("1.40"), T0, "manual", "bridge")
    assert seeded.get_counters(SESSION).trades > 0
    journal_days = {session_date_of(t.exit_ts) for t in seeded.list_closed_trades()}
    status, body = api("POST", RESET, {"scope": "positions", "confirm": "RESET"})
    assert status == 200, body
    deleted = body["deleted"]
    assert deleted["positions"] == 5 and deleted["orders"] == 2 and deleted["fills"] == 1
    assert deleted["orderIntents"] == 2 and deleted["dailyCounters"] >= 1
    assert deleted["tradeJournalPages"] == len(journal_days)  # one page per session of closes
    assert deleted["fillLogPages"] == 1  # the seeded fill's session
    assert seeded.list_fill_log(T0 - timedelta(days=400), T0 + timedelta(days=1)) == []
    assert seeded.list_closed_trades() == []
    assert all(seeded.list_positions(s) == [] for s in PositionStatus)
    assert [t.position_id for t in live.list_closed_trades()] == ["position-9"]  # another mode
    assert seeded.get_order("order-1") is None and seeded.list_fills("order-1") == []
    assert seeded.get_counters(SESSION).trades == 0
    assert len(seeded.list_signals(SESSION)) == 3  # another scope
    assert seeded.get_controls().paused  # controls are kept


def test_reset_analytics_deletes_this_modes_reports_and_backtests(
    api: Call, seeded: DynamoState, reports: FolderObjectStore
) -> None:
    seeded.pause("user:test", "before reset", T0)
    status, body = api("POST", RESET, {"scope": "analytics", "confirm": "RESET"})
    assert status == 200, body
    assert body["deleted"]["reports"] == 4 and body["deleted"]["dailyCounters"] >= 1
    assert sorted(reports.list_keys("")) == ["daily/live/2025-03-13.json", "learning/2025-03-13-1234.json"]
    assert len(seeded.list_positions(PositionStatus.CLOSED)) == 3  # the trade history stays
    assert len(seeded.list_closed_trades()) == 3
    assert "reset_reports" in [a for a, _, _ in _actions(seeded)]


def test_reset_all_twice_is_idempotent(api: Call, seeded: DynamoState, reports: FolderObjectStore) -> None:
    _flat(seeded)
    first = api("POST", RESET, {"scope": "all", "confirm": "RESET"})
    assert first[0] == 200 and first[1]["deleted"]["signals"] == 3
    later = FixedClock(T0 + timedelta(seconds=1))
    again = make_call(ApiDeps(store_factory=lambda: seeded, clock=later, reports=reports))
    second = again("POST", RESET, {"scope": "all", "confirm": "RESET"})
    assert second == (200, {"scope": "all", "deleted": {"reports": 0}})
    assert seeded.get_settings().master_switch  # settings are kept
