"""Decode DBN (Databento Binary Encoding) into natural-unit numpy columns and domain records.

The reader takes one DBN file's bytes - zstd-compressed or plain - from bytes, a binary
stream or a path, so local folders, S3 objects and Databento's Historical API share it.
Records are viewed in place through a numpy structured dtype matching the DBN record layout
of the file's version (layouts from databento_dbn), then converted column by column exactly
as `databento.DBNStore.to_df()` converts them:

- prices: int64 fixed-point 1e-9 USD -> float64 USD; UNDEF_PRICE -> NaN
- timestamps: uint64 ns since the epoch -> datetime64[ns] UTC; UNDEF_TIMESTAMP -> NaT
- characters and strings -> str; every other integer keeps its DBN width
- `symbol`: from the metadata's symbol mappings, by instrument_id on the UTC date of the
  record's time (`ts_recv`, or `ts_event` for schemas without it); None when unmapped

Only files holding one schema (Databento historical data) are read; a live stream that
interleaves record types is rejected.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import databento_dbn
import numpy as np
import numpy.typing as npt
import zstandard

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.marketdata import BarSeries, ns_to_datetime
from smart0dte.domain.models import DomainError, OptionContract, Quote

Column = npt.NDArray[Any]
DbnSource = bytes | bytearray | memoryview | BinaryIO | str | os.PathLike[str]

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_PREFIX_BYTES = 8
"""b'DBN', the version byte, then the metadata length as uint32 little-endian."""
_NAT_NS = np.iinfo(np.int64).min
_DAY_KEY_BITS = 20
"""Days since the epoch fit in 20 bits until the year 4840; instrument ids sit above them."""

_RECORD_CLASS_BY_SCHEMA = {
    "definition": "InstrumentDefMsg",
    "statistics": "StatMsg",
    "trades": "TradeMsg",
    "mbp-1": "MBP1Msg",
    "tbbo": "MBP1Msg",
    "cmbp-1": "CMBP1Msg",
    "cbbo-1s": "CBBOMsg",
    "cbbo-1m": "CBBOMsg",
    "tcbbo": "CBBOMsg",
    "bbo-1s": "BBOMsg",
    "bbo-1m": "BBOMsg",
    "ohlcv-1s": "OHLCVMsg",
    "ohlcv-1m": "OHLCVMsg",
    "ohlcv-1h": "OHLCVMsg",
    "ohlcv-1d": "OHLCVMsg",
    "ohlcv-eod": "OHLCVMsg",
}
SUPPORTED_SCHEMAS = tuple(_RECORD_CLASS_BY_SCHEMA)
BAR_INTERVAL_S = {"ohlcv-1s": 1, "ohlcv-1m": 60, "ohlcv-1h": 3600, "ohlcv-1d": 86_400, "ohlcv-eod": 86_400}
_RECORD_MODULES: dict[int, ModuleType] = {1: databento_dbn.v1, 2: databento_dbn.v2, 3: databento_dbn.v3}


class DbnFormatError(DomainError):
    """A DBN source is unreadable, truncated, corrupt or of an unsupported schema."""


@dataclass(frozen=True, slots=True)
class SymbolInterval:
    """`symbol` names `instrument_id` from `start_date` up to (not including) `end_date`."""

    instrument_id: int
    start_date: date
    end_date: date
    symbol: str


@dataclass(frozen=True, slots=True)
class DbnMetadata:
    """The header of a DBN file: what was requested and how symbols map to instrument ids."""

    version: int
    dataset: str
    schema: str
    stype_in: str | None
    stype_out: str
    start_ns: int
    end_ns: int | None
    symbols: tuple[str, ...]
    mappings: tuple[SymbolInterval, ...]


@dataclass(frozen=True, eq=False)
class DbnData:
    """The records of one DBN file as columns in natural units, named as DBN names them.

    `columns` holds the fields in `to_df()` order (the record's time first) and `symbol` last;
    each is converted on first access.
    """

    source: str
    metadata: DbnMetadata
    time_field: str
    columns: Mapping[str, Column]

    def __len__(self) -> int:
        return int(self.columns[self.time_field].shape[0])

    @property
    def schema(self) -> str:
        return self.metadata.schema

    def ts_ns(self, name: str) -> npt.NDArray[np.int64]:
        """A timestamp column as int64 ns since the epoch (NaT is int64 min)."""
        return self.columns[name].view(np.int64)

    def rows(self, limit: int | None = None) -> Iterator[dict[str, object]]:
        """Records as JSON-ready dicts: `ts` (the record's time) then every field.

        Times are ISO 8601 UTC strings, prices float USD, sizes int; undefined values are None.
        """
        count = len(self) if limit is None else min(limit, len(self))
        values = {name: _json_values(column[:count]) for name, column in self.columns.items()}
        for index in range(count):
            row: dict[str, object] = {"ts": values[self.time_field][index]}
            row.update((name, column_values[index]) for name, column_values in values.items())
            yield row


@dataclass(frozen=True, slots=True)
class OptionDefinition:
    """An OPRA option as its definition record states it."""

    instrument_id: int
    contract: OptionContract
    expiration_ns: int
    """Midnight UTC of the expiry date, as OPRA stamps it; the contract expires at `expires_at`."""


def read_dbn(source: DbnSource, name: str | None = None) -> DbnData:
    """Decode a whole DBN file (zstd or plain) from bytes, a binary stream or a path.

    `name` labels the source in errors (defaults to the path or the stream's name).
    Raises DbnFormatError naming the source and what was expected; nothing is half-read.
    """
    label, raw = _read_source(source, name)
    data = _decompress(raw, label)
    if len(data) < _PREFIX_BYTES or data[:3] != b"DBN":
        raise DbnFormatError(f"{label}: not a DBN file (expected the 'DBN' signature, plain or zstd)")
    version = data[3]
    if version not in _RECORD_MODULES:
        raise DbnFormatError(
            f"{label}: DBN version {version} is not supported; expected one of {sorted(_RECORD_MODULES)}"
        )
    records_offset = _PREFIX_BYTES + int.from_bytes(data[4:8], "little")
    if len(data) < records_offset:
        raise DbnFormatError(f"{label}: truncated metadata ({len(data)} of {records_offset} bytes)")
    try:
        raw_metadata = databento_dbn.Metadata.decode(data[:records_offset])
    except databento_dbn.DBNError as exc:
        raise DbnFormatError(f"{label}: corrupt DBN metadata ({exc})") from exc
    metadata = _metadata(raw_metadata, version, label)
    record_class = getattr(_RECORD_MODULES[version], _RECORD_CLASS_BY_SCHEMA[metadata.schema])
    layout: list[tuple[str, str]] = list(record_class._dtypes)
    if raw_metadata.ts_out:
        layout.append(("ts_out", "u8"))
    records = _records(memoryview(data)[records_offset:], np.dtype(layout), metadata.schema, label)
    return DbnData(
        label, metadata, record_class._ordered_fields[0], _Columns(records, record_class, metadata)
    )


def to_bars(data: DbnData) -> dict[str, BarSeries]:
    """The bars of an ohlcv file, one series per symbol, sorted by open time (`ts_event`)."""
    interval_s = BAR_INTERVAL_S.get(data.schema)
    if interval_s is None:
        raise DbnFormatError(
            f"{data.source}: schema {data.schema} has no bars; expected {sorted(BAR_INTERVAL_S)}"
        )
    symbols = _require_symbols(data)
    open_ts_ns = data.ts_ns("ts_event")
    if bool(np.any(open_ts_ns == _NAT_NS)):
        raise DbnFormatError(f"{data.source}: a bar has no ts_event (UNDEF_TIMESTAMP)")
    names, inverse = np.unique(symbols.astype(str), return_inverse=True)
    bars: dict[str, BarSeries] = {}
    for position, symbol in enumerate(names.tolist()):
        rows = np.flatnonzero(inverse == position)
        rows = rows[np.argsort(open_ts_ns[rows], kind="stable")]
        repeated = np.flatnonzero(np.diff(open_ts_ns[rows]) == 0)
        if repeated.size:
            ts = ns_to_datetime(int(open_ts_ns[rows[repeated[0]]])).isoformat()
            raise DbnFormatError(
                f"{data.source}: {symbol} has more than one bar opening at {ts}; expected one bar per "
                "symbol and interval (several publishers in one file?)"
            )
        bars[symbol] = BarSeries(
            symbol,
            open_ts_ns[rows].copy(),
            data.columns["open"][rows],
            data.columns["high"][rows],
            data.columns["low"][rows],
            data.columns["close"][rows],
            data.columns["volume"][rows].astype(np.int64),
            interval_s,
        )
    return bars


def to_quotes(data: DbnData) -> list[Quote | None]:
    """Top of book per record of a quote schema; None where the record has no two-sided book."""
    if "bid_px_00" not in data.columns:
        raise DbnFormatError(f"{data.source}: schema {data.schema} has no book; expected a quote schema")
    symbols = _require_symbols(data)
    ts_ns = data.ts_ns(data.time_field)
    bid, ask = data.columns["bid_px_00"], data.columns["ask_px_00"]
    bid_size, ask_size = data.columns["bid_sz_00"], data.columns["ask_sz_00"]
    two_sided = (bid >= 0) & (ask >= 0) & (ts_ns != _NAT_NS)  # NaN compares False
    quotes: list[Quote | None] = [None] * len(data)
    for row in np.flatnonzero(two_sided).tolist():
        quotes[row] = Quote(
            symbol=symbols[row],
            ts=ns_to_datetime(int(ts_ns[row])),
            bid=float(bid[row]),
            ask=float(ask[row]),
            bid_size=int(bid_size[row]),
            ask_size=int(ask_size[row]),
        )
    return quotes


def to_option_definitions(
    data: DbnData, *, expiry: date | None = None, roots: Collection[str] | None = None
) -> list[OptionDefinition]:
    """The options (instrument_class C or P) of a definition file, checked against their OCC symbol.

    Filters (vectorized, before any object is built): `expiry` keeps one expiry date, `roots`
    keeps OCC roots such as {"SPY", "QQQ"}. When an instrument is defined more than once, its
    last record wins; one whose last record deletes it is left out.
    """
    if data.schema != "definition":
        raise DbnFormatError(f"{data.source}: schema {data.schema} has no definitions; expected definition")
    columns = data.columns
    instrument_class = columns["instrument_class"]
    raw_symbol = columns["raw_symbol"]
    keep = (instrument_class == "C") | (instrument_class == "P")
    if expiry is not None:
        keep &= columns["expiration"].astype("datetime64[D]") == np.datetime64(expiry, "D")
    if roots is not None:
        keep &= np.isin(np.char.rstrip(raw_symbol.astype("U6")), sorted(roots))
    candidates = np.flatnonzero(keep)
    ids = columns["instrument_id"][candidates]
    _, first_from_end = np.unique(ids[::-1], return_index=True)
    latest = np.sort(candidates[candidates.shape[0] - 1 - first_from_end])
    latest = latest[columns["security_update_action"][latest] != "D"]
    expiration_ns = data.ts_ns("expiration")
    return [
        _option_definition(
            data,
            int(columns["instrument_id"][row]),
            str(raw_symbol[row]),
            str(instrument_class[row]),
            float(columns["strike_price"][row]),
            int(expiration_ns[row]),
        )
        for row in latest.tolist()
    ]


def expires_at(definition: OptionDefinition, calendar: MarketCalendar | None = None) -> datetime:
    """When the option expires: the New York close of its expiry date's session, in UTC.

    OPRA stamps `expiration` at midnight UTC of the expiry date; the contract trades until that
    session's close (16:00 New York, 13:00 on early-close days).
    """
    session = (calendar or MarketCalendar()).session(definition.contract.expiry)
    if session is None:
        raise DomainError(
            f"expiry={definition.contract.expiry.isoformat()} of {definition.contract.occ_symbol} "
            "is not an NYSE session, so it has no close to expire at"
        )
    return session.close_et.astimezone(UTC)


def _option_definition(
    data: DbnData, instrument_id: int, raw_symbol: str, right: str, strike_usd: float, expiration_ns: int
) -> OptionDefinition:
    where = f"{data.source}: definition of instrument_id {instrument_id} ({raw_symbol!r})"
    try:
        contract = OptionContract.from_occ(raw_symbol)
    except (DomainError, ValueError) as exc:
        raise DbnFormatError(f"{where}: raw_symbol is not an OCC option symbol ({exc})") from exc
    expiration_date = None if expiration_ns == _NAT_NS else ns_to_datetime(expiration_ns).date()
    if (
        contract.right.value != right
        or abs(contract.strike - strike_usd) > 5e-4
        or (contract.expiry != expiration_date)
    ):
        raise DbnFormatError(
            f"{where} disagrees with its fields: instrument_class={right}, strike_price={strike_usd}, "
            f"expiration={expiration_date}; expected {contract.right.value}, {contract.strike}, "
            f"{contract.expiry.isoformat()} as the OCC symbol says"
        )
    return OptionDefinition(instrument_id, contract, expiration_ns)


def _read_source(source: DbnSource, name: str | None) -> tuple[str, bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        label, raw = name or "<bytes>", bytes(source)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        label = name or str(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DbnFormatError(f"{label}: cannot read the DBN file ({exc.strerror or exc})") from exc
    else:
        label, raw = name or str(getattr(source, "name", "<stream>")), source.read()
    if not raw:
        raise DbnFormatError(f"{label}: empty; expected a DBN file")
    return label, raw


def _decompress(raw: bytes, label: str) -> bytes:
    """The DBN bytes of `raw`, inflating every zstd frame and refusing a truncated one."""
    if raw[:4] != _ZSTD_MAGIC:
        return raw
    chunks: list[bytes] = []
    remaining = raw
    while remaining:
        decompressor = zstandard.ZstdDecompressor().decompressobj()
        try:
            chunks.append(decompressor.decompress(remaining))
        except zstandard.ZstdError as exc:
            raise DbnFormatError(f"{label}: corrupt zstd data ({exc})") from exc
        if not decompressor.eof:
            raise DbnFormatError(f"{label}: truncated zstd data (the last frame ends early)")
        remaining = decompressor.unused_data
    return b"".join(chunks)


def _metadata(raw: Any, version: int, label: str) -> DbnMetadata:
    if raw.schema is None:
        raise DbnFormatError(
            f"{label}: mixes record types (no single schema, as live streams do); "
            f"expected one schema of {', '.join(SUPPORTED_SCHEMAS)}"
        )
    schema = str(raw.schema)
    if schema not in _RECORD_CLASS_BY_SCHEMA:
        raise DbnFormatError(
            f"{label}: schema {schema} is not supported; expected one of {', '.join(SUPPORTED_SCHEMAS)}"
        )
    stype_in = None if raw.stype_in is None else str(raw.stype_in)
    stype_out = str(raw.stype_out)
    mappings: list[SymbolInterval] = []
    for symbol_in, entries in raw.mappings.items():
        for entry in entries:
            if not entry["symbol"]:
                continue
            if stype_in == "instrument_id":
                instrument_id, symbol = symbol_in, entry["symbol"]
            elif stype_out == "instrument_id":
                instrument_id, symbol = entry["symbol"], symbol_in
            else:
                raise DbnFormatError(
                    f"{label}: symbol mappings from {stype_in} to {stype_out}; "
                    "expected instrument_id on one side"
                )
            try:
                mappings.append(
                    SymbolInterval(int(instrument_id), entry["start_date"], entry["end_date"], symbol)
                )
            except ValueError as exc:
                raise DbnFormatError(
                    f"{label}: symbol mapping of {symbol_in!r} has no instrument id"
                ) from exc
    return DbnMetadata(
        version=version,
        dataset=str(raw.dataset),
        schema=schema,
        stype_in=stype_in,
        stype_out=stype_out,
        start_ns=int(raw.start),
        end_ns=None if raw.end is None else int(raw.end),
        symbols=tuple(raw.symbols),
        mappings=tuple(mappings),
    )


def _records(body: memoryview, dtype: np.dtype[Any], schema: str, label: str) -> npt.NDArray[np.void]:
    """View the record bytes as `dtype`, checking every record's length and type."""
    size = dtype.itemsize
    if len(body) % size:
        raise DbnFormatError(
            f"{label}: truncated: {len(body) % size} trailing bytes after {len(body) // size} "
            f"{schema} records of {size} bytes"
        )
    records = np.frombuffer(body, dtype=dtype)
    expected_rtype = int(databento_dbn.RType.from_schema(databento_dbn.Schema(schema)))
    wrong = (records["length"] != size // 4) | (records["rtype"] != expected_rtype)
    if bool(np.any(wrong)):
        index = int(np.argmax(wrong))
        raise DbnFormatError(
            f"{label}: record {index} has rtype {records['rtype'][index]} and length "
            f"{int(records['length'][index]) * 4} bytes; expected rtype {expected_rtype} ({schema}) of "
            f"{size} bytes: the file is corrupt or mixes record types"
        )
    return records


class _Columns(Mapping[str, Column]):
    """Natural-unit columns, each converted on first access (a chain needs only a few)."""

    def __init__(self, records: npt.NDArray[np.void], record_class: Any, metadata: DbnMetadata) -> None:
        self._records = records
        self._names: tuple[str, ...] = (*record_class._ordered_fields, "symbol")
        self._price_fields = frozenset(record_class._price_fields)
        self._timestamp_fields = frozenset(record_class._timestamp_fields)
        self._mappings = metadata.mappings
        self._converted: dict[str, Column] = {}

    def __getitem__(self, name: str) -> Column:
        if name not in self._converted:
            if name not in self._names:
                raise KeyError(name)
            self._converted[name] = self._convert(name)
        return self._converted[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def _convert(self, name: str) -> Column:
        if name == "symbol":
            return _resolve_symbols(self._records["instrument_id"], self[self._names[0]], self._mappings)
        raw = self._records[name]
        if name in self._price_fields:
            return _prices_usd(raw)
        if name in self._timestamp_fields:
            return _timestamps(raw)
        if raw.dtype.kind == "S":
            return _strings(raw)
        return np.ascontiguousarray(raw)


def _prices_usd(fixed: Column) -> npt.NDArray[np.float64]:
    prices = fixed.astype(np.float64)
    prices[fixed == databento_dbn.UNDEF_PRICE] = np.nan
    prices /= databento_dbn.FIXED_PRICE_SCALE
    return prices


def _timestamps(ns: Column) -> npt.NDArray[np.datetime64]:
    signed = ns.astype(np.int64)
    signed[ns > np.iinfo(np.int64).max] = _NAT_NS  # UNDEF_TIMESTAMP is uint64 max
    return signed.view("datetime64[ns]")


def _strings(raw: Column) -> npt.NDArray[np.str_]:
    try:
        return raw.astype(np.str_)  # ASCII, the fast path
    except UnicodeDecodeError:
        return np.char.decode(raw, "utf-8")


def _resolve_symbols(
    instrument_ids: Column, times: Column, mappings: tuple[SymbolInterval, ...]
) -> npt.NDArray[np.object_]:
    """Each record's symbol: the mapping of its instrument id whose interval holds its UTC date."""
    symbols = np.full(instrument_ids.shape[0], None, dtype=object)
    if not mappings:
        return symbols
    mapped_ids = np.array([m.instrument_id for m in mappings], dtype=np.int64)
    starts = np.array([m.start_date for m in mappings], dtype="datetime64[D]").view(np.int64)
    ends = np.array([m.end_date for m in mappings], dtype="datetime64[D]").view(np.int64)
    names = np.array([m.symbol for m in mappings], dtype=object)
    order = np.lexsort((starts, mapped_ids))
    mapped_ids, starts, ends, names = mapped_ids[order], starts[order], ends[order], names[order]
    days = times.astype("datetime64[D]").view(np.int64)
    dated = ~np.isnat(times)
    ids = instrument_ids.astype(np.int64)
    keys = (ids << _DAY_KEY_BITS) | np.where(dated, days, 0)
    position = np.searchsorted((mapped_ids << _DAY_KEY_BITS) | starts, keys, side="right") - 1
    clipped = np.clip(position, 0, None)
    found = dated & (position >= 0) & (mapped_ids[clipped] == ids) & (days < ends[clipped])
    symbols[found] = names[clipped[found]]
    return symbols


def _require_symbols(data: DbnData) -> npt.NDArray[np.object_]:
    symbols: npt.NDArray[np.object_] = data.columns["symbol"]
    unmapped = np.flatnonzero(~symbols.astype(np.bool_))
    if unmapped.size:
        row = int(unmapped[0])
        raise DbnFormatError(
            f"{data.source}: {unmapped.size} records have no symbol, e.g. instrument_id "
            f"{data.columns['instrument_id'][row]} at {data.columns[data.time_field][row]}; expected "
            "a symbol mapping in the metadata for every instrument on its date"
        )
    return symbols


def iso_utc(ts_ns: int) -> str:
    """ISO 8601 UTC of a ns timestamp, with 6 or 9 fraction digits when the time has a fraction."""
    seconds, fraction_ns = divmod(ts_ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).isoformat().removesuffix("+00:00")
    if fraction_ns % 1000:
        text += f".{fraction_ns:09d}"
    elif fraction_ns:
        text += f".{fraction_ns // 1000:06d}"
    return text + "+00:00"


def _json_values(column: Column) -> list[Any]:
    """Plain Python values of a column: ISO 8601 UTC strings, floats, ints, str; None if undefined."""
    if column.dtype.kind == "M":
        return [None if ns == _NAT_NS else iso_utc(ns) for ns in column.view(np.int64).tolist()]
    if column.dtype.kind == "f":
        return [None if np.isnan(value) else value for value in column.tolist()]
    return list(column.tolist())
