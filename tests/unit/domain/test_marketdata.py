from datetime import UTC, date, datetime

import numpy as np
import pytest

from smart0dte.domain.marketdata import (
    NS_PER_MINUTE,
    BarSeries,
    ChainSeries,
    MarketDay,
    datetime_to_ns,
    ns_to_datetime,
)
from smart0dte.domain.models import DomainError, OptionContract, OptionRight, Underlying

OPEN_NS = datetime_to_ns(datetime(2025, 3, 14, 13, 30, tzinfo=UTC))
EXPIRY = date(2025, 3, 14)


def _bars(count: int) -> BarSeries:
    close = 560 + np.arange(count, dtype=np.float64)
    return BarSeries(
        "SPY",
        OPEN_NS + np.arange(count, dtype=np.int64) * NS_PER_MINUTE,
        close - 0.5,
        close + 1,
        close - 1,
        close,
        np.full(count, 1000, dtype=np.int64),
    )


def _chain(count: int) -> ChainSeries:
    contracts = tuple(
        OptionContract(root="SPY", expiry=EXPIRY, right=right, strike=strike)
        for right in OptionRight
        for strike in (560.0, 561.0)
    )
    bid = np.full((count, len(contracts)), 1.0)
    bid[0, 1] = np.nan  # contract 1 unquoted in the first sample
    return ChainSeries(
        Underlying.SPY,
        EXPIRY,
        contracts,
        OPEN_NS + (1 + np.arange(count, dtype=np.int64)) * NS_PER_MINUTE,
        bid,
        bid + 0.05,
        np.full(bid.shape, 10, dtype=np.int64),
        np.full(bid.shape, 12, dtype=np.int64),
    )


def test_ns_round_trip_keeps_microseconds() -> None:
    instant = datetime(2025, 2, 20, 14, 31, 59, 885549, tzinfo=UTC)
    assert ns_to_datetime(datetime_to_ns(instant)) == instant
    assert ns_to_datetime(1_740_061_919_885_549_312) == instant


def test_a_bar_is_visible_only_after_it_closes() -> None:
    bars = _bars(5)
    assert bars.closed_by(OPEN_NS) == 0
    assert bars.closed_by(OPEN_NS + NS_PER_MINUTE - 1) == 0
    assert bars.closed_by(OPEN_NS + NS_PER_MINUTE) == 1
    assert bars.closed_by(OPEN_NS + 10 * NS_PER_MINUTE) == 5
    assert bars.bar(0).ts == datetime(2025, 3, 14, 13, 30, tzinfo=UTC)


def test_market_day_until_drops_everything_stamped_later() -> None:
    day = MarketDay(EXPIRY, {"SPY": _bars(10)}, {Underlying.SPY: _chain(10)}, synthetic=True)
    known = day.until(OPEN_NS + 3 * NS_PER_MINUTE)
    assert len(known.bars["SPY"]) == 3
    assert len(known.chains[Underlying.SPY]) == 3
    assert known.bars["SPY"].close.tolist() == [560.0, 561.0, 562.0]
    assert int(known.chains[Underlying.SPY].sample_ts_ns[-1]) == OPEN_NS + 3 * NS_PER_MINUTE
    # The cut is a read-only view: cheap every minute, and later data cannot leak back in.
    assert np.shares_memory(known.bars["SPY"].close, day.bars["SPY"].close)
    assert not known.chains[Underlying.SPY].bid.flags.writeable
    assert known.chains[Underlying.SPY].bid.shape == (3, 4)


def test_chain_snapshot_leaves_out_unquoted_contracts() -> None:
    chain = _chain(2)
    assert chain.is_call.tolist() == [True, True, False, False]
    first = chain.snapshot(0, underlying_price=560.4)
    assert [q.contract.occ_symbol for q in first.quotes] == [
        "SPY   250314C00560000",
        "SPY   250314P00560000",
        "SPY   250314P00561000",
    ]
    assert len(chain.snapshot(1, underlying_price=560.4).quotes) == 4


def test_series_are_read_only_and_shape_checked() -> None:
    bars = _bars(3)
    with pytest.raises(ValueError, match="read-only"):
        bars.close[0] = 1.0
    with pytest.raises(DomainError, match=r"BarSeries.volume has 2 rows; expected 3"):
        BarSeries(
            "SPY",
            bars.open_ts_ns.copy(),
            *(a.copy() for a in (bars.open, bars.high, bars.low, bars.close)),
            np.ones(2, dtype=np.int64),
        )
    with pytest.raises(DomainError, match="strictly increasing"):
        BarSeries(
            "SPY",
            bars.open_ts_ns[::-1].copy(),
            *(a.copy() for a in (bars.open, bars.high, bars.low, bars.close, bars.volume)),
        )
