"""The append-only audit log on DynamoDB, and the audit aggregate every audited store builds on.

    audit    pk=<mode>#audit#<date>            sk=<ts>#<record id>   written_ns

Records of one instant sort by their content's hash in the key; `written_ns` (the wall clock when
the item was built, so the order of the writes) puts them back in the order they happened.

Every change that is a decision or a manual action goes in one TransactWriteItems with its
audit record (`DynamoAudit._audited`).
"""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError
from pynamodb.expressions.condition import Condition

from smart0dte.adapters.aws.dynamodb.tables import (
    ModeStore,
    TableModel,
    Tables,
    Tx,
    condition_failed,
    string_key,
    utc_key,
)
from smart0dte.domain.models import TradingMode
from smart0dte.ports import AuditRecord, AuditRecordExists, session_date_of
from smart0dte.resources import AUDIT_TABLE, mode_key


class AuditItem(TableModel):
    """An audit record. Saves are always conditional on a new key; updates and deletes refuse."""

    table_spec = AUDIT_TABLE
    pk = UnicodeAttribute(hash_key=True, attr_name=string_key(AUDIT_TABLE, AUDIT_TABLE.partition_key))
    sk = UnicodeAttribute(range_key=True, attr_name=string_key(AUDIT_TABLE, AUDIT_TABLE.sort_key))
    ts = UTCDateTimeAttribute()
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    reason = UnicodeAttribute()
    details = UnicodeAttribute()
    written_ns = NumberAttribute(null=True)
    """When the item was built (wall clock, ns): the order of records of one instant."""

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


class DynamoAuditLog:
    """Append-only audit log: `append` and `list_day`; there is no path to change a record."""

    def __init__(self, model: type[AuditItem], mode: TradingMode) -> None:
        self._model = model
        self._mode = mode

    def item(self, record: AuditRecord) -> AuditItem:
        """The item for `record`, for callers that write it inside their own transaction."""
        if record.mode is not self._mode:
            raise ValueError(
                f"audit record mode={record.mode.value} does not match this log's {self._mode.value}"
            )
        return self._model(
            mode_key(self._mode, "audit", session_date_of(record.ts).isoformat()),
            f"{utc_key(record.ts)}#{record.record_id}",
            ts=record.ts,
            actor=record.actor,
            action=record.action,
            reason=record.reason,
            details=record.details_json(),
            written_ns=time.time_ns(),
        )

    def append(self, record: AuditRecord) -> None:
        item = self.item(record)
        try:
            item.save()
        except PutError as exc:
            if condition_failed(exc):
                raise AuditRecordExists(f"audit record {item.pk} / {item.sk} already exists") from exc
            raise

    def list_day(self, session_date: date) -> list[AuditRecord]:
        """The session's records, oldest first; those of one instant in the order written."""
        items = self._model.query(
            mode_key(self._mode, "audit", session_date.isoformat()), consistent_read=True
        )
        in_order = sorted(items, key=lambda item: (item.ts, item.written_ns or 0))
        return [
            AuditRecord(
                ts=item.ts,
                mode=self._mode,
                actor=item.actor,
                action=item.action,
                reason=item.reason,
                details=json.loads(item.details),
            )
            for item in in_order
        ]


class DynamoAudit(ModeStore):
    """The audit aggregate: this mode's log, every mode's log (a change audited in both), and the
    audit record written inside another aggregate's transaction."""

    def __init__(self, tables: Tables, mode: TradingMode) -> None:
        super().__init__(tables, mode)
        model = tables.model(AuditItem)
        self._audit_logs = {m: DynamoAuditLog(model, m) for m in TradingMode}

    @property
    def audit(self) -> DynamoAuditLog:
        return self._audit_logs[self._mode]

    def _audited(self, tx: Tx, record: AuditRecord) -> None:
        tx.put("audit", self.audit.item(record))
