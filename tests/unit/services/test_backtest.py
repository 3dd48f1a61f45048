"""Backtests end to end over simulated days: limits, determinism, look-ahead, parallelism, data paths."""

import json
from dataclasses import replace
from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest

from smart0dte.cli import main
from smart0dte.commands.backtest import summary_lines
from smart0dte.domain.models import CONTRACT_MULTIPLIER, DomainError
from smart0dte.domain.portfolio import usd_text
from smart0dte.domain.simulator import Scenario
from smart0dte.services.backtest import Account, BacktestReport, BacktestRequest, report_to_wire, run_backtest

WEEK = (date(2025, 3, 10), date(2025, 3, 14))


@pytest.fixture(scope="module")
def week_run() -> BacktestReport:
    return run_backtest(BacktestRequest(start=WEEK[0], end=WEEK[1], scenario=Scenario.TREND_UP, seed=7))


@pytest.fixture(scope="module")
def week_report(week_run: BacktestReport) -> dict[str, object]:
    return report_to_wire(week_run)


def test_report_has_every_section_and_ends_every_day_flat(week_report: dict[str, object]) -> None:
    assert {"days", "trades", "decisions", "metrics", "max_open_positions", "open_positions_at_close"} <= set(
        week_report
    )
    days = week_report["days"]
    assert [d["date"] for d in days] == ["2025-03-10", "2025-03-11", "2025-03-12", "2025-03-13", "2025-03-14"]
    assert all(d["synthetic"] for d in days)
    assert week_report["open_positions_at_close"] == 0
    assert 1 <= week_report["max_open_positions"] <= 5
    trades = week_report["trades"]
    assert trades, "a trending week should trade"
    for trade in trades:
        assert trade["exit_reason"] in {"STOP_LOSS", "TAKE_PROFIT", "TRAILING_STOP", "TIME_EXIT"}
        assert trade["exit_time"][11:16] <= "15:50"  # flat by the flatten time (times are New York)
    kinds = {d["kind"] for d in week_report["decisions"]}
    assert {"signal", "risk", "order", "fill", "protect"} <= kinds
    for decision in week_report["decisions"]:
        if decision["kind"] == "risk" and not decision["approved"]:
            assert decision["rules"] and decision["violations"]


def test_the_report_states_the_execution_model(
    week_run: BacktestReport, week_report: dict[str, object]
) -> None:
    execution = week_report["execution"]
    assert execution["latency_s"] == 1.0 and execution["max_quote_age_s"] == 90.0
    assert execution["fills"] == "from the first snapshot sampled after submission + latency"
    assert (execution["minimum_per_order_usd"], execution["commission_tiers"][0]) == (
        "1.00",
        ["0.10", "0.65"],
    )
    assert execution["finra_taf_per_contract_sold_usd"] == "0.00279"
    assert summary_lines(week_run)[0] == (
        "execution: latency 1 s: fills from the next snapshot; quotes older than 90 s unused; commission "
        "$0.65/0.50/0.25 a contract by premium, at least $1.00 an order; fees $0.04395 a contract "
        "($0.04674 sold)"
    )


def test_pnl_is_net_of_fees_everywhere_with_the_gross_beside(
    week_run: BacktestReport, week_report: dict[str, object]
) -> None:
    trades = week_report["trades"]
    fees = sum(Decimal(t["commissions"]) for t in trades)
    assert fees > 0
    for t in trades:  # gross from the prices, net = gross - fees
        gross = (Decimal(t["exit_price"]) - Decimal(t["entry_price"])) * t["quantity"] * CONTRACT_MULTIPLIER
        assert Decimal(t["gross_pnl"]) == gross
        assert Decimal(t["net_pnl"]) == gross - Decimal(t["commissions"])
    net = sum(Decimal(t["net_pnl"]) for t in trades)
    days = week_report["days"]
    curve = week_report["equity_curve"]
    assert sum(Decimal(d["net_pnl"]) for d in days) == net == Decimal(curve[-1]) - Decimal(curve[0])
    assert sum(Decimal(d["commissions"]) for d in days) == fees
    metrics = week_report["metrics"]
    assert Decimal(str(metrics["net_pnl_usd"])) == net
    assert Decimal(str(metrics["commissions_usd"])) == fees
    assert Decimal(str(metrics["gross_pnl_usd"])) == net + fees
    text = "\n".join(summary_lines(week_run))
    assert f"net P&L {usd_text(net)} (gross {usd_text(net + fees)}, fees {usd_text(fees)})" in text
    for d in days:  # each day's net figure in the one money format
        assert f"{usd_text(Decimal(d['net_pnl'])):>12}  {usd_text(Decimal(d['commissions'])):>10}" in text


def test_replay_is_byte_for_byte_deterministic(week_report: dict[str, object]) -> None:
    again = report_to_wire(
        run_backtest(BacktestRequest(start=WEEK[0], end=WEEK[1], scenario=Scenario.TREND_UP, seed=7))
    )
    assert json.dumps(again) == json.dumps(week_report)


def test_two_workers_give_the_same_days(week_report: dict[str, object]) -> None:
    request = BacktestRequest(start=WEEK[0], end=WEEK[1], scenario=Scenario.TREND_UP, seed=7, workers=2)
    assert json.dumps(report_to_wire(run_backtest(request))["days"]) == json.dumps(week_report["days"])


def test_data_until_changes_no_decision_before_the_cut() -> None:
    # days run independently: carried, a cut changes what later days inherit (equity, so sizes)
    cut = time(12, 0)
    request = BacktestRequest(
        start=WEEK[0], end=WEEK[1], scenario=Scenario.TREND_UP, seed=7, account=Account.PER_DAY
    )
    week_report = report_to_wire(run_backtest(request))
    cut_report = report_to_wire(run_backtest(replace(request, data_until=cut)))

    def before_cut(report: dict[str, object]) -> list[object]:
        return [d for d in report["decisions"] if d["ts"][11:16] < "12:00"]  # times are New York

    assert before_cut(week_report), "the week has decisions before noon"
    assert before_cut(cut_report) == before_cut(week_report)


def test_dbn_folders_and_the_simulator_give_the_same_backtest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "data",
                "generate",
                "--start",
                "2025-03-12",
                "--end",
                "2025-03-13",
                "--out",
                str(tmp_path),
                "--scenario",
                "trend_up",
                "--seed",
                "7",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "backtest",
                "--start",
                "2025-03-12",
                "--end",
                "2025-03-13",
                "--data-dir",
                str(tmp_path),
                "--json",
            ]
        )
        == 0
    )
    from_files = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "backtest",
                "--start",
                "2025-03-12",
                "--end",
                "2025-03-13",
                "--scenario",
                "trend_up",
                "--seed",
                "7",
                "--json",
            ]
        )
        == 0
    )
    simulated = json.loads(capsys.readouterr().out)
    assert from_files["decisions"] == simulated["decisions"]
    assert from_files["trades"] == simulated["trades"]


def test_bad_requests_name_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DomainError, match="workers=0"):
        BacktestRequest(start=WEEK[0], end=WEEK[1], workers=0)
    with pytest.raises(DomainError, match="is after end"):
        BacktestRequest(start=WEEK[1], end=WEEK[0])
    with pytest.raises(SystemExit):
        main(["backtest", "--start", "2025-03-10", "--end", "2025-03-14", "--data-until", "25:00"])
    assert "--data-until='25:00' must be a New York time as HH:MM" in capsys.readouterr().err
    assert main(["backtest", "--start", "2025-03-15", "--end", "2025-03-16"]) == 2
    assert "no NYSE session" in capsys.readouterr().err


def test_demo_replays_a_day_and_ends_flat(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--in-process"]) == 0
    out = capsys.readouterr().out
    assert "SIGNAL" in out and "why:" in out and "risk:" in out
    assert "Open positions at the close: 0" in out
