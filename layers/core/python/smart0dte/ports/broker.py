"""The live broker: what the gateway's order bridge needs from Interactive Brokers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, Protocol

from smart0dte.domain.models import Fill, OrderIntent, OrderStatus, Side, TradingMode

PAPER_ACCOUNT_PREFIXES: Final = ("DU", "DF")
"""IB paper-trading account ids start with DU (DF: an advisor's paper master); live ones with U
(F, I). The account id decides what an account is; the port alone does not."""
LIVE_GATEWAY_PORT: Final = 4001
PAPER_GATEWAY_PORT: Final = 4002
GATEWAY_PORTS: Final = {TradingMode.IBKR_PAPER: PAPER_GATEWAY_PORT, TradingMode.LIVE: LIVE_GATEWAY_PORT}
"""IB Gateway's API port of each broker-backed mode (its paper and live logins listen apart)."""


def is_paper_account(account_id: str) -> bool:
    return account_id.startswith(PAPER_ACCOUNT_PREFIXES)


def account_refusal(mode: TradingMode, account_id: str) -> str | None:
    """Why `mode` must not trade on `account_id`, or None when it may: ibkr_paper trades only an
    IB paper account, live only a real one, and paper never reaches a broker."""
    if not mode.uses_broker:
        return f"mode {mode.value} trades on the simulated venue, never on an IB account"
    paper_account = is_paper_account(account_id)
    if mode is TradingMode.IBKR_PAPER and not paper_account:
        return (
            f"account {account_id} is a live account: {mode.value} trades only an IB paper account "
            f"(ids starting with {' or '.join(PAPER_ACCOUNT_PREFIXES)})"
        )
    if mode is TradingMode.LIVE and paper_account:
        return (
            f"account {account_id} is an IB paper account (ids starting with "
            f"{' or '.join(PAPER_ACCOUNT_PREFIXES)}): {mode.value} trades only a real-money account; "
            f"rehearse on a paper account in {TradingMode.IBKR_PAPER.value}"
        )
    return None


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    """The IB account the gateway is logged in to, as the broker reports it."""

    account_id: str
    net_liquidation_usd: Decimal
    options_permission: bool
    """A what-if order for a same-day option was accepted: the account may trade options."""
    options_permission_detail: str = ""

    @property
    def is_paper(self) -> bool:
        return is_paper_account(self.account_id)


@dataclass(frozen=True, slots=True)
class BrokerOrderAck:
    """What the broker holds for one intent: its order id and status (`orderRef` = intent id)."""

    intent_id: str
    broker_order_id: int
    status: OrderStatus
    filled_quantity: int = 0
    already_known: bool = False
    """True when the broker already had an order with this orderRef: nothing new was placed."""
    detail: str = ""
    contract_symbol: str = ""
    """The order's contract (OCC symbol for options) when the broker said (open orders do)."""
    side: Side | None = None
    quantity: int = 0
    """The order's whole quantity when the broker said (open orders do); 0 when unknown."""


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    contract_symbol: str
    """OCC symbol of the option (21 characters), or the stock symbol."""
    quantity: int
    avg_cost_usd: Decimal


HAND_INTENT: Final = "by-hand"
"""The intent id of a fill Smart 0DTE did not order."""


class LiveBroker(Protocol):
    """Interactive Brokers through IB Gateway (ib_async). Every order carries `orderRef` = intent
    id, so submitting an intent the broker already has places nothing (idempotent)."""

    @property
    def account_id(self) -> str:
        """The account every order goes to (no call to IB)."""
        ...

    def account(self) -> BrokerAccount: ...

    def submit(self, intent: OrderIntent) -> BrokerOrderAck:
        """Place `intent` (one order, in its OCA group when it names one) unless an order with its
        orderRef exists today; either way return what the broker holds for it."""
        ...

    def cancel(self, intent_id: str) -> bool:
        """Cancel the working orders with orderRef = intent id; False when none was working."""
        ...

    def executions(self, since: datetime) -> list[Fill]:
        """The account's fills of Smart 0DTE's orders since `since`, as domain fills (intent_id
        from orderRef, fill_id = the execution id, commission when reported)."""
        ...

    def hand_executions(self, since: datetime) -> list[Fill]:
        """The account's option fills since `since` of orders Smart 0DTE did not place (by hand,
        another program), intent_id = `HAND_INTENT`, order_id = the broker's order id."""
        ...

    def open_orders(self) -> list[BrokerOrderAck]: ...

    def positions(self) -> list[BrokerPosition]: ...


class BrokerConnection(Protocol):
    """One connection to IB Gateway and the LiveBroker on it."""

    @property
    def broker(self) -> LiveBroker: ...

    def is_connected(self) -> bool:
        """Whether the connection still holds (implementations may process pending events first)."""
        ...

    def close(self) -> None: ...
