"""The backtest workflow's two actions: one session prepared (`day`, a Distributed Map item) and
the engine over the prepared sessions in order, carrying the account, with the report (`aggregate`).

The account carries from day to day (see `services.backtest`), so the engine cannot run in the
Map's independent items. `day` does the part of a session that does not depend on the account, in
parallel: it loads the session (simulated days chain their opening levels from the request's start,
as a local backtest does; archived days are copied from the archive bucket), computes its features
and every minute's signals, and writes those signals to the reports bucket. `aggregate` then runs
the engine over the days in order from the request's capital, each from the account the day before
left (the market data is loaded again: simulating a day costs less than storing it), writes each
day's full outcome (decisions included) and the report (the days, every trade, the metrics; net of
fees), the same figures `smart0dte backtest` gives. Either action that raises first writes its
reason, in words, where the run's status reads it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.models import DomainError
from smart0dte.domain.portfolio import trade_to_wire
from smart0dte.domain.signal_tape import SignalTape
from smart0dte.domain.simulator import Scenario
from smart0dte.ports import FolderArchive, HistoricalMarketData, ObjectStore
from smart0dte.resources import BACKTESTS_PREFIX, backtest_failure_key
from smart0dte.services import backtest
from smart0dte.services.events import (
    BacktestAggregateEvent,
    BacktestDayEvent,
    BacktestRequestWire,
    request_id,
)


def prepared_key(rid: str, day: date) -> str:
    """A session's recorded signals (what the run's progress counts)."""
    return f"{BACKTESTS_PREFIX}{rid}/days/{day.isoformat()}.json"


def outcome_key(rid: str, day: date) -> str:
    """A session's full outcome once the aggregate ran it."""
    return f"{BACKTESTS_PREFIX}{rid}/outcomes/{day.isoformat()}.json"


@dataclass
class BacktestDay:
    reports: ObjectStore
    archive: ObjectStore | None = None
    open_archive: FolderArchive | None = None
    """Reads the archive's days once copied to a folder; needed with `archive`."""

    def _request(
        self, wire: BacktestRequestWire, archive: HistoricalMarketData | None
    ) -> backtest.BacktestRequest:
        try:
            scenario = Scenario.parse(wire.scenario)
        except Exception as exc:
            raise DomainError(f"request.scenario={wire.scenario!r}: {exc}") from exc
        until = time.fromisoformat(wire.data_until) if wire.data_until else None
        return backtest.BacktestRequest(
            start=wire.start,
            end=wire.end,
            archive=archive,
            scenario=scenario,
            seed=wire.seed,
            data_until=until,
            starting_equity_usd=Decimal(wire.starting_equity_usd),
        )

    def day(self, event: BacktestDayEvent) -> dict[str, Any]:
        try:
            return self._day(event)
        except Exception as exc:
            self._record_failure(event.run, event.date, exc)
            raise

    def aggregate(self, event: BacktestAggregateEvent) -> dict[str, Any]:
        try:
            return self._aggregate(event)
        except Exception as exc:
            self._record_failure(event.run, None, exc)
            raise

    def _record_failure(self, run: str | None, day: date | None, exc: Exception) -> None:
        """Write why the run failed (the session, or None for the aggregate) where its status reads
        it: the workflow's own cause only says that a day failed."""
        if run is None:
            return
        why = str(exc) or type(exc).__name__
        failure = {"date": None, "reason": f"the report could not be built: {why}"}
        if day is not None:
            failure = {"date": day.isoformat(), "reason": why}
        self.reports.put_bytes(backtest_failure_key(run), json.dumps(failure).encode())

    def _day(self, event: BacktestDayEvent) -> dict[str, Any]:
        wire = event.request
        if not wire.start <= event.date <= wire.end:
            raise DomainError(
                f"date={event.date.isoformat()} is outside the request's {wire.start}..{wire.end}"
            )
        if MarketCalendar().session(event.date) is None:
            raise DomainError(f"date={event.date.isoformat()} is not an NYSE session")
        if wire.source == "archive":
            with tempfile.TemporaryDirectory(prefix="smart0dte-backtest-") as scratch:
                request = self._request(wire, self._download_archive(event.date, Path(scratch)))
                prepared = backtest.prepare_day(backtest.DayJob(event.date, request, None))
        else:
            prepared = backtest.prepare_day(self._simulated_jobs(wire, event.date)[event.date])
        key = prepared_key(request_id(wire), event.date)
        tape = {"date": event.date.isoformat(), "signals": prepared.tape.to_wire()}
        self.reports.put_bytes(key, json.dumps(tape, sort_keys=True).encode())
        return {"date": event.date.isoformat(), "signals": prepared.tape.count, "prepared_key": key}

    def _simulated_jobs(self, wire: BacktestRequestWire, last: date) -> dict[date, backtest.DayJob]:
        """The request's simulated sessions up to `last`, their opening levels chained from its start."""
        request = self._request(wire, None)
        sessions = MarketCalendar().sessions_between(wire.start, last)
        return {j.session_date: j for j in backtest.day_jobs(request, sessions)}

    def _prepared(
        self, wire: BacktestRequestWire, rid: str, day: date, jobs: dict[date, backtest.DayJob]
    ) -> backtest.PreparedDay:
        """The session's market data loaded again, with the signals its Map item recorded."""
        if wire.source == "archive":
            with tempfile.TemporaryDirectory(prefix="smart0dte-backtest-") as scratch:
                request = self._request(wire, self._download_archive(day, Path(scratch)))
                session, market, prior = backtest.market_of(backtest.DayJob(day, request, None))
        else:
            session, market, prior = backtest.market_of(jobs[day])
        recorded = json.loads(self.reports.get_bytes(prepared_key(rid, day)))
        return backtest.PreparedDay(
            session, market, prior, SignalTape.from_wire(recorded["signals"], session)
        )

    def _aggregate(self, event: BacktestAggregateEvent) -> dict[str, Any]:
        results = sorted(event.results, key=lambda r: str(r.get("date")))
        for i, result in enumerate(results):
            if "date" not in result or "prepared_key" not in result:
                raise DomainError(
                    f"results[{i}] has no 'date' or 'prepared_key': is it a backtest_day result?"
                )
        wire = event.request
        rid = request_id(wire)
        dates = [date.fromisoformat(str(r["date"])) for r in results]
        request = self._request(wire, None)
        jobs = self._simulated_jobs(wire, dates[-1]) if wire.source != "archive" and dates else {}
        outcomes: list[backtest.DayOutcome] = []
        window = request.config.limits.pdt_window_sessions
        for day in dates:
            carry = backtest.next_carry(outcomes, window) if outcomes else request.fresh_account()
            outcome = backtest.run_prepared(self._prepared(wire, rid, day, jobs), request.config, carry)
            outcomes.append(outcome)
            full = json.dumps(_outcome_wire(outcome), sort_keys=True).encode()
            self.reports.put_bytes(outcome_key(rid, day), full)
        built = backtest.report_of(request, outcomes)
        metrics = built.metrics
        intraday = metrics.intraday_drawdown.max_fraction if metrics.intraday_drawdown else None
        key = f"{BACKTESTS_PREFIX}{rid}/report.json"
        report = {
            "request": wire.model_dump(mode="json"),
            "account": request.account.value,
            "days": [
                {
                    "date": o.session_date.isoformat(),
                    "net_pnl_usd": str(o.pnl_usd),
                    "commissions_usd": str(o.commissions_usd),
                    "start_equity_usd": str(o.carry_in.equity_usd),
                    "end_equity_usd": str(o.end_equity_usd),
                    "max_open_positions": o.max_open_positions,
                    "open_positions_at_close": o.open_positions_at_close,
                    "report_key": outcome_key(rid, o.session_date),
                    "trades": len(o.trades),
                }
                for o in outcomes
            ],
            "trades": [trade_to_wire(t) for t in built.trades],
            "equity_curve": [str(e) for e in built.daily_equity_usd],
            "metrics": {
                "total_return": metrics.total_return,
                "sharpe": metrics.sharpe,
                "max_drawdown": intraday,
                "max_drawdown_eod": metrics.drawdown.max_fraction,
                "max_drawdown_intraday": intraday,
                "drawdown_limit": backtest.drawdown_limit_wire(request),
                "trades": metrics.trades.trades,
                "win_rate": metrics.trades.win_rate,
                "net_pnl_usd": metrics.trades.net_pnl_usd,
                "commissions_usd": metrics.trades.commissions_usd,
                "gross_pnl_usd": metrics.trades.gross_pnl_usd,
            },
            "refused_entries": {
                rule: {"signals": r.signals, "days": r.days, "first_date": r.first_date.isoformat()}
                for rule, r in backtest.refusals(outcomes).items()
            },
            "open_positions_at_close": sum(o.open_positions_at_close for o in outcomes),
            "incidents": [i for o in outcomes for i in o.incidents],
        }
        self.reports.put_bytes(key, json.dumps(report, indent=1, sort_keys=True).encode())
        start_equity = request.starting_equity_usd
        return {
            "report_key": key,
            "days": len(outcomes),
            "trades": len(built.trades),
            "net_pnl_usd": str(built.daily_equity_usd[-1] - start_equity),
            "commissions_usd": str(sum((t.commissions_usd for t in built.trades), Decimal("0.00"))),
            "total_return": metrics.total_return,
        }

    def _download_archive(self, day: date, root: Path) -> HistoricalMarketData:
        """Copies `day` and the session before it under `root`, and opens them."""
        if self.archive is None or self.open_archive is None:
            raise DomainError("request.source=archive but no archive bucket is wired")
        calendar = MarketCalendar()
        for wanted in (calendar.previous_session(day), day):
            keys = list(self.archive.list_keys(f"{wanted.isoformat()}/"))
            if wanted == day and not keys:
                raise DomainError(
                    f"the archive holds no recorded market data for {day.isoformat()} (nothing under "
                    f"{day.isoformat()}/); choose archived sessions or the simulator"
                )
            for key in keys:
                target = root / key
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(self.archive.get_bytes(key))
        return self.open_archive(root)


def _outcome_wire(outcome: backtest.DayOutcome) -> dict[str, Any]:
    return {
        "date": outcome.session_date.isoformat(),
        "synthetic": outcome.synthetic,
        "start_equity_usd": str(outcome.carry_in.equity_usd),
        "start_peak_equity_usd": str(outcome.carry_in.peak_equity_usd),
        "start_day_trades_in_window": outcome.carry_in.day_trades_in_window,
        "start_consecutive_losses": outcome.carry_in.consecutive_losses,
        "end_equity_usd": str(outcome.end_equity_usd),
        "minute_equity_usd": [str(e) for e in outcome.minute_equity_usd],
        "net_pnl_usd": str(outcome.pnl_usd),
        "commissions_usd": str(outcome.commissions_usd),
        "trades": [trade_to_wire(t) for t in outcome.trades],
        "decisions": [{"ts": d.ts.isoformat(), "kind": d.kind, **d.detail} for d in outcome.decisions],
        "max_open_positions": outcome.max_open_positions,
        "open_positions_at_close": outcome.open_positions_at_close,
        "incidents": list(outcome.incidents),
    }
