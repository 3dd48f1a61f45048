"""The state store: everything the system remembers for one trading mode, as the union of the
aggregates' stores, and the reset of a paper store."""

from __future__ import annotations

from typing import Final, Literal, Protocol

from smart0dte.domain.models import DomainError, TradingMode
from smart0dte.ports.audit import AuditLog
from smart0dte.ports.controls import ControlsStore
from smart0dte.ports.counters import CountersStore
from smart0dte.ports.market import MarketStore
from smart0dte.ports.trading import TradingBook

ResetScope = Literal["positions", "signals", "analytics", "all"]
RESET_SCOPES: Final[dict[str, str]] = {
    "positions": "every position with its orders, fills (and the fill log) and order intents, the trade "
    "journal, the engines' saved session state and the daily counters (trades, day trades, realised P&L)",
    "signals": "every signal and its risk decision",
    "analytics": "the daily counters, daily reports, backtest results and optimization results",
    "all": "everything above; settings, risk limits, controls and the audit log are kept",
}
"""What `POST /api/reset` deletes per scope (paper mode only)."""


class ResetRefused(DomainError):
    """A reset that would orphan live state (an open position, a working order, trading on)."""


class StateStore(ControlsStore, TradingBook, CountersStore, MarketStore, Protocol):
    """Everything the system remembers, for one trading mode.

    Every write that is a decision or a manual action writes its audit record in the same
    transaction, so a change and its explanation exist together or not at all. Creates are
    once-only: a retry returns the stored record and writes nothing.
    """

    @property
    def mode(self) -> TradingMode: ...

    @property
    def audit(self) -> AuditLog: ...
