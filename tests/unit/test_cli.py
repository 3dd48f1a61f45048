import json

import pytest

from smart0dte import __version__
from smart0dte.cli import main


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


def test_calendar_refuses_a_malformed_date(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["calendar", "--date", "2025-13-01"])
    assert exit_info.value.code == 2
    assert "--date='2025-13-01' must be a date as YYYY-MM-DD" in capsys.readouterr().err


def test_calendar_out_of_range_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "--date", "2019-12-31"]) == 2
    assert "outside the supported calendar range" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out == f"smart0dte {__version__}\n"
