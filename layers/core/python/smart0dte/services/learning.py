"""After the close and on Saturdays: retrain the direction model on the archive, promote only if better,
and run the walk-forward parameter optimization of the rule strategies.

A thin call into `ml`: the last `sessions` archived days up to the event's date are copied from the
archive bucket (`<YYYY-MM-DD>/` DBN folders) to a scratch folder, turned into a dataset, trained
with walk-forward validation, and offered to the registry, which promotes only a model whose
out-of-sample scores beat the promoted one (see `ml.registry`). The walk-forward report goes to
the reports bucket and a one-line summary to the humans (`NotificationKind.LEARNING`). Too few
archived days: nothing is trained and the promoted model stays.

Then, over the newest `optimization.max_sessions` of the same days, `domain.optimization` walks
each rule strategy's parameter grid forward; each strategy's report goes to the reports bucket as
`optimization/<strategy>/latest.json` and `optimization/<strategy>/<YYYY-MM-DD>.json`. It is a
report only: nothing changes the parameters the strategies trade with. Too few archived days for
one fold: nothing is written and the result says why. The two steps need different session
counts, so either may run without the other.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from smart0dte.domain.controls import NotificationKind
from smart0dte.domain.optimization import DEFAULT_SPEC, SearchGrid, SessionInput, WalkForwardSpec, optimize
from smart0dte.ml.walk_forward import DEFAULT_WALK_FORWARD, WalkForwardConfig
from smart0dte.ports import Clock, FolderArchive, ObjectStore
from smart0dte.resources import optimization_key
from smart0dte.services.events import SessionEvent
from smart0dte.services.notifications import Notifications


@dataclass
class Learning:
    archive: ObjectStore
    models: ObjectStore
    reports: ObjectStore
    notifications: Notifications
    clock: Clock
    open_archive: FolderArchive
    """Reads the archive's days once copied to a folder."""
    sessions: int = 60
    """How many archived sessions (the newest up to the event's date) to train on."""
    walk_forward: WalkForwardConfig = field(default_factory=lambda: DEFAULT_WALK_FORWARD)
    seed: int = 0
    trees: int = 200
    optimization: WalkForwardSpec = field(default_factory=lambda: DEFAULT_SPEC)
    """Windows, eligibility and session cap of the parameter optimization."""
    optimization_grids: tuple[SearchGrid, ...] | None = None
    """The grids to search; None: `domain.optimization.DEFAULT_GRIDS`."""

    def learn(self, event: SessionEvent) -> dict[str, Any]:
        dates = self._archived(event.session_date)
        base: dict[str, Any] = {"mode": event.mode.value, "session_date": event.session_date.isoformat()}
        needed = self.walk_forward.fold_sessions
        optimization_dates = dates[-self.optimization.max_sessions :]
        train = len(dates) >= needed
        tune = len(optimization_dates) >= self.optimization.needed
        with tempfile.TemporaryDirectory(prefix="smart0dte-archive-") as scratch:
            root = Path(scratch)
            for day in dates if train or tune else ():
                self._download(day, root)
            if train:
                model = self._train(event, dates, root)
            else:
                reason = (
                    f"{len(dates)} archived session(s) up to {event.session_date.isoformat()}; walk-forward "
                    f"needs {needed}: nothing trained, the promoted model is unchanged"
                )
                model = {"trained": False, "promoted": False, "reason": reason}
            if tune:
                optimization = self._optimize(event, optimization_dates, root)
            else:
                reason = (
                    f"{len(optimization_dates)} archived session(s) up to {event.session_date.isoformat()}; "
                    f"the parameter optimization needs {self.optimization.needed}: nothing written"
                )
                optimization = {"written": False, "reason": reason}
        return {**base, **model, "optimization": optimization}

    def _train(self, event: SessionEvent, dates: list[date], root: Path) -> dict[str, Any]:
        """The model step: train on `dates` (already in `root`), offer to the registry, report."""
        from smart0dte.ml.dataset import build_dataset
        from smart0dte.ml.model import ModelParams
        from smart0dte.ml.pipeline import train_direction_model
        from smart0dte.ml.registry import ModelRegistry
        from smart0dte.ml.sessions import archived_sessions

        dataset = build_dataset(archived_sessions(self.open_archive(root), dates))
        source = f"archive {dates[0].isoformat()}..{dates[-1].isoformat()} ({len(dates)} sessions)"
        result = train_direction_model(
            dataset, source, self.walk_forward, ModelParams(trees=self.trees), self.seed
        )
        decision = ModelRegistry(self.models).promote(result.artifact, self.clock.now())
        key = f"learning/{event.session_date.isoformat()}-{result.artifact.short_version}.json"
        report = {
            "source": source,
            "walk_forward": result.artifact.metadata["walk_forward"],
            "promotion": decision.to_wire(),
        }
        self.reports.put_bytes(key, json.dumps(report, indent=1, sort_keys=True).encode())
        verdict = "promoted" if decision.promoted else "not promoted"
        self.notifications.send(
            NotificationKind.LEARNING,
            f"Smart 0DTE learning {event.session_date.isoformat()}: model {verdict}",
            f"Model {result.artifact.short_version} trained on {source}: {verdict} - {decision.reason}. "
            f"Report {key}",
        )
        return {
            "trained": True,
            "promoted": decision.promoted,
            "version": result.artifact.version,
            "reason": decision.reason,
            "report_key": key,
        }

    def _optimize(self, event: SessionEvent, dates: list[date], root: Path) -> dict[str, Any]:
        """The optimization step over `dates` (already in `root`): one report per strategy."""
        from smart0dte.ml.sessions import archived_sessions

        sessions = (
            SessionInput(s.day, s.session, s.prior_close, s.pricing)
            for s in archived_sessions(self.open_archive(root), dates)
        )
        results = optimize(sessions, self.optimization_grids, self.optimization)
        source = f"archive {dates[0].isoformat()}..{dates[-1].isoformat()} ({len(dates)} sessions)"
        generated_at = self.clock.now().isoformat()
        keys: list[str] = []
        strategies: dict[str, Any] = {}
        for result in results:
            wire = result.to_wire()
            report = {**wire, "source": source, "generated_at": generated_at}
            body = json.dumps(report, indent=1, sort_keys=True).encode()
            name = result.grid.strategy
            for key in (optimization_key(name, event.session_date.isoformat()), optimization_key(name)):
                self.reports.put_bytes(key, body)
                keys.append(key)
            summary = wire["summary"]
            assert isinstance(summary, dict)
            strategies[name] = {
                "recommended_params": summary["recommended_params"],
                "recommended_is_default": summary["recommended_is_default"],
                "beats_defaults": summary["beats_defaults"],
                "out_of_sample_net_pnl_usd": summary["out_of_sample"]["net_pnl_usd"],
                "default_out_of_sample_net_pnl_usd": summary["default_out_of_sample"]["net_pnl_usd"],
            }
        return {"written": True, "applied": False, "source": source, "keys": keys, "strategies": strategies}

    def _archived(self, until: date) -> list[date]:
        days: set[date] = set()
        for key in self.archive.list_keys(""):
            folder = key.split("/", 1)[0]
            try:
                day = date.fromisoformat(folder)
            except ValueError:
                continue
            if day <= until:
                days.add(day)
        return sorted(days)[-self.sessions :]

    def _download(self, day: date, root: Path) -> None:
        prefix = f"{day.isoformat()}/"
        for key in self.archive.list_keys(prefix):
            target = root / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.archive.get_bytes(key))
