"""The deterministic per-minute loop of one trading day: data -> signals -> risk -> orders ->
fills -> exits. Backtests, the paper path and the parity test all run this code; it has no I/O.

At each minute end t the engine knows only `day.until(t)`: bars closed by t and chain samples
stamped at or before t. Every decision is recorded with its time and reasons.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

import numpy as np

from smart0dte.domain.broker_sim import BrokerCosts, BrokerUpdate, SimulatedBroker
from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.chain_analytics import PricingInputs, analyze, select_by_delta
from smart0dte.domain.controls import AutomationSettings, RiskLimits, TradingState
from smart0dte.domain.exits import ExitPlan, ExitReason, exit_reason, intrinsic_value
from smart0dte.domain.marketdata import ChainSeries, MarketDay, datetime_to_ns, ns_to_datetime
from smart0dte.domain.models import (
    DomainError,
    Fill,
    OptionQuote,
    OrderIntent,
    Position,
    Side,
    Signal,
    TradingMode,
    Underlying,
    idempotency_key,
)
from smart0dte.domain.portfolio import ClosedTrade, Portfolio
from smart0dte.domain.risk import (
    AccountRisk,
    Controls,
    ProposedEntry,
    check_entry,
    max_quantity_within_greeks,
    trading_state,
)
from smart0dte.domain.sizing import SizingMethod, fixed_fractional, half_kelly, volatility_adjusted

MINUTE = timedelta(minutes=1)


class SignalSource(Protocol):
    """Produces the signals of minute `now` from what is known then."""

    def signals(self, known: MarketDay, now: datetime) -> list[Signal]: ...


@dataclass(frozen=True, slots=True)
class EngineConfig:
    settings: AutomationSettings
    limits: RiskLimits = field(default_factory=RiskLimits)
    costs: BrokerCosts = field(default_factory=BrokerCosts)
    pricing: PricingInputs = field(default_factory=PricingInputs)
    mode: TradingMode = TradingMode.PAPER
    sizing: SizingMethod = SizingMethod.FIXED_FRACTIONAL
    default_target_delta: float = 0.40
    trailing_stop_fraction: float | None = None
    reference_vix: float = 20.0
    """VIX level at which volatility-adjusted sizing takes the full risk fraction."""


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


class _DayCut:
    """`MarketDay.until` for a loop that asks every minute: the same day as known at `ts_ns`, with
    bar close and chain sample times searched once as Python lists (the per-minute cost matters)."""

    def __init__(self, day: MarketDay) -> None:
        self.day = day
        self.bar_close_ns = {s: series.close_ts_ns.tolist() for s, series in day.bars.items()}
        self.sample_ns = {u: chain.sample_ts_ns.tolist() for u, chain in day.chains.items()}

    def until(self, ts_ns: int) -> MarketDay:
        day = self.day
        return type(day)(
            day.session_date,
            {s: series.head(bisect_right(self.bar_close_ns[s], ts_ns)) for s, series in day.bars.items()},
            {u: chain.head(bisect_right(self.sample_ns[u], ts_ns)) for u, chain in day.chains.items()},
            day.synthetic,
        )


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


class SessionEngine:
    """Runs one session over a MarketDay; create one per day."""

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
        self.broker = SimulatedBroker(config.costs, config.mode)
        self.portfolio = Portfolio.funded(config.mode, carry.equity_usd, self.start)
        self.carry = carry
        self.peak_equity = max(carry.peak_equity_usd, carry.equity_usd)
        self.day_trades_today = 0
        self.plans: dict[str, ExitPlan] = {}
        self.exit_reason_by_order: dict[str, str] = {}
        self.decisions: list[DecisionRecord] = []
        self.incidents: list[str] = []
        self.max_open = 0
        self.chains = {
            u: _Chain(c, {k.occ_symbol: i for i, k in enumerate(c.contracts)}) for u, c in day.chains.items()
        }
        self._cut = _DayCut(day)

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> SessionResult:
        now = self.session.open_et + MINUTE
        while now <= self.session.close_et:
            self.step(now)
            now += MINUTE
        open_at_close = len(self.portfolio.open_positions)
        self._settle_leftovers(self.session.close_et)
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
        """One minute end: mark, let working orders trade, exit, then consider entries."""
        now_ns = datetime_to_ns(now)
        rows = {u: chain.row_at(now_ns) for u, chain in self.chains.items()}
        self._mark(rows, now)
        self._work_orders(rows, now)
        controls = self.controls_at(now)
        account = self._account()
        state, reason = trading_state(controls, account, self.config.limits)
        self._exits(rows, now, state, reason)
        if now < self.session.flatten_et:
            known = self._cut.until(now_ns)
            for signal in sorted(
                self.signal_source.signals(known, now), key=lambda s: (-s.confidence, s.signal_id)
            ):
                self._consider(signal, rows, now, controls, known)
        self.max_open = max(self.max_open, len(self.portfolio.open_positions))

    # --- steps ----------------------------------------------------------------------------------

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

    def _work_orders(self, rows: dict[Underlying, int], now: datetime) -> None:
        """Orders submitted with latency trade against this minute's quote; the rest is cancelled."""
        for order in self.broker.working_orders():
            underlying = order.contract.underlying
            quote = None
            if underlying is not None and underlying in self.chains:
                quote = self.chains[underlying].quote(order.contract.occ_symbol, rows[underlying])
            if quote is not None:
                self._book(self.broker.on_quote(quote, now), "", "")
            if order.order_id in {o.order_id for o in self.broker.working_orders()}:
                self.broker.cancel(order.order_id, now, "immediate-or-cancel remainder")

    def _exits(self, rows: dict[Underlying, int], now: datetime, state: TradingState, why: str) -> None:
        for position in self.portfolio.open_positions:
            quote = self._quote(position, rows)
            bid = quote.bid if quote is not None else float("nan")
            reason: ExitReason | None
            if state is TradingState.HALTED:
                reason = ExitReason.EMERGENCY_STOP
            else:
                reason = exit_reason(
                    self.plans[position.contract.occ_symbol], bid, now, self.session.flatten_et
                )
            if reason is None:
                continue
            self._cancel_working(position, now)
            intent = OrderIntent(
                intent_id=idempotency_key(self.config.mode, position.position_id, "exit", now.isoformat()),
                mode=self.config.mode,
                ts=now,
                contract=position.contract,
                side=Side.SELL,
                quantity=position.quantity,
                limit_price=Decimal(str(max(bid, 0.0))) if np.isfinite(bid) else Decimal("0"),
                reason=f"exit {reason.value}" + (f": {why}" if reason is ExitReason.EMERGENCY_STOP else ""),
            )
            update = self._immediate_or_cancel(self.broker.submit(intent, quote, now), now)
            self._record(
                now,
                "exit",
                {
                    "position_id": position.position_id,
                    "reason": reason.value,
                    "bid": bid,
                    **self._order_detail(update),
                },
            )
            self._book(update, position.strategy, reason.value)

    def _consider(
        self, signal: Signal, rows: dict[Underlying, int], now: datetime, controls: Controls, known: MarketDay
    ) -> None:
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
        chain = self.chains.get(signal.underlying)
        spot = self._spot(known, signal.underlying)
        entry = ProposedEntry(signal, None, 0)
        if chain is not None and spot is not None and rows[signal.underlying] >= 0:
            entry = self._propose(signal, chain, rows[signal.underlying], spot, now, known)
        verdict = check_entry(entry, now, self.session, controls, self._account(), self.config.limits)
        self._record(
            now,
            "risk",
            {
                "signal_id": signal.signal_id,
                "approved": verdict.approved,
                "rules": list(verdict.rules),
                "violations": [str(v) for v in verdict.violations],
                "trading_state": verdict.trading_state.value,
                "contract": entry.quote.contract.occ_symbol if entry.quote else None,
                "quantity": entry.quantity,
            },
        )
        if not verdict.approved or entry.quote is None:
            return
        settings = self.config.settings
        ask = Decimal(str(entry.quote.ask))
        intent = OrderIntent(
            intent_id=idempotency_key(self.config.mode, self.day.session_date, signal.signal_id),
            mode=self.config.mode,
            ts=now,
            contract=entry.quote.contract,
            side=Side.BUY,
            quantity=entry.quantity,
            limit_price=ask,
            signal_id=signal.signal_id,
            reason=f"{signal.strategy} {signal.direction.value} conf {signal.confidence:.2f}",
        )
        update = self._immediate_or_cancel(self.broker.submit(intent, entry.quote, now), now)
        self._record(now, "order", {"signal_id": signal.signal_id, **self._order_detail(update)})
        filled = self._book(update, signal.strategy, "")
        if filled:
            self.day_trades_today += 1
            position = self.portfolio.position_for(entry.quote.contract)
            if position is not None:
                self.plans[position.contract.occ_symbol] = ExitPlan(
                    float(position.entry_price),
                    settings.stop_loss_percentage,
                    settings.take_profit_percentage,
                    self.config.trailing_stop_fraction,
                )

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
        if signal.contract is not None:
            index = chain.column.get(signal.contract.occ_symbol)
        else:
            index = select_by_delta(
                analytics, signal.direction, signal.target_delta or self.config.default_target_delta
            )
        if index is None:
            return ProposedEntry(signal, None, 0, underlying_price=spot)
        quote = chain.quote(series.contracts[index].occ_symbol, row)
        delta, gamma = float(analytics.delta[index]), float(analytics.gamma[index])
        quantity = 0
        if quote is not None and quote.is_usable:
            by_greeks = max_quantity_within_greeks(delta, gamma, spot, self._account(), self.config.limits)
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

    def _settle_leftovers(self, close: datetime) -> None:
        """No 0DTE position may outlive the close; if one does, settle it and report an incident."""
        for position in self.portfolio.open_positions:
            self._cancel_working(position, close)
            underlying = position.contract.underlying
            bars = self.day.bars.get(underlying.value if underlying else "")
            last = float(bars.close[-1]) if bars is not None and len(bars) else float("nan")
            value = intrinsic_value(position.contract.right, position.contract.strike, last)
            trade = self.portfolio.settle_at_expiry(position.contract, Decimal(str(round(value, 4))), close)
            message = (
                f"INCIDENT: {position.contract.occ_symbol} x{position.quantity} was held into expiry; "
                f"settled at intrinsic {value:.2f} (underlying {last:.2f}), pnl {trade.pnl_usd}"
            )
            self.incidents.append(message)
            self._record(close, "incident", {"message": message})

    # --- helpers --------------------------------------------------------------------------------

    def _quote(self, position: Position, rows: dict[Underlying, int]) -> OptionQuote | None:
        underlying = position.contract.underlying
        if underlying is None or underlying not in self.chains:
            return None
        return self.chains[underlying].quote(position.contract.occ_symbol, rows[underlying])

    def _spot(self, known: MarketDay, underlying: Underlying) -> float | None:
        bars = known.bars.get(underlying.value)
        return float(bars.close[-1]) if bars is not None and len(bars) else None

    def _cancel_working(self, position: Position, now: datetime) -> None:
        for order in self.broker.working_orders():
            if order.contract == position.contract:
                self.broker.cancel(order.order_id, now, "position exit")

    def _account(self) -> AccountRisk:
        portfolio = self.portfolio
        losses_today = portfolio.consecutive_losses()
        all_lost_today = losses_today == len(portfolio.closed)
        return AccountRisk(
            equity_usd=float(portfolio.equity_usd()),
            start_of_day_equity_usd=float(self.carry.equity_usd),
            peak_equity_usd=float(self.peak_equity),
            open_positions=len(portfolio.open_positions),
            premium_at_risk_by_symbol_usd=portfolio.premium_at_risk_by_symbol_usd(),
            consecutive_losses=losses_today + (self.carry.consecutive_losses if all_lost_today else 0),
            last_entry_at=portfolio.last_entry_at,
            day_trades_in_window=self.carry.day_trades_in_window + self.day_trades_today,
        )

    def _immediate_or_cancel(self, update: BrokerUpdate, now: datetime) -> BrokerUpdate:
        """Cancel what an order's first live quote did not fill: the engine never leaves orders resting.

        With `latency_s` > 0 an order is not live at submission: it trades against the next
        minute's quote (see `_work_orders`) and is cancelled there.
        """
        if self.config.costs.latency_s > 0:
            return update
        live = {o.order_id for o in self.broker.working_orders()}
        orders = tuple(
            self.broker.cancel(o.order_id, now, "immediate-or-cancel remainder") if o.order_id in live else o
            for o in update.orders
        )
        return BrokerUpdate(orders, update.fills)

    def _book(self, update: BrokerUpdate, strategy: str, exit_reason: str) -> bool:
        """Apply fills to the portfolio; True if any fill was booked."""
        for fill in update.fills:
            self._apply(fill, strategy, exit_reason)
        return bool(update.fills)

    def _apply(self, fill: Fill, strategy: str, exit_reason: str) -> None:
        held = self.portfolio.position_for(fill.contract)
        trade = self.portfolio.apply_fill(
            fill, strategy or (held.strategy if held else "unknown"), exit_reason
        )
        self._record(
            fill.ts,
            "fill",
            {
                "fill_id": fill.fill_id,
                "order_id": fill.order_id,
                "contract": fill.contract.occ_symbol,
                "side": fill.side.value,
                "quantity": fill.quantity,
                "price": str(fill.price),
                "commission_usd": str(fill.commission_usd),
            },
        )
        if trade is not None and self.portfolio.position_for(fill.contract) is None:
            self.plans.pop(fill.contract.occ_symbol, None)

    def _order_detail(self, update: BrokerUpdate) -> dict[str, object]:
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
            "filled_quantity": order.filled_quantity,
        }

    def _record(self, ts: datetime, kind: str, detail: dict[str, object]) -> None:
        self.decisions.append(DecisionRecord(ts, kind, detail))
