"""GET /api/strikes at a chosen minute: the snapshot at or before it, the ATM strike, the contracts
held and traded by then, the range `at` may take, and the last trading minute after the close."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.domain.models import ChainSnapshot, OptionRight, Underlying
from smart0dte.services.api import ApiDeps

from .conftest import OPEN, SESSION, T0, Call, FixedClock, contract, make_call, position

SEEDED_SNAPSHOT = T0 - timedelta(minutes=1)
"""10:30 New York: the seed's one SPY snapshot, spot 562."""


def snapshot_at(store: DynamoState, ts: datetime, spot: float) -> ChainSnapshot:
    """The seeded snapshot's quotes again at `ts` with the underlying at `spot`."""
    seeded = store.latest_chain_snapshot(Underlying.SPY, SEEDED_SNAPSHOT)
    assert seeded is not None
    snap = seeded.model_copy(update={"ts": ts, "underlying_price": spot})
    store.put_chain_snapshot(snap)
    return snap


def ny(hour: int, minute: int) -> datetime:
    return datetime(2025, 3, 14, hour, minute, tzinfo=UTC) + timedelta(hours=4)  # EDT


def rows_by_contract(body: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["contract"]: r for r in body["rows"]}


def test_at_reads_the_latest_snapshot_at_or_before_the_minute(api: Call, seeded: DynamoState) -> None:
    snapshot_at(seeded, ny(10, 0), spot=560.4)

    _, at_1015 = api("GET", "/api/strikes?symbol=SPY&at=10:15")
    _, at_1029 = api("GET", "/api/strikes?symbol=SPY&at=10:29")
    _, at_1030 = api("GET", "/api/strikes?symbol=SPY&at=10:30")
    _, latest = api("GET", "/api/strikes?symbol=SPY")

    assert at_1015["ts"] == at_1029["ts"] == "2025-03-14T14:00:00Z"
    assert at_1015["underlyingPrice"] == 560.4 and at_1015["atmStrike"] == 560.0
    assert at_1015["minutesToExpiry"] == pytest.approx(360.0)  # 10:00 to 16:00
    assert at_1030["ts"] == latest["ts"] == "2025-03-14T14:30:00Z"
    assert latest["underlyingPrice"] == 562.0 and latest["atmStrike"] == 562.0
    assert latest["sessionDate"] == "2025-03-14"
    assert latest["atEarliest"] == "2025-03-14T09:31:00-04:00"
    assert latest["atLatest"] == "2025-03-14T10:31:00-04:00"  # now: no later minute exists yet


def test_held_and_traded_contracts_are_marked_as_of_the_minute(api: Call, seeded: DynamoState) -> None:
    # position-1 (2 x 562C) opened 09:50 and position-2 (2 x 564C) 10:10 are open; a put traded
    # and closed before either.
    put = position(6, 560.0, OPEN + timedelta(minutes=10)).model_copy(
        update={"contract": contract(560.0, OptionRight.PUT)}
    )
    snapshot_at(seeded, ny(9, 35), spot=561.0)
    seeded.open_position(put, "system:execute", "entry")
    seeded.close_position(
        "position-6", Decimal("1.10"), OPEN + timedelta(minutes=25), "stop", "system:execute"
    )
    call_562, call_564, put_560 = (c.occ_symbol for c in (contract(562.0), contract(564.0), put.contract))

    _, at_0945 = api("GET", "/api/strikes?symbol=SPY&at=09:45")
    _, at_1000 = api("GET", "/api/strikes?symbol=SPY&at=10:00")
    _, now = api("GET", "/api/strikes?symbol=SPY")

    marks = {
        at: {c: (r["heldQuantity"], r["traded"]) for c, r in rows_by_contract(body).items() if r["traded"]}
        for at, body in (("09:45", at_0945), ("10:00", at_1000), ("now", now))
    }
    assert marks == {
        "09:45": {put_560: (2, True)},
        "10:00": {put_560: (0, True), call_562: (2, True)},
        "now": {put_560: (0, True), call_562: (2, True), call_564: (2, True)},
    }
    assert at_1000["marksAsOf"] == "2025-03-14T10:00:00-04:00"
    assert now["marksAsOf"] == "2025-03-14T14:31:00Z"


@pytest.mark.parametrize("at", ["09:00", "09:30", "10:32", "15:00"])
def test_at_outside_the_session_so_far_names_the_field_and_the_range(api: Call, at: str) -> None:
    status, body = api("GET", f"/api/strikes?symbol=SPY&at={at}")

    assert status == 422
    assert body["field"] == "at"
    assert body["message"] == (
        f"at='{at}' must be a minute HH:MM (New York time) within 09:31..10:31 of the 2025-03-14 "
        "session (its first snapshot to now)"
    )


@pytest.mark.parametrize("at", ["10h30", "10:3", "25:00", "10:60", "10:30:00", "2025-03-14T10:30", ""])
def test_a_malformed_at_is_refused_naming_the_field(api: Call, at: str) -> None:
    status, body = api("GET", f"/api/strikes?symbol=SPY&at={at}")

    assert status == 422
    assert (
        body["field"] == "at"
        and "must be a minute HH:MM (New York time) within 09:31..10:31" in body["message"]
    )


def test_after_the_close_the_default_is_the_last_trading_minute_with_greeks(seeded: DynamoState) -> None:
    snapshot_at(seeded, ny(15, 59), spot=563.4)
    snapshot_at(seeded, ny(16, 0), spot=563.6)
    call = make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock(ny(17, 30))))

    status, body = call("GET", "/api/strikes?symbol=SPY")
    _, at_close = call("GET", "/api/strikes?symbol=SPY&at=16:00")

    assert status == 200
    assert body["ts"] == "2025-03-14T19:59:00Z" and body["minutesToExpiry"] == pytest.approx(1.0)
    assert body["atmStrike"] == 564.0
    assert body["atLatest"] == body["sessionClose"] == "2025-03-14T16:00:00-04:00"
    atm_call = rows_by_contract(body)[contract(564.0).occ_symbol]
    assert atm_call["iv"] is not None and atm_call["delta"] is not None
    # The close's own snapshot is there when asked for: no time is left, so no IV or Greeks.
    assert at_close["ts"] == "2025-03-14T20:00:00Z" and at_close["minutesToExpiry"] == 0.0
    assert all(r["iv"] is None and r["delta"] is None for r in at_close["rows"])


def test_before_the_first_minute_ends_the_previous_session_is_shown(seeded: DynamoState) -> None:
    saturday = make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock(T0 + timedelta(days=1))))
    monday_open = make_call(
        ApiDeps(store_factory=lambda: seeded, clock=FixedClock(OPEN + timedelta(days=3, seconds=59)))
    )

    for call in (saturday, monday_open):
        status, body = call("GET", "/api/strikes?symbol=SPY")
        assert status == 200
        assert body["sessionDate"] == SESSION.isoformat() and body["ts"] == "2025-03-14T14:30:00Z"
        assert body["atLatest"] == "2025-03-14T16:00:00-04:00"
        assert call("GET", "/api/strikes?symbol=SPY&at=10:30")[1]["ts"] == "2025-03-14T14:30:00Z"
