"""`smart0dte data show PATH` prints the records of any supported DBN file in natural units."""

from __future__ import annotations

import io
import json
from pathlib import Path

import databento
import pytest
import zstandard

from smart0dte.cli import main
from smart0dte.commands.data_show import new_york_text
from tests.unit.adapters.dbn_files import FIXTURES

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")

CBBO = FIXTURES / "OPRA.PILLAR" / "test_data.cbbo-1m.dbn.zst"
BARS = FIXTURES / "EQUS.MINI" / "test_data.ohlcv-1m.dbn.zst"


def _show(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["data", "show", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_text_shows_one_line_per_record_with_the_schema_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _show(capsys, str(CBBO))

    lines = out.splitlines()
    assert code == 0
    assert lines[0] == f"{CBBO}: OPRA.PILLAR cbbo-1m, 4 records"
    assert lines[2] == (
        "2025-02-20T14:31:00+00:00  09:31:00 ET  AAPL  250221C00250000  "
        "bid_px_00=0.32 ask_px_00=0.34 bid_sz_00=104 ask_sz_00=132"
    )
    assert "bid_px_00=- ask_px_00=-" in lines[1]  # no book before the open
    assert len(lines) == 5


def test_limit_shows_the_first_records_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _show(capsys, str(BARS), "--limit", "2")

    lines = out.splitlines()
    assert lines[0].endswith("EQUS.MINI ohlcv-1m, 4 records (showing 2)")
    assert (
        lines[1] == "2023-03-28T11:08:00+00:00  07:08:00 ET  QQQ  "
        "open=307.83 high=307.83 low=307.8 close=307.8 volume=1800"
    )
    assert len(lines) == 3


def test_json_gives_every_field_in_natural_units(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _show(capsys, str(BARS), "--json")

    records = json.loads(out)
    frame = databento.DBNStore.from_file(BARS).to_df()
    assert code == 0 and len(records) == 4
    assert records[0] == {
        "ts": "2023-03-28T11:08:00+00:00",
        "ts_event": "2023-03-28T11:08:00+00:00",
        "rtype": 33,
        "publisher_id": 95,
        "instrument_id": 13340,
        "open": 307.83,
        "high": 307.83,
        "low": 307.8,
        "close": 307.8,
        "volume": 1800,
        "symbol": "QQQ",
    }
    assert [r["close"] for r in records] == frame["close"].tolist()
    assert [r["volume"] for r in records] == frame["volume"].tolist()


def test_json_writes_undefined_values_as_null(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _show(capsys, str(CBBO), "--json", "--limit", "1")

    (record,) = json.loads(out)
    assert record["ts"] == "2025-02-20T13:01:00+00:00"
    assert record["ts_event"] is None and record["bid_px_00"] is None and record["bid_sz_00"] == 0


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.glob("*/*.dbn.zst")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_every_fixture_can_be_shown(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    _, out, _ = _show(capsys, str(path))

    lines = out.splitlines()
    schema = path.name.split(".")[1]
    assert f" {schema}, " in lines[0]
    assert len(lines) == 1 + int(lines[0].split(", ")[1].split()[0])


def test_a_plain_dbn_file_is_shown_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plain = tmp_path / "bars.dbn"
    plain.write_bytes(zstandard.ZstdDecompressor().stream_reader(io.BytesIO(BARS.read_bytes())).read())

    _, out, _ = _show(capsys, str(plain), "--json")

    assert [r["close"] for r in json.loads(out)] == [307.8, 307.96, 308.04, 308.17]


def test_an_unreadable_file_is_an_error_naming_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.dbn.zst"
    broken.write_bytes(BARS.read_bytes()[:-8])

    code, out, err = _show(capsys, str(broken))

    assert code == 2 and out == ""
    assert err == f"error: {broken}: truncated zstd data (the last frame ends early)\n"


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_the_limit_must_be_a_positive_integer(capsys: pytest.CaptureFixture[str], limit: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "show", str(BARS), "--limit", limit])

    assert exit_info.value.code == 2
    assert f"--limit={limit!r} must be an integer >= 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("utc", "new_york"),
    [
        ("2025-02-20T14:31:00+00:00", "09:31:00 ET"),  # EST, UTC-5
        ("2023-03-28T11:08:00+00:00", "07:08:00 ET"),  # EDT, UTC-4
        ("2025-03-10T02:00:00.123456789+00:00", "2025-03-09 22:00:00 ET"),  # the evening before
        (None, "-"),
    ],
)
def test_new_york_time_stands_beside_utc_with_its_date_when_the_day_differs(
    utc: str | None, new_york: str
) -> None:
    assert new_york_text(utc) == new_york
