"""What every DynamoDB store of this package shares: the tables' base models and attributes, key
helpers, one connection for every table, the models bound to the physical tables, the transaction
helper and the base of every aggregate's store.

Table names, key attributes and the TTL attribute come from `resources`; models are bound to
physical tables when a store is built, so importing this module touches no AWS. Dates in keys are
New York session dates; instants in sort keys are fixed-width UTC, so they sort by time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar, Final, TypeVar, cast

from pynamodb.attributes import Attribute, TTLAttribute, UnicodeAttribute
from pynamodb.connection import Connection, TableConnection
from pynamodb.connection.base import MetaTable
from pynamodb.constants import NUMBER
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import MetaModel, Model
from pynamodb.transactions import TransactWrite

from smart0dte.adapters.aws.provisioning import table_definition
from smart0dte.domain.models import TradingMode
from smart0dte.domain.portfolio import cents
from smart0dte.ports import ConcurrentUpdate
from smart0dte.resources import CONTROL_TABLE, MARKET_TABLE, TRADING_TABLE, Key, KeyType, TableSpec, mode_key

MAX_ITEM_BYTES: Final = 400 * 1024
"""DynamoDB's item size limit (names and values)."""
CONDITION_FAILED: Final = "ConditionalCheckFailed"
"""The cancellation reason of an item whose condition failed in a transaction."""
UTC_KEY_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
_TRANSACTION_CONFLICT = "TransactionConflict"

M = TypeVar("M", bound="TableModel")


# --- attributes and keys from resources ----------------------------------------------------


def string_key(table: TableSpec, key: Key | None) -> str:
    """The name of a string key attribute of `table` (this adapter writes only S keys)."""
    if key is None:
        raise TypeError(f"table {table.logical_name} has no sort key; this adapter needs one")
    if key.type is not KeyType.STRING:
        raise TypeError(f"table {table.logical_name}: key {key.name} is {key.type}; this adapter writes S")
    return key.name


def _ttl_name(table: TableSpec) -> str:
    if table.ttl_attribute is None:
        raise TypeError(f"table {table.logical_name} has no TTL attribute")
    return table.ttl_attribute


def utc_key(ts: datetime) -> str:
    """A fixed-width UTC instant for sort keys: lexical order is time order."""
    return ts.astimezone(UTC).strftime(UTC_KEY_FORMAT)


def parse_utc_key(sk: str) -> datetime:
    """Inverse of `utc_key`."""
    return datetime.strptime(sk, UTC_KEY_FORMAT).replace(tzinfo=UTC)


def condition_failed(exc: PutError) -> bool:
    """True when a single conditional write was refused by its condition."""
    return exc.cause_response_code == CONDITION_FAILED + "Exception"


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


# --- models (unbound: `Tables.model` gives each store subclasses with table names) ---------


class TableModel(Model):
    """An item of one of the stack's tables, named by its spec."""

    table_spec: ClassVar[TableSpec]


class ControlTable(TableModel):
    table_spec = CONTROL_TABLE
    pk = UnicodeAttribute(hash_key=True, attr_name=string_key(CONTROL_TABLE, CONTROL_TABLE.partition_key))
    sk = UnicodeAttribute(range_key=True, attr_name=string_key(CONTROL_TABLE, CONTROL_TABLE.sort_key))


class TradingTable(TableModel):
    table_spec = TRADING_TABLE
    pk = UnicodeAttribute(hash_key=True, attr_name=string_key(TRADING_TABLE, TRADING_TABLE.partition_key))
    sk = UnicodeAttribute(range_key=True, attr_name=string_key(TRADING_TABLE, TRADING_TABLE.sort_key))


class MarketTable(TableModel):
    table_spec = MARKET_TABLE
    pk = UnicodeAttribute(hash_key=True, attr_name=string_key(MARKET_TABLE, MARKET_TABLE.partition_key))
    sk = UnicodeAttribute(range_key=True, attr_name=string_key(MARKET_TABLE, MARKET_TABLE.sort_key))
    expires_at = TTLAttribute(attr_name=_ttl_name(MARKET_TABLE))


def get_item(model: type[M], hash_key: str, range_key: str) -> M | None:
    """A consistent read of one item, None when absent."""
    try:
        return model.get(hash_key, range_key, consistent_read=True)
    except model.DoesNotExist:
        return None


# --- the tables, bound ---------------------------------------------------------------------


class Tables:
    """One connection (one botocore client) for the stack's tables, and each model bound to its
    physical table once.

    pynamodb otherwise opens a botocore session per model class, each loading the service
    models again: about 0.1 s apiece on a Lambda cold start.
    """

    def __init__(
        self, prefix: str, *, region: str, endpoint_url: str | None, specs: Sequence[TableSpec]
    ) -> None:
        connection = Connection(region=region, host=endpoint_url)
        for spec in specs:
            connection.add_meta_table(MetaTable(table_definition(spec, prefix)))
        self.prefix = prefix
        self.connection = connection
        self._bound: dict[type[TableModel], type[TableModel]] = {}

    def model(self, model: type[M]) -> type[M]:
        """A subclass of `model` on its physical table, using the shared connection."""
        bound = self._bound.get(model)
        if bound is None:
            table_name = model.table_spec.physical_name(self.prefix)
            connection = self.connection
            meta = type(
                "Meta", (), {"table_name": table_name, "region": connection.region, "host": connection.host}
            )
            table = TableConnection(table_name, region=connection.region, host=connection.host)
            table.connection = connection
            namespace = {"Meta": meta, "_connection": table, "__module__": __name__}
            bound = cast(type[TableModel], MetaModel(model.__name__, (model,), namespace))
            self._bound[model] = bound
        return cast(type[M], bound)


# --- transactions ----------------------------------------------------------------------------


class Tx:
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

    def update(
        self, label: str, item: Model, actions: Sequence[Action], condition: Condition | None = None
    ) -> None:
        self._updates.append((label, lambda tx: tx.update(item, list(actions), condition=condition)))

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
                label for (label, _), code in zip(ops, codes, strict=False) if code == CONDITION_FAILED
            )
            if not failed:
                raise
            return failed
        return frozenset()


# --- the base of every aggregate's store ---------------------------------------------------


class ModeStore:
    """One trading mode's records on the bound tables: every key opens with that mode.

    Each aggregate's store subclasses it and binds its models in `__init__(tables, mode)`, calling
    `super().__init__` first, so a store composed of several aggregates binds each model once and
    writes across aggregates in one `Tx`.
    """

    def __init__(self, tables: Tables, mode: TradingMode) -> None:
        self._tables = tables
        self._mode = mode

    @property
    def mode(self) -> TradingMode:
        return self._mode

    def _key(self, *parts: str) -> str:
        return mode_key(self._mode, *parts)

    def _tx(self) -> Tx:
        return Tx(self._tables.connection)

    def _require_mode(self, what: str, mode: TradingMode) -> None:
        if mode is not self._mode:
            raise ValueError(f"{what}: mode={mode.value} but this store keeps {self._mode.value} records")
