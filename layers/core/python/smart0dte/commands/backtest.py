"""`smart0dte backtest`: the session engine over generated or archived days, the account carried
from day to day (`--no-carry`: each day from the starting capital), days prepared in parallel."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import time
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
from smart0dte.domain.portfolio import usd_text
from smart0dte.domain.simulator import DEFAULT_SEED, Scenario
from smart0dte.services.backtest import (
    MAX_WORKERS,
    Account,
    BacktestReport,
    BacktestRequest,
    refusals,
    report_to_wire,
    run_backtest,
)


def _hhmm(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--data-until={text!r} must be a New York time as HH:MM") from None


def _workers(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"--workers={text!r} must be an integer within 1..{MAX_WORKERS}")
    return value


def summary_lines(report: BacktestReport) -> list[str]:
    """A readable account of a backtest: per-day results, then the metrics; P&L net of fees."""
    m = report.metrics
    lines = []
    if report.missing_sessions:
        request = report.request
        source = request.archive.describe() if request.archive else "the data"
        lines += [
            f"{source}: {missing_sessions_text(report.missing_sessions, request.start, request.end)} "
            f"(skipped; {len(report.days)} run)",
            "",
        ]
    lines += [report.request.config.execution_text(), ""]
    lines += [f"{'date':<10}  {'trades':>6}  {'net P&L':>12}  {'fees':>10}  {'max open':>8}  incidents"]
    for day in report.days:
        lines.append(
            f"{day.session_date.isoformat():<10}  {len(day.trades):>6}  {usd_text(day.pnl_usd):>12}  "
            f"{usd_text(day.commissions_usd):>10}  {day.max_open_positions:>8}  {len(day.incidents)}"
        )

    def fmt(value: float | None, pattern: str) -> str:
        return "n/a" if value is None else format(value, pattern)

    intraday = m.intraday_drawdown.max_fraction if m.intraday_drawdown else m.drawdown.max_fraction
    account = (
        "account carried from day to day"
        if report.request.account is Account.CARRIED
        else "each day from the starting capital (--no-carry)"
    )
    lines += [
        "",
        f"{account}; drawdown limit {report.request.config.limits.max_drawdown:.0%} of the peak, "
        "on the minute marks",
        f"days {len(report.days)}, trades {m.trades.trades}, net P&L {usd_text(m.trades.net_pnl_usd)} "
        f"(gross {usd_text(m.trades.gross_pnl_usd)}, fees {usd_text(m.trades.commissions_usd)}), "
        f"total return {m.total_return:.2%}",
        f"win rate {fmt(m.trades.win_rate, '.1%')}, profit factor {fmt(m.trades.profit_factor, '.2f')}, "
        f"expectancy {'n/a' if m.trades.expectancy_usd is None else usd_text(m.trades.expectancy_usd)}",
        f"Sharpe {fmt(m.sharpe, '.2f')}, Sortino {fmt(m.sortino, '.2f')}, Calmar {fmt(m.calmar, '.2f')}, "
        f"max drawdown {intraday:.2%} intraday, {m.drawdown.max_fraction:.2%} end of day "
        f"(over {m.drawdown.max_duration_periods} day(s))",
    ]
    for name, stats in m.by_strategy.items():
        lines.append(f"  {name:<18} {stats.trades:>4} trades  {usd_text(stats.net_pnl_usd):>12} net")
    refused = refusals(report.days)
    if refused:
        lines.append("entries refused, by rule:")
    for rule, r in refused.items():
        lines.append(
            f"  {rule:<24} {r.signals:>5} signal(s) on {r.days:>3} day(s), "
            f"{r.first_date.isoformat()}..{r.last_date.isoformat()}"
        )
    return lines


def _run(args: argparse.Namespace) -> int:
    check_range(args.start, args.end)
    request = BacktestRequest(
        start=args.start,
        end=args.end,
        archive=None if args.data_dir is None else files.dbn_folder(args.data_dir),
        scenario=args.scenario,
        seed=args.seed,
        data_until=args.data_until,
        workers=args.workers,
        account=Account.PER_DAY if args.no_carry else Account.CARRIED,
        registry=None if args.registry is None else files.folder_store(args.registry),
    )
    bar: ProgressBar | None = None

    def progress(done: int, total: int, day: object) -> None:
        nonlocal bar
        bar = bar or ProgressBar(total, sys.stderr)
        bar.update(done, str(day))

    report = run_backtest(request, progress)
    if bar is not None:
        bar.close()
    if args.json:
        print(json.dumps(report_to_wire(report), indent=1))
    else:
        print("\n".join(summary_lines(report)))
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "backtest",
        help="run the strategies, risk engine and simulated broker over past or generated days",
        description=(
            "The account (equity, peak, day-trade window, losing streak) carries from each day to the "
            "next; without --data-dir days come from the simulator."
        ),
    )
    parser.add_argument("--start", type=date_arg("--start"), required=True, help="first date, YYYY-MM-DD")
    parser.add_argument("--end", type=date_arg("--end"), required=True, help="last date, YYYY-MM-DD")
    parser.add_argument(
        "--data-dir", type=Path, help="DBN day folders (see `data generate`); default: simulate"
    )
    parser.add_argument(
        "--scenario", type=scenario_arg, default=Scenario.NORMAL, help="simulated days' shape"
    )
    parser.add_argument(
        "--seed", type=seed_arg, default=DEFAULT_SEED, help=f"simulator seed (default {DEFAULT_SEED})"
    )
    parser.add_argument("--data-until", type=_hhmm, help="cut input data after this New York time, HH:MM")
    parser.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="processes preparing days (market data, features, signals) ahead of the engine",
    )
    parser.add_argument(
        "--no-carry",
        action="store_true",
        help="start every day from the starting capital with a fresh peak, PDT window and streak",
    )
    parser.add_argument(
        "--registry", type=Path, help="model registry folder; its promoted model joins the rules"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.set_defaults(run=_run)
