import random
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart0dte.domain.aggregation import (
    BarGap,
    ChainSkipped,
    ChainSnapshotAggregator,
    MinuteBarAggregator,
    QuoteIssue,
    QuotesExcluded,
    floor_minute_ns,
    quote_issue,
)
from smart0dte.domain.marketdata import NS_PER_MINUTE, NS_PER_SECOND, datetime_to_ns, ns_to_datetime
from smart0dte.domain.models import Bar, ChainSnapshot, DomainError, OptionContract, OptionRight, Underlying

T0 = datetime_to_ns(datetime(2025, 3, 14, 14, 30, tzinfo=UTC))
S = NS_PER_SECOND
M = NS_PER_MINUTE
EXPIRY = date(2025, 3, 14)


def _only_bars(out: list[Bar | BarGap]) -> list[Bar]:
    return [o for o in out if isinstance(o, Bar)]


def _bar_aggregator(*symbols: str, grace_s: float = 2.0) -> MinuteBarAggregator:
    return MinuteBarAggregator(symbols or ("SPY",), T0, close_grace_s=grace_s)


# --- MinuteBarAggregator -------------------------------------------------------------------


def test_trades_become_one_bar_stamped_with_the_open_time_once_a_later_record_arrives() -> None:
    agg = _bar_aggregator("SPY")
    assert agg.add_trade("SPY", T0 + 1 * S, 560.0, 100, 1) == []
    assert agg.add_trade("SPY", T0 + 20 * S, 561.5, 50, 2) == []
    assert agg.add_trade("SPY", T0 + 40 * S, 559.0, 10, 3) == []
    assert agg.add_trade("SPY", T0 + M - 1, 560.25, 5, 4) == []  # last nanosecond: still open

    out = agg.add_trade("SPY", T0 + M, 560.5, 7, 5)

    assert out == [
        Bar(symbol="SPY", ts=ns_to_datetime(T0), open=560.0, high=561.5, low=559.0, close=560.25, volume=165)
    ]
    assert agg.open_minute_ns == T0 + M


def test_a_record_of_any_symbol_past_the_minute_end_closes_every_symbol() -> None:
    agg = _bar_aggregator("SPY", "QQQ")
    agg.add_trade("SPY", T0 + 5 * S, 560.0, 1, 1)
    agg.add_trade("QQQ", T0 + 6 * S, 480.0, 2, 2)

    out = agg.add_trade("SPY", T0 + M + 1 * S, 561.0, 1, 3)

    assert [(b.symbol, b.ts, b.close) for b in _only_bars(out)] == [
        ("QQQ", ns_to_datetime(T0), 480.0),
        ("SPY", ns_to_datetime(T0), 560.0),
    ]


def test_the_clock_closes_a_quiet_minute_only_after_the_grace() -> None:
    agg = _bar_aggregator("SPY", grace_s=2.0)
    agg.add_trade("SPY", T0 + 30 * S, 560.0, 1, 1)

    assert agg.advance_to(T0 + M + 2 * S - 1) == []
    out = agg.advance_to(T0 + M + 2 * S)

    assert [b.ts for b in _only_bars(out)] == [ns_to_datetime(T0)]
    assert agg.advance_to(T0 + M + 30 * S) == []  # already closed: no duplicate bar


def test_out_of_order_records_inside_the_open_minute_are_applied_by_timestamp() -> None:
    agg = _bar_aggregator("SPY")
    agg.add_trade("SPY", T0 + 30 * S, 561.0, 1, 3)
    agg.add_trade("SPY", T0 + 10 * S, 560.0, 1, 1)  # earlier: becomes the open
    agg.add_trade("SPY", T0 + 50 * S, 562.0, 1, 4)
    agg.add_trade("SPY", T0 + 20 * S, 558.0, 1, 2)  # earlier than the close: close unchanged

    (bar,) = _only_bars(agg.advance_to(T0 + 2 * M))

    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (560.0, 562.0, 558.0, 562.0, 4)


def test_a_record_for_a_closed_minute_is_counted_late_and_never_revises_the_bar() -> None:
    agg = _bar_aggregator("SPY")
    agg.add_trade("SPY", T0 + 10 * S, 560.0, 1, 1)
    (published,) = _only_bars(agg.add_trade("SPY", T0 + M + 1 * S, 561.0, 1, 2))

    assert agg.add_trade("SPY", T0 + 59 * S, 999.0, 1_000, 3) == []

    assert agg.stats.late == 1
    assert published.high == 560.0
    (next_bar,) = _only_bars(agg.advance_to(T0 + 3 * M))
    assert (next_bar.ts, next_bar.high, next_bar.volume) == (ns_to_datetime(T0 + M), 561.0, 1)


def test_records_before_the_start_are_late() -> None:
    agg = _bar_aggregator("SPY")

    assert agg.add_trade("SPY", T0 - 1, 560.0, 1, 1) == []

    assert agg.stats.late == 1


def test_a_replayed_trade_is_ignored_but_a_distinct_trade_at_the_same_instant_counts() -> None:
    agg = _bar_aggregator("SPY")
    agg.add_trade("SPY", T0 + 31 * S, 307.97, 700, 87442)
    agg.add_trade("SPY", T0 + 31 * S, 307.97, 200, 87443)  # same ns, next sequence: a real trade
    agg.add_trade("SPY", T0 + 31 * S, 307.97, 700, 87442)  # replay after reconnect

    (bar,) = _only_bars(agg.advance_to(T0 + 2 * M))

    assert bar.volume == 900
    assert agg.stats.duplicates == 1


def test_one_second_bars_aggregate_and_a_replayed_second_is_ignored() -> None:
    agg = _bar_aggregator("SPY")
    agg.add_bar("SPY", T0, 1, 560.0, 560.5, 559.5, 560.2, 100)
    agg.add_bar("SPY", T0 + 59 * S, 1, 561.0, 561.4, 560.9, 561.3, 50)
    agg.add_bar("SPY", T0, 1, 560.0, 560.5, 559.5, 560.2, 100)  # replayed

    (bar,) = _only_bars(agg.advance_to(T0 + 2 * M))

    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (560.0, 561.4, 559.5, 561.3, 150)
    assert agg.stats.duplicates == 1


def test_a_one_minute_bar_passes_through_and_closes_on_the_clock() -> None:
    agg = _bar_aggregator("SPY")
    agg.add_bar("SPY", T0, 60, 560.0, 561.0, 559.0, 560.5, 1_000)

    assert agg.advance_to(T0 + M + 1 * S) == []
    (bar,) = _only_bars(agg.advance_to(T0 + M + 2 * S))

    assert (bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        ns_to_datetime(T0),
        560.0,
        561.0,
        559.0,
        560.5,
        1_000,
    )


def test_a_minute_without_records_gets_no_bar_and_a_gap_is_reported() -> None:
    agg = _bar_aggregator("SPY", "IWM")
    agg.add_trade("SPY", T0 + 5 * S, 560.0, 1, 1)
    agg.add_trade("IWM", T0 + 6 * S, 205.0, 1, 2)

    out = agg.add_trade("SPY", T0 + 3 * M + 1 * S, 562.0, 1, 3)  # minutes 1 and 2 silent

    assert [b.symbol for b in _only_bars(out)] == ["IWM", "SPY"]
    assert [o for o in out if isinstance(o, BarGap)] == [
        BarGap("IWM", ns_to_datetime(T0 + M), 2),
        BarGap("SPY", ns_to_datetime(T0 + M), 2),
    ]
    assert agg.stats.missing_minutes == 4

    out = agg.advance_to(T0 + 4 * M + 2 * S)  # IWM silent in minute 3, SPY traded
    assert [b.symbol for b in _only_bars(out)] == ["SPY"]
    assert [o for o in out if isinstance(o, BarGap)] == [BarGap("IWM", ns_to_datetime(T0 + 3 * M), 1)]


@pytest.mark.parametrize(
    ("ohlc", "volume"),
    [
        ((0.0, 1.0, 0.0, 1.0), 10),
        ((-1.0, 1.0, -1.0, 1.0), 10),
        ((1.0, 1.0, 2.0, 1.0), 10),  # low above high
        ((1.0, 2.0, 0.5, 3.0), 10),  # close above high
        ((float("nan"), 1.0, 1.0, 1.0), 10),
        ((1.0, 1.0, 1.0, 1.0), -1),
    ],
)
def test_invalid_bar_records_are_counted_and_dropped(
    ohlc: tuple[float, float, float, float], volume: int
) -> None:
    agg = _bar_aggregator("SPY")

    assert agg.add_bar("SPY", T0, 1, *ohlc, volume) == []

    assert agg.stats.invalid == 1
    assert _only_bars(agg.advance_to(T0 + 2 * M)) == []


@pytest.mark.parametrize(("price", "size"), [(0.0, 1), (-560.0, 1), (560.0, 0), (float("inf"), 1)])
def test_invalid_trades_are_counted_and_dropped(price: float, size: int) -> None:
    agg = _bar_aggregator("SPY")

    agg.add_trade("SPY", T0 + 1 * S, price, size, 1)

    assert agg.stats.invalid == 1
    assert _only_bars(agg.advance_to(T0 + 2 * M)) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": (), "start_ts_ns": T0}, "symbols"),
        ({"symbols": ("SPY",), "start_ts_ns": T0 + 1}, "start_ts_ns"),
        ({"symbols": ("SPY",), "start_ts_ns": T0, "close_grace_s": -1.0}, "close_grace_s=-1.0 must be >= 0"),
        (
            {"symbols": ("SPY",), "start_ts_ns": T0, "close_grace_s": 60.0},
            "close_grace_s=60.0 must be >= 0 and < 60",
        ),
    ],
)
def test_bad_bar_aggregator_configuration_names_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DomainError, match=message):
        MinuteBarAggregator(**kwargs)  # type: ignore[arg-type]


def test_bad_records_raise_errors_naming_the_field() -> None:
    agg = _bar_aggregator("SPY")
    with pytest.raises(DomainError, match="symbol='AAPL'"):
        agg.add_trade("AAPL", T0, 1.0, 1, 1)
    with pytest.raises(DomainError, match="interval_s=7 must divide 60"):
        agg.add_bar("SPY", T0, 7, 1.0, 1.0, 1.0, 1.0, 1)
    with pytest.raises(DomainError, match="not on a 5 s boundary"):
        agg.add_bar("SPY", T0 + 1 * S, 5, 1.0, 1.0, 1.0, 1.0, 1)


_TRADE = st.tuples(
    st.integers(min_value=0, max_value=6 * M - 1),  # offset from T0
    st.integers(min_value=1, max_value=1_000),  # price in cents
    st.integers(min_value=1, max_value=500),  # size
)
_EVENT = st.one_of(
    st.tuples(st.just("trade"), st.sampled_from(["SPY", "QQQ"]), _TRADE),
    st.tuples(st.just("tick"), st.just(""), st.tuples(st.integers(0, 7 * M), st.just(0), st.just(0))),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_EVENT, max_size=60))
def test_property_no_bar_before_its_close_no_duplicates_and_every_share_accounted(
    events: list[tuple[str, str, tuple[int, int, int]]],
) -> None:
    agg = MinuteBarAggregator(("SPY", "QQQ"), T0, close_grace_s=2.0)
    known_until_ns = T0  # the latest instant the aggregator has evidence of
    emitted: list[Bar] = []
    volume_in = 0
    late_volume = 0
    for trade_id, (kind, symbol, (offset, cents, size)) in enumerate(events):
        ts_ns = T0 + offset
        known_until_ns = max(known_until_ns, ts_ns)
        if kind == "tick":
            out = agg.advance_to(ts_ns)
        else:
            late_before = agg.stats.late
            out = agg.add_trade(symbol, ts_ns, cents / 100, size, trade_id)
            volume_in += size
            late_volume += size if agg.stats.late > late_before else 0
        for bar in _only_bars(out):
            assert datetime_to_ns(bar.ts) + M <= known_until_ns
        emitted.extend(_only_bars(out))
    emitted.extend(_only_bars(agg.advance_to(T0 + 10 * M)))

    keys = [(b.symbol, b.ts) for b in emitted]
    assert len(keys) == len(set(keys))
    assert sum(b.volume for b in emitted) + late_volume == volume_in


@settings(max_examples=100, deadline=None)
@given(st.lists(_TRADE, min_size=1, max_size=40, unique_by=lambda t: t[0]), st.randoms(use_true_random=False))
def test_property_bars_do_not_depend_on_the_order_within_a_minute(
    trades: list[tuple[int, int, int]], rnd: random.Random
) -> None:
    def run(order: list[tuple[int, int, int]]) -> list[Bar]:
        agg = MinuteBarAggregator(("SPY",), T0)
        bars: list[Bar] = []
        for offset, cents, size in order:
            bars.extend(_only_bars(agg.add_trade("SPY", T0 + offset, cents / 100, size, offset)))
        return bars + _only_bars(agg.advance_to(T0 + 10 * M))

    in_order = sorted(trades)
    shuffled = sorted(trades, key=lambda t: (floor_minute_ns(t[0]), rnd.random()))

    expected: dict[int, list[tuple[int, int, int]]] = {}
    for trade in in_order:
        expected.setdefault(floor_minute_ns(trade[0]), []).append(trade)
    reference = [
        (
            T0 + minute,
            group[0][1] / 100,
            max(t[1] for t in group) / 100,
            min(t[1] for t in group) / 100,
            group[-1][1] / 100,
            sum(t[2] for t in group),
        )
        for minute, group in sorted(expected.items())
    ]
    for bars in (run(in_order), run(shuffled)):
        assert [(datetime_to_ns(b.ts), b.open, b.high, b.low, b.close, b.volume) for b in bars] == reference


# --- ChainSnapshotAggregator ---------------------------------------------------------------


def _contract(strike: float, right: OptionRight = OptionRight.CALL, expiry: date = EXPIRY) -> OptionContract:
    return OptionContract(root="SPY", expiry=expiry, right=right, strike=strike)


def _chain_aggregator(grace_s: float = 2.0) -> ChainSnapshotAggregator:
    return ChainSnapshotAggregator((Underlying.SPY,), EXPIRY, T0, close_grace_s=grace_s)


def _snapshots(out: list[ChainSnapshot | QuotesExcluded | ChainSkipped]) -> list[ChainSnapshot]:
    return [o for o in out if isinstance(o, ChainSnapshot)]


def test_a_snapshot_is_stamped_at_the_minute_end_with_the_latest_quote_per_contract() -> None:
    agg = _chain_aggregator()
    agg.update_underlying(Underlying.SPY, T0 + 30 * S, 560.0)
    agg.update_quote(_contract(560), T0 + 10 * S, 1.00, 1.10, 5, 6)
    agg.update_quote(_contract(560), T0 + 40 * S, 1.20, 1.30, 7, 8)
    agg.update_quote(_contract(561), T0 + M, 0.80, 0.90, 1, 2)  # stamped at the end: belongs to it

    assert agg.advance_to(T0 + M + 2 * S - 1) == []
    out = agg.update_quote(_contract(560), T0 + M + 1, 9.0, 9.5, 1, 1)  # after the end: closes it

    (snapshot,) = _snapshots(out)
    assert snapshot.ts == ns_to_datetime(T0 + M)
    assert snapshot.underlying_price == 560.0
    assert [(q.contract.strike, q.bid, q.ask, q.bid_size, q.ask_size) for q in snapshot.quotes] == [
        (560.0, 1.20, 1.30, 7, 8),
        (561.0, 0.80, 0.90, 1, 2),
    ]


def test_the_underlying_price_is_the_last_one_known_at_the_sample_time() -> None:
    agg = _chain_aggregator()
    agg.update_underlying(Underlying.SPY, T0 + 50 * S, 560.0)
    agg.update_underlying(Underlying.SPY, T0 + M, 561.0)
    agg.update_underlying(Underlying.SPY, T0 + M + 1, 999.0)  # after the sample: look-ahead

    (snapshot,) = _snapshots(agg.advance_to(T0 + M + 2 * S))

    assert snapshot.underlying_price == 561.0


def test_the_clock_samples_quiet_minutes_with_the_book_carried_forward() -> None:
    agg = _chain_aggregator()
    agg.update_underlying(Underlying.SPY, T0 + 1 * S, 560.0)
    agg.update_quote(_contract(560), T0 + 5 * S, 1.0, 1.1, 1, 1)

    snapshots = _snapshots(agg.advance_to(T0 + 3 * M + 2 * S))

    assert [s.ts for s in snapshots] == [ns_to_datetime(T0 + k * M) for k in (1, 2, 3)]
    assert all(s.quotes[0].bid == 1.0 for s in snapshots)
    assert agg.last_sample_ns == T0 + 3 * M


def test_unusable_quotes_are_left_out_and_counted_by_reason() -> None:
    agg = _chain_aggregator()
    agg.update_underlying(Underlying.SPY, T0, 560.0)
    agg.update_quote(_contract(555), T0 + 1 * S, 5.0, 5.2, 1, 1)  # good
    agg.update_quote(_contract(556), T0 + 1 * S, 4.5, 4.4, 1, 1)  # crossed
    agg.update_quote(_contract(557), T0 + 1 * S, 3.5, 3.5, 1, 1)  # locked
    agg.update_quote(_contract(558), T0 + 1 * S, 0.0, 0.05, 0, 10)  # zero bid
    agg.update_quote(_contract(559), T0 + 1 * S, -0.1, 0.05, 1, 1)  # negative
    agg.update_quote(_contract(565), T0 + 1 * S, None, 0.05, 0, 1)  # one side only
    agg.update_quote(_contract(566), T0 + 1 * S, None, None, 0, 0)  # no price at all

    out = agg.advance_to(T0 + M + 2 * S)

    (snapshot,) = _snapshots(out)
    assert [q.contract.strike for q in snapshot.quotes] == [555.0]
    (excluded,) = [o for o in out if isinstance(o, QuotesExcluded)]
    assert excluded == QuotesExcluded(
        Underlying.SPY,
        ns_to_datetime(T0 + M),
        no_quote=1,
        one_sided=1,
        nonpositive=1,
        no_bid=1,
        crossed=1,
        locked=1,
    )
    assert excluded.total == 6
    stats = agg.stats
    counted = (stats.no_quote, stats.one_sided, stats.nonpositive, stats.no_bid, stats.crossed, stats.locked)
    assert counted == (1, 1, 1, 1, 1, 1)


def test_a_crossed_update_replaces_a_good_quote_so_the_contract_drops_out() -> None:
    agg = _chain_aggregator()
    agg.update_underlying(Underlying.SPY, T0, 560.0)
    agg.update_quote(_contract(560), T0 + 1 * S, 1.0, 1.1, 1, 1)
    agg.update_quote(_contract(560), T0 + 2 * S, 1.2, 1.1, 1, 1)

    (snapshot,) = _snapshots(agg.advance_to(T0 + M + 2 * S))

    assert snapshot.quotes == ()


def test_an_older_quote_never_overwrites_a_newer_one() -> None:
    agg = _chain_aggregator()
    agg.update_underlying(Underlying.SPY, T0, 560.0)
    agg.update_quote(_contract(560), T0 + 20 * S, 1.2, 1.3, 1, 1)
    agg.update_quote(_contract(560), T0 + 10 * S, 1.0, 1.1, 1, 1)

    (snapshot,) = _snapshots(agg.advance_to(T0 + M + 2 * S))

    assert snapshot.quotes[0].bid == 1.2
    assert agg.stats.out_of_order == 1


def test_a_late_quote_misses_its_snapshot_but_updates_the_next() -> None:
    agg = _chain_aggregator()
    agg.update_underlying(Underlying.SPY, T0, 560.0)
    (first,) = _snapshots(agg.advance_to(T0 + M + 2 * S))

    agg.update_quote(_contract(560), T0 + 30 * S, 1.0, 1.1, 1, 1)

    assert first.quotes == ()
    assert agg.stats.late == 1
    (second,) = _snapshots(agg.advance_to(T0 + 2 * M + 2 * S))
    assert [q.bid for q in second.quotes] == [1.0]


def test_other_expiries_are_ignored_and_no_price_means_no_snapshot() -> None:
    agg = _chain_aggregator()
    agg.update_quote(_contract(560, expiry=date(2025, 3, 17)), T0 + 1 * S, 1.0, 1.1, 1, 1)

    out = agg.advance_to(T0 + M + 2 * S)

    assert out == [
        ChainSkipped(
            Underlying.SPY, ns_to_datetime(T0 + M), "no underlying price at or before the sample time"
        )
    ]
    assert (agg.stats.other_chain, agg.stats.quotes, agg.stats.skipped) == (1, 0, 1)


def test_snapshot_quotes_are_sorted_calls_then_puts_by_strike() -> None:
    agg = _chain_aggregator()
    agg.update_underlying(Underlying.SPY, T0, 560.0)
    for strike, right in [
        (561, OptionRight.PUT),
        (559, OptionRight.CALL),
        (559, OptionRight.PUT),
        (561, OptionRight.CALL),
    ]:
        agg.update_quote(_contract(strike, right), T0 + 1 * S, 1.0, 1.1, 1, 1)

    (snapshot,) = _snapshots(agg.advance_to(T0 + M + 2 * S))

    assert [(q.contract.right, q.contract.strike) for q in snapshot.quotes] == [
        (OptionRight.CALL, 559.0),
        (OptionRight.CALL, 561.0),
        (OptionRight.PUT, 559.0),
        (OptionRight.PUT, 561.0),
    ]


def test_bad_chain_configuration_and_values_raise_errors_naming_the_field() -> None:
    with pytest.raises(DomainError, match="VIX is an index"):
        ChainSnapshotAggregator((Underlying.VIX,), EXPIRY, T0)
    with pytest.raises(DomainError, match="underlyings must name"):
        ChainSnapshotAggregator((), EXPIRY, T0)
    with pytest.raises(DomainError, match="start_ts_ns"):
        ChainSnapshotAggregator((Underlying.SPY,), EXPIRY, T0 + 1)
    agg = _chain_aggregator()
    with pytest.raises(DomainError, match="underlying=QQQ"):
        agg.update_underlying(Underlying.QQQ, T0, 480.0)
    agg.update_underlying(Underlying.SPY, T0, 0.0)
    assert agg.stats.invalid_underlying == 1


@pytest.mark.parametrize(
    ("bid", "ask", "issue"),
    [
        (1.0, 1.1, None),
        (None, None, QuoteIssue.NO_QUOTE),
        (float("nan"), None, QuoteIssue.NO_QUOTE),
        (None, 1.1, QuoteIssue.ONE_SIDED),
        (1.0, float("nan"), QuoteIssue.ONE_SIDED),
        (0.05, 0.0, QuoteIssue.NONPOSITIVE),
        (-0.01, 0.05, QuoteIssue.NONPOSITIVE),
        (0.0, 0.05, QuoteIssue.NO_BID),
        (1.2, 1.1, QuoteIssue.CROSSED),
        (1.1, 1.1, QuoteIssue.LOCKED),
    ],
)
def test_quote_issue_classifies_a_top_of_book(
    bid: float | None, ask: float | None, issue: QuoteIssue | None
) -> None:
    assert quote_issue(bid, ask) is issue


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4 * M), st.sampled_from([560.0, 561.0, 562.0])),
        max_size=50,
    ),
    st.lists(st.integers(0, 5 * M), max_size=10),
)
def test_property_a_snapshot_holds_exactly_the_latest_quote_stamped_at_or_before_it(
    quotes: list[tuple[int, float]], ticks: list[int]
) -> None:
    # The bid encodes the quote's own timestamp, so a snapshot shows where each quote came from.
    agg = _chain_aggregator(grace_s=0.0)
    agg.update_underlying(Underlying.SPY, T0, 560.0)
    events = sorted([(t, 0, strike) for t, strike in quotes] + [(t, 1, 0.0) for t in ticks])
    snapshots: list[ChainSnapshot] = []
    for ts_offset, is_tick, strike in events:
        if is_tick:
            snapshots += _snapshots(agg.advance_to(T0 + ts_offset))
        else:
            bid = 1 + ts_offset / M
            snapshots += _snapshots(agg.update_quote(_contract(strike), T0 + ts_offset, bid, bid + 1, 1, 1))
    snapshots += _snapshots(agg.advance_to(T0 + 6 * M))

    assert [datetime_to_ns(s.ts) for s in snapshots] == [T0 + k * M for k in range(1, 7)]
    for snapshot in snapshots:
        sample = datetime_to_ns(snapshot.ts) - T0
        for quote in snapshot.quotes:
            stamped = [t for t, strike in quotes if strike == quote.contract.strike and t <= sample]
            assert quote.bid == 1 + max(stamped) / M
        expected_strikes = sorted({strike for t, strike in quotes if t <= sample})
        assert [q.contract.strike for q in snapshot.quotes] == expected_strikes
