"""What a replayed day left in the state: trades, decisions, rejections by rule, the audit log.

Read back from DynamoDB through the StateStore and the audit log, so the demo shows what the
handlers recorded, not what the driver believes happened.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.models import Position, PositionStatus, Signal
from smart0dte.local.replay import ReplayReport
from smart0dte.ports import AuditRecord, RiskDecision, session_date_of

POSITION_CLOSED = "PositionClosed"


@dataclass(frozen=True)
class DaySummary:
    session_date: date
    signals: tuple[Signal, ...]
    risk_decisions: tuple[RiskDecision, ...]
    closed: tuple[Position, ...]
    open_positions: tuple[Position, ...]
    realized_pnl_usd: Decimal
    audit: tuple[AuditRecord, ...]

    @property
    def net_pnl_by_position(self) -> dict[str, Decimal]:
        """Net P&L per closed position, from its PositionClosed audit record."""
        found: dict[str, Decimal] = {}
        for record in self.audit:
            if record.action != POSITION_CLOSED:
                continue
            position = record.details.get("position")
            pnl = record.details.get("realized_pnl_usd")
            if isinstance(position, dict) and isinstance(pnl, str):
                found[str(position.get("position_id"))] = Decimal(pnl)
        return found

    @property
    def rejections_by_rule(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for decision in self.risk_decisions:
            if not decision.verdict.approved:
                counts.update(decision.verdict.rules)
        return dict(sorted(counts.items()))


def read_day(store: Any, session_date: date) -> DaySummary:
    """The day's records in `store` (a DynamoState, or any StateStore with an audit log)."""
    closed = [
        p for p in store.list_positions(PositionStatus.CLOSED) if session_date_of(p.opened_at) == session_date
    ]
    return DaySummary(
        session_date=session_date,
        signals=tuple(store.list_signals(session_date)),
        risk_decisions=tuple(store.list_risk_decisions(session_date)),
        closed=tuple(sorted(closed, key=lambda p: (p.opened_at, p.position_id))),
        open_positions=tuple(store.list_open_positions()),
        realized_pnl_usd=store.get_counters(session_date).realized_pnl_usd,
        audit=tuple(store.audit.list_day(session_date)),
    )


def _et(ts: Any) -> str:
    return str(ts.astimezone(NEW_YORK).isoformat())


def trade_to_wire(position: Position, net_pnl_usd: Decimal | None) -> dict[str, object]:
    exit_price = position.exit_price
    gross = position.pnl_usd(exit_price) if exit_price is not None else None
    return {
        "position_id": position.position_id,
        "symbol": position.contract.root,
        "contract": position.contract.occ_symbol,
        "strategy": position.strategy,
        "quantity": position.quantity,
        "entry_time": _et(position.opened_at),
        "entry_price": str(position.entry_price),
        "exit_time": _et(position.closed_at) if position.closed_at else None,
        "exit_price": str(exit_price) if exit_price is not None else None,
        "exit_reason": position.exit_reason,
        "pnl": str(net_pnl_usd if net_pnl_usd is not None else gross),
    }


def decisions_to_wire(summary: DaySummary) -> list[dict[str, object]]:
    """Every signal with the Risk step's verdict on it (None: Risk never saw it)."""
    verdicts = {d.signal_id: d for d in summary.risk_decisions}
    decisions: list[dict[str, object]] = []
    for signal in summary.signals:
        decision = verdicts.get(signal.signal_id)
        decisions.append(
            {
                "ts": _et(signal.ts),
                "signal_id": signal.signal_id,
                "symbol": signal.underlying.value,
                "strategy": signal.strategy,
                "direction": signal.direction.value,
                "confidence": signal.confidence,
                "rationale": signal.rationale,
                "approved": None if decision is None else decision.verdict.approved,
                "violations": [] if decision is None else [str(v) for v in decision.verdict.violations],
                "quantity": None if decision is None else decision.quantity,
            }
        )
    return decisions


def failure_to_wire(report: ReplayReport) -> list[dict[str, object]]:
    failures: list[dict[str, object]] = []
    for run in report.failures:
        result = run.result
        if result is None:  # pragma: no cover - failures have results
            continue
        failures.append(
            {
                "state_machine": run.start.state_machine,
                "at": _et(run.start.at),
                "status": result.status,
                "error": result.error,
                "cause": result.cause,
                "task_error": result.task_error,
                "task_cause": result.task_cause,
            }
        )
    return failures


def to_wire(report: ReplayReport, summary: DaySummary) -> dict[str, object]:
    """The JSON of `smart0dte demo --json` on the embedded runtime."""
    net = summary.net_pnl_by_position
    return {
        "runtime": "embedded",
        "date": report.session_date.isoformat(),
        "source": report.source,
        "executions": report.executions,
        "failures": failure_to_wire(report),
        "notes": list(report.notes),
        "trades": [trade_to_wire(p, net.get(p.position_id)) for p in summary.closed],
        "pnl": str(summary.realized_pnl_usd),
        "open_positions": len(summary.open_positions),
        "rejections_by_rule": summary.rejections_by_rule,
        "audit_records": len(summary.audit),
        "decisions": decisions_to_wire(summary),
        "bars_written": report.bars_written,
        "snapshots_written": report.snapshots_written,
    }
