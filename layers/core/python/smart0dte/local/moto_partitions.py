"""Partition reads for moto's DynamoDB: a Query reads the queried partition, as DynamoDB does.

moto 5 answers every Query by sorting every item of the table (``Table.all_items``: N log N
comparisons of DynamoType tuples) and then keeping the items of the queried partition, so a
local query costs more with every day of history while DynamoDB's cost depends only on what
it returns. `install` wraps ``Table.query`` so that, inside one query, ``all_items`` yields only
the items whose key attributes equal the query's partition-key values (the base table's key, or
every hash-key condition of an index query), in moto's own order. The rest (sort-key conditions,
filters, limits, pagination, projections, errors) is moto's unchanged code, so results are
identical; `tests/integration/local/test_moto_partitions.py` compares them with the original.

Installing is process-wide and idempotent; it changes nothing but speed, so it stays installed.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_REQUIRED_PARAMETERS = ("hash_key", "index_name", "hash_key_conditions")


def _same_key_value(value: Any, wanted: Any) -> bool:
    """DynamoType equality, short-cut for strings and binaries (the usual key types)."""
    if value is None:
        return False
    if value.type == wanted.type and value.type in ("S", "B"):
        return bool(value.value == wanted.value)
    return bool(value == wanted)


class _PartitionView:
    """The table as one query sees it: only the items of the queried partition."""

    def __init__(self, table: Any, keep: Callable[[Any], bool] | None, partition: Any) -> None:
        self._table = table
        self._keep = keep
        self._partition = partition

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Any]:
        table = self._table
        if self._keep is None:  # base table: one hash key
            found = table.items.get(self._partition)
            if found is None:
                return []
            items = list(found.values()) if table.range_key_attr else [found]
        else:
            items = [
                item
                for bucket in table.items.values()
                for item in (bucket.values() if table.range_key_attr else (bucket,))
                if self._keep(item)
            ]
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


def _partition_query(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        index_name = bound.arguments.get("index_name")
        if index_name:
            conditions = list(bound.arguments.get("hash_key_conditions") or ())
            if not conditions:
                return original(self, *args, **kwargs)

            def keep(item: Any) -> bool:
                return all(_same_key_value(item.attrs.get(name), value) for name, value in conditions)

            view = _PartitionView(self, keep, None)
        else:
            hash_key = bound.arguments.get("hash_key")
            if hash_key is None:
                return original(self, *args, **kwargs)
            view = _PartitionView(self, None, hash_key)
        return original(view, *args, **kwargs)

    query.__smart0dte_partition_query__ = original  # type: ignore[attr-defined]
    return query


def original_query() -> Callable[..., Any]:
    """moto's own ``Table.query`` (whether or not `install` has wrapped it)."""
    from moto.dynamodb.models.table import Table

    return getattr(Table.query, "__smart0dte_partition_query__", Table.query)


def install() -> None:
    """Wrap moto's ``Table.query`` (once per process).

    Raises RuntimeError if this moto's ``Table.query`` lacks a parameter the wrapper reads, so
    a moto upgrade that changes it is noticed rather than silently mis-served.
    """
    from moto.dynamodb.models.table import Table

    with _lock:
        if hasattr(Table.query, "__smart0dte_partition_query__"):
            return
        parameters = inspect.signature(Table.query).parameters
        missing = [p for p in _REQUIRED_PARAMETERS if p not in parameters]
        if missing or not hasattr(Table, "all_items"):
            raise RuntimeError(
                f"moto's dynamodb Table.query changed (missing {missing or ['Table.all_items']}): "
                "smart0dte.local.moto_partitions needs updating for this moto version"
            )
        Table.query = _partition_query(Table.query)  # type: ignore[method-assign]
