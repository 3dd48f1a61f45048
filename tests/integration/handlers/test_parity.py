"""Parity: the handlers driven minute by minute over the embedded AWS make the decisions the
in-process backtest makes on the same day with the same settings (`run_day` with `data_until` at
the same cut): the same signals, verdicts, orders and fills, ids and numbers included."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.models import OrderStatus, PositionStatus, TradingMode
from smart0dte.domain.session_engine import EngineConfig
from smart0dte.domain.simulator import Scenario
from smart0dte.domain.venue import qualified
from smart0dte.services.backtest import BacktestRequest, DayJob, run_day

from .conftest import (
    LIMITS,
    SETTINGS,
    Gateway,
    configure,
    minute_ends,
    prepare_session,
    run_cycle,
    simulated,
    store,
)

Row = tuple[object, ...]


def _utc(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


def _price(value: Decimal | None) -> str:
    """Prices to 4 decimals: a stored position keeps its exit price so (0.3400 is 0.34)."""
    return "" if value is None else str(value.quantize(Decimal("0.0001")))


def backtest_rows(session_date: date, scenario: Scenario, seed: int, cut: time) -> dict[str, list[Row]]:
    config = EngineConfig(settings=SETTINGS, limits=LIMITS)
    request = BacktestRequest(
        start=session_date, end=session_date, scenario=scenario, seed=seed, data_until=cut, config=config
    )
    outcome = run_day(DayJob(session_date, request, None))
    cut_at = datetime.combine(session_date, cut, tzinfo=NEW_YORK)
    rows: dict[str, list[Row]] = {"signal": [], "risk": [], "order": [], "fill": [], "position": []}
    protective: dict[str, list[object]] = {}
    orders: dict[str, list[object]] = {}
    for d in outcome.decisions:
        if d.ts > cut_at:
            continue
        x = d.detail
        if d.kind == "signal":
            rows["signal"].append(
                (
                    _utc(d.ts),
                    x["signal_id"],
                    x["strategy"],
                    x["symbol"],
                    x["direction"],
                    x["confidence"],
                    x["rationale"],
                )
            )
        elif d.kind == "risk":
            rows["risk"].append(
                (
                    _utc(d.ts),
                    x["signal_id"],
                    x["approved"],
                    tuple(x["rules"]),
                    tuple(x["violations"]),
                    x["trading_state"],
                    x["quantity"],
                )
            )
        elif d.kind in ("order", "exit"):
            # a decision records the order at its submission; what it filled comes from the fills
            # (with latency an order trades at the next minute, so its state changes after that)
            orders[qualified(session_date, str(x["order_id"]))] = [
                qualified(session_date, str(x["order_id"])),
                x["intent_id"],
                x["contract"],
                x["side"],
                x["quantity"],
                x["limit_price"],
                0,
            ]
        elif d.kind == "protect":
            for o in x["orders"]:  # type: ignore[union-attr]
                order_id = qualified(session_date, str(o["order_id"]))
                row = [
                    order_id,
                    o["intent_id"],
                    o["contract"],
                    o["side"],
                    o["limit_price"],
                    o["stop_price"],
                    0,
                ]
                protective[order_id] = row
        elif d.kind == "fill":
            for placed in (protective, orders):
                if qualified(session_date, str(x["order_id"])) in placed:
                    placed[qualified(session_date, str(x["order_id"]))][-1] += x["quantity"]  # type: ignore[operator]
            rows["fill"].append(
                (
                    qualified(session_date, str(x["fill_id"])),
                    qualified(session_date, str(x["order_id"])),
                    x["contract"],
                    x["side"],
                    x["quantity"],
                    x["price"],
                    x["commission_usd"],
                )
            )
    # a position sold in parts is several round trips; the store keeps it as one closed position:
    # all it held, closed at the last sale, at the quantity-weighted exit price
    by_position: dict[str, list[Any]] = {}
    for t in outcome.trades:
        if t.exit_ts <= cut_at:
            by_position.setdefault(t.position_id, []).append(t)
    rows["position"] = [
        (
            trades[0].position_id,
            str(trades[0].entry_price),
            sum(t.quantity for t in trades),
            _utc(max(t.exit_ts for t in trades)),
            _price(sum(t.exit_price * t.quantity for t in trades) / sum(t.quantity for t in trades)),
            trades[-1].exit_reason,
        )
        for trades in by_position.values()
    ]
    rows["protective"] = [tuple(row) for row in protective.values()]
    rows["order"] = [tuple(row) for row in orders.values()]
    return {k: sorted(v, key=str) for k, v in rows.items()}


def store_rows(mode: TradingMode, session_date: date) -> dict[str, list[Row]]:
    state = store(mode)
    signals = [
        (
            _utc(s.ts),
            s.signal_id,
            s.strategy,
            s.underlying.value,
            s.direction.value,
            round(s.confidence, 4),
            s.rationale,
        )
        for s in state.list_signals(session_date)
    ]
    risks = [
        (
            _utc(r.ts),
            r.signal_id,
            r.verdict.approved,
            r.verdict.rules,
            tuple(str(v) for v in r.verdict.violations),
            r.verdict.trading_state.value,
            r.quantity,
        )
        for r in state.list_risk_decisions(session_date)
    ]
    orders = [o for status in OrderStatus for o in state.list_orders(status)]
    protective = [
        (
            o.order_id,
            o.intent_id,
            o.contract.occ_symbol,
            o.side.value,
            None if o.limit_price is None else str(o.limit_price),
            None if o.stop_price is None else str(o.stop_price),
            o.filled_quantity,
        )
        for o in orders
        if o.oca_group is not None
    ]
    order_rows = [
        (
            o.order_id,
            o.intent_id,
            o.contract.occ_symbol,
            o.side.value,
            o.quantity,
            None if o.limit_price is None else str(o.limit_price),
            o.filled_quantity,
        )
        for o in orders
        if o.oca_group is None
    ]
    fills = [
        (
            f.fill_id,
            f.order_id,
            f.contract.occ_symbol,
            f.side.value,
            f.quantity,
            str(f.price),
            str(f.commission_usd),
        )
        for o in orders
        for f in state.list_fills(o.order_id)
    ]
    positions = [
        (
            p.position_id,
            str(p.entry_price),
            p.quantity,
            _utc(p.closed_at),
            _price(p.exit_price),
            p.exit_reason,
        )
        for p in state.list_positions(PositionStatus.CLOSED)
        if p.closed_at is not None
    ]
    return {
        "position": sorted(positions, key=str),
        "signal": sorted(signals, key=str),
        "risk": sorted(risks, key=str),
        "order": sorted(order_rows, key=str),
        "fill": sorted(fills, key=str),
        "protective": sorted(protective, key=str),
    }


@pytest.mark.parametrize(
    ("session_date", "scenario", "seed"),
    [(date(2025, 3, 13), Scenario.GAP_UP, 5)],
)
def test_the_handlers_decide_what_the_backtest_decides(
    session_date: date, scenario: Scenario, seed: int
) -> None:
    cut = time(11, 0)
    mode = TradingMode.PAPER
    configure(mode)
    gateway = Gateway(mode, simulated(session_date, scenario, seed))
    gateway.write_previous_close()
    assert prepare_session(mode, session_date)["is_session"] is True

    executed: list[dict[str, Any]] = []
    for ts in minute_ends(session_date, datetime.combine(session_date, cut, tzinfo=NEW_YORK)):
        gateway.write_until(ts)
        cycle = run_cycle(mode, ts)
        if cycle.execute is not None:
            executed.append(cycle.execute)

    expected = backtest_rows(session_date, scenario, seed, cut)
    actual = store_rows(mode, session_date)
    for kind in ("signal", "risk", "order", "fill", "position", "protective"):
        assert actual[kind] == expected[kind], kind
    counts = [len(expected[k]) for k in ("signal", "risk", "order", "fill", "position", "protective")]
    assert counts[:5] == [5, 5, 4, 4, 1] and counts[5] >= 2  # exits by protective orders: fewer orders
    assert sum(1 for r in expected["risk"] if not r[2]) == 1  # one refusal among them
    assert executed
