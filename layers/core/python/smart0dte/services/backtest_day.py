"""The backtest workflow's two actions: one session (`day`, a Distributed Map item) and the report
that combines them (`aggregate`).

`day` runs `services.backtest.run_day`, the same code `smart0dte backtest` runs, on the session
the request would give it (simulated days chain their opening levels from the request's start, as
a local backtest does; archived days are copied from the archive bucket). It writes the day's full
outcome (decisions included) to the reports bucket and returns a compact summary, so a long Map
stays inside Step Functions' payload limits. `aggregate` adds the days' P&L into the equity curve,
computes the metrics and writes the report (the days, every trade, the metrics; net of fees). Either
action that raises first writes its reason, in words, where the run's status reads it.

Each day starts from the request's capital, so days are independent (the PDT rule across days is
not applied here; run `smart0dte backtest` locally for accounts under the PDT threshold).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from smart0dte.domain.analytics import performance
from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.models import DomainError
from smart0dte.domain.portfolio import trade_from_wire, trade_to_wire
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
        if run is None:
            return
        """Write why the run failed (the session, or None for the aggregate) where its status reads
        it: the workflow's own cause only says that a day failed."""
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
                root = Path(scratch)
                request = self._request(wire, self._download_archive(event.date, root))
                outcome = backtest.run_day(backtest.DayJob(event.date, request, None))
        else:
            request = self._request(wire, None)
            sessions = MarketCalendar().sessions_between(wire.start, event.date)
            (job,) = [j for j in backtest._jobs(request, sessions) if j.session_date == event.date]
            outcome = backtest.run_day(job)
        rid = request_id(wire)
        key = f"{BACKTESTS_PREFIX}{rid}/days/{event.date.isoformat()}.json"
        full = {
            "date": event.date.isoformat(),
            "synthetic": outcome.synthetic,
            "net_pnl_usd": str(outcome.pnl_usd),
            "commissions_usd": str(outcome.commissions_usd),
            "trades": [trade_to_wire(t) for t in outcome.trades],
            "decisions": [{"ts": d.ts.isoformat(), "kind": d.kind, **d.detail} for d in outcome.decisions],
            "max_open_positions": outcome.max_open_positions,
            "open_positions_at_close": outcome.open_positions_at_close,
            "incidents": list(outcome.incidents),
        }
        self.reports.put_bytes(key, json.dumps(full, sort_keys=True).encode())
        return {
            "date": event.date.isoformat(),
            "net_pnl_usd": str(outcome.pnl_usd),
            "commissions_usd": str(outcome.commissions_usd),
            "trades": full["trades"],
            "decisions": len(outcome.decisions),
            "max_open_positions": outcome.max_open_positions,
            "open_positions_at_close": outcome.open_positions_at_close,
            "incidents": list(outcome.incidents),
            "report_key": key,
        }

    def _aggregate(self, event: BacktestAggregateEvent) -> dict[str, Any]:
        days = sorted(event.results, key=lambda r: str(r.get("date")))
        for i, result in enumerate(days):
            for name in ("date", "net_pnl_usd", "trades"):
                if name not in result:
                    raise DomainError(f"results[{i}] has no {name!r}: is it a backtest_day result?")
        start_equity = Decimal(event.request.starting_equity_usd)
        equity = [start_equity]
        for result in days:
            equity.append(equity[-1] + Decimal(str(result["net_pnl_usd"])))
        trades = [trade_from_wire(t) for result in days for t in result["trades"]]
        metrics = performance(equity, trades)
        rid = request_id(event.request)
        key = f"{BACKTESTS_PREFIX}{rid}/report.json"
        report = {
            "request": event.request.model_dump(mode="json"),
            "days": [
                {
                    k: r[k]
                    for k in (
                        "date",
                        "net_pnl_usd",
                        "commissions_usd",
                        "max_open_positions",
                        "open_positions_at_close",
                        "report_key",
                    )
                    if k in r
                }
                | {"trades": len(r["trades"])}
                for r in days
            ],
            "trades": [trade_to_wire(t) for t in trades],
            "equity_curve": [str(e) for e in equity],
            "metrics": {
                "total_return": metrics.total_return,
                "sharpe": metrics.sharpe,
                "max_drawdown": metrics.drawdown.max_fraction,
                "trades": metrics.trades.trades,
                "win_rate": metrics.trades.win_rate,
                "net_pnl_usd": metrics.trades.net_pnl_usd,
                "commissions_usd": metrics.trades.commissions_usd,
                "gross_pnl_usd": metrics.trades.gross_pnl_usd,
            },
            "open_positions_at_close": sum(int(r.get("open_positions_at_close", 0)) for r in days),
            "incidents": [i for r in days for i in r.get("incidents", [])],
        }
        self.reports.put_bytes(key, json.dumps(report, indent=1, sort_keys=True).encode())
        return {
            "report_key": key,
            "days": len(days),
            "trades": len(trades),
            "net_pnl_usd": str(equity[-1] - start_equity),
            "commissions_usd": str(sum((t.commissions_usd for t in trades), Decimal("0.00"))),
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
