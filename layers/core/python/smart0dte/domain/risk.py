"""Pre-trade risk checks and the account's trading state.

`check_entry` evaluates every rule and names each one that fails, with the numbers, so a
rejection explains itself. It never stops at the first failure: the audit shows all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.controls import AutomationSettings, RiskLimits, TradingState
from smart0dte.domain.models import CONTRACT_MULTIPLIER, OptionQuote, Signal, Underlying

FIRST_FULL_MINUTE = timedelta(minutes=1)

_Fail = Callable[["RiskRule", str], None]
"""The `fail(rule, detail)` callback the checks share."""


class RiskRule(StrEnum):
    EMERGENCY_STOP = "EMERGENCY_STOP"
    PAUSED = "PAUSED"
    BROKER_MISMATCH = "BROKER_MISMATCH"
    MASTER_SWITCH_OFF = "MASTER_SWITCH_OFF"
    SIGNAL_GENERATION_OFF = "SIGNAL_GENERATION_OFF"
    TRADE_EXECUTION_OFF = "TRADE_EXECUTION_OFF"
    MARKET_CLOSED = "MARKET_CLOSED"
    BEFORE_FIRST_FULL_MINUTE = "BEFORE_FIRST_FULL_MINUTE"
    AFTER_FLATTEN_TIME = "AFTER_FLATTEN_TIME"
    MAX_POSITIONS = "MAX_POSITIONS"
    MAX_RISK_PER_TRADE = "MAX_RISK_PER_TRADE"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    MAX_DRAWDOWN = "MAX_DRAWDOWN"
    CONSECUTIVE_LOSSES = "CONSECUTIVE_LOSSES"
    MIN_TIME_BETWEEN_TRADES = "MIN_TIME_BETWEEN_TRADES"
    PATTERN_DAY_TRADER = "PATTERN_DAY_TRADER"
    NO_USABLE_QUOTE = "NO_USABLE_QUOTE"
    SPREAD_TOO_WIDE = "SPREAD_TOO_WIDE"
    SIZE_TOO_SMALL = "SIZE_TOO_SMALL"
    MIN_CONFIDENCE = "MIN_CONFIDENCE"
    SYMBOL_EXPOSURE = "SYMBOL_EXPOSURE"
    PORTFOLIO_DELTA = "PORTFOLIO_DELTA"
    PORTFOLIO_GAMMA = "PORTFOLIO_GAMMA"
    ZERO_QUANTITY = "ZERO_QUANTITY"


@dataclass(frozen=True, slots=True)
class Violation:
    rule: RiskRule
    detail: str

    def __str__(self) -> str:
        return f"{self.rule.value}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Controls:
    """What the human set: switches, pause, the emergency stop and the positions asked closed."""

    settings: AutomationSettings
    emergency_stop: bool = False
    paused: bool = False
    close_requests: frozenset[str] = frozenset()
    """Position ids a human asked to close: the engine exits each at its next minute (MANUAL)."""
    cancel_requests: frozenset[str] = frozenset()
    """Working order ids (the store's) a human asked to cancel: the engine cancels each at its next
    minute through its venue."""
    broker_mismatch: str = ""
    """Where the book and the broker disagree (`domain.reconcile`): entries wait until they agree."""


@dataclass(frozen=True, slots=True)
class AccountRisk:
    """The account facts the checks need, as of the decision time."""

    equity_usd: float
    start_of_day_equity_usd: float
    peak_equity_usd: float
    open_positions: int = 0
    premium_at_risk_by_symbol_usd: Mapping[Underlying, float] = field(default_factory=dict)
    dollar_delta_usd: float = 0.0
    gamma_pnl_1pct_usd: float = 0.0
    consecutive_losses: int = 0
    last_entry_at: datetime | None = None
    day_trades_in_window: int = 0

    @property
    def daily_loss_fraction(self) -> float:
        return max(0.0, 1.0 - self.equity_usd / self.start_of_day_equity_usd)

    @property
    def drawdown_fraction(self) -> float:
        return max(0.0, 1.0 - self.equity_usd / self.peak_equity_usd)


@dataclass(frozen=True, slots=True)
class ProposedEntry:
    """A buy of `quantity` contracts at the quote's ask, with the contract's per-share greeks."""

    signal: Signal
    quote: OptionQuote | None
    quantity: int
    delta: float = 0.0
    gamma: float = 0.0
    underlying_price: float = 0.0


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    approved: bool
    trading_state: TradingState
    violations: tuple[Violation, ...]

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(v.rule.value for v in self.violations)


def trading_state(controls: Controls, account: AccountRisk, limits: RiskLimits) -> tuple[TradingState, str]:
    """ACTIVE, REDUCING (no entries, exits run) or HALTED (flatten), with the reason."""
    if controls.emergency_stop:
        return TradingState.HALTED, "emergency stop is active"
    if account.drawdown_fraction >= limits.max_drawdown:
        return TradingState.HALTED, (
            f"drawdown {account.drawdown_fraction:.2%} reached the limit {limits.max_drawdown:.2%}"
        )
    if controls.broker_mismatch:
        return TradingState.REDUCING, f"book and broker disagree: {controls.broker_mismatch}"
    if account.daily_loss_fraction >= limits.daily_loss_limit:
        return TradingState.REDUCING, (
            f"daily loss {account.daily_loss_fraction:.2%} reached the limit {limits.daily_loss_limit:.2%}"
        )
    if account.consecutive_losses >= limits.max_consecutive_losses:
        return TradingState.REDUCING, (
            f"{account.consecutive_losses} consecutive losses reached the limit "
            f"{limits.max_consecutive_losses}"
        )
    if controls.paused:
        return TradingState.REDUCING, "trading is paused"
    return TradingState.ACTIVE, "all limits within bounds"


def dollar_delta_usd(delta: float, quantity: int, underlying_price: float) -> float:
    return delta * CONTRACT_MULTIPLIER * quantity * underlying_price


def gamma_pnl_1pct_usd(gamma: float, quantity: int, underlying_price: float) -> float:
    return 0.5 * gamma * (0.01 * underlying_price) ** 2 * CONTRACT_MULTIPLIER * quantity


def max_quantity_within_greeks(
    delta: float, gamma: float, underlying_price: float, account: AccountRisk, limits: RiskLimits
) -> int:
    """The most contracts that keep portfolio delta and gamma inside their limits (sizing caps to it)."""
    cap = 10**6
    per_delta = abs(dollar_delta_usd(delta, 1, underlying_price))
    if per_delta > 0:
        room = limits.max_portfolio_delta * account.equity_usd - abs(account.dollar_delta_usd)
        same_side = account.dollar_delta_usd * delta >= 0
        cap = min(cap, int(room // per_delta) if same_side else cap)
    per_gamma = abs(gamma_pnl_1pct_usd(gamma, 1, underlying_price))
    if per_gamma > 0:
        room = limits.max_portfolio_gamma * account.equity_usd - abs(account.gamma_pnl_1pct_usd)
        cap = min(cap, int(room // per_gamma))
    return max(cap, 0)


def check_entry(
    entry: ProposedEntry,
    now: datetime,
    session: SessionTimes | None,
    controls: Controls,
    account: AccountRisk,
    limits: RiskLimits,
) -> RiskVerdict:
    """Every rule an entry must pass; approved only if none is violated.

    Each cause of a non-ACTIVE trading state (stop, pause, breakers) is its own rule, so an
    entry is never approved unless the state is ACTIVE.
    """
    settings = controls.settings
    state, _ = trading_state(controls, account, limits)
    found: list[Violation] = []

    def fail(rule: RiskRule, detail: str) -> None:
        found.append(Violation(rule, detail))

    if controls.emergency_stop:
        fail(RiskRule.EMERGENCY_STOP, "emergency stop is active")
    if controls.paused:
        fail(RiskRule.PAUSED, "trading is paused")
    if controls.broker_mismatch:
        fail(RiskRule.BROKER_MISMATCH, f"book and broker disagree: {controls.broker_mismatch}")
    if not settings.master_switch:
        fail(RiskRule.MASTER_SWITCH_OFF, "master switch is off")
    if not settings.signal_generation:
        fail(RiskRule.SIGNAL_GENERATION_OFF, "signal generation is off")
    if not settings.trade_execution:
        fail(RiskRule.TRADE_EXECUTION_OFF, "trade execution is off")

    _check_market_time(now, session, fail)

    if account.open_positions >= settings.max_positions:
        fail(RiskRule.MAX_POSITIONS, f"{account.open_positions} open positions, max {settings.max_positions}")
    if account.daily_loss_fraction >= limits.daily_loss_limit:
        fail(
            RiskRule.DAILY_LOSS_LIMIT,
            f"daily loss {account.daily_loss_fraction:.2%} >= limit {limits.daily_loss_limit:.2%}",
        )
    if account.drawdown_fraction >= limits.max_drawdown:
        fail(
            RiskRule.MAX_DRAWDOWN,
            f"drawdown {account.drawdown_fraction:.2%} >= limit {limits.max_drawdown:.2%}",
        )
    if account.consecutive_losses >= limits.max_consecutive_losses:
        fail(
            RiskRule.CONSECUTIVE_LOSSES,
            f"{account.consecutive_losses} consecutive losses, limit {limits.max_consecutive_losses}",
        )
    if account.last_entry_at is not None:
        since_s = (now - account.last_entry_at).total_seconds()
        if since_s < limits.min_seconds_between_trades:
            fail(
                RiskRule.MIN_TIME_BETWEEN_TRADES,
                f"{since_s:.0f} s since the last entry, min {limits.min_seconds_between_trades} s",
            )
    if (
        account.equity_usd < limits.pdt_equity_threshold_usd
        and account.day_trades_in_window >= settings.max_day_trades
    ):
        fail(
            RiskRule.PATTERN_DAY_TRADER,
            f"{account.day_trades_in_window} day trades in {limits.pdt_window_sessions} sessions, max "
            f"{settings.max_day_trades} while equity ${account.equity_usd:,.2f} < "
            f"${limits.pdt_equity_threshold_usd:,.2f}",
        )
    if entry.signal.confidence < settings.min_confidence:
        fail(
            RiskRule.MIN_CONFIDENCE,
            f"confidence {entry.signal.confidence:.3f} < min {settings.min_confidence:.3f}",
        )

    _check_order(entry, account, settings, limits, fail)

    return RiskVerdict(approved=not found, trading_state=state, violations=tuple(found))


def _check_market_time(now: datetime, session: SessionTimes | None, fail: _Fail) -> None:
    if session is None or not session.open_et <= now < session.close_et:
        fail(RiskRule.MARKET_CLOSED, f"{now.isoformat()} is outside the regular session")
        return
    if now < session.open_et + FIRST_FULL_MINUTE:
        fail(
            RiskRule.BEFORE_FIRST_FULL_MINUTE,
            f"{now.isoformat()} is before the first full minute, "
            f"{(session.open_et + FIRST_FULL_MINUTE).isoformat()}",
        )
    if now >= session.flatten_et:
        fail(
            RiskRule.AFTER_FLATTEN_TIME,
            f"{now.isoformat()} is at or after the flatten time {session.flatten_et.isoformat()}",
        )


def _check_order(
    entry: ProposedEntry, account: AccountRisk, settings: AutomationSettings, limits: RiskLimits, fail: _Fail
) -> None:
    if entry.quantity <= 0:
        fail(RiskRule.ZERO_QUANTITY, "sizing gave 0 contracts")
    quote = entry.quote
    if quote is None or not quote.is_usable:
        fail(RiskRule.NO_USABLE_QUOTE, "no two-sided, uncrossed quote with a positive bid")
        return
    spread_fraction = (quote.ask - quote.bid) / quote.mid
    if spread_fraction > limits.max_spread_fraction:
        fail(
            RiskRule.SPREAD_TOO_WIDE,
            f"spread {quote.ask - quote.bid:.2f} is {spread_fraction:.1%} of mid, "
            f"max {limits.max_spread_fraction:.1%}",
        )
    if quote.ask_size < limits.min_displayed_size:
        fail(RiskRule.SIZE_TOO_SMALL, f"ask size {quote.ask_size} < min {limits.min_displayed_size}")

    premium_usd = quote.ask * CONTRACT_MULTIPLIER * entry.quantity
    budget_usd = settings.max_risk_per_trade * account.equity_usd
    if premium_usd > budget_usd:
        fail(
            RiskRule.MAX_RISK_PER_TRADE,
            f"premium ${premium_usd:,.2f} > {settings.max_risk_per_trade:.2%} of equity (${budget_usd:,.2f})",
        )
    symbol = entry.signal.underlying
    symbol_usd = account.premium_at_risk_by_symbol_usd.get(symbol, 0.0) + premium_usd
    symbol_cap_usd = limits.max_symbol_exposure * account.equity_usd
    if symbol_usd > symbol_cap_usd:
        fail(
            RiskRule.SYMBOL_EXPOSURE,
            f"{symbol.value} premium at risk ${symbol_usd:,.2f} > {limits.max_symbol_exposure:.2%} of equity "
            f"(${symbol_cap_usd:,.2f})",
        )
    delta_usd = dollar_delta_usd(entry.delta, entry.quantity, entry.underlying_price)
    delta_fraction = abs(account.dollar_delta_usd + delta_usd) / account.equity_usd
    if delta_fraction > limits.max_portfolio_delta:
        fail(
            RiskRule.PORTFOLIO_DELTA,
            f"|dollar delta| would be {delta_fraction:.2f}x equity, max {limits.max_portfolio_delta:.2f}x",
        )
    gamma_usd = gamma_pnl_1pct_usd(entry.gamma, entry.quantity, entry.underlying_price)
    gamma_fraction = abs(account.gamma_pnl_1pct_usd + gamma_usd) / account.equity_usd
    if gamma_fraction > limits.max_portfolio_gamma:
        fail(
            RiskRule.PORTFOLIO_GAMMA,
            f"gamma P&L of a 1% move would be {gamma_fraction:.2f}x equity, "
            f"max {limits.max_portfolio_gamma:.2f}x",
        )
