"""Audit records as sentences: the demo day's trade in the trader's words, money as −$1,234.56,
fractions as percents, and a record of an unknown action still readable."""

from datetime import UTC, datetime
from decimal import Decimal

from smart0dte.domain.models import OptionContract, OptionRight, Position, PositionStatus, TradingMode
from smart0dte.ports import AuditRecord
from smart0dte.services.api.audit_words import sentence

AT = datetime(2025, 3, 14, 15, 49, tzinfo=UTC)
IWM_220P = OptionContract(
    root="IWM", expiry=datetime(2025, 3, 14).date(), right=OptionRight.PUT, strike=220.0
)


def record(action: str, reason: str, details: dict[str, object], actor: str = "signals") -> AuditRecord:
    return AuditRecord(AT, TradingMode.PAPER, actor, action, reason, details)


def test_the_demo_days_stop_out_reads_as_one_sentence_with_the_net_pnl() -> None:
    closed = Position(
        position_id="p1",
        mode=TradingMode.PAPER,
        contract=IWM_220P,
        quantity=92,
        entry_price=Decimal("0.17"),
        opened_at=AT,
        strategy="momentum_breakout",
        status=PositionStatus.CLOSED,
        exit_price=Decimal("0.12"),
        closed_at=AT,
        exit_reason="STOP_LOSS",
    )
    details = {
        "position": closed.model_dump(mode="json"),
        "realized_pnl_usd": "-587.94",
        "commissions_usd": "127.94",
    }
    assert sentence(record("PositionClosed", "STOP_LOSS", details)) == (
        "Position closed: 92 IWM 220 put (2025-03-14) at $0.12 (stop loss); net P&L −$587.94 after "
        "$127.94 fees."
    )


def test_a_protective_stop_order_says_what_it_is_for() -> None:
    order = {
        "side": "SELL",
        "quantity": 92,
        "contract": IWM_220P.model_dump(mode="json"),
        "order_type": "STOP",
        "limit_price": None,
        "stop_price": "0.14",
    }
    text = sentence(
        record("OrderCreated", "protective STOP_LOSS of IWM250314P00220000-20250314T150300", order)
    )
    assert (
        text
        == "Order placed: sell 92 IWM 220 put (2025-03-14), stop at $0.14: the position's protective stop."
    )


def test_limit_changes_read_in_percent_and_switches_as_on_and_off() -> None:
    details = {
        "before": {"dailyLossLimit": 0.05, "maxConsecutiveLosses": 5},
        "after": {"dailyLossLimit": 0.035, "maxConsecutiveLosses": 4},
    }
    assert sentence(record("RiskLimitsChanged", "x", details, actor="user:alice")) == (
        "Risk limits changed by user:alice: daily loss limit 5.0% -> 3.5%; max consecutive losses 5 -> 4."
    )


def test_an_unknown_action_reads_as_words_and_a_partial_record_as_what_it_holds() -> None:
    assert sentence(record("GatewayAccountRefused", "DU123 is not a live account", {})) == (
        "Gateway account refused by signals: DU123 is not a live account."
    )
    assert sentence(record("OrderFilled", "3 @ 1.00", {"side": "BUY", "quantity": 3, "price": "1"})) == (
        "Bought 3 a contract at $1.00, fees $0.00."
    )
