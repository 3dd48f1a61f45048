from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart0dte.domain.calendar import MarketCalendar, SessionTimes
from smart0dte.domain.controls import AutomationSettings, RiskLimits, TradingState
from smart0dte.domain.models import OptionContract, OptionQuote, OptionRight, Signal, Underlying
from smart0dte.domain.risk import (
    AccountRisk,
    Controls,
    ProposedEntry,
    RiskRule,
    check_entry,
    max_quantity_within_greeks,
    trading_state,
)

SESSION: SessionTimes = MarketCalendar().session(date(2025, 3, 14))  # type: ignore[assignment]
NOW = SESSION.open_et + timedelta(minutes=45)
CONTRACT = OptionContract(root="SPY", expiry=date(2025, 3, 14), right=OptionRight.CALL, strike=562)
SIGNAL = Signal(
    signal_id="sig-1",
    ts=NOW.astimezone(UTC),
    underlying=Underlying.SPY,
    direction=OptionRight.CALL,
    strategy="momentum_breakout",
    confidence=0.8,
    rationale="test",
)
QUOTE = OptionQuote(contract=CONTRACT, bid=1.00, ask=1.05, bid_size=50, ask_size=50)
ENTRY = ProposedEntry(SIGNAL, QUOTE, quantity=1, delta=0.4, gamma=0.05, underlying_price=561.5)
CONTROLS = Controls(AutomationSettings(masterSwitch=True))
ACCOUNT = AccountRisk(equity_usd=100_000, start_of_day_equity_usd=100_000, peak_equity_usd=100_000)
LIMITS = RiskLimits()

Change = Callable[[], tuple[ProposedEntry, datetime, Controls, AccountRisk]]


def test_a_clean_entry_is_approved_in_an_active_state() -> None:
    verdict = check_entry(ENTRY, NOW, SESSION, CONTROLS, ACCOUNT, LIMITS)
    assert verdict.approved
    assert verdict.violations == ()
    assert verdict.trading_state is TradingState.ACTIVE


def _with(
    entry: ProposedEntry = ENTRY,
    now: datetime = NOW,
    controls: Controls = CONTROLS,
    account: AccountRisk = ACCOUNT,
) -> tuple[ProposedEntry, datetime, Controls, AccountRisk]:
    return entry, now, controls, account


CASES: dict[RiskRule, Change] = {
    RiskRule.MASTER_SWITCH_OFF: lambda: _with(controls=Controls(AutomationSettings())),
    RiskRule.SIGNAL_GENERATION_OFF: lambda: _with(
        controls=Controls(AutomationSettings(masterSwitch=True, signalGeneration=False))
    ),
    RiskRule.TRADE_EXECUTION_OFF: lambda: _with(
        controls=Controls(AutomationSettings(masterSwitch=True, tradeExecution=False))
    ),
    RiskRule.MARKET_CLOSED: lambda: _with(now=SESSION.close_et + timedelta(minutes=1)),
    RiskRule.BEFORE_FIRST_FULL_MINUTE: lambda: _with(now=SESSION.open_et + timedelta(seconds=59)),
    RiskRule.AFTER_FLATTEN_TIME: lambda: _with(now=SESSION.flatten_et),
    RiskRule.MAX_POSITIONS: lambda: _with(account=replace(ACCOUNT, open_positions=5)),
    RiskRule.MAX_RISK_PER_TRADE: lambda: _with(entry=replace(ENTRY, quantity=20)),  # 20 x $105 > $2,000
    RiskRule.MIN_TIME_BETWEEN_TRADES: lambda: _with(
        account=replace(ACCOUNT, last_entry_at=NOW - timedelta(seconds=299))
    ),
    RiskRule.PATTERN_DAY_TRADER: lambda: _with(
        account=replace(
            ACCOUNT,
            equity_usd=20_000,
            start_of_day_equity_usd=20_000,
            peak_equity_usd=20_000,
            day_trades_in_window=3,
        )
    ),
    RiskRule.NO_USABLE_QUOTE: lambda: _with(entry=replace(ENTRY, quote=replace_quote(bid=1.10, ask=1.05))),
    RiskRule.SPREAD_TOO_WIDE: lambda: _with(entry=replace(ENTRY, quote=replace_quote(bid=0.80, ask=1.05))),
    RiskRule.SIZE_TOO_SMALL: lambda: _with(entry=replace(ENTRY, quote=replace_quote(ask_size=9))),
    RiskRule.MIN_CONFIDENCE: lambda: _with(
        entry=replace(ENTRY, signal=SIGNAL.model_copy(update={"confidence": 0.69}))
    ),
    RiskRule.SYMBOL_EXPOSURE: lambda: _with(
        account=replace(ACCOUNT, premium_at_risk_by_symbol_usd={Underlying.SPY: 4_950.0})
    ),
    RiskRule.PORTFOLIO_DELTA: lambda: _with(account=replace(ACCOUNT, dollar_delta_usd=999_990.0)),
    RiskRule.PORTFOLIO_GAMMA: lambda: _with(account=replace(ACCOUNT, gamma_pnl_1pct_usd=49_950.0)),
    RiskRule.ZERO_QUANTITY: lambda: _with(entry=replace(ENTRY, quantity=0)),
}


def replace_quote(**changes: float) -> OptionQuote:
    return QUOTE.model_copy(update=changes)


@pytest.mark.parametrize("rule", list(CASES))
def test_each_rule_alone_rejects_and_is_named(rule: RiskRule) -> None:
    entry, now, controls, account = CASES[rule]()
    verdict = check_entry(entry, now, SESSION, controls, account, LIMITS)
    assert not verdict.approved
    assert verdict.rules == (rule.value,)
    assert verdict.violations[0].detail


@pytest.mark.parametrize(
    ("controls", "account", "rules", "state"),
    [
        (replace(CONTROLS, emergency_stop=True), ACCOUNT, {"EMERGENCY_STOP"}, TradingState.HALTED),
        (replace(CONTROLS, paused=True), ACCOUNT, {"PAUSED"}, TradingState.REDUCING),
        (
            CONTROLS,
            replace(ACCOUNT, equity_usd=95_000, peak_equity_usd=100_000),
            {"DAILY_LOSS_LIMIT"},
            TradingState.REDUCING,
        ),
        (
            CONTROLS,
            replace(ACCOUNT, equity_usd=84_000, start_of_day_equity_usd=84_000),
            {"MAX_DRAWDOWN"},
            TradingState.HALTED,
        ),
        (CONTROLS, replace(ACCOUNT, consecutive_losses=5), {"CONSECUTIVE_LOSSES"}, TradingState.REDUCING),
    ],
)
def test_stops_and_circuit_breakers_set_the_trading_state(
    controls: Controls, account: AccountRisk, rules: set[str], state: TradingState
) -> None:
    verdict = check_entry(ENTRY, NOW, SESSION, controls, account, LIMITS)
    assert not verdict.approved
    assert set(verdict.rules) == rules
    assert verdict.trading_state is state
    assert trading_state(controls, account, LIMITS)[0] is state


def test_the_emergency_stop_wins_and_every_other_violation_is_still_listed() -> None:
    verdict = check_entry(
        replace(ENTRY, quantity=0),
        SESSION.flatten_et,
        SESSION,
        Controls(AutomationSettings(), emergency_stop=True, paused=True),
        ACCOUNT,
        LIMITS,
    )
    assert verdict.trading_state is TradingState.HALTED
    assert set(verdict.rules) == {
        "EMERGENCY_STOP",
        "PAUSED",
        "MASTER_SWITCH_OFF",
        "AFTER_FLATTEN_TIME",
        "ZERO_QUANTITY",
    }


def test_pdt_rule_does_not_apply_above_the_equity_threshold() -> None:
    account = replace(ACCOUNT, day_trades_in_window=10)
    assert check_entry(ENTRY, NOW, SESSION, CONTROLS, account, LIMITS).approved


def test_holiday_has_no_session_so_no_entry() -> None:
    verdict = check_entry(ENTRY, NOW, None, CONTROLS, ACCOUNT, LIMITS)
    assert verdict.rules == ("MARKET_CLOSED",)


@settings(max_examples=200, deadline=None)
@given(
    open_positions=st.integers(0, 8),
    max_positions=st.integers(1, 6),
    quantity=st.integers(0, 40),
    ask=st.floats(0.05, 5.0),
    confidence=st.floats(0, 1),
    equity=st.floats(5_000, 200_000),
    minutes_after_open=st.integers(0, 400),
    stop=st.booleans(),
)
def test_rejections_always_name_rules_and_hard_limits_always_hold(
    open_positions: int,
    max_positions: int,
    quantity: int,
    ask: float,
    confidence: float,
    equity: float,
    minutes_after_open: int,
    stop: bool,
) -> None:
    controls = Controls(
        AutomationSettings(masterSwitch=True, maxPositions=max_positions), emergency_stop=stop
    )
    entry = ProposedEntry(
        SIGNAL.model_copy(update={"confidence": confidence}),
        QUOTE.model_copy(update={"bid": round(ask * 0.95, 2), "ask": ask}),
        quantity,
        delta=0.5,
        gamma=0.02,
        underlying_price=561.5,
    )
    account = AccountRisk(equity, equity, equity, open_positions=open_positions)
    now = SESSION.open_et + timedelta(minutes=minutes_after_open)
    verdict = check_entry(entry, now, SESSION, controls, account, LIMITS)
    assert verdict.approved == (verdict.violations == ())
    assert all(v.detail for v in verdict.violations)
    if verdict.approved:
        assert not stop
        assert open_positions < max_positions
        assert quantity * ask * 100 <= 0.02 * equity
        assert SESSION.open_et + timedelta(minutes=1) <= now < SESSION.flatten_et
        assert confidence >= 0.70


def test_sizing_cap_keeps_portfolio_greeks_inside_their_limits() -> None:
    # 0.4 delta x 100 x $561.50 = $22,460 of dollar delta per contract; the room is 10 x $100,000.
    assert max_quantity_within_greeks(0.4, 0.05, 561.5, ACCOUNT, LIMITS) == 44
    busy = replace(ACCOUNT, dollar_delta_usd=990_000.0)
    assert max_quantity_within_greeks(0.4, 0.05, 561.5, busy, LIMITS) == 0
    # A put reduces a long dollar delta, so delta does not cap it (gamma still does).
    assert max_quantity_within_greeks(-0.4, 0.05, 561.5, busy, LIMITS) == 634
    capped = max_quantity_within_greeks(0.4, 0.05, 561.5, ACCOUNT, LIMITS)
    entry = replace(ENTRY, quantity=capped, quote=replace_quote(ask=0.05, bid=0.045))
    assert "PORTFOLIO_DELTA" not in check_entry(entry, NOW, SESSION, CONTROLS, ACCOUNT, LIMITS).rules
    over = replace(entry, quantity=capped + 1)
    assert "PORTFOLIO_DELTA" in check_entry(over, NOW, SESSION, CONTROLS, ACCOUNT, LIMITS).rules
