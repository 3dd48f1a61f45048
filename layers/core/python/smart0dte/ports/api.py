"""The ports of the HTTP API: the state store it reads and writes, and the backtest workflow it starts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Protocol

from smart0dte.domain.models import (
    Bar,
    ChainSnapshot,
    Signal,
    TradingMode,
    Underlying,
)
from smart0dte.ports.controls import ControlState
from smart0dte.ports.records import Versioned
from smart0dte.ports.session import SessionPlan
from smart0dte.ports.state import ResetScope, StateStore
from smart0dte.ports.trades import TradeRecords
from smart0dte.ports.trading import RiskDecision


class ApiStore(StateStore, TradeRecords, Protocol):
    """The StateStore plus what DynamoState offers the API: reset, the controls of a day, the
    day's signals with their decisions, chains, the engine's last minute, bars, what the trades
    read model reads (`TradeRecords`), and the store of the other mode's records (the mode
    switch)."""

    def reset(self, scope: ResetScope, actor: str, reason: str, at: datetime) -> dict[str, int]: ...

    def get_control_state(self, session_date: date) -> ControlState: ...

    def list_signal_decisions(self, session_date: date) -> list[tuple[Signal, RiskDecision | None]]: ...

    def list_chain_snapshots(self, underlying: Underlying, at_or_before: datetime) -> list[ChainSnapshot]: ...

    def last_engine_minute(self, session_date: date) -> datetime | None: ...

    def get_engine(self, session_date: date) -> Versioned[dict[str, object]] | None:
        """The session engine's saved state of the day (its minute marks and fills), read-only."""
        ...

    def session_plan(self, session_date: date) -> SessionPlan | None:
        """The plan pre_market wrote for the session (its starting and peak equity)."""
        ...

    def list_bars(self, symbol: str, session_date: date, latest_only: bool = False) -> list[Bar]: ...

    def for_mode(self, mode: TradingMode) -> ApiStore: ...


class BacktestRunner(Protocol):
    """Starts the backtest workflow and reports on it (Step Functions in AWS)."""

    def start(self, request: Mapping[str, object]) -> str:
        """Start a run; returns the id to poll."""
        ...

    def status(self, run_id: str) -> Mapping[str, object] | None:
        """{"status", "input", "output", "error", "cause", "started_at", "stopped_at"} of a run
        (times as aware datetimes, None while running), None when the id is unknown."""
        ...

    def runs(self, limit: int) -> list[Mapping[str, object]]:
        """The newest `limit` runs, newest first, each as `status` gives it with its "id"."""
        ...

    def cancel(self, run_id: str, reason: str) -> None:
        """Stop a running run (its status becomes ABORTED, `reason` its cause)."""
        ...
