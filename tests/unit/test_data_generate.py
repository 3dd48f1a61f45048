import io
import json
from pathlib import Path

import pytest

from smart0dte.cli import main
from smart0dte.commands.args import ProgressBar
from smart0dte.domain.simulator import DEFAULT_SEED


def _manifest(out: Path, day: str) -> dict[str, object]:
    manifest: dict[str, object] = json.loads((out / day / "manifest.json").read_text())
    return manifest


def test_generate_writes_only_sessions_and_says_how_many_were_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Thanksgiving week 2025: Wed session, Thu holiday, Fri early close, weekend, Mon session.
    code = main(["data", "generate", "--start", "2025-11-26", "--end", "2025-12-01", "--out", str(tmp_path)])

    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025-11-26", "2025-11-28", "2025-12-01"]
    out = capsys.readouterr()
    assert "Generated 3 synthetic session(s) 2025-11-26..2025-12-01" in out.out
    assert "skipped 3 non-session day(s)" in out.out
    assert out.err == ""  # no progress bar when stderr is not a terminal
    friday = _manifest(tmp_path, "2025-11-28")
    assert friday["session_minutes"] == 210 and friday["synthetic"] is True
    assert (friday["seed"], friday["scenario"]) == (DEFAULT_SEED, "normal")
    assert friday["previous_close"] == {
        "session_date": "2025-11-26",
        "close": _manifest(tmp_path, "2025-11-26")["close"],
    }


def test_the_same_command_writes_the_same_bytes(tmp_path: Path) -> None:
    args = ["data", "generate", "--start", "2025-06-02", "--seed", "42", "--scenario", "vix_spike"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0

    first = sorted((tmp_path / "a" / "2025-06-02").iterdir())
    second = sorted((tmp_path / "b" / "2025-06-02").iterdir())
    assert [p.name for p in first] == [p.name for p in second] and len(first) == 5
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))
    assert _manifest(tmp_path / "a", "2025-06-02")["scenario"] == "vix_spike"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2025-03-10", "--end", "2025-03-07"], "--start=2025-03-10 is after --end=2025-03-07"),
        (
            ["--start", "2025-03-08", "--end", "2025-03-09"],
            "no NYSE session between 2025-03-08 and 2025-03-09",
        ),
        (["--start", "2019-12-31"], "outside the supported calendar range"),
    ],
)
def test_bad_ranges_are_refused_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["data", "generate", *args, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--scenario", "sideways"],
            "--scenario='sideways' is not a scenario; valid: normal, trend_up, trend_down",
        ),
        (["--seed", "-3"], "--seed='-3' must be an integer within 0.."),
        (["--end", "2025-02-30"], "--end='2025-02-30' is not a valid day: February 2025 has days 1..28"),
    ],
)
def test_bad_arguments_name_the_flag_and_the_valid_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "generate", "--start", "2025-03-10", "--out", str(tmp_path), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_only() -> None:
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = ProgressBar(4, stream, width=8)
        bar.update(1, "2025-03-03")
        bar.update(4, "2025-03-06")
        bar.close()

    assert terminal.getvalue().startswith("\r[##......] 1/4 2025-03-03")
    assert "\r[########] 4/4 2025-03-06" in terminal.getvalue()
    assert terminal.getvalue().endswith("\n")
    assert pipe.getvalue() == ""
