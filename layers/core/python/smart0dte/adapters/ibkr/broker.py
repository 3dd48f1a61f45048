"""Interactive Brokers through IB Gateway (ib_async, or ib_insync with the same API): the LiveBroker.

`IbkrBroker` wraps an already-connected `IB` (see `connect_ib`) and one account id. It uses the
synchronous ib_async API only, so it must run on the thread that owns the IB event loop.

- Idempotency: every order carries `orderRef` = intent id. `submit` first looks for an order
  with that orderRef among `ib.trades()` (this session's orders plus the open and completed
  orders ib_async fetches on connect) and `ib.openTrades()`; if one exists it places nothing.
  Orders another client id placed are only visible when this client is the master client.
- One order per intent: LMT, MKT or STP (`auxPrice` = the stop price). A position's protection is
  two intents of one OCA group (`ocaGroup`, `ocaType` 3: a fill of one reduces the other by its
  quantity), each with its own orderRef, so their fills map back to their own orders.
- Order ids: `broker_order_id` and `Fill.order_id` are IB's permId (stable across sessions
  and client ids, the id TWS shows) when IB has assigned it, else the API orderId. `submit`
  waits up to `ack_wait_s` for IB to acknowledge the order so the permId is usually known.
- Paper and live never mix: a paper account (DU...) refuses LIVE intents and a live account
  refuses every other mode.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final, Protocol

try:
    import ib_async as ib_api
except ImportError:  # pragma: no cover - the same API under its former name
    import ib_insync as ib_api  # type: ignore[no-redef,import-not-found,unused-ignore]

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.models import (
    DomainError,
    Fill,
    OptionContract,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
)
from smart0dte.ports import (
    HAND_INTENT,
    LIVE_GATEWAY_PORT,
    PAPER_GATEWAY_PORT,
    BrokerAccount,
    BrokerOrderAck,
    BrokerPosition,
    account_refusal,
)

__all__ = [
    "LIVE_GATEWAY_PORT",
    "PAPER_GATEWAY_PORT",
    "IbClient",
    "IbkrBroker",
    "IbkrError",
    "UnknownOrderStatus",
    "connect_ib",
    "contract_symbol",
    "map_order_status",
    "occ_symbol_of",
]

logger = logging.getLogger(__name__)

CENT: Final = Decimal("0.01")
_AVG_COST_QUANTUM: Final = Decimal("0.0001")
_POLL_S: Final = 0.1
_INTENT_ID: Final = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_NO_PERMISSION: Final = re.compile(
    r"permission|not (?:approved|allowed|permitted|eligible)|no trading|cannot trade", re.IGNORECASE
)

_STATUS_MAP: Final[dict[str, OrderStatus]] = {
    "PendingSubmit": OrderStatus.PENDING_SUBMIT,
    "ApiPending": OrderStatus.PENDING_SUBMIT,
    "PreSubmitted": OrderStatus.SUBMITTED,
    "Submitted": OrderStatus.SUBMITTED,
    # ib_async's own states for an order IB still holds after a warning or a modify.
    "ValidationError": OrderStatus.SUBMITTED,
    "ApiUpdate": OrderStatus.SUBMITTED,
    "PendingCancel": OrderStatus.PENDING_CANCEL,
    "Cancelled": OrderStatus.CANCELLED,
    "ApiCancelled": OrderStatus.CANCELLED,
    "Filled": OrderStatus.FILLED,
    "Inactive": OrderStatus.REJECTED,
}


class IbkrError(RuntimeError):
    """IB answered something the adapter cannot use; the message names what and why."""


class UnknownOrderStatus(IbkrError):
    """IB reported an order status string this adapter does not map."""


class IbClient(Protocol):
    """The part of `ib_async.IB` this adapter calls (tests supply a fake)."""

    def managedAccounts(self) -> list[str]: ...

    def accountSummary(self, account: str = "") -> list[Any]: ...

    def qualifyContracts(self, *contracts: Any) -> list[Any]: ...

    def reqSecDefOptParams(
        self, underlyingSymbol: str, futFopExchange: str, underlyingSecType: str, underlyingConId: int
    ) -> list[Any]: ...

    def whatIfOrder(self, contract: Any, order: Any) -> Any: ...

    def placeOrder(self, contract: Any, order: Any) -> Any: ...

    def cancelOrder(self, order: Any, manualCancelOrderTime: str = "") -> Any: ...

    def trades(self) -> list[Any]: ...

    def openTrades(self) -> list[Any]: ...

    def reqExecutions(self, execFilter: Any = None) -> list[Any]: ...

    def fills(self) -> list[Any]: ...

    def positions(self, account: str = "") -> list[Any]: ...

    def sleep(self, secs: float = 0.02) -> bool: ...


REQUEST_TIMEOUT_S: Final = 20.0
"""ib_async waits forever for an unanswered request by default; the gateway loop must not."""


def connect_ib(host: str, port: int, client_id: int, timeout_s: float = 10.0) -> Any:
    """A new `IB` connected to the gateway at host:port (live 4001, paper 4002); every later request
    times out after REQUEST_TIMEOUT_S."""
    ib = ib_api.IB()
    ib.RequestTimeout = REQUEST_TIMEOUT_S
    ib.connect(host, port, clientId=client_id, timeout=timeout_s)
    return ib


def map_order_status(ib_status: str, filled: float = 0.0) -> OrderStatus:
    """The domain status of an IB order status string; a working order with fills is PARTIALLY_FILLED."""
    try:
        status = _STATUS_MAP[ib_status]
    except KeyError:
        raise UnknownOrderStatus(
            f"IB order status {ib_status!r} is not mapped; known: {', '.join(sorted(_STATUS_MAP))}"
        ) from None
    if status is OrderStatus.SUBMITTED and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def _option_contract_of(contract: Any) -> OptionContract:
    """The OptionContract of an IB option contract: its localSymbol (the OCC symbol for US options),
    else its symbol, expiry, right and strike."""
    local = (getattr(contract, "localSymbol", "") or "").strip()
    if local:
        try:
            return OptionContract.from_occ(local)
        except DomainError:
            pass
    try:
        expiry = datetime.strptime(contract.lastTradeDateOrContractMonth[:8], "%Y%m%d").date()
        return OptionContract(
            root=contract.symbol, expiry=expiry, right=contract.right[:1], strike=float(contract.strike)
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise IbkrError(f"cannot build an OCC symbol from IB contract {contract!r}: {exc}") from exc


def occ_symbol_of(contract: Any) -> str:
    """The 21-character OCC symbol of an IB option contract."""
    return _option_contract_of(contract).occ_symbol


def contract_symbol(contract: Any) -> str:
    """OCC symbol for options, the plain (local) symbol for anything else."""
    if getattr(contract, "secType", "") == "OPT":
        return occ_symbol_of(contract)
    return str(getattr(contract, "localSymbol", "") or contract.symbol)


def _decimal(value: float, quantum: Decimal) -> Decimal:
    return Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)


def _commission_usd(fill: Any) -> Decimal:
    report = getattr(fill, "commissionReport", None)
    if report is None or not report.execId:
        return Decimal("0.00")
    commission = float(report.commission)
    if not math.isfinite(commission) or abs(commission) > 1e12:  # IB's UNSET_DOUBLE: not reported yet
        return Decimal("0.00")
    if report.currency and report.currency != "USD":
        logger.warning("execution %s: commission in %s counted as USD", report.execId, report.currency)
    return _decimal(commission, CENT)


def _order_id(order_or_execution: Any) -> int:
    return int(order_or_execution.permId or order_or_execution.orderId)


CANCEL_CONFIRMED: Final = 202
"""IB's "Order Canceled" message: a cancel that was asked for, not a refusal."""


def _refusal(trade: Any) -> str | None:
    """IB's code and text when it refused a new order: ib_async then reports it Cancelled with the
    error in the trade's log; None for an order IB accepted."""
    if trade.orderStatus.status not in ("Cancelled", "ApiCancelled", "Inactive"):
        return None
    errors = [e for e in getattr(trade, "log", []) if e.errorCode and e.errorCode != CANCEL_CONFIRMED]
    if not errors:
        return None
    return f"IB error {errors[-1].errorCode}: {errors[-1].message}"


OCA_REDUCE_WITHOUT_BLOCK: Final = 3
"""IB's ocaType 3: a fill of one order of the group reduces the others by its quantity."""


class IbkrBroker:
    """LiveBroker for one IB account over an already-connected `IB`."""

    def __init__(
        self,
        ib: IbClient,
        account_id: str,
        *,
        permission_probe: OptionContract | Callable[[], OptionContract] | None = None,
        ack_wait_s: float = 2.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`permission_probe` is the option `account()` tests with a what-if order (or a function
        returning it); without one, the nearest-expiry SPY option IB lists is used."""
        if not account_id:
            raise ValueError("account_id must not be empty")
        self._ib = ib
        self.account_id = account_id
        self._probe = permission_probe
        self._ack_wait_s = ack_wait_s
        self._now = now

    # --- account ---------------------------------------------------------------------------

    def _require_managed(self) -> None:
        accounts = list(self._ib.managedAccounts())
        if self.account_id not in accounts:
            raise IbkrError(
                f"account {self.account_id} is not managed by this gateway login; it has "
                f"{', '.join(accounts) or 'no accounts'}"
            )

    def account(self) -> BrokerAccount:
        """The configured account, its USD net liquidation and whether a what-if option order passes."""
        self._require_managed()
        values = list(self._ib.accountSummary(self.account_id))
        net_liq = next(
            (
                v.value
                for v in values
                if v.account == self.account_id and v.tag == "NetLiquidation" and v.currency == "USD"
            ),
            None,
        )
        if net_liq is None:
            tags = sorted({f"{v.tag}/{v.currency}" for v in values})
            raise IbkrError(
                f"account summary of {self.account_id} has no NetLiquidation in USD; got {tags or 'nothing'}"
            )
        try:
            net_liquidation = _decimal(float(net_liq), CENT)
        except (ValueError, InvalidOperation) as exc:
            raise IbkrError(f"NetLiquidation of {self.account_id} is not a number: {net_liq!r}") from exc
        permitted, detail = self._options_permission()
        return BrokerAccount(
            account_id=self.account_id,
            net_liquidation_usd=net_liquidation,
            options_permission=permitted,
            options_permission_detail=detail,
        )

    def _probe_contract(self) -> Any:
        if self._probe is not None:
            option = self._probe() if callable(self._probe) else self._probe
            return self._qualify(option)
        return self._nearest_spy_option()

    def _nearest_spy_option(self) -> Any:
        stock = ib_api.Stock("SPY", "SMART", "USD")
        if not self._ib.qualifyContracts(stock) or not stock.conId:
            raise IbkrError("IB does not know the stock SPY on SMART")
        chains = list(self._ib.reqSecDefOptParams("SPY", "", "STK", stock.conId))
        chain = next((c for c in chains if c.exchange == "SMART"), chains[0] if chains else None)
        if chain is None:
            raise IbkrError("IB lists no option chain for SPY")
        today = self._now().astimezone(NEW_YORK).strftime("%Y%m%d")
        expirations = sorted(e for e in chain.expirations if e >= today)
        strikes = sorted(chain.strikes)
        if not expirations or not strikes:
            raise IbkrError(f"SPY option chain on {chain.exchange} has no expiration from {today} on")
        middle = strikes[len(strikes) // 2]
        for strike in sorted(strikes, key=lambda s: abs(s - middle))[:5]:
            option = ib_api.Option("SPY", expirations[0], strike, "C", "SMART", "100", "USD")
            if self._ib.qualifyContracts(option) and option.conId:
                return option
        raise IbkrError(f"no SPY call expiring {expirations[0]} near strike {middle} could be qualified")

    def _options_permission(self) -> tuple[bool, str]:
        try:
            contract = self._probe_contract()
            probe = ib_api.LimitOrder("BUY", 1, 0.01, account=self.account_id, tif="DAY")
            state = self._ib.whatIfOrder(contract, probe)
        except Exception as exc:  # anything IB or the probe raises means "not shown to be permitted"
            return False, f"what-if order failed: {type(exc).__name__}: {exc}"
        if not isinstance(state, ib_api.OrderState) or not (state.status or state.initMarginChange):
            return (
                False,
                f"what-if order returned no order state ({state!r}): IB rejected it, see the gateway log",
            )
        symbol = contract_symbol(contract)
        if state.warningText and _NO_PERMISSION.search(state.warningText):
            return False, f"what-if BUY 1 {symbol} refused: {state.warningText}"
        detail = f"what-if BUY 1 {symbol} accepted (init margin change {state.initMarginChange or 'n/a'})"
        if state.warningText:
            detail += f"; warning: {state.warningText}"
        return True, detail

    # --- orders ----------------------------------------------------------------------------

    def _qualify(self, option: OptionContract) -> Any:
        contract = ib_api.Option(
            symbol=option.root,
            lastTradeDateOrContractMonth=f"{option.expiry:%Y%m%d}",
            strike=option.strike,
            right=option.right.value,
            exchange="SMART",
            currency="USD",
            multiplier="100",
        )
        try:
            qualified = self._ib.qualifyContracts(contract)
        except Exception as exc:
            raise IbkrError(f"IB could not qualify option {option.occ_symbol!r}: {exc}") from exc
        if not qualified or qualified[0] is None or not contract.conId:
            raise IbkrError(f"IB does not know option {option.occ_symbol!r} (qualifyContracts found nothing)")
        return contract

    def _trades_for(self, intent_id: str) -> list[Any]:
        found: dict[int, Any] = {}
        for trade in [*self._ib.trades(), *self._ib.openTrades()]:
            if trade.order.orderRef == intent_id:
                found.setdefault(id(trade), trade)
        return list(found.values())

    def _check_mode(self, intent: OrderIntent) -> None:
        refusal = account_refusal(intent.mode, self.account_id)
        if refusal is not None:
            raise ValueError(f"intent.mode={intent.mode.value} refused: {refusal}")

    def _ack(
        self, trades: Sequence[Any], intent_id: str, already_known: bool, detail: str = ""
    ) -> BrokerOrderAck:
        trade = trades[0]  # one order per intent (orderRef)
        filled = max(float(trade.orderStatus.filled), sum(float(f.execution.shares) for f in trade.fills))
        refusal = _refusal(trade)
        return BrokerOrderAck(
            intent_id=intent_id,
            broker_order_id=_order_id(trade.order),
            status=OrderStatus.REJECTED if refusal else map_order_status(trade.orderStatus.status, filled),
            filled_quantity=int(filled),
            already_known=already_known,
            detail="; ".join(x for x in (refusal, detail) if x),
        )

    def _build_order(self, intent: OrderIntent) -> Any:
        common: dict[str, Any] = {"orderRef": intent.intent_id, "account": self.account_id, "tif": "DAY"}
        if intent.oca_group is not None:  # IB's OCA type 3: a fill reduces the others, without block
            common |= {"ocaGroup": intent.oca_group, "ocaType": OCA_REDUCE_WITHOUT_BLOCK}
        action = intent.side.value
        if intent.order_type is OrderType.LIMIT:
            assert intent.limit_price is not None  # the OrderIntent validator guarantees it
            return ib_api.LimitOrder(action, intent.quantity, float(intent.limit_price), **common)
        if intent.order_type is OrderType.MARKET:
            return ib_api.MarketOrder(action, intent.quantity, **common)
        assert intent.stop_price is not None  # the OrderIntent validator guarantees it for STOP
        return ib_api.StopOrder(action, intent.quantity, float(intent.stop_price), **common)

    def submit(self, intent: OrderIntent) -> BrokerOrderAck:
        """Place `intent` unless an order with its orderRef exists; return what IB holds for it."""
        self._check_mode(intent)
        existing = self._trades_for(intent.intent_id)
        if existing:
            return self._ack(existing, intent.intent_id, already_known=True)
        self._require_managed()
        contract = self._qualify(intent.contract)
        trade = self._ib.placeOrder(contract, self._build_order(intent))
        for _ in range(max(0, math.ceil(self._ack_wait_s / _POLL_S))):
            if trade.orderStatus.status not in ("PendingSubmit", "ApiPending") or trade.order.permId:
                break
            self._ib.sleep(_POLL_S)
        logger.info(
            "placed %s %s x%d %s as %s",
            intent.side.value,
            intent.contract.occ_symbol,
            intent.quantity,
            intent.intent_id,
            _order_id(trade.order),
        )
        return self._ack([trade], intent.intent_id, already_known=False)

    def cancel(self, intent_id: str) -> bool:
        """Cancel the working orders with orderRef = intent id and wait up to `ack_wait_s` for IB's
        answer (Cancelled, or Filled when a fill won the race); False when none was working."""
        working = [
            t
            for t in self._ib.openTrades()
            if t.order.orderRef == intent_id and t.orderStatus.status not in ib_api.OrderStatus.DoneStates
        ]
        for trade in working:
            if trade.orderStatus.status != "PendingCancel":
                self._ib.cancelOrder(trade.order)
        for _ in range(max(0, math.ceil(self._ack_wait_s / _POLL_S))):
            if all(t.orderStatus.status in ib_api.OrderStatus.DoneStates for t in working):
                break
            self._ib.sleep(_POLL_S)
        return bool(working)

    def open_orders(self) -> list[BrokerOrderAck]:
        """One ack per working order of the account (with its contract, side and quantity); orders without an
        orderRef (not placed by this system) are listed with intent_id ''."""
        acks = []
        for trade in self._ib.openTrades():
            if trade.order.account not in ("", self.account_id):
                continue
            ack = self._ack([trade], trade.order.orderRef, already_known=True)
            role = "Smart 0DTE" if trade.order.orderRef else "no orderRef: not placed by Smart 0DTE"
            acks.append(
                BrokerOrderAck(
                    intent_id=ack.intent_id,
                    broker_order_id=ack.broker_order_id,
                    status=ack.status,
                    filled_quantity=ack.filled_quantity,
                    already_known=True,
                    detail=f"{role}: {trade.order.action} {contract_symbol(trade.contract)}",
                    contract_symbol=contract_symbol(trade.contract),
                    side=Side.BUY if trade.order.action == "BUY" else Side.SELL,
                    quantity=int(trade.order.totalQuantity),
                )
            )
        return acks

    # --- executions and positions ---------------------------------------------------------

    def _all_fills(self) -> Iterable[Any]:
        # reqExecutions returns fresh Fill objects whose commission report stays empty when the
        # execution was already known; ib.fills() holds the ones IB's commission reports update.
        by_exec: dict[str, Any] = {}
        for fill in self._ib.reqExecutions(ib_api.ExecutionFilter(acctCode=self.account_id)):
            by_exec[fill.execution.execId] = fill
        for fill in self._ib.fills():
            by_exec[fill.execution.execId] = fill
        return by_exec.values()

    def executions(self, since: datetime) -> list[Fill]:
        """This account's option fills of Smart 0DTE's orders (a valid orderRef) at or after
        `since`, oldest first, as domain fills (order_id = permId, else orderId)."""
        return self._fills(since, own=True)

    def hand_executions(self, since: datetime) -> list[Fill]:
        """This account's option fills without a Smart 0DTE orderRef at or after `since`, oldest
        first, intent_id = `HAND_INTENT`."""
        return self._fills(since, own=False)

    def _fills(self, since: datetime, own: bool) -> list[Fill]:
        if since.tzinfo is None or since.utcoffset() is None:
            raise ValueError("since must be timezone-aware")
        result: list[Fill] = []
        for fill in self._all_fills():
            ex = fill.execution
            if ex.acctNumber and ex.acctNumber != self.account_id:
                continue
            ts = ex.time if ex.time.tzinfo is not None else ex.time.replace(tzinfo=UTC)
            if ts < since or bool(_INTENT_ID.match(ex.orderRef or "")) is not own:
                continue
            if getattr(fill.contract, "secType", "") != "OPT":
                logger.warning("execution %s of %s is not an option: skipped", ex.execId, fill.contract)
                continue
            side = {"BOT": Side.BUY, "SLD": Side.SELL}.get(ex.side)
            if side is None:
                raise IbkrError(f"execution {ex.execId} has side {ex.side!r}, expected BOT or SLD")
            result.append(
                Fill(
                    fill_id=ex.execId,
                    order_id=str(_order_id(ex)),
                    intent_id=ex.orderRef if own else HAND_INTENT,
                    ts=ts.astimezone(UTC),
                    contract=_option_contract_of(fill.contract),
                    side=side,
                    quantity=int(ex.shares),
                    price=_decimal(ex.price, CENT),
                    commission_usd=_commission_usd(fill),
                )
            )
        return sorted(result, key=lambda f: (f.ts, f.fill_id))

    def positions(self) -> list[BrokerPosition]:
        """Non-zero positions of the account: options by OCC symbol, anything else by its symbol.
        `avg_cost_usd` is IB's avgCost: per contract (x100) for options, per share for stock."""
        return [
            BrokerPosition(
                contract_symbol=contract_symbol(p.contract),
                quantity=int(p.position),
                avg_cost_usd=_decimal(p.avgCost, _AVG_COST_QUANTUM),
            )
            for p in self._ib.positions(self.account_id)
            if p.position and p.account == self.account_id
        ]
