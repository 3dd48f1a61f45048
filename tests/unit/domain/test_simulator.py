import itertools
from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.marketdata import NS_PER_MINUTE, datetime_to_ns
from smart0dte.domain.models import DomainError, OptionContract, Underlying
from smart0dte.domain.pricing import t_years_from_minutes
from smart0dte.domain.simulator import (
    DEFAULT_PROFILES,
    MIN_TIME_TO_EXPIRY_MINUTES,
    MarketSimulator,
    MarketState,
    Scenario,
    SimulatedDay,
    SimulatorConfig,
)

DAY = date(2025, 3, 14)
CALENDAR = MarketCalendar()


@pytest.fixture(scope="module")
def full() -> MarketSimulator:
    return MarketSimulator(calendar=CALENDAR)


@pytest.fixture(scope="module")
def narrow() -> MarketSimulator:
    """Same market, one strike each side: the underlying paths are identical, chains cheap."""
    return MarketSimulator(SimulatorConfig().with_strikes_each_side(1), calendar=CALENDAR)


@pytest.fixture(scope="module")
def full_day(full: MarketSimulator) -> SimulatedDay:
    return full.day(DAY, seed=11)


@pytest.fixture(scope="module")
def half_year(narrow: MarketSimulator) -> list[SimulatedDay]:
    sessions = CALENDAR.sessions_between(date(2025, 1, 2), date(2025, 4, 30))
    return list(narrow.days(sessions, seed=7))


def _log_returns(day: SimulatedDay, symbol: str) -> np.ndarray:
    bars = day.market_day.bars[symbol]
    return np.diff(np.log(np.concatenate(([bars.open[0]], bars.close))))


def _session_returns(days: list[SimulatedDay], symbol: str) -> np.ndarray:
    return np.array(
        [d.market_day.bars[symbol].close[-1] / d.market_day.bars[symbol].open[0] - 1 for d in days]
    )


def test_realized_vol_matches_vix_implied_vol_times_the_risk_premium(half_year: list[SimulatedDay]) -> None:
    # The model realises 0.85 of VIX-implied vol (SPY vol_to_vix = 1); 80% of the variance is intraday.
    # Band for 81 sessions of 1-minute returns: 0.85 +- 0.08 intraday, 0.85 +- 0.2 close to close.
    intraday_var = np.array([np.sum(_log_returns(d, "SPY") ** 2) for d in half_year])
    mean_vix = np.mean([np.mean(d.market_day.bars["VIX"].close) for d in half_year]) / 100
    intraday_ratio = np.sqrt(np.mean(intraday_var) * 252 / 0.8) / mean_vix
    closes = np.array([d.close_state.close_usd[Underlying.SPY] for d in half_year])
    close_to_close_ratio = np.sqrt(np.mean(np.diff(np.log(closes)) ** 2) * 252) / mean_vix

    assert 0.77 <= intraday_ratio <= 0.93
    assert 0.65 <= close_to_close_ratio <= 1.05
    assert min(d.market_day.bars["VIX"].low.min() for d in half_year) > 9


def test_correlations_have_the_configured_signs_and_sizes(half_year: list[SimulatedDay]) -> None:
    returns = {
        s: np.concatenate([_log_returns(d, s) for d in half_year]) for s in ("SPY", "QQQ", "IWM", "VIX")
    }
    corr = {
        pair: np.corrcoef(returns[pair[0]], returns[pair[1]])[0, 1]
        for pair in (("SPY", "QQQ"), ("SPY", "IWM"), ("QQQ", "IWM"), ("SPY", "VIX"))
    }

    assert 0.86 <= corr["SPY", "QQQ"] <= 0.94
    assert 0.75 <= corr["SPY", "IWM"] <= 0.85
    assert 0.70 <= corr["QQQ", "IWM"] <= 0.80
    assert -0.85 <= corr["SPY", "VIX"] <= -0.6


def test_volatility_and_volume_are_u_shaped_over_the_day(half_year: list[SimulatedDay]) -> None:
    abs_returns = np.mean([np.abs(_log_returns(d, "SPY")) for d in half_year], axis=0)
    volume = np.mean([d.market_day.bars["SPY"].volume for d in half_year], axis=0)
    first, midday, last = slice(0, 15), slice(180, 210), slice(375, 390)

    for profile in (abs_returns, volume):
        assert profile[first].mean() > 1.5 * profile[midday].mean()
        assert profile[last].mean() > 1.2 * profile[midday].mean()


def test_days_chain_each_open_from_the_previous_close(half_year: list[SimulatedDay]) -> None:
    for before, after in itertools.pairwise(half_year):
        assert after.previous == before.close_state
        assert after.previous.close_usd[Underlying.SPY] == before.market_day.bars["SPY"].close[-1]
    gaps = [d.market_day.bars["SPY"].open[0] / d.previous.close_usd[Underlying.SPY] - 1 for d in half_year]
    assert 0.001 < np.std(gaps) < 0.008


def _scenario_days(simulator: MarketSimulator, scenario: Scenario, seeds: int = 8) -> list[SimulatedDay]:
    return [simulator.day(DAY, seed=seed, scenario=scenario) for seed in range(seeds)]


def test_trend_scenarios_end_up_and_down_on_average(narrow: MarketSimulator) -> None:
    normal = _session_returns(_scenario_days(narrow, Scenario.NORMAL), "SPY")
    up = _session_returns(_scenario_days(narrow, Scenario.TREND_UP), "SPY")
    down = _session_returns(_scenario_days(narrow, Scenario.TREND_DOWN), "SPY")

    assert up.mean() > 0.005 and up.mean() > normal.mean() + 0.005
    assert down.mean() < -0.005 and down.mean() < normal.mean() - 0.005
    assert np.mean(up > 0) >= 0.75


def test_gap_scenarios_open_beyond_the_previous_close(narrow: MarketSimulator) -> None:
    for scenario, sign in ((Scenario.GAP_UP, 1), (Scenario.GAP_DOWN, -1)):
        for day in _scenario_days(narrow, scenario):
            for symbol in ("SPY", "QQQ", "IWM"):
                gap = day.market_day.bars[symbol].open[0] / day.previous.close_usd[Underlying(symbol)] - 1
                assert sign * gap > 0.005, (scenario, symbol, gap)


def test_vix_spike_lifts_vix_and_drops_the_etfs(narrow: MarketSimulator) -> None:
    days = _scenario_days(narrow, Scenario.VIX_SPIKE)
    vix_change = _session_returns(days, "VIX")

    assert np.all(vix_change > 0.1)
    assert _session_returns(days, "SPY").mean() < -0.01


def test_chop_stays_closer_to_the_open_than_a_normal_day(narrow: MarketSimulator) -> None:
    normal = np.abs(_session_returns(_scenario_days(narrow, Scenario.NORMAL), "SPY"))
    chop = np.abs(_session_returns(_scenario_days(narrow, Scenario.CHOP), "SPY"))
    assert chop.mean() < 0.5 * normal.mean()


def test_bars_are_consistent_and_stamped_every_minute_of_the_session(full_day: SimulatedDay) -> None:
    open_ns = datetime_to_ns(datetime(2025, 3, 14, 13, 30, tzinfo=UTC))
    for symbol, bars in full_day.market_day.bars.items():
        assert len(bars) == 390, symbol
        assert bars.open_ts_ns[0] == open_ns and np.all(np.diff(bars.open_ts_ns) == NS_PER_MINUTE)
        assert np.all(bars.low <= np.minimum(bars.open, bars.close))
        assert np.all(bars.high >= np.maximum(bars.open, bars.close))
        assert np.array_equal(bars.open[1:], bars.close[:-1])
        assert np.array_equal(np.round(bars.close, 2), bars.close)
    assert full_day.market_day.synthetic
    assert np.all(full_day.market_day.bars["SPY"].volume > 0)


def test_chain_strikes_are_fixed_around_the_open_with_occ_symbols(full_day: SimulatedDay) -> None:
    for profile in DEFAULT_PROFILES:
        chain = full_day.market_day.chains[profile.underlying]
        open_usd = full_day.market_day.bars[profile.underlying.value].open[0]
        strikes = np.unique(chain.strike)
        assert strikes.size == 2 * profile.strikes_each_side + 1
        assert np.all(np.diff(strikes) == profile.strike_step_usd)
        assert abs(np.median(strikes) - open_usd) <= profile.strike_step_usd / 2
        assert chain.expiry == DAY
        for contract in chain.contracts:
            assert len(contract.occ_symbol) == 21
            assert OptionContract.from_occ(contract.occ_symbol) == contract
    spy = full_day.market_day.chains[Underlying.SPY]
    assert spy.contracts[0].occ_symbol == f"SPY   250314C00{int(spy.strike[0]):03d}000"
    assert np.array_equal(spy.sample_ts_ns, full_day.market_day.bars["SPY"].close_ts_ns)


def _assert_quotes_sane(day: SimulatedDay) -> None:
    for underlying, chain in day.market_day.chains.items():
        assert not np.any(np.isnan(chain.bid) | np.isnan(chain.ask)), underlying
        assert np.all(chain.bid >= 0) and np.all(chain.ask >= 0.01)
        assert np.all(chain.ask > chain.bid), f"{underlying}: crossed or locked quote"
        for prices in (chain.bid, chain.ask):
            assert np.allclose(prices * 100, np.rint(prices * 100), rtol=0, atol=1e-9)
        assert np.all((chain.bid_size == 0) == (chain.bid == 0))
        assert np.all(chain.ask_size >= 1)
        ts_event = day.quote_ts_event_ns[underlying]
        age_ns = chain.sample_ts_ns[:, None] - ts_event
        assert np.all((age_ns >= 0) & (age_ns < NS_PER_MINUTE))


@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    scenario=st.sampled_from(list(Scenario)),
    day=st.sampled_from([date(2024, 8, 5), date(2025, 4, 7), date(2025, 11, 28), date(2026, 6, 1)]),
)
def test_quotes_are_never_crossed_and_sit_on_the_tick_grid(seed: int, scenario: Scenario, day: date) -> None:
    _assert_quotes_sane(MarketSimulator(calendar=CALENDAR).day(day, seed=seed, scenario=scenario))


def test_far_wings_may_have_no_bid(full_day: SimulatedDay) -> None:
    chain = full_day.market_day.chains[Underlying.SPY]
    assert np.any(chain.bid == 0)
    assert np.all(chain.ask[chain.bid == 0] <= 0.05)


def test_call_minus_put_respects_parity_within_the_spread(full_day: SimulatedDay) -> None:
    for profile in DEFAULT_PROFILES:
        chain = full_day.market_day.chains[profile.underlying]
        half = len(chain.contracts) // 2
        assert np.array_equal(chain.strike[:half], chain.strike[half:]) and chain.is_call[:half].all()
        minutes_left = len(chain) - 1 - np.arange(len(chain))
        t_years = t_years_from_minutes(np.maximum(minutes_left, MIN_TIME_TO_EXPIRY_MINUTES))[:, None]
        spot = full_day.market_day.bars[profile.underlying.value].close[:, None]
        strike = chain.strike[None, :half]
        parity = spot * np.exp(-profile.dividend_yield * t_years) - strike * np.exp(
            -SimulatorConfig().rate * t_years
        )
        eps = 1e-9
        assert np.all(chain.bid[:, :half] - chain.ask[:, half:] <= parity + eps)
        assert np.all(parity <= chain.ask[:, :half] - chain.bid[:, half:] + eps)


def test_put_skew_makes_otm_puts_dearer_than_equidistant_otm_calls(full_day: SimulatedDay) -> None:
    chain = full_day.market_day.chains[Underlying.SPY]
    row = 120
    spot = full_day.market_day.bars["SPY"].close[row]
    mid = (chain.bid[row] + chain.ask[row]) / 2
    distance = 4.0
    atm = round(spot)
    call = mid[chain.is_call & (chain.strike == atm + distance)][0]
    put = mid[~chain.is_call & (chain.strike == atm - distance)][0]
    assert put > call * 1.05


def test_atm_straddle_at_the_open_prices_the_vix_implied_move(full_day: SimulatedDay) -> None:
    chain = full_day.market_day.chains[Underlying.SPY]
    spot = full_day.market_day.bars["SPY"].close[0]
    vix = full_day.market_day.bars["VIX"].close[0] / 100
    atm = chain.strike == chain.strike[np.argmin(np.abs(chain.strike - spot))]
    straddle = np.sum((chain.bid[0] + chain.ask[0])[atm] / 2)
    # E|move| = sqrt(2/pi) x sd; the session carries 80% of a day's VIX-implied variance.
    expected = np.sqrt(2 / np.pi) * spot * vix * np.sqrt(0.8 / 252)
    assert 0.85 * expected <= straddle <= 1.15 * expected


def test_spreads_widen_in_the_wings_and_towards_expiry(full_day: SimulatedDay) -> None:
    chain = full_day.market_day.chains[Underlying.SPY]
    spot = full_day.market_day.bars["SPY"].close
    spread = chain.ask - chain.bid
    mid = (chain.ask + chain.bid) / 2
    otm = np.where(
        chain.is_call[None, :], chain.strike[None, :] > spot[:, None], chain.strike[None, :] < spot[:, None]
    )
    distance = np.abs(chain.strike[None, :] - spot[:, None])
    relative = spread / mid
    near = otm & (distance < 2)
    wing = otm & (distance > 8) & (chain.bid > 0)
    assert np.median(relative[wing]) > 2 * np.median(relative[near])

    similar_price = (mid > 0.4) & (mid < 1.6)
    early = similar_price & (np.arange(len(chain)) < 60)[:, None]
    late = similar_price & (np.arange(len(chain)) >= 360)[:, None]
    assert early.sum() > 20 and late.sum() > 20
    assert spread[late].mean() > 1.2 * spread[early].mean()


def test_an_early_close_day_has_210_minutes(narrow: MarketSimulator) -> None:
    day = narrow.day(date(2025, 11, 28), seed=1)
    close_ns = datetime_to_ns(datetime(2025, 11, 28, 18, 0, tzinfo=UTC))
    assert {len(b) for b in day.market_day.bars.values()} == {210}
    assert int(day.market_day.chains[Underlying.SPY].sample_ts_ns[-1]) == close_ns
    assert int(day.market_day.bars["SPY"].close_ts_ns[-1]) == close_ns


def _arrays(day: SimulatedDay) -> list[np.ndarray]:
    md = day.market_day
    out: list[np.ndarray] = []
    for bars in md.bars.values():
        out += [bars.open_ts_ns, bars.open, bars.high, bars.low, bars.close, bars.volume]
    for underlying, chain in md.chains.items():
        out += [chain.sample_ts_ns, chain.bid, chain.ask, chain.bid_size, chain.ask_size]
        out.append(day.quote_ts_event_ns[underlying])
    return out


def test_same_seed_gives_identical_arrays_and_another_seed_differs(full: MarketSimulator) -> None:
    first, again = full.day(DAY, seed=5), MarketSimulator(calendar=CALENDAR).day(DAY, seed=5)
    other = full.day(DAY, seed=6)

    assert all(np.array_equal(a, b) for a, b in zip(_arrays(first), _arrays(again), strict=True))
    assert not np.array_equal(first.market_day.bars["SPY"].close, other.market_day.bars["SPY"].close)
    assert not np.array_equal(
        first.market_day.chains[Underlying.QQQ].bid_size, other.market_day.chains[Underlying.QQQ].bid_size
    )


def test_chain_width_does_not_change_the_underlying_paths(
    full_day: SimulatedDay, narrow: MarketSimulator
) -> None:
    narrow_day = narrow.day(DAY, seed=11)
    for symbol, bars in full_day.market_day.bars.items():
        assert np.array_equal(bars.close, narrow_day.market_day.bars[symbol].close)


def test_bad_input_is_refused_with_the_field_and_the_limit(full: MarketSimulator) -> None:
    with pytest.raises(DomainError, match="scenario='sideways' is not a scenario; valid: normal, trend_up"):
        Scenario.parse("sideways")
    with pytest.raises(DomainError, match="session_date=2025-03-15 is not an NYSE session"):
        full.day(date(2025, 3, 15), seed=1)
    with pytest.raises(DomainError, match=r"seed=-1 must be within 0\.\."):
        full.day(DAY, seed=-1)
    later = MarketState({u: 100.0 for u in Underlying}, session_date=DAY)
    with pytest.raises(DomainError, match=r"previous\.session_date=2025-03-14 must be before"):
        full.day(DAY, seed=1, previous=later)
    with pytest.raises(DomainError, match=r"previous\.close_usd\[VIX\]=None"):
        full.day(DAY, seed=1, previous=MarketState({u: 1.0 for u in Underlying.tradable()}))
    with pytest.raises(DomainError, match="return_correlation must be positive definite"):
        SimulatorConfig(return_correlation=((1.0, 0.99, -0.99), (0.99, 1.0, 0.99), (-0.99, 0.99, 1.0)))
