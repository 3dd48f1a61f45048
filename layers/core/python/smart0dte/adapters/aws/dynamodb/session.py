"""Session documents on DynamoDB: each session's plan and its engine state, for one trading mode.

    control  pk=<mode>#session         sk=<date>   the plan pre_market wrote (JSON), audited
    trading  pk=<mode>#engine#<date>   sk=state    z (zlib JSON), version, saved_at

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

from smart0dte.adapters.aws.dynamodb.audit import DynamoAudit
from smart0dte.adapters.aws.dynamodb.tables import (
    MAX_ITEM_BYTES,
    ControlTable,
    ModeStore,
    Tables,
    TradingTable,
    condition_failed,
    get_item,
)
from smart0dte.domain.models import TradingMode
from smart0dte.ports import AuditRecord, ConcurrentUpdate, SessionPlan, Versioned
from smart0dte.resources import AUDIT_TABLE, CONTROL_TABLE, TRADING_TABLE, mode_key

_STATE_SK: Final = "state"


def _engine_pk(mode: TradingMode, session_date: date) -> str:
    return mode_key(mode, "engine", session_date.isoformat())


class PlanItem(ControlTable):
    value = JSONAttribute()
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute()


class EngineItem(TradingTable):
    z = BinaryAttribute(legacy_encoding=False)
    version = NumberAttribute()
    saved_at = UTCDateTimeAttribute(null=True)


class EngineMinuteItem(TradingTable):
    """Only the minute the session engine last handled, of the engine item."""

    saved_at = UTCDateTimeAttribute(null=True)


class DynamoEngineProgress(ModeStore):
    """The trading cycle's progress as the state store reports it, read from the engine item, and
    the session's plan."""

    def __init__(self, tables: Tables, mode: TradingMode) -> None:
        super().__init__(tables, mode)
        self._engine_minutes = tables.model(EngineMinuteItem)
        self._engine_items = tables.model(EngineItem)
        self._session_plans = tables.model(PlanItem)

    def session_plan(self, session_date: date) -> SessionPlan | None:
        item = get_item(self._session_plans, self._key("session"), session_date.isoformat())
        return None if item is None else SessionPlan.from_wire(item.value)

    def last_engine_minute(self, session_date: date) -> datetime | None:
        """The minute end the session's engine last handled (the trading cycle's progress)."""
        try:
            item = self._engine_minutes.get(
                _engine_pk(self._mode, session_date), _STATE_SK, attributes_to_get=["saved_at"]
            )
        except self._engine_minutes.DoesNotExist:
            return None
        return item.saved_at

    def get_engine(self, session_date: date) -> Versioned[dict[str, object]] | None:
        """The session engine's saved state of `session_date` (read-only: the API's minute marks)."""
        return _engine_document(self._engine_items, self._mode, session_date)


def _engine_document(
    engines: type[EngineItem], mode: TradingMode, session_date: date
) -> Versioned[dict[str, object]] | None:
    item = get_item(engines, _engine_pk(mode, session_date), _STATE_SK)
    if item is None:
        return None
    document = json.loads(zlib.decompress(item.z))
    if not isinstance(document, dict):
        raise ValueError(f"engine state of {session_date} ({mode.value}) is not a JSON object")
    return Versioned(document, int(item.version))


class DynamoDayDocuments(DynamoAudit):
    """`DayDocumentStore` for one mode; every key opens with that mode."""

    def __init__(
        self, prefix: str, mode: TradingMode, *, region: str, endpoint_url: str | None = None
    ) -> None:
        specs = (CONTROL_TABLE, TRADING_TABLE, AUDIT_TABLE)
        tables = Tables(prefix, region=region, endpoint_url=endpoint_url, specs=specs)
        super().__init__(tables, mode)
        self._plans = tables.model(PlanItem)
        self._engines = tables.model(EngineItem)

    def get_plan(self, session_date: date) -> SessionPlan | None:
        item = get_item(self._plans, self._key("session"), session_date.isoformat())
        return None if item is None else SessionPlan.from_wire(item.value)

    def put_plan(self, plan: SessionPlan, actor: str, reason: str) -> None:
        wire = plan.to_wire()
        item = self._plans(
            self._key("session"),
            plan.session_date.isoformat(),
            value=wire,
            updated_at=plan.prepared_at,
            updated_by=actor,
        )
        tx = self._tx()
        tx.put("plan", item)
        self._audited(tx, AuditRecord(plan.prepared_at, self._mode, actor, "SessionPrepared", reason, wire))
        tx.commit()  # a refused audit key means this exact plan was already written

    def get_engine(self, session_date: date) -> Versioned[dict[str, object]] | None:
        return _engine_document(self._engines, self._mode, session_date)

    def put_engine(
        self,
        session_date: date,
        document: Mapping[str, object],
        expected_version: int,
        at: datetime | None = None,
    ) -> int:
        blob = zlib.compress(json.dumps(document, separators=(",", ":"), allow_nan=False).encode(), level=6)
        pk = _engine_pk(self._mode, session_date)
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
            if condition_failed(exc):
                raise ConcurrentUpdate(
                    f"engine state of {session_date} ({self._mode.value}) is no longer version "
                    f"{expected_version}: another phase saved it first"
                ) from exc
            raise
        return version
