"""The fill log: each fill appended once (by fill id) to its session's page in `record_fill`'s own
transaction, with its order's signal and that signal's risk decision; read by time across
sessions; a page another writer appended to first is read again, so concurrent writers (the desk
and the order bridge) lose nothing; a busy session opens a second page."""

import json
from datetime import timedelta
from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState, trading
from smart0dte.adapters.aws.dynamodb.tables import Tx
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.controls import TradingState
from smart0dte.domain.models import Fill, Order, OrderStatus
from smart0dte.domain.risk import RiskRule, RiskVerdict, Violation
from smart0dte.ports import ConcurrentUpdate, RiskDecision

from ..moto_env import REGION
from .builders import T0, all_items, fill, intent, signal
from .conftest import PREFIX

NEXT_DAY = timedelta(days=3)
"""From Friday 2025-03-14 10:31 to Monday 2025-03-17 10:31 New York."""


def submitted(store: DynamoState, n: int, signal_id: str | None = None) -> Order:
    order = Order.from_intent(intent(store.mode, n).model_copy(update={"signal_id": signal_id}), f"order-{n}")
    store.create_order(order, actor="execute", reason="approved")
    store.transition_order(order.order_id, OrderStatus.SUBMITTED, T0, actor="bridge", reason="acked")
    return order


def fill_of(order: Order, fill_id: str, minutes: int) -> Fill:
    return fill(order.order_id, fill_id, 1, "1.20", minutes).model_copy(update={"intent_id": order.intent_id})


def pages(dynamodb: Any, aws: Provisioned) -> dict[str, list[str]]:
    items = all_items(dynamodb, aws)["trading"]
    return {
        i["sk"]["S"]: [f["fill_id"] for f in json.loads(i["fills"]["S"])]
        for i in items
        if i["pk"]["S"] == "paper#fill_days"
    }


def test_a_fill_is_logged_once_on_its_session_page_with_its_orders_signal_and_risk_decision(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    sig = signal(1)
    verdict = RiskVerdict(True, TradingState.ACTIVE, (Violation(RiskRule("MAX_POSITIONS"), "2 of 3 open"),))
    decision = RiskDecision(sig.signal_id, T0, verdict, 2)
    paper.put_signal(sig, "signals")
    paper.put_risk_decision(decision, "risk")
    entry = submitted(paper, 1, signal_id=sig.signal_id)
    unknown = submitted(paper, 4, signal_id="a-signal-the-store-never-had")
    later = submitted(paper, 2)
    paper.record_fill(fill_of(entry, "F1", 1), actor="bridge")
    paper.record_fill(fill_of(entry, "F1", 1), actor="execute")  # the same fill, redelivered
    paper.record_fill(fill_of(entry, "F2", 2), actor="bridge")
    monday = fill_of(later, "F3", 1).model_copy(update={"ts": T0 + NEXT_DAY})
    paper.record_fill(monday, actor="bridge")
    paper.record_fill(fill_of(unknown, "F4", 3), actor="bridge")

    assert pages(dynamodb, aws) == {"2025-03-14#0000": ["F1", "F2", "F4"], "2025-03-17#0000": ["F3"]}
    logged = paper.list_fill_log(T0, T0 + NEXT_DAY + timedelta(seconds=1))
    assert [(e.fill.fill_id, e.signal_id, e.signal, e.risk) for e in logged] == [
        ("F1", sig.signal_id, sig, decision),
        ("F2", sig.signal_id, sig, decision),
        ("F4", "a-signal-the-store-never-had", None, None),
        ("F3", None, None, None),
    ]
    assert logged[0].fill == fill_of(entry, "F1", 1)
    assert logged[3].fill == monday


def test_the_log_reads_from_start_inclusive_to_end_exclusive_by_time_then_id(paper: DynamoState) -> None:
    first, second = submitted(paper, 1), submitted(paper, 2)
    for order, fill_id, minutes in ((first, "F2", 2), (first, "F1", 2), (second, "F0", 1)):
        paper.record_fill(fill_of(order, fill_id, minutes), actor="bridge")

    at = T0 + timedelta(minutes=2)
    assert [e.fill.fill_id for e in paper.list_fill_log(at, at + timedelta(seconds=1))] == ["F1", "F2"]
    assert [e.fill.fill_id for e in paper.list_fill_log(T0, at)] == ["F0"]
    assert paper.list_fill_log(T0 + NEXT_DAY, T0 + 2 * NEXT_DAY) == []


def test_a_fill_that_loses_its_page_to_another_writer_is_appended_again(
    paper: DynamoState, monkeypatch: pytest.MonkeyPatch
) -> None:
    bridge = DynamoState(PREFIX, paper.mode, region=REGION)  # the order bridge's own store
    desk_order, bridge_order = submitted(paper, 1), submitted(paper, 2)
    commits: list[frozenset[str]] = []
    original = Tx.commit

    def racing_commit(tx: Tx) -> frozenset[str]:
        if not commits:  # between the desk's page read and its write, the bridge records a fill
            commits.append(frozenset({"(the bridge's fill)"}))
            bridge.record_fill(fill_of(bridge_order, "B1", 1), actor="bridge")
        commits.append(original(tx))
        return commits[-1]

    monkeypatch.setattr(Tx, "commit", racing_commit)
    paper.record_fill(fill_of(desk_order, "D1", 1), actor="execute")

    # the bridge's commit, then the desk's refused (the page moved on), then its retry
    assert commits[1:] == [frozenset(), {"fill log"}, frozenset()]
    assert [e.fill.fill_id for e in paper.list_fill_log(T0, T0 + NEXT_DAY)] == ["B1", "D1"]
    assert paper.get_order("order-1").value.filled_quantity == 1  # type: ignore[union-attr]


def test_a_page_that_keeps_changing_gives_up_with_concurrent_update(
    paper: DynamoState, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = submitted(paper, 1)
    monkeypatch.setattr(Tx, "commit", lambda tx: frozenset({"fill log"}))

    with pytest.raises(ConcurrentUpdate, match=f"fill F1 lost the lock {trading.FILL_ATTEMPTS} times"):
        paper.record_fill(fill_of(order, "F1", 1), actor="bridge")


def test_a_busy_session_fills_its_page_up_to_the_size_limit_then_opens_the_next(
    paper: DynamoState, aws: Provisioned, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = submitted(paper, 1)
    paper.record_fill(fill_of(order, "F1", 1), actor="bridge")
    (first,) = [i for i in all_items(dynamodb, aws)["trading"] if i["pk"]["S"] == "paper#fill_days"]
    entry_bytes = len(first["fills"]["S"]) - 2  # "[...]"
    monkeypatch.setattr(trading, "JOURNAL_PAGE_BYTES", 2 * entry_bytes + 3)  # "[a,b]": two per page

    other = submitted(paper, 2)
    for fill_id in ("F2", "F3"):  # same length as F1
        paper.record_fill(fill_of(other, fill_id, 2), actor="bridge")

    assert pages(dynamodb, aws) == {"2025-03-14#0000": ["F1", "F2"], "2025-03-14#0001": ["F3"]}
    assert [e.fill.fill_id for e in paper.list_fill_log(T0, T0 + NEXT_DAY)] == ["F1", "F2", "F3"]
