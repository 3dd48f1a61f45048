import json
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

import databento as db
import databento_dbn as dbn
import numpy as np
import pandas as pd
import pytest

from smart0dte import __version__
from smart0dte.adapters.databento.dbn_writer import (
    CBBO_FILE,
    DEFINITION_FILE,
    EQUITY_BARS_FILE,
    MANIFEST_FILE,
    VIX_BARS_FILE,
    encode_day,
    write_market_day,
    write_simulated_day,
)
from smart0dte.adapters.databento.historical import DbnFolderMarketData
from smart0dte.domain.marketdata import NS_PER_MINUTE, ChainSeries, MarketDay, datetime_to_ns
from smart0dte.domain.models import OptionContract, OptionRight, Underlying
from smart0dte.domain.simulator import MarketSimulator, Scenario, SimulatedDay, SimulatorConfig

DAY = date(2025, 3, 14)
OPEN_NS = datetime_to_ns(datetime(2025, 3, 14, 13, 30, tzinfo=UTC))


@pytest.fixture(scope="module")
def simulator() -> MarketSimulator:
    return MarketSimulator(SimulatorConfig().with_strikes_each_side(2))


@pytest.fixture(scope="module")
def day(simulator: MarketSimulator) -> SimulatedDay:
    return simulator.day(DAY, seed=3, scenario=Scenario.TREND_DOWN)


@pytest.fixture(scope="module")
def folder(day: SimulatedDay, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_simulated_day(day, tmp_path_factory.mktemp("dbn"))


def _store(path: Path) -> db.DBNStore:
    return db.DBNStore.from_file(path)


def _df(store: db.DBNStore) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # databento's own pandas deprecation warnings
        return store.to_df().reset_index()


def test_the_folder_holds_the_agreed_files(folder: Path) -> None:
    assert folder.name == "2025-03-14"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MANIFEST_FILE, DEFINITION_FILE, CBBO_FILE, EQUITY_BARS_FILE, VIX_BARS_FILE]
    )
    assert [p.name for p in folder.parent.iterdir()] == ["2025-03-14"]


def test_manifest_labels_the_day_synthetic(folder: Path, day: SimulatedDay) -> None:
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["synthetic"] is True
    assert manifest["session_date"] == "2025-03-14"
    assert manifest["generator"] == f"smart0dte {__version__} simulator"
    assert (manifest["seed"], manifest["scenario"], manifest["session_minutes"]) == (3, "trend_down", 390)
    assert manifest["files"][CBBO_FILE] == {
        "dataset": "OPRA.PILLAR",
        "schema": "cbbo-1m",
        "records": 390 * 30,
        "symbols": 30,
    }
    assert manifest["files"][VIX_BARS_FILE]["dataset"] == "XCBO.VIX"
    assert manifest["close"]["SPY"] == day.market_day.bars["SPY"].close[-1]


def test_every_record_re_encodes_to_the_bytes_written(day: SimulatedDay) -> None:
    for name, (raw, info) in encode_day(day.market_day, day.quote_ts_event_ns).items():
        metadata_end = 8 + int.from_bytes(raw[4:8], "little")
        decoder = dbn.DBNDecoder()
        decoder.write(raw)
        metadata, *records = decoder.decode()
        assert isinstance(metadata, dbn.Metadata)
        assert metadata.version == 3 and metadata.dataset == info.dataset, name
        assert len(records) == info.records, name
        assert b"".join(bytes(r) for r in records) == raw[metadata_end:], name


def test_definitions_name_each_option_by_its_occ_symbol(folder: Path, day: SimulatedDay) -> None:
    store = _store(folder / DEFINITION_FILE)
    defs = _df(store)
    contracts = [c for chain in day.market_day.chains.values() for c in chain.contracts]

    assert store.metadata.dataset == "OPRA.PILLAR" and str(store.schema) == "definition"
    assert sorted(defs["raw_symbol"]) == sorted(c.occ_symbol for c in contracts)
    assert (defs["symbol"] == defs["raw_symbol"]).all()
    for row in defs.itertuples():
        contract = OptionContract.from_occ(row.raw_symbol)
        assert row.instrument_class == contract.right.value
        assert row.strike_price == contract.strike
        assert row.underlying == row.asset == contract.root
    assert (defs["expiration"] == pd.Timestamp("2025-03-14T00:00:00Z")).all()
    assert (defs["security_type"] == "OPT").all() and (defs["exchange"] == "OPRA").all()
    assert (defs["currency"] == "USD").all() and (defs["group"] == "synthetic").all()
    assert (defs["ts_recv"] < pd.Timestamp("2025-03-14T13:30:00Z")).all()
    assert defs["instrument_id"].is_unique


def test_cbbo_records_carry_the_chain_quotes(folder: Path, day: SimulatedDay) -> None:
    store = _store(folder / CBBO_FILE)
    quotes = _df(store)
    assert str(store.metadata.stype_in) == "raw_symbol" and store.metadata.dataset == "OPRA.PILLAR"
    assert quotes["ts_recv"].is_monotonic_increasing

    for underlying, chain in day.market_day.chains.items():
        for column, index in ((0, 0), (len(chain.contracts) - 1, 389)):
            contract = chain.contracts[column]
            row = quotes[quotes["symbol"] == contract.occ_symbol].iloc[index]
            assert row["ts_recv"].value == chain.sample_ts_ns[index]
            assert row["ts_event"].value == day.quote_ts_event_ns[underlying][index, column]
            assert row["bid_px_00"] == chain.bid[index, column]
            assert row["ask_px_00"] == chain.ask[index, column]
            assert row["bid_sz_00"] == chain.bid_size[index, column]
            assert row["ask_sz_00"] == chain.ask_size[index, column]
    assert (quotes["ts_event"] <= quotes["ts_recv"]).all()
    assert (quotes["bid_px_00"] < quotes["ask_px_00"]).all()
    no_bid = quotes["bid_px_00"] == 0
    assert no_bid.any() and (quotes.loc[no_bid, "bid_sz_00"] == 0).all()


def test_ohlcv_files_hold_the_bars(folder: Path, day: SimulatedDay) -> None:
    equities = _df(_store(folder / EQUITY_BARS_FILE))
    vix_store = _store(folder / VIX_BARS_FILE)
    vix = _df(vix_store)
    assert vix_store.metadata.dataset == "XCBO.VIX" and str(vix_store.schema) == "ohlcv-1m"
    assert sorted(equities["symbol"].unique()) == ["IWM", "QQQ", "SPY"]

    for symbol, frame in [*equities.groupby("symbol"), ("VIX", vix)]:
        bars = day.market_day.bars[str(symbol)]
        assert frame["ts_event"].astype("int64").tolist() == bars.open_ts_ns.tolist()
        for name in ("open", "high", "low", "close"):
            assert frame[name].tolist() == getattr(bars, name).tolist(), (symbol, name)
        assert frame["volume"].tolist() == bars.volume.tolist()


def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(
    simulator: MarketSimulator, tmp_path: Path, folder: Path
) -> None:
    again = write_simulated_day(simulator.day(DAY, seed=3, scenario=Scenario.TREND_DOWN), tmp_path / "a")
    other = write_simulated_day(simulator.day(DAY, seed=4, scenario=Scenario.TREND_DOWN), tmp_path / "b")

    for path in folder.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    assert (other / CBBO_FILE).read_bytes() != (folder / CBBO_FILE).read_bytes()
    assert (other / EQUITY_BARS_FILE).read_bytes() != (folder / EQUITY_BARS_FILE).read_bytes()


def test_rewriting_replaces_the_folder_and_a_failed_write_leaves_the_old_one(
    simulator: MarketSimulator, tmp_path: Path
) -> None:
    first = write_simulated_day(simulator.day(DAY, seed=1), tmp_path)
    before = (first / CBBO_FILE).read_bytes()
    write_simulated_day(simulator.day(DAY, seed=2), tmp_path)
    replaced = (first / CBBO_FILE).read_bytes()

    with pytest.raises(TypeError):
        write_market_day(simulator.day(DAY, seed=9).market_day, tmp_path, {"not_json": object()})

    assert replaced != before
    assert (first / CBBO_FILE).read_bytes() == replaced
    assert [p.name for p in tmp_path.iterdir()] == ["2025-03-14"]


def test_a_missing_quote_is_undefined_and_ts_event_defaults_to_the_sample_time(
    simulator: MarketSimulator, tmp_path: Path
) -> None:
    contracts = tuple(
        OptionContract(root="QQQ", expiry=DAY, right=right, strike=500.0) for right in OptionRight
    )
    bid = np.array([[1.5, np.nan], [1.25, 0.0]])
    chain = ChainSeries(
        Underlying.QQQ,
        DAY,
        contracts,
        OPEN_NS + np.array([1, 2], dtype=np.int64) * NS_PER_MINUTE,
        bid,
        np.array([[1.52, np.nan], [1.27, 0.01]]),
        np.array([[5, 0], [6, 0]], dtype=np.int64),
        np.array([[7, 0], [8, 9]], dtype=np.int64),
    )
    bars = simulator.day(DAY, seed=1).market_day.bars
    market_day = MarketDay(DAY, {"QQQ": bars["QQQ"]}, {Underlying.QQQ: chain}, synthetic=False)

    folder = write_market_day(market_day, tmp_path, {"source": "test"})
    quotes = _df(_store(folder / CBBO_FILE))

    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MANIFEST_FILE, DEFINITION_FILE, CBBO_FILE, EQUITY_BARS_FILE]
    )
    assert json.loads((folder / MANIFEST_FILE).read_text())["synthetic"] is False
    put = quotes[quotes["symbol"] == "QQQ   250314P00500000"]
    assert np.isnan(put["bid_px_00"].iloc[0]) and np.isnan(put["ask_px_00"].iloc[0])
    assert put["bid_px_00"].iloc[1] == 0.0 and put["ask_px_00"].iloc[1] == 0.01
    assert (quotes["ts_event"] == quotes["ts_recv"]).all()


def test_the_folder_reader_loads_back_the_simulated_day(folder: Path, day: SimulatedDay) -> None:
    loaded = DbnFolderMarketData(folder.parent).load_checked_day(DAY).raw

    assert loaded.synthetic is True
    for symbol, bars in day.market_day.bars.items():
        for name in ("open_ts_ns", "open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(loaded.bars[symbol], name), getattr(bars, name)), (symbol, name)
    for underlying, chain in day.market_day.chains.items():
        assert loaded.chains[underlying].contracts == chain.contracts
        for name in ("sample_ts_ns", "bid", "ask", "bid_size", "ask_size"):
            assert np.array_equal(getattr(loaded.chains[underlying], name), getattr(chain, name)), name
