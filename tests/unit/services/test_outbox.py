"""The session document's outbox: the typed records a day of engine phases produces survive the
document (JSON) unchanged, and a record of another shape, or a document of the old format whose
outbox held `{"op": ...}` dicts, is refused with its name."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from smart0dte.domain.broker_venue import BrokerVenue
from smart0dte.domain.controls import TradingState
from smart0dte.domain.models import DomainError, OptionRight, OrderStatus, TradingMode
from smart0dte.domain.session_engine import MINUTE, Effects, SessionEngine
from smart0dte.domain.venue import VenueEventKind
from smart0dte.services.outbox import (
    CommandQueued,
    FillRecorded,
    OrderUpdated,
    OutboxRecord,
    PositionChanged,
    TradingStateChanged,
    event_of_state,
)
from smart0dte.services.session import (
    Envelope,
    closing_of,
    effect_records,
    incident_records,
    risk_records,
    signal_records,
    trading_state_record,
)
from tests.unit.domain.test_session_engine import CARRY, MINUTES, SESSION, WIDE_EXITS, Scripted, make_day
from tests.unit.domain.test_simulated_venue import T0, intent

DAY: date = SESSION.session_date


def a_days_records() -> list[OutboxRecord]:
    """Every record the Lambda steps would put in the outbox over a day: two entries, observed
    until 14:50, then settled at the close (incidents); a broker venue's place and cancel; a
    trading state change with an over-long reason."""
    path = np.concatenate([np.full(60, 560.0), np.linspace(560, 566, MINUTES - 60)])
    engine = SessionEngine(
        make_day(path), SESSION, WIDE_EXITS, Scripted({45: OptionRight.CALL, 300: OptionRight.PUT}), CARRY
    )
    records: list[OutboxRecord] = []
    now = SESSION.open_et + MINUTE
    while now <= SESSION.open_et + 320 * MINUTE:
        candidates = engine.observe(now)
        records += effect_records(candidates.effects, DAY, "signals")
        records += signal_records(candidates.signals, "signals")
        assessment = engine.assess(candidates.signals, now)
        records += risk_records(assessment.verdicts, now, "risk")
        records += effect_records(engine.execute(assessment.intents, now).effects, DAY, "execute")
        now += MINUTE
    settled = engine.settle(SESSION.close_et)
    records += effect_records(settled.effects, DAY, "post_close")
    records += incident_records(settled.effects, "post_close")
    venue = BrokerVenue(TradingMode.LIVE)
    live = intent().model_copy(update={"mode": TradingMode.LIVE})
    placed = venue.submit(live, None, T0)
    cancelled = venue.cancel(placed.orders[0].order_id, T0 + timedelta(seconds=5), "exit re-priced")
    records += effect_records(
        Effects(events=(placed + cancelled).events, commands=placed.commands + cancelled.commands),
        DAY,
        "signals",
    )
    records.append(trading_state_record(TradingState.REDUCING, "daily loss " + "x" * 3000, T0, "signals"))
    return records


def envelope_with(outbox: list[OutboxRecord]) -> Envelope:
    return Envelope(TradingMode.PAPER, DAY, engine={}, prior_close={"SPY": 560.0}, outbox=outbox)


def through_the_store(envelope: Envelope) -> Envelope:
    """The document as `DayDocumentStore` keeps it: JSON text."""
    return Envelope.from_document(json.loads(json.dumps(envelope.to_document(), allow_nan=False)), 7)


def test_a_days_outbox_round_trips_through_the_document_record_for_record() -> None:
    records = a_days_records()

    restored = through_the_store(envelope_with(records))

    assert restored.outbox == records
    assert [type(r) for r in restored.outbox] == [type(r) for r in records]
    assert {r.type for r in records} == {
        "SignalRecorded",
        "RiskDecided",
        "OrderUpdated",
        "FillRecorded",
        "PositionChanged",
        "CommandQueued",
        "TradingStateChanged",
        "IncidentReported",
    }
    changes = [r.change for r in records if isinstance(r, PositionChanged)]
    assert changes.count("opened") == 2 and changes.count("closed") == 2
    # store ids are the session's, each order's last event with its state
    orders = [r for r in records if isinstance(r, OrderUpdated)]
    assert all(r.order.order_id.startswith("20250314-O") for r in orders)
    assert all(r.event is event_of_state(r.order) for r in orders)
    fills = [r.fill for r in records if isinstance(r, FillRecorded)]
    assert fills and all(
        f.fill_id.startswith("20250314-") and f.order_id.startswith("20250314-") for f in fills
    )
    # the broker venue's order is stored (in its last state) before its commands are queued
    order, place, cancel = records[-4:-1]
    assert isinstance(order, OrderUpdated) and order.event is VenueEventKind.CANCEL_REQUESTED
    assert isinstance(place, CommandQueued) and place.command.command == "place"
    assert isinstance(cancel, CommandQueued) and cancel.command.command == "cancel"
    assert sum(isinstance(r, CommandQueued) for r in records) == 2
    (state,) = [r for r in records if isinstance(r, TradingStateChanged)]
    assert len(state.reason) == 2000


def document_with(outbox: list[Any]) -> dict[str, Any]:
    return {**envelope_with([]).to_document(), "outbox": outbox}


@pytest.mark.parametrize(
    ("record", "named"),
    [
        (
            {"type": "OrderShipped", "actor": "signals"},
            r"outbox\[1\] is a 'OrderShipped' record: record: Input tag 'OrderShipped'",
        ),
        (
            {"type": "TradingStateChanged", "actor": "signals", "state": "ACTIVE", "reason": "ok"},
            r"outbox\[1\] is a 'TradingStateChanged' record: ts: Field required",
        ),
        (
            {
                "type": "TradingStateChanged",
                "actor": "signals",
                "state": "FROZEN",
                "reason": "ok",
                "ts": T0.isoformat(),
            },
            r"outbox\[1\] is a 'TradingStateChanged' record: state: Input should be",
        ),
        (
            {
                "type": "IncidentReported",
                "actor": "signals",
                "ts": T0.isoformat(),
                "message": "m",
                "extra": 1,
            },
            r"outbox\[1\] is a 'IncidentReported' record: extra: Extra inputs are not permitted",
        ),
        (
            {"op": "signal", "actor": "signals", "signal": {}},
            r"outbox\[1\] is a record with no type \(keys \['actor', 'op', 'signal'\]\)",
        ),
        ("FillRecorded", r"outbox\[1\] is a str, not a record"),
    ],
)
def test_a_malformed_or_unknown_record_is_refused_naming_it(record: Any, named: str) -> None:
    good = trading_state_record(TradingState.ACTIVE, "limits reset", T0, "signals").model_dump(mode="json")

    with pytest.raises(DomainError, match=r"session document of 2025-03-14: " + named):
        Envelope.from_document(document_with([good, record]), 1)


def test_a_document_of_the_old_format_is_refused_but_its_closing_is_inherited() -> None:
    old = {**document_with([]), "format": 1, "outbox": [{"op": "signal", "actor": "signals", "signal": {}}]}
    old["closing"] = {"equity_usd": "100250.00", "peak_equity_usd": "100400.00", "consecutive_losses": 0}

    with pytest.raises(DomainError, match="2025-03-14 has format=1; this version reads format 2 only"):
        Envelope.from_document(old, 3)
    assert closing_of(old) == old["closing"]
    assert closing_of(document_with([])) is None
    with pytest.raises(DomainError, match="format=3"):
        closing_of({**old, "format": 3})


def test_each_order_status_maps_to_the_event_that_leaves_it_there() -> None:
    venue = BrokerVenue(TradingMode.LIVE)
    order = venue.submit(intent().model_copy(update={"mode": TradingMode.LIVE}), None, T0).orders[0]
    assert event_of_state(order) is VenueEventKind.ACCEPTED
    filled = order.model_copy(update={"status": OrderStatus.FILLED, "filled_quantity": order.quantity})
    assert event_of_state(filled) is VenueEventKind.FILLED
    assert event_of_state(order.model_copy(update={"status": OrderStatus.PENDING_CANCEL})) is (
        VenueEventKind.CANCEL_REQUESTED
    )
    with pytest.raises(DomainError, match="PENDING_SUBMIT"):
        event_of_state(order.model_copy(update={"status": OrderStatus.PENDING_SUBMIT}))
