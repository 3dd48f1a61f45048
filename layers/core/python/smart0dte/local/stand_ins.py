"""Contract-shaped stand-ins for Lambda handlers that do not exist yet.

Each returns what its state machine's Choice states read (pre_market `is_session`, Signals
`candidates`, Risk `intents`, flatten `open_positions`) and decides nothing, so the embedded
runtime's own cost can be measured (bench/embedded_day.py) before the real handlers land.
Never used by `smart0dte demo`: it refuses to run on stand-ins.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.local.embedded import LambdaHandler


def _pre_market(event: Any, context: Any) -> Any:
    return {**event, "is_session": MarketCalendar().is_session(date.fromisoformat(event["session_date"]))}


def _signals(event: Any, context: Any) -> Any:
    return {**event, "candidates": []}


def _risk(event: Any, context: Any) -> Any:
    return {**event, "intents": []}


def _execute(event: Any, context: Any) -> Any:
    return {**event, "orders": []}


def _flatten(event: Any, context: Any) -> Any:
    return {**event, "open_positions": 0}


def _echo(event: Any, context: Any) -> Any:
    return event


STAND_INS: dict[str, LambdaHandler] = {
    "pre_market": _pre_market,
    "signals": _signals,
    "risk": _risk,
    "execute": _execute,
    "flatten": _flatten,
    "post_close": _echo,
    "learning": _echo,
    "backtest_day": _echo,
}


def stand_ins_for(names: list[str]) -> dict[str, LambdaHandler]:
    """Stand-ins for the named functions (KeyError names one that has none)."""
    return {name: STAND_INS[name] for name in names}
