"""`smart0dte train`: walk-forward validation of the direction model, its artifact, and promotion.

Without --data-dir the sessions come from the simulator, cycling through every scenario (or one
--scenario for all). With --registry DIR the artifact is saved in that folder's model registry,
and with --promote it replaces the promoted model only if its walk-forward scores beat it (see
`ml.registry`); the decision and its reason are recorded either way.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from smart0dte.bootstrap import files
from smart0dte.commands.args import (
    ProgressBar,
    check_range,
    date_arg,
    missing_sessions_text,
    scenario_arg,
    seed_arg,
)
from smart0dte.domain.models import DomainError
from smart0dte.domain.simulator import DEFAULT_SEED
from smart0dte.ml.dataset import DEFAULT_HORIZON_MINUTES, MAX_HORIZON_MINUTES, SessionData, build_dataset
from smart0dte.ml.metrics import Scores
from smart0dte.ml.model import ModelParams
from smart0dte.ml.pipeline import TrainingResult, train_direction_model
from smart0dte.ml.registry import ModelRegistry, PromotionDecision
from smart0dte.ml.sessions import (
    archived_dates,
    archived_sessions,
    describe_simulated,
    session_dates,
    simulated_sessions,
)
from smart0dte.ml.walk_forward import WalkForwardConfig

RULES_ONLY_NOTICE = "No model is promoted: the system trades on the rule strategies alone."


def _bounded_int(flag: str, low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{flag}={text!r} must be an integer within {low}..{high}")
        return value

    return parse


def _fmt(value: float | None, pattern: str = ".4f") -> str:
    return "n/a" if value is None else format(value, pattern)


def _score_line(label: str, s: Scores) -> str:
    return (
        f"{label:<28} {s.rows:>7} {_fmt(s.accuracy, '.3f'):>6} {_fmt(s.log_loss):>8} "
        f"{_fmt(s.baseline_log_loss):>8} {_fmt(s.auc):>7} {_fmt(s.calibration_error):>7}"
    )


def summary_lines(result: TrainingResult, wire: dict[str, object]) -> list[str]:
    """A readable account of a training run."""
    report = result.report
    data = wire["data"]
    assert isinstance(data, dict)
    lines = [
        f"{data['sessions']} sessions {data['start']}..{data['end']} ({data['source']}), "
        f"{data['rows']} examples, up rate {_fmt(data['up_rate'], '.3f')}, "
        f"horizon {report.horizon_minutes} min",
        "",
        f"{'walk-forward test window':<28} {'rows':>7} {'acc':>6} {'logloss':>8} {'base':>8} "
        f"{'AUC':>7} {'ECE':>7}",
    ]
    for fold in report.folds:
        test = fold.fold.test
        label = f"fold {fold.fold.index} {test.start_date:%m-%d}..{test.end_date:%m-%d}"
        lines.append(_score_line(label, fold.test) + f"  trees {fold.best_iteration}")
    lines.append(_score_line("all folds", report.overall))
    for regime, scores in report.per_regime.items():
        lines.append(_score_line(f"  regime {regime}", scores))
    lines += ["", "calibration (forecast -> observed up rate):"]
    for b in report.calibration:
        if b.count:
            lines.append(
                f"  {b.low:.1f}-{b.high:.1f}: {b.count:>6} forecasts, mean {_fmt(b.mean_probability, '.3f')} "
                f"-> {_fmt(b.observed_up_rate, '.3f')}"
            )
    artifact = wire["artifact"]
    promotion = wire["promotion"]
    assert isinstance(artifact, dict) and isinstance(promotion, dict)
    lines += [
        "",
        f"model {artifact['content_hash']} ({artifact['bytes']} bytes, {artifact['trees']} trees)",
        f"saved: {artifact['saved_as'] or 'no (pass --registry DIR to keep it)'}",
        f"promoted: {'yes' if promotion['promoted'] else 'no'} - {promotion['reason']}",
    ]
    if not wire["model_promoted"]:
        lines.append(RULES_ONLY_NOTICE)
    return lines


def _sessions(args: argparse.Namespace) -> tuple[int, Iterator[SessionData], str]:
    if args.data_dir is not None:
        archive = files.dbn_folder(args.data_dir)
        dates, missing = archived_dates(archive, args.start, args.end)
        if missing:
            print(
                f"note: {archive.describe()}: {missing_sessions_text(missing, args.start, args.end)}; "
                f"training on the {len(dates)} it holds",
                file=sys.stderr,
            )
        return len(dates), archived_sessions(archive, dates), archive.describe()
    dates = session_dates(args.start, args.end)
    return (
        len(dates),
        simulated_sessions(dates, args.seed, args.scenario),
        describe_simulated(args.seed, args.scenario),
    )


def _run(args: argparse.Namespace) -> int:
    check_range(args.start, args.end)
    if args.promote and args.registry is None:
        raise DomainError("--promote needs --registry DIR (the registry to promote in)")
    config = WalkForwardConfig(
        train_sessions=args.train_sessions,
        validation_sessions=args.validation_sessions,
        test_sessions=args.test_sessions,
    )
    params = ModelParams(trees=args.trees)
    total, sessions, source = _sessions(args)
    if total < config.fold_sessions:
        raise DomainError(
            f"{total} session(s) between --start and --end; walk-forward needs at least "
            f"{config.fold_sessions} (--train-sessions + --validation-sessions + --test-sessions)"
        )
    bar = ProgressBar(total, sys.stderr)

    def progressed() -> Iterator[SessionData]:
        for done, data in enumerate(sessions, start=1):
            bar.update(done, data.day.session_date.isoformat())
            yield data

    dataset = build_dataset(progressed(), args.horizon_minutes)
    bar.close()
    result = train_direction_model(dataset, source, config, params, args.seed)

    saved_as: str | None = None
    if args.registry is not None:
        registry = ModelRegistry(files.folder_store(args.registry))
        saved_as = registry.save(result.artifact)
        if args.promote:
            decision = registry.promote(result.artifact, datetime.now(UTC))
        else:
            decision = registry.judge(result.artifact)
        model_promoted = registry.promoted_version() is not None
    else:
        decision = PromotionDecision(
            False, "no registry (--registry DIR) to compare with", result.artifact.version, None, None, None
        )
        model_promoted = False
    wire = training_report_to_wire(result, source, saved_as, decision, args.promote, model_promoted)
    if args.json:
        print(json.dumps(wire, indent=1))
    else:
        print("\n".join(summary_lines(result, wire)))
    return 0


def training_report_to_wire(
    result: TrainingResult,
    source: str,
    saved_as: str | None,
    decision: PromotionDecision,
    promote_requested: bool,
    model_promoted: bool,
) -> dict[str, object]:
    """The JSON of `smart0dte train --json`."""
    artifact = result.artifact
    reason = decision.reason
    if not promote_requested and decision.candidate_scores is not None:
        verdict = "would be promoted" if decision.promoted else "would be refused"
        reason = f"not requested (--promote); it {verdict}: {decision.reason}"
    walk = artifact.metadata["walk_forward"]
    return {
        "data": artifact.metadata["data"],
        "horizon_minutes": artifact.horizon_minutes,
        "walk_forward": walk,
        "final_model": artifact.metadata["final_model"],
        "artifact": {
            "content_hash": artifact.content_hash,
            "bytes": len(artifact.to_bytes()),
            "trees": result.final.best_iteration,
            "feature_names": list(artifact.feature_names),
            "calibration": artifact.calibration.to_wire(),
            "saved_as": saved_as,
        },
        "promotion": {
            "requested": promote_requested,
            "promoted": promote_requested and decision.promoted,
            "reason": reason,
            "previous": decision.current,
        },
        "model_promoted": model_promoted,
        "trading": "rules + model" if model_promoted else "rules only (no promoted model)",
        "source": source,
    }


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "train",
        help="train the direction model with walk-forward validation; save and promote it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--start", type=date_arg("--start"), required=True, help="first date, YYYY-MM-DD")
    parser.add_argument("--end", type=date_arg("--end"), required=True, help="last date, YYYY-MM-DD")
    parser.add_argument(
        "--data-dir", type=Path, help="DBN day folders (see `data generate`); default: simulate"
    )
    parser.add_argument(
        "--seed",
        type=seed_arg,
        default=DEFAULT_SEED,
        help=f"simulator and training seed (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--scenario",
        type=scenario_arg,
        default=None,
        help="one shape for every simulated day (default: cycle)",
    )
    parser.add_argument(
        "--horizon-minutes",
        type=_bounded_int("--horizon-minutes", 1, MAX_HORIZON_MINUTES),
        default=DEFAULT_HORIZON_MINUTES,
        help=f"minutes ahead the direction is forecast (default {DEFAULT_HORIZON_MINUTES})",
    )
    parser.add_argument("--train-sessions", type=_bounded_int("--train-sessions", 1, 2000), default=20)
    parser.add_argument(
        "--validation-sessions", type=_bounded_int("--validation-sessions", 1, 500), default=5
    )
    parser.add_argument("--test-sessions", type=_bounded_int("--test-sessions", 1, 500), default=5)
    parser.add_argument(
        "--trees", type=_bounded_int("--trees", 1, 2000), default=200, help="boosting rounds at most"
    )
    parser.add_argument("--registry", type=Path, help="model registry folder (saves the artifact there)")
    parser.add_argument(
        "--promote", action="store_true", help="promote the model if it beats the promoted one"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.set_defaults(run=_run)
