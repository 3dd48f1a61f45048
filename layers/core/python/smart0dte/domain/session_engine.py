"""The deterministic per-minute loop of one trading day: data -> signals -> risk -> orders ->
fills -> exits. Backtests, the paper path and the parity test all run this code; it has no I/O.

(Over 800 lines on purpose: one state machine whose phases share its private state and
invariants; its pure helpers already live in exits, risk, sizing, the venues and portfolio.)

At each minute end t the engine knows only `day.until(t)`: bars closed by t and chain samples
stamped at or before t. Every decision is recorded with its time and reasons.

One minute is three phases, which the trading_cycle Lambdas call one each (`step` calls them in
turn, so a backtest and the Lambda path run the same code):

- `observe(now)`: mark positions, let working orders trade, exit what must exit (an exit, once
  started, works until the position is flat: see `domain.exits`), report what is still open
  `UNFLAT_ALERT` before the close as an incident, then ask the signal source: the candidates,
  strongest first.
- `assess(candidates, now)`: the risk verdict and size of each candidate, in order. Each approved
  entry is submitted on a throw-away copy of the account (same venue, same quote) before the next
  candidate is judged, so it holds the positions, exposure, cash and last-entry time the next
  verdict must see, exactly as if the entries had been made one after the other. An entry order
  still working (with latency it trades at the next minute's snapshot) counts as the position it
  will be: in the position count, the premium and greeks at risk, the day trades, and the spacing
  rule, which measures from the last entry order's submission.
- `execute(intents, now)`: submit the approved intents (and book their fills at zero latency).

Honest execution (`BrokerCosts.latency_s` > 0 by default): an order trades only against a quote
sampled after its submission plus the latency, so never at the snapshot its decision saw; at
minute t + 1 it meets t + 1's quote. A chain whose latest sample is older than
`EngineConfig.max_quote_age_s` is stale: its quotes fill nothing (not even a market sell without a
bid), mark nothing and choose no entry; each open position on it is reported once as an incident
(`stale_quote` in its detail) and listed in `stale_quotes` until a fresh sample comes.

Orders go to the execution venue the config names (`domain.venue`: the simulated venue fills
them here, the broker venue turns them into commands for the order bridge); positions, P&L and
every limit follow the fills the venue reports. A broker's report (the news of its orders and its
book) is given to `observe`, which books the news before anything else and then reconciles: while
the engine's positions and the broker's differ (`domain.reconcile`), no entry is made.

Between phases the engine's whole mutable state (portfolio and its ledger, the venue's orders, exit
plans, strategy states, counters) travels through `to_state()` / `from_state()` as JSON, so each
phase can run in its own process. Each phase returns its decision records and its effects (orders,
fills, position changes) for the caller to persist.
"""

from __future__ import annotations

import copy
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol, runtime_checkable
from weakref import WeakKeyDictionary

import numpy as np

from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.chain_analytics import PricingInputs, analyze, early_exercise_skips, select_by_delta
from smart0dte.domain.controls import AutomationSettings, RiskLimits, TradingState
from smart0dte.domain.exits import (
    EXIT_TICK_USD,
    ExitPlan,
    ExitReason,
    exit_limit_usd,
    exit_reason,
    intrinsic_value,
)
from smart0dte.domain.marketdata import ChainSeries, DayCut, MarketDay, datetime_to_ns, ns_to_datetime
from smart0dte.domain.models import (
    CONTRACT_MULTIPLIER,
    DomainError,
    Fill,
    OptionContract,
    OptionQuote,
    OptionRight,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Protection,
    Side,
    Signal,
    TradingMode,
    Underlying,
    aware_datetime,
    idempotency_key,
)
from smart0dte.domain.portfolio import (
    ClosedTrade,
    LedgerEntry,
    LedgerKind,
    OpenLot,
    Portfolio,
    trade_from_wire,
    trade_to_wire,
)
from smart0dte.domain.pricing import IVStatus, bsm_greeks, implied_vol, t_years_from_minutes
from smart0dte.domain.protection import PROTECTIVE_EXIT, protective_group
from smart0dte.domain.reconcile import BrokerBook, compare
from smart0dte.domain.risk import (
    AccountRisk,
    Controls,
    ProposedEntry,
    RiskVerdict,
    check_entry,
    dollar_delta_usd,
    gamma_pnl_1pct_usd,
    max_quantity_within_greeks,
    trading_state,
)
from smart0dte.domain.simulated_venue import SimulatedVenue
from smart0dte.domain.sizing import SizingMethod, fixed_fractional, half_kelly, volatility_adjusted
from smart0dte.domain.strategies import StateKey
from smart0dte.domain.strategies.base import StrategyState
from smart0dte.domain.venue import (
    BrokerCosts,
    BrokerReport,
    CancelOrder,
    ExecutionVenue,
    PlaceOrder,
    VenueEvent,
    VenueKind,
    VenueUpdate,
    qualified,
)

MINUTE = timedelta(minutes=1)
HAND_STRATEGY = "by_hand"
"""The strategy of a position adopted from trades made at the broker without Smart 0DTE."""
PROTECTION_GRACE = timedelta(minutes=2)
"""How long a crossed stop or target is left to the protective orders resting at the venue before
the engine's own exit takes over (cancelling them first): a broker's stop may trigger on another
price than the bid, or not fill."""
UNFLAT_ALERT = timedelta(minutes=5)
"""A position still open this long before the close is an incident (reported once per position)."""
STATE_FORMAT = 2
"""Version of the `to_state` layout; `from_state` refuses any other."""


class SignalSource(Protocol):
    """Produces the signals of minute `now` from what is known then."""

    def signals(self, known: MarketDay, now: datetime) -> list[Signal]: ...


@runtime_checkable
class RecordedSignals(Protocol):
    """A signal source whose minutes were all asked beforehand (`domain.signal_tape`): the engine
    gives it no cut of the day."""

    def signals_at(self, now: datetime) -> list[Signal]: ...


@runtime_checkable
class StatefulSignalSource(SignalSource, Protocol):
    """A signal source whose per-day memory (cooldowns, daily caps) is part of the engine state."""

    states: Mapping[StateKey, StrategyState]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    settings: AutomationSettings
    limits: RiskLimits = field(default_factory=RiskLimits)
    costs: BrokerCosts = field(default_factory=BrokerCosts)
    pricing: PricingInputs = field(default_factory=PricingInputs)
    mode: TradingMode = TradingMode.PAPER
    venue: VenueKind = SimulatedVenue
    """Where orders trade (chosen where the application is wired)."""
    sizing: SizingMethod = SizingMethod.FIXED_FRACTIONAL
    default_target_delta: float = 0.40
    trailing_stop_fraction: float | None = None
    reference_vix: float = 20.0
    """VIX level at which volatility-adjusted sizing takes the full risk fraction."""
    max_quote_age_s: float = 90.0
    """A chain sample older than this at a minute end is stale (no fill, no mark, no entry). OPRA
    cbbo-1m samples every minute, so 90 s means the minute's sample is missing and the one before
    is half a minute past due; the strategies refuse a chain of that age too (`max_chain_age_s`)."""

    def __post_init__(self) -> None:
        if not 0 < self.max_quote_age_s <= 3600:
            raise DomainError(f"max_quote_age_s={self.max_quote_age_s} must be within (0, 3600]")

    def execution_model(self) -> dict[str, object]:
        """How orders trade and what they cost, as a report states it."""
        return {**self.costs.describe(), "max_quote_age_s": self.max_quote_age_s}

    def execution_text(self) -> str:
        """`execution_model` in one line."""
        costs = self.costs
        tiers = "/".join(f"{rate}" for _, rate in costs.commission_tiers)
        bought, sold = costs.fees_per_contract_usd(Side.BUY), costs.fees_per_contract_usd(Side.SELL)
        timing = (
            "zero latency: fills at the decision's snapshot (research only)"
            if costs.latency_s == 0
            else f"latency {costs.latency_s:g} s: fills from the next snapshot"
        )
        return (
            f"execution: {timing}; quotes older than {self.max_quote_age_s:g} s unused; commission "
            f"${tiers} a contract by premium, at least ${costs.minimum_per_order_usd} an order; fees "
            f"${bought} a contract (${sold} sold)"
        )


@dataclass(frozen=True, slots=True)
class AccountCarry:
    """What one day inherits from the days before it."""

    equity_usd: Decimal
    peak_equity_usd: Decimal
    day_trades_in_window: int = 0
    consecutive_losses: int = 0


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One step of the audit trail: what happened at `ts`, and why."""

    ts: datetime
    kind: str
    detail: dict[str, object]


@dataclass(frozen=True, slots=True)
class PositionChange:
    """A position opened, grew, shrank or closed, with the round trip booked by the change.

    `kind` is "opened", "added", "reduced" or "closed"; `position` is the position as it was
    before a reduction or close (after an opening or addition); `trades` holds every round trip
    of the position so far when it closed, the one just booked when it shrank.
    """

    kind: str
    position: Position
    trades: tuple[ClosedTrade, ...] = ()


@dataclass(frozen=True, slots=True)
class Effects:
    """What one phase changed, in the order it happened: for a caller to persist."""

    decisions: tuple[DecisionRecord, ...] = ()
    submitted: tuple[OrderIntent, ...] = ()
    """Intents given to the venue for the first time."""
    events: tuple[VenueEvent, ...] = ()
    """Every venue event the phase booked, in order (an order may have several; its last holds
    its latest state)."""
    fills: tuple[Fill, ...] = ()
    """Fills the venue made that exist nowhere else yet (the simulated venue's), for the caller to
    store; a broker's fills are in the store already (the order bridge wrote them)."""
    positions: tuple[PositionChange, ...] = ()
    commands: tuple[PlaceOrder | CancelOrder, ...] = ()
    """Commands for a remote venue (the order bridge), in order."""

    @property
    def orders(self) -> tuple[Order, ...]:
        """Every order state the phase produced, in order (the last of an order wins)."""
        return tuple(e.order for e in self.events)


@dataclass(frozen=True, slots=True)
class Candidates:
    """`observe`'s outcome: the signals to assess, strongest first, and the account's state."""

    ts: datetime
    signals: tuple[Signal, ...]
    trading_state: TradingState
    trading_state_reason: str
    open_positions: int
    effects: Effects
    unexited_positions: int = 0
    """Open positions no exit is selling (after the flatten time there should be none)."""


@dataclass(frozen=True, slots=True)
class PlannedEntry:
    """An approved entry: the buy intent, the quote it was judged and will be filled against, and
    the strategy the position will belong to."""

    intent: OrderIntent
    quote: OptionQuote
    strategy: str

    def to_wire(self) -> dict[str, object]:
        return {
            "intent": self.intent.model_dump(mode="json"),
            "quote": self.quote.model_dump(mode="json"),
            "strategy": self.strategy,
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> PlannedEntry:
        """Parse `to_wire`'s form; a missing or invalid field raises naming it."""
        for name in ("intent", "quote", "strategy"):
            if name not in wire:
                raise DomainError(f"planned entry has no {name!r}")
        strategy = wire["strategy"]
        if not isinstance(strategy, str) or not 1 <= len(strategy) <= 64:
            raise DomainError(f"planned entry strategy={strategy!r} must be a name of 1 to 64 characters")
        planned = cls(
            OrderIntent.model_validate(wire["intent"]), OptionQuote.model_validate(wire["quote"]), strategy
        )
        if planned.quote.contract != planned.intent.contract:
            raise DomainError(
                f"planned entry quote is for {planned.quote.contract.occ_symbol}, "
                f"the intent for {planned.intent.contract.occ_symbol}"
            )
        return planned


@dataclass(frozen=True, slots=True)
class Verdict:
    """The risk decision on one candidate, with the contract and size it was judged at."""

    signal: Signal
    verdict: RiskVerdict
    contract: OptionContract | None
    quantity: int


@dataclass(frozen=True, slots=True)
class Assessment:
    """`assess`'s outcome: a verdict per candidate and the intents of those approved."""

    ts: datetime
    verdicts: tuple[Verdict, ...]
    intents: tuple[PlannedEntry, ...]
    effects: Effects


@dataclass(frozen=True, slots=True)
class Executed:
    """`execute`'s (or `settle`'s) outcome."""

    ts: datetime
    open_positions: int
    effects: Effects


@dataclass
class SessionResult:
    session_date: str
    decisions: list[DecisionRecord]
    trades: list[ClosedTrade]
    equity_curve: list[tuple[datetime, Decimal]]
    max_open_positions: int
    open_positions_at_close: int
    incidents: list[str]
    portfolio: Portfolio


def _constant(controls: Controls) -> Callable[[datetime], Controls]:
    return lambda _now: controls


def _no_quote(contract: OptionContract) -> OptionQuote:
    """A series without a market: no bid, no offer (a sell still works against it)."""
    return OptionQuote(contract=contract, bid=0, ask=0, bid_size=0, ask_size=0)


def _marketable(order: Order, bid: float) -> bool:
    """Whether a working sell can trade at `bid` as it stands: a market order, or a limit at or
    below a positive bid."""
    if order.order_type is OrderType.MARKET:
        return True
    limit = order.limit_price
    if order.order_type is not OrderType.LIMIT or limit is None or not bid > 0:
        return False
    return limit <= Decimal(str(bid)).quantize(EXIT_TICK_USD, rounding=ROUND_HALF_UP)


_COLUMNS: WeakKeyDictionary[ChainSeries, dict[str, int]] = WeakKeyDictionary()


def _columns(series: ChainSeries) -> dict[str, int]:
    """OCC symbol -> column of a chain, computed once per series (engines are rebuilt per phase)."""
    columns = _COLUMNS.get(series)
    if columns is None:
        columns = {k.occ_symbol: i for i, k in enumerate(series.contracts)}
        _COLUMNS[series] = columns
    return columns


@dataclass
class _Chain:
    series: ChainSeries
    column: dict[str, int]
    sample_ns: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sample_ns = self.series.sample_ts_ns.tolist()

    def row_at(self, now_ns: int) -> int:
        return bisect_right(self.sample_ns, now_ns) - 1

    def quote(self, occ_symbol: str, row: int) -> OptionQuote | None:
        col = self.column.get(occ_symbol)
        if col is None or row < 0:
            return None
        s = self.series
        bid, ask = float(s.bid[row, col]), float(s.ask[row, col])
        if not (np.isfinite(bid) and np.isfinite(ask)):
            return None
        return OptionQuote(
            contract=s.contracts[col],
            bid=bid,
            ask=ask,
            bid_size=int(s.bid_size[row, col]),
            ask_size=int(s.ask_size[row, col]),
        )


@dataclass
class _Collector:
    """Effects of the phase in progress."""

    decisions: list[DecisionRecord] = field(default_factory=list)
    submitted: list[OrderIntent] = field(default_factory=list)
    events: list[VenueEvent] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    positions: list[PositionChange] = field(default_factory=list)
    commands: list[PlaceOrder | CancelOrder] = field(default_factory=list)

    def freeze(self) -> Effects:
        return Effects(
            tuple(self.decisions),
            tuple(self.submitted),
            tuple(self.events),
            tuple(self.fills),
            tuple(self.positions),
            tuple(self.commands),
        )


class SessionEngine:
    """Runs one session over a MarketDay; create one per day (or restore one with `from_state`)."""

    def __init__(
        self,
        day: MarketDay,
        session: SessionTimes,
        config: EngineConfig,
        signal_source: SignalSource,
        carry: AccountCarry,
        controls_at: Callable[[datetime], Controls] | None = None,
    ) -> None:
        if session.session_date != day.session_date:
            raise DomainError(f"session {session.session_date} does not match market day {day.session_date}")
        self.day = day
        self.session = session
        self.config = config
        self.signal_source = signal_source
        self.controls_at = controls_at or _constant(Controls(config.settings))
        self.start = ns_to_datetime(datetime_to_ns(session.open_et))
        self.venue: ExecutionVenue = config.venue.create(config.costs, config.mode)
        self.portfolio = Portfolio.funded(config.mode, carry.equity_usd, self.start)
        self.carry = carry
        self.peak_equity = max(carry.peak_equity_usd, carry.equity_usd)
        self.day_trades_today = 0
        self.plans: dict[str, ExitPlan] = {}
        self.exiting: dict[str, tuple[ExitReason, datetime]] = {}
        """OCC symbol -> why and since when its position is being sold: an exit works until flat."""
        self.protection_triggered: dict[str, datetime] = {}
        """OCC symbol -> when its stop or target was first seen crossed while its protective
        orders rested at the venue (see `_left_to_protection`)."""
        self.broker_mismatch = ""
        """Where the book and the broker disagree (empty: they agree, or no broker to ask)."""
        self.unflat_reported: set[str] = set()
        """Position ids already reported open `UNFLAT_ALERT` before the close."""
        self.stale_quotes: dict[str, datetime] = {}
        """OCC symbol -> the last sample of its chain, for each open position whose quotes are
        stale: it is neither marked nor traded until a fresh sample comes."""
        self.order_meta: dict[str, tuple[str, str]] = {}
        """Order id -> (strategy, exit reason): how its fills are booked whenever they come."""
        self.decisions: list[DecisionRecord] = []
        self._entry_note: str | None = None
        """Why the last proposed entry skipped a contract (early-exercise risk), for the risk record."""
        self.fills: list[Fill] = []
        """Every fill booked today, in order: what a reconciliation compares the store with."""
        self.incidents: list[str] = []
        self.max_open = 0
        self.chains = {u: _Chain(c, _columns(c)) for u, c in day.chains.items()}
        self._cut = DayCut(day)
        self._kept_strategy_states: list[object] = []
        """Strategy states restored for a source that does not keep them: written back unchanged."""
        self._phase = _Collector()
        self._curve_wire: list[list[object]] = []
        """The equity curve's points already in `to_state` form."""

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> SessionResult:
        now = self.session.open_et + MINUTE
        while now <= self.session.close_et:
            self.step(now)
            now += MINUTE
        open_at_close = len(self.portfolio.open_positions)
        self.settle(self.session.close_et)
        return SessionResult(
            session_date=self.day.session_date.isoformat(),
            decisions=self.decisions,
            trades=list(self.portfolio.closed),
            equity_curve=list(self.portfolio.equity_curve),
            max_open_positions=self.max_open,
            open_positions_at_close=open_at_close,
            incidents=self.incidents,
            portfolio=self.portfolio,
        )

    def step(self, now: datetime) -> None:
        """One minute end: the three phases in turn."""
        candidates = self.observe(now)
        assessment = self.assess(candidates.signals, now)
        self.execute(assessment.intents, now)

    # --- the phases -----------------------------------------------------------------------------

    def observe(self, now: datetime, broker: BrokerReport | None = None) -> Candidates:
        """Book the broker's news and reconcile with its book (a broker-backed venue), mark, let
        working orders trade, exit, then ask for signals (none from the flatten time on)."""
        self._phase = _Collector()
        if broker is not None:
            self._book(self.venue.apply(broker.news))
            self._reconcile(broker.book, now)
        now_ns = datetime_to_ns(now)
        rows = self._rows(now_ns)
        self._mark(rows, now)
        self._flag_stale(now_ns, now)
        controls = self._controls(now)
        self._work_orders(rows, now, controls)
        state, reason = trading_state(controls, self._account(), self.config.limits)
        self._exits(rows, now, state, reason, controls.close_requests)
        self._ensure_protection(now)
        self._report_unflat(now)
        signals: list[Signal] = []
        if now < self.session.flatten_et:
            source = self.signal_source
            asked = (
                source.signals_at(now)
                if isinstance(source, RecordedSignals)
                else source.signals(self._cut.until(now_ns), now)
            )
            signals = sorted(asked, key=lambda s: (-s.confidence, s.signal_id))
            for signal in signals:
                self._record_signal(signal, now)
        self._count_open()
        open_positions = len(self.portfolio.open_positions)
        unexited = sum(1 for p in self.portfolio.open_positions if p.contract.occ_symbol not in self.exiting)
        return Candidates(now, tuple(signals), state, reason, open_positions, self._phase.freeze(), unexited)

    def assess(self, signals: Sequence[Signal], now: datetime) -> Assessment:
        """Judge and size each candidate in order; an approved one is filled on a copy of the
        account before the next is judged (see the module doc)."""
        self._phase = _Collector()
        verdicts: list[Verdict] = []
        intents: list[PlannedEntry] = []
        if signals:
            now_ns = datetime_to_ns(now)
            rows = self._rows(now_ns)
            known = self._cut.until(now_ns)
            controls = self._controls(now)
            trial = self._trial()
            for signal in signals:
                entry = trial._entry(signal, rows, now, known)
                verdict = check_entry(
                    entry, now, self.session, controls, trial._account(now), self.config.limits
                )
                contract = entry.quote.contract if entry.quote else None
                note = trial._entry_note
                self._record(
                    now,
                    "risk",
                    {
                        **({"contract_note": note} if note else {}),
                        "signal_id": signal.signal_id,
                        "approved": verdict.approved,
                        "rules": list(verdict.rules),
                        "violations": [str(v) for v in verdict.violations],
                        "trading_state": verdict.trading_state.value,
                        "contract": contract.occ_symbol if contract else None,
                        "quantity": entry.quantity,
                    },
                )
                verdicts.append(Verdict(signal, verdict, contract, entry.quantity))
                if not verdict.approved or entry.quote is None:
                    continue
                planned = PlannedEntry(
                    self._entry_intent(signal, entry.quote, entry.quantity, now), entry.quote, signal.strategy
                )
                trial._enter(planned, now)
                intents.append(planned)
        return Assessment(now, tuple(verdicts), tuple(intents), self._phase.freeze())

    def execute(self, intents: Sequence[PlannedEntry], now: datetime) -> Executed:
        """Submit each approved intent against its quote and book what fills."""
        self._phase = _Collector()
        for planned in intents:
            self._enter(planned, now)
        self._ensure_protection(now)
        self._count_open()
        return Executed(now, len(self.portfolio.open_positions), self._phase.freeze())

    def settle(self, close: datetime) -> Executed:
        """No 0DTE position may outlive the close; if one does, settle it and report an incident."""
        self._phase = _Collector()
        for position in self.portfolio.open_positions:
            self._cancel_working(position, close)
            underlying = position.contract.underlying
            bars = self.day.bars.get(underlying.value if underlying else "")
            last = float(bars.close[-1]) if bars is not None and len(bars) else float("nan")
            last_at = (
                ns_to_datetime(int(bars.close_ts_ns[-1])).astimezone(close.tzinfo).strftime("%H:%M")
                if bars is not None and len(bars)
                else "never"
            )
            value = intrinsic_value(position.contract.right, position.contract.strike, last)
            trade = self.portfolio.settle_at_expiry(position.contract, Decimal(str(round(value, 4))), close)
            self.plans.pop(position.contract.occ_symbol, None)
            self.exiting.pop(position.contract.occ_symbol, None)
            message = (
                f"INCIDENT: {position.contract.occ_symbol} x{position.quantity} was held into expiry; "
                f"settled at intrinsic {value:.2f} (underlying {last:.2f}, last priced {last_at}), "
                f"pnl {trade.pnl_usd}"
            )
            self.incidents.append(message)
            self._phase.positions.append(
                PositionChange("closed", position, self._trades_of(position.position_id))
            )
            self._record(close, "incident", {"message": message})
        return Executed(close, len(self.portfolio.open_positions), self._phase.freeze())

    # --- reading --------------------------------------------------------------------------------

    def orders(self) -> list[Order]:
        """Every order the venue took today, in the order they were submitted (latest state)."""
        return self.venue.orders()

    def account(self) -> AccountRisk:
        """The account as the risk checks see it now."""
        return self._account()

    # --- steps ----------------------------------------------------------------------------------

    def _rows(self, now_ns: int) -> dict[Underlying, int]:
        """Each chain's latest row sampled by `now_ns`; -1 when there is none or it is stale."""
        max_age_ns = int(self.config.max_quote_age_s * 1e9)
        rows: dict[Underlying, int] = {}
        for underlying, chain in self.chains.items():
            row = chain.row_at(now_ns)
            rows[underlying] = row if row >= 0 and now_ns - chain.sample_ns[row] <= max_age_ns else -1
        return rows

    def _stale(self, now_ns: int) -> dict[Underlying, int]:
        """The chains whose latest sample by `now_ns` is older than `max_quote_age_s`, with it."""
        max_age_ns = int(self.config.max_quote_age_s * 1e9)
        stale: dict[Underlying, int] = {}
        for underlying, chain in self.chains.items():
            row = chain.row_at(now_ns)
            if row >= 0 and now_ns - chain.sample_ns[row] > max_age_ns:
                stale[underlying] = chain.sample_ns[row]
        return stale

    def _flag_stale(self, now_ns: int, now: datetime) -> None:
        """List each open position on a stale chain (`stale_quotes`), reporting it as an incident
        when it becomes stale; a fresh sample takes it off the list."""
        stale = self._stale(now_ns)
        for position in self.portfolio.open_positions:
            symbol, underlying = position.contract.occ_symbol, position.contract.underlying
            if underlying not in stale:
                self.stale_quotes.pop(symbol, None)
                continue
            if symbol in self.stale_quotes:
                continue
            sampled_at = ns_to_datetime(stale[underlying]).astimezone(self.session.open_et.tzinfo)
            self.stale_quotes[symbol] = sampled_at
            age_s = (now - sampled_at).total_seconds()
            message = (
                f"INCIDENT: stale quote: {symbol} x{position.quantity} was last quoted at "
                f"{sampled_at.isoformat()} ({age_s:.0f} s ago, limit {self.config.max_quote_age_s:.0f} s); "
                "it is neither marked nor traded until a fresh quote comes"
            )
            self.incidents.append(message)
            self._record(
                now,
                "incident",
                {
                    "message": message,
                    "stale_quote": True,
                    "position_id": position.position_id,
                    "contract": symbol,
                    "quantity": position.quantity,
                    "sampled_at": sampled_at.isoformat(),
                    "quote_age_s": age_s,
                },
            )
        for symbol in set(self.stale_quotes) - {p.contract.occ_symbol for p in self.portfolio.open_positions}:
            del self.stale_quotes[symbol]

    def _mark(self, rows: dict[Underlying, int], now: datetime) -> None:
        marks: dict[str, float] = {}
        for position in self.portfolio.open_positions:
            quote = self._quote(position, rows)
            if quote is not None and quote.is_usable:
                marks[position.contract.occ_symbol] = quote.mid
                plan = self.plans[position.contract.occ_symbol]
                self.plans[position.contract.occ_symbol] = plan.observe(quote.bid)
        equity = self.portfolio.mark(marks, now)
        self.peak_equity = max(self.peak_equity, equity)

    def _work_orders(self, rows: dict[Underlying, int], now: datetime, controls: Controls) -> None:
        """Working orders trade against this minute's quote; what an entry did not fill is
        cancelled (the reason says so when a human asked, `controls.cancel_requests` holding its
        store id), an exit's remainder keeps working (`_exits` walks it when needed). From the
        flatten time, or under an emergency stop, an entry still working (decided the minute
        before) is cancelled before it can trade."""
        closed = (
            "the flatten time: no new position"
            if now >= self.session.flatten_et
            else "emergency stop: no new position"
            if controls.emergency_stop
            else None
        )
        if closed is not None:
            for order in self.venue.working_orders():
                if order.side is Side.BUY:
                    self._cancel(order.order_id, now, closed)
        working = self.venue.working_orders()
        for contract in dict.fromkeys(o.contract for o in working):
            quoted_at = self._quoted_at(contract, rows, now)
            if quoted_at is None:
                continue  # no sample yet, or a stale one: nothing trades on it
            quote = self._contract_quote(contract, rows)
            if quote is None and any(o.side is Side.SELL and o.contract == contract for o in working):
                quote = _no_quote(contract)
            if quote is not None:
                self._book(self.venue.on_quote(quote, now, self._no_bid_underlying(quote, now), quoted_at))
        for order in self.venue.working_orders():
            if order.side is Side.BUY:
                asked = qualified(self.day.session_date, order.order_id) in controls.cancel_requests
                why = "cancelled as asked from the dashboard" if asked else "immediate-or-cancel remainder"
                self._cancel(order.order_id, now, why)

    def _exits(
        self,
        rows: dict[Underlying, int],
        now: datetime,
        state: TradingState,
        why: str,
        close_requests: frozenset[str],
    ) -> None:
        """Start the exits that must start; keep every started one working until flat, replacing
        its order when it is no longer marketable (walked toward the bid, then market)."""
        for position in self.portfolio.open_positions:
            symbol = position.contract.occ_symbol
            seen = self._contract_quote(position.contract, rows)
            bid = seen.bid if seen is not None else float("nan")
            started = self.exiting.get(symbol)
            if started is None:
                reason: ExitReason | None
                if state is TradingState.HALTED:
                    reason = ExitReason.EMERGENCY_STOP
                elif position.position_id in close_requests:
                    reason = ExitReason.MANUAL
                else:
                    reason = exit_reason(self.plans[symbol], bid, now, self.session.flatten_et)
                if self._left_to_protection(position, reason, bid, now) or reason is None:
                    continue
                self._cancel_working(position, now)
                self.exiting[symbol] = started = (reason, now)
            else:
                working = [
                    o
                    for o in self.venue.working_orders()
                    if o.contract == position.contract and o.side is Side.SELL
                ]
                if working and _marketable(working[0], bid):
                    continue  # a bid smaller than the remainder: it keeps working where it is
                for order in working:
                    self._cancel(order.order_id, now, "exit re-priced")
            if any(
                o.contract == position.contract and o.side is Side.SELL for o in self.venue.working_orders()
            ):
                continue  # a sell whose cancel the broker has not confirmed may still fill: never two
            reason, since = started
            minutes_working = (now - since) // MINUTE
            limit = exit_limit_usd(bid, minutes_working)
            intent = OrderIntent(
                intent_id=idempotency_key(self.config.mode, position.position_id, "exit", now.isoformat()),
                mode=self.config.mode,
                ts=now,
                contract=position.contract,
                side=Side.SELL,
                quantity=position.quantity,
                order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
                limit_price=limit,
                reason=f"exit {reason.value}" + (f": {why}" if reason is ExitReason.EMERGENCY_STOP else ""),
            )
            quotable = self._quoted_at(position.contract, rows, now) is not None
            update = self._submit(
                intent,
                (seen or _no_quote(position.contract)) if quotable else None,
                now,
                position.strategy,
                reason.value,
            )
            self._record(
                now,
                "exit",
                {
                    "position_id": position.position_id,
                    "reason": reason.value,
                    "bid": bid,
                    "minutes_working": minutes_working,
                    **self._order_detail(update),
                },
            )
            self._book(update)

    def _controls(self, now: datetime) -> Controls:
        controls = self.controls_at(now)
        return replace(controls, broker_mismatch=self.broker_mismatch) if self.broker_mismatch else controls

    def _reconcile(self, book: BrokerBook | None, now: datetime) -> None:
        """Compare the positions with the broker's `book` (one that has seen every fill booked):
        a new difference is an incident with both sides and halts entries; agreement clears it."""
        if book is not None and not book.has_seen(frozenset(f.fill_id for f in self.fills)):
            return  # taken before a fill this engine booked: the next book will say
        if book is not None:
            self._adopt(book.hand_fills, now)
        held = {p.contract.occ_symbol: p.quantity for p in self.portfolio.open_positions}
        difference = compare(held, book, now)
        text = "" if difference is None else difference.text
        if text == self.broker_mismatch:
            return
        self.broker_mismatch = text
        if difference is None:
            self._record(now, "reconciled", {"message": "book and broker agree again: entries resume"})
            return
        message = f"INCIDENT: book and broker disagree ({text}); no entry until they agree"
        self.incidents.append(message)
        self._record(now, "incident", {"message": message, **difference.details()})

    def _adopt(self, hand_fills: Sequence[Fill], now: datetime) -> None:
        """Book the fills of trades made at the broker without Smart 0DTE (by hand) that the book
        lacks, as the broker's truth: a bought contract becomes a position the engine protects and
        flattens like its own (`HAND_STRATEGY`), a sale reduces what it sold. A sale of more than
        the book holds is left: the difference halts entries until the owner resolves it. Each
        adoption is an incident."""
        booked = {f.fill_id for f in self.fills}
        adopted: list[dict[str, object]] = []
        for fill in sorted(hand_fills, key=lambda f: (f.ts, f.fill_id)):
            held = self.portfolio.position_for(fill.contract)
            if fill.fill_id in booked or (
                fill.side is Side.SELL and (held is None or held.quantity < fill.quantity)
            ):
                continue
            first = not any(f.order_id == fill.order_id for f in self.fills)
            self._apply(fill, first, HAND_STRATEGY, ExitReason.MANUAL.value)
            booked.add(fill.fill_id)
            adopted.append(
                {
                    "fill_id": fill.fill_id,
                    "contract": fill.contract.occ_symbol,
                    "side": fill.side.value,
                    "quantity": fill.quantity,
                    "price": str(fill.price),
                }
            )
        if adopted:
            message = (
                f"INCIDENT: {len(adopted)} fill(s) of trades made at IB without Smart 0DTE adopted into "
                "the book (a bought contract is protected and flattened like the engine's own)"
            )
            self.incidents.append(message)
            self._record(now, "incident", {"message": message, "adopted": adopted})

    def _left_to_protection(
        self, position: Position, reason: ExitReason | None, bid: float, now: datetime
    ) -> bool:
        """Whether a stop or target the position's resting protective orders cover is left to them:
        for `PROTECTION_GRACE` after the level is first seen crossed while there is a bid to trade."""
        symbol = position.contract.occ_symbol
        resting = (
            reason in (ExitReason.STOP_LOSS, ExitReason.TAKE_PROFIT)
            and bid > 0
            and any(o.oca_group and o.contract == position.contract for o in self.venue.working_orders())
        )
        if not resting:
            self.protection_triggered.pop(symbol, None)
            return False
        return now - self.protection_triggered.setdefault(symbol, now) < PROTECTION_GRACE

    def _report_unflat(self, now: datetime) -> None:
        """From `UNFLAT_ALERT` before the close, each position still open is an incident, once."""
        if now < self.session.close_et - UNFLAT_ALERT:
            return
        for position in self.portfolio.open_positions:
            if position.position_id in self.unflat_reported:
                continue
            self.unflat_reported.add(position.position_id)
            symbol = position.contract.occ_symbol
            left = self.session.close_et - now
            message = (
                f"INCIDENT: {symbol} x{position.quantity} is still open {left.total_seconds() / 60:.0f} "
                f"minutes before the close; its exit keeps working"
            )
            self.incidents.append(message)
            self._record(
                now,
                "incident",
                {
                    "message": message,
                    "position_id": position.position_id,
                    "contract": symbol,
                    "quantity": position.quantity,
                },
            )

    def _record_signal(self, signal: Signal, now: datetime) -> None:
        self._record(
            now,
            "signal",
            {
                "signal_id": signal.signal_id,
                "symbol": signal.underlying.value,
                "strategy": signal.strategy,
                "direction": signal.direction.value,
                "confidence": round(signal.confidence, 4),
                "rationale": signal.rationale,
            },
        )

    def _entry(
        self, signal: Signal, rows: dict[Underlying, int], now: datetime, known: MarketDay
    ) -> ProposedEntry:
        chain = self.chains.get(signal.underlying)
        spot = self._spot(known, signal.underlying)
        if chain is not None and spot is not None and rows[signal.underlying] >= 0:
            return self._propose(signal, chain, rows[signal.underlying], spot, now, known)
        return ProposedEntry(signal, None, 0)

    def _entry_intent(self, signal: Signal, quote: OptionQuote, quantity: int, now: datetime) -> OrderIntent:
        return OrderIntent(
            intent_id=idempotency_key(self.config.mode, self.day.session_date, signal.signal_id),
            mode=self.config.mode,
            ts=now,
            contract=quote.contract,
            side=Side.BUY,
            quantity=quantity,
            limit_price=Decimal(str(quote.ask)),
            protection=Protection(
                stop_loss_fraction=self.config.settings.stop_loss_percentage,
                take_profit_fraction=self.config.settings.take_profit_percentage,
            ),
            signal_id=signal.signal_id,
            reason=f"{signal.strategy} {signal.direction.value} conf {signal.confidence:.2f}",
        )

    def _enter(self, planned: PlannedEntry, now: datetime) -> None:
        update = self._submit(planned.intent, planned.quote, now, planned.strategy, "")
        self._record(now, "order", {"signal_id": planned.intent.signal_id, **self._order_detail(update)})
        self._book(update)

    def _trial(self) -> SessionEngine:
        """A copy whose account can be changed without touching this engine's."""
        trial = copy.copy(self)
        trial.portfolio = _copy_portfolio(self.portfolio)
        trial.venue = self.venue.copy()
        trial.plans = dict(self.plans)
        trial.exiting = dict(self.exiting)
        trial.protection_triggered = dict(self.protection_triggered)
        trial.unflat_reported = set(self.unflat_reported)
        trial.stale_quotes = dict(self.stale_quotes)
        trial.order_meta = dict(self.order_meta)
        trial.fills = list(self.fills)
        trial.decisions = []
        trial.incidents = list(self.incidents)
        trial._phase = _Collector()
        trial._curve_wire = list(self._curve_wire)
        return trial

    def _propose(
        self, signal: Signal, chain: _Chain, row: int, spot: float, now: datetime, known: MarketDay
    ) -> ProposedEntry:
        series = chain.series
        minutes_left = (self.session.close_et - now).total_seconds() / 60
        analytics = analyze(
            signal.underlying,
            self.day.session_date,
            series.strike,
            series.is_call,
            series.bid[row],
            series.ask[row],
            spot,
            minutes_left,
            self.config.pricing,
        )
        self._entry_note = None
        if signal.contract is not None:
            index = chain.column.get(signal.contract.occ_symbol)
            if index is not None and bool(analytics.early_exercise_risk[index]):
                # European pricing cannot value an American call's early exercise: never buy one.
                self._entry_note = (
                    f"skipped {signal.contract.occ_symbol}: in-the-money call on an ex-dividend date "
                    "(early-exercise risk)"
                )
                index = None
        else:
            index = select_by_delta(
                analytics, signal.direction, signal.target_delta or self.config.default_target_delta
            )
            skipped = early_exercise_skips(analytics, signal.direction)
            if skipped:
                self._entry_note = (
                    f"skipped {skipped} in-the-money call(s) on an ex-dividend date (early-exercise risk)"
                )
        if index is None:
            return ProposedEntry(signal, None, 0, underlying_price=spot)
        quote = chain.quote(series.contracts[index].occ_symbol, row)
        delta, gamma = float(analytics.delta[index]), float(analytics.gamma[index])
        quantity = 0
        if quote is not None and quote.is_usable:
            account = self._account(now)
            by_greeks = max_quantity_within_greeks(delta, gamma, spot, account, self.config.limits)
            # Never hold more than the bid shows: the flatten and the emergency stop must be able
            # to sell the whole position within one minute.
            quantity = min(self._size(quote.ask, signal.confidence, known), by_greeks, quote.bid_size)
        return ProposedEntry(signal, quote, quantity, delta, gamma, spot)

    def _size(self, ask: float, confidence: float, known: MarketDay) -> int:
        settings = self.config.settings
        equity = float(self.portfolio.equity_usd())
        method = self.config.sizing
        if method is SizingMethod.HALF_KELLY:
            ratio = settings.take_profit_percentage / settings.stop_loss_percentage
            return half_kelly(equity, ask, confidence, ratio, settings.max_risk_per_trade)
        if method is SizingMethod.VOLATILITY_ADJUSTED:
            vix = known.bars.get("VIX")
            level = float(vix.close[-1]) if vix is not None and len(vix) else self.config.reference_vix
            return volatility_adjusted(
                equity, ask, settings.max_risk_per_trade, level, self.config.reference_vix
            )
        return fixed_fractional(equity, ask, settings.max_risk_per_trade)

    # --- helpers --------------------------------------------------------------------------------

    def _quote(self, position: Position, rows: dict[Underlying, int]) -> OptionQuote | None:
        return self._contract_quote(position.contract, rows)

    def _contract_quote(self, contract: OptionContract, rows: dict[Underlying, int]) -> OptionQuote | None:
        underlying = contract.underlying
        if underlying is None or underlying not in self.chains:
            return None
        return self.chains[underlying].quote(contract.occ_symbol, rows[underlying])

    def _quoted_at(
        self, contract: OptionContract, rows: dict[Underlying, int], now: datetime
    ) -> datetime | None:
        """When the quotes `contract` trades against now were sampled: its chain's fresh row (None
        when the chain has no row yet or a stale one); `now` for a root without a chain."""
        underlying = contract.underlying
        if underlying is None or underlying not in self.chains:
            return now
        row = rows[underlying]
        return ns_to_datetime(self.chains[underlying].sample_ns[row]) if row >= 0 else None

    def _no_bid_underlying(self, quote: OptionQuote, now: datetime) -> float | None:
        """The underlying's last close by `now` when `quote` has no bid (what a market sell then
        fills at depends on it), else None."""
        underlying = quote.contract.underlying
        if quote.bid > 0 or underlying is None:
            return None
        bars = self.day.bars.get(underlying.value)
        closed = bars.closed_by(datetime_to_ns(now)) if bars is not None else 0
        return float(bars.close[closed - 1]) if bars is not None and closed else None

    def _spot(self, known: MarketDay, underlying: Underlying) -> float | None:
        bars = known.bars.get(underlying.value)
        return float(bars.close[-1]) if bars is not None and len(bars) else None

    def _cancel(self, order_id: str, now: datetime, reason: str) -> None:
        """Cancel a working order (a cancel the broker has not confirmed yet: nothing new)."""
        if self.venue.order(order_id).status is not OrderStatus.PENDING_CANCEL:
            self._book(self.venue.cancel(order_id, now, reason))

    def _cancel_working(self, position: Position, now: datetime) -> None:
        for order in self.venue.working_orders():
            if order.contract == position.contract:
                self._cancel(order.order_id, now, "position exit")

    def _count_open(self) -> None:
        self.max_open = max(self.max_open, len(self.portfolio.open_positions))

    def _pending_entries(self) -> list[Order]:
        """Entry orders still working: each will be (part of) a position."""
        return [o for o in self.venue.working_orders() if o.side is Side.BUY]

    def _portfolio_greeks(self, now: datetime, pending: Sequence[Order]) -> tuple[float, float]:
        """Dollar delta and the gamma P&L of a 1% move of the open positions and the `pending`
        entries' remainders, from the chain mid's implied vol at `now` (a contract without a usable
        quote counts as 0: nothing to price)."""
        now_ns = datetime_to_ns(now)
        rows = self._rows(now_ns)
        minutes_left = max((self.session.close_et - now).total_seconds() / 60, 0.0)
        t_years = float(t_years_from_minutes(minutes_left))
        dollar_delta = gamma_pnl = 0.0
        held = [(p.contract, p.quantity) for p in self.portfolio.open_positions]
        for contract, quantity in held + [(o.contract, o.remaining_quantity) for o in pending]:
            underlying = contract.underlying
            bars = self.day.bars.get(underlying.value) if underlying is not None else None
            chain = self.chains.get(underlying) if underlying is not None else None
            closed = bars.closed_by(now_ns) if bars is not None else 0
            quote = chain.quote(contract.occ_symbol, rows[underlying]) if chain and underlying else None
            if bars is None or closed == 0 or quote is None or not quote.is_usable or underlying is None:
                continue
            spot = float(bars.close[closed - 1])
            is_call = contract.right is OptionRight.CALL
            q = self.config.pricing.div_yield.get(underlying, 0.0)
            rate = self.config.pricing.rate
            vol, status = implied_vol(quote.mid, spot, contract.strike, t_years, rate, q, is_call)
            if int(status) != IVStatus.OK:
                continue
            greeks = bsm_greeks(spot, contract.strike, t_years, rate, q, float(vol), is_call)
            dollar_delta += dollar_delta_usd(float(greeks.delta), quantity, spot)
            gamma_pnl += gamma_pnl_1pct_usd(float(greeks.gamma), quantity, spot)
        return dollar_delta, gamma_pnl

    def _account(self, now: datetime | None = None) -> AccountRisk:
        """The account the risk checks see; with `now`, the greeks count too. Working entry orders
        count as the positions they will be (see the module doc)."""
        portfolio = self.portfolio
        losses_today = portfolio.consecutive_losses()
        all_lost_today = losses_today == len(portfolio.closed)
        pending = self._pending_entries()
        dollar_delta, gamma_pnl = self._portfolio_greeks(now, pending) if now is not None else (0.0, 0.0)
        held = {p.contract.occ_symbol for p in portfolio.open_positions}
        exposure = portfolio.premium_at_risk_by_symbol_usd()
        for order in pending:
            underlying = order.contract.underlying
            if underlying is not None:
                price = float(order.limit_price or 0)
                exposure[underlying] = exposure.get(underlying, 0.0) + (
                    price * CONTRACT_MULTIPLIER * order.remaining_quantity
                )
        entries = [
            o.created_at
            for o in self.orders()
            if o.side is Side.BUY and (o.filled_quantity > 0 or not o.status.is_terminal)
        ]
        return AccountRisk(
            equity_usd=float(portfolio.equity_usd()),
            start_of_day_equity_usd=float(self.carry.equity_usd),
            peak_equity_usd=float(self.peak_equity),
            open_positions=len(held) + len({o.contract.occ_symbol for o in pending} - held),
            premium_at_risk_by_symbol_usd=exposure,
            consecutive_losses=losses_today + (self.carry.consecutive_losses if all_lost_today else 0),
            last_entry_at=max(entries, default=None),
            day_trades_in_window=self.carry.day_trades_in_window
            + self.day_trades_today
            + sum(1 for o in pending if o.filled_quantity == 0),
            dollar_delta_usd=dollar_delta,
            gamma_pnl_1pct_usd=gamma_pnl,
        )

    def _submit(
        self, intent: OrderIntent, quote: OptionQuote | None, now: datetime, strategy: str, reason: str
    ) -> VenueUpdate:
        """Give the venue `intent` (the caller books the update); an entry's remainder that its
        first live quote did not fill is cancelled (the engine never leaves entries resting), an
        exit's keeps working.

        When the venue does not fill at submission (latency, or a broker) an order trades later:
        `_work_orders` cancels an entry's remainder the next minute.
        """
        first_time = not self.venue.knows(intent.intent_id)
        underlying_usd = self._no_bid_underlying(quote, now) if quote is not None else None
        update = self.venue.submit(intent, quote, now, underlying_usd)
        if first_time:
            self._phase.submitted.append(intent)
            self.order_meta[update.orders[0].order_id] = (strategy, reason)
        if not self.venue.fills_at_submission:
            return update
        live = {o.order_id for o in self.venue.working_orders() if o.side is Side.BUY}
        for order_id in dict.fromkeys(o.order_id for o in update.orders if o.order_id in live):
            update += self.venue.cancel(order_id, now, "immediate-or-cancel remainder")
        return update

    def _book(self, update: VenueUpdate) -> None:
        """Apply an update's events (order states, fills) and keep its commands."""
        self._phase.commands.extend(update.commands)
        for event in update.events:
            self._phase.events.append(event)
            fill, order = event.fill, event.order
            if fill is not None:
                strategy, reason = self.order_meta.get(fill.order_id, ("", ""))
                if not reason and order.oca_group is not None:  # a group placed at an entry's fill
                    reason = PROTECTIVE_EXIT[order.order_type].value
                self._apply(fill, order.filled_quantity == fill.quantity, strategy, reason)
                if self.venue.records_own_fills:
                    self._phase.fills.append(fill)

    def _apply(self, fill: Fill, first_of_order: bool, strategy: str, reason: str) -> None:
        """Book `fill` (the first of its order: an entry's counts as a day trade) for `strategy`
        (empty: the held position's), a sell for exit `reason`."""
        symbol = fill.contract.occ_symbol
        held = self.portfolio.position_for(fill.contract)
        trade = self.portfolio.apply_fill(fill, strategy or (held.strategy if held else "unknown"), reason)
        self.fills.append(fill)
        self._record(
            fill.ts,
            "fill",
            {
                "fill_id": fill.fill_id,
                "order_id": fill.order_id,
                "contract": symbol,
                "side": fill.side.value,
                "quantity": fill.quantity,
                "price": str(fill.price),
                "commission_usd": str(fill.commission_usd),
            },
        )
        after = self.portfolio.position_for(fill.contract)
        if fill.side is Side.BUY:
            assert after is not None
            if first_of_order:
                self.day_trades_today += 1
            settings = self.config.settings
            self.plans[symbol] = ExitPlan(
                float(after.entry_price),
                settings.stop_loss_percentage,
                settings.take_profit_percentage,
                self.config.trailing_stop_fraction,
            )
            self._phase.positions.append(PositionChange("opened" if held is None else "added", after))
            return
        assert held is not None and trade is not None
        if after is None:
            self.plans.pop(symbol, None)
            self.exiting.pop(symbol, None)
            self.protection_triggered.pop(symbol, None)
            self._phase.positions.append(PositionChange("closed", held, self._trades_of(held.position_id)))
        else:
            self._phase.positions.append(PositionChange("reduced", held, (trade,)))

    def _ensure_protection(self, now: datetime) -> None:
        """Every open position that is not being sold has protection resting at the venue for all
        it holds: what no working group covers (a new fill, a group the venue rejected or ended)
        gets a new group. A group covers the most any of its orders still sells."""
        working = self.venue.working_orders()
        for position in self.portfolio.open_positions:
            if position.contract.occ_symbol in self.exiting:
                continue  # its exit cancelled the protection and sells the position itself
            covered: dict[str, int] = {}
            for order in working:
                if order.contract == position.contract and order.oca_group and order.side is Side.SELL:
                    covered[order.oca_group] = max(covered.get(order.oca_group, 0), order.remaining_quantity)
            missing = position.quantity - sum(covered.values())
            if missing > 0:
                self._protect(position, missing, now)

    def _protect(self, position: Position, quantity: int, now: datetime) -> None:
        """A stop and a target for `quantity` of the position, at its exit levels, as one
        one-cancels-other group resting at the venue: the position is protected even if no later
        minute runs. The engine's own exits cancel the group first (`_cancel_working`)."""
        key = (self.config.mode, self.day.session_date, position.position_id, now.isoformat())
        plan = self.plans[position.contract.occ_symbol]
        intents = protective_group(
            key, self.config.mode, position.contract, quantity, plan, now, position.position_id
        )
        placed = []
        for intent in intents:
            update = self._submit(
                intent, None, now, position.strategy, PROTECTIVE_EXIT[intent.order_type].value
            )
            placed.append(self._order_detail(update))
            self._book(update)
        self._record(
            now,
            "protect",
            {"position_id": position.position_id, "oca_group": intents[0].oca_group, "orders": placed},
        )

    def _trades_of(self, position_id: str) -> tuple[ClosedTrade, ...]:
        return tuple(t for t in self.portfolio.closed if t.position_id == position_id)

    def _order_detail(self, update: VenueUpdate) -> dict[str, object]:
        order = update.orders[-1] if update.orders else None
        if order is None:
            return {}
        return {
            "order_id": order.order_id,
            "intent_id": order.intent_id,
            "contract": order.contract.occ_symbol,
            "side": order.side.value,
            "quantity": order.quantity,
            "status": order.status.value,
            "limit_price": str(order.limit_price) if order.limit_price is not None else None,
            "stop_price": str(order.stop_price) if order.stop_price is not None else None,
            "filled_quantity": order.filled_quantity,
        }

    def _record(self, ts: datetime, kind: str, detail: dict[str, object]) -> None:
        record = DecisionRecord(ts, kind, detail)
        self.decisions.append(record)
        self._phase.decisions.append(record)

    # --- state ----------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Everything that changes during the day, as JSON-ready values (Decimals as strings,
        datetimes ISO 8601); `from_state` rebuilds an engine that continues identically.
        The decision log is not part of it: each phase returns its own records."""
        source = self.signal_source
        strategy_states = (
            [_strategy_state_to_wire(key, value) for key, value in source.states.items()]
            if isinstance(source, StatefulSignalSource)
            else list(self._kept_strategy_states)
        )
        carry = self.carry
        return {
            "format": STATE_FORMAT,
            "session_date": self.session.session_date.isoformat(),
            "mode": self.config.mode.value,
            "carry": {
                "equity_usd": str(carry.equity_usd),
                "peak_equity_usd": str(carry.peak_equity_usd),
                "day_trades_in_window": carry.day_trades_in_window,
                "consecutive_losses": carry.consecutive_losses,
            },
            "peak_equity_usd": str(self.peak_equity),
            "day_trades_today": self.day_trades_today,
            "max_open_positions": self.max_open,
            "incidents": list(self.incidents),
            "plans": [
                [
                    symbol,
                    p.entry_price,
                    p.stop_loss_fraction,
                    p.take_profit_fraction,
                    p.trailing_stop_fraction,
                    p.peak_bid,
                ]
                for symbol, p in self.plans.items()
            ],
            "exiting": [[symbol, r.value, _iso(since)] for symbol, (r, since) in self.exiting.items()],
            "unflat_reported": sorted(self.unflat_reported),
            "stale_quotes": [[symbol, _iso(at)] for symbol, at in self.stale_quotes.items()],
            "broker_mismatch": self.broker_mismatch,
            "protection_triggered": [
                [symbol, _iso(since)] for symbol, since in self.protection_triggered.items()
            ],
            "order_meta": [[order_id, s, r] for order_id, (s, r) in self.order_meta.items()],
            "fills": [f.model_dump(mode="json") for f in self.fills],
            "portfolio": _portfolio_to_wire(
                self.portfolio, _curve_to_wire(self.portfolio, self.session.open_et, self._curve_wire)
            ),
            "venue": self.venue.to_wire(),
            "strategy_states": strategy_states,
        }

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        day: MarketDay,
        session: SessionTimes,
        config: EngineConfig,
        signal_source: SignalSource,
        controls_at: Callable[[datetime], Controls] | None = None,
    ) -> SessionEngine:
        """The engine `to_state` described, over `day` (the market as known now: it may hold more
        than when the state was saved). Refuses a state of another format, session or mode."""
        try:
            return cls._restore(state, day, session, config, signal_source, controls_at)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, DomainError):
                raise
            raise DomainError(f"engine state is malformed: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def _restore(
        cls,
        state: Mapping[str, Any],
        day: MarketDay,
        session: SessionTimes,
        config: EngineConfig,
        signal_source: SignalSource,
        controls_at: Callable[[datetime], Controls] | None,
    ) -> SessionEngine:
        if state.get("format") != STATE_FORMAT:
            raise DomainError(
                f"engine state format={state.get('format')!r}; this engine reads {STATE_FORMAT}"
            )
        if state["session_date"] != session.session_date.isoformat():
            raise DomainError(
                f"engine state is for session {state['session_date']}, not {session.session_date.isoformat()}"
            )
        if state["mode"] != config.mode.value:
            raise DomainError(
                f"engine state mode={state['mode']} does not match config mode={config.mode.value}"
            )
        wire = state["carry"]
        carry = AccountCarry(
            equity_usd=Decimal(wire["equity_usd"]),
            peak_equity_usd=Decimal(wire["peak_equity_usd"]),
            day_trades_in_window=int(wire["day_trades_in_window"]),
            consecutive_losses=int(wire["consecutive_losses"]),
        )
        engine = cls(day, session, config, signal_source, carry, controls_at)
        engine.peak_equity = Decimal(state["peak_equity_usd"])
        engine.day_trades_today = int(state["day_trades_today"])
        engine.max_open = int(state["max_open_positions"])
        engine.incidents = [str(i) for i in state["incidents"]]
        engine.plans = {
            str(symbol): ExitPlan(
                float(entry), float(stop), float(take), None if trail is None else float(trail), float(peak)
            )
            for symbol, entry, stop, take, trail, peak in state["plans"]
        }
        # Documents saved before exits kept working have neither key: no exit was working then.
        engine.exiting = {
            str(symbol): (ExitReason(reason), aware_datetime(since, "engine state timestamp"))
            for symbol, reason, since in state.get("exiting", [])
        }
        engine.unflat_reported = {str(p) for p in state.get("unflat_reported", [])}
        engine.stale_quotes = {
            str(symbol): aware_datetime(at, "engine state timestamp") for symbol, at in state["stale_quotes"]
        }
        engine.broker_mismatch = str(state["broker_mismatch"])
        engine.protection_triggered = {
            str(symbol): aware_datetime(since, "engine state timestamp")
            for symbol, since in state["protection_triggered"]
        }
        engine.order_meta = {str(order_id): (str(s), str(r)) for order_id, s, r in state["order_meta"]}
        engine.fills = [Fill.model_validate(f) for f in state["fills"]]
        engine.portfolio = _portfolio_from_wire(state["portfolio"], session.open_et)
        engine._curve_wire = [list(point) for point in state["portfolio"]["equity_curve"]]
        engine.venue = config.venue.from_wire(state["venue"], config.costs)
        if engine.portfolio.mode is not config.mode or engine.venue.mode is not config.mode:
            raise DomainError(f"engine state holds records of another mode than {config.mode.value}")
        raw = list(state["strategy_states"])
        if isinstance(signal_source, StatefulSignalSource):
            signal_source.states = dict(_strategy_state_from_wire(item) for item in raw)
        else:
            engine._kept_strategy_states = raw
        return engine


# --- state on the wire -----------------------------------------------------------------------------
# Portfolio keeps its book in private fields; their layout on the wire lives
# here, next to the only code that saves and restores them.


def _iso(ts: datetime) -> str:
    return ts.isoformat()


def _micros_from(anchor: datetime, ts: datetime) -> int:
    return (ts - anchor) // timedelta(microseconds=1)


def _curve_to_wire(p: Portfolio, anchor: datetime, done: list[list[object]]) -> list[list[object]]:
    """The equity curve as [microseconds after `anchor` (the open), equity]: `done` holds the points
    already converted (the curve only grows), extended in place with the new ones."""
    done.extend([_micros_from(anchor, ts), str(equity)] for ts, equity in p.equity_curve[len(done) :])
    return done


def _portfolio_to_wire(p: Portfolio, curve: list[list[object]]) -> dict[str, object]:
    return {
        "mode": p.mode.value,
        "cash_usd": str(p.cash_usd),
        "ledger": [[_iso(e.ts), e.kind.value, str(e.amount_usd), e.reference] for e in p.ledger],
        "closed": [trade_to_wire(t) for t in p.closed],
        "equity_curve": curve,
        "open": [
            [symbol, lot.position.model_dump(mode="json"), str(lot.commissions_usd), str(lot.mark_price)]
            for symbol, lot in p._open.items()
        ],
    }


@dataclass(frozen=True, slots=True)
class MarkedDay:
    """What an engine state shows of its day: the equity it started from and its carried peak, its
    minute marks (equity, cash plus open positions at the mid, after each marked minute) and fills."""

    starting_equity_usd: Decimal
    carried_peak_equity_usd: Decimal
    marks: list[tuple[datetime, Decimal]]
    fills: list[Fill]


def marked_day(state: Mapping[str, Any], open_et: datetime) -> MarkedDay:
    """The `MarkedDay` of a `to_state` document of the session opening at `open_et`."""
    carry = state["carry"]
    return MarkedDay(
        starting_equity_usd=Decimal(carry["equity_usd"]),
        carried_peak_equity_usd=Decimal(carry["peak_equity_usd"]),
        marks=_portfolio_from_wire(state["portfolio"], open_et).equity_curve,
        fills=[Fill.model_validate(f) for f in state["fills"]],
    )


def _portfolio_from_wire(wire: Mapping[str, Any], anchor: datetime) -> Portfolio:
    portfolio = Portfolio(mode=TradingMode(wire["mode"]), cash_usd=Decimal(wire["cash_usd"]))
    portfolio.ledger = [
        LedgerEntry(
            aware_datetime(ts, "engine state timestamp"), LedgerKind(kind), Decimal(amount), str(reference)
        )
        for ts, kind, amount, reference in wire["ledger"]
    ]
    portfolio.closed = [trade_from_wire(t) for t in wire["closed"]]
    portfolio.equity_curve = [
        (anchor + timedelta(microseconds=micros), Decimal(equity)) for micros, equity in wire["equity_curve"]
    ]
    portfolio._open = {
        str(symbol): OpenLot(Position.model_validate(position), Decimal(commissions), Decimal(mark))
        for symbol, position, commissions, mark in wire["open"]
    }
    return portfolio


def _copy_portfolio(p: Portfolio) -> Portfolio:
    """An independent copy (entries, trades and positions are immutable and shared)."""
    clone = Portfolio(mode=p.mode, cash_usd=p.cash_usd)
    clone.ledger = list(p.ledger)
    clone.closed = list(p.closed)
    clone.equity_curve = list(p.equity_curve)
    clone._open = {
        s: OpenLot(lot.position, lot.commissions_usd, lot.mark_price) for s, lot in p._open.items()
    }
    return clone


def _strategy_state_to_wire(key: StateKey, state: StrategyState) -> list[object]:
    name, underlying = key
    return [
        name,
        underlying.value,
        state.session_date.isoformat(),
        state.signals_today,
        state.last_signal_ts_ns,
        None if state.last_direction is None else state.last_direction.value,
    ]


def _strategy_state_from_wire(item: Sequence[Any]) -> tuple[StateKey, StrategyState]:
    name, underlying, session_date, count, last_ns, direction = item
    key: StateKey = (str(name), Underlying(underlying))
    return key, StrategyState(
        session_date=date.fromisoformat(session_date),
        signals_today=int(count),
        last_signal_ts_ns=None if last_ns is None else int(last_ns),
        last_direction=None if direction is None else OptionRight(direction),
    )
