"""LiveMarketFeed against a fake databento.Live: real databento_dbn records, no network, no sleeps.

Each dataset's reconnect loop runs on a thread as in production; the test thread plays the
gateway (pushes records, drops connections) and the clock, and waits on events, never on time.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import databento
import databento_dbn as dbn
import pytest

from smart0dte.adapters.databento.live import (
    Backoff,
    Connected,
    Disconnected,
    FeedConfig,
    FeedConfigError,
    FeedError,
    FeedOutput,
    GatewayError,
    LiveMarketFeed,
    ReconnectAbandoned,
    Reconnecting,
    Recovered,
    Stale,
    databento_client_factory,
)
from smart0dte.domain.aggregation import BarGap, QuotesExcluded
from smart0dte.domain.marketdata import NS_PER_MINUTE, NS_PER_SECOND, datetime_to_ns, ns_to_datetime
from smart0dte.domain.models import Bar, ChainSnapshot, Underlying

T0 = datetime_to_ns(datetime(2025, 3, 14, 14, 30, tzinfo=UTC))
S = NS_PER_SECOND
M = NS_PER_MINUTE
TODAY = date(2025, 3, 14)
OPRA, EQUS = "OPRA.PILLAR", "EQUS.MINI"
WAIT_S = 5.0
FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "databento"


# --- fakes ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, ts_ns: int) -> None:
        self.ts_ns = ts_ns

    def now(self) -> datetime:
        return ns_to_datetime(self.ts_ns)


class FakeLive:
    """Plays databento.Live: records subscriptions; the test pushes records or drops the link."""

    def __init__(self, gateway: FakeGateway) -> None:
        self._gateway = gateway
        self._callback: Callable[[Any], None] | None = None
        self._closed = threading.Event()
        self._error: Exception | None = None
        self.started = threading.Event()
        self.subscriptions: list[tuple[str, str, tuple[str, ...], str, int | None]] = []
        self.terminated = False

    def add_callback(
        self,
        record_callback: Callable[[Any], None],
        exception_callback: Callable[[Exception], None] | None = None,
    ) -> None:
        self._callback = record_callback

    def subscribe(
        self, dataset: str, schema: str, symbols: Sequence[str], stype_in: str, start: int | None = None
    ) -> int:
        self._gateway.on_subscribe(self, dataset)
        self.subscriptions.append((dataset, schema, tuple(symbols), stype_in, start))
        return len(self.subscriptions) - 1

    def start(self) -> None:
        self.started.set()

    def block_for_close(self, timeout: float | None = None) -> None:
        assert self._closed.wait(WAIT_S), "the test never closed this fake session"
        if self._error is not None:
            raise self._error

    def terminate(self) -> None:
        self.terminated = True
        self._closed.set()

    def push(self, *records: object) -> None:
        assert self._callback is not None
        for record in records:
            self._callback(record)

    def drop(self, reason: str = "connection lost") -> None:
        self._error = databento.BentoError(reason)
        self._closed.set()


class FakeGateway:
    """Hands out FakeLive clients; `refuse(dataset, n)` makes the next n subscriptions fail."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.clients: dict[str, list[FakeLive]] = {OPRA: [], EQUS: []}
        self.created: list[FakeLive] = []
        self._refusals: dict[str, int] = {}

    def create(self) -> FakeLive:
        client = FakeLive(self)
        self.created.append(client)
        return client

    def refuse(self, dataset: str, count: int) -> None:
        self._refusals[dataset] = count

    def on_subscribe(self, client: FakeLive, dataset: str) -> None:
        if self._refusals.get(dataset, 0) > 0:
            self._refusals[dataset] -= 1
            raise databento.BentoError(f"Connection to {dataset.lower()} failed: refused")
        with self._lock:
            if client not in self.clients[dataset]:
                self.clients[dataset].append(client)
                self._lock.notify_all()

    def client(self, dataset: str, index: int) -> FakeLive:
        """The `index`-th client of `dataset`, once it is streaming."""
        with self._lock:
            assert self._lock.wait_for(lambda: len(self.clients[dataset]) > index, WAIT_S)
            client = self.clients[dataset][index]
        assert client.started.wait(WAIT_S)
        return client


class Harness:
    def __init__(self, config: FeedConfig, start_ns: int = T0 + 5 * S, session_date: date = TODAY) -> None:
        self.clock = FakeClock(start_ns)
        self.gateway = FakeGateway()
        self.outputs: list[FeedOutput] = []
        self.sleeps: list[float] = []
        self.sleeping = threading.Event()
        self.wake = threading.Event()
        self.hold_sleep = False
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self.feed = LiveMarketFeed(
            config,
            self.outputs.append,
            clock=self.clock,
            session_date=session_date,
            client_factory=self.gateway.create,
            sleep=self._sleep,
            seed=7,
        )

    def _sleep(self, delay_s: float) -> None:
        self.sleeps.append(delay_s)
        if self.hold_sleep:
            self.sleeping.set()
            assert self.wake.wait(WAIT_S)
            self.wake.clear()

    def run(self, dataset: str) -> FakeLive:
        """Start `dataset`'s reconnect loop on a thread; return its first streaming client."""

        def target() -> None:
            try:
                self.feed.run_dataset(dataset)
            except BaseException as exc:
                self.errors.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self.gateway.client(dataset, 0)

    def close(self) -> None:
        self.wake.set()
        self.feed.stop()
        for thread in self._threads:
            thread.join(WAIT_S)
            assert not thread.is_alive()
        assert self.errors == []

    def at(self, ts_ns: int) -> None:
        self.clock.ts_ns = ts_ns

    def tick_at(self, ts_ns: int) -> None:
        self.at(ts_ns)
        self.feed.tick()

    def of(self, kind: type[Any]) -> list[Any]:
        return [o for o in self.outputs if isinstance(o, kind)]


@pytest.fixture
def make_harness() -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(config: FeedConfig | None = None, **kwargs: Any) -> Harness:
        harness = Harness(config or FeedConfig(underlyings=(Underlying.SPY,)), **kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


# --- record builders (the real databento_dbn classes) ---------------------------------------


def _px(price_usd: float | None) -> int:
    return dbn.UNDEF_PRICE if price_usd is None else round(price_usd * dbn.FIXED_PRICE_SCALE)


def mapping(instrument_id: int, symbol: str, parent: str | None = None) -> dbn.SymbolMappingMsg:
    return dbn.SymbolMappingMsg(
        publisher_id=0,
        instrument_id=instrument_id,
        ts_event=T0,
        stype_in=dbn.SType.PARENT if parent else dbn.SType.RAW_SYMBOL,
        stype_in_symbol=parent or symbol,
        stype_out=dbn.SType.RAW_SYMBOL,
        stype_out_symbol=symbol,
        start_ts=0,
        end_ts=0,
    )


def definition(instrument_id: int, occ: str) -> dbn.InstrumentDefMsg:
    return dbn.InstrumentDefMsg(
        publisher_id=30,
        instrument_id=instrument_id,
        ts_event=T0,
        ts_recv=T0,
        min_price_increment=_px(0.01),
        display_factor=_px(1.0),
        raw_symbol=occ,
        asset=occ[:6].strip(),
        security_type="OOSTK",
        instrument_class=dbn.InstrumentClass.CALL if occ[12] == "C" else dbn.InstrumentClass.PUT,
        security_update_action=dbn.SecurityUpdateAction.ADD,
    )


def sec_bar(instrument_id: int, open_ts_ns: int, price_usd: float, volume: int = 100) -> dbn.OHLCVMsg:
    return dbn.OHLCVMsg(
        rtype=dbn.RType.OHLCV_1S,
        publisher_id=95,
        instrument_id=instrument_id,
        ts_event=open_ts_ns,
        open=_px(price_usd),
        high=_px(price_usd + 0.05),
        low=_px(price_usd - 0.05),
        close=_px(price_usd),
        volume=volume,
    )


def cbbo(
    instrument_id: int,
    ts_recv_ns: int,
    bid: float | None,
    ask: float | None,
    sizes: tuple[int, int] = (10, 20),
) -> dbn.CBBOMsg:
    return dbn.CBBOMsg(
        rtype=dbn.RType.CBBO_1S,
        publisher_id=30,
        instrument_id=instrument_id,
        ts_event=ts_recv_ns - 300_000_000,
        price=dbn.UNDEF_PRICE,
        size=0,
        side=dbn.Side.NONE,
        ts_recv=ts_recv_ns,
        levels=dbn.ConsolidatedBidAskPair(bid_px=_px(bid), ask_px=_px(ask), bid_sz=sizes[0], ask_sz=sizes[1]),
    )


def cmbp1(
    instrument_id: int,
    ts_recv_ns: int,
    bid: float | None,
    ask: float | None,
    sizes: tuple[int, int] = (10, 20),
) -> dbn.CMBP1Msg:
    return dbn.CMBP1Msg(
        rtype=dbn.RType.CMBP_1,
        publisher_id=30,
        instrument_id=instrument_id,
        ts_event=ts_recv_ns - 1_000,
        price=_px(bid),
        size=1,
        action=dbn.Action.ADD,
        side=dbn.Side.BID,
        ts_recv=ts_recv_ns,
        levels=dbn.ConsolidatedBidAskPair(bid_px=_px(bid), ask_px=_px(ask), bid_sz=sizes[0], ask_sz=sizes[1]),
    )


def replay_completed() -> dbn.SystemMsg:
    return dbn.SystemMsg(ts_event=T0, msg="Replay completed", code=dbn.SystemCode.REPLAY_COMPLETED)


SPY_ID = 15144


# --- configuration and backoff -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"underlyings": ()}, "underlyings must name"),
        ({"underlyings": (Underlying.SPY, Underlying.SPY)}, "has duplicates"),
        ({"underlyings": (Underlying.VIX,)}, "VIX is an index"),
        ({"options_schema": "mbp-1"}, "options_schema='mbp-1' must be one of"),
        ({"equities_schema": "ohlcv-1h"}, "equities_schema='ohlcv-1h' must be one of"),
        ({"equities_dataset": "OPRA.PILLAR"}, "must differ"),
        ({"options_dataset": ""}, "must not be empty"),
        ({"stale_after_s": 0.0}, "stale_after_s=0.0 must be > 0"),
        ({"close_grace_s": 60.0}, "close_grace_s=60.0 must be >= 0 and < 60"),
        ({"tick_interval_s": 0.0}, "tick_interval_s=0.0 must be > 0"),
    ],
)
def test_bad_feed_configuration_names_the_field_and_limit(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(FeedConfigError, match=message):
        FeedConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_delay_s": 0.0}, "backoff.base_delay_s=0.0 must be > 0"),
        ({"base_delay_s": 2.0, "max_delay_s": 1.0}, "backoff.max_delay_s=1.0 must be >= base_delay_s=2.0"),
        ({"max_attempts": 0}, "backoff.max_attempts=0 must be >= 1"),
        ({"stable_after_s": -1.0}, "backoff.stable_after_s=-1.0 must be >= 0"),
    ],
)
def test_bad_backoff_names_the_field_and_limit(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(FeedConfigError, match=message):
        Backoff(**kwargs)


def test_backoff_is_full_jitter_under_a_doubling_capped_ceiling_and_reproducible() -> None:
    backoff = Backoff(base_delay_s=0.5, max_delay_s=8.0)

    ceilings = [backoff.ceiling_s(n) for n in range(1, 9)]
    draws = [[backoff.delay_s(n, rng) for n in range(1, 9)] for rng in (random.Random(1), random.Random(1))]
    many = [backoff.delay_s(3, random.Random(seed)) for seed in range(300)]

    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert draws[0] == draws[1]
    assert all(0 <= d <= c for d, c in zip(draws[0], ceilings, strict=True))
    assert 0 <= min(many) < 0.2 and 1.8 < max(many) <= 2.0  # spread over the whole [0, ceiling]
    assert backoff.ceiling_s(10_000) == 8.0
    with pytest.raises(FeedConfigError, match="attempt=0 must be >= 1"):
        backoff.ceiling_s(0)


def test_the_client_factory_needs_a_key_and_never_echoes_it() -> None:
    with pytest.raises(FeedConfigError, match="the Databento API key is required"):
        databento_client_factory(api_key="")
    with pytest.raises(FeedConfigError) as blank:
        databento_client_factory(api_key="   \t")
    assert "\t" not in str(blank.value)
    with pytest.raises(FeedConfigError, match="heartbeat_interval_s=2 must be between 5 and 1800"):
        databento_client_factory(api_key="db-secret-key", heartbeat_interval_s=2)

    client = databento_client_factory(api_key="db-secret-key")()

    assert isinstance(client, databento.Live)
    assert client.key == "db-secret-key"
    assert not client.is_connected()  # creating a client opens no connection


# --- subscriptions, conversion, aggregation ------------------------------------------------


def test_both_datasets_are_subscribed_with_replay_from_the_first_unpublished_instant(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(FeedConfig())

    options = harness.run(OPRA)
    equities = harness.run(EQUS)

    parents = ("SPY.OPT", "QQQ.OPT", "IWM.OPT")
    assert options.subscriptions == [
        (OPRA, "definition", parents, "parent", T0 + 1),
        (OPRA, "cbbo-1s", parents, "parent", T0 + 1),
    ]
    assert equities.subscriptions == [(EQUS, "ohlcv-1s", ("SPY", "QQQ", "IWM"), "raw_symbol", T0)]
    assert {(e.dataset, e.attempt, e.replay_from) for e in harness.of(Connected)} == {
        (OPRA, 0, ns_to_datetime(T0 + 1)),
        (EQUS, 0, ns_to_datetime(T0)),
    }


def test_one_second_bars_become_a_closed_minute_bar_when_the_stream_passes_the_minute(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness()
    equities = harness.run(EQUS)
    equities.push(mapping(SPY_ID, "SPY"), mapping(99, "TSLA"))

    equities.push(*(sec_bar(SPY_ID, T0 + k * S, 560 + k / 100) for k in range(60)))
    assert harness.of(Bar) == []
    equities.push(sec_bar(SPY_ID, T0 + M, 561.0))

    assert harness.of(Bar) == [
        Bar(
            symbol="SPY",
            ts=ns_to_datetime(T0),
            open=560.0,
            high=560.64,
            low=559.95,
            close=560.59,
            volume=6_000,
        )
    ]
    equities.push(sec_bar(99, T0 + M + S, 250.0), sec_bar(4242, T0 + M + S, 1.0))  # not ours / unmapped
    stats = harness.feed.stats()
    assert (stats.records[EQUS], stats.unmapped[EQUS], stats.bars.records) == (65, 1, 61)


@pytest.mark.parametrize("schema", ["ohlcv-1s", "trades"])
def test_real_equs_mini_records_aggregate_to_the_vendors_own_minute_bars(
    make_harness: Callable[..., Harness], schema: str
) -> None:
    records = list(databento.DBNStore.from_file(FIXTURES / "EQUS.MINI" / f"test_data.{schema}.dbn.zst"))
    vendor = list(databento.DBNStore.from_file(FIXTURES / "EQUS.MINI" / "test_data.ohlcv-1m.dbn.zst"))
    first_minute_ns = vendor[0].ts_event
    harness = make_harness(
        FeedConfig(underlyings=(Underlying.QQQ,), equities_schema=schema),
        start_ns=first_minute_ns + 5 * S,
        session_date=ns_to_datetime(first_minute_ns).date(),
    )
    equities = harness.run(EQUS)
    equities.push(mapping(records[0].instrument_id, "QQQ"), *records)
    last_ns = max(r.ts_event for r in records)
    harness.tick_at(last_ns - last_ns % M + M + 2 * S)

    bars = harness.of(Bar)
    covered = [v for v in vendor if v.ts_event <= last_ns]
    assert len(covered) >= 1
    if schema == "trades":  # the sample holds only the first trades of the second minute
        covered = covered[:1]
        bars = bars[:1]
    assert [(datetime_to_ns(b.ts), b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (v.ts_event, v.open / 1e9, v.high / 1e9, v.low / 1e9, v.close / 1e9, v.volume) for v in covered
    ]


@pytest.mark.parametrize("make_quote", [cbbo, cmbp1])
def test_chain_snapshot_keeps_usable_0dte_quotes_and_flags_the_rest(
    make_harness: Callable[..., Harness], make_quote: Callable[..., Any]
) -> None:
    schema = "cbbo-1s" if make_quote is cbbo else "cmbp-1"
    harness = make_harness(FeedConfig(underlyings=(Underlying.SPY,), options_schema=schema))
    equities = harness.run(EQUS)
    options = harness.run(OPRA)
    equities.push(mapping(SPY_ID, "SPY"), sec_bar(SPY_ID, T0 + 29 * S, 561.25))
    options.push(
        mapping(1, "SPY   250314C00560000", "SPY.OPT"),
        mapping(2, "SPY   250314C00561000", "SPY.OPT"),
        mapping(3, "SPY   250314P00559000", "SPY.OPT"),
        mapping(4, "SPY   250314P00558000", "SPY.OPT"),
        mapping(5, "SPY   250317C00560000", "SPY.OPT"),  # another expiry: not ours
        definition(6, "SPY   250314C00570000"),  # mapped by its definition
    )

    options.push(
        make_quote(1, T0 + 10 * S, 1.95, 2.00, (10, 20)),
        make_quote(2, T0 + 10 * S, 1.40, 1.35),  # crossed
        make_quote(3, T0 + 10 * S, 0.80, 0.80),  # locked
        make_quote(4, T0 + 10 * S, None, 0.05),  # one side undefined (UNDEF_PRICE)
        make_quote(5, T0 + 10 * S, 3.00, 3.10),
        make_quote(6, T0 + 10 * S, 0.00, 0.01),  # zero bid
        make_quote(77, T0 + 10 * S, 1.00, 1.10),  # never mapped
    )
    assert harness.of(ChainSnapshot) == []
    options.push(make_quote(1, T0 + M + 1 * S, 2.10, 2.15))  # after the minute end: closes it

    (snapshot,) = harness.of(ChainSnapshot)
    assert (snapshot.underlying, snapshot.ts, snapshot.expiry) == (
        Underlying.SPY,
        ns_to_datetime(T0 + M),
        TODAY,
    )
    assert snapshot.underlying_price == 561.25
    assert [(q.contract.occ_symbol, q.bid, q.ask, q.bid_size, q.ask_size) for q in snapshot.quotes] == [
        ("SPY   250314C00560000", 1.95, 2.00, 10, 20)
    ]
    assert harness.of(QuotesExcluded) == [
        QuotesExcluded(Underlying.SPY, ns_to_datetime(T0 + M), one_sided=1, no_bid=1, crossed=1, locked=1)
    ]
    stats = harness.feed.stats()
    assert stats.unmapped[OPRA] == 1
    assert (stats.chains.quotes, stats.chains.other_chain) == (6, 0)  # only today's expiry is forwarded


# --- reconnects ----------------------------------------------------------------------------


def test_a_disconnect_mid_minute_resubscribes_and_the_minute_comes_out_once_and_whole(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness()
    harness.hold_sleep = True
    first = harness.run(EQUS)
    first.push(mapping(SPY_ID, "SPY"), replay_completed())
    harness.at(T0 + 30 * S)
    first.push(*(sec_bar(SPY_ID, T0 + k * S, 560.0) for k in range(30)))

    first.drop("Gateway timeout: 12 second(s) since last message")
    assert harness.sleeping.wait(WAIT_S)
    harness.tick_at(T0 + 2 * M + 2 * S)  # the clock passes the minute while disconnected
    assert harness.of(Bar) == []
    harness.wake.set()

    second = harness.gateway.client(EQUS, 1)
    assert second.subscriptions == [(EQUS, "ohlcv-1s", ("SPY",), "raw_symbol", T0)]  # resubscribed
    harness.tick_at(T0 + 2 * M + 3 * S)  # replay not caught up yet: still no close by the clock
    assert harness.of(Bar) == []
    second.push(mapping(SPY_ID, "SPY"))
    second.push(*(sec_bar(SPY_ID, T0 + k * S, 560.0) for k in range(60)))  # replays seconds 0-29
    second.push(*(sec_bar(SPY_ID, T0 + M + k * S, 561.0) for k in range(60)))
    second.push(replay_completed())
    harness.tick_at(T0 + 2 * M + 4 * S)

    bars = harness.of(Bar)
    assert [(b.ts, b.volume) for b in bars] == [(ns_to_datetime(T0), 6_000), (ns_to_datetime(T0 + M), 6_000)]
    assert harness.feed.stats().bars.duplicates == 30
    events = [o for o in harness.outputs if isinstance(o, Connected | Disconnected | Reconnecting)]
    assert [type(e) for e in events] == [Connected, Disconnected, Reconnecting, Connected]
    assert events[1].reason == "BentoError: Gateway timeout: 12 second(s) since last message"
    assert (events[2].attempt, events[3].attempt, events[3].replay_from) == (1, 1, ns_to_datetime(T0))


def test_a_live_record_near_the_connect_time_also_ends_the_replay(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(start_ns=T0 + 50 * S)
    equities = harness.run(EQUS)
    equities.push(mapping(SPY_ID, "SPY"), sec_bar(SPY_ID, T0 + 10 * S, 560.0))  # replayed
    harness.tick_at(T0 + M + 5 * S)
    assert harness.of(Bar) == []

    equities.push(sec_bar(SPY_ID, T0 + 49 * S, 560.5))  # stamped within the grace of the connect time
    harness.tick_at(T0 + M + 6 * S)

    assert [(b.ts, b.close) for b in harness.of(Bar)] == [(ns_to_datetime(T0), 560.5)]


def test_reconnect_delays_follow_the_seeded_backoff_and_the_feed_gives_up(
    make_harness: Callable[..., Harness],
) -> None:
    backoff = Backoff(base_delay_s=1.0, max_delay_s=4.0, max_attempts=5)
    harness = make_harness(FeedConfig(underlyings=(Underlying.SPY,), backoff=backoff))
    harness.gateway.refuse(EQUS, 6)

    with pytest.raises(FeedError, match=r"EQUS\.MINI: gave up after 5 reconnect attempts: BentoError"):
        harness.feed.run_dataset(EQUS)

    rng = random.Random(f"7:{EQUS}")
    expected = [backoff.delay_s(n, rng) for n in range(1, 6)]
    reconnecting = harness.of(Reconnecting)
    assert [(e.attempt, e.delay_s) for e in reconnecting] == list(enumerate(expected, start=1))
    assert harness.sleeps == expected
    assert all(e.delay_s <= c for e, c in zip(reconnecting, (1.0, 2.0, 4.0, 4.0, 4.0), strict=True))
    assert "refused" in reconnecting[0].reason
    (abandoned,) = harness.of(ReconnectAbandoned)
    assert (abandoned.dataset, abandoned.attempts) == (EQUS, 5)
    assert all(client.terminated for client in harness.gateway.created)
    assert harness.of(Connected) == []


def test_a_connection_that_stayed_up_resets_the_attempt_count(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(FeedConfig(underlyings=(Underlying.SPY,), backoff=Backoff(stable_after_s=60.0)))
    harness.run(EQUS).drop()  # drops at once
    harness.gateway.client(EQUS, 1).drop()  # drops at once again
    third = harness.gateway.client(EQUS, 2)
    harness.at(T0 + 5 * S + 60 * S)  # stays up a minute
    third.drop()
    harness.gateway.client(EQUS, 3)

    assert [e.attempt for e in harness.of(Reconnecting)] == [1, 2, 1]
    assert [e.attempt for e in harness.of(Connected)] == [0, 1, 2, 1]


# --- gaps, order, staleness ----------------------------------------------------------------


def test_a_silent_minute_gets_no_bar_and_a_gap_event(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness()
    equities = harness.run(EQUS)
    equities.push(mapping(SPY_ID, "SPY"), replay_completed(), sec_bar(SPY_ID, T0 + 20 * S, 560.0))

    harness.tick_at(T0 + 2 * M + 2 * S)

    assert [b.ts for b in harness.of(Bar)] == [ns_to_datetime(T0)]
    assert harness.of(BarGap) == [BarGap("SPY", ns_to_datetime(T0 + M), 1)]


def test_out_of_order_records_apply_inside_the_open_minute_and_are_dropped_after(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness()
    equities = harness.run(EQUS)
    equities.push(mapping(SPY_ID, "SPY"))
    equities.push(sec_bar(SPY_ID, T0 + 40 * S, 561.0), sec_bar(SPY_ID, T0 + 10 * S, 560.0))  # swapped
    equities.push(sec_bar(SPY_ID, T0 + M, 562.0))  # closes the minute
    equities.push(sec_bar(SPY_ID, T0 + 50 * S, 999.0))  # too late for it

    (bar,) = harness.of(Bar)
    assert (bar.open, bar.close, bar.high, bar.volume) == (560.0, 561.0, 561.05, 200)
    assert harness.feed.stats().bars.late == 1


def test_silence_raises_one_stale_event_per_dataset_and_data_brings_recovery(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(FeedConfig(underlyings=(Underlying.SPY,), stale_after_s=15.0))
    start_ns = T0 + 5 * S
    equities = harness.run(EQUS)
    equities.push(mapping(SPY_ID, "SPY"), replay_completed())  # no market data: still silent

    harness.tick_at(start_ns + 15 * S - 1)
    assert harness.of(Stale) == []
    harness.tick_at(start_ns + 15 * S)
    harness.tick_at(start_ns + 20 * S)  # still silent: no second event

    assert sorted((e.dataset, e.since, e.silence_s) for e in harness.of(Stale)) == [
        (EQUS, ns_to_datetime(start_ns), 15.0),
        (OPRA, ns_to_datetime(start_ns), 15.0),
    ]
    harness.at(start_ns + 21 * S)
    equities.push(sec_bar(SPY_ID, T0 + 25 * S, 560.0))
    assert [(e.dataset, e.silence_s) for e in harness.of(Recovered)] == [(EQUS, 21.0)]
    harness.tick_at(start_ns + 30 * S)
    assert len(harness.of(Stale)) == 2  # EQUS is fresh again; OPRA was already reported


def test_a_gateway_error_record_is_reported(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness()
    equities = harness.run(EQUS)

    equities.push(dbn.ErrorMsg(ts_event=T0, err="Unknown symbol 'SPYY'"))

    assert [(e.dataset, e.message) for e in harness.of(GatewayError)] == [(EQUS, "Unknown symbol 'SPYY'")]


def test_start_and_stop_run_and_end_every_loop_without_a_disconnect_event() -> None:
    harness = Harness(FeedConfig(underlyings=(Underlying.SPY,)))
    harness.feed.start()
    clients = [harness.gateway.client(OPRA, 0), harness.gateway.client(EQUS, 0)]

    harness.feed.stop(timeout_s=WAIT_S)

    assert all(client.terminated for client in clients)
    assert harness.of(Disconnected) == [] and harness.of(Reconnecting) == []
    assert [t.name for t in threading.enumerate() if t.name.startswith("live-feed-")] == []


def test_an_unknown_dataset_is_refused(make_harness: Callable[..., Harness]) -> None:
    with pytest.raises(FeedConfigError, match=r"dataset='XNAS.ITCH' is not one of"):
        make_harness().feed.run_dataset("XNAS.ITCH")
