"""The DBN reader decodes Databento's real samples to the values DBNStore.to_df() gives."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import databento
import databento_dbn as dbn
import numpy as np
import pandas as pd
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smart0dte.adapters.databento.dbn_reader import (
    DbnFormatError,
    OptionDefinition,
    expires_at,
    iso_utc,
    read_dbn,
    to_bars,
    to_option_definitions,
    to_quotes,
)
from smart0dte.domain.marketdata import datetime_to_ns
from smart0dte.domain.models import DomainError, OptionContract, OptionRight, Quote
from tests.unit.adapters.dbn_files import (
    FIXTURES,
    cbbo,
    definition,
    encode,
    midnight_ns,
    ohlcv,
    option_definition,
)

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")

FIXTURE_FILES = sorted(FIXTURES.glob("*/*.dbn.zst"))
OPRA = FIXTURES / "OPRA.PILLAR"
EQUS = FIXTURES / "EQUS.MINI"
DAY = date(2025, 3, 14)


def _assert_matches_to_df(data: Any, frame: pd.DataFrame) -> None:
    """Every column the reader exposes equals to_df's, value for value (NaN/NaT/None alike)."""
    frame = frame.reset_index()
    assert list(data.columns) == list(frame.columns)
    for name in frame.columns:
        ours, theirs = data.columns[name], frame[name]
        if ours.dtype.kind == "M":
            expected = theirs.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
            np.testing.assert_array_equal(ours.view(np.int64), expected.view(np.int64), err_msg=name)
        elif ours.dtype.kind in "fiu":
            assert ours.dtype == theirs.dtype, name
            np.testing.assert_array_equal(ours, theirs.to_numpy(), err_msg=name)
        else:
            assert ours.tolist() == [None if pd.isna(v) else v for v in theirs.tolist()], name


def test_the_fixture_folder_holds_every_sample_schema() -> None:
    schemas = {path.name.split(".")[1] for path in FIXTURE_FILES}
    assert {"definition", "cbbo-1m", "mbp-1", "tbbo", "trades", "ohlcv-1m", "statistics", "bbo-1s"} <= schemas
    assert len(FIXTURE_FILES) == 21


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_decodes_to_the_values_to_df_gives(path: Path) -> None:
    data = read_dbn(path)

    _assert_matches_to_df(data, databento.DBNStore.from_file(path).to_df())
    assert len(data) == 4 or data.schema in {"definition", "ohlcv-1d"}


def test_bytes_streams_paths_and_plain_dbn_decode_alike() -> None:
    path = OPRA / "test_data.cbbo-1m.dbn.zst"
    compressed = path.read_bytes()
    plain = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(compressed)).read()

    sources: list[Any] = [str(path), path, compressed, io.BytesIO(compressed), plain, bytearray(plain)]
    decoded = [read_dbn(source) for source in sources]

    for data in decoded:
        np.testing.assert_array_equal(data.columns["bid_px_00"], decoded[0].columns["bid_px_00"])
        assert data.columns["symbol"].tolist() == ["AAPL  250221C00250000"] * 4
    assert decoded[0].source == str(path)
    assert read_dbn(compressed, name="s3://archive/x.dbn.zst").source == "s3://archive/x.dbn.zst"


def test_metadata_is_exposed_in_plain_types() -> None:
    metadata = read_dbn(OPRA / "test_data.cbbo-1m.dbn.zst").metadata

    assert (metadata.version, metadata.dataset, metadata.schema) == (3, "OPRA.PILLAR", "cbbo-1m")
    assert (metadata.stype_in, metadata.stype_out) == ("raw_symbol", "instrument_id")
    assert metadata.symbols == ("AAPL  250221C00250000",)
    assert [(m.instrument_id, m.start_date, m.end_date, m.symbol) for m in metadata.mappings] == [
        (16783963, date(2025, 2, 20), date(2025, 2, 21), "AAPL  250221C00250000")
    ]


def test_rows_are_json_ready_in_natural_units() -> None:
    rows = list(read_dbn(OPRA / "test_data.cbbo-1m.dbn.zst").rows())

    assert rows[1]["ts"] == rows[1]["ts_recv"] == "2025-02-20T14:31:00+00:00"
    assert rows[1]["ts_event"] == "2025-02-20T14:30:59.895648+00:00"
    assert (rows[1]["bid_px_00"], rows[1]["ask_px_00"]) == (0.32, 0.34)
    assert (rows[1]["bid_sz_00"], rows[1]["ask_sz_00"]) == (104, 132)
    assert rows[1]["symbol"] == "AAPL  250221C00250000"
    assert rows[0]["ts_event"] is None and rows[0]["bid_px_00"] is None  # undefined -> null
    assert json.loads(json.dumps(rows)) == rows


def test_rows_keep_nanoseconds_and_honour_the_limit() -> None:
    rows = list(read_dbn(OPRA / "test_data.definition.dbn.zst").rows(limit=5))

    assert len(rows) == 1
    assert rows[0]["ts_recv"] == "2025-02-20T11:30:08.943854625+00:00"
    assert rows[0]["expiration"] == "2025-02-21T00:00:00+00:00"
    assert rows[0]["strike_price"] == 250.0
    assert len(list(read_dbn(OPRA / "test_data.trades.dbn.zst").rows(limit=2))) == 2


def test_iso_utc_uses_six_or_nine_fraction_digits() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00+00:00"
    assert iso_utc(1_500_000_000) == "1970-01-01T00:00:01.500000+00:00"
    assert iso_utc(1_000_000_001) == "1970-01-01T00:00:01.000000001+00:00"


def test_bars_come_per_symbol_with_open_times_and_dollar_prices() -> None:
    bars = to_bars(read_dbn(EQUS / "test_data.ohlcv-1m.dbn.zst"))

    qqq = bars["QQQ"]
    assert list(bars) == ["QQQ"] and len(qqq) == 4 and qqq.interval_s == 60
    first = qqq.bar(0)
    assert first.ts == datetime(2023, 3, 28, 11, 8, tzinfo=UTC)
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        307.83,
        307.83,
        307.8,
        307.8,
        1800,
    )
    assert to_bars(read_dbn(EQUS / "test_data.ohlcv-1h.dbn.zst"))["QQQ"].interval_s == 3600


def test_bars_of_several_publishers_in_one_minute_are_refused() -> None:
    with pytest.raises(DbnFormatError, match=r"more than one bar opening at 2025-02-20T14:30:00"):
        to_bars(read_dbn(OPRA / "test_data.ohlcv-1m.dbn.zst"))


def test_bars_need_an_ohlcv_schema() -> None:
    with pytest.raises(DbnFormatError, match="schema trades has no bars"):
        to_bars(read_dbn(EQUS / "test_data.trades.dbn.zst"))


def test_quotes_are_domain_quotes_or_none_without_a_two_sided_book() -> None:
    quotes = to_quotes(read_dbn(OPRA / "test_data.cbbo-1m.dbn.zst"))

    assert quotes[0] is None
    assert quotes[1] == Quote(
        symbol="AAPL  250221C00250000",
        ts=datetime(2025, 2, 20, 14, 31, tzinfo=UTC),
        bid=0.32,
        ask=0.34,
        bid_size=104,
        ask_size=132,
    )
    one_sided = to_quotes(read_dbn(EQUS / "test_data.bbo-1s.dbn.zst"))
    assert one_sided == [None] * 4  # bid only: no usable book
    with pytest.raises(DbnFormatError, match="no book"):
        to_quotes(read_dbn(EQUS / "test_data.trades.dbn.zst"))


def test_the_opra_definition_becomes_an_option_expiring_at_the_new_york_close() -> None:
    (option,) = to_option_definitions(read_dbn(OPRA / "test_data.definition.dbn.zst"))

    assert option.instrument_id == 16783963
    assert option.contract == OptionContract(
        root="AAPL", expiry=date(2025, 2, 21), right=OptionRight.CALL, strike=250.0
    )
    assert option.expiration_ns == midnight_ns(date(2025, 2, 21))
    assert expires_at(option) == datetime(2025, 2, 21, 21, 0, tzinfo=UTC)  # 16:00 EST


def test_definition_filters_keep_one_expiry_and_some_roots() -> None:
    data = read_dbn(OPRA / "test_data.definition.dbn.zst")

    assert len(to_option_definitions(data, expiry=date(2025, 2, 21), roots={"AAPL"})) == 1
    assert to_option_definitions(data, expiry=date(2025, 2, 20)) == []
    assert to_option_definitions(data, roots={"SPY", "QQQ"}) == []
    assert to_option_definitions(read_dbn(EQUS / "test_data.definition.dbn.zst")) == []  # an equity


def _option(expiry: date) -> OptionDefinition:
    contract = OptionContract(root="SPY", expiry=expiry, right=OptionRight.PUT, strike=590.0)
    return OptionDefinition(1, contract, midnight_ns(expiry))


@pytest.mark.parametrize(
    ("expiry", "close_utc"),
    [
        (date(2025, 7, 18), datetime(2025, 7, 18, 20, 0, tzinfo=UTC)),  # 16:00 EDT
        (date(2025, 12, 19), datetime(2025, 12, 19, 21, 0, tzinfo=UTC)),  # 16:00 EST
        (date(2025, 11, 28), datetime(2025, 11, 28, 18, 0, tzinfo=UTC)),  # early close, 13:00 EST
    ],
)
def test_expires_at_is_that_session_close(expiry: date, close_utc: datetime) -> None:
    assert expires_at(_option(expiry)) == close_utc


def test_an_expiry_on_a_closed_day_has_no_close() -> None:
    with pytest.raises(DomainError, match=r"2025-07-04 .* not an NYSE session"):
        expires_at(_option(date(2025, 7, 4)))


def _definitions(*records: Any) -> bytes:
    return encode("OPRA.PILLAR", "definition", records, {}, DAY)


def test_the_last_definition_of_an_instrument_wins_and_a_delete_removes_it() -> None:
    first = OptionContract(root="SPY", expiry=DAY, right=OptionRight.CALL, strike=560.0)
    renamed = OptionContract(root="SPY", expiry=DAY, right=OptionRight.CALL, strike=561.0)
    gone = OptionContract(root="QQQ", expiry=DAY, right=OptionRight.PUT, strike=480.0)
    data = read_dbn(
        _definitions(
            option_definition(7, first, 1),
            option_definition(8, gone, 1),
            option_definition(7, renamed, 2, action="M"),
            option_definition(8, gone, 3, action="D"),
        )
    )

    assert [(d.instrument_id, d.contract) for d in to_option_definitions(data)] == [(7, renamed)]


@pytest.mark.parametrize(
    ("symbol", "right", "strike_usd", "expiry", "message"),
    [
        ("SPY   250314C00560000", "C", 565.0, DAY, "strike_price=565.0"),
        ("SPY   250314C00560000", "P", 560.0, DAY, "instrument_class=P"),
        ("SPY   250314C00560000", "C", 560.0, date(2025, 3, 17), "expiration=2025-03-17"),
        ("SPY 250314C560", "C", 560.0, DAY, "not an OCC option symbol"),
    ],
)
def test_a_definition_that_contradicts_its_occ_symbol_is_refused(
    symbol: str, right: str, strike_usd: float, expiry: date, message: str
) -> None:
    data = read_dbn(_definitions(definition(9, symbol, 1, right=right, strike_usd=strike_usd, expiry=expiry)))

    with pytest.raises(DbnFormatError, match=rf"instrument_id 9 .*{message}"):
        to_option_definitions(data)


def _bars_file(records: list[Any], *, compress: bool = True, schema: str = "ohlcv-1m") -> bytes:
    return encode("EQUS.MINI", schema, records, {"SPY": 1}, DAY, compress=compress)


ONE_BAR = [ohlcv(1, midnight_ns(DAY) + 14 * 3_600_000_000_000, 560.0, 561.0, 559.0, 560.5, 100)]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"", "empty; expected a DBN file"),
        (b"PK\x03\x04 a zip file", "not a DBN file"),
        (_bars_file(ONE_BAR)[:-6], "truncated zstd data"),
        (_bars_file(ONE_BAR, compress=False)[:-3], "truncated: 53 trailing bytes after 0 ohlcv-1m records"),
        (_bars_file(ONE_BAR, compress=False)[:40], "truncated metadata"),
        (b"DBN\x07" + bytes(4), "DBN version 7 is not supported"),
        (_bars_file([], schema="mbo"), "schema mbo is not supported"),
        (
            _bars_file([cbbo(1, 5_000_000, 1.0, 1.1, 1, 1)], compress=False)[:-24],
            "rtype 193 and length 80 bytes",
        ),
        (b"\x28\xb5\x2f\xfd" + b"\xff" * 20, "corrupt zstd data"),
    ],
    ids=[
        "empty",
        "not-dbn",
        "cut-zstd",
        "cut-record",
        "cut-metadata",
        "version",
        "schema",
        "rtype",
        "bad-zstd",
    ],
)
def test_bad_input_is_refused_naming_the_source_and_the_expectation(source: bytes, message: str) -> None:
    with pytest.raises(DbnFormatError, match=rf"^bad\.dbn: .*{message}"):
        read_dbn(source, name="bad.dbn")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.dbn.zst"

    with pytest.raises(DbnFormatError, match=rf"{missing}: cannot read the DBN file"):
        read_dbn(missing)


def test_a_record_with_a_foreign_type_is_refused() -> None:
    second_bar = dbn.OHLCVMsg(dbn.RType.OHLCV_1S, 95, 1, 5_000_000, 1, 1, 1, 1, 1)
    wrong = _bars_file([*ONE_BAR, second_bar])

    with pytest.raises(DbnFormatError, match="record 1 has rtype 32 and length 56 bytes; expected rtype 33"):
        read_dbn(wrong, name="bad.dbn")


def test_bars_without_a_symbol_mapping_are_refused() -> None:
    data = read_dbn(encode("EQUS.MINI", "ohlcv-1m", ONE_BAR, {}, DAY))

    with pytest.raises(DbnFormatError, match=r"1 records have no symbol, e\.g\. instrument_id 1"):
        to_bars(data)


_DAY_NS = 86_400_000_000_000
_BASE_DAY = date(2024, 6, 3)


@st.composite
def _bar_files(draw: st.DrawFn) -> bytes:
    """ohlcv-1m files with arbitrary prices (UNDEF included), ids and dates, and mappings that
    cover some ids on some days only."""
    ids = draw(st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=4, unique=True))
    prices = st.one_of(st.just(dbn.UNDEF_PRICE), st.integers(-(2**62), 2**62))
    records = [
        dbn.OHLCVMsg(
            rtype=dbn.RType.OHLCV_1M,
            publisher_id=95,
            instrument_id=draw(st.sampled_from(ids)),
            ts_event=midnight_ns(_BASE_DAY) + draw(st.integers(0, 4 * _DAY_NS)),
            open=draw(prices),
            high=draw(prices),
            low=draw(prices),
            close=draw(prices),
            volume=draw(st.integers(0, 2**64 - 1)),
        )
        for _ in range(draw(st.integers(0, 12)))
    ]
    mappings: dict[str, list[Any]] = {}
    for n, iid in enumerate(ids):
        first = draw(st.integers(0, 3))
        days = draw(st.integers(1, 3))
        mappings[f"SYM{n}"] = [(first, first + days, iid)]
    from types import SimpleNamespace

    metadata = dbn.Metadata(
        dataset="EQUS.MINI",
        start=midnight_ns(_BASE_DAY),
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.OHLCV_1M,
        symbols=list(mappings),
        mappings=[
            SimpleNamespace(
                raw_symbol=symbol,
                intervals=[
                    SimpleNamespace(
                        start_date=_BASE_DAY + timedelta(days=a),
                        end_date=_BASE_DAY + timedelta(days=b),
                        symbol=str(iid),
                    )
                    for a, b, iid in intervals
                ],
            )
            for symbol, intervals in mappings.items()
        ],
    )
    return bytes(metadata.encode() + b"".join(bytes(r) for r in records))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_bar_files())
def test_any_prices_ids_and_mapping_dates_decode_as_to_df_does(raw: bytes) -> None:
    data = read_dbn(raw)
    if len(data) == 0:
        assert next(iter(data.columns)) == "ts_event"
        return
    _assert_matches_to_df(data, databento.DBNStore.from_bytes(raw).to_df())


def test_a_timestamp_after_2262_is_undefined_like_to_df() -> None:
    far = ohlcv(1, datetime_to_ns(datetime(2200, 1, 1, tzinfo=UTC)), 1.0, 1.0, 1.0, 1.0, 1)
    far.ts_event = 2**63 + 5
    data = read_dbn(_bars_file([far]))

    assert data.ts_ns("ts_event").tolist() == [np.iinfo(np.int64).min]
    assert next(data.rows())["ts"] is None
