"""The trading book on DynamoDB: signals and their risk decisions, orders and fills, positions and
the open book, for one trading mode.

    trading  pk=<mode>#signals#<date>          sk=signal#<signal id>
             pk=<mode>#signals#<date>          sk=risk#<signal id>   (its risk decision, beside it)
             pk=<mode>#intent#<intent id>      sk=intent      (create-once guard: order id)
             pk=<mode>#order#<order id>        sk=order       gsi1pk=<mode>#orders#<STATUS>
                                                              gsi1sk=<created>#<order id>
             pk=<mode>#order#<order id>        sk=fill#<fill id>
             pk=<mode>#fill_days               sk=<session date>#<page no>
                                                              fills (JSON list): the fill log, a
                                                              copy of each fill with its order's
                                                              signal id, appended to its session's
                                                              page with the fill (trades by time)
             pk=<mode>#position#<position id>  sk=position    gsi1pk=<mode>#positions#<STATUS>
                                                              gsi1sk=<opened>#<position id>
             pk=<mode>#open_positions          sk=<position id>  position (JSON): the open book,
                                                              a copy written and deleted with the
                                                              position's open, closing and close
             pk=<mode>#trades                  sk=<exit date>#<page no>
                                                              trades (JSON list): the trade journal,
                                                              a day's closed round trips in pages of
                                                              at most JOURNAL_PAGE_BYTES

Every write goes in one TransactWriteItems with its audit record; opening and closing a position
book the daily counters in that same transaction, and a close appends its round trip to the
day's trade journal page there too, so analytics read a few items per session instead of every
position; a fill is appended to its session's fill-log page the same way, so a month of trades
reads about 20 fill-log items instead of one per fill. Orders, positions and the journal's and
fill log's pages carry a version for optimistic locking.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from smart0dte.adapters.aws.dynamodb.audit import DynamoAudit
from smart0dte.adapters.aws.dynamodb.counters import DynamoCounters
from smart0dte.adapters.aws.dynamodb.tables import (
    DecimalAttribute,
    MoneyAttribute,
    Tables,
    TradingTable,
    get_item,
    string_key,
    utc_key,
)
from smart0dte.domain.controls import TradingState
from smart0dte.domain.events import PositionClosed, PositionOpened, RiskCheckCompleted, SignalGenerated
from smart0dte.domain.models import (
    DomainError,
    Fill,
    OptionContract,
    OptionRight,
    Order,
    OrderStatus,
    OrderType,
    Position,
    PositionStatus,
    Protection,
    Side,
    Signal,
    TradingMode,
    Underlying,
)
from smart0dte.domain.portfolio import ClosedTrade, cents, closed_trade, trade_from_wire, trade_to_wire
from smart0dte.domain.risk import RiskRule, RiskVerdict, Violation
from smart0dte.ports import (
    AuditRecord,
    ConcurrentUpdate,
    ConflictingRecord,
    RecordNotFound,
    RiskDecision,
    Versioned,
    session_date_of,
)
from smart0dte.ports.trades import LoggedFill
from smart0dte.resources import TRADING_TABLE

FILL_ATTEMPTS: Final = 5
"""How many times `record_fill` reloads the order and its fill-log page after losing an optimistic
lock on either to another writer (the desk and the order bridge both record fills)."""
FILL_SK_PREFIX: Final = "fill#"
RISK_SK_PREFIX: Final = "risk#"
"""Sort-key prefixes of fills (in an order's partition) and risk decisions (beside their signal)."""
_INTENT_SK = "intent"
_ORDER_SK = "order"
_POSITION_SK = "position"
_SIGNAL_SK_PREFIX = "signal#"
JOURNAL_BACKFILL_CHUNK: Final = 50
"""Round trips per backfill transaction (at most one page each, with its audit record;
TransactWriteItems takes 100)."""
JOURNAL_PAGE_BYTES: Final = 64 * 1024
"""A journal or fill-log page's JSON stays under this (about 190 round trips or 270 fills;
DynamoDB's item limit is 400 KB): a busy day opens a second page instead of growing one item
without bound."""
JOURNAL_RETRIES: Final = 5
"""How many times a close or a backfill re-reads a journal page another writer just appended to."""
_JOURNAL_LABEL = "trade journal"
_FILL_LOG_LABEL = "fill log"
_WORKING = tuple(s for s in OrderStatus if not s.is_terminal)

(_BY_STATUS,) = TRADING_TABLE.indexes
_M = TypeVar("_M", bound=Model)
_P = TypeVar("_P", "JournalPageItem", "FillLogPageItem")


class _ByStatus(GlobalSecondaryIndex[_M]):  # type: ignore[no-untyped-call]  # pynamodb's hook is untyped
    class Meta:
        index_name = _BY_STATUS.name
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True, attr_name=string_key(TRADING_TABLE, _BY_STATUS.partition_key))
    gsi1sk = UnicodeAttribute(range_key=True, attr_name=string_key(TRADING_TABLE, _BY_STATUS.sort_key))


class SignalItem(TradingTable):
    ts = UTCDateTimeAttribute()
    underlying = UnicodeAttribute()
    direction = UnicodeAttribute()
    strategy = UnicodeAttribute()
    confidence = NumberAttribute()
    rationale = UnicodeAttribute()
    target_delta = NumberAttribute(null=True)
    contract = UnicodeAttribute(null=True)


class RiskItem(TradingTable):
    ts = UTCDateTimeAttribute()
    approved = BooleanAttribute()
    trading_state = UnicodeAttribute()
    violations = JSONAttribute()
    quantity = NumberAttribute()


class IntentItem(TradingTable):
    order_id = UnicodeAttribute()


class OrderItem(TradingTable):
    gsi1pk = UnicodeAttribute(attr_name=string_key(TRADING_TABLE, _BY_STATUS.partition_key))
    gsi1sk = UnicodeAttribute(attr_name=string_key(TRADING_TABLE, _BY_STATUS.sort_key))
    by_status = _ByStatus["OrderItem"]()
    intent_id = UnicodeAttribute()
    contract = UnicodeAttribute()
    side = UnicodeAttribute()
    quantity = NumberAttribute()
    order_type = UnicodeAttribute()
    limit_price = DecimalAttribute(null=True)
    stop_price = DecimalAttribute(null=True)
    oca_group = UnicodeAttribute(null=True)
    protect_stop_loss_fraction = NumberAttribute(null=True)
    protect_take_profit_fraction = NumberAttribute(null=True)
    status = UnicodeAttribute()
    filled_quantity = NumberAttribute()
    avg_fill_price = DecimalAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    reason = UnicodeAttribute(null=True)
    signal_id = UnicodeAttribute(null=True)
    version = VersionAttribute()


class FillItem(TradingTable):
    intent_id = UnicodeAttribute()
    ts = UTCDateTimeAttribute()
    contract = UnicodeAttribute()
    side = UnicodeAttribute()
    quantity = NumberAttribute()
    price = DecimalAttribute()
    commission_usd = MoneyAttribute()


class FillLogPageItem(TradingTable):
    """One page of a session's fills in the mode's fill log: a JSON list of `_fill_to_wire` dicts
    (each with its order's signal id) in the order they were recorded."""

    fills = UnicodeAttribute()
    version = VersionAttribute()


class PositionItem(TradingTable):
    gsi1pk = UnicodeAttribute(attr_name=string_key(TRADING_TABLE, _BY_STATUS.partition_key))
    gsi1sk = UnicodeAttribute(attr_name=string_key(TRADING_TABLE, _BY_STATUS.sort_key))
    by_status = _ByStatus["PositionItem"]()
    contract = UnicodeAttribute()
    quantity = NumberAttribute()
    entry_price = DecimalAttribute()
    opened_at = UTCDateTimeAttribute()
    strategy = UnicodeAttribute()
    status = UnicodeAttribute()
    stop_loss_price = DecimalAttribute(null=True)
    take_profit_price = DecimalAttribute(null=True)
    exit_price = DecimalAttribute(null=True)
    closed_at = UTCDateTimeAttribute(null=True)
    exit_reason = UnicodeAttribute(null=True)
    realized_pnl_usd = MoneyAttribute(null=True)
    version = VersionAttribute()


class OpenBookItem(TradingTable):
    """A position that is open or closing, by id: one partition the risk engine reads in full.
    A copy of the position, written in the same transactions as the position item."""

    position = JSONAttribute()


class JournalPageItem(TradingTable):
    """One page of a session's closed round trips in the mode's trade journal: a JSON list of
    `trade_to_wire` dicts in the order they were appended. A year reads as a few hundred items."""

    trades = UnicodeAttribute()
    version = VersionAttribute()


def _fill_to_wire(
    fill: Fill, signal_id: str | None, decided: tuple[Signal, RiskDecision | None] | None
) -> dict[str, object]:
    signal, risk = decided or (None, None)
    return {
        "fill_id": fill.fill_id,
        "order_id": fill.order_id,
        "intent_id": fill.intent_id,
        "ts": fill.ts.isoformat(),
        "contract": fill.contract.occ_symbol,
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": str(fill.price),
        "commission_usd": str(fill.commission_usd),
        "signal_id": signal_id,
        "signal": None if signal is None else signal.model_dump(mode="json"),
        "risk": None
        if risk is None
        else {
            "ts": risk.ts.isoformat(),
            "approved": risk.verdict.approved,
            "trading_state": risk.verdict.trading_state.value,
            "violations": [str(v) for v in risk.verdict.violations],
            "quantity": risk.quantity,
        },
    }


def _fill_from_wire(wire: dict[str, Any]) -> LoggedFill:
    fill = Fill(
        fill_id=wire["fill_id"],
        order_id=wire["order_id"],
        intent_id=wire["intent_id"],
        ts=datetime.fromisoformat(wire["ts"]),
        contract=OptionContract.from_occ(wire["contract"]),
        side=Side(wire["side"]),
        quantity=int(wire["quantity"]),
        price=Decimal(wire["price"]),
        commission_usd=Decimal(wire["commission_usd"]),
    )
    signal_id = wire["signal_id"]
    signal = None if wire["signal"] is None else Signal.model_validate(wire["signal"])
    risk = wire["risk"]
    decision = None
    if risk is not None and signal_id is not None:
        verdict = RiskVerdict(
            approved=bool(risk["approved"]),
            trading_state=TradingState(risk["trading_state"]),
            violations=tuple(_parse_violation(str(text)) for text in risk["violations"]),
        )
        ts = datetime.fromisoformat(risk["ts"])
        decision = RiskDecision(signal_id=signal_id, ts=ts, verdict=verdict, quantity=int(risk["quantity"]))
    return LoggedFill(fill, signal_id, signal, decision)


def _parse_violation(text: str) -> Violation:
    """Inverse of `str(Violation)`: 'RULE: detail'."""
    rule, _, detail = text.partition(": ")
    return Violation(RiskRule(rule), detail)


class DynamoTradingBook(DynamoCounters, DynamoAudit):
    """`TradingBook` for one mode; it books positions into the daily counters."""

    def __init__(self, tables: Tables, mode: TradingMode) -> None:
        super().__init__(tables, mode)
        self._signals = tables.model(SignalItem)
        self._risk = tables.model(RiskItem)
        self._intents = tables.model(IntentItem)
        self._orders = tables.model(OrderItem)
        self._fills = tables.model(FillItem)
        self._fill_log = tables.model(FillLogPageItem)
        self._fill_log_pk = self._key("fill_days")
        self._positions = tables.model(PositionItem)
        self._open_book = tables.model(OpenBookItem)
        self._open_book_pk = self._key("open_positions")
        self._journal = tables.model(JournalPageItem)
        self._journal_pk = self._key("trades")

    # signals and risk decisions ---------------------------------------------------------------

    def put_signal(self, signal: Signal, actor: str) -> bool:
        event = SignalGenerated(ts=signal.ts, mode=self._mode, actor=actor, signal=signal)
        item = self._signals(
            self._key("signals", session_date_of(signal.ts).isoformat()),
            _SIGNAL_SK_PREFIX + signal.signal_id,
            ts=signal.ts,
            underlying=signal.underlying.value,
            direction=signal.direction.value,
            strategy=signal.strategy,
            confidence=signal.confidence,
            rationale=signal.rationale,
            target_delta=signal.target_delta,
            contract=None if signal.contract is None else signal.contract.occ_symbol,
        )
        tx = self._tx()
        tx.put("signal", item, self._signals.pk.does_not_exist())
        self._audited(tx, AuditRecord.of_event(event, signal.rationale))
        return not tx.commit()

    def _to_signal(self, item: SignalItem) -> Signal:
        return Signal(
            signal_id=item.sk.removeprefix(_SIGNAL_SK_PREFIX),
            ts=item.ts,
            underlying=Underlying(item.underlying),
            direction=OptionRight(item.direction),
            strategy=item.strategy,
            confidence=item.confidence,
            rationale=item.rationale,
            target_delta=item.target_delta,
            contract=None if item.contract is None else OptionContract.from_occ(item.contract),
        )

    def get_signal(self, session_date: date, signal_id: str) -> Signal | None:
        sk = _SIGNAL_SK_PREFIX + signal_id
        item = get_item(self._signals, self._key("signals", session_date.isoformat()), sk)
        return None if item is None else self._to_signal(item)

    def list_signals(self, session_date: date) -> list[Signal]:
        items = self._signals.query(
            self._key("signals", session_date.isoformat()),
            self._signals.sk.startswith(_SIGNAL_SK_PREFIX),
            consistent_read=True,
        )
        return sorted((self._to_signal(i) for i in items), key=lambda s: (s.ts, s.signal_id))

    def list_signal_decisions(self, session_date: date) -> list[tuple[Signal, RiskDecision | None]]:
        """The session's signals, each with its risk decision (None while undecided), newest
        first: one query, since a decision is stored beside its signal."""
        table = self._signals.Meta.table_name
        signals: list[Signal] = []
        decisions: dict[str, RiskDecision] = {}
        start: dict[str, Any] | None = None
        while True:
            page = self._tables.connection.query(
                table,
                self._key("signals", session_date.isoformat()),
                consistent_read=True,
                exclusive_start_key=start,
            )
            for raw in page.get("Items", []):
                if raw[self._signals.sk.attr_name]["S"].startswith(RISK_SK_PREFIX):
                    decision = self._to_risk_decision(self._risk.from_raw_data(raw))
                    decisions[decision.signal_id] = decision
                else:
                    signals.append(self._to_signal(self._signals.from_raw_data(raw)))
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        signals.sort(key=lambda s: (s.ts, s.signal_id), reverse=True)
        return [(s, decisions.get(s.signal_id)) for s in signals]

    def put_risk_decision(self, decision: RiskDecision, actor: str) -> bool:
        verdict = decision.verdict
        event = RiskCheckCompleted(
            ts=decision.ts,
            mode=self._mode,
            actor=actor,
            signal_id=decision.signal_id,
            approved=verdict.approved,
            violated_rules=verdict.rules,
        )
        reason = "approved" if verdict.approved else "rejected: " + ", ".join(verdict.rules)
        details = {
            "violations": [str(v) for v in verdict.violations],
            "trading_state": verdict.trading_state.value,
            "quantity": decision.quantity,
        }
        item = self._risk(
            self._key("signals", session_date_of(decision.ts).isoformat()),
            RISK_SK_PREFIX + decision.signal_id,
            ts=decision.ts,
            approved=verdict.approved,
            trading_state=verdict.trading_state.value,
            violations=[str(v) for v in verdict.violations],
            quantity=decision.quantity,
        )
        tx = self._tx()
        tx.put("risk", item, self._risk.pk.does_not_exist())
        self._audited(tx, AuditRecord.of_event(event, reason[:2000], details))
        return not tx.commit()

    def _to_risk_decision(self, item: RiskItem) -> RiskDecision:
        verdict = RiskVerdict(
            approved=item.approved,
            trading_state=TradingState(item.trading_state),
            violations=tuple(_parse_violation(str(text)) for text in item.violations),
        )
        signal_id = item.sk.removeprefix(RISK_SK_PREFIX)
        return RiskDecision(signal_id=signal_id, ts=item.ts, verdict=verdict, quantity=int(item.quantity))

    def get_risk_decision(self, session_date: date, signal_id: str) -> RiskDecision | None:
        sk = RISK_SK_PREFIX + signal_id
        item = get_item(self._risk, self._key("signals", session_date.isoformat()), sk)
        return None if item is None else self._to_risk_decision(item)

    def list_risk_decisions(self, session_date: date) -> list[RiskDecision]:
        items = self._risk.query(
            self._key("signals", session_date.isoformat()),
            self._risk.sk.startswith(RISK_SK_PREFIX),
            consistent_read=True,
        )
        return sorted((self._to_risk_decision(i) for i in items), key=lambda d: (d.ts, d.signal_id))

    # orders and fills -------------------------------------------------------------------------

    def _order_item(self, order: Order, version: int | None) -> OrderItem:
        protection = order.protection
        item = self._orders(
            self._key("order", order.order_id),
            _ORDER_SK,
            gsi1pk=self._key("orders", order.status.value),
            gsi1sk=f"{utc_key(order.created_at)}#{order.order_id}",
            intent_id=order.intent_id,
            contract=order.contract.occ_symbol,
            side=order.side.value,
            quantity=order.quantity,
            order_type=order.order_type.value,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
            oca_group=order.oca_group,
            protect_stop_loss_fraction=protection.stop_loss_fraction if protection else None,
            protect_take_profit_fraction=protection.take_profit_fraction if protection else None,
            status=order.status.value,
            filled_quantity=order.filled_quantity,
            avg_fill_price=order.avg_fill_price,
            created_at=order.created_at,
            updated_at=order.updated_at,
            reason=order.reason or None,
            signal_id=order.signal_id,
        )
        if version is not None:
            item.version = version
        return item

    def _to_order(self, item: OrderItem) -> Versioned[Order]:
        order = Order(
            order_id=item.pk.removeprefix(self._key("order", "")),
            intent_id=item.intent_id,
            mode=self._mode,
            contract=OptionContract.from_occ(item.contract),
            side=Side(item.side),
            quantity=int(item.quantity),
            order_type=OrderType(item.order_type),
            limit_price=item.limit_price,
            stop_price=item.stop_price,
            oca_group=item.oca_group,
            protection=None
            if item.protect_stop_loss_fraction is None or item.protect_take_profit_fraction is None
            else Protection(
                stop_loss_fraction=float(item.protect_stop_loss_fraction),
                take_profit_fraction=float(item.protect_take_profit_fraction),
            ),
            status=OrderStatus(item.status),
            filled_quantity=int(item.filled_quantity),
            avg_fill_price=item.avg_fill_price,
            created_at=item.created_at,
            updated_at=item.updated_at,
            reason=item.reason or "",
            signal_id=item.signal_id,
        )
        return Versioned(order, int(item.version))

    def create_order(self, order: Order, actor: str, reason: str) -> Versioned[Order]:
        """Create once per intent id. A retry (even with another order id) returns the stored order."""
        self._require_mode(f"order {order.order_id}", order.mode)
        record = AuditRecord(
            order.created_at, self._mode, actor, "OrderCreated", reason, order.model_dump(mode="json")
        )
        tx = self._tx()
        tx.put("order", self._order_item(order, None), self._orders.pk.does_not_exist())
        tx.put(
            "intent",
            self._intents(self._key("intent", order.intent_id), _INTENT_SK, order_id=order.order_id),
            self._intents.pk.does_not_exist(),
        )
        self._audited(tx, record)
        failed = tx.commit()
        if "intent" in failed:
            existing = self.get_order_by_intent(order.intent_id)
            if existing is None:
                raise RecordNotFound(f"intent {order.intent_id} is claimed but its order is missing")
            return existing
        if "order" in failed:
            raise ConflictingRecord(f"order_id={order.order_id} already belongs to another intent")
        return Versioned(order, 1)

    def get_order(self, order_id: str) -> Versioned[Order] | None:
        item = get_item(self._orders, self._key("order", order_id), _ORDER_SK)
        return None if item is None else self._to_order(item)

    def _require_order(self, order_id: str) -> Versioned[Order]:
        found = self.get_order(order_id)
        if found is None:
            raise RecordNotFound(f"order {order_id} does not exist in {self._mode.value}")
        return found

    def get_order_by_intent(self, intent_id: str) -> Versioned[Order] | None:
        guard = get_item(self._intents, self._key("intent", intent_id), _INTENT_SK)
        return None if guard is None else self.get_order(guard.order_id)

    def list_orders(self, status: OrderStatus) -> list[Order]:
        items = self._orders.by_status.query(self._key("orders", status.value))
        return [self._to_order(i).value for i in items]

    def list_working_orders(self) -> list[Order]:
        orders = [order for status in _WORKING for order in self.list_orders(status)]
        return sorted(orders, key=lambda o: (o.created_at, o.order_id))

    def transition_order(
        self,
        order_id: str,
        status: OrderStatus,
        at: datetime,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> Versioned[Order]:
        """Move through `Order.transition` (IllegalTransition writes nothing); the write is
        conditional on `expected_version`, or on the version just read, else ConcurrentUpdate."""
        current = self._require_order(order_id)
        moved = current.value.transition(status, at, reason)
        version = current.version if expected_version is None else expected_version
        details = {
            "order_id": order_id,
            "from": current.value.status.value,
            "to": status.value,
            "version": version,
        }
        tx = self._tx()
        tx.put("order", self._order_item(moved, version))
        self._audited(tx, AuditRecord(at, self._mode, actor, "OrderStatusChanged", reason, details))
        if tx.commit():
            raise ConcurrentUpdate(f"order {order_id}: version {version} is no longer current")
        return Versioned(moved, version + 1)

    def reduce_order(
        self, order_id: str, quantity: int, at: datetime, actor: str, reason: str
    ) -> Versioned[Order]:
        current = self._require_order(order_id)
        reduced = current.value.reduce(quantity, at, reason)
        details = {
            "order_id": order_id,
            "from": current.value.quantity,
            "to": quantity,
            "status": reduced.status.value,
        }
        tx = self._tx()
        tx.put("order", self._order_item(reduced, current.version))
        self._audited(tx, AuditRecord(at, self._mode, actor, "OrderReduced", reason, details))
        if tx.commit():
            raise ConcurrentUpdate(f"order {order_id}: version {current.version} is no longer current")
        return Versioned(reduced, current.version + 1)

    def _fill_exists(self, fill: Fill) -> bool:
        key = (self._key("order", fill.order_id), FILL_SK_PREFIX + fill.fill_id)
        return get_item(self._fills, *key) is not None

    def record_fill(self, fill: Fill, actor: str) -> Versioned[Order]:
        """Store the fill, append it to its session's fill-log page (with its order's signal and
        that signal's risk decision, read once) and apply it to its order in one transaction,
        once per fill id (the fill's own item is created once).

        A fill that does not fit its order raises DomainError and writes nothing. Losing the
        order's or the page's lock to another writer reloads and retries, FILL_ATTEMPTS times in all.
        """
        decided: tuple[Signal, RiskDecision | None] | None = None
        for attempt in range(FILL_ATTEMPTS):
            current = self._require_order(fill.order_id)
            if self._fill_exists(fill):
                return current
            signal_id = current.value.signal_id
            if attempt == 0 and signal_id is not None:
                key = (session_date_of(current.value.created_at), signal_id)
                decided = self._signal_decisions([key]).get(signal_id)
            updated = current.value.apply_fill(fill)
            item = self._fills(
                self._key("order", fill.order_id),
                FILL_SK_PREFIX + fill.fill_id,
                intent_id=fill.intent_id,
                ts=fill.ts,
                contract=fill.contract.occ_symbol,
                side=fill.side.value,
                quantity=fill.quantity,
                price=fill.price,
                commission_usd=fill.commission_usd,
            )
            details = {**fill.model_dump(mode="json"), "order_status": updated.status.value}
            reason = f"{fill.quantity} @ {fill.price} -> {updated.status.value}"
            tx = self._tx()
            tx.put("fill", item, self._fills.pk.does_not_exist())
            for page in self._pages(
                self._fill_log,
                self._fill_log_pk,
                "fills",
                [(fill.ts, _fill_to_wire(fill, signal_id, decided))],
            ):
                tx.put(_FILL_LOG_LABEL, page)
            tx.put("order", self._order_item(updated, current.version))
            self._audited(tx, AuditRecord(fill.ts, self._mode, actor, "OrderFilled", reason, details))
            if not tx.commit():
                return Versioned(updated, current.version + 1)
        raise ConcurrentUpdate(
            f"order {fill.order_id}: fill {fill.fill_id} lost the lock {FILL_ATTEMPTS} times"
        )

    def list_fills(self, order_id: str) -> list[Fill]:
        items = self._fills.query(
            self._key("order", order_id),
            self._fills.sk.startswith(FILL_SK_PREFIX),
            consistent_read=True,
        )
        fills = [
            Fill(
                fill_id=i.sk.removeprefix(FILL_SK_PREFIX),
                order_id=order_id,
                intent_id=i.intent_id,
                ts=i.ts,
                contract=OptionContract.from_occ(i.contract),
                side=Side(i.side),
                quantity=int(i.quantity),
                price=i.price,
                commission_usd=i.commission_usd,
            )
            for i in items
        ]
        return sorted(fills, key=lambda f: (f.ts, f.fill_id))

    def list_fill_log(self, start: datetime, end: datetime) -> list[LoggedFill]:
        """Fills at `start` or later and before `end`, by time then fill id: one consistent query
        of the fill log's pages of the sessions from `start` to `end`."""
        name = self._fill_log.fills.attr_name
        pages = self._query_pages(
            self._fill_log_pk,
            self._fill_log.sk.between(
                f"{session_date_of(start).isoformat()}#", f"{session_date_of(end).isoformat()}#~"
            ),
            name,
        )
        logged = [_fill_from_wire(wire) for page in pages for wire in json.loads(page)]
        kept = [entry for entry in logged if start <= entry.fill.ts < end]
        return sorted(kept, key=lambda e: (e.fill.ts, e.fill.fill_id))

    def list_orders_created(
        self, statuses: Collection[OrderStatus], start: datetime, end: datetime
    ) -> list[Order]:
        """Orders in `statuses` created in [start, end): one index query per status."""
        orders = self._orders
        created = orders.gsi1sk.between(utc_key(start), utc_key(end))
        found = [
            self._to_order(item).value
            for status in statuses
            for item in orders.by_status.query(self._key("orders", status.value), created)
        ]
        found = [o for o in found if start <= o.created_at < end]
        return sorted(found, key=lambda o: (o.created_at, o.order_id))

    def _signal_decisions(
        self, keys: Iterable[tuple[date, str]]
    ) -> dict[str, tuple[Signal, RiskDecision | None]]:
        """Signals and their risk decisions by id, in batched reads of both items of each key."""
        partitions = [(self._key("signals", d.isoformat()), signal_id) for d, signal_id in sorted(set(keys))]
        signals = [
            self._to_signal(item)
            for item in self._signals.batch_get(
                [(pk, _SIGNAL_SK_PREFIX + sid) for pk, sid in partitions], consistent_read=True
            )
        ]
        decisions = {
            d.signal_id: d
            for d in (
                self._to_risk_decision(item)
                for item in self._risk.batch_get(
                    [(pk, RISK_SK_PREFIX + sid) for pk, sid in partitions], consistent_read=True
                )
            )
        }
        return {s.signal_id: (s, decisions.get(s.signal_id)) for s in signals}

    # positions --------------------------------------------------------------------------------

    def _position_item(
        self, position: Position, version: int | None, pnl_usd: Decimal | None
    ) -> PositionItem:
        item = self._positions(
            self._key("position", position.position_id),
            _POSITION_SK,
            gsi1pk=self._key("positions", position.status.value),
            gsi1sk=f"{utc_key(position.opened_at)}#{position.position_id}",
            contract=position.contract.occ_symbol,
            quantity=position.quantity,
            entry_price=position.entry_price,
            opened_at=position.opened_at,
            strategy=position.strategy,
            status=position.status.value,
            stop_loss_price=position.stop_loss_price,
            take_profit_price=position.take_profit_price,
            exit_price=position.exit_price,
            closed_at=position.closed_at,
            exit_reason=position.exit_reason,
            realized_pnl_usd=pnl_usd,
        )
        if version is not None:
            item.version = version
        return item

    def _book_entry(self, position: Position) -> OpenBookItem:
        return self._open_book(
            self._open_book_pk, position.position_id, position=position.model_dump(mode="json")
        )

    def _to_position(self, item: PositionItem) -> Versioned[Position]:
        position = Position(
            position_id=item.pk.removeprefix(self._key("position", "")),
            mode=self._mode,
            contract=OptionContract.from_occ(item.contract),
            quantity=int(item.quantity),
            entry_price=item.entry_price,
            opened_at=item.opened_at,
            strategy=item.strategy,
            status=PositionStatus(item.status),
            stop_loss_price=item.stop_loss_price,
            take_profit_price=item.take_profit_price,
            exit_price=item.exit_price,
            closed_at=item.closed_at,
            exit_reason=item.exit_reason,
        )
        return Versioned(position, int(item.version))

    def open_position(self, position: Position, actor: str, reason: str) -> Versioned[Position]:
        """Create once and count the trade on the open date; a retry returns the stored position."""
        self._require_mode(f"position {position.position_id}", position.mode)
        if position.status is not PositionStatus.OPEN:
            raise DomainError(
                f"position {position.position_id}: status={position.status.value}, must be OPEN"
            )
        event = PositionOpened(ts=position.opened_at, mode=self._mode, actor=actor, position=position)
        tx = self._tx()
        tx.put("position", self._position_item(position, None, None), self._positions.pk.does_not_exist())
        tx.put("open book", self._book_entry(position))
        self._book_counters(tx, session_date_of(position.opened_at), lambda c: [c.trades.add(1)])
        self._audited(tx, AuditRecord.of_event(event, reason))
        if tx.commit():
            existing = self.get_position(position.position_id)
            if existing is None:
                raise ConcurrentUpdate(f"position {position.position_id}: create refused but nothing stored")
            return existing
        return Versioned(position, 1)

    def get_position(self, position_id: str) -> Versioned[Position] | None:
        item = get_item(self._positions, self._key("position", position_id), _POSITION_SK)
        return None if item is None else self._to_position(item)

    def _require_position(self, position_id: str) -> Versioned[Position]:
        found = self.get_position(position_id)
        if found is None:
            raise RecordNotFound(f"position {position_id} does not exist in {self._mode.value}")
        return found

    def list_positions(self, status: PositionStatus, opened_since: datetime | None = None) -> list[Position]:
        """Positions in `status` (index read), oldest first; `opened_since` reads only those opened
        at or after it (the index sorts by opening time)."""
        by_status = self._positions.by_status
        since = None if opened_since is None else self._positions.gsi1sk >= utc_key(opened_since)
        items = by_status.query(self._key("positions", status.value), since)
        return [self._to_position(i).value for i in items]

    def list_open_positions(self) -> list[Position]:
        """Open and closing positions in one consistent read of the open book's partition (an
        index read could miss a position opened a moment ago)."""
        book = self._open_book.query(self._open_book_pk, consistent_read=True)
        positions = [Position.model_validate(entry.position) for entry in book]
        return sorted(positions, key=lambda p: (p.opened_at, p.position_id))

    def mark_position_closing(
        self, position_id: str, at: datetime, actor: str, reason: str
    ) -> Versioned[Position]:
        """OPEN -> CLOSING (exit order working); a CLOSING or CLOSED position is returned as is."""
        current = self._require_position(position_id)
        if current.value.status is not PositionStatus.OPEN:
            return current
        closing = current.value.model_copy(update={"status": PositionStatus.CLOSING})
        details = {
            "position_id": position_id,
            "from": PositionStatus.OPEN.value,
            "to": PositionStatus.CLOSING.value,
        }
        tx = self._tx()
        tx.put("position", self._position_item(closing, current.version, None))
        tx.put("open book", self._book_entry(closing))
        self._audited(tx, AuditRecord(at, self._mode, actor, "PositionClosing", reason, details))
        if tx.commit():
            raise ConcurrentUpdate(f"position {position_id}: version {current.version} is no longer current")
        return Versioned(closing, current.version + 1)

    def close_position(
        self,
        position_id: str,
        exit_price: Decimal,
        closed_at: datetime,
        exit_reason: str,
        actor: str,
        commissions_usd: Decimal = Decimal("0.00"),
    ) -> Versioned[Position]:
        """Close once. The same transaction books the net P&L and the commissions (in cents) on the
        close date, one day trade when the position opened that same session, and the round trip on
        the day's journal page. Closing a CLOSED position returns it and books nothing."""
        current = self._require_position(position_id)
        opened = current.value
        if opened.status is PositionStatus.CLOSED:
            return current
        if closed_at < opened.opened_at:
            raise DomainError(
                f"position {position_id}: closed_at={closed_at.isoformat()} is before "
                f"opened_at={opened.opened_at.isoformat()}"
            )
        closed = Position.model_validate(
            {
                **opened.model_dump(),
                "status": PositionStatus.CLOSED,
                "exit_price": exit_price,
                "closed_at": closed_at,
                "exit_reason": exit_reason,
            }
        )
        pnl_usd = cents(closed.pnl_usd(exit_price) - commissions_usd)
        day_trades = 1 if session_date_of(opened.opened_at) == session_date_of(closed_at) else 0
        event = PositionClosed(ts=closed_at, mode=self._mode, actor=actor, position=closed)
        details = {"realized_pnl_usd": str(pnl_usd), "commissions_usd": str(cents(commissions_usd))}
        trade = closed_trade(closed, pnl_usd)
        for _ in range(JOURNAL_RETRIES):
            tx = self._tx()
            tx.put("position", self._position_item(closed, current.version, pnl_usd))
            tx.delete("open book", self._open_book(self._open_book_pk, position_id))
            for page in self._journal_pages([trade]):
                tx.put(_JOURNAL_LABEL, page)
            self._book_counters(
                tx,
                session_date_of(closed_at),
                lambda c: [
                    c.day_trades.add(day_trades),
                    c.realized_pnl_usd.add(pnl_usd),
                    c.commissions_usd.add(cents(commissions_usd)),
                ],
            )
            self._audited(tx, AuditRecord.of_event(event, exit_reason, details))
            failed = tx.commit()
            if not failed:
                return Versioned(closed, current.version + 1)
            if failed != {_JOURNAL_LABEL}:
                latest = self._require_position(position_id)
                if latest.value.status is PositionStatus.CLOSED:
                    return latest
                raise ConcurrentUpdate(
                    f"position {position_id}: version {current.version} is no longer current"
                )
        raise ConcurrentUpdate(f"position {position_id}: its journal page kept changing under the close")

    # the trade journal ----------------------------------------------------------------------------

    def _journal_pages(self, trades: list[ClosedTrade]) -> list[JournalPageItem]:
        """The trade journal's pages that hold `trades` appended (by exit date)."""
        entries = [(t.exit_ts, trade_to_wire(t)) for t in trades]
        return self._pages(self._journal, self._journal_pk, "trades", entries)

    def _pages(
        self, model: type[_P], pk: str, attr: str, entries: list[tuple[datetime, dict[str, object]]]
    ) -> list[_P]:
        """The pages of partition `pk` that hold `entries` (JSON in `attr`, by the session date of
        their instant) appended: each session's latest page (read consistently, so its version
        guards the append) while it stays under JOURNAL_PAGE_BYTES, then new ones."""
        by_date: dict[date, list[dict[str, object]]] = {}
        for ts, wire in entries:
            by_date.setdefault(session_date_of(ts), []).append(wire)
        pages: list[_P] = []
        for day, new in sorted(by_date.items()):
            prefix = f"{day.isoformat()}#"
            latest = model.query(
                pk, model.sk.startswith(prefix), consistent_read=True, scan_index_forward=False, limit=1
            )
            page = next(iter(latest), None) or model(pk, f"{prefix}0000")
            body = (getattr(page, attr) or "[]")[1:-1]
            for entry in (json.dumps(wire, separators=(",", ":")) for wire in new):
                grown = f"{body},{entry}" if body else entry
                if body and len(grown) + 2 > JOURNAL_PAGE_BYTES:
                    setattr(page, attr, f"[{body}]")
                    pages.append(page)
                    number = int(page.sk.rsplit("#", 1)[1]) + 1
                    page = model(pk, f"{prefix}{number:04d}")
                    grown = entry
                body = grown
            setattr(page, attr, f"[{body}]")
            pages.append(page)
        return pages

    def _query_pages(self, pk: str, sk_condition: Condition | None, attr_name: str) -> list[str]:
        """The JSON of every page of partition `pk` whose sort key meets `sk_condition`: one
        consistent query that reads only that attribute."""
        table = self._journal.Meta.table_name
        bodies: list[str] = []
        start: dict[str, Any] | None = None
        while True:
            page = self._tables.connection.query(
                table,
                pk,
                sk_condition,
                consistent_read=True,
                attributes_to_get=[attr_name],
                exclusive_start_key=start,
            )
            bodies += (raw[attr_name]["S"] for raw in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if start is None:
                return bodies

    def list_closed_trades(self, exit_since: date | None = None) -> list[ClosedTrade]:
        """Closed round trips that exited on session `exit_since` or later (all when None), by exit
        time then position id: one consistent query of the trade journal's pages."""
        journal = self._journal
        since = None if exit_since is None else journal.sk >= exit_since.isoformat()
        pages = self._query_pages(self._journal_pk, since, journal.trades.attr_name)
        trades = [trade_from_wire(wire) for page in pages for wire in json.loads(page)]
        return sorted(trades, key=lambda t: (t.exit_ts, t.position_id))

    def backfill_trade_journal(self, at: datetime, actor: str) -> list[str]:
        """Journal the round trips of closed positions that have none (closed before the journal
        existed, or by a process that did not write it); returns their position ids.

        Reads the keys of closed positions and every journal page, then the positions that lack
        an entry, and appends those in transactions of JOURNAL_BACKFILL_CHUNK, each with an
        audit record naming them. Idempotent: run again, it finds nothing missing.
        """
        positions = self._positions
        closed_keys = positions.by_status.query(
            self._key("positions", PositionStatus.CLOSED.value), attributes_to_get=[positions.pk.attr_name]
        )
        position_prefix = self._key("position", "")
        closed_ids = {item.pk.removeprefix(position_prefix) for item in closed_keys}
        journaled = {t.position_id for t in self.list_closed_trades()}
        missing = sorted(closed_ids - journaled)
        written: list[str] = []
        for start in range(0, len(missing), JOURNAL_BACKFILL_CHUNK):
            chunk = missing[start : start + JOURNAL_BACKFILL_CHUNK]
            keys = [(position_prefix + position_id, _POSITION_SK) for position_id in chunk]
            trades = []
            for item in positions.batch_get(keys, consistent_read=True):
                position = self._to_position(item).value
                exit_price = position.exit_price
                if (
                    position.status is not PositionStatus.CLOSED
                    or exit_price is None
                    or position.closed_at is None
                ):
                    continue  # not a round trip (analytics never showed it either)
                pnl_usd = (
                    position.pnl_usd(exit_price) if item.realized_pnl_usd is None else item.realized_pnl_usd
                )
                trades.append(closed_trade(position, pnl_usd))
            if not trades:
                continue
            ids = sorted(t.position_id for t in trades)
            reason = f"{len(ids)} closed position(s) had no trade journal entry"
            details = {"position_ids": ids}
            record = AuditRecord(at, self._mode, actor, "TradeJournalBackfilled", reason, details)
            for _ in range(JOURNAL_RETRIES):
                tx = self._tx()
                for page in self._journal_pages(trades):
                    tx.put(_JOURNAL_LABEL, page)
                self._audited(tx, record)
                if not tx.commit():
                    break
            else:
                raise ConcurrentUpdate(f"trade journal backfill of {ids}: its pages kept changing")
            written.extend(ids)
        return written
