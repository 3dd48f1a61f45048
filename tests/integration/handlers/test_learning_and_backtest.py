"""learning retrains on the archive bucket's DBN days and asks the registry to promote; backtest_day
prepares one session per Distributed Map item and its aggregate runs the engine over them in order,
carrying the account, as `smart0dte backtest` would."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.adapters.databento.dbn_writer import write_simulated_day
from smart0dte.bootstrap.runtime import runtime
from smart0dte.domain.models import OptionContract, TradingMode
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.ml.walk_forward import WalkForwardConfig
from smart0dte.resources import ARCHIVE_BUCKET, MODELS_BUCKET, REPORTS_BUCKET
from smart0dte.services.backtest import BacktestRequest, report_to_wire, run_backtest
from smart0dte.services.learning import Learning

from .conftest import REGION, Context, load_handler

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def keys(aws: Provisioned, bucket: str) -> list[str]:
    s3 = boto3.client("s3", region_name=REGION)
    return [o["Key"] for o in s3.list_objects_v2(Bucket=aws.buckets[bucket]).get("Contents", [])]


def test_learning_with_too_few_archived_days_trains_nothing(aws: Provisioned) -> None:
    result = load_handler("learning").handler(
        {"schedule": "learning_weekday", "scheduled_time": "2025-03-14T21:00:00Z"}, Context()
    )

    assert result == {
        "mode": "paper",
        "session_date": "2025-03-14",
        "trained": False,
        "promoted": False,
        "reason": "0 archived session(s) up to 2025-03-14; walk-forward needs 30: nothing trained, "
        "the promoted model is unchanged",
        "optimization": {
            "written": False,
            "reason": "0 archived session(s) up to 2025-03-14; the parameter optimization needs 25: "
            "nothing written",
        },
    }
    assert keys(aws, MODELS_BUCKET.logical_name) == []
    assert keys(aws, REPORTS_BUCKET.logical_name) == []


def test_learning_trains_on_the_archive_and_records_the_promotion_decision(
    aws: Provisioned, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    sessions = [date(2025, 3, d) for d in (10, 11, 12, 13)]
    for simulated in MarketSimulator().days(sessions, seed=3, scenario=Scenario.NORMAL):
        folder = write_simulated_day(simulated, tmp_path)
        for path in folder.iterdir():
            key = f"{folder.name}/{path.name}"
            s3.put_object(Bucket=aws.buckets[ARCHIVE_BUCKET.logical_name], Key=key, Body=path.read_bytes())
    handler = load_handler("learning")

    def small(mode: TradingMode) -> Learning:
        rt = runtime(mode)
        config = WalkForwardConfig(train_sessions=2, validation_sessions=1, test_sessions=1)
        return Learning(
            rt.bucket("archive"),
            rt.bucket("models"),
            rt.bucket("reports"),
            rt.notifications,
            rt.clock,
            rt.open_archive,
            walk_forward=config,
            trees=10,
        )

    monkeypatch.setattr(handler, "build_service", small)

    result = handler.handler({"mode": "paper", "session_date": "2025-03-14"}, Context())

    assert result["trained"] is True and len(result["version"]) == 64
    models = keys(aws, MODELS_BUCKET.logical_name)
    assert f"direction/versions/{result['version']}.json" in models
    assert any(k.startswith("direction/decisions/") for k in models)
    assert ("direction/promoted.json" in models) is result["promoted"]
    report = json.loads(
        s3.get_object(Bucket=aws.buckets[REPORTS_BUCKET.logical_name], Key=result["report_key"])[
            "Body"
        ].read()
    )
    assert report["source"] == "archive 2025-03-10..2025-03-13 (4 sessions)"
    assert report["promotion"]["candidate"] == result["version"]
    assert result["optimization"]["written"] is False  # 4 sessions: too few for a 20 + 5 fold
    assert not any(k.startswith("optimization/") for k in keys(aws, REPORTS_BUCKET.logical_name))


def test_backtest_days_and_their_aggregate_match_the_local_backtest(aws: Provisioned) -> None:
    # a small account: day 1's day trades and loss bind day 2 only when the account carries
    request = {
        "start": "2025-03-10",
        "end": "2025-03-11",
        "scenario": "gap_down",
        "seed": 7,
        "starting_equity_usd": "25100",
    }
    handler = load_handler("backtest_day")

    days = [
        handler.handler({"action": "day", "date": day, "request": request}, Context())
        for day in ("2025-03-11", "2025-03-10")  # the Map's items finish in any order
    ]
    aggregate: dict[str, Any] = handler.handler(
        {"action": "aggregate", "request": request, "results": days}, Context()
    )

    local = report_to_wire(
        run_backtest(
            BacktestRequest(
                start=date(2025, 3, 10),
                end=date(2025, 3, 11),
                scenario=Scenario.GAP_DOWN,
                seed=7,
                starting_equity_usd=Decimal("25100"),
            )
        )
    )
    assert local["account"] == "carried"
    signals = [d for d in local["decisions"] if d["kind"] == "signal"]  # type: ignore[union-attr]
    assert sum(d["signals"] for d in days) == len(signals) > 0
    reports = keys(aws, REPORTS_BUCKET.logical_name)
    assert aggregate["report_key"] in reports and all(d["prepared_key"] in reports for d in days)
    report = json.loads(
        boto3.client("s3", region_name=REGION)
        .get_object(Bucket=aws.buckets[REPORTS_BUCKET.logical_name], Key=aggregate["report_key"])["Body"]
        .read()
    )
    assert report["account"] == "carried"
    assert [d["net_pnl_usd"] for d in report["days"]] == [d["net_pnl"] for d in local["days"]]  # type: ignore[index]
    assert [d["start_equity_usd"] for d in report["days"]] == [d["start_equity"] for d in local["days"]]  # type: ignore[index]
    contracts = [OptionContract.model_validate(t["contract"]).occ_symbol for t in report["trades"]]
    assert contracts == [t["contract"] for t in local["trades"]]  # type: ignore[union-attr]
    assert report["refused_entries"] == {
        rule: {k: r[k] for k in ("signals", "days", "first_date")}
        for rule, r in local["refused_entries"].items()  # type: ignore[union-attr]
    }
    for name in ("max_drawdown_eod", "max_drawdown_intraday", "drawdown_limit"):
        assert report["metrics"][name] == local["metrics"][name]  # type: ignore[index]
    assert aggregate["days"] == 2 and aggregate["trades"] == len(local["trades"])  # type: ignore[arg-type]
    assert Decimal(aggregate["net_pnl_usd"]) == Decimal(local["equity_curve"][-1]) - Decimal("25100")  # type: ignore[index]
    fees = sum(Decimal(t["commissions"]) for t in local["trades"])  # type: ignore[union-attr]
    assert fees > 0 and Decimal(aggregate["commissions_usd"]) == fees
    for day in report["days"]:
        assert day["report_key"] in keys(aws, REPORTS_BUCKET.logical_name)
    with pytest.raises(ValueError, match=r"date=2025-03-14 is outside the request's 2025-03-10..2025-03-11"):
        handler.handler({"action": "day", "date": "2025-03-14", "request": request}, Context())
