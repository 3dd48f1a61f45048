"""A session's signals recorded minute by minute before the engine runs, then replayed to it.

The rule strategies and the model read only the market (their per-day memory is their own
signals), never the account, so every minute's signals can be computed apart from the engine, in
another process, while the engine runs earlier days in order with the account they leave
(`services.backtest`). Replaying the tape gives the engine exactly the signals the source would
have given it live: the engine asks at every minute end from the open + 1 minute to before the
flatten time, whatever the account's state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.marketdata import DayCut, MarketDay, datetime_to_ns
from smart0dte.domain.models import DomainError, Signal
from smart0dte.domain.session_engine import SignalSource

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class SignalTape:
    """Every minute's signals of one session, by the minute end's epoch nanoseconds (minutes
    without a signal are absent)."""

    by_minute_ns: Mapping[int, tuple[Signal, ...]]

    def signals_at(self, now: datetime) -> list[Signal]:
        return list(self.by_minute_ns.get(datetime_to_ns(now), ()))

    def signals(self, known: MarketDay, now: datetime) -> list[Signal]:
        """The `SignalSource` form: `known` is not read, the tape already saw it."""
        return self.signals_at(now)

    @property
    def count(self) -> int:
        return sum(len(s) for s in self.by_minute_ns.values())

    def to_wire(self) -> list[dict[str, Any]]:
        return [s.model_dump(mode="json") for ns in sorted(self.by_minute_ns) for s in self.by_minute_ns[ns]]

    @classmethod
    def from_wire(cls, wire: Sequence[Mapping[str, Any]], session: SessionTimes) -> SignalTape:
        """Parse `to_wire`'s list; a signal outside the session's signal minutes is refused, naming it."""
        by_minute: dict[int, list[Signal]] = {}
        first, last = session.open_et + MINUTE, session.flatten_et - MINUTE
        for i, item in enumerate(wire):
            signal = Signal.model_validate(item)
            if not first <= signal.ts <= last:
                window = f"{first.isoformat()}..{last.isoformat()}"
                raise DomainError(f"signals[{i}].ts={signal.ts.isoformat()} is outside {window}")
            by_minute.setdefault(datetime_to_ns(signal.ts), []).append(signal)
        return cls({ns: tuple(signals) for ns, signals in by_minute.items()})


def record_signals(day: MarketDay, session: SessionTimes, source: SignalSource) -> SignalTape:
    """Ask `source` for each minute's signals as the engine would: at every
    minute end from the open + 1 minute to before the flatten time, with the day as known then."""
    by_minute: dict[int, tuple[Signal, ...]] = {}
    cut = DayCut(day)
    now = session.open_et + MINUTE
    while now < session.flatten_et:
        now_ns = datetime_to_ns(now)
        signals = source.signals(cut.until(now_ns), now)
        for signal in signals:
            if signal.ts != now:
                raise DomainError(f"signal {signal.signal_id} has ts={signal.ts.isoformat()}, asked at {now}")
        if signals:
            by_minute[now_ns] = tuple(signals)
        now += MINUTE
    return SignalTape(by_minute)
