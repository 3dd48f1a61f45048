"""An audit record as one sentence a trader reads: who did what, to which contract, at what price,
and why. Money reads as the dashboard shows it (−$1,234.56), fractions as percents with one
decimal, confidence as a percent; unknown actions fall back to their name in words and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from smart0dte.domain.portfolio import usd_text
from smart0dte.ports import AuditRecord

_FRACTION_FIELDS = frozenset(
    {
        "max_risk_per_trade",
        "stop_loss_percentage",
        "take_profit_percentage",
        "trailing_stop_percentage",
        "min_confidence",
        "daily_loss_limit",
        "max_drawdown",
        "max_spread_fraction",
        "max_symbol_exposure",
    }
)
"""Settings and limits stored as fractions of something: shown in percent."""
_RIGHT = {"C": "call", "P": "put"}
_SIDE_PAST = {"BUY": "Bought", "SELL": "Sold"}


def words(name: str) -> str:
    """snake_case, camelCase or UPPER_CASE as lower-case words: "STOP_LOSS" -> "stop loss"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name)).replace("_", " ")
    return spaced.lower().strip()


def money(value: object) -> str:
    try:
        return usd_text(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)


def percent(fraction: object) -> str:
    try:
        return f"{float(str(fraction)) * 100:.1f}%"
    except ValueError:
        return str(fraction)


def contract_text(contract: object) -> str:
    """A contract as traders say it: "IWM 225 call (2025-03-14)"; an OCC string is kept."""
    if not isinstance(contract, Mapping):
        return " ".join(str(contract).split()) if contract else "a contract"
    strike = float(contract.get("strike", 0))
    strike_text = f"{strike:g}" if strike == int(strike) else f"{strike:.2f}".rstrip("0")
    right = _RIGHT.get(str(contract.get("right")), str(contract.get("right", "")))
    return f"{contract.get('root', '?')} {strike_text} {right} ({contract.get('expiry', '?')})"


def _value(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if name in _FRACTION_FIELDS:
        return percent(value)
    if name.endswith("_usd"):
        return money(value)
    if isinstance(value, list | tuple):
        return ", ".join(words(str(v)) for v in value) or "none"
    return words(str(value)) if isinstance(value, str) else str(value)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _changes(details: Mapping[str, Any]) -> str:
    before, after = _mapping(details.get("before")), _mapping(details.get("after"))
    changed = [
        f"{words(k)} {_value(_snake(k), before.get(k))} -> {_value(_snake(k), v)}"
        for k, v in after.items()
        if before.get(k) != v
    ]
    return "; ".join(changed) or "nothing changed"


def _snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).lower()


_DIRECTION = {"C": "calls (up)", "P": "puts (down)"}


def _signal(r: AuditRecord) -> str:
    s = _mapping(r.details.get("signal"))
    direction = _DIRECTION.get(str(s.get("direction")), words(str(s.get("direction", ""))))
    return (
        f"{words(str(s.get('strategy', 'a strategy'))).capitalize()} signalled {direction} on "
        f"{s.get('underlying', '?')} with {percent(s.get('confidence', 0))} confidence: "
        f"{s.get('rationale', r.reason)}"
    )


def _risk(r: AuditRecord) -> str:
    d = r.details
    if d.get("approved"):
        return f"Risk approved the signal for {d.get('quantity', '?')} contracts."
    violations = d.get("violations")
    why = "; ".join(str(v) for v in violations if v) if isinstance(violations, list) else ""
    why = why or r.reason
    return f"Risk refused the signal: {why}."


def _order(r: AuditRecord) -> str:
    d = r.details
    kind = words(str(d.get("order_type", "")))
    price = d.get("limit_price") or d.get("stop_price")
    at = f" at {money(price)}" if price is not None else ""
    if "STOP_LOSS" in r.reason:
        purpose = "the position's protective stop"
    elif "TAKE_PROFIT" in r.reason:
        purpose = "the position's profit target"
    else:
        purpose = "an entry" if d.get("side") == "BUY" else "an exit"
    return (
        f"Order placed: {words(str(d.get('side', '')))} {d.get('quantity', '?')} "
        f"{contract_text(d.get('contract'))}, {kind}{at}: {purpose}."
    )


def _fill(r: AuditRecord) -> str:
    d = r.details
    side = _SIDE_PAST.get(str(d.get("side")), words(str(d.get("side", ""))).capitalize())
    status = f"; the order is {words(str(d['order_status']))}" if d.get("order_status") else ""
    return (
        f"{side} {d.get('quantity', '?')} {contract_text(d.get('contract'))} at {money(d.get('price'))}, "
        f"fees {money(d.get('commission_usd', 0))}{status}."
    )


def _opened(r: AuditRecord) -> str:
    p = _mapping(r.details.get("position"))
    return (
        f"Position opened: {p.get('quantity', '?')} {contract_text(p.get('contract'))} at "
        f"{money(p.get('entry_price'))} by {words(str(p.get('strategy', '?')))}."
    )


def _closed(r: AuditRecord) -> str:
    p = _mapping(r.details.get("position"))
    pnl = r.details.get("realized_pnl_usd")
    fees = r.details.get("commissions_usd")
    result = f"; net P&L {money(pnl)} after {money(fees)} fees" if pnl is not None else ""
    return (
        f"Position closed: {p.get('quantity', '?')} {contract_text(p.get('contract'))} at "
        f"{money(p.get('exit_price'))} ({words(r.reason)}){result}."
    )


def _status(r: AuditRecord) -> str:
    d = r.details
    return (
        f"Order {d.get('order_id', '?')} went from {words(str(d.get('from')))} to "
        f"{words(str(d.get('to')))}: {r.reason}."
    )


def _plan(r: AuditRecord) -> str:
    d = r.details
    equity = d.get("starting_equity_usd")
    return f"Session planned: {r.reason}" + (f"; starting equity {money(equity)}." if equity else ".")


_SENTENCES: dict[str, Callable[[AuditRecord], str]] = {
    "SignalGenerated": _signal,
    "RiskCheckCompleted": _risk,
    "OrderCreated": _order,
    "OrderFilled": _fill,
    "OrderStatusChanged": _status,
    "PositionOpened": _opened,
    "PositionClosed": _closed,
    "SessionPrepared": _plan,
    "SettingsChanged": lambda r: f"Settings changed by {r.actor}: {_changes(r.details)}.",
    "RiskLimitsChanged": lambda r: f"Risk limits changed by {r.actor}: {_changes(r.details)}.",
    "EmergencyStopActivated": lambda r: f"Emergency stop pressed by {r.actor}: {r.reason}.",
    "EmergencyStopCleared": lambda r: f"Emergency stop cleared by {r.actor}: {r.reason}.",
    "TradingPaused": lambda r: f"Trading paused by {r.actor}: {r.reason}.",
    "TradingResumed": lambda r: f"Trading resumed by {r.actor}: {r.reason}.",
    "TradingStateChanged": lambda r: (
        f"Trading state set to {r.details.get('state', '?')} by {r.actor}: {r.reason}."
    ),
    "PositionClosing": lambda r: f"Closing position {r.details.get('position_id', '?')}: {r.reason}.",
    "PositionCloseRequested": lambda r: f"{r.actor} asked to close a position: {r.reason}.",
    "IncidentReported": lambda r: f"Incident: {r.reason}.",
}


def sentence(record: AuditRecord) -> str:
    """The record in one sentence."""
    make = _SENTENCES.get(record.action)
    if make is not None:
        try:
            return make(record)
        except (TypeError, ValueError, AttributeError):  # a record of an older shape: say it plainly
            pass
    return f"{words(record.action).capitalize()} by {record.actor}: {record.reason}."
