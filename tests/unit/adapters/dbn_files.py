"""DBN files for tests, encoded with databento_dbn's own record classes (independent of the reader).

`write_day` builds a small but whole session folder in the agreed layout, with quotes and bars
that are simple functions of (contract, minute) so tests can predict every value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import databento_dbn as dbn
import zstandard

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.marketdata import NS_PER_MINUTE, datetime_to_ns
from smart0dte.domain.models import OptionContract, OptionRight

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "databento"
SCALE = dbn.FIXED_PRICE_SCALE


def fixed(price_usd: float | None) -> int:
    """A USD price as DBN fixed-point; None is UNDEF_PRICE."""
    return dbn.UNDEF_PRICE if price_usd is None else round(price_usd * SCALE)


def midnight_ns(day: date) -> int:
    return datetime_to_ns(datetime(day.year, day.month, day.day, tzinfo=UTC))


def encode(
    dataset: str,
    schema: str,
    records: Iterable[Any],
    ids_by_symbol: Mapping[str, int],
    day: date,
    *,
    compress: bool = True,
) -> bytes:
    """A DBN file: metadata mapping each raw symbol to its id on `day`, then the records."""
    mappings = [
        SimpleNamespace(
            raw_symbol=symbol,
            intervals=[SimpleNamespace(start_date=day, end_date=day + timedelta(days=1), symbol=str(iid))],
        )
        for symbol, iid in ids_by_symbol.items()
    ]
    metadata = dbn.Metadata(
        dataset=dataset,
        start=midnight_ns(day),
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema(schema),
        symbols=list(ids_by_symbol),
        mappings=mappings,
        end=midnight_ns(day + timedelta(days=1)),
    )
    raw = metadata.encode() + b"".join(bytes(record) for record in records)
    return zstandard.ZstdCompressor().compress(raw) if compress else raw


def ohlcv(iid: int, open_ns: int, o: float, h: float, low: float, c: float, volume: int) -> Any:
    return dbn.OHLCVMsg(
        rtype=dbn.RType.OHLCV_1M,
        publisher_id=95,
        instrument_id=iid,
        ts_event=open_ns,
        open=fixed(o),
        high=fixed(h),
        low=fixed(low),
        close=fixed(c),
        volume=volume,
    )


def cbbo(
    iid: int, ts_recv_ns: int, bid: float | None, ask: float | None, bid_size: int, ask_size: int
) -> Any:
    record = dbn.CBBOMsg(
        rtype=dbn.RType.CBBO_1M,
        publisher_id=30,
        instrument_id=iid,
        ts_event=ts_recv_ns - 1_000_000,
        price=dbn.UNDEF_PRICE,
        size=0,
        side=dbn.Side.NONE,
        ts_recv=ts_recv_ns,
        levels=dbn.ConsolidatedBidAskPair(
            bid_px=fixed(bid), ask_px=fixed(ask), bid_sz=bid_size, ask_sz=ask_size, bid_pb=30, ask_pb=30
        ),
    )
    return record


def definition(
    iid: int,
    raw_symbol: str,
    ts_ns: int,
    *,
    right: str,
    strike_usd: float,
    expiry: date,
    action: str = "A",
) -> Any:
    return dbn.InstrumentDefMsg(
        publisher_id=30,
        instrument_id=iid,
        ts_event=ts_ns,
        ts_recv=ts_ns,
        min_price_increment=10_000_000,
        display_factor=SCALE,
        raw_symbol=raw_symbol,
        asset=raw_symbol[:6].strip(),
        security_type="OPT",
        instrument_class=dbn.InstrumentClass(right),
        security_update_action=dbn.SecurityUpdateAction(action),
        expiration=midnight_ns(expiry),
        strike_price=fixed(strike_usd),
        underlying=raw_symbol[:6].strip(),
    )


def option_definition(iid: int, contract: OptionContract, ts_ns: int, action: str = "A") -> Any:
    return definition(
        iid,
        contract.occ_symbol,
        ts_ns,
        right=contract.right.value,
        strike_usd=contract.strike,
        expiry=contract.expiry,
        action=action,
    )


BASE_PRICE_USD = {"SPY": 560.0, "QQQ": 480.0, "IWM": 200.0, "VIX": 15.0}
DEFAULT_STRIKES = {"SPY": (555.0, 560.0), "QQQ": (480.0,), "IWM": (200.0,)}


def bar_close_usd(symbol: str, minute: int) -> float:
    """Close of `symbol`'s bar opening `minute` minutes after the open."""
    return round(BASE_PRICE_USD[symbol] + 0.01 * minute, 2)


def quote_usd(column: int, minute: int) -> tuple[float, float]:
    """(bid, ask) of the chain's contract `column` in the sample ending `minute` + 1 minutes in."""
    bid = round(1.0 + column + 0.01 * minute, 2)
    return bid, round(bid + 0.05, 2)


@dataclass
class Day:
    """What `write_day` wrote: the folder and the ids and contracts it used."""

    folder: Path
    session_date: date
    open_ns: int
    minutes: int
    contracts: dict[str, list[OptionContract]] = field(default_factory=dict)
    """Per root, in chain order (calls then puts, by strike)."""
    option_ids: dict[str, int] = field(default_factory=dict)
    later_expiry: OptionContract | None = None


QuoteEdit = Callable[[str, int, int, tuple[float | None, float | None]], tuple[float | None, float | None]]


def write_day(
    root: Path,
    session_date: date,
    *,
    strikes: Mapping[str, Sequence[float]] = DEFAULT_STRIKES,
    skip_minutes: frozenset[int] = frozenset(),
    skip_bar_minutes: frozenset[int] = frozenset(),
    edit_quote: QuoteEdit | None = None,
    manifest: Mapping[str, object] | None = None,
    vix_dataset: str = "XCBO.VIX",
    extra_quotes: Sequence[Any] = (),
) -> Day:
    """Write `<root>/<date>/` with every agreed file.

    Besides the 0DTE chains it adds what the loader must leave out: a SPY option expiring on
    the next weekday (quoted all day), a pre-market quote and a pre-market bar.
    `skip_minutes` leaves chain samples out (0 = the first sample), `skip_bar_minutes` bars;
    `edit_quote(root, column, minute, (bid, ask))` may change a quote.
    """
    session = MarketCalendar().session(session_date)
    assert session is not None
    open_ns = datetime_to_ns(session.open_et)
    folder = root / session_date.isoformat()
    folder.mkdir(parents=True)
    day = Day(folder, session_date, open_ns, session.minutes)

    defined_ns = open_ns - 3 * 60 * NS_PER_MINUTE
    definitions: list[Any] = []
    next_id = 1000
    for symbol, symbol_strikes in strikes.items():
        chain = [
            OptionContract(root=symbol, expiry=session_date, right=right, strike=strike)
            for right in (OptionRight.CALL, OptionRight.PUT)
            for strike in sorted(symbol_strikes)
        ]
        day.contracts[symbol] = chain
        for contract in reversed(chain):  # file order differs from chain order on purpose
            day.option_ids[contract.occ_symbol] = next_id
            definitions.append(option_definition(next_id, contract, defined_ns))
            next_id += 1
    later = OptionContract(
        root="SPY", expiry=session_date + timedelta(days=3), right=OptionRight.CALL, strike=560.0
    )
    day.later_expiry = later
    day.option_ids[later.occ_symbol] = next_id
    definitions.append(option_definition(next_id, later, defined_ns))

    quotes: list[Any] = [cbbo(day.option_ids[later.occ_symbol], open_ns - 29 * NS_PER_MINUTE, 9.0, 9.1, 1, 1)]
    for minute in range(session.minutes):
        if minute in skip_minutes:
            continue
        ts_recv = open_ns + (minute + 1) * NS_PER_MINUTE
        for symbol, chain in day.contracts.items():
            for column, contract in enumerate(chain):
                bid, ask = quote_usd(column, minute)
                edited = edit_quote(symbol, column, minute, (bid, ask)) if edit_quote else (bid, ask)
                quotes.append(
                    cbbo(day.option_ids[contract.occ_symbol], ts_recv, *edited, 10 + column, 20 + column)
                )
        quotes.append(cbbo(day.option_ids[later.occ_symbol], ts_recv, 9.0, 9.1, 1, 1))
    quotes.extend(extra_quotes)

    equity_ids = {"SPY": 1, "QQQ": 2, "IWM": 3}
    bars: list[Any] = [ohlcv(1, open_ns - 60 * NS_PER_MINUTE, 550.0, 550.0, 550.0, 550.0, 5)]
    vix_bars: list[Any] = []
    for minute in range(session.minutes):
        if minute in skip_bar_minutes:
            continue
        ts = open_ns + minute * NS_PER_MINUTE
        for symbol, iid in equity_ids.items():
            close = bar_close_usd(symbol, minute)
            bars.append(ohlcv(iid, ts, close, close + 0.02, close - 0.02, close, 1000 + minute))
        vix = bar_close_usd("VIX", minute)
        vix_bars.append(ohlcv(4, ts, vix, vix, vix, vix, 0))

    symbols = {c: i for c, i in day.option_ids.items()}
    files = {
        "OPRA.PILLAR.definition.dbn.zst": encode(
            "OPRA.PILLAR", "definition", definitions, symbols, session_date
        ),
        "OPRA.PILLAR.cbbo-1m.dbn.zst": encode("OPRA.PILLAR", "cbbo-1m", quotes, symbols, session_date),
        "EQUS.MINI.ohlcv-1m.dbn.zst": encode("EQUS.MINI", "ohlcv-1m", bars, equity_ids, session_date),
        "VIX.ohlcv-1m.dbn.zst": encode(vix_dataset, "ohlcv-1m", vix_bars, {"VIX": 4}, session_date),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return day
