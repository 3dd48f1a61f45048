"""Market days load from DBN day folders and from Databento's Historical API (a fake client)."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import databento
import numpy as np
import pytest
import zstandard

from smart0dte.adapters.databento.dbn_reader import expires_at, read_dbn, to_option_definitions
from smart0dte.adapters.databento.historical import (
    DatabentoHistoricalMarketData,
    DbnFolderMarketData,
    MarketDataError,
)
from smart0dte.domain.marketdata import NS_PER_MINUTE, MarketDay
from smart0dte.domain.models import OptionRight, Underlying
from tests.unit.adapters.dbn_files import bar_close_usd, cbbo, quote_usd, write_day

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")

DAY = date(2025, 3, 14)  # a Friday: SPY, QQQ and IWM all expire
MANIFEST = {"synthetic": True, "session_date": "2025-03-14", "generator": "test", "seed": 1, "scenario": "x"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "days"


def test_a_day_folder_loads_0dte_chains_on_the_session_minute_grid(root: Path) -> None:
    written = write_day(root, DAY, manifest=MANIFEST)

    day = DbnFolderMarketData(root).load_checked_day(DAY).raw

    assert list(day.chains) == [Underlying.SPY, Underlying.QQQ, Underlying.IWM]
    spy = day.chains[Underlying.SPY]
    assert [c.occ_symbol for c in spy.contracts] == [c.occ_symbol for c in written.contracts["SPY"]]
    assert [(c.right, c.strike) for c in spy.contracts] == [
        (OptionRight.CALL, 555.0),
        (OptionRight.CALL, 560.0),
        (OptionRight.PUT, 555.0),
        (OptionRight.PUT, 560.0),
    ]
    assert spy.expiry == DAY and written.later_expiry not in spy.contracts
    assert spy.bid.shape == (390, 4)
    assert spy.sample_ts_ns[0] == written.open_ns + NS_PER_MINUTE  # 09:31 New York
    assert spy.sample_ts_ns[-1] == written.open_ns + 390 * NS_PER_MINUTE  # the close
    assert (spy.bid[10, 2], spy.ask[10, 2]) == quote_usd(2, 10)
    assert (spy.bid_size[10, 2], spy.ask_size[10, 2]) == (12, 22)
    assert np.all(spy.ask - spy.bid > 0.049)  # the pre-market and other-expiry quotes stayed out
    assert day.synthetic is True


def test_bars_cover_the_regular_session_with_vix(root: Path) -> None:
    written = write_day(root, DAY, manifest=MANIFEST)

    bars = DbnFolderMarketData(root).load_checked_day(DAY).raw.bars

    assert list(bars) == ["SPY", "QQQ", "IWM", "VIX"]
    spy = bars["SPY"]
    assert len(spy) == 390 and spy.open_ts_ns[0] == written.open_ns  # the 08:30 bar stayed out
    assert spy.close[42] == bar_close_usd("SPY", 42) and spy.volume[42] == 1042
    assert bars["VIX"].close[0] == 15.0


def test_a_missing_minute_stays_a_nan_row_and_is_counted(root: Path) -> None:
    write_day(root, DAY, manifest=MANIFEST, skip_minutes=frozenset({5}), skip_bar_minutes=frozenset({7, 8}))

    checked = DbnFolderMarketData(root).load_checked_day(DAY)

    spy = checked.raw.chains[Underlying.SPY]
    assert spy.bid.shape == (390, 4) and np.isnan(spy.bid[5]).all() and (spy.bid_size[5] == 0).all()
    assert checked.quality.counts()["SPY chain"]["missing_minutes"] == 1
    assert len(checked.raw.bars["QQQ"]) == 388
    assert checked.quality.counts()["QQQ"]["missing_minutes"] == 2


def test_load_day_keeps_flagged_quotes_out_and_says_so(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    def crossed_at_minute_10(root_symbol: str, column: int, minute: int, quote: Any) -> Any:
        return (2.5, 2.4) if (root_symbol, column, minute) == ("QQQ", 1, 10) else quote

    write_day(root, DAY, manifest=MANIFEST, edit_quote=crossed_at_minute_10)
    source = DbnFolderMarketData(root)

    checked = source.load_checked_day(DAY)
    day = source.load_day(DAY)

    assert checked.raw.chains[Underlying.QQQ].bid[10, 1] == 2.5
    assert np.isnan(day.chains[Underlying.QQQ].bid[10, 1]) and day.chains[Underlying.QQQ].bid_size[10, 1] == 0
    assert day.chains[Underlying.QQQ].bid[11, 1] == quote_usd(1, 11)[0]
    assert checked.quality.counts()["QQQ chain"]["crossed"] == 1
    assert "QQQ chain" in caplog.text and "'crossed': 1" in caplog.text


def test_an_early_close_has_a_shorter_grid(root: Path) -> None:
    early = date(2025, 11, 28)  # the day after Thanksgiving closes at 13:00
    written = write_day(root, early)

    day = DbnFolderMarketData(root).load_day(early)

    assert written.minutes == 210
    assert day.chains[Underlying.SPY].bid.shape == (210, 4)
    assert len(day.bars["SPY"]) == 210
    assert day.synthetic is False  # no manifest: a real archive


def test_the_0dte_contracts_expire_at_the_session_close(root: Path) -> None:
    written = write_day(root, DAY)

    options = to_option_definitions(read_dbn(written.folder / "OPRA.PILLAR.definition.dbn.zst"), expiry=DAY)

    assert len(options) == 8
    assert {expires_at(option) for option in options} == {expires_at(options[0])}
    assert expires_at(options[0]).isoformat() == "2025-03-14T20:00:00+00:00"  # 16:00 EDT


def test_available_days_are_the_date_folders_oldest_first(root: Path) -> None:
    write_day(root, date(2025, 3, 17))
    write_day(root, DAY)
    (root / ".2025-03-18.abc.partial").mkdir()
    (root / "notes").mkdir()
    (root / "2025-03-19").write_text("a file, not a folder")

    assert DbnFolderMarketData(root).available_days() == [DAY, date(2025, 3, 17)]


def test_a_missing_root_or_day_is_named(root: Path) -> None:
    with pytest.raises(MarketDataError, match=rf"{root}: no such folder"):
        DbnFolderMarketData(root).available_days()
    write_day(root, DAY)
    with pytest.raises(MarketDataError, match=r"2025-03-17: no such day folder"):
        DbnFolderMarketData(root).load_day(date(2025, 3, 17))


def test_a_missing_file_is_named(root: Path) -> None:
    written = write_day(root, DAY)
    (written.folder / "VIX.ohlcv-1m.dbn.zst").unlink()

    with pytest.raises(MarketDataError, match=r"missing VIX\.ohlcv-1m\.dbn\.zst"):
        DbnFolderMarketData(root).load_day(DAY)


def test_a_file_of_the_wrong_dataset_is_refused(root: Path) -> None:
    write_day(root, DAY, vix_dataset="EQUS.MINI")

    with pytest.raises(
        MarketDataError, match=r"VIX\.ohlcv-1m\.dbn\.zst: holds EQUS\.MINI .*expected XCBO\.VIX"
    ):
        DbnFolderMarketData(root).load_day(DAY)


def test_a_file_in_the_wrong_place_is_refused(root: Path) -> None:
    written = write_day(root, DAY)
    chain_file = written.folder / "OPRA.PILLAR.cbbo-1m.dbn.zst"
    (written.folder / "OPRA.PILLAR.definition.dbn.zst").write_bytes(chain_file.read_bytes())

    with pytest.raises(
        MarketDataError, match=r"holds OPRA\.PILLAR cbbo-1m; expected OPRA\.PILLAR definition"
    ):
        DbnFolderMarketData(root).load_day(DAY)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"synthetic": "yes"}, "synthetic='yes' must be true or false"),
        ({"session_date": "2025-03-13"}, "session_date='2025-03-13' must be the folder's date 2025-03-14"),
        (["synthetic"], "manifest must be a JSON object"),
    ],
)
def test_a_bad_manifest_is_refused(root: Path, manifest: Any, message: str) -> None:
    written = write_day(root, DAY)
    (written.folder / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(MarketDataError, match=message):
        DbnFolderMarketData(root).load_day(DAY)


def test_a_manifest_without_synthetic_means_real(root: Path) -> None:
    write_day(root, DAY, manifest={"session_date": "2025-03-14"})

    assert DbnFolderMarketData(root).load_day(DAY).synthetic is False


def test_quotes_of_an_undefined_instrument_are_refused(root: Path) -> None:
    stray = cbbo(424242, 5_000_000, 1.0, 1.1, 1, 1)
    write_day(root, DAY, extra_quotes=[stray])

    with pytest.raises(MarketDataError, match=r"quotes for 1 instruments without a definition .*424242"):
        DbnFolderMarketData(root).load_day(DAY)


def test_two_samples_of_one_contract_in_one_minute_are_refused(root: Path) -> None:
    probe = write_day(root / "probe", DAY)
    iid = probe.option_ids["SPY   250314P00560000"]
    write_day(root, DAY, extra_quotes=[cbbo(iid, probe.open_ns + 3 * NS_PER_MINUTE, 1.0, 1.1, 1, 1)])

    with pytest.raises(MarketDataError, match=r"more than one cbbo-1m sample of SPY   250314P00560000 at"):
        DbnFolderMarketData(root).load_day(DAY)


def test_a_sample_off_the_minute_is_refused(root: Path) -> None:
    probe = write_day(root / "probe", DAY)
    iid = probe.option_ids["SPY   250314P00560000"]
    write_day(root, DAY, extra_quotes=[cbbo(iid, probe.open_ns + 90 * 1_000_000_000, 1.0, 1.1, 1, 1)])

    with pytest.raises(
        MarketDataError, match=r"sample at 2025-03-14T13:31:30\+00:00 is not on a whole minute"
    ):
        DbnFolderMarketData(root).load_day(DAY)


def test_a_non_session_is_refused(root: Path) -> None:
    (root / "2025-03-15").mkdir(parents=True)
    for name in ("OPRA.PILLAR.definition", "OPRA.PILLAR.cbbo-1m", "EQUS.MINI.ohlcv-1m", "VIX.ohlcv-1m"):
        (root / "2025-03-15" / f"{name}.dbn.zst").write_bytes(b"")

    with pytest.raises(MarketDataError, match="2025-03-15 is not an NYSE session"):
        DbnFolderMarketData(root).load_day(date(2025, 3, 15))


def _assert_same_day(ours: MarketDay, expected: MarketDay) -> None:
    assert ours.session_date == expected.session_date and ours.synthetic == expected.synthetic
    assert list(ours.bars) == list(expected.bars)
    for symbol, series in expected.bars.items():
        for name in ("open_ts_ns", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(
                getattr(ours.bars[symbol], name), getattr(series, name), err_msg=name
            )
    assert list(ours.chains) == list(expected.chains)
    for underlying, chain in expected.chains.items():
        assert ours.chains[underlying].contracts == chain.contracts
        for name in ("sample_ts_ns", "bid", "ask", "bid_size", "ask_size"):
            np.testing.assert_array_equal(getattr(ours.chains[underlying], name), getattr(chain, name))


def test_a_simulated_day_round_trips_through_the_dbn_writer(tmp_path: Path) -> None:
    from smart0dte.adapters.databento.dbn_writer import write_simulated_day
    from smart0dte.domain.simulator import MarketSimulator, SimulatorConfig

    simulated = MarketSimulator(SimulatorConfig().with_strikes_each_side(3)).day(DAY, seed=11)
    write_simulated_day(simulated, tmp_path)

    loaded = DbnFolderMarketData(tmp_path).load_checked_day(DAY).raw

    _assert_same_day(loaded, simulated.market_day)


class _FakeStore:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw


class _FakeTimeseries:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self.requests: list[dict[str, Any]] = []

    def get_range(self, **request: Any) -> Any:
        """Serve the day folder's files, filtered to the requested symbols like Databento would."""
        self.requests.append(request)
        files = {
            ("OPRA.PILLAR", "definition"): "OPRA.PILLAR.definition.dbn.zst",
            ("OPRA.PILLAR", "cbbo-1m"): "OPRA.PILLAR.cbbo-1m.dbn.zst",
            ("EQUS.MINI", "ohlcv-1m"): "EQUS.MINI.ohlcv-1m.dbn.zst",
        }
        raw = (self._folder / files[request["dataset"], request["schema"]]).read_bytes()
        if request["schema"] == "cbbo-1m":  # only the requested contracts, as the API returns
            store = databento.DBNStore.from_bytes(raw)
            wanted = np.isin(store.to_df()["symbol"].to_numpy(dtype=str), request["symbols"])
            plain = (
                zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw), read_across_frames=True).read()
            )
            metadata_end = 8 + int.from_bytes(plain[4:8], "little")
            raw = plain[:metadata_end] + store.to_ndarray()[wanted].tobytes()
        return _FakeStore(raw)


class _FakeMetadata:
    def __init__(self, ranges: dict[str, dict[str, str]]) -> None:
        self._ranges = ranges

    def get_dataset_range(self, dataset: str) -> dict[str, str]:
        return self._ranges[dataset]


class _FakeHistorical:
    def __init__(self, folder: Path, ranges: dict[str, dict[str, str]] | None = None) -> None:
        self.timeseries = _FakeTimeseries(folder)
        self.metadata = _FakeMetadata(ranges or {})


def test_the_historical_api_gives_the_folder_day_without_vix(root: Path) -> None:
    written = write_day(root, DAY)
    client = _FakeHistorical(written.folder)

    day = DatabentoHistoricalMarketData(client).load_checked_day(DAY).raw

    from_folder = DbnFolderMarketData(root).load_checked_day(DAY).raw
    expected = MarketDay(
        DAY, {s: b for s, b in from_folder.bars.items() if s != "VIX"}, from_folder.chains, synthetic=False
    )
    _assert_same_day(day, expected)


def test_the_historical_api_is_asked_for_0dte_quotes_only(root: Path) -> None:
    written = write_day(root, DAY)
    client = _FakeHistorical(written.folder)

    DatabentoHistoricalMarketData(client).load_day(DAY)

    definitions, quotes, bars = client.timeseries.requests
    assert definitions["schema"] == "definition" and definitions["stype_in"] == "parent"
    assert definitions["symbols"] == ["SPY.OPT", "QQQ.OPT", "IWM.OPT"]
    assert (definitions["start"], definitions["end"]) == ("2025-03-14", "2025-03-15")
    assert quotes["stype_in"] == "raw_symbol"
    assert sorted(quotes["symbols"]) == sorted(s for s in written.option_ids if "250314" in s)
    assert quotes["start"] == written.open_ns + NS_PER_MINUTE
    assert quotes["end"] == written.open_ns + 391 * NS_PER_MINUTE
    assert bars["dataset"] == "EQUS.MINI" and bars["symbols"] == ["SPY", "QQQ", "IWM"]
    assert (bars["start"], bars["end"]) == (written.open_ns, written.open_ns + 390 * NS_PER_MINUTE)


def test_the_historical_api_splits_long_symbol_lists(root: Path) -> None:
    written = write_day(root, DAY)
    client = _FakeHistorical(written.folder)
    source = DatabentoHistoricalMarketData(client)
    source.MAX_SYMBOLS_PER_REQUEST = 3

    day = source.load_checked_day(DAY).raw

    quote_requests = [r for r in client.timeseries.requests if r["schema"] == "cbbo-1m"]
    assert [len(r["symbols"]) for r in quote_requests] == [3, 3, 2]
    whole = DatabentoHistoricalMarketData(_FakeHistorical(written.folder)).load_checked_day(DAY).raw
    _assert_same_day(day, whole)


def test_available_days_are_sessions_both_datasets_cover(tmp_path: Path) -> None:
    ranges = {
        "OPRA.PILLAR": {"start": "2025-03-13T00:00:00.000000000Z", "end": "2025-03-19T15:00:00.000000000Z"},
        "EQUS.MINI": {"start": "2025-03-12T00:00:00.000000000Z", "end": "2025-03-20T00:00:00.000000000Z"},
    }

    days = DatabentoHistoricalMarketData(_FakeHistorical(tmp_path, ranges)).available_days()

    assert days == [date(2025, 3, 13), DAY, date(2025, 3, 17), date(2025, 3, 18)]  # 03-19 closes later


def test_a_day_without_0dte_options_has_no_chains(root: Path) -> None:
    written = write_day(root, DAY, strikes={})
    client = _FakeHistorical(written.folder)

    day = DatabentoHistoricalMarketData(client).load_day(DAY)

    assert day.chains == {}
    assert [r["schema"] for r in client.timeseries.requests] == ["definition", "ohlcv-1m"]
