"""An in-memory Interactive Brokers for `smart0dte chaos`, built from ib_async's own classes, that the
real `adapters/ibkr/broker.IbkrBroker` drives. Nothing here talks to IB or the network.

- `ChaosExchange` is IB's side, surviving every connection: the orders (`ib_async.Trade`), the
  executions, the positions of one account. Each minute `match` works the orders against the
  replayed day's quotes: a limit at or through the bid (sell) or ask (buy), a STP once the bid falls
  to its stop (then at the bid), a market order at the bid or ask; at most the quoted size per
  minute, so a large order fills in parts. A fill of one order of an OCA group of type 3 reduces the
  others by its quantity (cancelled at zero), as IB does.
- `ChaosIB` is one API connection: the `IbClient` methods the adapter calls. It can drop (every call
  raises `ConnectionError`), drop in the middle of a `placeOrder` (the order reaches IB, the answer
  is lost), have its next order rejected (IB's error, as ib_async records it: status Cancelled and a
  `TradeLogEntry` with the code and text), and report executions twice and out of order.
"""

from __future__ import annotations

import copy
import itertools
import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import ib_async

from smart0dte.domain.models import OptionContract, OptionQuote

COMMISSION_PER_CONTRACT: Final = 0.65
NET_LIQUIDATION_USD: Final = "25000.00"
REJECTION: Final = (201, "Order rejected - reason: The order price is outside the allowed price band")
"""The error IB sends for an order it refuses (code 201), as its text reads."""
_DONE: Final = ib_async.OrderStatus.DoneStates


def _is_live(trade: ib_async.Trade) -> bool:
    return trade.orderStatus.status not in _DONE


@dataclass
class Reported:
    """One execution at the exchange, as IB reports it on every request."""

    fill: ib_async.Fill
    occ: str


class ChaosExchange:
    """IB's side for one account: orders, executions and positions that outlive a connection."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.trades: list[ib_async.Trade] = []
        self.executions: list[Reported] = []
        self.positions: dict[str, int] = {}
        self.contracts: dict[str, ib_async.Contract] = {}
        self._order_ids = itertools.count(1)
        self._perm_ids = itertools.count(700_000)
        self._exec_ids = itertools.count(1)
        self.triggered: set[int] = set()
        """Order ids of STP orders whose stop was touched (now working as market orders)."""
        self.drop_mid_order = 0
        """Orders still to place whose answer is lost: the order reaches IB, the connection drops."""
        self.reject_next = 0
        """Orders still to refuse with IB's error 201."""
        self.partial_next = 0
        """Fills still to cut to half of what the quotes would give."""
        self.messy_executions = 0
        """Executions requests still to answer with every execution twice, in shuffled order."""
        self.fired: dict[str, int] = {}
        """How often each armed fault happened."""

    def fire(self, kind: str) -> None:
        self.fired[kind] = self.fired.get(kind, 0) + 1

    def next_order_id(self) -> int:
        return next(self._order_ids)

    def acknowledge(self) -> None:
        """IB answers what is pending: orders become Submitted (with a permId), cancels Cancelled."""
        for trade in self.trades:
            status = trade.orderStatus
            if status.status == ib_async.OrderStatus.PendingSubmit:
                trade.order.permId = status.permId = next(self._perm_ids)
                status.status = ib_async.OrderStatus.Submitted
            elif status.status == ib_async.OrderStatus.PendingCancel:
                status.status = ib_async.OrderStatus.Cancelled

    def reject(self, trade: ib_async.Trade, at: datetime) -> None:
        """IB refuses the order: ib_async marks it Cancelled and logs IB's error code and text."""
        code, text = REJECTION
        trade.orderStatus.status = ib_async.OrderStatus.Cancelled
        message = f"Error {code}, reqId {trade.order.orderId}: {text}"
        trade.log.append(ib_async.TradeLogEntry(at, ib_async.OrderStatus.Cancelled, message, code))

    def working(self) -> list[ib_async.Trade]:
        return [t for t in self.trades if _is_live(t)]

    def match(self, quotes: Mapping[str, OptionQuote], at: datetime) -> list[Reported]:
        """Work every live order against `quotes` (OCC symbol -> quote) for one minute; while
        `partial_next` is armed an order of two or more fills only half of its remainder."""
        done: list[Reported] = []
        for trade in list(self.trades):
            if not _is_live(trade) or trade.orderStatus.status == ib_async.OrderStatus.PendingSubmit:
                continue
            occ = trade.contract.localSymbol
            quote = quotes.get(occ)
            if quote is None:
                continue
            fill = self._fillable(trade, quote)
            if fill is None:
                continue
            price, size = fill
            remaining = int(trade.order.totalQuantity - trade.orderStatus.filled)
            quantity = min(remaining, size)
            if self.partial_next > 0 and quantity >= 2:
                self.partial_next -= 1
                self.fire("partial_fill")
                quantity //= 2
            if quantity > 0:
                done.append(self.execute(trade, quantity, price, at))
        return done

    def _fillable(self, trade: ib_async.Trade, quote: OptionQuote) -> tuple[float, int] | None:
        """(price, size available) at which the order trades against `quote`, or None."""
        order = trade.order
        bid, ask = quote.bid, quote.ask
        limit, stop = float(order.lmtPrice or 0.0), float(order.auxPrice or 0.0)
        if order.action == "BUY":
            if not ask > 0:
                return None
            if order.orderType == "LMT" and ask > limit:
                return None
            return ask, max(quote.ask_size, 1)
        if not bid > 0:
            return None
        if order.orderType == "LMT" and bid < limit:
            return None
        if order.orderType == "STP":
            if order.orderId not in self.triggered and bid > stop:
                return None
            self.triggered.add(order.orderId)
        return bid, max(quote.bid_size, 1)

    def execute(self, trade: ib_async.Trade, quantity: int, price: float, at: datetime) -> Reported:
        order = trade.order
        exec_id = f"0000c4a0.{at:%H%M%S}.01.{next(self._exec_ids):04d}"
        execution = ib_async.Execution(
            execId=exec_id,
            time=at,
            acctNumber=self.account,
            side="BOT" if order.action == "BUY" else "SLD",
            shares=float(quantity),
            price=price,
            permId=order.permId,
            clientId=order.clientId,
            orderId=order.orderId,
            orderRef=order.orderRef,
        )
        report = ib_async.CommissionReport(
            execId=exec_id, commission=round(COMMISSION_PER_CONTRACT * quantity, 2), currency="USD"
        )
        fill = ib_async.Fill(trade.contract, execution, report, at)
        trade.fills.append(fill)
        trade.orderStatus.filled += quantity
        trade.orderStatus.remaining = order.totalQuantity - trade.orderStatus.filled
        if trade.orderStatus.remaining <= 0:
            trade.orderStatus.status = ib_async.OrderStatus.Filled
        occ = trade.contract.localSymbol
        sign = 1 if order.action == "BUY" else -1
        self.positions[occ] = self.positions.get(occ, 0) + sign * quantity
        self._reduce_group(trade, quantity)
        done = Reported(fill, occ)
        self.executions.append(done)
        return done

    def _reduce_group(self, filled: ib_async.Trade, quantity: int) -> None:
        """OCA type 3: the group's other orders lose `quantity`; at zero they are cancelled."""
        group = filled.order.ocaGroup
        if not group:
            return
        for trade in self.working():
            if trade is filled or trade.order.ocaGroup != group:
                continue
            trade.order.totalQuantity -= quantity
            trade.orderStatus.remaining = trade.order.totalQuantity - trade.orderStatus.filled
            if trade.orderStatus.remaining <= 0:
                trade.orderStatus.status = ib_async.OrderStatus.Cancelled

    def stop_cover(self, occ: str) -> int:
        """Contracts of `occ` that working SELL STP orders would sell."""
        return sum(
            int(t.order.totalQuantity - t.orderStatus.filled)
            for t in self.working()
            if t.contract.localSymbol == occ and t.order.action == "SELL" and t.order.orderType == "STP"
        )

    def sell_cover(self, occ: str) -> int:
        """Contracts of `occ` that working SELL orders of any type would sell."""
        return sum(
            int(t.order.totalQuantity - t.orderStatus.filled)
            for t in self.working()
            if t.contract.localSymbol == occ and t.order.action == "SELL"
        )


class ChaosIB:
    """One API connection to the exchange: the `IB` methods `IbkrBroker` calls."""

    def __init__(self, exchange: ChaosExchange, client_id: int = 7, rng: random.Random | None = None) -> None:
        self.exchange = exchange
        self.clientId = client_id
        self.connected = True
        self._rng = rng or random.Random(0)
        self._now = datetime.min

    def at(self, now: datetime) -> None:
        self._now = now

    def _check(self) -> None:
        if not self.connected:
            raise ConnectionError("Not connected to IB Gateway (the socket closed)")

    # account
    def managedAccounts(self) -> list[str]:
        self._check()
        return [self.exchange.account]

    def accountSummary(self, account: str = "") -> list[Any]:
        self._check()
        return [
            ib_async.AccountValue(self.exchange.account, "NetLiquidation", NET_LIQUIDATION_USD, "USD", "")
        ]

    def qualifyContracts(self, *contracts: Any) -> list[Any]:
        self._check()
        for c in contracts:
            option = OptionContract(
                root=c.symbol,
                expiry=datetime.strptime(c.lastTradeDateOrContractMonth, "%Y%m%d").date(),
                right=c.right,
                strike=c.strike,
            )
            c.localSymbol = option.occ_symbol
            c.conId = 10_000_000 + zlib.crc32(option.occ_symbol.encode()) % 89_999_999
            c.tradingClass = c.symbol
            self.exchange.contracts.setdefault(option.occ_symbol, c)
        return list(contracts)

    def reqSecDefOptParams(self, *args: Any) -> list[Any]:
        self._check()
        return []

    def whatIfOrder(self, contract: Any, order: Any) -> Any:
        self._check()
        return ib_async.OrderState(status="PreSubmitted", initMarginChange="1.00")

    # orders
    def placeOrder(self, contract: Any, order: Any) -> ib_async.Trade:
        self._check()
        order.orderId = order.orderId or self.exchange.next_order_id()
        order.clientId = self.clientId
        status = ib_async.OrderStatus(orderId=order.orderId, status=ib_async.OrderStatus.PendingSubmit)
        trade = ib_async.Trade(contract, order, status, [], [])
        self.exchange.trades.append(trade)
        exchange = self.exchange
        if exchange.reject_next > 0:
            exchange.reject_next -= 1
            exchange.fire("rejection")
            exchange.reject(trade, self._now)
        if exchange.drop_mid_order > 0:
            exchange.drop_mid_order -= 1
            exchange.fire("disconnect_mid_order")
            exchange.acknowledge()
            self.connected = False
            raise ConnectionError("IB Gateway connection lost while placing an order")
        return trade

    def cancelOrder(self, order: Any, manualCancelOrderTime: str = "") -> Any:
        self._check()
        trade = next((t for t in self.exchange.trades if t.order is order), None)
        if trade is not None and _is_live(trade):
            trade.orderStatus.status = ib_async.OrderStatus.PendingCancel
        return trade

    def trades(self) -> list[ib_async.Trade]:
        self._check()
        return list(self.exchange.trades)

    def openTrades(self) -> list[ib_async.Trade]:
        self._check()
        return self.exchange.working()

    def reqExecutions(self, execFilter: Any = None) -> list[ib_async.Fill]:
        """Like ib_async: the executions come back as fresh Fills (commission reports empty)."""
        self._check()
        fills = [
            ib_async.Fill(
                e.fill.contract, copy.copy(e.fill.execution), ib_async.CommissionReport(), e.fill.time
            )
            for e in self.exchange.executions
        ]
        if self.exchange.messy_executions > 0 and fills:
            self.exchange.messy_executions -= 1
            self.exchange.fire("duplicated_executions")
            fills = fills + fills
            self._rng.shuffle(fills)
        return fills

    def fills(self) -> list[ib_async.Fill]:
        self._check()
        return [e.fill for e in self.exchange.executions]

    def positions(self, account: str = "") -> list[ib_async.Position]:
        self._check()
        return [
            ib_async.Position(self.exchange.account, self.exchange.contracts[occ], float(qty), 100.0)
            for occ, qty in self.exchange.positions.items()
            if qty
        ]

    def sleep(self, secs: float = 0.02) -> bool:
        self._check()
        self.exchange.acknowledge()
        return True
