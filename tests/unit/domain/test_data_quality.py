"""Data quality: problems are counted and flagged, and flagged data never reaches decisions."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.data_quality import (
    QualityLimits,
    apply_flags,
    check_and_clean,
    check_bars,
    check_chain,
    check_day,
    session_grid,
)
from smart0dte.domain.marketdata import NS_PER_MINUTE, BarSeries, ChainSeries, MarketDay
from smart0dte.domain.models import DomainError, OptionContract, OptionRight, Underlying
from tests.unit.session_day import SESSION, SESSION_DATE

LIMITS = QualityLimits()


def _bar_opens() -> np.ndarray:
    return session_grid(SESSION)[0]


def _samples() -> np.ndarray:
    return session_grid(SESSION)[1]


def _bars(close: np.ndarray, open_ts_ns: np.ndarray | None = None) -> BarSeries:
    count = close.shape[0]
    opens = _bar_opens()[:count] if open_ts_ns is None else open_ts_ns
    return BarSeries(
        "SPY",
        opens.copy(),
        close.copy(),
        close + 0.05,
        close - 0.05,
        close.copy(),
        np.full(count, 100, np.int64),
    )


def _chain(bid: np.ndarray, ask: np.ndarray, sample_ts_ns: np.ndarray | None = None) -> ChainSeries:
    contracts = tuple(
        OptionContract(root="SPY", expiry=SESSION_DATE, right=OptionRight.CALL, strike=560.0 + k)
        for k in range(bid.shape[1])
    )
    samples = _samples()[: bid.shape[0]] if sample_ts_ns is None else sample_ts_ns
    sizes = np.full(bid.shape, 7, dtype=np.int64)
    return ChainSeries(Underlying.SPY, SESSION_DATE, contracts, samples.copy(), bid, ask, sizes, sizes.copy())


def _steady_chain(rows: int = 390, columns: int = 3) -> tuple[np.ndarray, np.ndarray]:
    bid = 1.0 + np.arange(columns)[np.newaxis, :] + 0.001 * np.arange(rows)[:, np.newaxis]
    return bid, bid + 0.05


def test_the_session_grid_has_one_bar_open_and_one_sample_per_minute() -> None:
    assert _bar_opens().shape == _samples().shape == (390,)
    assert _samples()[0] - _bar_opens()[0] == NS_PER_MINUTE
    assert np.all(np.diff(_samples()) == NS_PER_MINUTE)
    early = MarketCalendar().session(date(2025, 11, 28))
    assert early is not None and session_grid(early)[1].shape == (210,)


def test_clean_bars_raise_no_flag() -> None:
    quality = check_bars(_bars(560 + 0.02 * np.arange(390)), _bar_opens(), LIMITS)

    assert quality.counts() == dict.fromkeys(
        ("missing_minutes", "off_grid", "nonpositive", "inconsistent", "outlier", "flagged"), 0
    )


def test_missing_minutes_are_counted_where_they_are() -> None:
    keep = np.ones(390, dtype=bool)
    keep[[3, 200, 389]] = False

    quality = check_bars(_bars(np.full(387, 560.0), _bar_opens()[keep]), _bar_opens(), LIMITS)

    assert quality.counts()["missing_minutes"] == 3
    assert np.flatnonzero(quality.missing_minutes).tolist() == [3, 200, 389]
    assert quality.counts()["flagged"] == 0  # a missing bar is counted, there is nothing to flag


def test_bad_bars_are_flagged_by_kind() -> None:
    close = np.full(20, 560.0)
    close[4] = 0.0
    close[6] = np.nan
    bars = _bars(close, np.concatenate([[_bar_opens()[0] - NS_PER_MINUTE], _bar_opens()[1:20]]))
    low = bars.low.copy()
    low[9] = 561.0  # low above open and close
    bars = BarSeries(
        "SPY",
        bars.open_ts_ns.copy(),
        bars.open.copy(),
        bars.high.copy(),
        low,
        bars.close.copy(),
        bars.volume.copy(),
    )

    quality = check_bars(bars, _bar_opens(), LIMITS)

    assert np.flatnonzero(quality.off_grid).tolist() == [0]
    assert np.flatnonzero(quality.nonpositive).tolist() == [4, 6]
    assert np.flatnonzero(quality.inconsistent).tolist() == [9]
    assert np.flatnonzero(quality.flagged).tolist() == [0, 4, 6, 9]


def test_a_bad_print_is_an_outlier_and_its_neighbours_are_not() -> None:
    close = 560 + 0.02 * np.arange(30)
    close[12] = 5600.0  # a decimal shift

    quality = check_bars(_bars(close), _bar_opens(), LIMITS)

    assert np.flatnonzero(quality.outlier).tolist() == [12]


def test_a_fast_but_plausible_market_is_no_outlier() -> None:
    close = 560 * np.exp(-0.004 * np.arange(60))  # -0.4% a minute for an hour: a crash, not bad data

    assert check_bars(_bars(close), _bar_opens(), LIMITS).counts()["outlier"] == 0


def test_unusable_quotes_are_flagged_by_kind() -> None:
    bid, ask = _steady_chain(rows=10, columns=6)
    bid[1, 0], ask[1, 0] = 2.0, 1.9  # crossed
    bid[2, 1], ask[2, 1] = 2.0, 2.0  # locked
    bid[3, 2] = np.nan  # one-sided: ask only
    bid[4, 3], ask[4, 3] = np.nan, np.nan  # no quote
    bid[5, 4], ask[5, 4] = 0.0, 0.05  # no bid: a real market, but no usable mid
    bid[6, 5], ask[6, 5] = -0.05, 0.05  # a negative price is bad data

    quality = check_chain(_chain(bid, ask), _samples(), LIMITS)

    counts = quality.counts()
    assert {
        k: counts[k] for k in ("crossed", "locked", "one_sided", "no_quote", "no_bid", "nonpositive")
    } == {
        "crossed": 1,
        "locked": 1,
        "one_sided": 1,
        "no_quote": 1,
        "no_bid": 1,
        "nonpositive": 1,
    }
    assert sorted(zip(*np.nonzero(quality.flagged), strict=True)) == [(1, 0), (2, 1), (3, 2), (5, 4), (6, 5)]


def test_a_quote_mid_ten_times_its_recent_median_is_an_outlier() -> None:
    bid, ask = _steady_chain(rows=20, columns=2)
    bid[8, 1], ask[8, 1] = 25.0, 25.1  # about 12x the 2.03 it traded at
    bid[:, 0], ask[:, 0] = 0.03, 0.04
    bid[9, 0], ask[9, 0] = 0.40, 0.45  # 12x too, but only 39 cents away: a cheap option can do that

    quality = check_chain(_chain(bid, ask), _samples(), LIMITS)

    assert sorted(zip(*np.nonzero(quality.outlier), strict=True)) == [(8, 1)]


def test_a_row_without_quotes_and_an_absent_row_are_missing_minutes() -> None:
    bid, ask = _steady_chain(rows=389, columns=2)
    bid[7], ask[7] = np.nan, np.nan
    samples = np.delete(_samples(), 100)

    quality = check_chain(_chain(bid, ask, samples), _samples(), LIMITS)

    assert np.flatnonzero(quality.missing_minutes).tolist() == [7, 100]
    assert quality.counts()["flagged"] == 0


def test_a_row_off_the_grid_is_flagged_whole() -> None:
    bid, ask = _steady_chain(rows=3, columns=2)
    samples = np.array([_samples()[0] - NS_PER_MINUTE, _samples()[0], _samples()[1] + 1])

    quality = check_chain(_chain(bid, ask, samples), _samples(), LIMITS)

    assert quality.off_grid.tolist() == [True, False, True]
    assert quality.counts()["flagged"] == 4


def _day(bars: BarSeries, chain: ChainSeries) -> MarketDay:
    return MarketDay(SESSION_DATE, {"SPY": bars}, {Underlying.SPY: chain}, synthetic=True)


def test_applying_the_flags_empties_flagged_quotes_and_drops_flagged_bars() -> None:
    close = np.full(390, 560.0)
    close[5] = -1.0
    bid, ask = _steady_chain()
    bid[10, 1], ask[10, 1] = 3.0, 2.0
    day = _day(_bars(close), _chain(bid, ask))

    checked = check_and_clean(day, SESSION)

    clean = checked.clean
    assert checked.raw is day and clean.synthetic and clean.session_date == SESSION_DATE
    assert len(clean.bars["SPY"]) == 389 and _bar_opens()[5] not in clean.bars["SPY"].open_ts_ns
    chain = clean.chains[Underlying.SPY]
    assert np.isnan(chain.bid[10, 1]) and np.isnan(chain.ask[10, 1])
    assert chain.bid_size[10, 1] == chain.ask_size[10, 1] == 0
    unflagged = ~checked.quality.chains[Underlying.SPY].flagged
    np.testing.assert_array_equal(chain.bid[unflagged], bid[unflagged])
    assert checked.quality.counts() == {
        "SPY": {
            "missing_minutes": 0,
            "off_grid": 0,
            "nonpositive": 1,
            "inconsistent": 0,
            "outlier": 0,
            "flagged": 1,
        },
        "SPY chain": {
            "missing_minutes": 0,
            "off_grid_rows": 0,
            "no_quote": 0,
            "one_sided": 0,
            "crossed": 1,
            "locked": 0,
            "nonpositive": 0,
            "no_bid": 0,
            "outlier": 0,
            "flagged": 1,
        },
    }


def test_a_report_of_another_day_cannot_be_applied() -> None:
    day = _day(_bars(np.full(390, 560.0)), _chain(*_steady_chain()))
    shorter = _day(_bars(np.full(389, 560.0)), _chain(*_steady_chain()))

    with pytest.raises(DomainError, match="quality report of SPY has 389 bars; day has 390"):
        apply_flags(day, check_day(shorter, SESSION))


def test_the_session_must_be_the_day() -> None:
    other = MarketCalendar().session(date(2025, 3, 17))
    assert other is not None

    with pytest.raises(
        DomainError, match=r"session\.session_date=2025-03-17 must be the day's date 2025-03-14"
    ):
        check_day(_day(_bars(np.full(3, 560.0)), _chain(*_steady_chain(3))), other)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"window": 0}, "window=0 must be within 1..390"),
        ({"min_reference": 6}, "min_reference=6 must be within 1..window=5"),
        ({"bar_max_move_fraction": 1.5}, "bar_max_move_fraction=1.5"),
        ({"quote_max_ratio": 1.0}, "quote_max_ratio=1.0 must be > 1"),
        ({"quote_min_move_usd": -1.0}, "quote_min_move_usd=-1.0 must be >= 0"),
    ],
)
def test_limits_are_validated(fields: dict[str, float], message: str) -> None:
    with pytest.raises(DomainError, match=message):
        QualityLimits(**fields)  # type: ignore[arg-type]


_prices = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 40), st.integers(1, 4)),
    elements=st.one_of(st.just(np.nan), st.floats(-1, 50, allow_nan=False)),
)


@settings(max_examples=80, deadline=None)
@given(_prices, _prices, st.integers(1, 40))
def test_flags_at_a_minute_depend_on_nothing_later(bid: np.ndarray, ask_seed: np.ndarray, cut: int) -> None:
    ask = np.resize(ask_seed, bid.shape)
    chain = _chain(bid, ask)
    cut = min(cut, bid.shape[0])

    whole = check_chain(chain, _samples(), LIMITS)
    prefix = check_chain(chain.head(cut), _samples(), LIMITS)

    np.testing.assert_array_equal(prefix.flagged, whole.flagged[:cut])
    np.testing.assert_array_equal(prefix.outlier, whole.outlier[:cut])


@settings(max_examples=50, deadline=None)
@given(_prices, _prices)
def test_a_clean_chain_has_only_usable_quotes_or_nan(bid: np.ndarray, ask_seed: np.ndarray) -> None:
    ask = np.resize(ask_seed, bid.shape)
    day = MarketDay(SESSION_DATE, {}, {Underlying.SPY: _chain(bid, ask)}, synthetic=True)

    chain = check_and_clean(day, SESSION).clean.chains[Underlying.SPY]

    quoted = ~np.isnan(chain.bid) | ~np.isnan(chain.ask)
    assert np.all(chain.bid[quoted] > 0) and np.all(chain.bid[quoted] < chain.ask[quoted])
    assert np.all(chain.bid_size[~quoted] == 0)
