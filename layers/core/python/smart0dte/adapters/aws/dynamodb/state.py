"""State in DynamoDB through pynamodb: the StateStore and the append-only audit log, one mode per store.

Table names, key attributes, the by_status index and the TTL attribute come from `resources`;
the pynamodb models are bound to physical tables when a `DynamoState` is built, so importing
this module touches no AWS. Keys (dates are New York session dates; instants in sort keys are
fixed-width UTC, so they sort by time):

    control  pk=<mode>#control                 sk=settings | risk_limits | trading
             pk=<mode>#counters                sk=<date>
    trading  pk=<mode>#signals#<date>          sk=signal#<signal id>
             pk=<mode>#signals#<date>          sk=risk#<signal id>   (its risk decision, beside it)
             pk=<mode>#intent#<intent id>      sk=intent      (create-once guard: order id)
             pk=<mode>#order#<order id>        sk=order       gsi1pk=<mode>#orders#<STATUS>
                                                              gsi1sk=<created>#<order id>
             pk=<mode>#order#<order id>        sk=fill#<fill id>
             pk=<mode>#position#<position id>  sk=position    gsi1pk=<mode>#positions#<STATUS>
                                                              gsi1sk=<opened>#<position id>
             pk=<mode>#open_positions          sk=<position id>  position (JSON): the open book,
                                                              a copy written and deleted with the
                                                              position's open, closing and close
    market   pk=<mode>#bar#<symbol>#<date>     sk=<bar open>  o h l c v i expires_at
             pk=<mode>#chain#<underlying>#<date>  sk=<ts>     z (zlib JSON) expires_at
    audit    pk=<mode>#audit#<date>            sk=<ts>#<record id>

Every change that is a decision or a manual action goes in one TransactWriteItems with its
audit record. Orders and positions carry a version for optimistic locking.
"""

from __future__ import annotations

import functools
import json
import operator
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, TypeVar, cast

from pynamodb.attributes import (
    Attribute,
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.connection.base import MetaTable
from pynamodb.constants import NUMBER
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import MetaModel, Model
from pynamodb.transactions import TransactWrite

from smart0dte.adapters.aws.provisioning import table_definition
from smart0dte.domain.controls import AutomationSettings, RiskLimits, TradingState
from smart0dte.domain.events import (
    EmergencyStopActivated,
    EmergencyStopCleared,
    PositionClosed,
    PositionOpened,
    RiskCheckCompleted,
    SignalGenerated,
    TradingPaused,
    TradingResumed,
    TradingStateChanged,
)
from smart0dte.domain.models import (
    Bar,
    ChainSnapshot,
    DomainError,
    Fill,
    OptionContract,
    OptionQuote,
    OptionRight,
    Order,
    OrderStatus,
    OrderType,
    Position,
    PositionStatus,
    Side,
    Signal,
    TradingMode,
    Underlying,
)
from smart0dte.domain.portfolio import cents
from smart0dte.domain.risk import Controls, RiskRule, RiskVerdict, Violation
from smart0dte.ports import (
    RESET_SCOPES,
    ActiveMode,
    AuditRecord,
    AuditRecordExists,
    BrokerAccount,
    ConcurrentUpdate,
    ConflictingRecord,
    ControlChange,
    ControlState,
    DailyCounters,
    GatewayStatus,
    RecordNotFound,
    ResetRefused,
    ResetScope,
    RiskDecision,
    TradingControls,
    Versioned,
    session_date_of,
)
from smart0dte.resources import (
    AUDIT_TABLE,
    CONTROL_TABLE,
    MARKET_TABLE,
    TRADING_TABLE,
    Key,
    KeyType,
    TableSpec,
    mode_key,
)

DEFAULT_MARKET_TTL = timedelta(days=3)
"""How long bars and chain snapshots live after their own timestamp."""
MAX_ITEM_BYTES: Final = 400 * 1024
"""DynamoDB's item size limit (names and values)."""
FILL_ATTEMPTS: Final = 3
"""How many times `record_fill` reloads the order after losing an optimistic lock to another fill."""

_CONDITION_FAILED = "ConditionalCheckFailed"
_TRANSACTION_CONFLICT = "TransactionConflict"
_SETTINGS_SK = "settings"
_RISK_LIMITS_SK = "risk_limits"
_CONTROLS_SK = "trading"
_GATEWAY_SK = "gateway"
_SYSTEM_PK = "system"
"""The one partition no mode owns: which mode the system trades in."""
_ACTIVE_MODE_SK = "active_mode"
_INTENT_SK = "intent"
_ORDER_SK = "order"
_FILL_SK_PREFIX = "fill#"
_POSITION_SK = "position"
_SIGNAL_SK_PREFIX = "signal#"
_RISK_SK_PREFIX = "risk#"
_WORKING = tuple(s for s in OrderStatus if not s.is_terminal)
_RESET_PARTITIONS: Final[dict[str, tuple[str, ...]]] = {
    "positions": ("position", "order", "intent", "engine"),
    "signals": ("signals",),
    "analytics": (),
}
"""Trading-table partitions (the key part after the mode) each reset scope deletes."""
_RESET_COUNTED_AS: Final = {
    "position": "positions",
    "order": "orders",
    "intent": "orderIntents",
    "engine": "engineStates",
    "signals": "signals",
}
_RESETS_COUNTERS: Final = frozenset({"positions", "analytics"})


# --- attributes and keys from resources ----------------------------------------------------


def _string_key(table: TableSpec, key: Key | None) -> str:
    if key is None:
        raise TypeError(f"table {table.logical_name} has no sort key; this adapter needs one")
    if key.type is not KeyType.STRING:
        raise TypeError(f"table {table.logical_name}: key {key.name} is {key.type}; this adapter writes S")
    return key.name


def _ttl_name(table: TableSpec) -> str:
    if table.ttl_attribute is None:
        raise TypeError(f"table {table.logical_name} has no TTL attribute")
    return table.ttl_attribute


(_BY_STATUS,) = TRADING_TABLE.indexes


class DecimalAttribute(Attribute[Decimal]):
    """A number read and written as an exact Decimal (pynamodb's NumberAttribute goes through float)."""

    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        return str(value)

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)


class MoneyAttribute(DecimalAttribute):
    """USD money, stored and read rounded to cents."""

    def serialize(self, value: Decimal) -> str:
        return str(cents(value))

    def deserialize(self, value: str) -> Decimal:
        return cents(Decimal(value))


def _parse_violation(text: str) -> Violation:
    """Inverse of `str(Violation)`: 'RULE: detail'."""
    rule, _, detail = text.partition(": ")
    return Violation(RiskRule(rule), detail)


def _utc_key(ts: datetime) -> str:
    """A fixed-width UTC instant for sort keys: lexical order is time order."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- models (unbound: `_bind` gives each store its own subclasses with table names) --------


class _ControlTable(Model):
    pk = UnicodeAttribute(hash_key=True, attr_name=_string_key(CONTROL_TABLE, CONTROL_TABLE.partition_key))
    sk = UnicodeAttribute(range_key=True, attr_name=_string_key(CONTROL_TABLE, CONTROL_TABLE.sort_key))


class _ConfigItem(_ControlTable):
    value = JSONAttribute()
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute()
    version = VersionAttribute()


class _ControlsItem(_ControlTable):
    emergency_stop = BooleanAttribute(null=True)
    stop_actor = UnicodeAttribute(null=True)
    stop_reason = UnicodeAttribute(null=True)
    stop_at = UTCDateTimeAttribute(null=True)
    paused = BooleanAttribute(null=True)
    pause_actor = UnicodeAttribute(null=True)
    pause_reason = UnicodeAttribute(null=True)
    pause_at = UTCDateTimeAttribute(null=True)
    trading_state = UnicodeAttribute(null=True)
    state_reason = UnicodeAttribute(null=True)
    state_actor = UnicodeAttribute(null=True)
    state_at = UTCDateTimeAttribute(null=True)
    close_requests = UnicodeSetAttribute(null=True)


class _GatewayItem(_ControlTable):
    heartbeat_at = UTCDateTimeAttribute()
    connected = BooleanAttribute()
    port = NumberAttribute()
    account = JSONAttribute(null=True)
    detail = UnicodeAttribute(null=True)


class _ActiveModeItem(_ControlTable):
    mode = UnicodeAttribute()
    changed_by = UnicodeAttribute()
    reason = UnicodeAttribute()
    changed_at = UTCDateTimeAttribute()
    version = VersionAttribute()


class _CountersItem(_ControlTable):
    day_trades = NumberAttribute(null=True)
    trades = NumberAttribute(null=True)
    realized_pnl_usd = MoneyAttribute(null=True)


_M = TypeVar("_M", bound=Model)
_C = TypeVar("_C", AutomationSettings, RiskLimits)


class _ByStatus(GlobalSecondaryIndex[_M]):  # type: ignore[no-untyped-call]  # pynamodb's hook is untyped
    class Meta:
        index_name = _BY_STATUS.name
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True, attr_name=_string_key(TRADING_TABLE, _BY_STATUS.partition_key))
    gsi1sk = UnicodeAttribute(range_key=True, attr_name=_string_key(TRADING_TABLE, _BY_STATUS.sort_key))


class _TradingTable(Model):
    pk = UnicodeAttribute(hash_key=True, attr_name=_string_key(TRADING_TABLE, TRADING_TABLE.partition_key))
    sk = UnicodeAttribute(range_key=True, attr_name=_string_key(TRADING_TABLE, TRADING_TABLE.sort_key))


class _EngineMinuteItem(_TradingTable):
    """Only the minute the session engine last handled, of the session store's engine item."""

    saved_at = UTCDateTimeAttribute(null=True)


class _SignalItem(_TradingTable):
    ts = UTCDateTimeAttribute()
    underlying = UnicodeAttribute()
    direction = UnicodeAttribute()
    strategy = UnicodeAttribute()
    confidence = NumberAttribute()
    rationale = UnicodeAttribute()
    target_delta = NumberAttribute(null=True)
    contract = UnicodeAttribute(null=True)


class _RiskItem(_TradingTable):
    ts = UTCDateTimeAttribute()
    approved = BooleanAttribute()
    trading_state = UnicodeAttribute()
    violations = JSONAttribute()
    quantity = NumberAttribute()


class _IntentItem(_TradingTable):
    order_id = UnicodeAttribute()


class _OrderItem(_TradingTable):
    gsi1pk = UnicodeAttribute(attr_name=_string_key(TRADING_TABLE, _BY_STATUS.partition_key))
    gsi1sk = UnicodeAttribute(attr_name=_string_key(TRADING_TABLE, _BY_STATUS.sort_key))
    by_status = _ByStatus["_OrderItem"]()
    intent_id = UnicodeAttribute()
    contract = UnicodeAttribute()
    side = UnicodeAttribute()
    quantity = NumberAttribute()
    order_type = UnicodeAttribute()
    limit_price = DecimalAttribute(null=True)
    status = UnicodeAttribute()
    filled_quantity = NumberAttribute()
    avg_fill_price = DecimalAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    reason = UnicodeAttribute(null=True)
    version = VersionAttribute()


class _FillItem(_TradingTable):
    intent_id = UnicodeAttribute()
    ts = UTCDateTimeAttribute()
    contract = UnicodeAttribute()
    side = UnicodeAttribute()
    quantity = NumberAttribute()
    price = DecimalAttribute()
    commission_usd = MoneyAttribute()


class _PositionItem(_TradingTable):
    gsi1pk = UnicodeAttribute(attr_name=_string_key(TRADING_TABLE, _BY_STATUS.partition_key))
    gsi1sk = UnicodeAttribute(attr_name=_string_key(TRADING_TABLE, _BY_STATUS.sort_key))
    by_status = _ByStatus["_PositionItem"]()
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


class _OpenBookItem(_TradingTable):
    """A position that is open or closing, by id: one partition the risk engine reads in full.
    A copy of the position, written in the same transactions as the position item."""

    position = JSONAttribute()


class _TradingKey(_TradingTable):
    """Any trading-table item, read for its key only (reset)."""


class _MarketTable(Model):
    pk = UnicodeAttribute(hash_key=True, attr_name=_string_key(MARKET_TABLE, MARKET_TABLE.partition_key))
    sk = UnicodeAttribute(range_key=True, attr_name=_string_key(MARKET_TABLE, MARKET_TABLE.sort_key))
    expires_at = TTLAttribute(attr_name=_ttl_name(MARKET_TABLE))


class _BarItem(_MarketTable):
    o = NumberAttribute()
    h = NumberAttribute()
    l = NumberAttribute()  # noqa: E741 - one letter per OHLCV field keeps the item small
    c = NumberAttribute()
    v = NumberAttribute()
    i = NumberAttribute()


class _ChainItem(_MarketTable):
    z = BinaryAttribute(legacy_encoding=False)


class _AuditItem(Model):
    """An audit record. Saves are always conditional on a new key; updates and deletes refuse."""

    pk = UnicodeAttribute(hash_key=True, attr_name=_string_key(AUDIT_TABLE, AUDIT_TABLE.partition_key))
    sk = UnicodeAttribute(range_key=True, attr_name=_string_key(AUDIT_TABLE, AUDIT_TABLE.sort_key))
    ts = UTCDateTimeAttribute()
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    reason = UnicodeAttribute()
    details = UnicodeAttribute()

    @classmethod
    def _new_key_only(cls, condition: Condition | None) -> Condition:
        new_key: Condition = cls.pk.does_not_exist() & cls.sk.does_not_exist()
        return new_key if condition is None else new_key & condition

    def save(
        self, condition: Condition | None = None, *, add_version_condition: bool = True
    ) -> dict[str, Any]:
        return super().save(self._new_key_only(condition), add_version_condition=add_version_condition)

    def get_save_kwargs_from_instance(
        self, condition: Condition | None = None, return_values_on_condition_failure: str | None = None
    ) -> dict[str, Any]:
        return super().get_save_kwargs_from_instance(
            self._new_key_only(condition), return_values_on_condition_failure
        )

    def update(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("audit records are append-only: no update")

    def delete(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("audit records are append-only: no delete")

    def get_update_kwargs_from_instance(self, *args: object, **kwargs: object) -> dict[str, Any]:
        raise TypeError("audit records are append-only: no update")

    def get_delete_kwargs_from_instance(self, *args: object, **kwargs: object) -> dict[str, Any]:
        raise TypeError("audit records are append-only: no delete")


def _get(model: type[_M], hash_key: str, range_key: str) -> _M | None:
    """A consistent read of one item, None when absent."""
    try:
        return model.get(hash_key, range_key, consistent_read=True)
    except model.DoesNotExist:
        return None


def _config_value(kind: type[_C], item: _ConfigItem | None) -> _C:
    """A settings or limits document as stored, the defaults when none is."""
    return kind() if item is None else kind.model_validate(item.value)


def _shared_connection(
    region: str, endpoint_url: str | None, tables: Sequence[TableSpec], prefix: str
) -> Connection:
    """One connection (one botocore client) for every table, its schemas taken from the specs.

    pynamodb otherwise opens a botocore session per model class, each loading the service
    models again: about 0.1 s apiece on a Lambda cold start.
    """
    connection = Connection(region=region, host=endpoint_url)
    for spec in tables:
        connection.add_meta_table(MetaTable(table_definition(spec, prefix)))
    return connection


def _bind(model: type[_M], table_name: str, connection: Connection) -> type[_M]:
    """A subclass of `model` on the physical table, using the shared connection."""
    meta = type("Meta", (), {"table_name": table_name, "region": connection.region, "host": connection.host})
    table = TableConnection(table_name, region=connection.region, host=connection.host)
    table.connection = connection
    namespace = {"Meta": meta, "_connection": table, "__module__": __name__}
    return cast(type[_M], MetaModel(model.__name__, (model,), namespace))


# --- transactions ----------------------------------------------------------------------------


class _Tx:
    """One TransactWriteItems; a refused condition comes back as the label of its item."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._deletes: list[tuple[str, Callable[[TransactWrite], None]]] = []
        self._puts: list[tuple[str, Callable[[TransactWrite], None]]] = []
        self._updates: list[tuple[str, Callable[[TransactWrite], None]]] = []

    def delete(self, label: str, item: Model) -> None:
        self._deletes.append((label, lambda tx: tx.delete(item)))

    def put(self, label: str, item: Model, condition: Condition | None = None) -> None:
        self._puts.append((label, lambda tx: tx.save(item, condition=condition)))

    def update(self, label: str, item: Model, actions: Sequence[Action]) -> None:
        self._updates.append((label, lambda tx: tx.update(item, list(actions))))

    def commit(self) -> frozenset[str]:
        """Write everything or nothing; returns the labels whose conditions failed (empty: written)."""
        ops = self._deletes + self._puts + self._updates  # pynamodb's order of sending
        try:
            with TransactWrite(connection=self._connection) as tx:
                for _, op in ops:
                    op(tx)
        except TransactWriteError as exc:
            codes = [reason.code if reason else None for reason in exc.cancellation_reasons]
            if _TRANSACTION_CONFLICT in codes:
                raise ConcurrentUpdate(
                    f"transaction on {', '.join(label for label, _ in ops)} collided with another writer"
                ) from exc
            failed = frozenset(
                label for (label, _), code in zip(ops, codes, strict=False) if code == _CONDITION_FAILED
            )
            if not failed:
                raise
            return failed
        return frozenset()


# --- the audit log ---------------------------------------------------------------------------


class DynamoAuditLog:
    """Append-only audit log: `append` and `list_day`; there is no path to change a record."""

    def __init__(self, model: type[_AuditItem], mode: TradingMode) -> None:
        self._model = model
        self._mode = mode

    def item(self, record: AuditRecord) -> _AuditItem:
        """The item for `record`, for callers that write it inside their own transaction."""
        if record.mode is not self._mode:
            raise ValueError(
                f"audit record mode={record.mode.value} does not match this log's {self._mode.value}"
            )
        return self._model(
            mode_key(self._mode, "audit", session_date_of(record.ts).isoformat()),
            f"{_utc_key(record.ts)}#{record.record_id}",
            ts=record.ts,
            actor=record.actor,
            action=record.action,
            reason=record.reason,
            details=record.details_json(),
        )

    def append(self, record: AuditRecord) -> None:
        item = self.item(record)
        try:
            item.save()
        except PutError as exc:
            if exc.cause_response_code == _CONDITION_FAILED + "Exception":
                raise AuditRecordExists(f"audit record {item.pk} / {item.sk} already exists") from exc
            raise

    def list_day(self, session_date: date) -> list[AuditRecord]:
        return [
            AuditRecord(
                ts=item.ts,
                mode=self._mode,
                actor=item.actor,
                action=item.action,
                reason=item.reason,
                details=json.loads(item.details),
            )
            for item in self._model.query(
                mode_key(self._mode, "audit", session_date.isoformat()), consistent_read=True
            )
        ]


# --- chain snapshot encoding -----------------------------------------------------------------


def encode_chain(snapshot: ChainSnapshot) -> bytes:
    """Compact, lossless: expiry, underlying price and one row per quote, JSON then zlib."""
    rows = [
        [q.contract.right.value, q.contract.strike_milli, q.bid, q.ask, q.bid_size, q.ask_size]
        for q in snapshot.quotes
    ]
    doc = {"e": snapshot.expiry.isoformat(), "p": snapshot.underlying_price, "q": rows}
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), level=6)


def decode_chain(underlying: Underlying, ts: datetime, blob: bytes) -> ChainSnapshot:
    doc = json.loads(zlib.decompress(blob))
    expiry = date.fromisoformat(doc["e"])
    quotes = tuple(
        OptionQuote(
            contract=OptionContract(
                root=underlying.value, expiry=expiry, right=OptionRight(right), strike=strike_milli / 1000
            ),
            bid=bid,
            ask=ask,
            bid_size=bid_size,
            ask_size=ask_size,
        )
        for right, strike_milli, bid, ask, bid_size, ask_size in doc["q"]
    )
    return ChainSnapshot(
        underlying=underlying, ts=ts, expiry=expiry, underlying_price=doc["p"], quotes=quotes
    )


# --- the state store -------------------------------------------------------------------------


class DynamoState:
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
        control = CONTROL_TABLE.physical_name(prefix)
        trading = TRADING_TABLE.physical_name(prefix)
        market = MARKET_TABLE.physical_name(prefix)
        audit = AUDIT_TABLE.physical_name(prefix)
        tables = (CONTROL_TABLE, TRADING_TABLE, MARKET_TABLE, AUDIT_TABLE)
        connection = _shared_connection(region, endpoint_url, tables, prefix)
        self._where = (prefix, region, endpoint_url, market_ttl)
        self._siblings: dict[TradingMode, DynamoState] = {mode: self}
        self._mode = mode
        self._market_ttl = market_ttl
        self._connection = connection
        self._config = _bind(_ConfigItem, control, connection)
        self._controls = _bind(_ControlsItem, control, connection)
        self._counters = _bind(_CountersItem, control, connection)
        self._gateway = _bind(_GatewayItem, control, connection)
        self._active_mode = _bind(_ActiveModeItem, control, connection)
        self._engine_minutes = _bind(_EngineMinuteItem, trading, connection)
        self._signals = _bind(_SignalItem, trading, connection)
        self._risk = _bind(_RiskItem, trading, connection)
        self._intents = _bind(_IntentItem, trading, connection)
        self._orders = _bind(_OrderItem, trading, connection)
        self._fills = _bind(_FillItem, trading, connection)
        self._positions = _bind(_PositionItem, trading, connection)
        self._trading_keys = _bind(_TradingKey, trading, connection)
        self._open_book = _bind(_OpenBookItem, trading, connection)
        self._open_book_pk = mode_key(mode, "open_positions")
        self._bars = _bind(_BarItem, market, connection)
        self._chains = _bind(_ChainItem, market, connection)
        audit_model = _bind(_AuditItem, audit, connection)
        self._audit_logs = {m: DynamoAuditLog(audit_model, m) for m in TradingMode}
        self._audit = self._audit_logs[mode]

    @property
    def mode(self) -> TradingMode:
        return self._mode

    @property
    def audit(self) -> DynamoAuditLog:
        return self._audit

    def for_mode(self, mode: TradingMode) -> DynamoState:
        """The store of `mode`'s records on the same tables (built once per mode)."""
        sibling = self._siblings.get(mode)
        if sibling is None:
            prefix, region, endpoint, ttl = self._where
            sibling = DynamoState(prefix, mode, region=region, endpoint_url=endpoint, market_ttl=ttl)
            sibling._siblings = self._siblings
            self._siblings[mode] = sibling
        return sibling

    def _key(self, *parts: str) -> str:
        return mode_key(self._mode, *parts)

    def _tx(self) -> _Tx:
        return _Tx(self._connection)

    def _audited(self, tx: _Tx, record: AuditRecord) -> None:
        tx.put("audit", self._audit.item(record))

    def _require_mode(self, what: str, mode: TradingMode) -> None:
        if mode is not self._mode:
            raise ValueError(f"{what}: mode={mode.value} but this store keeps {self._mode.value} records")

    # settings ---------------------------------------------------------------------------------

    def _read_config(self, sk: str, kind: type[_C]) -> Versioned[_C]:
        item = _get(self._config, self._key("control"), sk)
        return Versioned(_config_value(kind, item), 0 if item is None else int(item.version))

    def _write_config(self, sk: str, action: str, value: _C, actor: str, reason: str, at: datetime) -> None:
        """Replace the document if it is unchanged since read, so the audit's before is exact."""
        current = self._read_config(sk, type(value))
        item = self._config(self._key("control"), sk, value=value.to_wire(), updated_at=at, updated_by=actor)
        if current.version:
            item.version = current.version
        tx = self._tx()
        tx.put("config", item)
        details = {"before": current.value.to_wire(), "after": value.to_wire()}
        self._audited(tx, AuditRecord(at, self._mode, actor, action, reason, details))
        if "config" in tx.commit():
            raise ConcurrentUpdate(f"{sk} changed since version {current.version} was read; reload and retry")

    def get_settings(self) -> AutomationSettings:
        return self._read_config(_SETTINGS_SK, AutomationSettings).value

    def put_settings(self, settings: AutomationSettings, actor: str, reason: str, at: datetime) -> None:
        self._write_config(_SETTINGS_SK, "SettingsChanged", settings, actor, reason, at)

    def get_risk_limits(self) -> RiskLimits:
        return self._read_config(_RISK_LIMITS_SK, RiskLimits).value

    def put_risk_limits(self, limits: RiskLimits, actor: str, reason: str, at: datetime) -> None:
        self._write_config(_RISK_LIMITS_SK, "RiskLimitsChanged", limits, actor, reason, at)

    # controls ---------------------------------------------------------------------------------

    def get_control_state(self, session_date: date) -> ControlState:
        """Settings, risk limits, controls and the session's counters: one consistent BatchGetItem."""
        control, counters = self._key("control"), self._key("counters")
        table = self._config.Meta.table_name
        pk, sk = self._config.pk.attr_name, self._config.sk.attr_name
        keys = [(control, _SETTINGS_SK), (control, _RISK_LIMITS_SK), (control, _CONTROLS_SK)]
        keys.append((counters, session_date.isoformat()))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        wanted = [{pk: h, sk: r} for h, r in keys]
        while wanted:  # DynamoDB may leave keys unprocessed under load: ask again for those
            # pynamodb types the keys as strings but takes {attribute: value} maps
            page = self._connection.batch_get_item(table, wanted, consistent_read=True)  # type: ignore[arg-type]
            for raw in page.get("Responses", {}).get(table, []):
                found[(raw[pk]["S"], raw[sk]["S"])] = raw
            left = page.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            wanted = [{pk: key[pk]["S"], sk: key[sk]["S"]} for key in left]

        def item(key: tuple[str, str], model: type[_M]) -> _M | None:
            raw = found.get(key)
            return None if raw is None else model.from_raw_data(raw)

        return ControlState(
            settings=_config_value(AutomationSettings, item((control, _SETTINGS_SK), self._config)),
            risk_limits=_config_value(RiskLimits, item((control, _RISK_LIMITS_SK), self._config)),
            controls=self._to_controls(item((control, _CONTROLS_SK), self._controls)),
            counters=self._to_counters(session_date, item(keys[-1], self._counters)),
        )

    def get_controls(self) -> TradingControls:
        return self._to_controls(_get(self._controls, self._key("control"), _CONTROLS_SK))

    def _to_controls(self, item: _ControlsItem | None) -> TradingControls:
        if item is None:
            return TradingControls()

        def change(actor: str | None, reason: str | None, at: datetime | None) -> ControlChange | None:
            return None if actor is None or at is None else ControlChange(actor, reason or "", at)

        return TradingControls(
            emergency_stop=bool(item.emergency_stop),
            paused=bool(item.paused),
            trading_state=TradingState(item.trading_state) if item.trading_state else TradingState.ACTIVE,
            state_reason=item.state_reason or "never set",
            emergency_stop_change=change(item.stop_actor, item.stop_reason, item.stop_at),
            pause_change=change(item.pause_actor, item.pause_reason, item.pause_at),
            state_change=change(item.state_actor, item.state_reason, item.state_at),
            close_requests=frozenset(item.close_requests or ()),
        )

    def risk_controls(self) -> Controls:
        return self.get_controls().risk_controls(self.get_settings())

    def last_engine_minute(self, session_date: date) -> datetime | None:
        """The minute end the session's engine last handled (the trading cycle's progress)."""
        try:
            item = self._engine_minutes.get(
                self._key("engine", session_date.isoformat()), "state", attributes_to_get=["saved_at"]
            )
        except self._engine_minutes.DoesNotExist:
            return None
        return item.saved_at

    # the gateway's heartbeat ------------------------------------------------------------------

    def put_gateway_status(self, status: GatewayStatus) -> None:
        """Overwrite the heartbeat (not audited: it is written every half minute)."""
        account = status.account
        self._gateway(
            self._key("control"),
            _GATEWAY_SK,
            heartbeat_at=status.heartbeat_at,
            connected=status.connected,
            port=status.port,
            account=None
            if account is None
            else {
                "account_id": account.account_id,
                "net_liquidation_usd": str(account.net_liquidation_usd),
                "options_permission": account.options_permission,
                "options_permission_detail": account.options_permission_detail,
            },
            detail=status.detail[:2000],
        ).save()

    def get_gateway_status(self) -> GatewayStatus | None:
        item = _get(self._gateway, self._key("control"), _GATEWAY_SK)
        if item is None:
            return None
        a = item.account
        return GatewayStatus(
            heartbeat_at=item.heartbeat_at,
            connected=bool(item.connected),
            port=int(item.port),
            account=None
            if a is None
            else BrokerAccount(
                account_id=str(a["account_id"]),
                net_liquidation_usd=Decimal(str(a["net_liquidation_usd"])),
                options_permission=bool(a["options_permission"]),
                options_permission_detail=str(a.get("options_permission_detail", "")),
            ),
            detail=item.detail or "",
        )

    # the active mode ------------------------------------------------------------------------

    def get_active_mode(self) -> ActiveMode:
        """Which mode's records the system trades; paper until someone switches."""
        item = _get(self._active_mode, _SYSTEM_PK, _ACTIVE_MODE_SK)
        if item is None:
            return ActiveMode(TradingMode.PAPER, None)
        return ActiveMode(
            TradingMode(item.mode), ControlChange(item.changed_by, item.reason, item.changed_at)
        )

    def switch_active_mode(
        self, to: TradingMode, actor: str, reason: str, at: datetime, details: Mapping[str, object]
    ) -> ActiveMode:
        """Set the active mode if nobody changed it since read, audited in both modes' logs in the
        same transaction; switching to the mode already active raises ConcurrentUpdate."""
        current = _get(self._active_mode, _SYSTEM_PK, _ACTIVE_MODE_SK)
        before = TradingMode.PAPER if current is None else TradingMode(current.mode)
        if before is to:
            raise ConcurrentUpdate(f"the active mode is already {to.value}")
        item = self._active_mode(
            _SYSTEM_PK, _ACTIVE_MODE_SK, mode=to.value, changed_by=actor, reason=reason, changed_at=at
        )
        if current is not None:
            item.version = current.version
        tx = self._tx()
        tx.put("active_mode", item)
        body = {**details, "from": before.value, "to": to.value}
        for mode in TradingMode:
            record = AuditRecord(at, mode, actor, "TradingModeChanged", reason, body)
            tx.put(f"audit_{mode.value}", self._audit_logs[mode].item(record))
        if tx.commit():
            raise ConcurrentUpdate("the active mode changed since it was read; reload and retry")
        return ActiveMode(to, ControlChange(actor, reason, at))

    def _change_controls(self, actions: Sequence[Action], record: AuditRecord) -> TradingControls:
        tx = self._tx()
        tx.update("controls", self._controls(self._key("control"), _CONTROLS_SK), actions)
        self._audited(tx, record)
        tx.commit()  # a refused audit key means this exact action was already applied
        return self.get_controls()

    def _state_actions(self, state: TradingState, actor: str, reason: str, at: datetime) -> list[Action]:
        c = self._controls
        return [
            c.trading_state.set(state.value),
            c.state_reason.set(reason),
            c.state_actor.set(actor),
            c.state_at.set(at),
        ]

    def _stop_actions(self, active: bool, actor: str, reason: str, at: datetime) -> list[Action]:
        c = self._controls
        return [
            c.emergency_stop.set(active),
            c.stop_actor.set(actor),
            c.stop_reason.set(reason),
            c.stop_at.set(at),
        ]

    def _pause_actions(self, paused: bool, actor: str, reason: str, at: datetime) -> list[Action]:
        c = self._controls
        return [
            c.paused.set(paused),
            c.pause_actor.set(actor),
            c.pause_reason.set(reason),
            c.pause_at.set(at),
        ]

    def activate_emergency_stop(self, actor: str, reason: str, at: datetime) -> TradingControls:
        """Stop everything now: the flag, who/why/when, and the state HALTED, audited together."""
        event = EmergencyStopActivated(ts=at, mode=self._mode, actor=actor, reason=reason)
        actions = [
            *self._stop_actions(True, actor, reason, at),
            *self._state_actions(TradingState.HALTED, actor, f"emergency stop: {reason}", at),
        ]
        return self._change_controls(actions, AuditRecord.of_event(event, reason))

    def request_close(self, position_id: str, actor: str, reason: str, at: datetime) -> TradingControls:
        """Add the position to the close requests the engine reads each minute; refused (RecordNotFound,
        DomainError) unless the position exists and is still open."""
        position = self._require_position(position_id).value
        if position.status is PositionStatus.CLOSED:
            raise DomainError(f"position {position_id} is already closed")
        details = {"position_id": position_id, "contract": position.contract.occ_symbol}
        record = AuditRecord(at, self._mode, actor, "PositionCloseRequested", reason, details)
        return self._change_controls([self._controls.close_requests.add({position_id})], record)

    def clear_emergency_stop(self, actor: str, reason: str, at: datetime) -> TradingControls:
        event = EmergencyStopCleared(ts=at, mode=self._mode, actor=actor, reason=reason)
        actions = self._stop_actions(False, actor, reason, at)
        return self._change_controls(actions, AuditRecord.of_event(event, reason))

    def pause(self, actor: str, reason: str, at: datetime) -> TradingControls:
        event = TradingPaused(ts=at, mode=self._mode, actor=actor, reason=reason)
        actions = self._pause_actions(True, actor, reason, at)
        return self._change_controls(actions, AuditRecord.of_event(event, reason))

    def resume(self, actor: str, reason: str, at: datetime) -> TradingControls:
        event = TradingResumed(ts=at, mode=self._mode, actor=actor, reason=reason)
        actions = self._pause_actions(False, actor, reason, at)
        return self._change_controls(actions, AuditRecord.of_event(event, reason))

    def set_trading_state(
        self, state: TradingState, actor: str, reason: str, at: datetime
    ) -> TradingControls:
        event = TradingStateChanged(ts=at, mode=self._mode, actor=actor, state=state, reason=reason)
        return self._change_controls(
            self._state_actions(state, actor, reason, at), AuditRecord.of_event(event, reason)
        )

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

    def _to_signal(self, item: _SignalItem) -> Signal:
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
        item = _get(self._signals, self._key("signals", session_date.isoformat()), sk)
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
            page = self._connection.query(
                table,
                self._key("signals", session_date.isoformat()),
                consistent_read=True,
                exclusive_start_key=start,
            )
            for raw in page.get("Items", []):
                if raw[self._signals.sk.attr_name]["S"].startswith(_RISK_SK_PREFIX):
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
            _RISK_SK_PREFIX + decision.signal_id,
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

    def _to_risk_decision(self, item: _RiskItem) -> RiskDecision:
        verdict = RiskVerdict(
            approved=item.approved,
            trading_state=TradingState(item.trading_state),
            violations=tuple(_parse_violation(str(text)) for text in item.violations),
        )
        signal_id = item.sk.removeprefix(_RISK_SK_PREFIX)
        return RiskDecision(signal_id=signal_id, ts=item.ts, verdict=verdict, quantity=int(item.quantity))

    def get_risk_decision(self, session_date: date, signal_id: str) -> RiskDecision | None:
        sk = _RISK_SK_PREFIX + signal_id
        item = _get(self._risk, self._key("signals", session_date.isoformat()), sk)
        return None if item is None else self._to_risk_decision(item)

    def list_risk_decisions(self, session_date: date) -> list[RiskDecision]:
        items = self._risk.query(
            self._key("signals", session_date.isoformat()),
            self._risk.sk.startswith(_RISK_SK_PREFIX),
            consistent_read=True,
        )
        return sorted((self._to_risk_decision(i) for i in items), key=lambda d: (d.ts, d.signal_id))

    # orders and fills -------------------------------------------------------------------------

    def _order_item(self, order: Order, version: int | None) -> _OrderItem:
        item = self._orders(
            self._key("order", order.order_id),
            _ORDER_SK,
            gsi1pk=self._key("orders", order.status.value),
            gsi1sk=f"{_utc_key(order.created_at)}#{order.order_id}",
            intent_id=order.intent_id,
            contract=order.contract.occ_symbol,
            side=order.side.value,
            quantity=order.quantity,
            order_type=order.order_type.value,
            limit_price=order.limit_price,
            status=order.status.value,
            filled_quantity=order.filled_quantity,
            avg_fill_price=order.avg_fill_price,
            created_at=order.created_at,
            updated_at=order.updated_at,
            reason=order.reason or None,
        )
        if version is not None:
            item.version = version
        return item

    def _to_order(self, item: _OrderItem) -> Versioned[Order]:
        order = Order(
            order_id=item.pk.removeprefix(self._key("order", "")),
            intent_id=item.intent_id,
            mode=self._mode,
            contract=OptionContract.from_occ(item.contract),
            side=Side(item.side),
            quantity=int(item.quantity),
            order_type=OrderType(item.order_type),
            limit_price=item.limit_price,
            status=OrderStatus(item.status),
            filled_quantity=int(item.filled_quantity),
            avg_fill_price=item.avg_fill_price,
            created_at=item.created_at,
            updated_at=item.updated_at,
            reason=item.reason or "",
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
        item = _get(self._orders, self._key("order", order_id), _ORDER_SK)
        return None if item is None else self._to_order(item)

    def _require_order(self, order_id: str) -> Versioned[Order]:
        found = self.get_order(order_id)
        if found is None:
            raise RecordNotFound(f"order {order_id} does not exist in {self._mode.value}")
        return found

    def get_order_by_intent(self, intent_id: str) -> Versioned[Order] | None:
        guard = _get(self._intents, self._key("intent", intent_id), _INTENT_SK)
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

    def _fill_exists(self, fill: Fill) -> bool:
        key = (self._key("order", fill.order_id), _FILL_SK_PREFIX + fill.fill_id)
        return _get(self._fills, *key) is not None

    def record_fill(self, fill: Fill, actor: str) -> Versioned[Order]:
        """Store the fill and apply it to its order in one transaction, once per fill id.

        A fill that does not fit its order raises DomainError and writes nothing. Losing the
        order's lock to a concurrent fill reloads and retries, FILL_ATTEMPTS times in all.
        """
        for _ in range(FILL_ATTEMPTS):
            current = self._require_order(fill.order_id)
            if self._fill_exists(fill):
                return current
            updated = current.value.apply_fill(fill)
            item = self._fills(
                self._key("order", fill.order_id),
                _FILL_SK_PREFIX + fill.fill_id,
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
            self._fills.sk.startswith(_FILL_SK_PREFIX),
            consistent_read=True,
        )
        fills = [
            Fill(
                fill_id=i.sk.removeprefix(_FILL_SK_PREFIX),
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

    # positions and counters -------------------------------------------------------------------

    def _position_item(
        self, position: Position, version: int | None, pnl_usd: Decimal | None
    ) -> _PositionItem:
        item = self._positions(
            self._key("position", position.position_id),
            _POSITION_SK,
            gsi1pk=self._key("positions", position.status.value),
            gsi1sk=f"{_utc_key(position.opened_at)}#{position.position_id}",
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

    def _book_entry(self, position: Position) -> _OpenBookItem:
        return self._open_book(
            self._open_book_pk, position.position_id, position=position.model_dump(mode="json")
        )

    def _to_position(self, item: _PositionItem) -> Versioned[Position]:
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

    def _counter_update(
        self, tx: _Tx, session_date: date, actions: Callable[[type[_CountersItem]], list[Action]]
    ) -> None:
        tx.update(
            "counters",
            self._counters(self._key("counters"), session_date.isoformat()),
            actions(self._counters),
        )

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
        self._counter_update(tx, session_date_of(position.opened_at), lambda c: [c.trades.add(1)])
        self._audited(tx, AuditRecord.of_event(event, reason))
        if tx.commit():
            existing = self.get_position(position.position_id)
            if existing is None:
                raise ConcurrentUpdate(f"position {position.position_id}: create refused but nothing stored")
            return existing
        return Versioned(position, 1)

    def get_position(self, position_id: str) -> Versioned[Position] | None:
        item = _get(self._positions, self._key("position", position_id), _POSITION_SK)
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
        since = None if opened_since is None else self._positions.gsi1sk >= _utc_key(opened_since)
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
        """Close once. The same transaction books the net P&L (in cents) on the close date and,
        when the position opened that same session, one day trade. Closing a CLOSED position
        returns it and books nothing."""
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
        tx = self._tx()
        tx.put("position", self._position_item(closed, current.version, pnl_usd))
        tx.delete("open book", self._open_book(self._open_book_pk, position_id))
        self._counter_update(
            tx,
            session_date_of(closed_at),
            lambda c: [c.day_trades.add(day_trades), c.realized_pnl_usd.add(pnl_usd)],
        )
        self._audited(tx, AuditRecord.of_event(event, exit_reason, details))
        if tx.commit():
            latest = self._require_position(position_id)
            if latest.value.status is PositionStatus.CLOSED:
                return latest
            raise ConcurrentUpdate(f"position {position_id}: version {current.version} is no longer current")
        return Versioned(closed, current.version + 1)

    def _to_counters(self, session_date: date, item: _CountersItem | None) -> DailyCounters:
        if item is None:
            return DailyCounters(session_date)
        return DailyCounters(
            session_date=session_date,
            day_trades=int(item.day_trades or 0),
            trades=int(item.trades or 0),
            realized_pnl_usd=cents(item.realized_pnl_usd or Decimal(0)),
        )

    def get_counters(self, session_date: date) -> DailyCounters:
        item = _get(self._counters, self._key("counters"), session_date.isoformat())
        return self._to_counters(session_date, item)

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
        return self._to_counters(session_date, item)

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

    # reset ------------------------------------------------------------------------------------

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
        self._audit.append(AuditRecord(at, self._mode, actor, "reset", reason, {"scope": scope}))
        deleted: dict[str, int] = {}
        kinds = [kind for s in scopes for kind in _RESET_PARTITIONS[s]]
        if kinds:
            keys = self._trading_keys
            prefixes = (keys.pk.startswith(self._key(kind) + "#") for kind in kinds)
            condition = functools.reduce(operator.or_, prefixes)
            with keys.batch_write() as batch:
                for item in keys.scan(condition):
                    kind = _RESET_COUNTED_AS[item.pk.split("#", 2)[1]]
                    if kind == "orders" and item.sk.startswith(_FILL_SK_PREFIX):
                        kind = "fills"
                    elif kind == "signals" and item.sk.startswith(_RISK_SK_PREFIX):
                        kind = "riskDecisions"
                    deleted[kind] = deleted.get(kind, 0) + 1
                    batch.delete(item)
        if _RESETS_COUNTERS.intersection(scopes):
            with self._counters.batch_write() as batch:
                for counters in self._counters.query(self._key("counters"), consistent_read=True):
                    deleted["dailyCounters"] = deleted.get("dailyCounters", 0) + 1
                    batch.delete(counters)
        details = {"scope": scope, "deleted": deleted}
        self._audit.append(AuditRecord(at, self._mode, actor, "reset_completed", reason, details))
        return deleted

    # market data ------------------------------------------------------------------------------

    def put_bar(self, bar: Bar) -> None:
        """One item per symbol and minute; writing the same bar again leaves the same item."""
        self._bars(
            self._key("bar", bar.symbol, session_date_of(bar.ts).isoformat()),
            _utc_key(bar.ts),
            expires_at=bar.ts + self._market_ttl,
            o=bar.open,
            h=bar.high,
            l=bar.low,
            c=bar.close,
            v=bar.volume,
            i=bar.interval_s,
        ).save()

    def list_bars(self, symbol: str, session_date: date, latest_only: bool = False) -> list[Bar]:
        """The session's bars of `symbol`, oldest first; `latest_only`: just the newest (one read)."""
        items = self._bars.query(
            self._key("bar", symbol, session_date.isoformat()),
            consistent_read=True,
            scan_index_forward=not latest_only,
            limit=1 if latest_only else None,
        )
        return [
            Bar(
                symbol=symbol,
                ts=datetime.strptime(i.sk, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
                interval_s=int(i.i),
                open=i.o,
                high=i.h,
                low=i.l,
                close=i.c,
                volume=int(i.v),
            )
            for i in items
        ]

    def put_chain_snapshot(self, snapshot: ChainSnapshot) -> None:
        """One compressed item per underlying and instant; too big for an item raises, writing nothing."""
        blob = encode_chain(snapshot)
        pk = self._key("chain", snapshot.underlying.value, session_date_of(snapshot.ts).isoformat())
        sk = _utc_key(snapshot.ts)
        size_bytes = len(blob) + len(pk) + len(sk) + 64  # attribute names, TTL number, overhead
        if size_bytes > MAX_ITEM_BYTES:
            raise ValueError(
                f"chain snapshot {snapshot.underlying.value} at {snapshot.ts.isoformat()}: "
                f"{size_bytes} bytes compressed exceeds the DynamoDB item limit of {MAX_ITEM_BYTES} bytes"
            )
        self._chains(pk, sk, expires_at=snapshot.ts + self._market_ttl, z=blob).save()

    def list_chain_snapshots(self, underlying: Underlying, at_or_before: datetime) -> list[ChainSnapshot]:
        """Every snapshot of `at_or_before`'s session taken at or before it, oldest first."""
        items = self._chains.query(
            self._key("chain", underlying.value, session_date_of(at_or_before).isoformat()),
            self._chains.sk <= _utc_key(at_or_before),
            consistent_read=True,
        )
        return [
            decode_chain(
                underlying, datetime.strptime(i.sk, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC), i.z
            )
            for i in items
        ]

    def latest_chain_snapshot(self, underlying: Underlying, at_or_before: datetime) -> ChainSnapshot | None:
        """The last snapshot of `at_or_before`'s session taken at or before it."""
        items = self._chains.query(
            self._key("chain", underlying.value, session_date_of(at_or_before).isoformat()),
            self._chains.sk <= _utc_key(at_or_before),
            scan_index_forward=False,
            limit=1,
            consistent_read=True,
        )
        for item in items:
            ts = datetime.strptime(item.sk, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            return decode_chain(underlying, ts, item.z)
        return None
