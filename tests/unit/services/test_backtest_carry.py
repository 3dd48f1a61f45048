"""The account carries from day to day: a week where day 1's loss must stop day 2's entries (the
drawdown limit and the PDT rule), the same report for any worker count, `--no-carry`'s independent
days, and the drawdown measured on the minute marks as well as at each close.

The figures come from the runs themselves (another change moves fills and fees): each test first
checks that day 1 did what the claim needs, then that the limit binds on day 2 only when carried.
"""

import itertools
import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any, cast

import numpy as np
import pytest

from smart0dte.cli import main
from smart0dte.domain.controls import RiskLimits
from smart0dte.domain.session_engine import EngineConfig
from smart0dte.domain.simulator import Scenario
from smart0dte.services.backtest import (
    Account,
    BacktestReport,
    BacktestRequest,
    DayOutcome,
    backtest_config,
    report_to_wire,
    run_backtest,
)

WEEK = (date(2025, 3, 10), date(2025, 3, 14))
PDT_THRESHOLD_USD = Decimal(str(RiskLimits().pdt_equity_threshold_usd))
SMALL_ACCOUNT_USD = PDT_THRESHOLD_USD + 100
"""Just above the PDT threshold: a losing first day takes it below."""
TIGHT_DRAWDOWN = 0.01
"""Below what the week's first day loses, so the first day halts the account."""


def week(account: Account, workers: int = 1, **fields: Any) -> BacktestReport:
    request = BacktestRequest(
        start=WEEK[0], end=WEEK[1], scenario=Scenario.GAP_DOWN, seed=7, account=account, workers=workers
    )
    return run_backtest(replace(request, **fields))


def tight() -> EngineConfig:
    config = backtest_config()
    return replace(config, limits=config.limits.model_copy(update={"max_drawdown": TIGHT_DRAWDOWN}))


def risk_rules(day: DayOutcome) -> list[list[str]]:
    return [cast(list[str], d.detail["rules"]) for d in day.decisions if d.kind == "risk"]


def approved(day: DayOutcome) -> int:
    return sum(1 for d in day.decisions if d.kind == "risk" and d.detail["approved"])


@pytest.fixture(scope="module")
def small_carried() -> BacktestReport:
    return week(Account.CARRIED, starting_equity_usd=SMALL_ACCOUNT_USD)


@pytest.fixture(scope="module")
def halted_carried() -> BacktestReport:
    return week(Account.CARRIED, config=tight())


def test_day_trades_of_a_losing_day_refuse_the_next_days_entries_below_the_pdt_threshold(
    small_carried: BacktestReport,
) -> None:
    max_day_trades = small_carried.request.config.settings.max_day_trades
    first, second = small_carried.days[0], small_carried.days[1]
    assert first.end_equity_usd < PDT_THRESHOLD_USD <= first.carry_in.equity_usd, "day 1 must cross"
    assert first.day_trades >= max_day_trades
    assert second.carry_in.equity_usd == first.end_equity_usd
    assert second.carry_in.day_trades_in_window == first.day_trades
    rules = risk_rules(second)
    assert rules and all("PATTERN_DAY_TRADER" in r for r in rules)
    assert approved(second) == 0 and not second.trades
    # the window is the four sessions before each day: day 1's entries count until day 5
    window = small_carried.request.config.limits.pdt_window_sessions
    for i, day in enumerate(small_carried.days[1:], start=1):
        earlier = small_carried.days[max(0, i - (window - 1)) : i]
        assert day.carry_in.day_trades_in_window == sum(d.day_trades for d in earlier)

    independent = week(Account.PER_DAY, starting_equity_usd=SMALL_ACCOUNT_USD)
    assert independent.days[0] == small_carried.days[0]
    assert approved(independent.days[1]) > 0 and independent.days[1].trades
    # the report names the rule that stopped the trading and from when
    refused: Any = report_to_wire(small_carried)["refused_entries"]
    assert refused["PATTERN_DAY_TRADER"]["first_date"] == second.session_date.isoformat()
    assert refused["PATTERN_DAY_TRADER"]["signals"] == len(risk_rules(second)) + sum(
        "PATTERN_DAY_TRADER" in r for d in small_carried.days[2:] for r in risk_rules(d)
    )
    assert "PATTERN_DAY_TRADER" not in report_to_wire(independent)["refused_entries"]  # type: ignore[operator]


def test_a_drawdown_halt_on_day_one_refuses_every_entry_of_the_week(halted_carried: BacktestReport) -> None:
    first = halted_carried.days[0]
    assert 1 - min(first.minute_equity_usd) / first.carry_in.equity_usd >= Decimal(str(TIGHT_DRAWDOWN))
    for day in halted_carried.days[1:]:
        assert day.carry_in.peak_equity_usd == first.peak_equity_usd >= first.carry_in.equity_usd
        assert 1 - day.carry_in.equity_usd / day.carry_in.peak_equity_usd >= Decimal(str(TIGHT_DRAWDOWN))
        assert all("MAX_DRAWDOWN" in r for r in risk_rules(day))
        assert approved(day) == 0 and not day.trades
    assert any(risk_rules(d) for d in halted_carried.days[1:]), "the strategies asked on later days"

    independent = week(Account.PER_DAY, config=tight())
    assert sum(len(d.trades) for d in independent.days[1:]) > 0
    # the intraday drawdown stays within the limit plus one trade's risk (the halt flattens)
    metrics = halted_carried.metrics
    assert metrics.intraday_drawdown is not None
    one_trade = halted_carried.request.config.settings.max_risk_per_trade
    assert TIGHT_DRAWDOWN <= metrics.intraday_drawdown.max_fraction <= TIGHT_DRAWDOWN + one_trade


def test_the_losing_streak_and_the_equity_chain_from_day_to_day(halted_carried: BacktestReport) -> None:
    days = halted_carried.days
    for before, after in itertools.pairwise(days):
        assert after.carry_in.equity_usd == before.end_equity_usd
        assert after.carry_in.consecutive_losses == before.consecutive_losses
    streak = 0
    for trade in [t for d in days for t in d.trades]:
        streak = 0 if trade.is_win else streak + 1
    assert days[-1].consecutive_losses == streak
    assert [str(e) for e in halted_carried.daily_equity_usd[1:]] == [str(d.end_equity_usd) for d in days]


def test_the_report_is_the_same_for_one_and_two_workers_across_the_pdt_threshold_and_a_halt() -> None:
    fields = {"starting_equity_usd": SMALL_ACCOUNT_USD, "config": tight()}
    one: Any = report_to_wire(week(Account.CARRIED, workers=1, **fields))
    two = report_to_wire(week(Account.CARRIED, workers=2, **fields))
    rules = {r for d in one["decisions"] if d["kind"] == "risk" for r in d["rules"]}
    assert {"PATTERN_DAY_TRADER", "MAX_DRAWDOWN"} <= rules, "the range must cross both"
    assert json.dumps(one) == json.dumps(two)


def test_no_carry_starts_every_day_fresh_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["backtest", "--start", "2025-03-10", "--end", "2025-03-11", "--scenario", "gap_down", "--json"]
    assert main([*args, "--no-carry", "--workers", "2"]) == 0
    per_day = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    carried = json.loads(capsys.readouterr().out)
    assert (per_day["account"], carried["account"]) == ("per_day", "carried")
    assert "peak reset each day" in per_day["metrics"]["drawdown_limit"]["measured_on"]
    assert "peak carried across days" in carried["metrics"]["drawdown_limit"]["measured_on"]
    start = per_day["request"]["starting_equity_usd"]
    assert [d["start_equity"] for d in per_day["days"]] == [start, start]
    assert [d["start_day_trades_in_window"] for d in per_day["days"]] == [0, 0]
    assert carried["days"][1]["start_equity"] == carried["days"][0]["end_equity"] != start
    assert per_day["days"][0] == carried["days"][0]
    assert main([*args[:-1], "--no-carry"]) == 0
    assert "each day from the starting capital (--no-carry)" in capsys.readouterr().out


def test_intraday_drawdown_is_measured_on_the_minute_marks_and_never_below_the_close_to_close_one() -> None:
    report: Any = report_to_wire(week(Account.CARRIED, end=date(2025, 3, 11)))
    start = Decimal(report["request"]["starting_equity_usd"])
    marks = [start]
    for day in report["days"]:
        marks += [Decimal(e) for e in day["minute_equity"]] + [Decimal(day["end_equity"])]
    series = np.array([float(m) for m in marks])
    expected = float(np.max(1 - series / np.maximum.accumulate(series)))
    metrics = report["metrics"]
    assert metrics["max_drawdown_intraday"] == pytest.approx(expected, rel=1e-12)
    assert metrics["max_drawdown_intraday"] >= metrics["max_drawdown_eod"]
    # a day whose trough lies below both its start and its close: only the minute marks see it
    recovered = [
        d
        for d in report["days"]
        if min(Decimal(e) for e in d["minute_equity"])
        < min(Decimal(d["start_equity"]), Decimal(d["end_equity"]))
    ]
    assert recovered, "the range needs a day that recovered from its low by the close"
    assert metrics["max_drawdown_intraday"] > metrics["max_drawdown_eod"]
