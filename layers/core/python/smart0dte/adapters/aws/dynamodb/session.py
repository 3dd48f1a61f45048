"""The SessionStore on DynamoDB: each session's plan and its engine state, for one trading mode.

    control  pk=<mode>#session         sk=<date>   the plan pre_market wrote (JSON), audited
    trading  pk=<mode>#engine#<date>   sk=state    z (zlib JSON), version

The plan sits in the control table (pre_market may write only there); the engine state in the
trading table (the trading phases' table). The engine state is replaced whole, conditionally on
the version the writer read, so two phases can never both build on the same state.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Final

from pynamodb.attributes import (
    BinaryAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PutError

from smart0dte.adapters.aws.dynamodb.state import (
    MAX_ITEM_BYTES,
    DynamoAuditLog,
    _AuditItem,
    _bind,
    _ControlTable,
    _get,
    _shared_connection,
    _TradingTable,
    _Tx,
)
from smart0dte.domain.models import TradingMode
from smart0dte.ports import AuditRecord, ConcurrentUpdate, SessionPlan, Versioned
from smart0dte.resources import AUDIT_TABLE, CONTROL_TABLE, TRADING_TABLE, mode_key

_STATE_SK: Final = "state"
_CONDITION_FAILED: Final = "ConditionalCheckFailedException"


class _PlanItem(_ControlTable):
    value = JSONAttribute()
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute()


class _EngineItem(_TradingTable):
    z = BinaryAttribute(legacy_encoding=False)
    version = NumberAttribute()
    saved_at = UTCDateTimeAttribute(null=True)


class DynamoSessionStore:
    """`SessionStore` for one mode; every key opens with that mode."""

    def __init__(
        self, prefix: str, mode: TradingMode, *, region: str, endpoint_url: str | None = None
    ) -> None:
        tables = (CONTROL_TABLE, TRADING_TABLE, AUDIT_TABLE)
        connection = _shared_connection(region, endpoint_url, tables, prefix)
        self._mode = mode
        self._connection = connection
        self._plans = _bind(_PlanItem, CONTROL_TABLE.physical_name(prefix), connection)
        self._engines = _bind(_EngineItem, TRADING_TABLE.physical_name(prefix), connection)
        self._audit = DynamoAuditLog(_bind(_AuditItem, AUDIT_TABLE.physical_name(prefix), connection), mode)

    @property
    def mode(self) -> TradingMode:
        return self._mode

    def get_plan(self, session_date: date) -> SessionPlan | None:
        item = _get(self._plans, mode_key(self._mode, "session"), session_date.isoformat())
        return None if item is None else SessionPlan.from_wire(item.value)

    def put_plan(self, plan: SessionPlan, actor: str, reason: str) -> None:
        wire = plan.to_wire()
        item = self._plans(
            mode_key(self._mode, "session"),
            plan.session_date.isoformat(),
            value=wire,
            updated_at=plan.prepared_at,
            updated_by=actor,
        )
        tx = _Tx(self._connection)
        tx.put("plan", item)
        record = AuditRecord(plan.prepared_at, self._mode, actor, "SessionPrepared", reason, wire)
        tx.put("audit", self._audit.item(record))
        tx.commit()  # a refused audit key means this exact plan was already written

    def _engine_pk(self, session_date: date) -> str:
        return mode_key(self._mode, "engine", session_date.isoformat())

    def get_engine(self, session_date: date) -> Versioned[dict[str, object]] | None:
        item = _get(self._engines, self._engine_pk(session_date), _STATE_SK)
        if item is None:
            return None
        document = json.loads(zlib.decompress(item.z))
        if not isinstance(document, dict):
            raise ValueError(f"engine state of {session_date} ({self._mode.value}) is not a JSON object")
        return Versioned(document, int(item.version))

    def put_engine(
        self,
        session_date: date,
        document: Mapping[str, object],
        expected_version: int,
        at: datetime | None = None,
    ) -> int:
        blob = zlib.compress(json.dumps(document, separators=(",", ":"), allow_nan=False).encode(), level=6)
        pk = self._engine_pk(session_date)
        if len(blob) + len(pk) + 64 > MAX_ITEM_BYTES:
            raise ValueError(
                f"engine state of {session_date} ({self._mode.value}): {len(blob)} bytes compressed exceeds "
                f"the DynamoDB item limit of {MAX_ITEM_BYTES} bytes"
            )
        version = expected_version + 1
        item = self._engines(pk, _STATE_SK, z=blob, version=version, saved_at=at)
        model = self._engines
        condition = model.pk.does_not_exist() if expected_version == 0 else model.version == expected_version
        try:
            item.save(condition=condition)
        except PutError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                raise ConcurrentUpdate(
                    f"engine state of {session_date} ({self._mode.value}) is no longer version "
                    f"{expected_version}: another phase saved it first"
                ) from exc
            raise
        return version
