"""Each session's counters on DynamoDB (PDT day trades, entries, realized P&L and its commissions),
for one trading mode.

    control  pk=<mode>#counters                sk=<date>

Positions book into them inside their own transactions (`DynamoCounters._book_counters`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

from pynamodb.attributes import NumberAttribute
from pynamodb.expressions.update import Action

from smart0dte.adapters.aws.dynamodb.tables import (
    ControlTable,
    ModeStore,
    MoneyAttribute,
    Tables,
    Tx,
    get_item,
)
from smart0dte.domain.models import TradingMode
from smart0dte.domain.portfolio import cents
from smart0dte.ports import DailyCounters


class CountersItem(ControlTable):
    day_trades = NumberAttribute(null=True)
    trades = NumberAttribute(null=True)
    realized_pnl_usd = MoneyAttribute(null=True)
    commissions_usd = MoneyAttribute(null=True)


def counters_of(session_date: date, item: CountersItem | None) -> DailyCounters:
    """The counters an item holds; zeros when the session has none."""
    if item is None:
        return DailyCounters(session_date)
    return DailyCounters(
        session_date=session_date,
        day_trades=int(item.day_trades or 0),
        trades=int(item.trades or 0),
        realized_pnl_usd=cents(item.realized_pnl_usd or Decimal(0)),
        commissions_usd=cents(item.commissions_usd or Decimal(0)),
    )


class DynamoCounters(ModeStore):
    """`CountersStore` for one mode."""

    def __init__(self, tables: Tables, mode: TradingMode) -> None:
        super().__init__(tables, mode)
        self._counters = tables.model(CountersItem)

    def _book_counters(
        self, tx: Tx, session_date: date, actions: Callable[[type[CountersItem]], list[Action]]
    ) -> None:
        """Add to the session's counters inside `tx` (another aggregate's transaction)."""
        tx.update(
            "counters",
            self._counters(self._key("counters"), session_date.isoformat()),
            actions(self._counters),
        )

    def get_counters(self, session_date: date) -> DailyCounters:
        item = get_item(self._counters, self._key("counters"), session_date.isoformat())
        return counters_of(session_date, item)

    def add_to_counters(
        self,
        session_date: date,
        *,
        day_trades: int = 0,
        trades: int = 0,
        realized_pnl_usd: Decimal = Decimal("0.00"),
    ) -> DailyCounters:
        item = self._counters(self._key("counters"), session_date.isoformat())
        c = self._counters
        item.update(
            [
                c.day_trades.add(day_trades),
                c.trades.add(trades),
                c.realized_pnl_usd.add(cents(realized_pnl_usd)),
            ]
        )
        return counters_of(session_date, item)

    def day_trades_in_window(self, session_dates: Sequence[date]) -> int:
        if not session_dates:
            return 0
        wanted = {d.isoformat() for d in session_dates}
        items = self._counters.query(
            self._key("counters"),
            self._counters.sk.between(min(wanted), max(wanted)),
            consistent_read=True,
        )
        return sum(int(i.day_trades or 0) for i in items if i.sk in wanted)
