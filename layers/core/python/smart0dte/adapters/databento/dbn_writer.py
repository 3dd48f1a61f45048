"""Write a market day as Databento DBN files (zstd), one folder per session.

Layout of `<out>/<YYYY-MM-DD>/`, which `adapters.historical` reads:

- `manifest.json`: what the folder holds (`synthetic`, `session_date`, `generator`, ...).
- `OPRA.PILLAR.definition.dbn.zst`: one InstrumentDefMsg per option, stamped before the open.
- `OPRA.PILLAR.cbbo-1m.dbn.zst`: one cbbo-1m record per option per minute; `ts_recv` is the end
  of the minute the record describes, `ts_event` the quote's last change. A missing bid (far
  wings) is written as price 0 with size 0; a missing quote (NaN) as UNDEF_PRICE.
- `EQUS.MINI.ohlcv-1m.dbn.zst`: SPY, QQQ, IWM bars stamped with their open time.
- `VIX.ohlcv-1m.dbn.zst`: VIX bars, DBN dataset `XCBO.VIX`.

Records are built as numpy structured arrays in the DBN v3 layout and appended to the encoded
metadata; zstd runs single-threaded at a fixed level, so the same day gives the same bytes. A folder
is written under a temporary name and renamed into place: readers never see half a day.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import databento_dbn as dbn
import numpy as np
import zstandard

from smart0dte import __version__
from smart0dte.domain.marketdata import F64, I64, NS_PER_MINUTE, ChainSeries, MarketDay, datetime_to_ns
from smart0dte.domain.models import DomainError, Underlying
from smart0dte.domain.simulator import SimulatedDay

OPTIONS_DATASET = "OPRA.PILLAR"
EQUITIES_DATASET = "EQUS.MINI"
VIX_DATASET = "XCBO.VIX"
MANIFEST_FILE = "manifest.json"
DEFINITION_FILE = "OPRA.PILLAR.definition.dbn.zst"
CBBO_FILE = "OPRA.PILLAR.cbbo-1m.dbn.zst"
EQUITY_BARS_FILE = "EQUS.MINI.ohlcv-1m.dbn.zst"
VIX_BARS_FILE = "VIX.ohlcv-1m.dbn.zst"

OPRA_PUBLISHER_ID = 30
"""OPRA.PILLAR.OPRA: the consolidated OPRA feed."""
EQUS_MINI_PUBLISHER_ID = 95
"""EQUS.MINI.EQUS."""
VIX_PUBLISHER_ID = 0
"""Databento has no publisher for the Cboe index feed; 0 marks it as none."""
ZSTD_LEVEL = 3
DEFINITION_LEAD_NS = 3 * 60 * NS_PER_MINUTE
"""Definitions are stamped this long before the open (OPRA publishes them early in the morning)."""
SYNTHETIC_GROUP = "synthetic"
"""InstrumentDefMsg.group of every synthetic option, so a definition alone says what it is."""
_OPTION_ID_BLOCK = 1_000_000

OHLCV_DTYPE = np.dtype(
    [
        ("length", "u1"),
        ("rtype", "u1"),
        ("publisher_id", "<u2"),
        ("instrument_id", "<u4"),
        ("ts_event", "<u8"),
        ("open", "<i8"),
        ("high", "<i8"),
        ("low", "<i8"),
        ("close", "<i8"),
        ("volume", "<u8"),
    ]
)
CBBO_DTYPE = np.dtype(
    [
        ("length", "u1"),
        ("rtype", "u1"),
        ("publisher_id", "<u2"),
        ("instrument_id", "<u4"),
        ("ts_event", "<u8"),
        ("price", "<i8"),
        ("size", "<u4"),
        ("_reserved1", "u1"),
        ("side", "S1"),
        ("flags", "u1"),
        ("_reserved2", "u1"),
        ("ts_recv", "<u8"),
        ("_reserved3", "S8"),
        ("bid_px_00", "<i8"),
        ("ask_px_00", "<i8"),
        ("bid_sz_00", "<u4"),
        ("ask_sz_00", "<u4"),
        ("bid_pb_00", "<u2"),
        ("_reserved4", "S2"),
        ("ask_pb_00", "<u2"),
        ("_reserved5", "S2"),
    ]
)
"""DBN v3 CbboMsg (cbbo-1m): 80 bytes, one consolidated level."""


@dataclass(frozen=True, slots=True)
class DbnFile:
    """One written DBN file, as the manifest lists it."""

    name: str
    dataset: str
    schema: str
    records: int
    symbols: int

    def to_wire(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "schema": self.schema,
            "records": self.records,
            "symbols": self.symbols,
        }


def equity_instrument_id(symbol: str) -> int:
    """Fixed ids for the underlyings: SPY 1, QQQ 2, IWM 3, VIX 4 (the order of `Underlying`)."""
    try:
        return list(Underlying).index(Underlying(symbol)) + 1
    except ValueError:
        valid = ", ".join(u.value for u in Underlying)
        raise DomainError(f"symbol={symbol!r} has no instrument id; valid: {valid}") from None


def option_instrument_ids(chain: ChainSeries) -> I64:
    """Ids of a chain's contracts, in chain order: 1,000,000 x underlying id + position + 1."""
    base = equity_instrument_id(chain.underlying.value) * _OPTION_ID_BLOCK
    return base + 1 + np.arange(len(chain.contracts), dtype=np.int64)


def _fixed_price(price_usd: F64) -> I64:
    """USD floats as DBN int64 prices in units of 1e-9; NaN becomes UNDEF_PRICE."""
    scaled = np.rint(np.nan_to_num(price_usd, nan=0.0) * dbn.FIXED_PRICE_SCALE).astype(np.int64)
    return np.where(np.isnan(price_usd), np.int64(dbn.UNDEF_PRICE), scaled)


def _utc_midnight_ns(day: date) -> int:
    return datetime_to_ns(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _metadata(
    dataset: str, schema: dbn.Schema, session_date: date, ids_by_symbol: Mapping[str, int]
) -> bytes:
    """Encoded DBN metadata for one day: raw_symbol in, instrument_id out, one mapping per symbol."""
    next_day = session_date + timedelta(days=1)
    mappings = [
        SimpleNamespace(
            raw_symbol=symbol,
            intervals=[SimpleNamespace(start_date=session_date, end_date=next_day, symbol=str(iid))],
        )
        for symbol, iid in sorted(ids_by_symbol.items())
    ]
    metadata = dbn.Metadata(
        dataset,
        _utc_midnight_ns(session_date),
        dbn.SType.from_str("raw_symbol"),
        dbn.SType.from_str("instrument_id"),
        schema,
        symbols=sorted(ids_by_symbol),
        mappings=mappings,
        end=_utc_midnight_ns(next_day),
    )
    encoded: bytes = metadata.encode()
    return encoded


def _bar_records(market_day: MarketDay, symbols: Sequence[str], publisher_id: int) -> np.ndarray:
    """ohlcv-1m records of `symbols`, sorted by (bar open time, instrument id)."""
    parts = []
    for symbol in symbols:
        bars = market_day.bars[symbol]
        if bars.interval_s != 60:
            raise DomainError(f"bars[{symbol}].interval_s={bars.interval_s} must be 60 for ohlcv-1m")
        part = np.zeros(len(bars), dtype=OHLCV_DTYPE)
        part["length"] = OHLCV_DTYPE.itemsize // 4
        part["rtype"] = int(dbn.RType.OHLCV_1M)
        part["publisher_id"] = publisher_id
        part["instrument_id"] = equity_instrument_id(symbol)
        part["ts_event"] = bars.open_ts_ns
        for name in ("open", "high", "low", "close"):
            part[name] = _fixed_price(getattr(bars, name))
        part["volume"] = bars.volume
        parts.append(part)
    records = np.concatenate(parts)
    return records[np.lexsort((records["instrument_id"], records["ts_event"]))]


def _cbbo_records(
    chains: Sequence[ChainSeries], quote_ts_event_ns: Mapping[Underlying, I64] | None
) -> np.ndarray:
    """cbbo-1m records of every contract at every sample, sorted by (ts_recv, instrument id)."""
    parts = []
    for chain in chains:
        shape = chain.bid.shape
        sample_ts = np.broadcast_to(chain.sample_ts_ns[:, None], shape)
        ts_event = sample_ts if quote_ts_event_ns is None else quote_ts_event_ns[chain.underlying]
        if ts_event.shape != shape:
            raise DomainError(
                f"quote_ts_event_ns[{chain.underlying.value}] has shape {ts_event.shape}; expected {shape}"
            )
        part = np.zeros(shape, dtype=CBBO_DTYPE)
        part["length"] = CBBO_DTYPE.itemsize // 4
        part["rtype"] = int(dbn.RType.CBBO_1M)
        part["publisher_id"] = OPRA_PUBLISHER_ID
        part["instrument_id"] = option_instrument_ids(chain)[None, :]
        part["ts_event"] = ts_event
        part["price"] = dbn.UNDEF_PRICE
        part["side"] = b"N"
        part["flags"] = dbn.F_LAST | dbn.F_TOB
        part["ts_recv"] = sample_ts
        part["bid_px_00"] = _fixed_price(chain.bid)
        part["ask_px_00"] = _fixed_price(chain.ask)
        part["bid_sz_00"] = chain.bid_size
        part["ask_sz_00"] = chain.ask_size
        part["bid_pb_00"] = OPRA_PUBLISHER_ID
        part["ask_pb_00"] = OPRA_PUBLISHER_ID
        parts.append(part.reshape(-1))
    records = np.concatenate(parts)
    return records[np.lexsort((records["instrument_id"], records["ts_recv"]))]


def _definition_records(chains: Sequence[ChainSeries], ts_ns: int) -> bytes:
    """One InstrumentDefMsg per contract (a few hundred a day: built one by one)."""
    messages = []
    for chain in chains:
        expiration_ns = _utc_midnight_ns(chain.expiry)
        root = chain.underlying.value
        for contract, iid in zip(chain.contracts, option_instrument_ids(chain).tolist(), strict=True):
            message = dbn.InstrumentDefMsg(
                OPRA_PUBLISHER_ID,
                iid,
                ts_ns,
                ts_ns,
                10_000_000,  # $0.01 tick
                dbn.FIXED_PRICE_SCALE,
                contract.occ_symbol,
                root,
                "OPT",
                dbn.InstrumentClass.from_str(contract.right.value),
                dbn.SecurityUpdateAction.from_str("A"),
                expiration=expiration_ns,
                strike_price=contract.strike_milli * 1_000_000,
                raw_instrument_id=iid,
                underlying_id=equity_instrument_id(root),
                contract_multiplier=100,
                maturity_year=chain.expiry.year,
                maturity_month=chain.expiry.month,
                maturity_day=chain.expiry.day,
                currency="USD",
                group=SYNTHETIC_GROUP,
                exchange="OPRA",
                unit_of_measure="USD",
                underlying=root,
                strike_price_currency="USD",
            )
            messages.append(bytes(message))
    return b"".join(messages)


def encode_day(
    market_day: MarketDay, quote_ts_event_ns: Mapping[Underlying, I64] | None = None
) -> dict[str, tuple[bytes, DbnFile]]:
    """Every DBN file of the day, uncompressed (metadata + records), by file name."""
    session_date = market_day.session_date
    files: dict[str, tuple[bytes, DbnFile]] = {}
    equities = [u.value for u in Underlying.tradable() if u.value in market_day.bars]
    if not equities:
        raise DomainError("market_day.bars must hold at least one of SPY, QQQ, IWM")
    for name, dataset, publisher, symbols in (
        (EQUITY_BARS_FILE, EQUITIES_DATASET, EQUS_MINI_PUBLISHER_ID, equities),
        (VIX_BARS_FILE, VIX_DATASET, VIX_PUBLISHER_ID, [s for s in ["VIX"] if s in market_day.bars]),
    ):
        if not symbols:
            continue
        records = _bar_records(market_day, symbols, publisher)
        ids = {s: equity_instrument_id(s) for s in symbols}
        metadata = _metadata(dataset, dbn.Schema.from_str("ohlcv-1m"), session_date, ids)
        files[name] = (
            metadata + records.tobytes(),
            DbnFile(name, dataset, "ohlcv-1m", records.size, len(ids)),
        )

    chains = [market_day.chains[u] for u in Underlying.tradable() if u in market_day.chains]
    if chains:
        ids = {
            contract.occ_symbol: iid
            for chain in chains
            for contract, iid in zip(chain.contracts, option_instrument_ids(chain).tolist(), strict=True)
        }
        first_sample_ns = min(int(chain.sample_ts_ns[0]) for chain in chains if len(chain))
        definitions = _definition_records(chains, first_sample_ns - NS_PER_MINUTE - DEFINITION_LEAD_NS)
        metadata = _metadata(OPTIONS_DATASET, dbn.Schema.from_str("definition"), session_date, ids)
        files[DEFINITION_FILE] = (
            metadata + definitions,
            DbnFile(DEFINITION_FILE, OPTIONS_DATASET, "definition", len(ids), len(ids)),
        )
        quotes = _cbbo_records(chains, quote_ts_event_ns)
        metadata = _metadata(OPTIONS_DATASET, dbn.Schema.from_str("cbbo-1m"), session_date, ids)
        files[CBBO_FILE] = (
            metadata + quotes.tobytes(),
            DbnFile(CBBO_FILE, OPTIONS_DATASET, "cbbo-1m", quotes.size, len(ids)),
        )
    return files


def write_market_day(
    market_day: MarketDay,
    out_root: Path,
    manifest: Mapping[str, object],
    quote_ts_event_ns: Mapping[Underlying, I64] | None = None,
) -> Path:
    """Write `<out_root>/<session date>/` (replacing an older copy whole) and return that folder."""
    encoded = encode_day(market_day, quote_ts_event_ns)
    out_root.mkdir(parents=True, exist_ok=True)
    folder = out_root / market_day.session_date.isoformat()
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=out_root))
    try:
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=0)
        for name, (raw, _) in encoded.items():
            (staging / name).write_bytes(compressor.compress(raw))
        document = {
            **manifest,
            "synthetic": market_day.synthetic,
            "session_date": market_day.session_date.isoformat(),
            "files": {name: info.to_wire() for name, (_, info) in sorted(encoded.items())},
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        os.chmod(staging, 0o755)
        _replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def _replace_folder(staging: Path, folder: Path) -> None:
    """Move `staging` to `folder`; an existing folder is swapped out first, then deleted."""
    if not folder.exists():
        staging.rename(folder)
        return
    retired = staging.with_suffix(".old")
    folder.rename(retired)
    staging.rename(folder)
    shutil.rmtree(retired, ignore_errors=True)


def write_simulated_day(day: SimulatedDay, out_root: Path) -> Path:
    """Write a simulator day with its manifest (seed, scenario, levels) and quote update times."""
    manifest = {**day.describe(), "generator": f"smart0dte {__version__} simulator"}
    return write_market_day(day.market_day, out_root, manifest, day.quote_ts_event_ns)
