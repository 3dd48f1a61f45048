"""The StateStore on DynamoDB, one trading mode per store: `DynamoState` composes the aggregates'
stores (controls, trading book, counters, market data, the engine's progress, audit) and adds
what spans them all: the other mode's store and the reset of paper records.

Each aggregate lives in its own module with its models and keys (`controls`, `trading`,
`counters`, `market`, `session`, `audit`); `tables` holds what they share. They are combined by
inheritance, not forwarding: each aggregate's store builds on the `ModeStore` base (one set of
bound tables, one mode, the transaction helper), so a write that spans aggregates (a position
open that books the counters, every audited change) stays one TransactWriteItems, and the
store keeps one method per StateStore operation with no forwarding layer. Where an aggregate
needs another's records it subclasses that aggregate's store (the controls build on the trading
book, which builds on the counters and the audit), so the dependencies are the class bases.
"""

from __future__ import annotations

import functools
import operator
from datetime import datetime, timedelta
from typing import Final

from smart0dte.adapters.aws.dynamodb.audit import DynamoAudit
from smart0dte.adapters.aws.dynamodb.controls import DynamoControls
from smart0dte.adapters.aws.dynamodb.counters import DynamoCounters
from smart0dte.adapters.aws.dynamodb.market import DEFAULT_MARKET_TTL, DynamoMarket
from smart0dte.adapters.aws.dynamodb.session import DynamoEngineProgress
from smart0dte.adapters.aws.dynamodb.tables import Tables, TradingTable
from smart0dte.adapters.aws.dynamodb.trading import FILL_SK_PREFIX, RISK_SK_PREFIX, DynamoTradingBook
from smart0dte.domain.models import TradingMode
from smart0dte.ports import RESET_SCOPES, AuditRecord, ResetRefused, ResetScope
from smart0dte.resources import AUDIT_TABLE, CONTROL_TABLE, MARKET_TABLE, TRADING_TABLE

_RESET_PARTITIONS: Final[dict[str, tuple[str, ...]]] = {
    "positions": ("position", "order", "intent", "engine", "trades", "fill_days", "fill_log"),
    "signals": ("signals",),
    "analytics": (),
}
"""Trading-table partitions (the key part after the mode: a whole partition, or a family of them
`<mode>#<part>#...`) each reset scope deletes; `fill_log` holds fills a store logged one item per
fill before the fill log became day pages (`fill_days`)."""
_RESET_COUNTED_AS: Final = {
    "position": "positions",
    "order": "orders",
    "intent": "orderIntents",
    "engine": "engineStates",
    "signals": "signals",
    "trades": "tradeJournalPages",
    "fill_days": "fillLogPages",
    "fill_log": "fillLog",
}
_RESETS_COUNTERS: Final = frozenset({"positions", "analytics"})


class TradingKey(TradingTable):
    """Any trading-table item, read for its key only (reset)."""


class DynamoState(
    DynamoControls, DynamoTradingBook, DynamoCounters, DynamoMarket, DynamoEngineProgress, DynamoAudit
):
    """The StateStore on DynamoDB for one trading mode; every key opens with that mode."""

    def __init__(
        self,
        prefix: str,
        mode: TradingMode,
        *,
        region: str,
        endpoint_url: str | None = None,
        market_ttl: timedelta = DEFAULT_MARKET_TTL,
    ) -> None:
        if market_ttl <= timedelta(0):
            raise ValueError(f"market_ttl={market_ttl} must be positive")
        specs = (CONTROL_TABLE, TRADING_TABLE, MARKET_TABLE, AUDIT_TABLE)
        tables = Tables(prefix, region=region, endpoint_url=endpoint_url, specs=specs)
        super().__init__(tables, mode)
        self._market_ttl = market_ttl
        self._where = (prefix, region, endpoint_url, market_ttl)
        self._siblings: dict[TradingMode, DynamoState] = {mode: self}
        self._trading_keys = tables.model(TradingKey)

    def for_mode(self, mode: TradingMode) -> DynamoState:
        """The store of `mode`'s records on the same tables (built once per mode)."""
        sibling = self._siblings.get(mode)
        if sibling is None:
            prefix, region, endpoint, ttl = self._where
            sibling = DynamoState(prefix, mode, region=region, endpoint_url=endpoint, market_ttl=ttl)
            sibling._siblings = self._siblings
            self._siblings[mode] = sibling
        return sibling

    def reset(self, scope: ResetScope, actor: str, reason: str, at: datetime) -> dict[str, int]:
        """Delete this mode's records of `scope` (`ports.RESET_SCOPES`); returns counts by kind.

        Paper only, while trading is paused or stopped, and (for positions) with no position open
        and no order working, so no running cycle or broker order is left pointing at deleted
        records. Thousands of items do not fit one transaction: the audit record of the request
        is written first, then items are deleted in batches, then a record with the counts. A
        reset that fails part-way deletes the rest when run again.
        """
        if scope not in RESET_SCOPES:
            raise ValueError(f"scope={scope!r} must be one of {', '.join(RESET_SCOPES)}")
        if self._mode is not TradingMode.PAPER:
            raise ResetRefused(f"reset is for paper records only; this store keeps {self._mode.value}")
        controls = self.get_controls()
        if not (controls.paused or controls.emergency_stop):
            raise ResetRefused("pause trading (or press the emergency stop) before a reset")
        scopes = tuple(_RESET_PARTITIONS) if scope == "all" else (scope,)
        if "positions" in scopes:
            open_ids = [p.position_id for p in self.list_open_positions()]
            working_ids = [o.order_id for o in self.list_working_orders()]
            if open_ids or working_ids:
                raise ResetRefused(
                    f"reset {scope} would orphan open position(s) {open_ids} and working order(s) "
                    f"{working_ids}: close or cancel them first"
                )
        self.audit.append(AuditRecord(at, self._mode, actor, "reset", reason, {"scope": scope}))
        deleted: dict[str, int] = {}
        kinds = [kind for s in scopes for kind in _RESET_PARTITIONS[s]]
        if kinds:
            keys = self._trading_keys
            partitions = (
                (keys.pk == self._key(kind)) | keys.pk.startswith(self._key(kind) + "#") for kind in kinds
            )
            condition = functools.reduce(operator.or_, partitions)
            with keys.batch_write() as batch:
                for item in keys.scan(condition):
                    kind = _RESET_COUNTED_AS[item.pk.split("#", 2)[1]]
                    if kind == "orders" and item.sk.startswith(FILL_SK_PREFIX):
                        kind = "fills"
                    elif kind == "signals" and item.sk.startswith(RISK_SK_PREFIX):
                        kind = "riskDecisions"
                    deleted[kind] = deleted.get(kind, 0) + 1
                    batch.delete(item)
        if _RESETS_COUNTERS.intersection(scopes):
            with self._counters.batch_write() as batch:
                for counters in self._counters.query(self._key("counters"), consistent_read=True):
                    deleted["dailyCounters"] = deleted.get("dailyCounters", 0) + 1
                    batch.delete(counters)
        details = {"scope": scope, "deleted": deleted}
        self.audit.append(AuditRecord(at, self._mode, actor, "reset_completed", reason, details))
        return deleted
