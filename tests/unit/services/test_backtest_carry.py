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
from smart0dte.domain.calendar import MarketCalendar
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


def week(account: Account, workers: int = 1, **fields: Any) -> BacktestReport:
    request = BacktestRequest(
        start=WEEK[0], end=WEEK[1], scenario=Scenario.GAP_DOWN, seed=7, account=account, workers=workers
    )
    return run_backtest(replace(request, **fields))


def peak_drawdown(day: DayOutcome) -> float:
    """The day's deepest minute mark below the running peak (its carried peak included)."""
    marks = np.array([float(day.carry_in.peak_equity_usd), *map(float, day.minute_equity_usd)])
    return float(np.max(1 - marks / np.maximum.accumulate(marks)))


def config(max_drawdown: float | None = None, max_day_trades: int | None = None) -> EngineConfig:
    base = backtest_config()
    limits = (
        base.limits if max_drawdown is None else base.limits.model_copy(update={"max_drawdown": max_drawdown})
    )
    settings = base.settings
    if max_day_trades is not None:
        settings = settings.model_copy(update={"max_day_trades": max_day_trades})
    return replace(base, limits=limits, settings=settings)


def risk_rules(day: DayOutcome) -> list[list[str]]:
    return [cast(list[str], d.detail["rules"]) for d in day.decisions if d.kind == "risk"]


def approved(day: DayOutcome) -> int:
    return sum(1 for d in day.decisions if d.kind == "risk" and d.detail["approved"])


@pytest.fixture(scope="module")
def tight_drawdown() -> float:
    """Half the first day's deepest fall below its running peak: a limit that day must reach."""
    first = week(Account.PER_DAY, end=WEEK[0]).days[0]
    assert peak_drawdown(first) > 0, "the first day must fall below its peak"
    return peak_drawdown(first) / 2


@pytest.fixture(scope="module")
def small_carried() -> BacktestReport:
    # one day trade in the window is the cap: any entry of a losing first day binds the next day
    return week(Account.CARRIED, starting_equity_usd=SMALL_ACCOUNT_USD, config=config(max_day_trades=1))


@pytest.fixture(scope="module")
def halted_carried(tight_drawdown: float) -> BacktestReport:
    return week(Account.CARRIED, config=config(max_drawdown=tight_drawdown))


def test_day_trades_of_a_losing_day_refuse_the_next_days_entries_below_the_pdt_threshold(
    small_carried: BacktestReport,
) -> None:
    cap = small_carried.request.config.settings.max_day_trades
    days = small_carried.days
    first = days[0]
    assert first.end_equity_usd < PDT_THRESHOLD_USD <= first.carry_in.equity_usd, "day 1 must cross"
    assert first.day_trades >= cap
    bound = [
        i
        for i, d in enumerate(days[1:], start=1)
        if d.carry_in.equity_usd < PDT_THRESHOLD_USD and d.carry_in.day_trades_in_window >= cap
    ]
    assert 1 in bound and any(risk_rules(days[i]) for i in bound), "later days must ask"
    for i in bound:
        assert all("PATTERN_DAY_TRADER" in r for r in risk_rules(days[i]))
        assert approved(days[i]) == 0 and not days[i].trades
    # the window is the four sessions before each day
    window = small_carried.request.config.limits.pdt_window_sessions
    for i, day in enumerate(days[1:], start=1):
        earlier = days[max(0, i - (window - 1)) : i]
        assert day.carry_in.day_trades_in_window == sum(d.day_trades for d in earlier)
    wire: Any = report_to_wire(small_carried)
    assert (
        wire["refused_entries"]["PATTERN_DAY_TRADER"]["last_date"] >= days[bound[-1]].session_date.isoformat()
    )

    independent = week(
        Account.PER_DAY, starting_equity_usd=SMALL_ACCOUNT_USD, config=config(max_day_trades=1)
    )
    assert independent.days[0] == first
    assert sum(approved(independent.days[i]) for i in bound) > 0


def test_a_drawdown_halt_on_day_one_refuses_the_entries_of_the_days_after(
    halted_carried: BacktestReport, tight_drawdown: float
) -> None:
    days = halted_carried.days
    assert peak_drawdown(days[0]) >= tight_drawdown
    limit = Decimal(str(tight_drawdown))
    bound = [
        i
        for i, d in enumerate(days[1:], start=1)
        if 1 - d.carry_in.equity_usd / d.carry_in.peak_equity_usd >= limit
    ]
    assert 1 in bound and any(risk_rules(days[i]) for i in bound), "later days must ask"
    for i in bound:
        assert days[i].carry_in.peak_equity_usd >= days[0].carry_in.equity_usd
        assert all("MAX_DRAWDOWN" in r for r in risk_rules(days[i]))
        assert approved(days[i]) == 0 and not days[i].trades

    independent = week(Account.PER_DAY, config=config(max_drawdown=tight_drawdown))
    assert sum(approved(independent.days[i]) for i in bound) > 0
    # the intraday drawdown stays within the limit plus one trade's risk (the halt flattens)
    metrics = halted_carried.metrics
    assert metrics.intraday_drawdown is not None
    one_trade = halted_carried.request.config.settings.max_risk_per_trade
    assert tight_drawdown <= metrics.intraday_drawdown.max_fraction <= tight_drawdown + one_trade


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


def test_the_report_is_the_same_for_one_and_two_workers_across_the_pdt_threshold_and_a_halt(
    tight_drawdown: float,
) -> None:
    cases = (
        (
            "PATTERN_DAY_TRADER",
            {"starting_equity_usd": SMALL_ACCOUNT_USD, "config": config(max_day_trades=1)},
        ),
        ("MAX_DRAWDOWN", {"config": config(max_drawdown=tight_drawdown)}),
    )
    for rule, fields in cases:
        one: Any = report_to_wire(week(Account.CARRIED, workers=1, **fields))
        two = report_to_wire(week(Account.CARRIED, workers=2, **fields))
        assert rule in {r for d in one["decisions"] if d["kind"] == "risk" for r in d["rules"]}
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


def test_intraday_drawdown_sees_a_trough_the_close_recovered_from() -> None:
    # the first session of the week (each run alone, scenario by scenario) whose low lies below
    # both its start and its close
    found: Any = None
    for scenario, session in itertools.product(Scenario, MarketCalendar().sessions_between(*WEEK)):
        report: Any = report_to_wire(week(Account.CARRIED, start=session, end=session, scenario=scenario))
        (day,) = report["days"]
        low = min(Decimal(e) for e in day["minute_equity"])
        if low < min(Decimal(day["start_equity"]), Decimal(day["end_equity"])):
            found = report
            break
    assert found is not None, "a day must recover from its low by the close"
    (day,) = found["days"]
    marks = [Decimal(found["request"]["starting_equity_usd"])]
    marks += [Decimal(e) for e in day["minute_equity"]] + [Decimal(day["end_equity"])]
    series = np.array([float(m) for m in marks])
    expected = float(np.max(1 - series / np.maximum.accumulate(series)))
    metrics = found["metrics"]
    assert metrics["max_drawdown_intraday"] == pytest.approx(expected, rel=1e-12)
    # end of day sees only the close: at most the close below the start
    close_to_start = max(0.0, 1 - float(Decimal(day["end_equity"]) / marks[0]))
    assert metrics["max_drawdown_eod"] == pytest.approx(close_to_start, rel=1e-12)
    assert metrics["max_drawdown_intraday"] > metrics["max_drawdown_eod"]
