"""Market: the phase of the trading day, a session's signals, the 0DTE chain with its Greeks at a
minute of the session (ATM strike, held and traded contracts marked), and the bars of an
underlying or of an option's mid."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from smart0dte.domain.aggregation import mid_bars
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar, SessionTimes
from smart0dte.domain.chain_analytics import QuoteFlag, analyze_snapshot, atm_strike
from smart0dte.domain.models import Bar, OptionContract, Underlying
from smart0dte.ports.api import ApiStore
from smart0dte.ports.records import session_date_of
from smart0dte.services.api.context import ApiContext
from smart0dte.services.api.shared import (
    ApiError,
    IsoDate,
    MarketStatus,
    SignalOut,
    Symbol,
    Wire,
    market_status,
    signals_out,
)

BAR_INTERVALS = {"1m": 1, "2m": 2, "5m": 5, "15m": 15, "30m": 30}
ONE_MINUTE = timedelta(minutes=1)
HH_MM = re.compile(r"(\d{1,2}):(\d{2})")


class StrikeRow(Wire):
    contract: str
    right: str
    strike: float
    bid: float
    ask: float
    bid_size: int
    ask_size: int
    volume: int
    """Traded volume is not in the snapshot: bid size + ask size (displayed liquidity) stands in."""
    volume_source: Literal["displayed_size"] = "displayed_size"
    mid: float | None
    iv: float | None
    delta: float | None
    gamma: float | None
    theta_per_minute: float | None
    vega: float | None
    rho: float | None
    usable: bool
    quote_flag: str
    early_exercise_risk: bool
    """An in-the-money call on an ex-dividend day: American early exercise; never selected."""
    selectable: bool
    """Usable and free of early-exercise risk: what contract selection may choose."""
    held_quantity: int = 0
    """Contracts of this option in positions held at `marksAsOf`."""
    traded: bool = False
    """A position in this option was opened this session at or before `marksAsOf`."""


class StrikesResponse(Wire):
    symbol: str
    ts: datetime
    """When the snapshot shown was taken: the latest at or before the minute asked for."""
    expiry: date
    session_date: date
    session_close: datetime
    underlying_price: float
    minutes_to_expiry: float
    atm_strike: float | None
    """The strike nearest the underlying price (the lower of two equally near)."""
    at_earliest: datetime
    """The first minute `at` may name: the session's first snapshot, one minute after the open."""
    at_latest: datetime
    """The last minute `at` may name: the close, or the current minute while the session runs."""
    marks_as_of: datetime
    """The instant `heldQuantity` and `traded` describe: the minute asked for, else now."""
    rows: list[StrikeRow]


class BarOut(Wire):
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int


class BarsResponse(Wire):
    symbol: str
    interval: str
    session_date: date
    source: Literal["trades", "chain_mid"]
    """Underlyings: traded bars. Options: the mid of each minute's chain snapshot (volume 0)."""
    bars: list[BarOut]


def _finite(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def shown_session(calendar: MarketCalendar, now: datetime) -> SessionTimes:
    """The session the chain shows: today's once its first minute has ended, else the one before."""
    today = session_date_of(now)
    session = calendar.session(today)
    if session is None or now < session.open_et + ONE_MINUTE:
        session = calendar.session(calendar.previous_session(today))
    assert session is not None  # previous_session returns a session
    return session


def at_range(session: SessionTimes, now: datetime) -> tuple[datetime, datetime]:
    """The first and last minute of `session` a chain may be asked for at `now` (no look-ahead)."""
    current = now.astimezone(NEW_YORK).replace(second=0, microsecond=0)
    return session.open_et + ONE_MINUTE, min(session.close_et, current)


def parse_at(value: str, session: SessionTimes, now: datetime) -> datetime:
    """`at=HH:MM` (New York) as an instant of `session`; 422 naming the field and the allowed range."""
    earliest, latest = at_range(session, now)
    until = "its close" if latest == session.close_et else "now"
    error = ApiError(
        422,
        f"at={value!r} must be a minute HH:MM (New York time) within {earliest:%H:%M}..{latest:%H:%M} "
        f"of the {session.session_date.isoformat()} session (its first snapshot to {until})",
        field="at",
    )
    match = HH_MM.fullmatch(value)
    if match is None:
        raise error
    try:
        minute = time_of_day(int(match[1]), int(match[2]))
    except ValueError:
        raise error from None
    instant = datetime.combine(session.session_date, minute, tzinfo=NEW_YORK)
    if not earliest <= instant <= latest:
        raise error
    return instant


def held_and_traded(store: ApiStore, session_date: date, as_of: datetime) -> tuple[dict[str, int], set[str]]:
    """Contracts held at `as_of` (OCC symbol -> quantity) and those whose position was opened in
    `session_date` at or before `as_of`, from the open positions and the session's trade journal."""
    spans: list[tuple[str, int, datetime, datetime | None]] = [
        (p.contract.occ_symbol, p.quantity, p.opened_at, None) for p in store.list_open_positions()
    ]
    spans += [
        (t.contract.occ_symbol, t.quantity, t.entry_ts, t.exit_ts)
        for t in store.list_closed_trades(exit_since=session_date)
    ]
    held: dict[str, int] = {}
    traded: set[str] = set()
    for contract, quantity, opened_at, closed_at in spans:
        if session_date_of(opened_at) != session_date or opened_at > as_of:
            continue
        traded.add(contract)
        if closed_at is None or closed_at > as_of:
            held[contract] = held.get(contract, 0) + quantity
    return held, traded


def resample(bars: Sequence[Bar], minutes: int) -> list[BarOut]:
    """1-minute bars into `minutes`-minute bars aligned on New York clock time (09:30 + k*n)."""
    out: list[BarOut] = []
    current_key: int | None = None
    for bar in sorted(bars, key=lambda b: b.ts):
        local = bar.ts.astimezone(NEW_YORK)
        minute_of_day = local.hour * 60 + local.minute
        key = minute_of_day // minutes
        if key != current_key or not out:
            start = local.replace(
                hour=key * minutes // 60, minute=key * minutes % 60, second=0, microsecond=0
            )
            out.append(
                BarOut(
                    ts=start.astimezone(UTC),
                    open=bar.open,
                    high=bar.high,
                    low=bar.low,
                    close=bar.close,
                    volume=bar.volume,
                )
            )
            current_key = key
        else:
            last = out[-1]
            last.high = max(last.high, bar.high)
            last.low = min(last.low, bar.low)
            last.close = bar.close
            last.volume += bar.volume
    return out


def router(api: ApiContext) -> Router:
    router = Router()  # type: ignore[no-untyped-call]
    deps = api.deps

    @router.get(
        "/api/market-status", summary="Phase of the trading day and the countdown to the next open/close"
    )
    def get_market_status() -> MarketStatus:
        return market_status(deps.calendar, api.now())

    @router.get("/api/signals", summary="A session's signals, newest first, with their risk decisions")
    def signals(
        date_: Annotated[IsoDate | None, Query(alias="date")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[SignalOut]:
        day = date_ or api.today()
        return signals_out(deps.store, day, limit)

    @router.get(
        "/api/strikes",
        summary="A symbol's 0DTE chain with mid IV and Greeks at a minute of the session (default: "
        "the latest; after the close, the last trading minute), the ATM strike and the contracts "
        "held and traded by then",
    )
    def strikes(
        symbol: Annotated[Symbol, Query()],
        at: Annotated[str | None, Query(max_length=16)] = None,
    ) -> StrikesResponse:
        underlying = Underlying(symbol)
        now = api.now()
        session = shown_session(deps.calendar, now)
        earliest, latest = at_range(session, now)
        if at is not None:
            read_at = marks_as_of = parse_at(at, session, now)
        else:
            # The close's snapshot has no time left to expiry, so no IV or Greeks: after the close
            # the default is the minute before it, the last one traded.
            read_at = min(now, session.close_et - ONE_MINUTE)
            marks_as_of = now
        snap = deps.store.latest_chain_snapshot(underlying, read_at)
        if snap is None:
            raise ApiError(
                404,
                f"no {underlying.value} chain snapshot in the {session.session_date.isoformat()} session "
                f"up to {read_at.astimezone(NEW_YORK):%H:%M} New York time",
            )
        expiry_session = deps.calendar.session(snap.expiry)
        close_at = (
            expiry_session.close_et
            if expiry_session is not None
            else datetime.combine(snap.expiry, time_of_day(16, 0), tzinfo=NEW_YORK)
        )
        chain = analyze_snapshot(snap, close_at, deps.pricing)
        held, traded = held_and_traded(deps.store, session.session_date, marks_as_of)
        rows = []
        usable = chain.usable
        for i, q in enumerate(snap.quotes):
            rows.append(
                StrikeRow(
                    contract=q.contract.occ_symbol,
                    right=q.contract.right.value,
                    strike=q.contract.strike,
                    bid=q.bid,
                    ask=q.ask,
                    bid_size=q.bid_size,
                    ask_size=q.ask_size,
                    volume=q.bid_size + q.ask_size,
                    mid=_finite(float(chain.mid[i])),
                    iv=_finite(float(chain.iv[i])),
                    delta=_finite(float(chain.delta[i])),
                    gamma=_finite(float(chain.gamma[i])),
                    theta_per_minute=_finite(float(chain.theta_per_minute[i])),
                    vega=_finite(float(chain.vega_per_vol_point[i])),
                    rho=_finite(float(chain.rho_per_unit_rate[i])),
                    usable=bool(usable[i]),
                    quote_flag=QuoteFlag(int(chain.quote_flag[i])).name,
                    early_exercise_risk=bool(chain.early_exercise_risk[i]),
                    selectable=bool(chain.selectable[i]),
                    held_quantity=held.get(q.contract.occ_symbol, 0),
                    traded=q.contract.occ_symbol in traded,
                )
            )
        rows.sort(key=lambda r: (r.strike, r.right))
        return StrikesResponse(
            symbol=underlying.value,
            ts=snap.ts,
            expiry=snap.expiry,
            session_date=session.session_date,
            session_close=session.close_et,
            underlying_price=snap.underlying_price,
            minutes_to_expiry=chain.minutes_to_expiry,
            atm_strike=atm_strike(chain),
            at_earliest=earliest,
            at_latest=latest,
            marks_as_of=marks_as_of,
            rows=rows,
        )

    @router.get("/api/bars", summary="A session's bars of a symbol or an OCC contract, resampled")
    def bars(
        symbol: Annotated[str, Query(min_length=1, max_length=21)],
        interval: Annotated[Literal["1m", "2m", "5m", "15m", "30m"], Query()] = "2m",
        date_: Annotated[IsoDate | None, Query(alias="date")] = None,
    ) -> BarsResponse:
        day = date_ or api.today()
        if len(symbol) <= 5:
            raw, source = deps.store.list_bars(symbol.upper(), day), "trades"
        else:
            contract = OptionContract.from_occ(symbol)
            if contract.underlying is None:
                raise ApiError(422, f"symbol={symbol!r} is not an option on SPY, QQQ or IWM", field="symbol")
            until = min(api.now(), datetime.combine(day, time_of_day(23, 59), tzinfo=NEW_YORK))
            snapshots = deps.store.list_chain_snapshots(contract.underlying, until)
            raw, source = mid_bars(snapshots, contract), "chain_mid"
        return BarsResponse(
            symbol=symbol,
            interval=interval,
            session_date=day,
            source=source,
            bars=resample(raw, BAR_INTERVALS[interval]),
        )

    return router
