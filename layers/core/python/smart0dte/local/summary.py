"""What a replayed day left in the state: trades, decisions, rejections by rule, the audit log.

Read back from DynamoDB through the StateStore and the audit log, so the demo shows what the
handlers recorded, not what the driver believes happened.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.models import OptionContract, Position, PositionStatus, Signal
from smart0dte.domain.portfolio import usd_text
from smart0dte.local.replay import ReplayReport
from smart0dte.ports import AuditRecord, RiskDecision, session_date_of

POSITION_CLOSED = "PositionClosed"
HUMAN_ACTIONS: Final = (
    "TradingPaused",
    "TradingResumed",
    "EmergencyStopActivated",
    "EmergencyStopCleared",
    "PositionCloseRequested",
    "SettingsChanged",
    "RiskLimitsChanged",
    "TradingModeChanged",
)
"""What a person may do through the API that changes the day's result."""
_LINE_ORDER: Final = {"SignalGenerated": 0, "RiskCheckCompleted": 1, "OrderFilled": 2, POSITION_CLOSED: 3}


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

    def interventions(self, actor: str) -> list[AuditRecord]:
        """What `actor` did that changes the day's result (pause, stop, close, settings...)."""
        return [r for r in self.audit if r.actor == actor and r.action in HUMAN_ACTIONS]

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


def _hhmm(record: AuditRecord) -> str:
    return record.ts.astimezone(NEW_YORK).strftime("%H:%M")


def _contract(wire: Any) -> str:
    return OptionContract.model_validate(wire).occ_symbol if isinstance(wire, dict) else str(wire)


def event_lines(record: AuditRecord) -> list[str]:
    """The terminal lines of one audit record of the day as it happens (none for bookkeeping)."""
    d: dict[str, Any] = dict(record.details)
    at = _hhmm(record)
    match record.action:
        case "SignalGenerated":
            sig = d["signal"]
            return [
                f"{at} SIGNAL {sig['underlying']} {sig['direction']} by {sig['strategy']} "
                f"conf {float(sig['confidence']):.0%}",
                f"      why: {sig['rationale']}",
            ]
        case "RiskCheckCompleted":
            if d.get("approved"):
                return [f"      risk: APPROVED x{d.get('quantity')}"]
            return ["      risk: REJECTED " + "; ".join(str(v) for v in d.get("violations", []))]
        case "OrderFilled":
            return [
                f"{at} FILL {d['side']} {d['quantity']} {_contract(d['contract'])} @ {d['price']} "
                f"(fee ${d['commission_usd']})"
            ]
        case "PositionClosed":
            p = d["position"]
            pnl = usd_text(Decimal(str(d["realized_pnl_usd"])))
            return [
                f"{at} TRADE {_contract(p['contract'])} x{p['quantity']} {p['entry_price']} -> "
                f"{p['exit_price']} ({p['exit_reason']}), net P&L {pnl}"
            ]
        case "IncidentReported":
            return [f"{at} INCIDENT {record.reason}"]
        case action if action in HUMAN_ACTIONS and record.actor.startswith("user:"):
            return [f"{at} {record.actor} {action}: {record.reason}"]
    return []


class AuditFeed:
    """The day's audit records not seen before, in the order a reader expects (a signal, its
    verdict, the fill, the closed trade), read from the store after each step of the day."""

    def __init__(self, store: Any, session_date: date) -> None:
        self._store = store
        self._day = session_date
        self._seen: set[tuple[str, str, str, str]] = set()

    def new_records(self) -> list[AuditRecord]:
        fresh: list[AuditRecord] = []
        for record in self._store.audit.list_day(self._day):
            key = (
                record.ts.isoformat(),
                record.actor,
                record.action,
                json.dumps(record.details, sort_keys=True),
            )
            if key not in self._seen:
                self._seen.add(key)
                fresh.append(record)
        return sorted(fresh, key=lambda r: (r.ts, _LINE_ORDER.get(r.action, len(_LINE_ORDER))))
