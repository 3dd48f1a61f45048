"""The trading_cycle workflow's three steps, one closed minute at a time: Signals -> Risk -> Execute.

Each step is one phase of the session engine (`SessionEngine.observe`, `assess`, `execute`) on the
engine restored from the session document (see `services.session`), so the Lambda path makes the
same decisions as a backtest of the same day.

- `signals({"mode", "ts"})`: book the broker's news (the fills, rejections and cancels the order
  bridge stored for the working orders) and reconcile with its book (a difference: no entries),
  mark, work orders, exits, then the strategies' candidates (none from the flatten time; then,
  with no position and no working order, the market is not even read).
- `risk(<signals' result>)`: a verdict and a size per candidate; the approved intents.
- `execute(<risk's result>)`: each intent once (the handler makes `execute_one` idempotent on the
  intent id) on the desk's venue: paper fills on the simulated venue, ibkr_paper and live send a
  `PlaceOrder` to the order queue.

What the humans are told (`services.notifications`, through the desk's `notifications`): an
incident of the observe phase (a position still open five minutes before the close; also written
to the audit log), the limits taking trading to REDUCING or HALTED (a circuit breaker: once per
breaker and day, not while a human's stop or pause explains the state), and a risk limit refusing
an entry (once per limit and day). Fills and closed positions are announced by the desk's commit.

A minute already observed is not observed again: a duplicated event gets the stored result
(`duplicate: true`) and changes nothing; an event for a minute older than the last one observed
is stale and does nothing. Risk and Execute accept only the candidates and intents the previous
step produced for the minute the engine is at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.controls import NotificationKind, TradingState
from smart0dte.domain.risk import RiskRule
from smart0dte.domain.session_engine import DecisionRecord, PlannedEntry, SessionEngine, Verdict
from smart0dte.domain.venue import PlaceOrder, qualified
from smart0dte.services.events import (
    CycleEvent,
    ExecuteResult,
    OrderOutcome,
    PlannedEntryWire,
    RiskDecisionWire,
    RiskResult,
    SignalsResult,
)
from smart0dte.services.notifications import ny_time
from smart0dte.services.session import (
    CyclePhase,
    Envelope,
    OutOfOrder,
    PhaseInputs,
    SessionDesk,
    effect_records,
    incident_records,
    new_york_date,
    risk_records,
    signal_records,
    trading_state_record,
)

RunOne = Callable[..., Mapping[str, Any]]
"""`execute_one` as the handler wraps it (idempotent on the intent id): called as run(item=...)."""


LIMIT_RULES: Final = frozenset(
    {
        RiskRule.DAILY_LOSS_LIMIT,
        RiskRule.MAX_DRAWDOWN,
        RiskRule.CONSECUTIVE_LOSSES,
        RiskRule.PATTERN_DAY_TRADER,
        RiskRule.SYMBOL_EXPOSURE,
        RiskRule.PORTFOLIO_DELTA,
        RiskRule.PORTFOLIO_GAMMA,
    }
)
"""The account's limits whose refusal of an entry is a limit breach for the humans (the others are
the minute's conditions: quotes, confidence, spacing, the session's phase, the switches, and the
number of positions, which is reached in ordinary trading)."""
STATE_MEANING: Final = {
    TradingState.REDUCING: "no new entries; exits keep running",
    TradingState.HALTED: "every open position is being closed and no entry is taken",
}


class TradingCycle:
    def __init__(self, desk: SessionDesk) -> None:
        self.desk = desk

    # --- Signals ----------------------------------------------------------------------------------

    def signals(self, event: CycleEvent) -> dict[str, Any]:
        return self.desk.retrying(lambda: self.observe(event.ts, "signals").model_dump(mode="json"))

    def observe(self, ts: datetime, actor: str) -> SignalsResult:
        """The engine's observe phase at `ts`, once: a minute already observed returns its result."""
        desk = self.desk
        session_date = new_york_date(ts)
        session = desk.session(session_date)
        inputs = desk.inputs()
        envelope = desk.load(session_date, session, inputs)
        if envelope.cursor_ts is not None and envelope.cursor_ts >= ts:
            return self._already_observed(envelope, ts, session_date)
        engine = self._idle_after_flatten(envelope, session, inputs, ts)
        if engine is None:
            day = desk.market.known_day(session_date, ts)
            source = desk.strategies(envelope, session, day, inputs.config.settings)
            engine = desk.restore(envelope, session, inputs, day, source)
        candidates = engine.observe(ts, desk.report(engine, session_date))
        exits = sum(1 for d in candidates.effects.decisions if d.kind == "exit")
        result = SignalsResult(
            mode=desk.mode,
            ts=ts,
            session_date=session_date,
            candidates=list(candidates.signals),
            trading_state=candidates.trading_state,
            trading_state_reason=candidates.trading_state_reason,
            open_positions=candidates.open_positions,
            unexited_positions=candidates.unexited_positions,
            exits=exits,
        )
        outbox = [
            *effect_records(candidates.effects, session_date, actor),
            *signal_records(candidates.signals, actor),
            *incident_records(candidates.effects, actor),
        ]
        if candidates.trading_state is not inputs.trading_state:
            outbox.append(
                trading_state_record(candidates.trading_state, candidates.trading_state_reason, ts, actor)
            )
        envelope.cursor_ts, envelope.phase = ts, CyclePhase.OBSERVED
        envelope.observed = result.model_dump(mode="json")
        envelope.assessment, envelope.executed = None, {}
        desk.commit(envelope, engine, outbox)
        self._alert([d for d in candidates.effects.decisions if d.kind == "incident"])
        self._circuit_breaker(inputs, result)
        return result

    def _idle_after_flatten(
        self, envelope: Envelope, session: SessionTimes, inputs: PhaseInputs, ts: datetime
    ) -> SessionEngine | None:
        """From the flatten time, an engine with no position and no working order, restored without
        the market: it has nothing to mark, work or exit and asks for no signal, so its minute is the
        same without the market read (the cost of such a cycle). None when it needs the market."""
        if ts < session.flatten_et:
            return None
        engine = self.desk.restore(envelope, session, inputs)
        if engine.portfolio.open_positions or engine.venue.working_orders():
            return None
        return engine

    def _alert(self, incidents: list[DecisionRecord]) -> None:
        """Send the incidents just committed to the humans, one message per kind (after the commit:
        a retried phase whose save lost the lock has sent nothing). A position still open near the
        close names its position; the others are the book and the broker apart, or a hand trade
        adopted (reconciliation)."""
        notifications = self.desk.notifications
        if not incidents or notifications is None:
            return
        mode = self.desk.mode.value
        by_kind: dict[NotificationKind, list[DecisionRecord]] = {}
        for d in incidents:
            kind = (
                NotificationKind.OPEN_NEAR_CLOSE
                if "position_id" in d.detail
                else NotificationKind.RECONCILIATION
            )
            by_kind.setdefault(kind, []).append(d)
        for kind, found in by_kind.items():
            notifications.send(
                kind,
                f"Smart 0DTE {mode}: {len(found)} incident(s) at {found[0].ts.isoformat()}",
                "\n".join(str(d.detail["message"]) for d in found),
            )

    def _circuit_breaker(self, inputs: PhaseInputs, result: SignalsResult) -> None:
        """The limits just took trading out of ACTIVE: tell the humans once per breaker (its reason
        without its figures) and day. A stop's HALTED and a pause's REDUCING are the human's own."""
        notifications, state, controls = self.desk.notifications, result.trading_state, inputs.controls
        if notifications is None or state is inputs.trading_state or state is TradingState.ACTIVE:
            return
        if controls.emergency_stop or (state is TradingState.REDUCING and controls.paused):
            return
        reason = result.trading_state_reason
        mode = self.desk.mode.value
        notifications.once(
            NotificationKind.CIRCUIT_BREAKER,
            f"{state.value}: {re.sub(r'[-0-9.,%$]+', '#', reason)}",
            result.ts,
            f"Smart 0DTE {mode}: circuit breaker, {state.value}",
            f"{mode} trading is {state.value} at {ny_time(result.ts)}: {reason}. "
            f"{STATE_MEANING[state].capitalize()}.",
        )

    def _limit_breaches(self, verdicts: Sequence[Verdict], ts: datetime) -> None:
        """Each account limit that refused an entry, once per limit and day."""
        notifications = self.desk.notifications
        if notifications is None:
            return
        mode = self.desk.mode.value
        for v in verdicts:
            for violation in v.verdict.violations:
                if violation.rule not in LIMIT_RULES:
                    continue
                notifications.once(
                    NotificationKind.LIMIT_BREACH,
                    violation.rule.value,
                    ts,
                    f"Smart 0DTE {mode}: limit {violation.rule.value} reached",
                    f"{mode}: an entry ({v.signal.underlying.value} {v.signal.strategy}) was refused at "
                    f"{ny_time(ts)} by {violation}. Further refusals by this limit today are not sent.",
                )

    def _already_observed(self, envelope: Envelope, ts: datetime, session_date: date) -> SignalsResult:
        if envelope.cursor_ts == ts and envelope.observed is not None:
            return SignalsResult.model_validate({**envelope.observed, "duplicate": True})
        last = envelope.observed or {}
        at = envelope.cursor_ts.isoformat() if envelope.cursor_ts else "?"
        return SignalsResult(
            mode=self.desk.mode,
            ts=ts,
            session_date=session_date,
            candidates=[],
            trading_state=last.get("trading_state", "ACTIVE"),
            trading_state_reason=f"stale: the engine is at {at}",
            open_positions=int(last.get("open_positions", 0)),
            unexited_positions=int(last.get("unexited_positions", 0)),
            stale=True,
        )

    # --- Risk -------------------------------------------------------------------------------------

    def risk(self, event: SignalsResult) -> dict[str, Any]:
        return self.desk.retrying(lambda: self._risk(event).model_dump(mode="json"))

    def _risk(self, event: SignalsResult) -> RiskResult:
        desk = self.desk
        ts = event.ts
        session = desk.session(event.session_date)
        inputs = desk.inputs()
        envelope = desk.load(event.session_date, session, inputs)
        self._require_minute(envelope, ts, "risk")
        if envelope.phase in (CyclePhase.ASSESSED, CyclePhase.EXECUTED) and envelope.assessment is not None:
            return RiskResult.model_validate({**envelope.assessment, "duplicate": True})
        observed = SignalsResult.model_validate(envelope.observed)
        if [s.model_dump(mode="json") for s in event.candidates] != [
            s.model_dump(mode="json") for s in observed.candidates
        ]:
            raise OutOfOrder(
                f"risk at {ts.isoformat()}: the event's candidates "
                f"{[s.signal_id for s in event.candidates]} are not those Signals observed "
                f"{[s.signal_id for s in observed.candidates]}"
            )
        day = desk.market.known_day(event.session_date, ts)
        engine = desk.restore(envelope, session, inputs, day)
        assessment = engine.assess(observed.candidates, ts)
        result = RiskResult(
            mode=desk.mode,
            ts=ts,
            session_date=event.session_date,
            intents=[PlannedEntryWire.model_validate(p.to_wire()) for p in assessment.intents],
            verdicts=[
                RiskDecisionWire(
                    signal_id=v.signal.signal_id,
                    approved=v.verdict.approved,
                    rules=list(v.verdict.rules),
                    contract=v.contract.occ_symbol if v.contract else None,
                    quantity=v.quantity,
                )
                for v in assessment.verdicts
            ],
        )
        envelope.phase = CyclePhase.ASSESSED
        envelope.assessment = result.model_dump(mode="json")
        desk.commit(envelope, engine, risk_records(assessment.verdicts, ts, "risk"))
        self._limit_breaches(assessment.verdicts, ts)
        return result

    # --- Execute ----------------------------------------------------------------------------------

    def execute(self, event: RiskResult, run_one: RunOne | None = None) -> dict[str, Any]:
        """Each approved intent through `run_one` (default: `execute_one` itself)."""
        run = run_one or self.execute_one
        outcomes: list[OrderOutcome] = []
        open_positions = 0
        for planned in event.intents:
            item = {
                "mode": event.mode.value,
                "ts": event.ts.isoformat(),
                "session_date": event.session_date.isoformat(),
                **planned.model_dump(mode="json"),
            }
            done = dict(run(item=item))
            open_positions = int(done.pop("open_positions", open_positions))
            outcomes.append(OrderOutcome.model_validate(done))
        result = ExecuteResult(
            mode=event.mode,
            ts=event.ts,
            session_date=event.session_date,
            orders=outcomes,
            open_positions=open_positions,
        )
        return result.model_dump(mode="json")

    def execute_one(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """Submit one approved intent, once: a second call returns the first outcome."""
        planned_wire = PlannedEntryWire.model_validate({k: item[k] for k in ("intent", "quote", "strategy")})
        ts = datetime.fromisoformat(str(item["ts"]))
        return self.desk.retrying(lambda: self._execute_one(planned_wire, ts))

    def _execute_one(self, planned_wire: PlannedEntryWire, ts: datetime) -> dict[str, Any]:
        desk = self.desk
        intent = planned_wire.intent
        if intent.mode is not desk.mode:
            raise OutOfOrder(
                f"intent {intent.intent_id} is {intent.mode.value}; this is the {desk.mode.value} desk"
            )
        session_date = new_york_date(ts)
        session = desk.session(session_date)
        inputs = desk.inputs()
        envelope = desk.load(session_date, session, inputs)
        done = envelope.executed.get(intent.intent_id)
        if done is not None:
            return {**done, "duplicate": True}
        self._require_minute(envelope, ts, "execute")
        approved = [p["intent"]["intent_id"] for p in (envelope.assessment or {}).get("intents", [])]
        if (
            envelope.phase not in (CyclePhase.ASSESSED, CyclePhase.EXECUTED)
            or intent.intent_id not in approved
        ):
            raise OutOfOrder(
                f"execute at {ts.isoformat()}: intent {intent.intent_id} was not approved by risk"
            )
        stored = next(
            p for p in (envelope.assessment or {})["intents"] if p["intent"]["intent_id"] == intent.intent_id
        )
        if PlannedEntryWire.model_validate(stored) != planned_wire:
            raise OutOfOrder(f"execute: intent {intent.intent_id} differs from the one risk approved")
        engine = desk.restore(envelope, session, inputs)
        executed = engine.execute([PlannedEntry(intent, planned_wire.quote, planned_wire.strategy)], ts)
        orders = [o for o in executed.effects.orders if o.intent_id == intent.intent_id]
        last = orders[-1]
        outcome = {
            "intent_id": intent.intent_id,
            "order_id": qualified(session_date, last.order_id),
            "status": last.status.value,
            "filled_quantity": last.filled_quantity,
            "fills": len(executed.effects.fills),
            "sent_to_broker": any(isinstance(c, PlaceOrder) for c in executed.effects.commands),
            "duplicate": False,
        }
        envelope.executed[intent.intent_id] = outcome
        if set(approved) <= set(envelope.executed):
            envelope.phase = CyclePhase.EXECUTED
        desk.commit(envelope, engine, effect_records(executed.effects, session_date, "execute"))
        return {**outcome, "open_positions": executed.open_positions}

    # --- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _require_minute(envelope: Envelope, ts: datetime, step: str) -> None:
        if envelope.cursor_ts != ts:
            at = envelope.cursor_ts.isoformat() if envelope.cursor_ts else "no minute yet"
            raise OutOfOrder(f"{step} for {ts.isoformat()}, but the engine has observed {at} last")
