"""The gateway task's order bridge: the broker venue's commands of a broker-backed mode (ibkr_paper or
live) from the queue to Interactive Brokers, and the broker's fills and cancels back into the state
store, where the next trading cycle reads them (`SessionDesk.news`) before it decides anything.

The bridge trades the store's mode on the broker's account only when they fit (`ports.account_refusal`:
ibkr_paper on an IB paper account, live on a real-money one); otherwise it places nothing and stops.
A trading step records each order as SUBMITTED and queues a `PlaceOrder` (a cancel it asks for:
PENDING_CANCEL and a `CancelOrder`); this module places it through a `LiveBroker` (orderRef = intent
id, so a redelivered message places nothing new), cancels what it is asked to cancel, syncs
the executions into the store, reconciles after every (re)connect and writes the heartbeat the API
and the live-arming checks read. It is pure of AWS and IB SDKs: everything arrives as a port.

Safety rules, in the order they apply to each message:

1. a message that does not parse, whose mode is not the store's, or whose order the trading steps
   did not record is refused (audited `IntentRefused`, deleted): nothing is placed;
   a cancel is carried out whatever else holds (cancelling never adds risk);
2. an active emergency stop wins: no entry (BUY) is placed, any working order of that intent is
   cancelled at the broker and the stored order moves to CANCELLED; exits (SELL) still go out,
   because the engine answers the stop by closing every position. Before it handles what it
   received, and once per loop iteration, the bridge answers a stop it has not answered yet
   (`OrderBridge.answer_stop`): every order working at the broker then was placed before it, and is
   cancelled; the exits that come after are placed and kept;
3. never short: a SELL is placed for at most what the broker holds of the contract minus the
   working SELL orders already there; nothing left -> REJECTED, less -> placed reduced (audited);
4. protection is not a bracket: the moment the bridge records a fill of an entry that carries its
   `Protection`, it places that fill's stop and target as one OCA group (`domain.protection`; the
   engine books the same orders when it learns of the fill); the engine protects whatever else is
   uncovered itself, as its own orders.

Each fill the bridge records first is announced (`NotificationKind.FILL`) when it is given a
notification service; the position it closes is announced with its P&L by the trading minute that
books it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from smart0dte.domain.controls import NotificationKind
from smart0dte.domain.models import (
    ORDER_TRANSITIONS,
    DomainError,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    Side,
)
from smart0dte.domain.protection import protection_of_fill, protective_order_id
from smart0dte.domain.reconcile import BrokerBook, ForeignOrder, traded_here
from smart0dte.domain.venue import CancelOrder, qualified
from smart0dte.ports import (
    AuditRecord,
    AuditRecordExists,
    BrokerAccount,
    BrokerConnection,
    Clock,
    CommandReceiver,
    GatewayStatus,
    LiveBroker,
    ReceivedCommand,
    StateStore,
    TradingControls,
    Versioned,
    account_refusal,
    session_date_of,
)
from smart0dte.services.notifications import Notifications, fill_text

logger = logging.getLogger(__name__)

ORDER_BRIDGE_ACTOR: Final = "order_bridge"
MAX_RECEIVE_MESSAGES: Final = 10
"""SQS returns at most ten messages per receive."""
EMERGENCY_STOP_REASON: Final = "emergency stop active"
SWEEP_GRACE: Final = timedelta(seconds=30)
"""A stored working order this much older than now that IB does not work is over (see
`OrderBridge._settle_vanished`); a younger one may still be on its way."""
STOP_ANSWERED_ACTION: Final = "EmergencyStopOrdersCancelled"
"""The audit action of a stop the bridge answered; its `stop_number` says which stop (a restarted
bridge reads it so it never cancels the exits placed after that stop)."""


# --- the order bridge ---------------------------------------------------------------------------


class Outcome(StrEnum):
    PLACED = "PLACED"
    """The broker acknowledged the order (or already had it: `already_known`)."""
    REJECTED = "REJECTED"
    """Not placed or rejected by the broker; the stored order is REJECTED."""
    CANCELLED = "CANCELLED"
    """The emergency stop was active, or a cancel was asked for: the order is cancelled at the
    broker (the stored order CANCELLED, or PENDING_CANCEL until the broker confirms)."""
    REFUSED = "REFUSED"
    """The message was not a placeable intent of this store; nothing was placed or changed."""
    FAILED = "FAILED"
    """An error left the message in the queue for redelivery."""


@dataclass(frozen=True, slots=True)
class Handled:
    """What the bridge did with one message."""

    message_id: str
    intent_id: str | None
    outcome: Outcome
    detail: str = ""
    broker_order_id: int | None = None
    quantity: int = 0
    already_known: bool = False
    deleted: bool = True


@dataclass(frozen=True, slots=True)
class FillSync:
    """One sync of the broker's executions into the store."""

    recorded: int = 0
    """Fills new to the store."""
    already_stored: int = 0
    unknown_intent: int = 0
    """Fills whose intent id has no stored order: reported, never written."""
    failed: int = 0
    """Fills the store refused (they do not fit their order, or the write failed)."""
    unknown_intent_ids: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """The store's working orders against the broker's open orders, after a sync of the fills."""

    fills: FillSync
    missing_at_broker: tuple[str, ...] = ()
    """Order ids the store thinks are working that the broker does not know and that have no fills."""
    unknown_to_store: tuple[str, ...] = ()
    """Intent ids of open broker orders that have no working order in the store."""

    @property
    def consistent(self) -> bool:
        return not self.missing_at_broker and not self.unknown_to_store


@dataclass(frozen=True, slots=True)
class StopAnswer:
    """What the bridge did at the broker for one emergency stop: each tuple holds stored order ids,
    except `unknown_to_store` (the broker's orders the store does not know, left alone)."""

    stop_number: int
    cancelled: tuple[str, ...] = ()
    """Cancelled at the broker (what was filled before stays filled) and CANCELLED in the store."""
    pending_cancel: tuple[str, ...] = ()
    """Cancel sent, not yet confirmed by the broker: PENDING_CANCEL until it is (`settle_cancels`)."""
    filled: tuple[str, ...] = ()
    """The fill won the race: the broker filled the order, recorded as a fill."""
    unknown_to_store: tuple[dict[str, object], ...] = ()


class AccountRefused(DomainError):
    """The broker's account does not fit the store's trading mode: nothing may be placed."""


def _stored_allows(order: Order, status: OrderStatus) -> bool:
    return status in ORDER_TRANSITIONS[order.status]


class OrderBridge:
    """Places queued intents of the store's mode through `broker` and brings its fills into `store`;
    refuses (`AccountRefused`) a broker whose account does not fit the mode.

    A position's protection arrives as its own orders (a stop and a target, one OCA group, which
    `sellable_quantity` counts once); the engine's own exits cancel the group and wait for IB's
    confirmation before they sell, so nothing sells a position twice.
    """

    def __init__(
        self,
        broker: LiveBroker,
        store: StateStore,
        intents: CommandReceiver,
        clock: Clock,
        actor: str = ORDER_BRIDGE_ACTOR,
        notifications: Notifications | None = None,
    ) -> None:
        refusal = account_refusal(store.mode, broker.account_id)
        if refusal is not None:
            raise AccountRefused(f"the order bridge of {store.mode.value} refuses to trade: {refusal}")
        self._broker = broker
        self._store = store
        self._intents = intents
        self._clock = clock
        self._actor = actor
        self._notifications = notifications
        """Where each fill the bridge records first is announced (None: nowhere)."""
        self._stored_fill_ids: set[str] = set()
        self._known_intents: set[str] = set()
        """Intent ids of broker orders the store is known to hold (read once each)."""
        self._stop_answered: int | None = None
        """The number of the last stop answered (-1: none); read from the audit log when first needed."""
        self._cancelling: dict[str, datetime] | None = None
        """Intent id -> order creation time of each PENDING_CANCEL order; read from the store when
        first needed."""

    # --- audit -----------------------------------------------------------------------------

    def _audit(self, action: str, reason: str, details: dict[str, object]) -> None:
        record = AuditRecord(self._clock.now(), self._store.mode, self._actor, action, reason[:2000], details)
        # The same record at the same instant already exists: a redelivery was explained.
        with contextlib.suppress(AuditRecordExists):
            self._store.audit.append(record)

    def _transition(self, stored: Versioned[Order], status: OrderStatus, reason: str) -> bool:
        """Move the stored order when its status allows; False (nothing written) otherwise."""
        if not _stored_allows(stored.value, status):
            return False
        self._store.transition_order(
            stored.value.order_id, status, self._clock.now(), self._actor, reason, stored.version
        )
        return True

    # --- intents ---------------------------------------------------------------------------

    def process(self, max_messages: int = MAX_RECEIVE_MESSAGES, wait_s: int = 0) -> list[Handled]:
        """Receive up to `max_messages` intents (long polling up to `wait_s`) and handle each, after
        answering an emergency stop that landed meanwhile (so no exit it placed is cancelled)."""
        messages = self._intents.receive(max_messages, wait_s)
        if messages:
            self.answer_stop()
        return [self.handle(message) for message in messages]

    def handle(self, message: ReceivedCommand) -> Handled:
        """Handle one message; any error leaves it in the queue (orderRef makes the retry safe)."""
        intent_id = message.intent_id
        try:
            handled = self._handle(message)
        except Exception as exc:
            logger.exception(
                "intent %s (message %s) failed; left for redelivery", intent_id, message.message_id
            )
            return Handled(message.message_id, intent_id, Outcome.FAILED, repr(exc)[:500], deleted=False)
        self._intents.delete(message.receipt)
        return handled

    def _refuse(self, message: ReceivedCommand, reason: str) -> Handled:
        intent_id = message.intent_id
        self._audit(
            "IntentRefused",
            reason,
            {"message_id": message.message_id, "intent_id": intent_id, "attribute_mode": message.mode},
        )
        return Handled(message.message_id, intent_id, Outcome.REFUSED, reason)

    def _handle(self, message: ReceivedCommand) -> Handled:
        store_mode = self._store.mode.value
        command = message.command
        if command is None:
            return self._refuse(message, f"message body is not an order command: {message.error}")
        if message.mode is not None and message.mode != store_mode:
            return self._refuse(message, f"message mode={message.mode} but the gateway trades {store_mode}")
        if command.mode.value != store_mode:
            return self._refuse(
                message,
                f"{command.command} command mode={command.mode.value} but the gateway trades {store_mode}",
            )
        stored = self._store.get_order_by_intent(command.intent_id)
        if stored is None:
            return self._refuse(
                message,
                f"intent {command.intent_id} has no stored order: the trading steps did not record it",
            )
        if isinstance(command, CancelOrder):
            return self._cancel_order(message, command, stored)
        intent = command.intent
        order = stored.value
        if order.contract != intent.contract or order.side is not intent.side:
            return self._refuse(
                message, f"intent {intent.intent_id} does not match its stored order {order.order_id}"
            )
        if intent.side is Side.BUY and self._store.get_controls().emergency_stop:
            return self._emergency_stop(message, intent, stored)
        if order.status.is_terminal:
            return self._refuse(
                message, f"stored order {order.order_id} is already {order.status.value}: not placed"
            )
        if intent.side is Side.SELL:
            return self._sell(message.message_id, intent, stored)
        return self._submit(message.message_id, intent, stored)

    def _emergency_stop(
        self, message: ReceivedCommand, intent: OrderIntent, stored: Versioned[Order]
    ) -> Handled:
        working_cancelled = self._broker.cancel(intent.intent_id)
        moved = self._transition(stored, OrderStatus.CANCELLED, EMERGENCY_STOP_REASON)
        self._audit(
            "IntentCancelled",
            EMERGENCY_STOP_REASON,
            {
                "intent_id": intent.intent_id,
                "order_id": stored.value.order_id,
                "broker_order_cancelled": working_cancelled,
                "stored_order_cancelled": moved,
            },
        )
        return Handled(message.message_id, intent.intent_id, Outcome.CANCELLED, EMERGENCY_STOP_REASON)

    def _cancel_order(
        self, message: ReceivedCommand, command: CancelOrder, stored: Versioned[Order]
    ) -> Handled:
        """Cancel the order at the broker: PENDING_CANCEL until the broker confirms it (then
        CANCELLED, or FILLED when a fill won); with nothing working there, its fills are synced and
        what is left is CANCELLED."""
        intent_id = command.intent_id
        if stored.value.status.is_terminal:
            detail = f"stored order {stored.value.order_id} is already {stored.value.status.value}"
            return Handled(message.message_id, intent_id, Outcome.CANCELLED, detail)
        working = self._broker.cancel(intent_id)
        if working:
            self._transition(stored, OrderStatus.PENDING_CANCEL, command.reason)
            self._pending()[intent_id] = stored.value.created_at
            self.settle_cancels()
        else:
            self.sync_fills(stored.value.created_at)
            current = self._store.get_order_by_intent(intent_id) or stored
            if not current.value.status.is_terminal:
                self._transition(
                    current, OrderStatus.CANCELLED, f"{command.reason}: nothing working at the broker"
                )
        self._audit(
            "OrderCancelSent",
            command.reason,
            {"intent_id": intent_id, "order_id": stored.value.order_id, "broker_order_working": working},
        )
        return Handled(message.message_id, intent_id, Outcome.CANCELLED, command.reason)

    def sellable_quantity(self, intent: OrderIntent) -> int:
        """What the broker holds of the intent's contract minus the working SELL orders there (other
        than this intent's own and its one-cancels-other group's, hand-placed ones included); never
        negative."""
        occ = intent.contract.occ_symbol
        held = sum(max(p.quantity, 0) for p in self._broker.positions() if p.contract_symbol == occ)
        selling = 0
        groups: dict[str, int] = {}
        for ack in self._broker.open_orders():
            if ack.intent_id == intent.intent_id or ack.status.is_terminal:
                continue
            if not ack.intent_id:  # placed by hand: what it sells is not the engine's to sell
                if ack.side is Side.SELL and ack.contract_symbol == occ:
                    selling += max(ack.quantity - ack.filled_quantity, 0)
                continue
            other = self._store.get_order_by_intent(ack.intent_id)
            if other is None:
                continue
            o = other.value
            if o.side is not Side.SELL or o.contract.occ_symbol != occ:
                continue
            if o.oca_group is None:
                selling += max(o.quantity - ack.filled_quantity, 0)
            elif o.oca_group != intent.oca_group:  # a group sells its contracts once, whichever fills
                groups[o.oca_group] = max(groups.get(o.oca_group, 0), o.quantity - ack.filled_quantity)
        return max(held - selling - sum(groups.values()), 0)

    def _at_broker(self, intent_id: str, since: datetime) -> bool:
        """Whether IB already has the intent's order (working, or filled since `since`): a place
        that reached IB before its connection dropped."""
        return any(a.intent_id == intent_id for a in self._broker.open_orders()) or any(
            f.intent_id == intent_id for f in self._broker.executions(since)
        )

    def _sell(self, message_id: str, intent: OrderIntent, stored: Versioned[Order]) -> Handled:
        """Place a SELL for at most what is held and not already being sold (never short); one IB
        already has is acknowledged as it stands, never judged again (it may have sold already)."""
        if self._at_broker(intent.intent_id, stored.value.created_at):
            return self._submit(message_id, intent, stored)
        available = self.sellable_quantity(intent)
        occ = intent.contract.occ_symbol
        if available <= 0:
            reason = f"nothing held at the broker for {occ}"
            self._transition(stored, OrderStatus.REJECTED, reason)
            self._audit("IntentRejected", reason, {"intent_id": intent.intent_id, "contract": occ})
            return Handled(message_id, intent.intent_id, Outcome.REJECTED, reason)
        if available < intent.quantity:
            self._audit(
                "SellQuantityReduced",
                f"only {available} of {intent.quantity} {occ} are held and not already being sold",
                {
                    "intent_id": intent.intent_id,
                    "order_id": stored.value.order_id,
                    "requested": intent.quantity,
                    "placed": available,
                },
            )
            intent = intent.model_copy(update={"quantity": available})
        return self._submit(message_id, intent, stored)

    def _submit(self, message_id: str, intent: OrderIntent, stored: Versioned[Order]) -> Handled:
        ack = self._broker.submit(intent)
        details: dict[str, object] = {
            "intent_id": intent.intent_id,
            "order_id": stored.value.order_id,
            "broker_order_id": ack.broker_order_id,
            "broker_status": ack.status.value,
            "quantity": intent.quantity,
            "already_known": ack.already_known,
        }
        if ack.status is OrderStatus.REJECTED:
            reason = ack.detail or "rejected by the broker"
            self._transition(stored, OrderStatus.REJECTED, reason)
            self._audit("OrderRejectedByBroker", reason, details)
            return Handled(
                message_id,
                intent.intent_id,
                Outcome.REJECTED,
                reason,
                ack.broker_order_id,
                intent.quantity,
                ack.already_known,
            )
        self._audit("OrderSentToBroker", f"broker order {ack.broker_order_id} ({ack.status.value})", details)
        return Handled(
            message_id,
            intent.intent_id,
            Outcome.PLACED,
            ack.detail,
            ack.broker_order_id,
            intent.quantity,
            ack.already_known,
        )

    # --- the emergency stop at the broker --------------------------------------------------------

    def _answered(self, controls: TradingControls) -> int:
        if self._stop_answered is None:
            self._stop_answered = -1
            change = controls.emergency_stop_change
            days = {session_date_of(self._clock.now())}
            if change is not None:
                days.add(session_date_of(change.at))
            for day in sorted(days):
                for record in self._store.audit.list_day(day):
                    if (
                        record.action == STOP_ANSWERED_ACTION
                        and record.actor == self._actor
                        and record.details.get("stop_number") == controls.stops
                    ):
                        self._stop_answered = controls.stops
        return self._stop_answered

    def answer_stop(self) -> StopAnswer | None:
        """When the store's emergency stop is one this bridge has not answered: cancel every order
        working at the broker that the store knows (entries and exits alike: all were placed before
        the bridge saw the stop), write what the broker reports (CANCELLED, PENDING_CANCEL until it
        confirms, or the fill that won the race) and audit one record of it with the stop's actor
        and reason; orders the store does not know are listed there, never cancelled. Settles the
        pending cancels of earlier answers on every call. None when there was nothing to answer."""
        self.settle_cancels()
        controls = self._store.get_controls()
        if not controls.emergency_stop or controls.stops <= self._answered(controls):
            return None
        answer = self._cancel_working(controls.stops)
        change = controls.emergency_stop_change
        stopped_by, why = (change.actor, change.reason) if change else ("unknown", "unknown")
        self._audit_answer(answer, stopped_by, why, change.at.isoformat() if change else None)
        self._stop_answered = controls.stops
        return answer

    def _cancel_working(self, stop_number: int) -> StopAnswer:
        reason = f"emergency stop {stop_number}: cancelled at the broker"
        unknown: list[dict[str, object]] = []
        targets: dict[str, Versioned[Order]] = {}
        for ack in self._broker.open_orders():
            if ack.status.is_terminal or ack.intent_id in targets:
                continue
            stored = self._store.get_order_by_intent(ack.intent_id) if ack.intent_id else None
            if stored is None:
                unknown.append(
                    {
                        "intent_id": ack.intent_id,
                        "broker_order_id": ack.broker_order_id,
                        "status": ack.status.value,
                        "detail": ack.detail,
                    }
                )
                continue
            targets[ack.intent_id] = stored
        for intent_id in targets:
            self._broker.cancel(intent_id)
        still_open = {a.intent_id for a in self._broker.open_orders() if not a.status.is_terminal}
        if targets:
            self.sync_fills(min(s.value.created_at for s in targets.values()))
        cancelled: list[str] = []
        pending: list[str] = []
        filled: list[str] = []
        for intent_id, before in targets.items():
            stored = self._store.get_order_by_intent(intent_id) or before
            order_id = stored.value.order_id
            if stored.value.status is OrderStatus.FILLED:
                filled.append(order_id)
            elif intent_id in still_open:
                self._transition(stored, OrderStatus.PENDING_CANCEL, reason)
                self._pending()[intent_id] = stored.value.created_at
                pending.append(order_id)
            else:
                self._transition(stored, OrderStatus.CANCELLED, reason)
                cancelled.append(order_id)
        return StopAnswer(stop_number, tuple(cancelled), tuple(pending), tuple(filled), tuple(unknown))

    def _audit_answer(self, answer: StopAnswer, stopped_by: str, why: str, stopped_at: str | None) -> None:
        record = AuditRecord(
            self._clock.now(),
            self._store.mode,
            self._actor,
            STOP_ANSWERED_ACTION,
            (
                f"emergency stop {answer.stop_number} by {stopped_by} ({why}): {len(answer.cancelled)} "
                f"order(s) cancelled, {len(answer.pending_cancel)} cancel(s) awaiting the broker, "
                f"{len(answer.filled)} filled first, {len(answer.unknown_to_store)} broker order(s) "
                "unknown to the store left alone"
            )[:2000],
            {
                "stop_number": answer.stop_number,
                "stopped_by": stopped_by,
                "stop_reason": why,
                "stopped_at": stopped_at,
                "cancelled": list(answer.cancelled),
                "pending_cancel": list(answer.pending_cancel),
                "filled": list(answer.filled),
                "unknown_to_store": list(answer.unknown_to_store),
            },
        )
        # Unlike other audits a failure here raises: the answer is retried (harmless: nothing was
        # placed since) until its record, which a restarted bridge reads, is written.
        with contextlib.suppress(AuditRecordExists):
            self._store.audit.append(record)

    def _pending(self) -> dict[str, datetime]:
        if self._cancelling is None:
            self._cancelling = {
                o.intent_id: o.created_at
                for o in self._store.list_orders(OrderStatus.PENDING_CANCEL)
                if o.mode is self._store.mode
            }
        return self._cancelling

    def settle_cancels(self) -> list[str]:
        """Move each PENDING_CANCEL order the broker no longer works to CANCELLED (after syncing its
        fills: a fill that won stays a fill); returns the order ids moved or filled."""
        pending = self._pending()
        if not pending:
            return []
        still_open = {a.intent_id for a in self._broker.open_orders() if not a.status.is_terminal}
        done = [intent_id for intent_id in pending if intent_id not in still_open]
        if not done:
            return []
        self.sync_fills(min(pending[i] for i in done))
        settled = []
        for intent_id in done:
            del pending[intent_id]
            stored = self._store.get_order_by_intent(intent_id)
            if stored is None:
                continue
            if not stored.value.status.is_terminal:
                self._transition(stored, OrderStatus.CANCELLED, "cancel confirmed by the broker")
            settled.append(stored.value.order_id)
        return settled

    # --- fills and reconciliation -----------------------------------------------------------

    def sync_fills(self, since: datetime) -> FillSync:
        """Record the broker's executions since `since` against their stored orders, once per fill
        id; fills of unknown intents are counted, never written."""
        recorded = already = failed = 0
        unknown: list[str] = []
        errors: list[str] = []
        for fill in self._broker.executions(since):
            if fill.fill_id in self._stored_fill_ids:
                already += 1
                continue
            stored = self._store.get_order_by_intent(fill.intent_id)
            if stored is None:
                unknown.append(fill.intent_id)
                continue
            try:
                after = self._store.record_fill(
                    fill.model_copy(update={"order_id": stored.value.order_id}), self._actor
                )
            except DomainError as exc:
                failed += 1
                errors.append(f"fill {fill.fill_id}: {exc}")
                continue
            self._stored_fill_ids.add(fill.fill_id)
            if after.version != stored.version:
                recorded += 1
                if self._notifications is not None:
                    written = fill.model_copy(update={"order_id": after.value.order_id})
                    self._notifications.send(NotificationKind.FILL, *fill_text(self._store.mode, written))
            else:
                already += 1
            self._protect_fill(after.value, fill.model_copy(update={"order_id": after.value.order_id}))
        if unknown:
            logger.warning(
                "%d fill(s) of unknown intents not written: %s", len(unknown), sorted(set(unknown))
            )
        for error in errors:
            logger.error("fill not recorded: %s", error)
        return FillSync(recorded, already, len(unknown), failed, tuple(sorted(set(unknown))), tuple(errors))

    def _protect_fill(self, entry: Order, fill: Fill) -> None:
        """Place the stop and target group of an entry's fill the moment the fill is recorded
        (`domain.protection.protection_of_fill`: the engine books the same orders when it learns of
        the fill). Each order is stored once and placed once (orderRef); one that ended is left."""
        for intent in protection_of_fill(entry, fill):
            order_id = qualified(session_date_of(fill.ts), protective_order_id(intent))
            order = Order.from_intent(intent, order_id)
            stored = self._store.create_order(
                order.transition(OrderStatus.SUBMITTED, intent.ts, "placed at the entry's fill"),
                self._actor,
                f"protection of fill {fill.fill_id}",
            )
            if stored.value.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED):
                self._sell(f"fill:{fill.fill_id}", intent, stored)

    def publish_book(self, session_start: datetime) -> BrokerBook:
        """The broker's side for the trading minutes to reconcile with (`domain.reconcile`), written
        after a fill sync: today's positions in the contracts the engine trades, every execution
        since `session_start`, and the fills and working orders there not placed by Smart 0DTE.
        An order carrying a Smart 0DTE orderRef that the store does not know (an earlier
        deployment's, a lost record) is cancelled first: the book follows the broker, and nothing
        unknown may trade for it."""
        today = session_date_of(self._clock.now())
        foreign: list[ForeignOrder] = []
        acks = [ack for ack in self._broker.open_orders() if not ack.status.is_terminal]
        self._settle_vanished({ack.intent_id for ack in acks if ack.intent_id})
        for ack in acks:
            if not ack.intent_id:
                if traded_here(ack.contract_symbol, today):
                    side = ack.side.value if ack.side is not None else "?"
                    foreign.append(
                        ForeignOrder(ack.contract_symbol, side, max(ack.quantity - ack.filled_quantity, 0))
                    )
            elif ack.intent_id not in self._known_intents:
                if self._store.get_order_by_intent(ack.intent_id) is not None:
                    self._known_intents.add(ack.intent_id)
                else:
                    cancelled = self._broker.cancel(ack.intent_id)
                    self._audit(
                        "UnknownOrderCancelled",
                        f"an order with Smart 0DTE's orderRef {ack.intent_id} that the store does not know",
                        {
                            "intent_id": ack.intent_id,
                            "broker_order_id": ack.broker_order_id,
                            "cancelled": cancelled,
                        },
                    )
        positions = {
            p.contract_symbol: p.quantity
            for p in self._broker.positions()
            if p.quantity and traded_here(p.contract_symbol, today)
        }
        hand = [
            f
            for f in self._broker.hand_executions(session_start)
            if traded_here(f.contract.occ_symbol, today)
        ]
        executions = frozenset(f.fill_id for f in self._broker.executions(session_start))
        executions |= {f.fill_id for f in hand}
        book = BrokerBook(self._clock.now(), positions, executions, tuple(foreign), tuple(hand))
        self._store.put_broker_book(book)
        return book

    def _settle_vanished(self, open_intents: set[str]) -> None:
        """Stored working orders IB no longer works (it cancelled, rejected or expired them by
        itself) end in the store: their fills first, then CANCELLED, so that no minute waits on an
        order that cannot trade. One younger than `SWEEP_GRACE` may still be on its way to IB and is
        left alone (if it arrives after, its stored state refuses it: nothing is placed)."""
        now = self._clock.now()
        vanished = [
            o
            for o in self._store.list_working_orders()
            if o.mode is self._store.mode
            and o.status is not OrderStatus.PENDING_CANCEL  # `settle_cancels` confirms those
            and o.intent_id not in open_intents
            and now - o.created_at >= SWEEP_GRACE
        ]
        if not vanished:
            return
        self.sync_fills(min(o.created_at for o in vanished))
        for order in vanished:
            stored = self._store.get_order_by_intent(order.intent_id)
            if stored is None or stored.value.status.is_terminal:
                continue
            self._transition(stored, OrderStatus.CANCELLED, "no longer working at the broker: ended by IB")

    def reconcile(self, session_start: datetime) -> ReconcileReport:
        """After a (re)connect: sync the fills since `session_start`, then report working orders the
        broker does not know (without fills) and open broker orders the store is not working.
        Nothing is resubmitted or cancelled."""
        fills = self.sync_fills(session_start)
        open_at_broker = {ack.intent_id for ack in self._broker.open_orders() if not ack.status.is_terminal}
        working = [o for o in self._store.list_working_orders() if o.mode is self._store.mode]
        missing = tuple(
            o.order_id
            for o in working
            if o.intent_id not in open_at_broker
            and o.filled_quantity == 0
            and not self._store.list_fills(o.order_id)
        )
        working_intents = {o.intent_id for o in working}
        unknown = tuple(sorted(open_at_broker - working_intents))
        report = ReconcileReport(fills, missing, unknown)
        if not report.consistent:
            self._audit(
                "ReconcileMismatch",
                f"{len(missing)} working order(s) unknown to the broker, {len(unknown)} broker order(s) "
                "not working in the store",
                {"missing_at_broker": list(missing), "unknown_to_store": list(unknown)},
            )
        return report


# --- heartbeat ------------------------------------------------------------------------------------

DEFAULT_ACCOUNT_REFRESH_S: Final = 15 * 60.0
"""The account check places a what-if order: refresh it at most this often."""


class Heartbeat:
    """Writes the gateway's status; `account()` is asked at most every `account_refresh_s`.
    `metric(connected)`, when given, is told each status too (the monitoring's heartbeat)."""

    def __init__(
        self,
        store: StateStore,
        clock: Clock,
        port: int,
        account_refresh_s: float = DEFAULT_ACCOUNT_REFRESH_S,
        metric: Callable[[bool], None] | None = None,
    ) -> None:
        self._metric = metric
        self._store = store
        self._clock = clock
        self._port = port
        self._refresh = timedelta(seconds=account_refresh_s)
        self._account: BrokerAccount | None = None
        self._account_at: datetime | None = None

    def beat(self, broker: LiveBroker | None, connected: bool, detail: str = "") -> GatewayStatus:
        """Write and return the status; a broker or store error never escapes (it is the detail)."""
        now = self._clock.now()
        if broker is not None and connected:
            due = self._account_at is None or now - self._account_at >= self._refresh
            if due:
                try:
                    self._account = broker.account()
                    self._account_at = now
                except Exception as exc:
                    connected = False
                    detail = f"account check failed: {exc!r}"[:2000]
        else:
            connected = False
        status = GatewayStatus(now, connected, self._port, self._account, detail)
        try:
            self._store.put_gateway_status(status)
        except Exception:
            logger.exception("gateway status not written")
        if self._metric is not None:
            self._metric(connected)
        return status


# --- the run loop -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoopTimings:
    heartbeat_every_s: float = 30.0
    fills_every_s: float = 5.0
    receive_wait_s: int = 10
    """SQS long poll; shortened so the fill sync and the heartbeat stay on time."""
    reconnect_backoff_s: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
    error_pause_s: float = 1.0
    account_refresh_s: float = DEFAULT_ACCOUNT_REFRESH_S


@dataclass
class RunSummary:
    stopped_by: str = ""
    connects: int = 0
    failed_connects: int = 0
    handled: list[Handled] = field(default_factory=list)
    fills_recorded: int = 0
    reconciles: list[ReconcileReport] = field(default_factory=list)
    stops_answered: list[StopAnswer] = field(default_factory=list)
    """Emergency stops answered at the broker by the loop's own check (not those answered inside
    `OrderBridge.process`, which the audit log holds)."""
    errors: int = 0
    refused: str = ""
    """Why the bridge refused the broker's account (stopped_by "account"), else empty."""


def _seconds_until(now: datetime, due: datetime) -> float:
    return max((due - now).total_seconds(), 0.0)


def run_order_bridge(
    *,
    connect: Callable[[], BrokerConnection],
    store: StateStore,
    intents: CommandReceiver,
    clock: Clock,
    sleep: Callable[[float], object],
    port: int,
    session_start: datetime,
    stop_at: datetime,
    stop: threading.Event,
    timings: LoopTimings = LoopTimings(),
    actor: str = ORDER_BRIDGE_ACTOR,
    heartbeat_metric: Callable[[bool], None] | None = None,
    notifications: Notifications | None = None,
) -> RunSummary:
    """Bridge intents and fills until `stop` is set or `clock` reaches `stop_at`.

    Connects through `connect` (backing off on failure), reconciles after every (re)connect,
    heartbeats every `heartbeat_every_s` (to the store, and to `heartbeat_metric` when given),
    answers a new emergency stop at the broker every iteration
    (`OrderBridge.answer_stop`), receives intents with long polling (at most `receive_wait_s`) and
    syncs fills every `fills_every_s`. Errors are logged and counted; the loop ends on a stop, or
    at once (nothing placed, audited `GatewayAccountRefused`) when the broker's account does not fit
    the store's mode.
    """
    summary = RunSummary()
    heartbeat = Heartbeat(store, clock, port, timings.account_refresh_s, heartbeat_metric)
    connection: BrokerConnection | None = None
    bridge: OrderBridge | None = None
    failures = 0
    next_beat = next_fills = clock.now()
    while True:
        now = clock.now()
        if stop.is_set():
            summary.stopped_by = "signal"
            break
        if now >= stop_at:
            summary.stopped_by = "stop_at"
            break
        try:
            if connection is None or bridge is None or not connection.is_connected():
                if connection is not None:
                    _close(connection)
                    heartbeat.beat(None, False, "disconnected from IB Gateway; reconnecting")
                    connection = bridge = None
                try:
                    connection = connect()
                except Exception as exc:
                    summary.failed_connects += 1
                    backoff = timings.reconnect_backoff_s[min(failures, len(timings.reconnect_backoff_s) - 1)]
                    failures += 1
                    heartbeat.beat(None, False, f"connect failed (retry in {backoff:g} s): {exc!r}")
                    sleep(min(backoff, _seconds_until(now, stop_at)))
                    continue
                failures = 0
                summary.connects += 1
                try:
                    bridge = OrderBridge(connection.broker, store, intents, clock, actor, notifications)
                except AccountRefused as exc:
                    _refuse_account(store, clock, actor, str(exc))
                    summary.stopped_by, summary.refused = "account", str(exc)
                    break
                report = bridge.reconcile(session_start)
                bridge.publish_book(session_start)
                summary.reconciles.append(report)
                summary.fills_recorded += report.fills.recorded
                heartbeat.beat(connection.broker, True, "" if report.consistent else "reconcile mismatch")
                now = clock.now()
                next_beat = now + timedelta(seconds=timings.heartbeat_every_s)
                next_fills = now + timedelta(seconds=timings.fills_every_s)
            if now >= next_beat:
                heartbeat.beat(connection.broker, True)
                next_beat = now + timedelta(seconds=timings.heartbeat_every_s)
            answer = bridge.answer_stop()
            if answer is not None:
                summary.stops_answered.append(answer)
            due = min(next_beat, next_fills, stop_at)
            wait_s = min(timings.receive_wait_s, int(_seconds_until(now, due)))
            summary.handled += bridge.process(MAX_RECEIVE_MESSAGES, wait_s)
            now = clock.now()
            if now >= next_fills:
                summary.fills_recorded += bridge.sync_fills(session_start).recorded
                bridge.publish_book(session_start)
                next_fills = now + timedelta(seconds=timings.fills_every_s)
        except Exception as exc:
            summary.errors += 1
            logger.exception("gateway loop error")
            heartbeat.beat(None, False, f"loop error: {exc!r}")
            sleep(timings.error_pause_s)
    if connection is not None:
        _close(connection)
    refused = f": {summary.refused}" if summary.refused else ""
    heartbeat.beat(None, False, f"stopped ({summary.stopped_by}){refused}")
    return summary


def _refuse_account(store: StateStore, clock: Clock, actor: str, reason: str) -> None:
    record = AuditRecord(clock.now(), store.mode, actor, "GatewayAccountRefused", reason[:2000])
    with contextlib.suppress(AuditRecordExists):
        store.audit.append(record)
    logger.error("%s", reason)


def _close(connection: BrokerConnection) -> None:
    try:
        connection.close()
    except Exception:
        logger.exception("closing the IB connection failed")


def stop_time(
    close_at: datetime, requested: datetime | None, grace: timedelta = timedelta(minutes=15)
) -> datetime:
    """When the loop must stop: `requested`, but never later than `grace` after the close."""
    latest = close_at + grace
    return latest if requested is None else min(requested, latest)


__all__: Sequence[str] = (
    "AccountRefused",
    "FillSync",
    "Handled",
    "Heartbeat",
    "LoopTimings",
    "OrderBridge",
    "Outcome",
    "ReconcileReport",
    "RunSummary",
    "StopAnswer",
    "run_order_bridge",
    "stop_time",
)
