from datetime import timedelta
from typing import Any

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.controls import TradingState
from smart0dte.domain.risk import RiskRule, RiskVerdict, Violation
from smart0dte.ports import RiskDecision

from .builders import SESSION, T0, all_items, signal

REJECTED = RiskVerdict(
    approved=False,
    trading_state=TradingState.REDUCING,
    violations=(
        Violation(RiskRule.SPREAD_TOO_WIDE, "spread 0.30 is 21.0% of mid, max 15.0%"),
        Violation(RiskRule.PATTERN_DAY_TRADER, "3 day trades in 5 sessions, max 3: a: b"),
    ),
)


def test_signals_round_trip_in_time_order_and_are_stored_once(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    assert paper.put_signal(signal(n=2, minutes=1), actor="signals") is True
    assert paper.put_signal(signal(n=1), actor="signals") is True
    before = all_items(dynamodb, aws)

    assert paper.put_signal(signal(n=1), actor="signals") is False

    assert all_items(dynamodb, aws) == before
    assert paper.list_signals(SESSION) == [signal(n=1), signal(n=2, minutes=1)]
    assert paper.get_signal(SESSION, signal(n=2).signal_id) == signal(n=2, minutes=1)
    assert paper.get_signal(SESSION + timedelta(days=1), signal(n=2).signal_id) is None
    generated = [r for r in paper.audit.list_day(SESSION) if r.action == "SignalGenerated"]
    assert [r.reason for r in generated] == [signal().rationale] * 2


def test_risk_decisions_keep_every_violated_rule_with_its_numbers(paper: DynamoState) -> None:
    decision = RiskDecision(signal_id=signal().signal_id, ts=T0, verdict=REJECTED, quantity=0)

    assert paper.put_risk_decision(decision, actor="risk") is True
    assert paper.put_risk_decision(decision, actor="risk") is False

    assert paper.get_risk_decision(SESSION, decision.signal_id) == decision
    assert paper.list_risk_decisions(SESSION) == [decision]
    (record,) = paper.audit.list_day(SESSION)
    assert (record.action, record.actor) == ("RiskCheckCompleted", "risk")
    assert record.reason == "rejected: SPREAD_TOO_WIDE, PATTERN_DAY_TRADER"
    assert record.details["violations"] == [str(v) for v in REJECTED.violations]


def test_signals_come_with_their_decisions_in_one_read_newest_first(paper: DynamoState) -> None:
    first, second, third = signal(n=1), signal(n=2, minutes=1), signal(n=3, minutes=2)
    for s in (first, second, third):
        paper.put_signal(s, actor="signals")
    decided = RiskDecision(
        signal_id=second.signal_id, ts=T0 + timedelta(minutes=1), verdict=REJECTED, quantity=0
    )
    paper.put_risk_decision(decided, actor="risk")

    assert paper.list_signal_decisions(SESSION) == [(third, None), (second, decided), (first, None)]
    assert paper.list_signals(SESSION) == [first, second, third]  # the decision is not a signal
    assert paper.list_risk_decisions(SESSION) == [decided]
    assert paper.get_signal(SESSION, second.signal_id) == second
    assert paper.list_signal_decisions(SESSION + timedelta(days=1)) == []
