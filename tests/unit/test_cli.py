import argparse
import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from smart0dte import __version__
from smart0dte.cli import build_parser, main
from smart0dte.domain.simulator import DEFAULT_SEED
from smart0dte.services.backtest import BacktestRequest
from smart0dte.services.events import BacktestRequestWire


def test_calendar_json_shows_the_early_close_after_thanksgiving(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "--date", "2025-11-28", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["date"] == "2025-11-28"
    assert report["is_session"] is True
    assert report["early_close"] is True
    assert report["open_et"] == "2025-11-28T09:30:00-05:00"
    assert report["close_et"] == "2025-11-28T13:00:00-05:00"
    assert report["flatten_et"] == "2025-11-28T12:50:00-05:00"


def test_calendar_json_has_nulls_on_a_holiday(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "--date", "2025-12-25", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["is_session"] is False
    assert report["open_et"] is None and report["close_et"] is None and report["flatten_et"] is None
    assert report["expiries_0dte"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["calendar", "--date", "2025-3-14"], "--date='2025-3-14' must be a date as YYYY-MM-DD"),
        (
            ["calendar", "--date", "2025-13-01"],
            "--date='2025-13-01' is not a valid day: month 13 is not 1..12",
        ),
        (
            ["backtest", "--start", "2025-02-29", "--end", "2025-03-03"],
            "--start='2025-02-29' is not a valid day: February 2025 has days 1..28",
        ),
        (
            ["train", "--start", "2024-02-28", "--end", "2024-02-30"],
            "--end='2024-02-30' is not a valid day: February 2024 has days 1..29",
        ),
        (
            ["demo", "--date", "2025-04-31"],
            "--date='2025-04-31' is not a valid day: April 2025 has days 1..30",
        ),
        (["data", "generate", "--start", "0000-01-01", "--out", "x"], "year 0 does not exist"),
        (
            ["calendar", "--date", "2025-03-14", "--flatten-minutes", "-5"],
            "--flatten-minutes='-5' must be an integer within 0..180",
        ),
        (
            ["calendar", "--date", "2025-03-14", "--flatten-minutes", "181"],
            "--flatten-minutes='181' must be an integer within 0..180",
        ),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_flag_and_the_limit(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["backtest", "train", "data generate"])
def test_start_after_end_names_both_flags(capsys: pytest.CaptureFixture[str], command: str) -> None:
    extra = ["--out", "unused"] if command == "data generate" else []
    code = main([*command.split(), "--start", "2025-03-14", "--end", "2025-03-10", *extra])

    assert code == 2
    assert capsys.readouterr().err == "error: --start=2025-03-14 is after --end=2025-03-10\n"


def test_every_command_with_a_seed_defaults_to_the_one_default_seed() -> None:
    seeded: dict[str, object] = {}

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}".strip())
            elif action.dest == "seed":
                seeded[name] = action.default

    walk(build_parser(), "")

    assert set(seeded) == {"backtest", "train", "demo", "data generate", "chaos"}
    assert set(seeded.values()) == {DEFAULT_SEED}
    assert BacktestRequest(date(2025, 3, 14), date(2025, 3, 14)).seed == DEFAULT_SEED
    assert BacktestRequestWire(start=date(2025, 3, 14), end=date(2025, 3, 14)).seed == DEFAULT_SEED


@pytest.fixture(scope="module")
def gapped_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Day folders for 2025-03-11 and 2025-03-13 only (2025-03-12 removed)."""
    root = tmp_path_factory.mktemp("gapped")
    assert main(["data", "generate", "--start", "2025-03-11", "--end", "2025-03-13", "--out", str(root)]) == 0
    shutil.rmtree(root / "2025-03-12")
    return root


def test_a_backtest_over_a_data_dir_with_gaps_says_which_sessions_are_missing(
    gapped_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    # 2025-03-11..2025-03-17 holds the sessions 11, 12, 13, 14 and 17 (a weekend between 14 and 17).
    args = ["backtest", "--start", "2025-03-11", "--end", "2025-03-17", "--data-dir", str(gapped_dir)]

    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"{gapped_dir}: 3 session(s) missing: 2025-03-12, 2025-03-14..2025-03-17 (skipped; 2 run)"
    )
    assert lines[2].startswith("execution: latency 1 s")  # the execution model, then the days
    assert [line.split()[0] for line in lines[5:7]] == ["2025-03-11", "2025-03-13"]

    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["missing_sessions"] == ["2025-03-12", "2025-03-14", "2025-03-17"]
    assert [day["date"] for day in report["days"]] == ["2025-03-11", "2025-03-13"]


def test_training_over_a_data_dir_with_gaps_says_which_sessions_are_missing(
    gapped_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = main(["train", "--start", "2025-03-10", "--end", "2025-03-13", "--data-dir", str(gapped_dir)])

    err = capsys.readouterr().err
    assert code == 2  # two sessions are too few for a walk-forward; the note comes first
    assert err.startswith(
        f"note: {gapped_dir}: 2 session(s) missing: 2025-03-10, 2025-03-12; training on the 2 it holds\n"
    )


def test_a_demo_date_missing_from_the_data_dir_names_what_it_holds(
    gapped_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = main(["demo", "--date", "2025-03-12", "--data-dir", str(gapped_dir), "--in-process", "--no-serve"])

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: --date=2025-03-12 is missing from --data-dir {gapped_dir}: "
        "it holds 2 day folder(s) 2025-03-11..2025-03-13\n"
    )


def test_a_demo_date_without_a_session_says_which_weekday_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--date", "2025-03-15", "--in-process", "--no-serve"]) == 2
    assert capsys.readouterr().err == "error: --date=2025-03-15 (a Saturday) is not an NYSE session\n"


def test_calendar_out_of_range_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "--date", "2019-12-31"]) == 2
    assert "outside the supported calendar range" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out == f"smart0dte {__version__}\n"
