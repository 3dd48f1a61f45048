"""After the close and on Saturdays: retrain the direction model on the archive, promote only if better.

A thin call into `ml`: the last `sessions` archived days up to the event's date are copied from the
archive bucket (`<YYYY-MM-DD>/` DBN folders) to a scratch folder, turned into a dataset, trained
with walk-forward validation, and offered to the registry, which promotes only a model whose
out-of-sample scores beat the promoted one (see `ml.registry`). The walk-forward report goes to
the reports bucket and a one-line summary to the alert topic. Too few archived days: nothing is
trained and the promoted model stays.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from smart0dte.ml.walk_forward import DEFAULT_WALK_FORWARD, WalkForwardConfig
from smart0dte.ports import Clock, Notifier, ObjectStore
from smart0dte.services.events import SessionEvent


@dataclass
class Learning:
    archive: ObjectStore
    models: ObjectStore
    reports: ObjectStore
    notifier: Notifier
    clock: Clock
    sessions: int = 60
    """How many archived sessions (the newest up to the event's date) to train on."""
    walk_forward: WalkForwardConfig = field(default_factory=lambda: DEFAULT_WALK_FORWARD)
    seed: int = 0
    trees: int = 200

    def learn(self, event: SessionEvent) -> dict[str, Any]:
        dates = self._archived(event.session_date)
        base: dict[str, Any] = {"mode": event.mode.value, "session_date": event.session_date.isoformat()}
        needed = self.walk_forward.fold_sessions
        if len(dates) < needed:
            reason = (
                f"{len(dates)} archived session(s) up to {event.session_date.isoformat()}; walk-forward "
                f"needs {needed}: nothing trained, the promoted model is unchanged"
            )
            return {**base, "trained": False, "promoted": False, "reason": reason}
        from smart0dte.ml.dataset import build_dataset
        from smart0dte.ml.model import ModelParams
        from smart0dte.ml.pipeline import train_direction_model
        from smart0dte.ml.registry import ModelRegistry
        from smart0dte.ml.sessions import archived_sessions

        with tempfile.TemporaryDirectory(prefix="smart0dte-archive-") as scratch:
            root = Path(scratch)
            for day in dates:
                self._download(day, root)
            dataset = build_dataset(archived_sessions(root, dates))
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
        self.notifier.notify(
            f"Smart 0DTE learning {event.session_date.isoformat()}: model {verdict}",
            f"Model {result.artifact.short_version} trained on {source}: {verdict} - {decision.reason}. "
            f"Report {key}",
        )
        return {
            **base,
            "trained": True,
            "promoted": decision.promoted,
            "version": result.artifact.version,
            "reason": decision.reason,
            "report_key": key,
        }

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
