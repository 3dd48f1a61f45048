"""Honest execution by default: no fill at the snapshot a decision saw, no stale quote used for a
fill, a mark or an entry (a position on a stale chain is flagged), in the engine and in backtests."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal

import numpy as np
import pytest

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.marketdata import MarketDay, datetime_to_ns
from smart0dte.domain.models import DomainError, OptionRight, Underlying
from smart0dte.domain.risk import Controls
from smart0dte.domain.session_engine import (
    MINUTE,
    DecisionRecord,
    EngineConfig,
    SessionEngine,
)
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.domain.venue import BrokerCosts
from smart0dte.services.backtest import BacktestRequest, run_backtest
from tests.unit.domain.test_session_engine import CARRY, DAY, MINUTES, SESSION, WIDE_EXITS, Scripted, make_day

FLAT = np.full(MINUTES, 560.0)


def submitted_at(decisions: list[DecisionRecord]) -> dict[str, datetime]:
    """Order id -> the minute its order was submitted (entries, exits and protective orders)."""
    placed: dict[str, datetime] = {}
    for d in decisions:
        if d.kind in ("order", "exit") and "order_id" in d.detail:
            placed.setdefault(str(d.detail["order_id"]), d.ts)
        if d.kind == "protect":
            for order in d.detail["orders"]:  # type: ignore[attr-defined]
                placed.setdefault(str(order["order_id"]), d.ts)
    return placed


def without_rows(day: MarketDay, first: int, last: int) -> MarketDay:
    """`day` with SPY's chain samples `first`..`last` missing (a feed outage)."""
    chain = day.chains[Underlying.SPY]
    keep = np.r_[0:first, last + 1 : len(chain)]
    gap = replace(
        chain,
        sample_ts_ns=chain.sample_ts_ns[keep],
        bid=chain.bid[keep],
        ask=chain.ask[keep],
        bid_size=chain.bid_size[keep],
        ask_size=chain.ask_size[keep],
    )
    return MarketDay(DAY, day.bars, {Underlying.SPY: gap}, synthetic=True)


# --- latency ----------------------------------------------------------------------------------------


def test_latency_is_never_zero_by_default() -> None:
    config = EngineConfig(settings=WIDE_EXITS.settings)
    assert config.costs.latency_s > 0
    assert config.execution_model()["fills"] == "from the first snapshot sampled after submission + latency"
    research = replace(config, costs=BrokerCosts(latency_s=0))
    assert "research only" in str(research.execution_model()["fills"])


@pytest.mark.parametrize("scenario", [Scenario.GAP_DOWN, Scenario.NORMAL, Scenario.TREND_DOWN])
def test_no_backtest_fill_is_at_the_minute_its_order_was_decided(scenario: Scenario) -> None:
    # Arrange: a week of simulated days, default settings (what `smart0dte backtest` runs)
    request = BacktestRequest(date(2025, 3, 10), date(2025, 3, 14), scenario=scenario, seed=3)

    # Act
    report = run_backtest(request)

    # Assert: every fill comes a minute or more after its order's decision
    fills = 0
    for day in report.days:
        placed = submitted_at(list(day.decisions))
        for d in day.decisions:
            if d.kind == "fill":
                fills += 1
                assert d.ts >= placed[str(d.detail["order_id"])] + MINUTE, (day.session_date, d.detail)
    assert fills > 0 and report.trades


@pytest.mark.parametrize("jump_usd", [1.0, -1.0])
def test_an_entry_decided_at_t_meets_the_quote_of_t_plus_one_not_its_own(jump_usd: float) -> None:
    # SPY moves by `jump_usd` in the minute after the decision (the sample of minute 46 is row 45)
    day = make_day(np.where(np.arange(MINUTES) < 45, 560.0, 560.0 + jump_usd))
    engine = SessionEngine(day, SESSION, WIDE_EXITS, Scripted({45: OptionRight.CALL}), CARRY)
    decided = SESSION.open_et + 45 * MINUTE

    result = engine.run()

    (order,) = [d.detail for d in result.decisions if d.kind == "order"]
    assert order["status"] == "SUBMITTED" and order["filled_quantity"] == 0
    chain = day.chains[Underlying.SPY]
    column = [c.occ_symbol for c in chain.contracts].index(str(order["contract"]))
    ask_at = {SESSION.open_et + (row + 1) * MINUTE: chain.ask[row, column] for row in range(len(chain))}
    limit = Decimal(str(order["limit_price"]))
    assert limit == Decimal(str(ask_at[decided]))  # the limit is the ask its decision saw
    buys = [d for d in result.decisions if d.kind == "fill" and d.detail["side"] == "BUY"]
    if jump_usd > 0:  # the call's next ask is above the limit: no fill, and the entry is not kept
        assert ask_at[decided + MINUTE] > float(limit)
        assert buys == [] and result.trades == []
    else:  # the next ask is below it: bought there, a minute after the decision
        (buy,) = buys
        assert buy.ts == decided + MINUTE
        assert Decimal(str(buy.detail["price"])) == Decimal(str(ask_at[decided + MINUTE])) < limit


# --- stale quotes -----------------------------------------------------------------------------------


def test_a_cut_day_never_sells_at_a_pre_cut_quote() -> None:
    """The audit's finding: with `--data-until` a position open at the cut was sold at the flatten
    against a pre-cut quote (1.30 into a real bid of 0.17). Every fill of a cut day must be one the
    real market offered at its minute: a sale at or below the real bid, a purchase at or above the
    real ask."""
    # Arrange: trend_up seed 1 holds an IWM put from 14:55; the data stops at 15:00
    request = BacktestRequest(DAY, DAY, scenario=Scenario.TREND_UP, seed=1, data_until=time(15, 0))
    full = MarketSimulator().day(DAY, seed=1, scenario=Scenario.TREND_UP).market_day

    # Act
    (day,) = run_backtest(request).days

    # Assert
    fills = [d for d in day.decisions if d.kind == "fill"]
    assert fills
    for fill in fills:
        contract = str(fill.detail["contract"])
        chain = full.chains[Underlying(contract.split()[0])]
        row = chain.sampled_by(datetime_to_ns(fill.ts)) - 1
        column = [c.occ_symbol for c in chain.contracts].index(contract)
        price = float(str(fill.detail["price"]))
        if fill.detail["side"] == "SELL":
            assert price <= chain.bid[row, column], (fill.ts, price, chain.bid[row, column])
        else:
            assert price >= chain.ask[row, column], (fill.ts, price, chain.ask[row, column])
    cut = datetime.combine(DAY, time(15, 0), tzinfo=NEW_YORK)
    assert all(f.ts <= cut for f in fills)
    # the position open at the cut is flagged stale once, then settled at the close as an incident
    (stale,) = [d for d in day.decisions if d.kind == "incident" and d.detail.get("stale_quote")]
    assert stale.ts == cut + 2 * MINUTE  # the 15:00 sample is 120 s old, over the 90 s limit
    assert day.open_positions_at_close == 1
    assert any("held into expiry" in i for i in day.incidents)


def test_a_stale_chain_fills_marks_and_enters_nothing_and_its_position_is_flagged_until_fresh() -> None:
    # Arrange: a call bought at minute 45; SPY's chain misses the samples of minutes 100..119 (sample
    # i is at open + i + 1 minutes); zero latency, so only the stale rule keeps orders off old quotes
    zero_latency = replace(WIDE_EXITS, costs=BrokerCosts(latency_s=0))
    day = without_rows(make_day(FLAT), 99, 118)
    stop_at = SESSION.open_et + 110 * MINUTE

    def controls(now: datetime) -> Controls:
        return Controls(zero_latency.settings, emergency_stop=now >= stop_at)

    source = Scripted({45: OptionRight.CALL, 105: OptionRight.PUT})
    engine = SessionEngine(day, SESSION, zero_latency, source, CARRY, controls)

    # Act
    result = engine.run()

    # Assert: the minute-99 sample is 60 s old at minute 100, 120 s at 101 (over the 90 s limit)
    stale_from = SESSION.open_et + 101 * MINUTE
    fresh_at = SESSION.open_et + 120 * MINUTE
    (flag,) = [d for d in result.decisions if d.kind == "incident" and d.detail.get("stale_quote")]
    assert flag.ts == stale_from and flag.detail["quote_age_s"] == 120.0
    assert result.incidents[0].startswith("INCIDENT: stale quote: SPY")
    # no mark while stale: equity stands where the last fresh minute left it
    marks = dict(result.equity_curve)
    stale_minutes = [stale_from + k * MINUTE for k in range((fresh_at - stale_from) // MINUTE)]
    assert {marks[m] for m in stale_minutes} == {marks[stale_from - MINUTE]}
    # no entry chosen from the stale chain
    (late,) = [
        d.detail for d in result.decisions if d.kind == "risk" and d.detail["signal_id"] == "scripted-105"
    ]
    assert late["contract"] is None and late["approved"] is False
    # the emergency stop's exit, started while stale, fills at the first fresh quote, not at the
    # no-bid price a missing quote would give
    (trade,) = result.trades
    assert next(d.ts for d in result.decisions if d.kind == "exit") == stop_at
    assert (trade.exit_reason, trade.exit_ts) == ("EMERGENCY_STOP", fresh_at)
    assert trade.exit_price > Decimal("0.01")
    assert engine.stale_quotes == {}


def test_max_quote_age_is_checked() -> None:
    with pytest.raises(DomainError, match=r"max_quote_age_s=0 must be within \(0, 3600\]"):
        EngineConfig(settings=WIDE_EXITS.settings, max_quote_age_s=0)


def test_an_emergency_stop_pressed_before_an_entry_traded_cancels_it_unfilled() -> None:
    decided = SESSION.open_et + 45 * MINUTE

    def controls(now: datetime) -> Controls:
        return Controls(WIDE_EXITS.settings, emergency_stop=now > decided)  # pressed within the minute

    engine = SessionEngine(
        make_day(FLAT), SESSION, WIDE_EXITS, Scripted({45: OptionRight.CALL}), CARRY, controls
    )

    result = engine.run()

    (order,) = engine.orders()
    assert (order.status.value, order.filled_quantity) == ("CANCELLED", 0)
    assert order.reason == "emergency stop: no new position" and order.updated_at == decided + MINUTE
    assert result.trades == [] and [d for d in result.decisions if d.kind == "fill"] == []
