"""The controls aggregate on DynamoDB: settings, risk limits, the human's controls and the trading
state, the active mode and the gateway task's heartbeat.

    control  pk=<mode>#control                 sk=settings | risk_limits | trading | gateway
             pk=system                         sk=active_mode  (no mode owns it)

Settings, limits and the controls are audited in the transaction that changes them; what a control
action changes, and when it may land, is the domain's `ControlsUpdate`, written here as one update
whose condition is the update's guards (no read before it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from smart0dte.adapters.aws.dynamodb.counters import counters_of
from smart0dte.adapters.aws.dynamodb.tables import ControlTable, TableModel, Tables, get_item
from smart0dte.adapters.aws.dynamodb.trading import DynamoTradingBook
from smart0dte.domain.controls import (
    AutomationSettings,
    ControlChange,
    ControlsUpdate,
    RiskLimits,
    TradingState,
)
from smart0dte.domain.events import (
    EmergencyStopActivated,
    EmergencyStopCleared,
    TradingPaused,
    TradingResumed,
    TradingStateChanged,
)
from smart0dte.domain.models import DomainError, PositionStatus, TradingMode
from smart0dte.domain.reconcile import BrokerBook
from smart0dte.domain.risk import Controls
from smart0dte.ports import (
    ActiveMode,
    AuditRecord,
    BrokerAccount,
    ConcurrentUpdate,
    ControlRefused,
    ControlState,
    GatewayStatus,
    TradingControls,
    Versioned,
)

_SETTINGS_SK = "settings"
_RISK_LIMITS_SK = "risk_limits"
_CONTROLS_SK = "trading"
_GATEWAY_SK = "gateway"
_BROKER_BOOK_SK = "broker_book"
_SYSTEM_PK = "system"
"""The one partition no mode owns: which mode the system trades in."""
_ACTIVE_MODE_SK = "active_mode"

_M = TypeVar("_M", bound=TableModel)
_C = TypeVar("_C", AutomationSettings, RiskLimits)


class ConfigItem(ControlTable):
    value = JSONAttribute()
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute()
    version = VersionAttribute()


class ControlsItem(ControlTable):
    emergency_stop = BooleanAttribute(null=True)
    stop_actor = UnicodeAttribute(null=True)
    stop_reason = UnicodeAttribute(null=True)
    stop_at = UTCDateTimeAttribute(null=True)
    stops = NumberAttribute(null=True)
    """How many emergency stops were pressed (absent before stops were counted)."""
    paused = BooleanAttribute(null=True)
    pause_actor = UnicodeAttribute(null=True)
    pause_reason = UnicodeAttribute(null=True)
    pause_at = UTCDateTimeAttribute(null=True)
    trading_state = UnicodeAttribute(null=True)
    state_reason = UnicodeAttribute(null=True)
    state_actor = UnicodeAttribute(null=True)
    state_at = UTCDateTimeAttribute(null=True)
    close_requests = UnicodeSetAttribute(null=True)
    cancel_requests = UnicodeSetAttribute(null=True)


class GatewayItem(ControlTable):
    heartbeat_at = UTCDateTimeAttribute()
    connected = BooleanAttribute()
    port = NumberAttribute()
    account = JSONAttribute(null=True)
    detail = UnicodeAttribute(null=True)


class BrokerBookItem(ControlTable):
    book = JSONAttribute()


class ActiveModeItem(ControlTable):
    mode = UnicodeAttribute()
    changed_by = UnicodeAttribute()
    reason = UnicodeAttribute()
    changed_at = UTCDateTimeAttribute()
    version = VersionAttribute()


def _config_value(kind: type[_C], item: ConfigItem | None) -> _C:
    """A settings or limits document as stored, the defaults when none is."""
    return kind() if item is None else kind.model_validate(item.value)


class DynamoControls(DynamoTradingBook):
    """`ControlsStore` for one mode. It builds on the trading book: a close request names a
    position that must exist and be open, and the dashboard's control state reads the counters."""

    def __init__(self, tables: Tables, mode: TradingMode) -> None:
        super().__init__(tables, mode)
        self._config = tables.model(ConfigItem)
        self._controls = tables.model(ControlsItem)
        self._gateway = tables.model(GatewayItem)
        self._broker_book = tables.model(BrokerBookItem)
        self._active_mode = tables.model(ActiveModeItem)

    # settings ---------------------------------------------------------------------------------

    def _read_config(self, sk: str, kind: type[_C]) -> Versioned[_C]:
        item = get_item(self._config, self._key("control"), sk)
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
            page = self._tables.connection.batch_get_item(table, wanted, consistent_read=True)  # type: ignore[arg-type]
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
            counters=counters_of(session_date, item(keys[-1], self._counters)),
        )

    def get_controls(self) -> TradingControls:
        return self._to_controls(get_item(self._controls, self._key("control"), _CONTROLS_SK))

    def _to_controls(self, item: ControlsItem | None) -> TradingControls:
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
            stops=int(item.stops or 0),
            close_requests=frozenset(item.close_requests or ()),
            cancel_requests=frozenset(item.cancel_requests or ()),
        )

    def risk_controls(self) -> Controls:
        return self.get_controls().risk_controls(self.get_settings())

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
        item = get_item(self._gateway, self._key("control"), _GATEWAY_SK)
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

    def put_broker_book(self, book: BrokerBook) -> None:
        self._broker_book(self._key("control"), _BROKER_BOOK_SK, book=book.to_wire()).save()

    def get_broker_book(self) -> BrokerBook | None:
        item = get_item(self._broker_book, self._key("control"), _BROKER_BOOK_SK)
        return None if item is None else BrokerBook.from_wire(item.book)

    # the active mode ------------------------------------------------------------------------

    def get_active_mode(self) -> ActiveMode:
        """Which mode's records the system trades; paper until someone switches."""
        item = get_item(self._active_mode, _SYSTEM_PK, _ACTIVE_MODE_SK)
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
        current = get_item(self._active_mode, _SYSTEM_PK, _ACTIVE_MODE_SK)
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

    def _change_controls(
        self, actions: list[Action], record: AuditRecord, condition: Condition | None = None
    ) -> TradingControls:
        """One update of the controls with its audit record; ControlRefused when `condition` did
        not hold. A refused audit key alone means this exact record was already written (a retry
        of the same request): the change is there."""
        tx = self._tx()
        tx.update("controls", self._controls(self._key("control"), _CONTROLS_SK), actions, condition)
        self._audited(tx, record)
        if "controls" in tx.commit():
            raise ControlRefused(f"{self._mode.value}: {record.action} refused: {self._refusal()}")
        return self.get_controls()

    def _refusal(self) -> str:
        """Why the controls refused a guarded change, as they stand now."""
        c = self.get_controls()
        if c.emergency_stop and c.emergency_stop_change is not None:
            ch = c.emergency_stop_change
            return (
                f"emergency stop number {c.stops} is set (by {ch.actor} at {ch.at.isoformat()}: {ch.reason})"
            )
        if c.emergency_stop:
            return f"emergency stop number {c.stops} is set"
        if c.paused:
            return "trading is paused"
        return "no emergency stop is set"

    def _guard(self, update: ControlsUpdate) -> Condition | None:
        """The condition of `update`'s guards on the stored controls (None: it always lands)."""
        c = self._controls
        terms: list[Condition] = []
        if update.unless_stopped:
            terms.append(c.emergency_stop.does_not_exist() | (c.emergency_stop == False))  # noqa: E712
        if update.unless_paused:
            terms.append(c.paused.does_not_exist() | (c.paused == False))  # noqa: E712
        if update.only_stop is not None:
            terms.append(c.emergency_stop == True)  # noqa: E712
            number = update.only_stop
            terms.append(c.stops.does_not_exist() if number == 0 else c.stops == number)
        condition: Condition | None = None
        for term in terms:
            condition = term if condition is None else condition & term
        return condition

    def _apply(self, update: ControlsUpdate, record: AuditRecord) -> TradingControls:
        """Write what `update` sets (and nothing else) with its audit record, if its guards hold."""
        c = self._controls
        actions: list[Action] = []
        if update.emergency_stop is not None and update.emergency_stop_change is not None:
            change = update.emergency_stop_change
            actions += [
                c.emergency_stop.set(update.emergency_stop),
                c.stop_actor.set(change.actor),
                c.stop_reason.set(change.reason),
                c.stop_at.set(change.at),
            ]
        if update.counts_a_stop:
            actions.append(c.stops.add(1))
        if update.paused is not None and update.pause_change is not None:
            change = update.pause_change
            actions += [
                c.paused.set(update.paused),
                c.pause_actor.set(change.actor),
                c.pause_reason.set(change.reason),
                c.pause_at.set(change.at),
            ]
        if update.trading_state is not None and update.state_change is not None:
            change = update.state_change
            actions += [
                c.trading_state.set(update.trading_state.value),
                c.state_reason.set(change.reason),
                c.state_actor.set(change.actor),
                c.state_at.set(change.at),
            ]
        return self._change_controls(actions, record, self._guard(update))

    def activate_emergency_stop(
        self, actor: str, reason: str, at: datetime, request_id: str | None = None
    ) -> TradingControls:
        """Stop everything now: the flag, who/why/when, one more stop and the state HALTED, audited
        together; it always lands."""
        event = EmergencyStopActivated(ts=at, mode=self._mode, actor=actor, reason=reason)
        update = ControlsUpdate.activate_emergency_stop(ControlChange(actor, reason, at))
        return self._apply(update, _of_request(AuditRecord.of_event(event, reason), request_id))

    def request_close(self, position_id: str, actor: str, reason: str, at: datetime) -> TradingControls:
        """Add the position to the close requests the engine reads each minute; refused (RecordNotFound,
        DomainError) unless the position exists and is still open."""
        position = self._require_position(position_id).value
        if position.status is PositionStatus.CLOSED:
            raise DomainError(f"position {position_id} is already closed")
        details = {"position_id": position_id, "contract": position.contract.occ_symbol}
        record = AuditRecord(at, self._mode, actor, "PositionCloseRequested", reason, details)
        return self._change_controls([self._controls.close_requests.add({position_id})], record)

    def request_cancel(self, order_id: str, actor: str, reason: str, at: datetime) -> TradingControls:
        """Add the order to the cancel requests the engine reads each minute; refused (RecordNotFound,
        DomainError) unless the order exists and still works."""
        order = self._require_order(order_id).value
        if order.status.is_terminal:
            raise DomainError(f"order {order_id} is already {order.status.value}")
        details = {
            "order_id": order_id,
            "contract": order.contract.occ_symbol,
            "side": order.side.value,
            "status": order.status.value,
        }
        record = AuditRecord(at, self._mode, actor, "OrderCancelRequested", reason, details)
        return self._change_controls([self._controls.cancel_requests.add({order_id})], record)

    def clear_emergency_stop(
        self, actor: str, reason: str, at: datetime, stop_number: int, request_id: str | None = None
    ) -> TradingControls:
        event = EmergencyStopCleared(ts=at, mode=self._mode, actor=actor, reason=reason)
        update = ControlsUpdate.clear_emergency_stop(ControlChange(actor, reason, at), stop_number)
        record = AuditRecord.of_event(event, reason, {"stop_number": stop_number})
        return self._apply(update, _of_request(record, request_id))

    def pause(self, actor: str, reason: str, at: datetime, request_id: str | None = None) -> TradingControls:
        event = TradingPaused(ts=at, mode=self._mode, actor=actor, reason=reason)
        update = ControlsUpdate.pause(ControlChange(actor, reason, at))
        return self._apply(update, _of_request(AuditRecord.of_event(event, reason), request_id))

    def resume(self, actor: str, reason: str, at: datetime, request_id: str | None = None) -> TradingControls:
        event = TradingResumed(ts=at, mode=self._mode, actor=actor, reason=reason)
        update = ControlsUpdate.resume(ControlChange(actor, reason, at))
        return self._apply(update, _of_request(AuditRecord.of_event(event, reason), request_id))

    def set_trading_state(
        self, state: TradingState, actor: str, reason: str, at: datetime
    ) -> TradingControls:
        event = TradingStateChanged(ts=at, mode=self._mode, actor=actor, state=state, reason=reason)
        update = ControlsUpdate.set_trading_state(state, ControlChange(actor, reason, at))
        try:
            return self._apply(update, AuditRecord.of_event(event, reason))
        except ControlRefused:  # a stop or a pause landed since the evaluation: it wins
            return self.get_controls()


def _of_request(record: AuditRecord, request_id: str | None) -> AuditRecord:
    """`record` carrying the request's id, so that request's retries share its key and no other
    request's record does."""
    if request_id is None:
        return record
    return replace(record, details={**record.details, "request_id": request_id})
