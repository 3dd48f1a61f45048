"""Databento live feed for the gateway task: 0DTE chains and underlyings -> minute bars and snapshots.

One `databento.Live` session per dataset (a session serves one dataset):

- options (OPRA.PILLAR): `definition` and `cbbo-1s` for the parents `SPY.OPT`, `QQQ.OPT`,
  `IWM.OPT`. cbbo-1s is the consolidated (NBBO) top of book, sent at most once a second per
  contract and only when it changed; the latest one at a minute end is the book cbbo-1m
  samples there (the archive backtests read), yet silence shows within seconds. cmbp-1
  (every NBBO change) and cbbo-1m are accepted too. OPRA mbp-1 is one venue's book, not the
  NBBO, so it is not.
  Instrument ids map to OCC symbols through SymbolMappingMsg (sent for every instrument a
  parent resolves to) and InstrumentDefMsg (`raw_symbol`); only today's expiry is kept.
- underlyings (EQUS.MINI): `ohlcv-1s` by raw symbol. Databento builds these bars with the same
  trade rules as the archived ohlcv-1m, so summing a minute of them gives the archive's bar,
  at a sixtieth of the trades' traffic, and a replay is deduplicated by bar open time.
  `ohlcv-1m` and `trades` are accepted too.

Records (prices int64 x 1e-9 USD, UNDEF_PRICE for none) become plain values for
`domain.aggregation`, whose outputs - Bar, BarGap, ChainSnapshot, QuotesExcluded, ChainSkipped -
go to the sink with this module's FeedEvents (connection and staleness).

Reconnects: when a session drops or fails to connect, it waits a full-jitter exponential
backoff (seeded), then subscribes everything again with intraday replay from the first
instant not yet published (the open bar minute; just after the last snapshot), so the bars
and snapshots that span an outage come out complete, late rather than wrong. Replayed records
already applied are ignored by the aggregators. While a dataset is disconnected, and after a
reconnect until its replay has caught up (a REPLAY_COMPLETED per schema, or a record stamped
within the close grace of the connect time), the clock does not close its minutes.

Staleness: a dataset that delivered no market data for `stale_after_s` (by the injected clock)
gets one Stale event; the next record brings Recovered.

Threads: `start()` runs one reconnect loop per dataset and a ticker; records arrive on
Databento's thread. One lock serialises all state, and the sink is called under it, in
order: the sink must be quick and must not call back into the feed (a queue's `put` fits).
The API key comes from the caller or DATABENTO_API_KEY and is never logged.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any, Literal, Protocol

import databento
import databento_dbn

from smart0dte.domain.aggregation import (
    BarGap,
    BarStats,
    ChainSkipped,
    ChainSnapshotAggregator,
    ChainStats,
    MinuteBarAggregator,
    QuotesExcluded,
    floor_minute_ns,
)
from smart0dte.domain.marketdata import NS_PER_SECOND, datetime_to_ns, ns_to_datetime
from smart0dte.domain.models import Bar, ChainSnapshot, OptionContract, Underlying
from smart0dte.ports import Clock

logger = logging.getLogger(__name__)

OPTIONS_SCHEMAS = ("cbbo-1s", "cbbo-1m", "cmbp-1")
EQUITIES_SCHEMAS = ("ohlcv-1s", "ohlcv-1m", "trades")
_BAR_INTERVAL_S = {int(databento_dbn.RType.OHLCV_1S): 1, int(databento_dbn.RType.OHLCV_1M): 60}


class FeedConfigError(ValueError):
    """The feed's configuration is unusable; the message names the field and the limit."""


class FeedError(RuntimeError):
    """A dataset could not be reconnected within the configured attempts."""


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: attempt n waits uniform(0, min(max_delay_s, base_delay_s * 2**(n-1))).

    A connection that stayed up `stable_after_s` resets the attempt count; after
    `max_attempts` consecutive failures the dataset gives up.
    """

    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_attempts: int = 10
    stable_after_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.base_delay_s > 0:
            raise FeedConfigError(f"backoff.base_delay_s={self.base_delay_s} must be > 0")
        if not self.max_delay_s >= self.base_delay_s:
            raise FeedConfigError(
                f"backoff.max_delay_s={self.max_delay_s} must be >= base_delay_s={self.base_delay_s}"
            )
        if self.max_attempts < 1:
            raise FeedConfigError(f"backoff.max_attempts={self.max_attempts} must be >= 1")
        if self.stable_after_s < 0:
            raise FeedConfigError(f"backoff.stable_after_s={self.stable_after_s} must be >= 0")

    def ceiling_s(self, attempt: int) -> float:
        """The largest delay attempt `attempt` (1-based) may wait."""
        if attempt < 1:
            raise FeedConfigError(f"attempt={attempt} must be >= 1")
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** min(attempt - 1, 64))

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, self.ceiling_s(attempt))


@dataclass(frozen=True)
class FeedConfig:
    """What to subscribe to and how to judge the stream; defaults suit the gateway task."""

    underlyings: tuple[Underlying, ...] = (Underlying.SPY, Underlying.QQQ, Underlying.IWM)
    options_dataset: str = "OPRA.PILLAR"
    options_schema: str = "cbbo-1s"
    equities_dataset: str = "EQUS.MINI"
    equities_schema: str = "ohlcv-1s"
    stale_after_s: float = 15.0
    close_grace_s: float = 2.0
    tick_interval_s: float = 0.5
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if not self.underlyings:
            raise FeedConfigError("underlyings must name at least one of SPY, QQQ, IWM")
        if len(set(self.underlyings)) != len(self.underlyings):
            raise FeedConfigError(f"underlyings={[u.value for u in self.underlyings]} has duplicates")
        for underlying in self.underlyings:
            if not underlying.is_tradable:
                raise FeedConfigError(
                    f"underlyings: {underlying.value} is an index; it has no 0DTE chain and no "
                    f"{self.equities_dataset} trades"
                )
        if self.options_schema not in OPTIONS_SCHEMAS:
            raise FeedConfigError(f"options_schema={self.options_schema!r} must be one of {OPTIONS_SCHEMAS}")
        if self.equities_schema not in EQUITIES_SCHEMAS:
            raise FeedConfigError(
                f"equities_schema={self.equities_schema!r} must be one of {EQUITIES_SCHEMAS}"
            )
        if not self.options_dataset or not self.equities_dataset:
            raise FeedConfigError("options_dataset and equities_dataset must not be empty")
        if self.options_dataset == self.equities_dataset:
            raise FeedConfigError(
                f"options_dataset and equities_dataset are both {self.options_dataset!r}; "
                "they must differ (one live session per dataset)"
            )
        if not self.stale_after_s > 0:
            raise FeedConfigError(f"stale_after_s={self.stale_after_s} must be > 0")
        if not 0 <= self.close_grace_s < 60:
            raise FeedConfigError(f"close_grace_s={self.close_grace_s} must be >= 0 and < 60")
        if not self.tick_interval_s > 0:
            raise FeedConfigError(f"tick_interval_s={self.tick_interval_s} must be > 0")


@dataclass(frozen=True)
class FeedEvent:
    """Something that happened to one dataset's connection or data, at `ts` (the feed's clock)."""

    dataset: str
    ts: datetime


@dataclass(frozen=True)
class Connected(FeedEvent):
    """Subscribed (again, when `attempt` > 0); the stream replays from `replay_from`."""

    attempt: int
    replay_from: datetime


@dataclass(frozen=True)
class Disconnected(FeedEvent):
    reason: str


@dataclass(frozen=True)
class Reconnecting(FeedEvent):
    """Reconnect attempt `attempt` (1-based) starts after `delay_s`; `reason` is the last failure."""

    attempt: int
    delay_s: float
    reason: str


@dataclass(frozen=True)
class ReconnectAbandoned(FeedEvent):
    attempts: int
    reason: str


@dataclass(frozen=True)
class Stale(FeedEvent):
    """No market data since `since`, `silence_s` ago: nothing from this dataset is current."""

    since: datetime
    silence_s: float


@dataclass(frozen=True)
class Recovered(FeedEvent):
    """Market data flows again after `silence_s` of silence."""

    silence_s: float


@dataclass(frozen=True)
class GatewayError(FeedEvent):
    message: str


FeedOutput = Bar | BarGap | ChainSnapshot | QuotesExcluded | ChainSkipped | FeedEvent
Sink = Callable[[FeedOutput], None]


class LiveClient(Protocol):
    """The part of `databento.Live` the feed uses; tests inject a fake."""

    def add_callback(
        self,
        record_callback: Callable[[Any], None],
        exception_callback: Callable[[Exception], None] | None = None,
    ) -> None: ...

    def subscribe(
        self,
        dataset: str,
        schema: str,
        symbols: Sequence[str],
        stype_in: str,
        start: int | None = None,
    ) -> int: ...

    def start(self) -> None: ...

    def block_for_close(self, timeout: float | None = None) -> None: ...

    def terminate(self) -> None: ...


ClientFactory = Callable[[], LiveClient]


def databento_client_factory(api_key: str, heartbeat_interval_s: int = 10) -> ClientFactory:
    """Factory of real `databento.Live` clients on `api_key` (the composition root reads it).

    The client's own reconnect is off (the feed reconnects, with replay); a slow reader gets a
    warning instead of skipped records, and a gateway silent for `heartbeat_interval_s` plus
    the client's margin drops the connection.
    """
    key = api_key
    if not key.strip():
        raise FeedConfigError("api_key is empty: the Databento API key is required")
    if not 5 <= heartbeat_interval_s <= 1800:
        raise FeedConfigError(f"heartbeat_interval_s={heartbeat_interval_s} must be between 5 and 1800")

    def create() -> LiveClient:
        client: LiveClient = databento.Live(
            key=key,
            heartbeat_interval_s=heartbeat_interval_s,
            reconnect_policy="none",
            slow_reader_behavior="warn",
        )
        return client

    return create


@dataclass(frozen=True)
class _Subscription:
    schema: str
    symbols: tuple[str, ...]
    stype_in: str


@dataclass(frozen=True)
class FeedStats:
    """Counts for monitoring: records received and unmapped per dataset, and the aggregators'."""

    records: dict[str, int]
    unmapped: dict[str, int]
    bars: BarStats
    chains: ChainStats


@dataclass
class _Session:
    """One dataset's connection state; guarded by the feed's lock."""

    dataset: str
    role: Literal["options", "equities"]
    subscriptions: tuple[_Subscription, ...]
    rng: random.Random
    silent_since_ns: int
    instruments: dict[int, OptionContract | Underlying | None] = field(default_factory=dict)
    client: LiveClient | None = None
    connected: bool = False
    caught_up: bool = False
    connected_at_ns: int = 0
    replays_completed: int = 0
    stale: bool = False
    records: int = 0
    unmapped: int = 0


class LiveMarketFeed:
    """Streams today's 0DTE chains and the underlyings, and publishes closed minutes to `sink`.

    `clock` stamps receipt, drives closes of quiet minutes and staleness; `sleep` waits between
    reconnects (default: an interruptible wait); `seed` makes the jitter reproducible;
    `client_factory` builds the Databento clients (`databento_client_factory` in the composition
    root, a fake in tests).
    """

    def __init__(
        self,
        config: FeedConfig,
        sink: Sink,
        *,
        clock: Clock,
        session_date: date,
        client_factory: ClientFactory,
        sleep: Callable[[float], None] | None = None,
        seed: int = 0,
    ) -> None:
        self._config = config
        self._sink = sink
        self._clock = clock
        self._session_date = session_date
        self._factory = client_factory
        self._stop = threading.Event()
        self._sleep = sleep if sleep is not None else self._stop.wait
        self._lock = threading.RLock()
        self._threads: list[threading.Thread] = []
        start_ns = floor_minute_ns(self._now_ns())
        tickers = tuple(u.value for u in config.underlyings)
        parents = tuple(f"{u.value}.OPT" for u in config.underlyings)
        self._bars = MinuteBarAggregator(tickers, start_ns, config.close_grace_s)
        self._chains = ChainSnapshotAggregator(
            config.underlyings, session_date, start_ns, config.close_grace_s
        )
        self._options = _Session(
            dataset=config.options_dataset,
            role="options",
            subscriptions=(
                _Subscription("definition", parents, "parent"),
                _Subscription(config.options_schema, parents, "parent"),
            ),
            rng=random.Random(f"{seed}:{config.options_dataset}"),
            silent_since_ns=self._now_ns(),
        )
        self._equities = _Session(
            dataset=config.equities_dataset,
            role="equities",
            subscriptions=(_Subscription(config.equities_schema, tickers, "raw_symbol"),),
            rng=random.Random(f"{seed}:{config.equities_dataset}"),
            silent_since_ns=self._now_ns(),
        )
        self._sessions = {s.dataset: s for s in (self._options, self._equities)}

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(self._sessions)

    def stats(self) -> FeedStats:
        with self._lock:
            return FeedStats(
                records={d: s.records for d, s in self._sessions.items()},
                unmapped={d: s.unmapped for d, s in self._sessions.items()},
                bars=self._bars.stats,
                chains=self._chains.stats,
            )

    def start(self) -> None:
        """Run every dataset's reconnect loop and the ticker on daemon threads."""
        if self._threads:
            raise RuntimeError("the feed is already started")
        targets = [partial(self.run_dataset, d) for d in self._sessions] + [self.run_ticker]
        for index, target in enumerate(targets):
            thread = threading.Thread(target=target, name=f"live-feed-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop reconnecting, close every session and wait for the threads `start()` made."""
        self._stop.set()
        with self._lock:
            clients = [s.client for s in self._sessions.values() if s.client is not None]
        for client in clients:
            _terminate(client)
        for thread in self._threads:
            thread.join(timeout_s)

    def run_ticker(self) -> None:
        """Call `tick()` every `tick_interval_s` until stopped."""
        while not self._stop.wait(self._config.tick_interval_s):
            self.tick()

    def tick(self) -> None:
        """Close minutes the clock has passed (on caught-up connections) and report staleness."""
        now_ns = self._now_ns()
        with self._lock:
            out: list[FeedOutput] = []
            if self._equities.connected and self._equities.caught_up:
                out += self._bars.advance_to(now_ns)
            if self._options.connected and self._options.caught_up:
                out += self._chains.advance_to(now_ns)
            for session in self._sessions.values():
                silence_ns = now_ns - session.silent_since_ns
                if not session.stale and silence_ns >= self._config.stale_after_s * NS_PER_SECOND:
                    session.stale = True
                    out.append(
                        Stale(
                            session.dataset,
                            ns_to_datetime(now_ns),
                            since=ns_to_datetime(session.silent_since_ns),
                            silence_s=silence_ns / NS_PER_SECOND,
                        )
                    )
            self._deliver(out)

    def run_dataset(self, dataset: str) -> None:
        """Keep `dataset` connected until `stop()`; raise FeedError once reconnecting is abandoned."""
        session = self._sessions.get(dataset)
        if session is None:
            raise FeedConfigError(f"dataset={dataset!r} is not one of this feed's datasets {self.datasets}")
        backoff = self._config.backoff
        attempt = 0
        while not self._stop.is_set():
            connected_at_ns = self._now_ns()
            try:
                client = self._connect(session, attempt)
            except Exception as exc:
                reason = _describe(exc)
                logger.warning("%s: connection attempt failed: %s", dataset, reason)
            else:
                if client is None:
                    break
                try:
                    client.block_for_close()
                    reason = "the session closed"
                except Exception as exc:
                    reason = _describe(exc)
                with self._lock:
                    session.client = None
                    session.connected = False
                    if self._stop.is_set():
                        break
                    logger.warning("%s: disconnected: %s", dataset, reason)
                    self._deliver([Disconnected(dataset, self._now(), reason)])
                if self._now_ns() - connected_at_ns >= backoff.stable_after_s * NS_PER_SECOND:
                    attempt = 0
            if self._stop.is_set():
                break
            attempt += 1
            if attempt > backoff.max_attempts:
                with self._lock:
                    self._deliver([ReconnectAbandoned(dataset, self._now(), backoff.max_attempts, reason)])
                raise FeedError(
                    f"{dataset}: gave up after {backoff.max_attempts} reconnect attempts: {reason}"
                )
            delay_s = backoff.delay_s(attempt, session.rng)
            with self._lock:
                self._deliver([Reconnecting(dataset, self._now(), attempt, delay_s, reason)])
            self._sleep(delay_s)

    def _connect(self, session: _Session, attempt: int) -> LiveClient | None:
        """Subscribe everything with replay from the first unpublished instant and start streaming.

        Returns None, with the client closed, when the feed was stopped meanwhile.
        """
        client = self._factory()
        try:
            client.add_callback(partial(self._on_record, session), partial(self._on_callback_error, session))
            with self._lock:
                replay_from_ns = (
                    self._chains.last_sample_ns + 1
                    if session.role == "options"
                    else self._bars.open_minute_ns
                )
            for sub in session.subscriptions:
                client.subscribe(
                    dataset=session.dataset,
                    schema=sub.schema,
                    symbols=list(sub.symbols),
                    stype_in=sub.stype_in,
                    start=replay_from_ns,
                )
            with self._lock:  # stop() takes this lock too: it either sees this client or we see it stopping
                if self._stop.is_set():
                    _terminate(client)
                    return None
                client.start()
                session.client = client
                session.connected = True
                session.caught_up = False
                session.replays_completed = 0
                session.connected_at_ns = self._now_ns()
                logger.info(
                    "%s: streaming (attempt %d), replay from %d ns", session.dataset, attempt, replay_from_ns
                )
                self._deliver(
                    [Connected(session.dataset, self._now(), attempt, ns_to_datetime(replay_from_ns))]
                )
        except Exception:
            _terminate(client)
            raise
        return client

    def _on_record(self, session: _Session, record: object) -> None:
        now_ns = self._now_ns()
        with self._lock:
            session.records += 1
            self._deliver(self._handle(session, record, now_ns))

    def _on_callback_error(self, session: _Session, exc: Exception) -> None:
        logger.error("%s: a record could not be processed: %s", session.dataset, _describe(exc))

    def _handle(self, session: _Session, record: object, now_ns: int) -> list[FeedOutput]:
        if isinstance(record, databento_dbn.SymbolMappingMsg):
            self._map(session, record.instrument_id, record.stype_out_symbol)
            return []
        if isinstance(record, databento_dbn.InstrumentDefMsg):
            self._map(session, record.instrument_id, record.raw_symbol)
            return []
        if isinstance(record, databento_dbn.SystemMsg):
            return self._system(session, record)
        if isinstance(record, databento_dbn.ErrorMsg):
            logger.warning("%s: gateway error: %s", session.dataset, record.err)
            return [GatewayError(session.dataset, ns_to_datetime(now_ns), record.err)]
        if session.role == "options" and isinstance(record, databento_dbn.CBBOMsg | databento_dbn.CMBP1Msg):
            return self._quote(session, record, now_ns)
        if session.role == "equities" and isinstance(record, databento_dbn.OHLCVMsg | databento_dbn.TradeMsg):
            return self._underlying(session, record, now_ns)
        logger.debug("%s: ignored a %s record", session.dataset, type(record).__name__)
        return []

    def _map(self, session: _Session, instrument_id: int, symbol: str) -> None:
        target: OptionContract | Underlying | None = None
        if session.role == "options":
            try:
                contract = OptionContract.from_occ(symbol)
            except ValueError:  # DomainError or a pydantic ValidationError: not an OCC option symbol
                contract = None
            if (
                contract is not None
                and contract.expiry == self._session_date
                and contract.underlying in self._config.underlyings
            ):
                target = contract
        elif symbol in {u.value for u in self._config.underlyings}:
            target = Underlying(symbol)
        session.instruments[instrument_id] = target

    def _system(self, session: _Session, record: databento_dbn.SystemMsg) -> list[FeedOutput]:
        if record.code == databento_dbn.SystemCode.REPLAY_COMPLETED:
            session.replays_completed += 1
            if session.replays_completed >= len(session.subscriptions):
                session.caught_up = True
        elif not record.is_heartbeat():
            logger.info("%s: gateway says: %s", session.dataset, record.msg)
        return []

    def _target(self, session: _Session, instrument_id: int) -> OptionContract | Underlying | None:
        if instrument_id not in session.instruments:
            session.unmapped += 1
            return None
        return session.instruments[instrument_id]

    def _received(self, session: _Session, record_ts_ns: int, now_ns: int) -> list[FeedOutput]:
        """Note market data: clears staleness and detects a replay that has caught up."""
        out: list[FeedOutput] = []
        if session.stale:
            session.stale = False
            out.append(
                Recovered(
                    session.dataset,
                    ns_to_datetime(now_ns),
                    (now_ns - session.silent_since_ns) / NS_PER_SECOND,
                )
            )
        session.silent_since_ns = now_ns
        if (
            not session.caught_up
            and record_ts_ns >= session.connected_at_ns - self._config.close_grace_s * NS_PER_SECOND
        ):
            session.caught_up = True
        return out

    def _quote(
        self, session: _Session, record: databento_dbn.CBBOMsg | databento_dbn.CMBP1Msg, now_ns: int
    ) -> list[FeedOutput]:
        contract = self._target(session, record.instrument_id)
        if not isinstance(contract, OptionContract):
            return []
        out = self._received(session, record.ts_recv, now_ns)
        level = record.levels[0]
        out += self._chains.update_quote(
            contract,
            record.ts_recv,
            _price_usd(level.bid_px),
            _price_usd(level.ask_px),
            level.bid_sz,
            level.ask_sz,
        )
        return out

    def _underlying(
        self, session: _Session, record: databento_dbn.OHLCVMsg | databento_dbn.TradeMsg, now_ns: int
    ) -> list[FeedOutput]:
        underlying = self._target(session, record.instrument_id)
        if not isinstance(underlying, Underlying):
            return []
        if isinstance(record, databento_dbn.TradeMsg):
            out = self._received(session, record.ts_event, now_ns)
            price_usd = _price_usd(record.price) or 0.0
            out += self._bars.add_trade(
                underlying.value, record.ts_event, price_usd, record.size, record.sequence
            )
            self._chains.update_underlying(underlying, record.ts_event, price_usd)
            return out
        interval_s = _BAR_INTERVAL_S.get(int(record.rtype))
        if interval_s is None:
            logger.debug("%s: ignored an ohlcv record of rtype %s", session.dataset, record.rtype)
            return []
        out = self._received(session, record.ts_event, now_ns)
        close_usd = _price_usd(record.close) or 0.0
        out += self._bars.add_bar(
            underlying.value,
            record.ts_event,
            interval_s,
            _price_usd(record.open) or 0.0,
            _price_usd(record.high) or 0.0,
            _price_usd(record.low) or 0.0,
            close_usd,
            record.volume,
        )
        self._chains.update_underlying(underlying, record.ts_event + interval_s * NS_PER_SECOND, close_usd)
        return out

    def _deliver(self, outputs: list[FeedOutput]) -> None:
        for output in outputs:
            self._sink(output)

    def _now(self) -> datetime:
        return self._clock.now()

    def _now_ns(self) -> int:
        return datetime_to_ns(self._clock.now())


def _price_usd(fixed: int) -> float | None:
    """A DBN fixed-point price (1e-9 USD) in USD; None for UNDEF_PRICE."""
    if fixed == databento_dbn.UNDEF_PRICE:
        return None
    return fixed / databento_dbn.FIXED_PRICE_SCALE


def _terminate(client: LiveClient) -> None:
    try:
        client.terminate()
    except Exception:  # a client that never connected, or already closed, may refuse: it is closed
        logger.debug("terminate() refused by a closed client", exc_info=True)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
