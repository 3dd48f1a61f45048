"""The trade journal: a session's closed round trips on its pages, appended by the close's own
transaction, read by exit session date, kept per mode, deleted by a positions reset and
backfilled for positions closed before it existed."""

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pynamodb.connection import Connection

from smart0dte.adapters.aws.dynamodb import DynamoState, trading
from smart0dte.adapters.aws.dynamodb.tables import Tx
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.portfolio import ClosedTrade
from smart0dte.ports import ConcurrentUpdate

from ..moto_env import REGION
from .builders import CALL, SESSION, T0, all_items, position
from .conftest import PREFIX

CLOSE = T0 + timedelta(minutes=42)


def journal_keys(dynamodb: Any, aws: Provisioned) -> list[tuple[str, str]]:
    return sorted(
        (i["pk"]["S"], i["sk"]["S"])
        for i in all_items(dynamodb, aws)["trading"]
        if i["pk"]["S"].endswith("#trades")
    )


def forget_journal(dynamodb: Any, aws: Provisioned) -> None:
    """Delete every journal entry: the store as it was before the journal existed."""
    for pk, sk in journal_keys(dynamodb, aws):
        dynamodb.delete_item(TableName=aws.tables["trading"], Key={"pk": {"S": pk}, "sk": {"S": sk}})


def close(
    store: DynamoState, n: int, opened_at: datetime, minutes: int = 42, price: str = "1.40", fees: str = "0"
) -> None:
    store.open_position(position(store.mode, n, opened_at), actor="execute", reason="filled")
    closed_at = opened_at + timedelta(minutes=minutes)
    store.close_position(f"position-{n}", Decimal(price), closed_at, "TAKE_PROFIT", "exits", Decimal(fees))


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every TransactWriteItems sent, as its keyword arguments."""
    sent: list[dict[str, Any]] = []
    original = Connection.transact_write_items

    def spy(self: Connection, *args: Any, **kwargs: Any) -> Any:
        sent.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", spy)
    yield sent


def test_a_close_writes_its_round_trip_to_the_journal_in_its_own_transaction(
    paper: DynamoState, aws: Provisioned, dynamodb: Any, transactions: list[dict[str, Any]]
) -> None:
    paper.open_position(position(), actor="execute", reason="filled")
    transactions.clear()

    paper.close_position(
        "position-1", Decimal("1.405"), CLOSE, "TAKE_PROFIT", actor="exits", commissions_usd=Decimal("2.6")
    )

    (sent,) = transactions
    puts = {(p["Item"]["pk"]["S"], p["Item"]["sk"]["S"]) for p in sent["put_items"]}
    entry = ("paper#trades", "2025-03-14#0000")  # the session's first journal page
    assert {entry, ("paper#position#position-1", "position")} <= puts
    assert any(p["Item"]["pk"]["S"].startswith("paper#audit#") for p in sent["put_items"])
    assert journal_keys(dynamodb, aws) == [entry]
    # (1.405 - 1.25) x 2 x 100 = 31.00 gross, 28.40 net of the 2.60 commissions, as the counters book it
    assert paper.list_closed_trades() == [
        ClosedTrade(
            position_id="position-1",
            contract=CALL,
            strategy="momentum_breakout",
            quantity=2,
            entry_ts=T0,
            entry_price=Decimal("1.25"),
            exit_ts=CLOSE,
            exit_price=Decimal("1.405"),
            exit_reason="TAKE_PROFIT",
            commissions_usd=Decimal("2.60"),
            pnl_usd=Decimal("28.40"),
        )
    ]
    assert paper.get_counters(SESSION).realized_pnl_usd == Decimal("28.40")

    transactions.clear()
    paper.close_position("position-1", Decimal("1.50"), CLOSE, "TAKE_PROFIT", actor="exits")  # a retry
    assert transactions == [] and journal_keys(dynamodb, aws) == [entry]


def test_a_session_fills_its_pages_up_to_the_size_limit_then_opens_the_next(
    paper: DynamoState, aws: Provisioned, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pages() -> dict[str, list[str]]:
        items = all_items(dynamodb, aws)["trading"]
        return {
            i["sk"]["S"]: [t["position_id"] for t in json.loads(i["trades"]["S"])]
            for i in items
            if i["pk"]["S"] == "paper#trades"
        }

    close(paper, 1, T0)
    (first,) = [i for i in all_items(dynamodb, aws)["trading"] if i["pk"]["S"] == "paper#trades"]
    entry_bytes = len(first["trades"]["S"]) - 2  # "[...]"
    monkeypatch.setattr(trading, "JOURNAL_PAGE_BYTES", 2 * entry_bytes + 3)  # "[a,b]": two per page

    for n in (2, 3):
        close(paper, n, T0, minutes=42 + n)

    assert pages() == {"2025-03-14#0000": ["position-1", "position-2"], "2025-03-14#0001": ["position-3"]}
    trades = paper.list_closed_trades(SESSION)
    assert [t.position_id for t in trades] == ["position-1", "position-2", "position-3"]


def test_a_close_that_loses_the_page_to_another_writer_appends_again(
    paper: DynamoState, aws: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = DynamoState(PREFIX, paper.mode, region=REGION)  # another Lambda's store
    close(paper, 1, T0)
    for n in (2, 3):
        paper.open_position(position(n=n), actor="execute", reason="filled")
    commits: list[frozenset[str]] = []
    original = Tx.commit

    def racing_commit(tx: Tx) -> frozenset[str]:
        if not commits:  # between this close's page read and its write, another close appends
            commits.append(frozenset({"(the other close)"}))
            other.close_position("position-3", Decimal("1.30"), CLOSE, "STOP_LOSS", "manual")
        commits.append(original(tx))
        return commits[-1]

    monkeypatch.setattr(Tx, "commit", racing_commit)
    paper.close_position("position-2", Decimal("1.40"), CLOSE, "TAKE_PROFIT", "exits")

    # the other close's commit, then this close's refused (the page moved on), then its retry
    assert commits[1:] == [frozenset(), {"trade journal"}, frozenset()]
    assert [t.position_id for t in paper.list_closed_trades()] == ["position-1", "position-2", "position-3"]
    assert paper.get_counters(SESSION).day_trades == 3  # each close booked once


def test_a_refused_close_writes_no_journal_entry(
    paper: DynamoState, aws: Provisioned, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    paper.open_position(position(), actor="execute", reason="filled")
    stale = paper.get_position("position-1")
    paper.mark_position_closing("position-1", CLOSE, actor="exits", reason="exit order working")
    before = all_items(dynamodb, aws)

    with monkeypatch.context() as patch:  # the close reads the position as it was before the mark
        patch.setattr(paper, "get_position", lambda position_id: stale)
        with pytest.raises(ConcurrentUpdate, match="version 1 is no longer current"):
            paper.close_position("position-1", Decimal("1.40"), CLOSE, "TAKE_PROFIT", actor="exits")

    assert all_items(dynamodb, aws) == before
    assert paper.list_closed_trades() == []


def test_the_journal_reads_from_an_exit_session_date_on_by_exit_time(paper: DynamoState) -> None:
    close(paper, 1, T0 - timedelta(days=1))  # exits 2025-03-13
    close(paper, 3, T0)  # 2025-03-14 at 15:13 UTC
    close(paper, 2, T0)  # the same instant: by position id
    # 23:00 New York on 2025-03-14 is 03:00 UTC on the 15th: its session date is the 14th
    close(paper, 4, T0, minutes=int((datetime(2025, 3, 15, 3, tzinfo=UTC) - T0).total_seconds() // 60))
    close(paper, 5, T0 + timedelta(days=3))  # exits 2025-03-17

    def ids(since: date | None) -> list[str]:
        return [t.position_id for t in paper.list_closed_trades(since)]

    assert ids(None) == ["position-1", "position-2", "position-3", "position-4", "position-5"]
    assert ids(date(2025, 3, 13)) == ids(None)
    assert ids(date(2025, 3, 14)) == ["position-2", "position-3", "position-4", "position-5"]
    assert ids(date(2025, 3, 15)) == ["position-5"]
    assert ids(date(2025, 3, 17)) == ["position-5"]
    assert ids(date(2025, 3, 18)) == []


def test_paper_and_live_journals_are_apart(paper: DynamoState, live: DynamoState) -> None:
    close(paper, 1, T0)
    close(live, 2, T0, price="1.10")

    assert [t.position_id for t in paper.list_closed_trades()] == ["position-1"]
    assert [(t.position_id, t.pnl_usd) for t in live.list_closed_trades()] == [
        ("position-2", Decimal("-30.00"))
    ]


def test_the_backfill_writes_the_missing_entries_once_each_audited(
    paper: DynamoState, live: DynamoState, aws: Provisioned, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in (1, 2, 3):
        close(paper, n, T0 - timedelta(days=n), fees=f"{n * 1.3:.2f}")
    paper.close_position("position-1", Decimal("1.40"), CLOSE, "TAKE_PROFIT", "exits")  # already closed
    paper.open_position(position(n=4), actor="execute", reason="filled")  # open: not a round trip
    close(live, 5, T0)
    journaled = paper.list_closed_trades()
    forget_journal(dynamodb, aws)
    close(paper, 6, T0)  # closed after the upgrade: has its entry
    monkeypatch.setattr(trading, "JOURNAL_BACKFILL_CHUNK", 2)

    written = paper.backfill_trade_journal(T0 + timedelta(hours=6), "post_close")

    assert written == ["position-1", "position-2", "position-3"]
    assert paper.list_closed_trades()[:3] == journaled  # the same round trips, commissions and all
    assert [t.commissions_usd for t in journaled] == [Decimal("3.90"), Decimal("2.60"), Decimal("1.30")]
    assert [t.position_id for t in paper.list_closed_trades()] == [
        "position-3",
        "position-2",
        "position-1",
        "position-6",
    ]
    records = [r for r in paper.audit.list_day(SESSION) if r.action == "TradeJournalBackfilled"]
    assert sorted((r.actor, r.details["position_ids"]) for r in records) == [
        ("post_close", ["position-1", "position-2"]),
        ("post_close", ["position-3"]),
    ]
    assert live.list_closed_trades() == []  # forgotten too; a live backfill is the live store's
    before = all_items(dynamodb, aws)
    assert paper.backfill_trade_journal(T0 + timedelta(hours=7), "post_close") == []
    assert all_items(dynamodb, aws) == before
