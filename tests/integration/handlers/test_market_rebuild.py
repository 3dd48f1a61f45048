"""The market as the gateway stored it, rebuilt: the same MarketDay a backtest cuts at that minute."""

from datetime import date, timedelta

import numpy as np

from smart0dte.adapters.aws.dynamodb.market import DynamoMarketReader
from smart0dte.domain.marketdata import MarketDay, datetime_to_ns
from smart0dte.domain.models import TradingMode
from smart0dte.domain.simulator import Scenario

from .conftest import CALENDAR, PREFIX, REGION, Gateway, simulated

DAY = date(2025, 3, 13)


def assert_same_day(rebuilt: MarketDay, expected: MarketDay) -> None:
    assert set(rebuilt.bars) == {s for s, b in expected.bars.items() if len(b)}
    for symbol, series in rebuilt.bars.items():
        want = expected.bars[symbol]
        for name in ("open_ts_ns", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(
                getattr(series, name), getattr(want, name), err_msg=f"{symbol}.{name}"
            )
        assert series.interval_s == want.interval_s
    assert set(rebuilt.chains) == {u for u, c in expected.chains.items() if len(c)}
    for underlying, chain in rebuilt.chains.items():
        want = expected.chains[underlying]
        assert chain.contracts == want.contracts
        assert chain.expiry == want.expiry
        for name in ("sample_ts_ns", "bid", "ask", "bid_size", "ask_size", "strike", "is_call"):
            np.testing.assert_array_equal(
                getattr(chain, name), getattr(want, name), err_msg=f"{underlying}.{name}"
            )


def test_a_warm_reader_rebuilds_each_minute_as_the_backtest_cuts_it() -> None:
    day = simulated(DAY, Scenario.GAP_UP, 5)
    session = CALENDAR.session(DAY)
    assert session is not None
    gateway = Gateway(TradingMode.PAPER, day)
    reader = DynamoMarketReader(PREFIX, TradingMode.PAPER, region=REGION)
    live_reader = DynamoMarketReader(PREFIX, TradingMode.LIVE, region=REGION)

    for minutes in (1, 2, 3, 12):
        ts = session.open_et + timedelta(minutes=minutes)
        gateway.write_until(ts)
        rebuilt = reader.known_day(DAY, ts)
        assert_same_day(rebuilt, day.market_day.until(datetime_to_ns(ts)))

    # A cold reader (a new Lambda container) reads the same; a reader asking about an earlier
    # minute than it has seen gets that minute's cut; the other mode's keys hold nothing.
    ts = session.open_et + timedelta(minutes=12)
    assert_same_day(
        DynamoMarketReader(PREFIX, TradingMode.PAPER, region=REGION).known_day(DAY, ts),
        day.market_day.until(datetime_to_ns(ts)),
    )
    earlier = session.open_et + timedelta(minutes=5)
    assert_same_day(reader.known_day(DAY, earlier), day.market_day.until(datetime_to_ns(earlier)))
    assert live_reader.known_day(DAY, ts).bars == {}


def test_the_prior_closes_are_yesterdays_last_bars() -> None:
    day = simulated(DAY, Scenario.GAP_UP, 5)
    Gateway(TradingMode.PAPER, day).write_previous_close()
    reader = DynamoMarketReader(PREFIX, TradingMode.PAPER, region=REGION)

    assert reader.closes(CALENDAR.previous_session(DAY)) == day.prior_close
    assert reader.closes(DAY) == {}
