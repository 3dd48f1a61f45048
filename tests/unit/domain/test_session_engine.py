"""The session engine over a small hand-built day: entries, exits, limits, stops, determinism."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart0dte.domain.calendar import MarketCalendar, SessionTimes
from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.exits import EXIT_LIMIT_MINUTES
from smart0dte.domain.marketdata import NS_PER_MINUTE, BarSeries, ChainSeries, MarketDay, datetime_to_ns
from smart0dte.domain.models import OptionContract, OptionRight, Signal, Underlying
from smart0dte.domain.pricing import bsm_price, t_years_from_minutes
from smart0dte.domain.risk import Controls
from smart0dte.domain.session_engine import MINUTE, UNFLAT_ALERT, AccountCarry, EngineConfig, SessionEngine

DAY = date(2025, 3, 14)
SESSION: SessionTimes = MarketCalendar().session(DAY)  # type: ignore[assignment]
OPEN_NS = datetime_to_ns(SESSION.open_et)
MINUTES = SESSION.minutes
STRIKES = np.arange(540.0, 581.0)
CONFIG = EngineConfig(settings=AutomationSettings(masterSwitch=True))
WIDE_EXITS = replace(
    CONFIG, settings=AutomationSettings(masterSwitch=True, stopLossPercentage=0.9, takeProfitPercentage=5)
)
"""Stops and targets too far away to trigger: only time and the emergency stop close positions."""
CARRY = AccountCarry(equity_usd=Decimal("100000"), peak_equity_usd=Decimal("100000"))


def make_day(path: np.ndarray) -> MarketDay:
    """SPY closes follow `path` (one per minute); its chain is priced at 20% vol every minute end."""
    assert path.size == MINUTES
    opens = np.concatenate([[path[0]], path[:-1]])
    bars = BarSeries(
        "SPY",
        OPEN_NS + np.arange(MINUTES, dtype=np.int64) * NS_PER_MINUTE,
        opens,
        np.maximum(opens, path) + 0.05,
        np.minimum(opens, path) - 0.05,
        path.copy(),
        np.full(MINUTES, 10_000, dtype=np.int64),
    )
    contracts = tuple(
        OptionContract(root="SPY", expiry=DAY, right=right, strike=k)
        for right in OptionRight
        for k in STRIKES
    )
    strike = np.array([c.strike for c in contracts])
    is_call = np.array([c.right is OptionRight.CALL for c in contracts])
    minutes_left = MINUTES - 1 - np.arange(MINUTES)  # sample i is at open + (i + 1) minutes
    t_years = t_years_from_minutes(np.maximum(minutes_left, 0.5))[:, None]
    fair = bsm_price(path[:, None], strike[None, :], t_years, 0.04, 0.012, 0.20, is_call[None, :])
    bid = np.round(np.maximum(fair - 0.02, 0.0), 2)
    ask = np.round(fair + 0.02, 2)
    sizes = np.full(bid.shape, 100, dtype=np.int64)
    chain = ChainSeries(
        Underlying.SPY,
        DAY,
        contracts,
        OPEN_NS + (1 + np.arange(MINUTES, dtype=np.int64)) * NS_PER_MINUTE,
        bid,
        ask,
        sizes,
        sizes.copy(),
    )
    return MarketDay(DAY, {"SPY": bars}, {Underlying.SPY: chain}, synthetic=True)


class Scripted:
    """Emits a CALL (or PUT) signal at the given minutes after the open."""

    def __init__(self, minutes: dict[int, OptionRight], confidence: float = 0.8) -> None:
        self.minutes = minutes
        self.confidence = confidence
        self.seen_until: list[int] = []

    def signals(self, known: MarketDay, now: datetime) -> list[Signal]:
        self.seen_until.append(int(known.bars["SPY"].close_ts_ns[-1]) if len(known.bars["SPY"]) else 0)
        minute = int((now - SESSION.open_et).total_seconds() // 60)
        right = self.minutes.get(minute)
        if right is None:
            return []
        return [
            Signal(
                signal_id=f"scripted-{minute}",
                ts=now.astimezone(UTC),
                underlying=Underlying.SPY,
                direction=right,
                strategy="scripted",
                confidence=self.confidence,
                rationale=f"scripted at minute {minute}",
                target_delta=0.4,
            )
        ]


def run(path: np.ndarray, source: Scripted, config: EngineConfig = CONFIG, controls=None):  # type: ignore[no-untyped-def]
    return SessionEngine(make_day(path), SESSION, config, source, CARRY, controls).run()


def test_a_rally_takes_profit_and_every_step_is_recorded() -> None:
    path = np.concatenate([np.full(60, 560.0), np.linspace(560, 566, MINUTES - 60)])
    result = run(path, Scripted({45: OptionRight.CALL}))
    (trade,) = result.trades
    assert trade.exit_reason == "TAKE_PROFIT"
    assert trade.pnl_usd > 0
    assert trade.quantity >= 1
    assert float(trade.entry_price) * 100 * trade.quantity <= 0.02 * 100_000
    kinds = [d.kind for d in result.decisions]
    assert kinds[:5] == ["signal", "risk", "order", "fill", "protect"]
    # the target rested at the venue from the entry fill and sold at its limit
    (protect,) = [d.detail for d in result.decisions if d.kind == "protect"]
    target = next(o for o in protect["orders"] if o["limit_price"] is not None)
    assert trade.exit_price == Decimal(target["limit_price"])
    assert result.open_positions_at_close == 0
    assert result.incidents == []
    assert len(result.equity_curve) == MINUTES


def test_a_drop_stops_out() -> None:
    path = np.concatenate([np.full(60, 560.0), np.linspace(560, 555, MINUTES - 60)])
    (trade,) = run(path, Scripted({45: OptionRight.CALL})).trades
    assert trade.exit_reason == "STOP_LOSS"
    assert trade.pnl_usd < 0


def test_flat_market_is_flattened_from_the_flatten_time() -> None:
    path = np.full(MINUTES, 560.0)
    result = run(path, Scripted({MINUTES - 60: OptionRight.CALL}), WIDE_EXITS)
    (trade,) = result.trades
    assert trade.exit_reason == "TIME_EXIT"
    assert next(d.ts for d in result.decisions if d.kind == "exit") == SESSION.flatten_et
    # each exit order trades at the next minute's snapshot; the ladder goes to market by its
    # EXIT_LIMIT_MINUTES-th minute, so the sale lands by one minute after that
    assert SESSION.flatten_et < trade.exit_ts <= SESSION.flatten_et + (EXIT_LIMIT_MINUTES + 1) * MINUTE
    assert trade.exit_ts < SESSION.close_et - UNFLAT_ALERT
    assert result.open_positions_at_close == 0 and result.incidents == []


def test_no_signal_is_asked_for_at_or_after_the_flatten_time_and_none_looks_ahead() -> None:
    source = Scripted({})
    run(np.full(MINUTES, 560.0), source)
    flatten_minute = int((SESSION.flatten_et - SESSION.open_et).total_seconds() // 60)
    assert len(source.seen_until) == flatten_minute - 1
    # At minute end t the newest bar the source saw closed at t exactly.
    expected = [OPEN_NS + (i + 1) * NS_PER_MINUTE for i in range(flatten_minute - 1)]
    assert source.seen_until == expected


def test_a_position_asked_closed_exits_from_that_minute_end_and_the_others_stay() -> None:
    asked_at = SESSION.open_et + timedelta(minutes=100)

    def controls(now: datetime) -> Controls:
        calls = {
            p.position_id for p in engine.portfolio.open_positions if p.contract.right is OptionRight.CALL
        }
        return Controls(WIDE_EXITS.settings, close_requests=frozenset(calls if now >= asked_at else ()))

    source = Scripted({45: OptionRight.CALL, 60: OptionRight.PUT})
    engine = SessionEngine(make_day(np.full(MINUTES, 560.0)), SESSION, WIDE_EXITS, source, CARRY, controls)
    result = engine.run()

    by_right = {t.contract.right: t for t in result.trades}
    # decided at the minute it was asked, sold at the next minute's snapshot (its bid held)
    assert (by_right[OptionRight.CALL].exit_reason, by_right[OptionRight.CALL].exit_ts) == (
        "MANUAL",
        asked_at + MINUTE,
    )
    (manual,) = [d for d in result.decisions if d.kind == "exit" and d.detail["reason"] == "MANUAL"]
    assert manual.ts == asked_at
    assert by_right[OptionRight.PUT].exit_reason != "MANUAL"  # not asked: it decays to its own exit


def test_emergency_stop_sells_at_the_next_snapshot_and_blocks_entries() -> None:
    pressed_at = SESSION.open_et + timedelta(minutes=100)

    def controls(now: datetime) -> Controls:
        return Controls(WIDE_EXITS.settings, emergency_stop=now >= pressed_at)

    path = np.full(MINUTES, 560.0)
    result = run(path, Scripted({45: OptionRight.CALL, 120: OptionRight.PUT}), WIDE_EXITS, controls)
    (trade,) = result.trades
    assert trade.exit_reason == "EMERGENCY_STOP"
    assert next(d.ts for d in result.decisions if d.kind == "exit") == pressed_at
    assert trade.exit_ts == pressed_at + MINUTE
    late = [d for d in result.decisions if d.kind == "risk" and d.detail["signal_id"] == "scripted-120"]
    assert late[0].detail["approved"] is False
    assert "EMERGENCY_STOP" in late[0].detail["rules"]  # type: ignore[operator]


def test_a_position_still_open_at_the_close_is_settled_and_reported() -> None:
    # the engine is stopped before the flatten (a feed that went silent), then the close settles
    engine = SessionEngine(
        make_day(np.full(MINUTES, 560.0)),
        SESSION,
        WIDE_EXITS,
        Scripted({MINUTES - 60: OptionRight.CALL}),
        CARRY,
    )
    now = SESSION.open_et + timedelta(minutes=1)
    while now < SESSION.flatten_et:
        engine.step(now)
        now += timedelta(minutes=1)
    (held,) = engine.portfolio.open_positions

    engine.settle(SESSION.close_et)

    (trade,) = engine.portfolio.closed
    assert (trade.exit_reason, trade.quantity) == ("EXPIRY_SETTLEMENT", held.quantity)
    assert engine.incidents and "held into expiry" in engine.incidents[0]
    assert engine.portfolio.open_positions == [] and engine.exiting == {}


def test_replay_is_deterministic() -> None:
    path = 560 + np.cumsum(np.random.default_rng(7).normal(0, 0.2, MINUTES))
    script = {m: (OptionRight.CALL if m % 2 else OptionRight.PUT) for m in range(5, 380, 20)}
    first = run(path, Scripted(script))
    second = run(path, Scripted(script))
    assert [(d.ts, d.kind, d.detail) for d in first.decisions] == [
        (d.ts, d.kind, d.detail) for d in second.decisions
    ]
    assert first.portfolio.equity_usd() == second.portfolio.equity_usd()


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    max_positions=st.integers(1, 4),
    signal_minutes=st.sets(st.integers(0, MINUTES), min_size=1, max_size=40),
)
def test_limits_hold_on_random_days(seed: int, max_positions: int, signal_minutes: set[int]) -> None:
    path = 560 + np.cumsum(np.random.default_rng(seed).normal(0, 0.25, MINUTES))
    config = replace(
        CONFIG,
        settings=AutomationSettings(masterSwitch=True, maxPositions=max_positions),
        limits=CONFIG.limits.model_copy(update={"min_seconds_between_trades": 0}),
    )
    rights = {m: OptionRight.CALL if (m + seed) % 3 else OptionRight.PUT for m in signal_minutes}
    result = run(path, Scripted(rights), config)
    assert result.max_open_positions <= max_positions
    assert result.open_positions_at_close == 0
    for trade in result.trades:
        assert trade.entry_ts < SESSION.flatten_et
        # exits start by the flatten and trade at the next snapshots: market by the ladder's end
        assert trade.exit_ts <= SESSION.flatten_et + (EXIT_LIMIT_MINUTES + 1) * MINUTE
    for decision in result.decisions:
        if decision.kind == "risk" and not decision.detail["approved"]:
            assert decision.detail["rules"]
    final = result.portfolio
    assert final.equity_usd() == final.cash_usd  # flat: equity is all cash
    assert result.equity_curve[-1][1] == final.equity_usd()


def test_bad_wiring_is_refused() -> None:
    with pytest.raises(ValueError, match="does not match market day"):
        SessionEngine(
            make_day(np.full(MINUTES, 560.0)),
            replace(SESSION, session_date=date(2025, 3, 13)),
            CONFIG,
            Scripted({}),
            CARRY,
        )


def test_entries_never_exceed_what_the_bid_could_take_back() -> None:
    day = make_day(np.full(MINUTES, 560.0))
    chain = day.chains[Underlying.SPY]
    thin_bids = replace(chain, bid_size=np.full(chain.bid.shape, 3, dtype=np.int64))
    thin = MarketDay(DAY, day.bars, {Underlying.SPY: thin_bids}, synthetic=True)
    result = SessionEngine(thin, SESSION, WIDE_EXITS, Scripted({60: OptionRight.CALL}), CARRY).run()
    (trade,) = result.trades
    assert trade.quantity == 3


def test_open_positions_count_toward_the_portfolio_delta_limit() -> None:
    config = replace(
        WIDE_EXITS,
        limits=CONFIG.limits.model_copy(update={"min_seconds_between_trades": 0, "max_portfolio_delta": 1.0}),
    )
    result = run(np.full(MINUTES, 560.0), Scripted({60: OptionRight.CALL, 61: OptionRight.CALL}), config)
    first, second = (d for d in result.decisions if d.kind == "risk")
    assert first.detail["approved"] is True
    # The first call already uses most of the 1x-equity dollar-delta budget, so the second gets
    # at most what is left (here nothing) instead of a fresh budget.
    assert second.detail["approved"] is False
    assert second.detail["rules"] == ["ZERO_QUANTITY"]  # sized to the delta room left: none
    # A ~0.4-delta call on $560 is ~$22,400 of dollar delta per contract: at most 4 fit in $100,000.
    assert 1 <= int(first.detail["quantity"]) <= 4
