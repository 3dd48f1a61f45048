"""An in-memory IB built from ib_async's own classes (no network): the IB methods IbkrBroker calls,
keeping state the way ib_async's wrapper does. Shared by the adapter's unit tests and the order
bridge's integration tests."""

from __future__ import annotations

import copy
import itertools
from datetime import datetime
from typing import Any

import ib_async

from smart0dte.domain.models import OptionContract

PAPER = "DU1234567"


class _Client:
    """The one `IB.client` method placing an order without an id uses."""

    def __init__(self) -> None:
        self._ids = itertools.count(100)

    def getReqId(self) -> int:
        return next(self._ids)


class FakeIB:
    """The IB methods IbkrBroker calls, keeping state the way ib_async's wrapper does."""

    def __init__(self, accounts: tuple[str, ...] = (PAPER,)) -> None:
        self.client = _Client()
        self.clientId = 7
        self.accounts = list(accounts)
        self.summary = [
            ib_async.AccountValue(a, "NetLiquidation", "25012.345", "USD", "") for a in accounts
        ] + [ib_async.AccountValue(a, "NetLiquidation", "1.00", "BASE", "") for a in accounts]
        self.known: dict[tuple[str, str, float, str], int] = {
            ("SPY", "20250314", 590.0, "C"): 1001,
            ("SPY", "20250314", 585.0, "P"): 1002,
        }
        self.chains = [
            ib_async.OptionChain(
                "SMART", 756733, "SPY", "100", ["20250313", "20250314", "20250321"], [585.0, 590.0]
            )
        ]
        self.what_if: Any = ib_async.OrderState(status="PreSubmitted", initMarginChange="1.00")
        self.what_if_calls: list[tuple[Any, Any]] = []
        self._trades: list[ib_async.Trade] = []
        self._fills: dict[str, ib_async.Fill] = {}
        self._perm_ids = itertools.count(900_000)
        self._exec_ids = itertools.count(1)
        self.placed: list[ib_async.Order] = []
        self.cancelled: list[ib_async.Order] = []
        self.exec_filters: list[ib_async.ExecutionFilter] = []
        self.sleeps = 0
        self.position_list: list[ib_async.Position] = []
        self.confirm_cancels = True
        """IB confirms a cancel (PendingCancel -> Cancelled) at the next `sleep`."""
        self.fill_on_cancel: dict[int, datetime] = {}
        """Order ids whose cancel IB refuses because they fill (at this time) first."""

    # account
    def managedAccounts(self) -> list[str]:
        return list(self.accounts)

    def accountSummary(self, account: str = "") -> list[ib_async.AccountValue]:
        return [v for v in self.summary if not account or v.account == account]

    # contracts
    def qualifyContracts(self, *contracts: ib_async.Contract) -> list[ib_async.Contract | None]:
        result: list[ib_async.Contract | None] = []
        for c in contracts:
            if c.secType == "STK" and c.symbol == "SPY":
                c.conId = 756733
                result.append(c)
                continue
            con_id = self.known.get((c.symbol, c.lastTradeDateOrContractMonth, float(c.strike), c.right))
            if con_id is None:
                result.append(None)  # ib_async 2.x keeps a None slot for an unknown contract
                continue
            c.conId = con_id
            c.localSymbol = OptionContract(
                root=c.symbol,
                expiry=datetime.strptime(c.lastTradeDateOrContractMonth, "%Y%m%d").date(),
                right=c.right,
                strike=c.strike,
            ).occ_symbol
            c.tradingClass = c.symbol
            result.append(c)
        return result

    def reqSecDefOptParams(
        self, underlyingSymbol: str, futFopExchange: str, underlyingSecType: str, underlyingConId: int
    ) -> list[ib_async.OptionChain]:
        assert (underlyingSymbol, underlyingSecType, underlyingConId) == ("SPY", "STK", 756733)
        return self.chains

    def whatIfOrder(self, contract: ib_async.Contract, order: ib_async.Order) -> Any:
        self.what_if_calls.append((contract, order))
        if isinstance(self.what_if, Exception):
            raise self.what_if
        return self.what_if

    # orders
    def placeOrder(self, contract: ib_async.Contract, order: ib_async.Order) -> ib_async.Trade:
        order.orderId = order.orderId or self.client.getReqId()
        order.clientId = self.clientId
        self.placed.append(order)
        status = ib_async.OrderStatus(orderId=order.orderId, status=ib_async.OrderStatus.PendingSubmit)
        trade = ib_async.Trade(contract, order, status, [], [])
        self._trades.append(trade)
        return trade

    def sleep(self, secs: float = 0.02) -> bool:
        """Time passes: IB acknowledges pending orders (permId; children wait as PreSubmitted)."""
        self.sleeps += 1
        for trade in self._trades:
            if trade.orderStatus.status == "PendingSubmit" and self._transmitted(trade):
                trade.order.permId = trade.orderStatus.permId = next(self._perm_ids)
                trade.orderStatus.status = "PreSubmitted" if trade.order.parentId else "Submitted"
            if trade.orderStatus.status == "PendingCancel" and self.confirm_cancels:
                trade.orderStatus.status = ib_async.OrderStatus.Cancelled
        return True

    def _transmitted(self, trade: ib_async.Trade) -> bool:
        root = trade.order.parentId or trade.order.orderId
        family = [t for t in self._trades if root in (t.order.orderId, t.order.parentId)]
        return any(t.order.transmit for t in family)

    def cancelOrder(self, order: ib_async.Order, manualCancelOrderTime: str = "") -> ib_async.Trade | None:
        """PendingCancel, confirmed (Cancelled) at the next `sleep` when `confirm_cancels`; an order in
        `fill_on_cancel` fills its remainder at its limit instead (the fill won the race; IB refuses
        the cancel with error 161 and reports the order Filled)."""
        self.cancelled.append(order)
        trade = next((t for t in self._trades if t.order is order), None)
        if trade is None:
            return None
        if order.orderId in self.fill_on_cancel:
            remaining = order.totalQuantity - trade.orderStatus.filled
            at = self.fill_on_cancel[order.orderId]
            self.execute(trade, remaining, order.lmtPrice, at, account=order.account)
            return trade
        trade.orderStatus.status = ib_async.OrderStatus.PendingCancel
        return trade

    def trades(self) -> list[ib_async.Trade]:
        return list(self._trades)

    def openTrades(self) -> list[ib_async.Trade]:
        return [t for t in self._trades if t.orderStatus.status not in ib_async.OrderStatus.DoneStates]

    # executions and positions
    def reqExecutions(self, execFilter: ib_async.ExecutionFilter | None = None) -> list[ib_async.Fill]:
        """Like ib_async: known executions come back as fresh Fills with an empty commission report."""
        self.exec_filters.append(execFilter or ib_async.ExecutionFilter())
        acct = execFilter.acctCode if execFilter else ""
        return [
            ib_async.Fill(f.contract, copy.copy(f.execution), ib_async.CommissionReport(), f.time)
            for f in self._fills.values()
            if not acct or f.execution.acctNumber == acct
        ]

    def fills(self) -> list[ib_async.Fill]:
        return list(self._fills.values())

    def positions(self, account: str = "") -> list[ib_async.Position]:
        return [p for p in self.position_list if not account or p.account == account]

    # test helpers
    def execute(
        self,
        trade: ib_async.Trade | None,
        shares: float,
        price: float,
        at: datetime,
        *,
        order_ref: str | None = None,
        commission: float | None = 0.65,
        account: str = PAPER,
        contract: ib_async.Contract | None = None,
        side: str | None = None,
    ) -> ib_async.Fill:
        exec_id = f"0000e0d5.67d3f1a2.01.{next(self._exec_ids):02d}"
        order = trade.order if trade else ib_async.Order(action="BUY", permId=next(self._perm_ids))
        execution = ib_async.Execution(
            execId=exec_id,
            time=at,
            acctNumber=account,
            side=side or ("BOT" if order.action == "BUY" else "SLD"),
            shares=shares,
            price=price,
            permId=order.permId,
            clientId=order.clientId,
            orderId=order.orderId,
            orderRef=order.orderRef if order_ref is None else order_ref,
        )
        report = (
            ib_async.CommissionReport(execId=exec_id, commission=commission, currency="USD")
            if commission is not None
            else ib_async.CommissionReport()
        )
        fill = ib_async.Fill(
            contract or (trade.contract if trade else option(590, "C")), execution, report, at
        )
        self._fills[exec_id] = fill
        if trade:
            trade.fills.append(fill)
            trade.orderStatus.filled += shares
            trade.orderStatus.remaining = trade.order.totalQuantity - trade.orderStatus.filled
            if trade.orderStatus.remaining <= 0:
                trade.orderStatus.status = "Filled"
        return fill


def option(strike: float, right: str) -> ib_async.Option:
    o = ib_async.Option("SPY", "20250314", strike, right, "SMART", "100", "USD")
    o.localSymbol = f"SPY   250314{right}{round(strike * 1000):08d}"
    o.conId = 1001
    return o
