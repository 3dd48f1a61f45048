"""After the flatten the trading cycles run every minute to the close through the real handlers:
an exit that cannot fill at the flatten (nobody bids for a while) keeps working and is flat by
the close; one still open five minutes before the close is one audited incident and one alert;
no entry is made from the flatten time on."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from smart0dte.adapters.aws.dynamodb.market import DynamoMarketReader
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.marketdata import MarketDay, datetime_to_ns
from smart0dte.domain.models import OrderStatus, PositionStatus, Side, TradingMode
from smart0dte.domain.session_engine import UNFLAT_ALERT

from .conftest import (
    CALENDAR,
    ENTRY,
    ENTRY_DAY,
    ENTRY_SCENARIO,
    LIMITS,
    SETTINGS,
    Context,
    Gateway,
    at_entry,
    configure,
    load_handler,
    minute_ends,
    simulated,
    store,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
PAPER = TradingMode.PAPER
MINUTE = timedelta(minutes=1)


def _session() -> SessionTimes:
    session = CALENDAR.session(ENTRY_DAY)
    assert session is not None
    return session


SESSION = _session()
HELD = AutomationSettings(
    **{**SETTINGS.model_dump(), "stop_loss_percentage": 0.9, "take_profit_percentage": 5.0}
)
"""Stop and target out of reach: the 09:45 entry is held to the flatten."""


def no_bid_gateway(start: datetime, end: datetime) -> Gateway:
    """The entry day's gateway after the entry minute, with every bid showing 0 contracts for the
    chain samples taken in [start, end), at a tick at least (a worthless contract's zero bid would
    send the exit to market, which sells without a bid): an exit can price at the bid but nothing
    fills."""
    day = simulated(ENTRY_DAY, *ENTRY_SCENARIO)
    chains = {}
    for underlying, chain in day.market_day.chains.items():
        sizes, bids, asks = chain.bid_size.copy(), chain.bid.copy(), chain.ask.copy()
        sampled = chain.sample_ts_ns
        window = (sampled >= datetime_to_ns(start)) & (sampled < datetime_to_ns(end))
        sizes[window, :] = 0
        bids[window, :] = np.maximum(bids[window, :], 0.01)
        asks[window, :] = np.maximum(asks[window, :], bids[window, :])
        chains[underlying] = replace(chain, bid_size=sizes, bid=bids, ask=asks)
    market = MarketDay(ENTRY_DAY, day.market_day.bars, chains, synthetic=True)
    gateway = Gateway(PAPER, replace(day, market_day=market))
    gateway.skip_to(ENTRY)
    return gateway


def held_to_the_flatten(aws: Provisioned, dynamodb: Any, gateway: Gateway) -> None:
    """The 09:45 entry filled (at 09:46's quote), then the data of the three minutes before the
    flatten written."""
    cycle = at_entry(PAPER, aws, dynamodb)
    configure(PAPER, HELD, LIMITS)
    load_handler("execute").handler(cycle.risk, Context())
    assert cycle_at(gateway, ENTRY + MINUTE)["open_positions"] == 1
    gateway.skip_to(SESSION.flatten_et - 3 * MINUTE)
    gateway.write_until(SESSION.flatten_et - MINUTE)


def cycle_at(gateway: Gateway, ts: datetime) -> dict[str, Any]:
    """The minute's data, then its Signals step (after the flatten no candidate reaches Risk)."""
    gateway.write_until(ts)
    signals: dict[str, Any] = load_handler("signals").handler(
        {"mode": "paper", "ts": ts.isoformat()}, Context()
    )
    return signals


def flatten_at_the_flatten_time() -> dict[str, Any]:
    result: dict[str, Any] = load_handler("flatten").handler(
        {"mode": "paper", "ts": SESSION.flatten_et.isoformat()}, Context()
    )
    return result


def after_the_flatten(session_date: date) -> list[datetime]:
    return [ts for ts in minute_ends(session_date, SESSION.close_et) if ts > SESSION.flatten_et]


def test_an_exit_that_cannot_fill_at_the_flatten_keeps_working_and_is_flat_by_the_close(
    aws: Provisioned, dynamodb: Any, alerts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bid_back = SESSION.flatten_et + 3 * MINUTE
    gateway = no_bid_gateway(SESSION.flatten_et - MINUTE, bid_back)
    held_to_the_flatten(aws, dynamodb, gateway)
    market_reads: list[datetime] = []
    known_day = DynamoMarketReader.known_day

    def counted(reader: DynamoMarketReader, session_date: date, ts: datetime) -> MarketDay:
        market_reads.append(ts)
        return known_day(reader, session_date, ts)

    monkeypatch.setattr(DynamoMarketReader, "known_day", counted)

    # the scheduled flatten runs first here (it fires on the minute, the feed's cycle a second later)
    gateway.write_until(SESSION.flatten_et)
    flattened = flatten_at_the_flatten_time()
    late = cycle_at(gateway, SESSION.flatten_et)
    later = [cycle_at(gateway, ts) for ts in after_the_flatten(ENTRY_DAY)]

    assert (flattened["open_positions"], flattened["exits"], flattened["already_observed"]) == (1, 1, False)
    assert flattened["unexited_positions"] == 0  # its exit works: the flatten is done
    assert late["duplicate"] and late["open_positions"] == 1
    open_by_minute = [c["open_positions"] for c in later]
    # nothing fills while nobody bids; the book that comes back bids 0 for the (by then worthless)
    # call, so the working limit is replaced at market then and sells at the next minute's snapshot
    first_flat = open_by_minute.index(0)
    assert later[first_flat]["ts"] == (bid_back + MINUTE).isoformat()
    assert open_by_minute == [1] * first_flat + [0] * (len(later) - first_flat)
    assert all(c["candidates"] == [] for c in later)  # no entry is even proposed after the flatten
    # once flat with nothing working, a cycle has nothing to mark or sell: it reads no market data
    read_at = [SESSION.flatten_et.isoformat(), *(c["ts"] for c in later[: first_flat + 1])]
    assert [ts.isoformat() for ts in market_reads] == read_at
    state = store(PAPER)
    assert state.list_open_positions() == []
    (position,) = state.list_positions(PositionStatus.CLOSED)
    assert position.exit_reason == "TIME_EXIT"
    every_order = [o for status in OrderStatus for o in state.list_orders(status)]
    assert [o.created_at for o in every_order if o.side is Side.BUY] == [ENTRY]
    (sold,) = [o for o in every_order if o.status is OrderStatus.FILLED and o.side is Side.SELL]
    assert sold.filled_quantity == position.quantity
    assert "IncidentReported" not in [r.action for r in state.audit.list_day(ENTRY_DAY)]
    subjects = [a["Subject"] for a in alerts()]
    # no flatten failure (the exit was working), then the exit with its net P&L once the bid came back
    assert [s.split(", net ")[0] for s in subjects] == [
        f"Smart 0DTE paper: closed {' '.join(position.contract.occ_symbol.split())} x{position.quantity}"
    ]


def test_a_position_still_open_five_minutes_before_the_close_is_one_incident_and_one_alert(
    aws: Provisioned, dynamodb: Any, alerts: Any
) -> None:
    gateway = no_bid_gateway(SESSION.flatten_et - MINUTE, SESSION.close_et + MINUTE)
    held_to_the_flatten(aws, dynamodb, gateway)

    at_flatten = cycle_at(gateway, SESSION.flatten_et)  # the feed's cycle, then the scheduled flatten
    flattened = flatten_at_the_flatten_time()
    flatten_alerts = alerts()
    later = [cycle_at(gateway, ts) for ts in after_the_flatten(ENTRY_DAY)]

    assert (at_flatten["open_positions"], at_flatten["exits"]) == (1, 1)
    assert (flattened["open_positions"], flattened["unexited_positions"], flattened["already_observed"]) == (
        1,
        0,
        True,
    )
    assert flatten_alerts == []  # its exit works; what is still open near the close is the incident
    assert [c["open_positions"] for c in later] == [1] * len(later)  # nobody bids to the close
    state = store(PAPER)
    (position,) = state.list_open_positions()
    incidents = [r for r in state.audit.list_day(ENTRY_DAY) if r.action == "IncidentReported"]
    (incident,) = incidents
    assert incident.ts == SESSION.close_et - UNFLAT_ALERT
    assert position.contract.occ_symbol in str(incident.details)
    (alert,) = alerts()
    close_minus_5 = (SESSION.close_et - UNFLAT_ALERT).isoformat()
    assert alert["Subject"] == f"Smart 0DTE paper: 1 incident(s) at {close_minus_5}"
    assert f"{position.contract.occ_symbol} x{position.quantity} is still open 5 minutes" in alert["Message"]
