"""The book against the broker (ibkr_paper and live): what the order bridge saw at IB, and whether
the engine's book agrees with it.

The order bridge publishes a `BrokerBook` after each sync of the broker's fills: today's positions
in the 0DTE options the system trades, every execution id the broker reported today, and the fills
and working orders of trades Smart 0DTE did not place (by hand). Each trading minute, after booking
the broker's news, the engine adopts those fills into its book (a hand-bought contract is protected
and flattened like its own) and compares (`compare`): a book is comparable with a snapshot that has
seen every fill the engine booked; then any position that differs, or any order working at IB that
the system did not place, is a difference. A difference halts new entries (the trading state turns
REDUCING) until book and broker agree again; a snapshot older than `BROKER_BOOK_MAX_AGE` is a
difference too (the engine cannot know the broker's truth).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from smart0dte.domain.models import DomainError, Fill, OptionContract, Underlying, aware_datetime

BROKER_BOOK_MAX_AGE: Final = timedelta(seconds=120)
"""A broker book older than this at a trading minute is no evidence: entries wait."""


def traded_here(occ_symbol: str, session_date: date) -> bool:
    """Whether the engine could hold `occ_symbol` on `session_date`: a same-day option of SPY, QQQ
    or IWM. Anything else in the account (the owner's other holdings) is not the engine's."""
    try:
        contract = OptionContract.from_occ(occ_symbol)
    except (DomainError, ValueError):
        return False
    return contract.expiry == session_date and contract.root in {u.value for u in Underlying if u.is_tradable}


@dataclass(frozen=True, slots=True)
class ForeignOrder:
    """An order working at IB that Smart 0DTE did not place (by hand, or another program)."""

    contract_symbol: str
    side: str
    remaining: int


@dataclass(frozen=True, slots=True)
class BrokerBook:
    """The broker's side at `at`, as the order bridge saw it right after syncing its fills."""

    at: datetime
    positions: Mapping[str, int]
    """OCC symbol -> signed quantity, for the contracts the engine trades (`traded_here`)."""
    execution_ids: frozenset[str]
    """Every execution the broker reported since the session began (Smart 0DTE's and others')."""
    foreign_orders: tuple[ForeignOrder, ...] = ()
    hand_fills: tuple[Fill, ...] = ()
    """Today's fills in the contracts the engine trades of orders Smart 0DTE did not place: the
    engine adopts them into its book (`SessionEngine`)."""

    def has_seen(self, fill_ids: frozenset[str]) -> bool:
        """Whether this book was taken after every one of `fill_ids` (else it is behind the
        engine's book and says nothing about it yet)."""
        return fill_ids <= self.execution_ids

    def to_wire(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "positions": dict(sorted(self.positions.items())),
            "execution_ids": sorted(self.execution_ids),
            "foreign_orders": [[o.contract_symbol, o.side, o.remaining] for o in self.foreign_orders],
            "hand_fills": [f.model_dump(mode="json") for f in self.hand_fills],
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> BrokerBook:
        return cls(
            at=aware_datetime(str(wire["at"]), "broker book at"),
            positions={str(k): int(v) for k, v in wire["positions"].items()},
            execution_ids=frozenset(str(e) for e in wire["execution_ids"]),
            foreign_orders=tuple(
                ForeignOrder(str(s), str(side), int(r)) for s, side, r in wire["foreign_orders"]
            ),
            hand_fills=tuple(Fill.model_validate(f) for f in wire.get("hand_fills", ())),
        )


@dataclass(frozen=True, slots=True)
class BookDifference:
    """Where the engine's book and the broker disagree; `text` says it in one line."""

    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """OCC symbol -> (book quantity, broker quantity)."""
    foreign_orders: tuple[ForeignOrder, ...] = ()
    stale_since: datetime | None = None
    """When the broker book now too old was taken (the text stays the same while it stays old, so
    one silence is one incident)."""
    missing: bool = False

    @property
    def text(self) -> str:
        if self.missing:
            return "no broker book from the order bridge yet"
        if self.stale_since is not None:
            return (
                f"the order bridge's broker book is older than {BROKER_BOOK_MAX_AGE.total_seconds():.0f} s "
                f"(taken at {self.stale_since.isoformat()})"
            )
        parts = [
            f"{occ} book {book} broker {broker}" for occ, (book, broker) in sorted(self.positions.items())
        ]
        parts += [
            f"{o.side} {o.remaining} {o.contract_symbol} working at IB, not placed by Smart 0DTE"
            for o in self.foreign_orders
        ]
        return "; ".join(parts)

    def details(self) -> dict[str, object]:
        return {
            "positions": {occ: {"book": b, "broker": k} for occ, (b, k) in sorted(self.positions.items())},
            "foreign_orders": [
                {"contract": o.contract_symbol, "side": o.side, "remaining": o.remaining}
                for o in self.foreign_orders
            ],
            "stale_since": None if self.stale_since is None else self.stale_since.isoformat(),
            "missing": self.missing,
        }


def compare(
    book_positions: Mapping[str, int], broker: BrokerBook | None, now: datetime
) -> BookDifference | None:
    """The difference between the engine's book (OCC symbol -> quantity) and `broker` at `now`, or
    None when they agree. Compare only with a book that `has_seen` every fill the engine booked."""
    if broker is None:
        return BookDifference(missing=True)
    if now - broker.at > BROKER_BOOK_MAX_AGE:
        return BookDifference(stale_since=broker.at)
    symbols = {s for s, q in book_positions.items() if q} | {s for s, q in broker.positions.items() if q}
    positions = {
        s: (book_positions.get(s, 0), broker.positions.get(s, 0))
        for s in symbols
        if book_positions.get(s, 0) != broker.positions.get(s, 0)
    }
    if not positions and not broker.foreign_orders:
        return None
    return BookDifference(positions, broker.foreign_orders)
