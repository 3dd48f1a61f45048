"""moto for the package, provisioned from resources.py, a seeded paper store and the API handler
configured on it with a fixed clock (10:31 New York on 2025-03-14, a session)."""

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.controls import AutomationSettings, TradingState
from smart0dte.domain.models import (
    Bar,
    ChainSnapshot,
    Fill,
    OptionContract,
    OptionQuote,
    OptionRight,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Signal,
    TradingMode,
    Underlying,
)
from smart0dte.domain.risk import RiskRule, RiskVerdict, Violation
from smart0dte.local.http_server import LambdaContext, api_event, load_api_handler
from smart0dte.ports import RiskDecision
from smart0dte.services.api import ApiDeps

from ..moto_env import REGION, empty_tables, provisioned_moto

PREFIX = "smart0dte-apitest"
SESSION = datetime(2025, 3, 14).date()
T0 = datetime(2025, 3, 14, 14, 31, tzinfo=UTC)
"""10:31 New York."""
OPEN = datetime(2025, 3, 14, 13, 30, tzinfo=UTC)
SPOT = 562.0
READER = {"sub": "reader-1", "username": "rita", "scope": "smart0dte/read"}
TRADER = {"sub": "trader-1", "username": "alice", "scope": "smart0dte/read smart0dte/trade"}


def contract(strike: float, right: OptionRight = OptionRight.CALL, root: str = "SPY") -> OptionContract:
    return OptionContract(root=root, expiry=SESSION, right=right, strike=strike)


@dataclass
class FixedClock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at


@dataclass
class FakeBacktests:
    started: list[Mapping[str, object]] = field(default_factory=list)

    def start(self, request: Mapping[str, object]) -> str:
        self.started.append(dict(request))
        return f"run{len(self.started)}"

    cancelled: dict[str, str] = field(default_factory=dict)

    def status(self, run_id: str) -> Mapping[str, object] | None:
        if run_id in self.cancelled:
            return {
                "status": "ABORTED",
                "input": self.started[-1],
                "error": "Cancelled",
                "cause": self.cancelled[run_id],
            }
        started = {f"run{n}": request for n, request in enumerate(self.started, 1)}
        if run_id in started:
            output = {"days": 5, "trades": 2, "net_pnl_usd": "120.50", "total_return": 0.0012}
            return {"status": "SUCCEEDED", "input": started[run_id], "output": {**output, "report_key": "k"}}
        if run_id.startswith("running") and self.started:
            return {"status": "RUNNING", "input": self.started[-1]}
        return None

    def runs(self, limit: int) -> list[Mapping[str, object]]:
        ids = [f"run{n}" for n in range(len(self.started), 0, -1)][:limit]
        return [
            {"id": i, **(self.status(i) or {"status": "SUCCEEDED", "input": self.started[0]})} for i in ids
        ]

    def cancel(self, run_id: str, reason: str) -> None:
        self.cancelled[run_id] = reason


@pytest.fixture(scope="package")
def aws() -> Iterator[Provisioned]:
    with provisioned_moto(PREFIX, POWERTOOLS_TRACE_DISABLED="true") as provisioned:
        yield provisioned


@pytest.fixture(scope="package")
def dynamodb(aws: Provisioned) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture(scope="package")
def paper(aws: Provisioned) -> DynamoState:
    return DynamoState(PREFIX, TradingMode.PAPER, region=REGION)


@pytest.fixture(scope="package")
def live(aws: Provisioned) -> DynamoState:
    return DynamoState(PREFIX, TradingMode.LIVE, region=REGION)


@pytest.fixture(scope="package")
def ibkr_paper(aws: Provisioned) -> DynamoState:
    return DynamoState(PREFIX, TradingMode.IBKR_PAPER, region=REGION)


def position(n: int, strike: float, opened_at: datetime, strategy: str = "momentum_breakout") -> Position:
    return Position(
        position_id=f"position-{n}",
        mode=TradingMode.PAPER,
        contract=contract(strike),
        quantity=2,
        entry_price=Decimal("1.25"),
        opened_at=opened_at,
        strategy=strategy,
        stop_loss_price=Decimal("1.06"),
        take_profit_price=Decimal("1.56"),
    )


def seed(store: DynamoState) -> None:
    """Settings, 2 open and 3 closed positions, an order with a fill and a working order,
    3 signals with risk decisions, 60 one-minute SPY bars and an SPY chain snapshot."""
    store.put_settings(AutomationSettings(master_switch=True), "system:seed", "seed", OPEN)
    # market data
    for i in range(60):
        price = SPOT + 0.05 * i
        store.put_bar(
            Bar(
                symbol="SPY",
                ts=OPEN + timedelta(minutes=i),
                open=price,
                high=price + 0.1,
                low=price - 0.1,
                close=price + 0.05,
                volume=1000 + i,
            )
        )
    quotes = []
    for strike in (558.0, 560.0, 562.0, 564.0, 566.0):
        call_intrinsic = max(SPOT - strike, 0)
        put_intrinsic = max(strike - SPOT, 0)
        quotes.append(
            OptionQuote(
                contract=contract(strike),
                bid=round(call_intrinsic + 1.0, 2),
                ask=round(call_intrinsic + 1.1, 2),
                bid_size=20,
                ask_size=30,
            )
        )
        quotes.append(
            OptionQuote(
                contract=contract(strike, OptionRight.PUT),
                bid=round(put_intrinsic + 0.9, 2),
                ask=round(put_intrinsic + 1.0, 2),
                bid_size=15,
                ask_size=25,
            )
        )
    store.put_chain_snapshot(
        ChainSnapshot(
            underlying=Underlying.SPY,
            ts=T0 - timedelta(minutes=1),
            expiry=SESSION,
            underlying_price=SPOT,
            quotes=tuple(quotes),
        )
    )
    # positions: two open, three closed on earlier days
    store.open_position(position(1, 562.0, OPEN + timedelta(minutes=20)), "system:execute", "entry")
    store.open_position(
        position(2, 564.0, OPEN + timedelta(minutes=40), "mean_reversion"), "system:execute", "entry"
    )
    for n, days_ago, exit_price, strategy in (
        (3, 1, "1.60", "momentum_breakout"),
        (4, 2, "0.90", "gap_fill"),
        (5, 40, "1.50", "momentum_breakout"),
    ):
        opened = OPEN - timedelta(days=days_ago) + timedelta(minutes=5)
        store.open_position(position(n, 560.0, opened, strategy), "system:execute", "entry")
        store.close_position(
            f"position-{n}", Decimal(exit_price), opened + timedelta(minutes=30), "target", "system:execute"
        )
    # orders: one filled, one working
    for n, status in ((1, OrderStatus.FILLED), (2, OrderStatus.SUBMITTED)):
        intent = OrderIntent(
            intent_id=f"intent-{n:010d}",
            mode=TradingMode.PAPER,
            ts=OPEN + timedelta(minutes=19 + n),
            contract=contract(562.0),
            side=Side.BUY,
            quantity=2,
            order_type=OrderType.LIMIT,
            limit_price=Decimal("1.25"),
            reason="momentum breakout",
        )
        store.create_order(Order.from_intent(intent, f"order-{n}"), "system:execute", "entry")
        store.transition_order(f"order-{n}", OrderStatus.SUBMITTED, intent.ts, "system:execute", "sent")
        if status is OrderStatus.FILLED:
            store.record_fill(
                Fill(
                    fill_id="fill-1",
                    order_id="order-1",
                    intent_id=intent.intent_id,
                    ts=intent.ts,
                    contract=contract(562.0),
                    side=Side.BUY,
                    quantity=2,
                    price=Decimal("1.25"),
                    commission_usd=Decimal("1.30"),
                ),
                "system:execute",
            )
    # signals and risk decisions
    for n in range(3):
        sig = Signal(
            signal_id=f"momentum_breakout-SPY-{n}",
            ts=OPEN + timedelta(minutes=10 * (n + 1)),
            underlying=Underlying.SPY,
            direction=OptionRight.CALL,
            strategy="momentum_breakout",
            confidence=0.8,
            rationale=f"close broke the 30-minute high (signal {n})",
            target_delta=0.4,
        )
        store.put_signal(sig, "system:signals")
        violations = () if n else (Violation(RiskRule.PAUSED, "trading is paused"),)
        store.put_risk_decision(
            RiskDecision(
                sig.signal_id, sig.ts, RiskVerdict(bool(n), TradingState.ACTIVE, violations), 2 if n else 0
            ),
            "system:risk",
        )


@pytest.fixture
def backtests() -> FakeBacktests:
    return FakeBacktests()


@pytest.fixture
def seeded(aws: Provisioned, dynamodb: Any, paper: DynamoState) -> DynamoState:
    empty_tables(aws, dynamodb)
    seed(paper)
    return paper


Call = Callable[..., tuple[int, Any]]


def make_call(deps: ApiDeps) -> Call:
    module = load_api_handler()
    module.configure(deps)

    def call(
        method: str,
        path: str,
        body: Any = None,
        claims: Mapping[str, Any] | None = TRADER,
        raw_body: str | None = None,
    ) -> tuple[int, Any]:
        data = (
            raw_body.encode()
            if raw_body is not None
            else (b"" if body is None else json.dumps(body).encode())
        )
        headers = {"content-type": "application/json", "host": "localhost"}
        from smart0dte.local.auth import authorizer_context

        event = api_event(method, path, headers, data, None)
        if claims is not None:
            event["requestContext"]["authorizer"] = authorizer_context(claims)
        result = module.handler(event, LambdaContext())
        text = result.get("body") or ""
        return int(result["statusCode"]), json.loads(text) if text else None

    return call


@pytest.fixture
def api(seeded: DynamoState, backtests: FakeBacktests) -> Call:
    return make_call(ApiDeps(store_factory=lambda: seeded, clock=FixedClock(), backtests=backtests))
