"""Working entry orders count in every risk check; an exit, once started, works until flat (walked
toward the bid, then market; a zero bid does not block it; a thin bid leaves the remainder working);
a position still open five minutes before the close is an incident."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from smart0dte.domain.controls import AutomationSettings, RiskLimits
from smart0dte.domain.exits import EXIT_LIMIT_MINUTES, intrinsic_value
from smart0dte.domain.marketdata import MarketDay
from smart0dte.domain.models import OptionRight, Signal, Underlying
from smart0dte.domain.session_engine import (
    UNFLAT_ALERT,
    AccountCarry,
    EngineConfig,
    SessionEngine,
    SessionResult,
)
from smart0dte.domain.venue import BrokerCosts
from tests.unit.domain.test_session_engine import (
    CARRY,
    DAY,
    MINUTES,
    SESSION,
    WIDE_EXITS,
    Scripted,
    make_day,
)

ONE_SNAPSHOT = BrokerCosts(latency_s=60.0)
"""Orders go live at the next chain sample: an entry is pending for one minute."""
FLATTEN_ROW = int((SESSION.flatten_et - SESSION.open_et).total_seconds() // 60) - 1
"""The chain sample the engine sees at the flatten time (sample i is at open + i + 1 minutes)."""
FLAT_PATH = np.full(MINUTES, 560.0)


class Burst:
    """At each given minute, one CALL signal per target delta (distinct contracts)."""

    def __init__(self, minutes: set[int], deltas: tuple[float, ...] = (0.3, 0.4, 0.5)) -> None:
        self.minutes = minutes
        self.deltas = deltas

    def signals(self, known: MarketDay, now: datetime) -> list[Signal]:
        minute = int((now - SESSION.open_et).total_seconds() // 60)
        if minute not in self.minutes:
            return []
        return [
            Signal(
                signal_id=f"burst-{minute}-{i}",
                ts=now.astimezone(UTC),
                underlying=Underlying.SPY,
                direction=OptionRight.CALL,
                strategy="burst",
                confidence=0.9 - i / 100,
                rationale="burst",
                target_delta=delta,
            )
            for i, delta in enumerate(self.deltas)
        ]


def with_latency(config: EngineConfig, **limits: object) -> EngineConfig:
    return replace(config, costs=ONE_SNAPSHOT, limits=RiskLimits(**limits))  # type: ignore[arg-type]


def risk_records(result: SessionResult) -> list[dict[str, object]]:
    return [d.detail for d in result.decisions if d.kind == "risk"]


def sells(result: SessionResult) -> list[dict[str, object]]:
    return [d.detail for d in result.decisions if d.kind == "fill" and d.detail["side"] == "SELL"]


# --- pending entries count ------------------------------------------------------------------------


def test_with_latency_entries_of_one_minute_cannot_exceed_max_positions() -> None:
    config = replace(
        with_latency(WIDE_EXITS, min_seconds_between_trades=0),
        settings=WIDE_EXITS.settings.model_copy(update={"max_positions": 2}),
    )

    result = SessionEngine(make_day(FLAT_PATH), SESSION, config, Burst({60}), CARRY).run()

    verdicts = risk_records(result)
    assert [v["approved"] for v in verdicts] == [True, True, False]
    assert "MAX_POSITIONS" in verdicts[2]["rules"]  # type: ignore[operator]
    assert result.max_open_positions == 2
    assert len({t.contract for t in result.trades}) == 2


def test_with_latency_the_spacing_rule_blocks_the_same_minute_and_counts_from_submission() -> None:
    config = with_latency(WIDE_EXITS, min_seconds_between_trades=300)
    # the first entry is submitted at minute 60 and fills at 61: minute 65 is 300 s after the
    # submission (approved), 240 s after the fill; minute 64 is 240 s after the submission
    source = Burst({60, 64, 65}, deltas=(0.4, 0.3))

    result = SessionEngine(make_day(FLAT_PATH), SESSION, config, source, CARRY).run()

    by_signal = {str(v["signal_id"]): v for v in risk_records(result)}
    assert by_signal["burst-60-0"]["approved"] is True
    assert by_signal["burst-60-1"]["rules"] == ["MIN_TIME_BETWEEN_TRADES"]
    assert by_signal["burst-64-0"]["rules"] == ["MIN_TIME_BETWEEN_TRADES"]
    assert by_signal["burst-65-0"]["approved"] is True
    buys = [d for d in result.decisions if d.kind == "fill" and d.detail["side"] == "BUY"]
    assert buys[0].ts == SESSION.open_et + timedelta(minutes=61)


def test_with_latency_a_pending_entry_counts_as_premium_at_risk_of_its_underlying() -> None:
    # one entry's premium (at most 2% of equity by sizing) fits under 3%, two do not
    config = with_latency(WIDE_EXITS, min_seconds_between_trades=0, max_symbol_exposure=0.03)

    result = SessionEngine(make_day(FLAT_PATH), SESSION, config, Burst({60}, (0.4, 0.5)), CARRY).run()

    first, second = risk_records(result)
    assert first["approved"] is True
    assert second["approved"] is False and "SYMBOL_EXPOSURE" in second["rules"]  # type: ignore[operator]


def test_with_latency_a_pending_entry_counts_as_a_day_trade() -> None:
    small = AccountCarry(
        equity_usd=Decimal("20000"), peak_equity_usd=Decimal("20000"), day_trades_in_window=2
    )
    config = with_latency(WIDE_EXITS, min_seconds_between_trades=0)

    result = SessionEngine(make_day(FLAT_PATH), SESSION, config, Burst({60}, (0.4, 0.5)), small).run()

    first, second = risk_records(result)
    assert first["approved"] is True
    assert second["rules"] == ["PATTERN_DAY_TRADER"]


# --- flat before expiry ----------------------------------------------------------------------------


def test_a_zero_bid_at_the_flatten_goes_to_market_and_is_flat_a_minute_after_the_flatten() -> None:
    day = make_day(FLAT_PATH)
    chain = day.chains[Underlying.SPY]
    bid = chain.bid.copy()
    bid[FLATTEN_ROW:, :] = 0.0  # nobody bids from the flatten time on
    broken = MarketDay(DAY, day.bars, {Underlying.SPY: replace(chain, bid=bid)}, synthetic=True)

    result = SessionEngine(
        broken, SESSION, WIDE_EXITS, Scripted({MINUTES - 60: OptionRight.CALL}), CARRY
    ).run()

    (trade,) = result.trades
    # decided at the flatten, sold at the next minute's snapshot
    assert (trade.exit_reason, trade.exit_ts) == ("TIME_EXIT", SESSION.flatten_et + timedelta(minutes=1))
    # a market sell without a bid: the larger of the minimum tick and the intrinsic value
    intrinsic = intrinsic_value(trade.contract.right, trade.contract.strike, 560.0)
    assert trade.exit_price == max(Decimal("0.01"), Decimal(str(intrinsic)).quantize(Decimal("0.01")))
    (exit_order,) = [d.detail for d in result.decisions if d.kind == "exit"]
    assert exit_order["status"] == "SUBMITTED" and exit_order["limit_price"] is None
    assert result.incidents == [] and result.open_positions_at_close == 0


def test_a_missing_quote_at_the_flatten_does_not_block_the_exit() -> None:
    day = make_day(FLAT_PATH)
    chain = day.chains[Underlying.SPY]
    bid = chain.bid.copy()
    bid[FLATTEN_ROW:, :] = np.nan  # the book vanishes from the flatten time on
    broken = MarketDay(DAY, day.bars, {Underlying.SPY: replace(chain, bid=bid)}, synthetic=True)

    result = SessionEngine(
        broken, SESSION, WIDE_EXITS, Scripted({MINUTES - 60: OptionRight.CALL}), CARRY
    ).run()

    (trade,) = result.trades
    assert (trade.exit_reason, trade.exit_ts) == ("TIME_EXIT", SESSION.flatten_et + timedelta(minutes=1))
    assert result.incidents == [] and result.portfolio.open_positions == []


ENTRY_BID_SIZE = 4
"""Bids show 4 contracts until they thin out: entries are capped to what the bid shows."""


def thin_from(row: int, size: int, path: np.ndarray = FLAT_PATH) -> MarketDay:
    """The day with bids of `ENTRY_BID_SIZE` contracts, and `size` from chain sample `row` on."""
    day = make_day(path)
    chain = day.chains[Underlying.SPY]
    bid_size = np.full(chain.bid_size.shape, ENTRY_BID_SIZE, dtype=np.int64)
    bid_size[row:, :] = size
    return MarketDay(DAY, day.bars, {Underlying.SPY: replace(chain, bid_size=bid_size)}, synthetic=True)


def test_a_thin_bid_at_the_flatten_sells_what_it_shows_each_minute_and_is_flat_by_the_close() -> None:
    day = thin_from(FLATTEN_ROW, 1)

    result = SessionEngine(day, SESSION, WIDE_EXITS, Scripted({MINUTES - 60: OptionRight.CALL}), CARRY).run()

    held = sum(t.quantity for t in result.trades)
    assert held == ENTRY_BID_SIZE  # four minutes of one-lot bids to sell it
    sold = sells(result)
    assert [s["quantity"] for s in sold] == [1] * held
    fill_minutes = [d.ts for d in result.decisions if d.kind == "fill" and d.detail["side"] == "SELL"]
    # The bid decays faster than the ladder walks, so each order misses at the next minute's
    # snapshot until the market order placed at minute EXIT_LIMIT_MINUTES: one lot a minute from
    # the minute after it, each after the minute its order was placed.
    first_fill = SESSION.flatten_et + (EXIT_LIMIT_MINUTES + 1) * timedelta(minutes=1)
    assert fill_minutes == [first_fill + k * timedelta(minutes=1) for k in range(held)]
    placed = {str(d.detail["order_id"]): d.ts for d in result.decisions if d.kind == "exit"}
    assert all(s_ts > placed[str(s["order_id"])] for s_ts, s in zip(fill_minutes, sold, strict=True))
    assert all(t.exit_reason == "TIME_EXIT" for t in result.trades)
    assert result.portfolio.open_positions == [] and result.open_positions_at_close == 0
    # its last lot sells after the unflat alert: reported once
    assert fill_minutes[-1] > SESSION.close_et - UNFLAT_ALERT
    (incident,) = result.incidents
    assert "still open 5 minutes before the close" in incident
    # the bid decays: the exit is walked below it each minute it stops being marketable, then goes
    # to market, and the market order's remainder keeps working (no new exit for its last lot)
    exits = [d.detail for d in result.decisions if d.kind == "exit"]
    assert [e["minutes_working"] for e in exits] == list(range(len(exits)))
    assert exits[-1]["limit_price"] is None and len(exits) < held
    assert sold[-1]["order_id"] == sold[-2]["order_id"] == exits[-1]["order_id"]


def test_a_partly_filled_stop_keeps_its_remainder_working_after_the_price_recovers() -> None:
    # the call is bought at minute 45; SPY drops through its stop at minute 101, then recovers
    path = np.concatenate([np.full(100, 560.0), np.full(3, 559.2), np.full(MINUTES - 103, 561.0)])
    stop_row = 100  # the sample seen at minute 101 (bar and sample i close at open + i + 1)
    day = thin_from(stop_row, 1, path)
    config = replace(
        WIDE_EXITS,
        settings=AutomationSettings(masterSwitch=True, stopLossPercentage=0.3, takeProfitPercentage=5),
    )

    result = SessionEngine(day, SESSION, config, Scripted({45: OptionRight.CALL}), CARRY).run()

    held = sum(t.quantity for t in result.trades)
    assert held == ENTRY_BID_SIZE
    assert {t.exit_reason for t in result.trades} == {"STOP_LOSS"}
    fill_minutes = [d.ts for d in result.decisions if d.kind == "fill" and d.detail["side"] == "SELL"]
    stopped = SESSION.open_et + timedelta(minutes=101)
    assert fill_minutes == [stopped + k * timedelta(minutes=1) for k in range(held)]
    # one exit decision started it; the rest are the same exit re-priced, never a new trigger
    exits = [d.detail for d in result.decisions if d.kind == "exit"]
    assert exits[0]["minutes_working"] == 0
    assert all(e["reason"] == "STOP_LOSS" for e in exits)


def test_a_position_still_open_five_minutes_before_the_close_is_an_incident_once() -> None:
    # the bid disappears entirely (size 0) from the flatten: nothing sells until the close
    day = thin_from(FLATTEN_ROW, 0)

    result = SessionEngine(day, SESSION, WIDE_EXITS, Scripted({MINUTES - 60: OptionRight.CALL}), CARRY).run()

    unflat = [
        d for d in result.decisions if d.kind == "incident" and "before the close" in str(d.detail["message"])
    ]
    (record,) = unflat
    (trade,) = result.trades
    assert record.ts == SESSION.close_et - UNFLAT_ALERT
    assert record.detail["contract"] == trade.contract.occ_symbol
    assert record.detail["quantity"] == trade.quantity
    assert str(record.detail["position_id"]) == trade.position_id
    # the exit went to market and kept working; the close settles what the book never took
    exits = [d.detail for d in result.decisions if d.kind == "exit"]
    assert exits[-1]["limit_price"] is None
    assert trade.exit_reason == "EXPIRY_SETTLEMENT"


def test_an_exit_in_progress_survives_the_state_round_trip() -> None:
    day = thin_from(FLATTEN_ROW, 1)
    source = Scripted({MINUTES - 60: OptionRight.CALL})
    engine = SessionEngine(day, SESSION, WIDE_EXITS, source, CARRY)
    now = SESSION.open_et + timedelta(minutes=1)
    while now <= SESSION.flatten_et + timedelta(minutes=1):
        engine.step(now)
        now += timedelta(minutes=1)
    assert engine.exiting and engine.venue.working_orders()

    restored = SessionEngine.from_state(engine.to_state(), day, SESSION, WIDE_EXITS, source)

    assert restored.exiting == engine.exiting
    assert restored.to_state() == engine.to_state()
    while now <= SESSION.close_et:
        engine.step(now)
        restored.step(now)
        now += timedelta(minutes=1)
    assert restored.to_state() == engine.to_state()
    assert restored.portfolio.open_positions == []


def test_after_the_flatten_a_flat_engines_minute_does_not_depend_on_the_market() -> None:
    # what lets the trading cycle skip the market read then (services.trading_cycle)
    day = make_day(FLAT_PATH)
    source = Scripted({MINUTES - 60: OptionRight.CALL})
    engine = SessionEngine(day, SESSION, WIDE_EXITS, source, CARRY)
    now = SESSION.open_et + timedelta(minutes=1)
    while now <= SESSION.flatten_et or engine.portfolio.open_positions:
        engine.step(now)
        now += timedelta(minutes=1)
    assert now < SESSION.close_et
    assert engine.portfolio.closed and not engine.portfolio.open_positions
    assert not engine.venue.working_orders()
    no_market = MarketDay(DAY, {}, {}, synthetic=False)

    with_market = SessionEngine.from_state(engine.to_state(), day, SESSION, WIDE_EXITS, source)
    without = SessionEngine.from_state(engine.to_state(), no_market, SESSION, WIDE_EXITS, source)
    seen = with_market.observe(now)
    blind = without.observe(now)

    assert (blind.signals, blind.open_positions, blind.effects) == (seen.signals, 0, seen.effects)
    assert without.to_state() == with_market.to_state()
    assert without.portfolio.equity_curve[-1] == with_market.portfolio.equity_curve[-1]
