"""Paper, IB paper and live share tables but never a record."""

from decimal import Decimal
from typing import Any

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.controls import AutomationSettings, TradingState
from smart0dte.domain.models import Bar, TradingMode
from smart0dte.ports import DailyCounters, TradingControls

from .builders import SESSION, T0, all_items, order, position, signal

BAR = Bar(symbol="SPY", ts=T0, open=560.1, high=560.9, low=559.8, close=560.5, volume=120_000)


def _write_everything(store: DynamoState) -> None:
    mode = store.mode
    store.put_settings(AutomationSettings(master_switch=True), actor="user:alice", reason="on", at=T0)
    store.activate_emergency_stop(actor="user:alice", reason="test", at=T0)
    store.put_signal(signal(), actor="signals")
    store.create_order(order(mode), actor="execute", reason="approved")
    store.open_position(position(mode), actor="execute", reason="filled")
    store.add_to_counters(SESSION, day_trades=1, realized_pnl_usd=Decimal("12.34"))
    store.put_bar(BAR)


def test_what_paper_writes_live_cannot_read(paper: DynamoState, live: DynamoState) -> None:
    _write_everything(paper)

    assert live.get_settings() == AutomationSettings()
    assert live.get_controls() == TradingControls()
    assert live.get_controls().trading_state is TradingState.ACTIVE
    assert live.get_signal(SESSION, signal().signal_id) is None
    assert live.list_signals(SESSION) == []
    assert live.get_order("order-1") is None
    assert live.get_order_by_intent(order().intent_id) is None
    assert live.list_working_orders() == []
    assert live.get_position("position-1") is None
    assert live.list_open_positions() == []
    assert live.get_counters(SESSION) == DailyCounters(SESSION)
    assert live.day_trades_in_window([SESSION]) == 0
    assert live.list_bars("SPY", SESSION) == []
    assert live.audit.list_day(SESSION) == []
    assert paper.get_order("order-1") is not None
    assert len(paper.audit.list_day(SESSION)) == 5


def test_the_same_ids_in_every_mode_are_separate_records(
    paper: DynamoState, ibkr_paper: DynamoState, live: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    stores = (paper, ibkr_paper, live)
    for store in stores:
        _write_everything(store)

    found = [store.get_order("order-1") for store in stores]
    assert [f.value.mode for f in found if f is not None] == list(TradingMode)
    assert len({f.value.intent_id for f in found if f is not None}) == 1
    assert [s.get_counters(SESSION).day_trades for s in stores] == [1, 1, 1]
    assert [p.mode for s in stores for p in s.list_open_positions()] == list(TradingMode)
    assert [len(s.audit.list_day(SESSION)) for s in stores] == [5, 5, 5]
    items = all_items(dynamodb, aws)
    keys = [
        (i["pk"]["S"], i["sk"]["S"])
        for table in ("control", "trading", "market", "audit")
        for i in items[table]
    ]
    assert len(keys) == len(set(keys))
    by_mode = {mode: sum(1 for pk, _ in keys if pk.startswith(mode.value + "#")) for mode in TradingMode}
    assert list(by_mode.values()) == [len(keys) / 3] * 3
