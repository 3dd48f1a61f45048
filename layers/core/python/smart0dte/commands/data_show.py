"""`smart0dte data show PATH`: the records of a DBN file, decoded into natural units.

Text output is one line per record: its time in UTC and in New York, then the fields that matter
for its schema; `--json` prints
a list of objects holding `ts` (the record's time) and every field: times ISO 8601 UTC, prices
in dollars, sizes as integers, null where DBN marks a value undefined.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from smart0dte.adapters.databento.dbn_reader import SUPPORTED_SCHEMAS, DbnData, read_dbn
from smart0dte.domain.calendar import NEW_YORK

_BOOK = ("bid_px_00", "ask_px_00", "bid_sz_00", "ask_sz_00")
_TRADE = ("side", "price", "size")
_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "definition": ("raw_symbol", "instrument_class", "strike_price", "expiration", "underlying"),
    "statistics": ("stat_type", "price", "quantity", "ts_ref"),
    "trades": _TRADE,
    "tbbo": _TRADE + _BOOK,
    "tcbbo": _TRADE + _BOOK,
    "mbp-1": ("action", *_TRADE, *_BOOK),
    **{schema: _BOOK for schema in ("cmbp-1", "cbbo-1s", "cbbo-1m", "bbo-1s", "bbo-1m")},
    **{
        schema: ("open", "high", "low", "close", "volume")
        for schema in SUPPORTED_SCHEMAS
        if "ohlcv" in schema
    },
}


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--limit={text!r} must be an integer >= 1")
    return value


def register(data_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `show` to the `data` command group."""
    show = data_commands.add_parser(
        "show",
        help="print the records of a DBN file (zstd or plain) in natural units",
        description=__doc__,
    )
    show.add_argument("path", type=Path, help="a .dbn or .dbn.zst file")
    show.add_argument("--limit", type=_limit, default=None, help="print at most N records")
    show.add_argument("--json", action="store_true", help="a JSON list of records with every field")
    show.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    data = read_dbn(args.path)
    if args.json:
        print(json.dumps(list(data.rows(args.limit)), indent=2))
    else:
        print("\n".join(describe(data, args.limit)))
    return 0


def describe(data: DbnData, limit: int | None = None) -> list[str]:
    """A header line, then one line per record: time (UTC, then New York), symbol and the schema's
    main fields."""
    shown = len(data) if limit is None else min(limit, len(data))
    header = f"{data.source}: {data.metadata.dataset} {data.schema}, {len(data)} records"
    lines = [header + (f" (showing {shown})" if shown < len(data) else "")]
    for row in data.rows(limit):
        fields = " ".join(f"{name}={_text(row[name])}" for name in _TEXT_FIELDS[data.schema])
        lines.append(f"{row['ts'] or '-'}  {new_york_text(row['ts'])}  {row['symbol'] or '-'}  {fields}")
    return lines


def new_york_text(ts: object) -> str:
    """The New York wall time of an ISO UTC time (seconds kept, fraction dropped), its date only
    when it differs from the UTC one: "09:30:00 ET", "2025-03-09 22:00:00 ET"."""
    if not isinstance(ts, str):
        return "-"
    utc = datetime.fromisoformat(ts[:19]).replace(tzinfo=UTC)
    local = utc.astimezone(NEW_YORK)
    day = "" if local.date() == utc.date() else f"{local.date().isoformat()} "
    return f"{day}{local:%H:%M:%S} ET"


def _text(value: object) -> str:
    return "-" if value is None else str(value)
