"""One regular session (2025-03-14) for tests: its times, hand-made bars and chains on its minutes,
the simulated day with its prior closes, a minute-by-minute replay of the strategies, and the day
with everything stamped after t perturbed (for no-look-ahead tests)."""

from collections.abc import Iterator
from datetime import date

import numpy as np

from smart0dte.domain.calendar import MarketCalendar, SessionTimes
from smart0dte.domain.features import FeatureSource, day_features
from smart0dte.domain.marketdata import (
    F64,
    NS_PER_MINUTE,
    BarSeries,
    ChainSeries,
    MarketDay,
    datetime_to_ns,
)
from smart0dte.domain.models import OptionContract, OptionRight, Underlying
from smart0dte.domain.pricing import bsm_price, t_years_from_minutes
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.domain.strategies import Decisions, StateKey, run_strategies
from smart0dte.domain.strategies.base import MarketHistory, StrategyState

SESSION_DATE = date(2025, 3, 14)
CALENDAR = MarketCalendar()


def _session() -> SessionTimes:
    session = CALENDAR.session(SESSION_DATE)
    assert session is not None
    return session


SESSION = _session()
OPEN_NS = datetime_to_ns(SESSION.open_et)
CLOSE_NS = datetime_to_ns(SESSION.close_et)


def minute_bars(
    close: list[float] | np.ndarray,
    *,
    spread: float = 0.1,
    volume: list[int] | np.ndarray | None = None,
    symbol: str = "SPY",
    first_open_ns: int = OPEN_NS,
) -> BarSeries:
    """One-minute bars closing at `close`: each opens at the previous close, high and low reach
    `spread` beyond the open and close; volume 1000 unless given."""
    close = np.asarray(close, dtype=np.float64)
    n = close.shape[0]
    open_ = np.concatenate(([close[0]], close[:-1]))
    return BarSeries(
        symbol,
        first_open_ns + np.arange(n, dtype=np.int64) * NS_PER_MINUTE,
        open_,
        np.maximum(open_, close) + spread,
        np.minimum(open_, close) - spread,
        close,
        np.asarray(volume if volume is not None else np.full(n, 1000), dtype=np.int64),
    )


def flat_vol_chain(
    spot: float, vol: float, samples: int, *, strikes_each_side: int, rate: float, div_yield: float
) -> ChainSeries:
    """A SPY 0DTE chain sampled at the first `samples` minute closes, every contract priced by
    Black-Scholes at `vol` (one-cent half spread, size 10), strikes a dollar apart around `spot`."""
    strikes = np.arange(spot - strikes_each_side, spot + strikes_each_side + 1, 1.0)
    contracts = tuple(
        OptionContract(root="SPY", expiry=SESSION_DATE, right=right, strike=float(k))
        for right in OptionRight
        for k in strikes
    )
    sample_ts = OPEN_NS + (1 + np.arange(samples, dtype=np.int64)) * NS_PER_MINUTE
    strike = np.array([c.strike for c in contracts])
    is_call = np.array([c.right is OptionRight.CALL for c in contracts])
    t_years = t_years_from_minutes((CLOSE_NS - sample_ts) / NS_PER_MINUTE)[:, None]
    price = bsm_price(spot, strike[None, :], t_years, rate, div_yield, vol, is_call[None, :])
    sizes = np.full(price.shape, 10, dtype=np.int64)
    return ChainSeries(
        Underlying.SPY, SESSION_DATE, contracts, sample_ts, price - 0.01, price + 0.01, sizes, sizes.copy()
    )


def simulate(seed: int, scenario: Scenario) -> tuple[MarketDay, dict[str, float]]:
    """The simulated session and the prior closes it opened from (simulated afresh on each call)."""
    simulated = MarketSimulator(calendar=CALENDAR).day(SESSION_DATE, seed=seed, scenario=scenario)
    return simulated.market_day, simulated.prior_close


def features_by_underlying(day: MarketDay, prior: dict[str, float]) -> dict[Underlying, F64]:
    return {u: day_features(FeatureSource.from_day(day, u, SESSION, prior)) for u in Underlying.tradable()}


def replay(
    day: MarketDay, prior: dict[str, float], features: dict[Underlying, F64], until_ns: int | None = None
) -> Iterator[Decisions]:
    """The strategies' decisions at each minute's close (up to `until_ns`), state carried over."""
    states: dict[StateKey, StrategyState] = {}
    for ts_ns in day.bars["SPY"].close_ts_ns.tolist():
        if until_ns is not None and ts_ns > until_ns:
            return
        decisions = run_strategies(MarketHistory.from_day(day, ts_ns, SESSION, prior, features), states)
        states = dict(decisions.states)
        yield decisions


def scaled(b: BarSeries, factor: np.ndarray, volume: np.ndarray | None = None) -> BarSeries:
    """`b` with each bar's prices multiplied by its `factor`, and `volume` instead of its own when given."""
    return BarSeries(
        b.symbol,
        b.open_ts_ns,
        b.open * factor,
        b.high * factor,
        b.low * factor,
        b.close * factor,
        b.volume if volume is None else volume,
        b.interval_s,
    )


def perturbed_after(day: MarketDay, t_ns: int, seed: int) -> MarketDay:
    """Every bar closing after t_ns and every chain row sampled after t_ns, randomly changed."""
    rng = np.random.default_rng(seed)

    def bars(b: BarSeries) -> BarSeries:
        factor = np.ones(len(b))
        later = slice(b.closed_by(t_ns), None)
        factor[later] = np.exp(rng.normal(0.0, 0.01, len(b) - b.closed_by(t_ns)))
        volume = b.volume.copy()
        volume[later] = rng.integers(0, 10 * int(b.volume.max()) + 10, volume[later].shape[0])
        return scaled(b, factor, volume)

    def chain(c: ChainSeries) -> ChainSeries:
        factor = np.ones((len(c), 1))
        later = slice(c.sampled_by(t_ns), None)
        factor[later] = np.exp(rng.normal(0.0, 0.3, (len(c) - c.sampled_by(t_ns), 1)))
        return ChainSeries(
            c.underlying,
            c.expiry,
            c.contracts,
            c.sample_ts_ns,
            c.bid * factor,
            c.ask * factor,
            c.bid_size,
            c.ask_size,
        )

    return MarketDay(
        day.session_date,
        {s: bars(b) for s, b in day.bars.items()},
        {u: chain(c) for u, c in day.chains.items()},
        day.synthetic,
    )
