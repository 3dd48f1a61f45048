"""Transactions for moto's DynamoDB that back up the items they write, not whole tables.

moto 5 starts every TransactWriteItems with a deep copy of each table it touches, to put back if
the transaction is cancelled, so each write costs more with every item already stored (a year
of trades could not be seeded in 25 minutes). `install` makes that copy return the table
itself and wraps ``transact_write_items`` to deep-copy only the items the transaction names
(by key) and put those back, in reverse order, when it raises. DynamoDB writes nothing of a
cancelled transaction either way; `tests/integration/local/test_moto_transactions.py` compares
what a cancelled transaction leaves with moto's own.

Installing is process-wide and idempotent; it changes nothing but speed.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_Saved = tuple[Any, Any, Any, Any]
"""(table, hash key, range key or None, a deep copy of the item before, or None)."""


class _TablesAsIs:
    """moto's `copy` module as its DynamoDB backend sees it: a Table deep-copies to itself."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, self._table_type) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _saved_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[_Saved]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    saved: list[_Saved] = []
    for entry in transact_items:
        for op in entry.values():
            table = backend.tables.get(op.get("TableName"))
            key = op.get("Key") or op.get("Item")
            if table is None or key is None or table.hash_key_attr not in key:
                continue  # moto refuses it before writing anything
            hash_key = DynamoType(key[table.hash_key_attr])
            range_raw = key.get(table.range_key_attr) if table.range_key_attr else None
            range_key = None if range_raw is None else DynamoType(range_raw)
            if table.has_range_key != (range_key is not None):
                continue  # moto refuses a key without the table's range key, or with one too many
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return saved


def _restore(saved: list[_Saved]) -> None:
    for table, hash_key, range_key, item in reversed(saved):
        if item is None:
            if range_key is None:
                table.items.pop(hash_key, None)
            elif hash_key in table.items:
                table.items[hash_key].pop(range_key, None)
        elif range_key is None:
            table.items[hash_key] = item
        else:
            table.items[hash_key][range_key] = item


def _item_backups(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        saved = _saved_items(self, transact_items)
        try:
            return original(self, transact_items)
        except BaseException:
            _restore(saved)
            raise

    transact_write_items.__smart0dte_item_backups__ = original  # type: ignore[attr-defined]
    return transact_write_items


def install() -> None:
    """Back up items instead of tables in moto's transactions (once per process).

    Raises RuntimeError if this moto's backend no longer deep-copies through its module's `copy`
    or lacks ``transact_write_items``, so a moto upgrade that changes them is noticed.
    """
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    with _lock:
        backend = models.DynamoDBBackend
        if hasattr(backend.transact_write_items, "__smart0dte_item_backups__"):
            return
        if getattr(models, "copy", None) is not copy:
            raise RuntimeError(
                "moto's dynamodb models no longer import `copy`: "
                "smart0dte.local.moto_transactions needs updating for this moto version"
            )
        setattr(models, "copy", _TablesAsIs(Table))  # noqa: B010  (moto's module does not export it)
        backend.transact_write_items = _item_backups(backend.transact_write_items)  # type: ignore[method-assign]
