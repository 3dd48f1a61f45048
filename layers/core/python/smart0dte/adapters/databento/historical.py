"""MarketData over DBN: per-date folders (synthetic or archived) and Databento's Historical API.

Both assemble the same MarketDay with the same reader (adapters.dbn_reader):

- bars: SPY, QQQ and IWM from EQUS.MINI ohlcv-1m, VIX from XCBO.VIX ohlcv-1m; regular session
  only (bars opening from the open up to one minute before the close).
- chains: per underlying, the options the OPRA definitions say expire on the session date
  (0DTE), sorted by (right, strike), on the session's minute grid: row i holds the cbbo-1m
  sample stamped open + (i + 1) minutes (`ts_recv`, the end of the minute it describes). A minute
  without a sample stays a NaN row, which the quality check counts as missing.

`load_day` returns the day with the quality flags applied (domain.data_quality) and logs what
was flagged; `load_checked_day` returns the raw day, the clean day and the findings.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from smart0dte.adapters.databento.dbn_reader import DbnData, read_dbn, to_bars, to_option_definitions
from smart0dte.domain.calendar import FIRST_SUPPORTED_DATE, LAST_SUPPORTED_DATE, MarketCalendar, SessionTimes
from smart0dte.domain.data_quality import CheckedDay, QualityLimits, check_and_clean, session_grid
from smart0dte.domain.marketdata import (
    NS_PER_MINUTE,
    BarSeries,
    ChainSeries,
    MarketDay,
    datetime_to_ns,
    ns_to_datetime,
)
from smart0dte.domain.models import DomainError, OptionContract, Underlying

OPRA_DATASET = "OPRA.PILLAR"
EQUITY_DATASET = "EQUS.MINI"
VIX_DATASET = "XCBO.VIX"
"""Our own dataset name for VIX index bars (Databento carries no VIX index)."""
DEFINITIONS_FILE = f"{OPRA_DATASET}.definition.dbn.zst"
CHAIN_FILE = f"{OPRA_DATASET}.cbbo-1m.dbn.zst"
EQUITY_BARS_FILE = f"{EQUITY_DATASET}.ohlcv-1m.dbn.zst"
VIX_BARS_FILE = "VIX.ohlcv-1m.dbn.zst"
MANIFEST_FILE = "manifest.json"
DAY_FILES = (DEFINITIONS_FILE, CHAIN_FILE, EQUITY_BARS_FILE, VIX_BARS_FILE)
EQUITY_SYMBOLS = tuple(u.value for u in Underlying.tradable())
_CHAIN_FIELDS = ("bid_px_00", "ask_px_00", "bid_sz_00", "ask_sz_00")
"""cbbo-1m fields in the order ChainSeries takes them: bid, ask, bid_size, ask_size."""

_MARKET_STATES = frozenset({"no_quote", "no_bid", "flagged"})
"""Quality counts that describe the market (or sum others up) rather than bad data."""

_log = logging.getLogger(__name__)


class MarketDataError(DomainError):
    """A day cannot be loaded: missing folder or file, bad manifest, or files that disagree."""


def build_market_day(
    session: SessionTimes,
    *,
    definitions: DbnData,
    chain_quotes: Sequence[DbnData],
    equity_bars: DbnData,
    vix_bars: DbnData | None,
    synthetic: bool,
) -> MarketDay:
    """Assemble one session from decoded DBN files (see the module docstring for the shape)."""
    _expect(definitions, OPRA_DATASET, "definition")
    for quotes in chain_quotes:
        _expect(quotes, OPRA_DATASET, "cbbo-1m")
    _expect(equity_bars, EQUITY_DATASET, "ohlcv-1m")
    bar_open_ts_ns, sample_ts_ns = session_grid(session)
    open_ns, close_ns = int(bar_open_ts_ns[0]), int(sample_ts_ns[-1])
    bars = _session_bars(equity_bars, EQUITY_SYMBOLS, open_ns, close_ns)
    if vix_bars is not None:
        _expect(vix_bars, VIX_DATASET, "ohlcv-1m")
        bars.update(_session_bars(vix_bars, (Underlying.VIX.value,), open_ns, close_ns))
    chains = _chains(session.session_date, definitions, chain_quotes, sample_ts_ns)
    return MarketDay(session.session_date, bars, chains, synthetic)


class DbnFolderMarketData:
    """MarketData over `<root>/<YYYY-MM-DD>/` folders holding DAY_FILES and a manifest.json.

    The manifest says whether the day is synthetic (`"synthetic": true`); without a manifest,
    or without that field, the day is real.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        calendar: MarketCalendar | None = None,
        limits: QualityLimits | None = None,
    ) -> None:
        self._root = Path(root)
        self._calendar = calendar or MarketCalendar()
        self._limits = limits

    def describe(self) -> str:
        return str(self._root)

    def available_days(self) -> list[date]:
        """Dates of the day folders under the root, oldest first."""
        if not self._root.is_dir():
            raise MarketDataError(f"{self._root}: no such folder; expected <root>/<YYYY-MM-DD>/ day folders")
        return sorted(
            day for child in self._root.iterdir() if child.is_dir() and (day := _folder_date(child.name))
        )

    def load_day(self, session_date: date) -> MarketDay:
        """The day as decisions may use it: quality flags applied (and logged)."""
        return _logged(self.load_checked_day(session_date)).clean

    def previous_close(self, session_date: date) -> dict[str, float] | None:
        """Last regular-session close of each symbol on the archived day before `session_date`,
        read from the bar files only; None when no earlier day is archived."""
        earlier = [d for d in self.available_days() if d < session_date]
        if not earlier:
            return None
        folder = self._root / earlier[-1].isoformat()
        session = _session(self._calendar, earlier[-1])
        open_ns, close_ns = datetime_to_ns(session.open_et), datetime_to_ns(session.close_et)
        closes: dict[str, float] = {}
        for name in (EQUITY_BARS_FILE, VIX_BARS_FILE):
            for symbol, series in to_bars(read_dbn(folder / name)).items():
                regular = series.close[(series.open_ts_ns >= open_ns) & (series.open_ts_ns < close_ns)]
                if regular.size:
                    closes[symbol] = float(regular[-1])
        return closes

    def load_checked_day(self, session_date: date) -> CheckedDay:
        folder = self._root / session_date.isoformat()
        if not folder.is_dir():
            raise MarketDataError(
                f"{folder}: no such day folder; expected one per session under {self._root}"
            )
        missing = [name for name in DAY_FILES if not (folder / name).is_file()]
        if missing:
            raise MarketDataError(
                f"{folder}: missing {', '.join(missing)}; a day folder holds {', '.join(DAY_FILES)}"
            )
        session = _session(self._calendar, session_date)
        synthetic = _read_manifest(folder / MANIFEST_FILE, session_date)
        day = build_market_day(
            session,
            definitions=read_dbn(folder / DEFINITIONS_FILE),
            chain_quotes=[read_dbn(folder / CHAIN_FILE)],
            equity_bars=read_dbn(folder / EQUITY_BARS_FILE),
            vix_bars=read_dbn(folder / VIX_BARS_FILE),
            synthetic=synthetic,
        )
        return check_and_clean(day, session, self._limits)


class HistoricalClient(Protocol):
    """The part of `databento.Historical` used here: `timeseries.get_range` and
    `metadata.get_dataset_range`."""

    @property
    def timeseries(self) -> Any: ...

    @property
    def metadata(self) -> Any: ...


class DatabentoHistoricalMarketData:
    """MarketData from Databento's Historical API; every request is billed.

    Per day: the OPRA definitions of SPY, QQQ and IWM options (parent symbology), then cbbo-1m
    for the 0DTE contracts only, and EQUS.MINI ohlcv-1m bars. Databento has no VIX index data,
    so these days have no "VIX" bars.
    """

    MAX_SYMBOLS_PER_REQUEST = 2000

    def __init__(
        self,
        client: HistoricalClient,
        calendar: MarketCalendar | None = None,
        limits: QualityLimits | None = None,
    ) -> None:
        self._client = client
        self._calendar = calendar or MarketCalendar()
        self._limits = limits

    def available_days(self) -> list[date]:
        """Sessions that both datasets cover completely, within the calendar's range."""
        ranges = [
            self._client.metadata.get_dataset_range(dataset=ds) for ds in (OPRA_DATASET, EQUITY_DATASET)
        ]
        first_ns = max(_utc_ns(r["start"]) for r in ranges)
        last_ns = min(_utc_ns(r["end"]) for r in ranges)
        start = max(ns_to_datetime(first_ns).date(), FIRST_SUPPORTED_DATE)
        end = min(ns_to_datetime(last_ns).date(), LAST_SUPPORTED_DATE)
        if end < start:
            return []
        return [
            day
            for day in self._calendar.sessions_between(start, end)
            if (times := self._calendar.session(day))
            and first_ns <= datetime_to_ns(times.open_et)
            and datetime_to_ns(times.close_et) <= last_ns
        ]

    def load_day(self, session_date: date) -> MarketDay:
        """The day as decisions may use it: quality flags applied (and logged)."""
        return _logged(self.load_checked_day(session_date)).clean

    def load_checked_day(self, session_date: date) -> CheckedDay:
        session = _session(self._calendar, session_date)
        definitions = self._get_range(
            OPRA_DATASET,
            "definition",
            symbols=[f"{symbol}.OPT" for symbol in EQUITY_SYMBOLS],
            stype_in="parent",
            start=session_date.isoformat(),
            end=(session_date + timedelta(days=1)).isoformat(),
        )
        occ_symbols = [
            d.contract.occ_symbol
            for d in to_option_definitions(definitions, expiry=session_date, roots=EQUITY_SYMBOLS)
        ]
        open_ns, close_ns = datetime_to_ns(session.open_et), datetime_to_ns(session.close_et)
        chain_quotes = [
            self._get_range(
                OPRA_DATASET,
                "cbbo-1m",
                symbols=occ_symbols[first : first + self.MAX_SYMBOLS_PER_REQUEST],
                stype_in="raw_symbol",
                start=open_ns + NS_PER_MINUTE,
                end=close_ns + NS_PER_MINUTE,
            )
            for first in range(0, len(occ_symbols), self.MAX_SYMBOLS_PER_REQUEST)
        ]
        equity_bars = self._get_range(
            EQUITY_DATASET,
            "ohlcv-1m",
            symbols=list(EQUITY_SYMBOLS),
            stype_in="raw_symbol",
            start=open_ns,
            end=close_ns,
        )
        day = build_market_day(
            session,
            definitions=definitions,
            chain_quotes=chain_quotes,
            equity_bars=equity_bars,
            vix_bars=None,
            synthetic=False,
        )
        return check_and_clean(day, session, self._limits)

    def _get_range(self, dataset: str, schema: str, **request: Any) -> DbnData:
        store = self._client.timeseries.get_range(dataset=dataset, schema=schema, **request)
        return read_dbn(store.raw, name=f"Databento {dataset} {schema} from {request['start']}")


def _expect(data: DbnData, dataset: str, schema: str) -> None:
    if data.metadata.dataset != dataset or data.schema != schema:
        raise MarketDataError(
            f"{data.source}: holds {data.metadata.dataset} {data.schema}; expected {dataset} {schema}"
        )


def _utc_ns(text: str) -> int:
    """ns since the epoch of an ISO 8601 UTC time as Databento writes it ('...T00:00:00.000000000Z')."""
    return int(np.datetime64(text.removesuffix("Z"), "ns").astype(np.int64))


def _session(calendar: MarketCalendar, session_date: date) -> SessionTimes:
    session = calendar.session(session_date)
    if session is None:
        raise MarketDataError(f"session_date={session_date.isoformat()} is not an NYSE session")
    return session


def _folder_date(name: str) -> date | None:
    try:
        day = date.fromisoformat(name)
    except ValueError:
        return None
    return day if name == day.isoformat() else None


def _read_manifest(path: Path, session_date: date) -> bool:
    """Whether the day is synthetic, after checking the manifest describes `session_date`."""
    if not path.exists():
        return False
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MarketDataError(f"{path}: unreadable manifest ({exc}); expected a JSON object") from exc
    if not isinstance(manifest, dict):
        raise MarketDataError(f"{path}: manifest must be a JSON object")
    synthetic = manifest.get("synthetic", False)
    if not isinstance(synthetic, bool):
        raise MarketDataError(f"{path}: synthetic={synthetic!r} must be true or false")
    stated = manifest.get("session_date", session_date.isoformat())
    if stated != session_date.isoformat():
        raise MarketDataError(
            f"{path}: session_date={stated!r} must be the folder's date {session_date.isoformat()}"
        )
    return synthetic


def _session_bars(data: DbnData, symbols: Sequence[str], open_ns: int, close_ns: int) -> dict[str, BarSeries]:
    """The regular-session bars of `symbols`, each required to be in the file."""
    all_bars = to_bars(data)
    absent = [symbol for symbol in symbols if symbol not in all_bars]
    if absent:
        raise MarketDataError(
            f"{data.source}: no bars for {', '.join(absent)}; expected {', '.join(symbols)}"
        )
    bars: dict[str, BarSeries] = {}
    for symbol in symbols:
        series = all_bars[symbol]
        bars[symbol] = series.select((series.open_ts_ns >= open_ns) & (series.open_ts_ns < close_ns))
    return bars


def _chains(
    session_date: date, definitions: DbnData, chain_quotes: Sequence[DbnData], sample_ts_ns: Any
) -> dict[Underlying, ChainSeries]:
    """The 0DTE chain of every underlying with such options, on the sample grid.

    One (sample x contract) grid holds all chains side by side; each chain is a slice of it.
    """
    by_underlying: dict[Underlying, list[tuple[int, OptionContract]]] = {}
    for definition in to_option_definitions(definitions, expiry=session_date, roots=EQUITY_SYMBOLS):
        entry = (definition.instrument_id, definition.contract)
        by_underlying.setdefault(Underlying(definition.contract.root), []).append(entry)
    chains = [
        (underlying, sorted(by_underlying[underlying], key=lambda e: (e[1].right.value, e[1].strike)))
        for underlying in Underlying.tradable()
        if underlying in by_underlying
    ]
    if not chains:
        return {}
    column_ids = np.array([iid for _, entries in chains for iid, _ in entries], dtype=np.int64)
    width = column_ids.size
    id_order = np.argsort(column_ids)

    quotes = _concatenated_quotes(chain_quotes)
    _, defined = _find(
        np.unique(definitions.columns["instrument_id"].astype(np.int64)), quotes["instrument_id"]
    )
    if not bool(np.all(defined)):
        unknown = np.unique(quotes["instrument_id"][~defined])
        raise MarketDataError(
            f"{quotes['source']}: quotes for {unknown.size} instruments without a definition in "
            f"{definitions.source}, e.g. instrument_id {unknown[0]}"
        )
    ts_ns = quotes["ts_recv"]
    first_sample = int(sample_ts_ns[0])
    in_session = (ts_ns > first_sample - NS_PER_MINUTE) & (ts_ns <= int(sample_ts_ns[-1]))
    row, past_minute_ns = np.divmod(ts_ns - first_sample, NS_PER_MINUTE)
    misaligned = in_session & (past_minute_ns != 0)
    if bool(np.any(misaligned)):
        at = ns_to_datetime(int(ts_ns[np.argmax(misaligned)])).isoformat()
        raise MarketDataError(f"{quotes['source']}: a cbbo-1m sample at {at} is not on a whole minute")
    position, found = _find(column_ids[id_order], quotes["instrument_id"])
    selected = in_session & found
    cell = row[selected] * width + id_order[position[selected]]
    samples_per_cell = np.bincount(cell, minlength=sample_ts_ns.shape[0] * width)
    if cell.size and int(samples_per_cell.max()) > 1:
        repeated = int(np.argmax(samples_per_cell > 1))
        contract = [c for _, entries in chains for _, c in entries][repeated % width]
        at = ns_to_datetime(int(sample_ts_ns[repeated // width])).isoformat()
        raise MarketDataError(
            f"{quotes['source']}: more than one cbbo-1m sample of {contract.occ_symbol} at {at}"
        )
    grids: dict[str, Any] = {}
    for name in _CHAIN_FIELDS:
        is_price = name.endswith("px_00")
        grid = np.full(
            (sample_ts_ns.shape[0], width), np.nan if is_price else 0, np.float64 if is_price else np.int64
        )
        grid.flat[cell] = quotes[name][selected]
        grids[name] = grid

    result: dict[Underlying, ChainSeries] = {}
    first_column = 0
    for underlying, entries in chains:
        columns = slice(first_column, first_column + len(entries))
        first_column = columns.stop
        result[underlying] = ChainSeries(
            underlying,
            session_date,
            tuple(contract for _, contract in entries),
            sample_ts_ns.copy(),
            *(np.ascontiguousarray(grids[name][:, columns]) for name in _CHAIN_FIELDS),
        )
    return result


def _find(sorted_values: Any, values: Any) -> tuple[Any, Any]:
    """Where each of `values` is in the non-empty sorted array `sorted_values`, and whether it is."""
    position = np.minimum(np.searchsorted(sorted_values, values), sorted_values.size - 1)
    return position, sorted_values[position] == values


def _concatenated_quotes(chain_quotes: Sequence[DbnData]) -> dict[str, Any]:
    """The columns the chain needs, from every cbbo-1m file, end to end."""
    quotes: dict[str, Any] = {
        "source": ", ".join(q.source for q in chain_quotes) or "no cbbo-1m data",
        "ts_recv": np.concatenate([q.ts_ns("ts_recv") for q in chain_quotes] or [np.empty(0, np.int64)]),
        "instrument_id": np.concatenate(
            [q.columns["instrument_id"].astype(np.int64) for q in chain_quotes] or [np.empty(0, np.int64)]
        ),
    }
    for name in _CHAIN_FIELDS:
        quotes[name] = np.concatenate([q.columns[name] for q in chain_quotes] or [np.empty(0)])
    return quotes


def _logged(checked: CheckedDay) -> CheckedDay:
    """Warn about data problems; quotes without a bid are a market state and only counted."""
    problems = {
        series: {kind: count for kind, count in counts.items() if count and kind not in _MARKET_STATES}
        for series, counts in checked.quality.counts().items()
    }
    problems = {series: kinds for series, kinds in problems.items() if kinds}
    if problems:
        _log.warning("market day %s: data kept out of decisions: %s", checked.raw.session_date, problems)
    return checked
