"""Synthetic trading days: 1-minute bars for SPY, QQQ, IWM and VIX, and a 0DTE chain every minute.

Everything a day contains is drawn from numpy Generators seeded by (seed, session date), so the same
seed and dates give the same arrays, bit for bit. The model, per session:

- Overnight: each ETF gaps from the previous close with a correlated normal move carrying
  `overnight_variance_share` of the day's variance; VIX gaps (negatively correlated with SPY) and
  mean-reverts towards `vix_long_run`.
- Intraday, per minute: log VIX moves with vol-of-vol `vix_vol_of_vol`, correlated with SPY's shock
  by `spot_vix_correlation`. Each ETF's volatility follows VIX (stochastic volatility): its implied
  vol is `vol_to_vix` x VIX, it realises `realized_to_implied` of that, shaped over the day by a
  U-shaped profile (busy open, quiet midday, busier close). ETF shocks are correlated by
  `return_correlation`. High/low come from the exact Brownian-bridge extremes of each minute.
- Chains: strikes fixed for the day around the open, `strikes_each_side` x `strike_step_usd`
  each way. Every minute each contract is priced with Black-Scholes-Merton at an implied vol that
  prices the variance left until the close (VIX-implied, U-shape aware) with a put skew, then
  quoted on the $0.01 grid with spreads that widen in the wings and in the last hour; bids may be
  0 for far wings, quotes are never crossed.

Scenarios tilt the same random draws: trends, chop (mean reversion to the open), gaps, a VIX spike.
A day's price level comes from the `MarketState` it starts from: chain days with `days()`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

import numpy as np

from smart0dte.domain.calendar import MarketCalendar, SessionTimes
from smart0dte.domain.marketdata import (
    F64,
    I64,
    NS_PER_MINUTE,
    NS_PER_SECOND,
    BarSeries,
    ChainSeries,
    MarketDay,
    datetime_to_ns,
)
from smart0dte.domain.models import DomainError, OptionContract, OptionRight, Underlying
from smart0dte.domain.pricing import bsm_price, t_years_from_minutes

TRADING_DAYS_PER_YEAR = 252
REGULAR_SESSION_MINUTES = 390
MAX_SEED = 2**63 - 1
DEFAULT_SEED = 7
"""The seed every command and request uses when none is given (`make demo` plays it)."""
MIN_TIME_TO_EXPIRY_MINUTES = 1.0
"""The last sample (at the close) prices the final minute of trading rather than settlement."""
_SMILE_MONEYNESS_CLIP = 4.0
"""Standardised moneyness beyond which the smile stays flat."""
_MAX_QUOTE_AGE_NS = 59_999 * 1_000_000


class Scenario(StrEnum):
    """A named shape of a trading day."""

    NORMAL = "normal"
    TREND_UP = "trend_up"
    TREND_DOWN = "trend_down"
    CHOP = "chop"
    GAP_UP = "gap_up"
    GAP_DOWN = "gap_down"
    VIX_SPIKE = "vix_spike"

    @classmethod
    def parse(cls, name: str) -> Scenario:
        """The scenario called `name`, or a DomainError listing the valid names."""
        try:
            return cls(name)
        except ValueError:
            valid = ", ".join(s.value for s in cls)
            raise DomainError(f"scenario={name!r} is not a scenario; valid: {valid}") from None


@dataclass(frozen=True, slots=True)
class ScenarioEffects:
    """How a scenario tilts a day; zeros are a normal day."""

    drift_sigmas: float = 0.0
    """ETF drift over the session, in standard deviations of the session's return."""
    gap_sigmas: float = 0.0
    """Forced overnight gap, in overnight standard deviations (sign = direction); 0 leaves it random."""
    vix_gap_log: float = 0.0
    vix_drift_log: float = 0.0
    """Log change of VIX over the session on top of its noise."""
    vix_spike_log: float = 0.0
    """Mean log jump of VIX in a 20-minute spike between 20% and 65% of the session."""
    reversion_half_life_minutes: float | None = None
    """ETF log prices mean-revert to the open with this half-life (chop)."""


SCENARIO_EFFECTS: Mapping[Scenario, ScenarioEffects] = {
    Scenario.NORMAL: ScenarioEffects(),
    Scenario.TREND_UP: ScenarioEffects(drift_sigmas=1.5, vix_drift_log=-0.08),
    Scenario.TREND_DOWN: ScenarioEffects(drift_sigmas=-1.5, vix_drift_log=0.12),
    Scenario.CHOP: ScenarioEffects(reversion_half_life_minutes=20.0),
    Scenario.GAP_UP: ScenarioEffects(gap_sigmas=3.0, vix_gap_log=-0.08),
    Scenario.GAP_DOWN: ScenarioEffects(gap_sigmas=-3.0, vix_gap_log=0.12),
    Scenario.VIX_SPIKE: ScenarioEffects(vix_spike_log=math.log(1.4)),
}

_SPIKE_RAMP_MINUTES = 20


@dataclass(frozen=True, slots=True)
class UnderlyingProfile:
    """How one ETF and its 0DTE chain behave."""

    underlying: Underlying
    start_price_usd: float
    vol_to_vix: float
    """The ETF's at-the-money implied vol as a multiple of VIX."""
    strike_step_usd: float
    strikes_each_side: int
    dividend_yield: float
    volume_per_day: int
    """Shares per regular session, on average."""
    quote_size_median: int
    """Contracts displayed at the top of book for a near-the-money option."""
    half_spread_usd: float
    """Half spread of a cheap option far from expiry, before widening."""
    half_spread_fraction: float
    """Half spread growth per dollar of option price."""

    def __post_init__(self) -> None:
        name = f"UnderlyingProfile({self.underlying.value})"
        if not self.underlying.is_tradable:
            raise DomainError(f"{name}.underlying must be SPY, QQQ or IWM")
        for attr, low, high in (
            ("start_price_usd", 1.0, 100_000.0),
            ("vol_to_vix", 0.1, 5.0),
            ("strike_step_usd", 0.5, 100.0),
            ("dividend_yield", 0.0, 0.2),
            ("half_spread_usd", 0.001, 1.0),
            ("half_spread_fraction", 0.0, 0.5),
        ):
            value = getattr(self, attr)
            if not low <= value <= high:
                raise DomainError(f"{name}.{attr}={value} must be within {low}..{high}")
        if not 0 <= self.strikes_each_side <= 200:
            raise DomainError(f"{name}.strikes_each_side={self.strikes_each_side} must be within 0..200")
        if self.volume_per_day < 0 or self.quote_size_median < 1:
            raise DomainError(f"{name}: volume_per_day must be >= 0 and quote_size_median >= 1")
        if abs(self.strike_step_usd * 1000 - round(self.strike_step_usd * 1000)) > 1e-9:
            raise DomainError(f"{name}.strike_step_usd={self.strike_step_usd} must be a multiple of 0.001")


DEFAULT_PROFILES = (
    UnderlyingProfile(Underlying.SPY, 580.0, 1.0, 1.0, 30, 0.012, 60_000_000, 120, 0.004, 0.002),
    UnderlyingProfile(Underlying.QQQ, 500.0, 1.25, 1.0, 25, 0.006, 40_000_000, 90, 0.004, 0.003),
    UnderlyingProfile(Underlying.IWM, 220.0, 1.35, 1.0, 15, 0.012, 30_000_000, 60, 0.005, 0.006),
)
DEFAULT_RETURN_CORRELATION = ((1.0, 0.9, 0.8), (0.9, 1.0, 0.75), (0.8, 0.75, 1.0))


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Parameters of the synthetic market (defaults resemble 2024-2025 SPY, QQQ, IWM and VIX)."""

    profiles: tuple[UnderlyingProfile, ...] = DEFAULT_PROFILES
    return_correlation: tuple[tuple[float, ...], ...] = DEFAULT_RETURN_CORRELATION
    """Correlation of the ETFs' 1-minute shocks, in the order of `profiles`."""
    spot_vix_correlation: float = -0.75
    vix_start: float = 16.0
    vix_long_run: float = 17.0
    vix_mean_reversion_per_year: float = 8.0
    vix_vol_of_vol: float = 1.1
    """Annualised volatility of log VIX."""
    realized_to_implied: float = 0.85
    """Realised vol over implied vol (the variance risk premium options sellers earn)."""
    overnight_variance_share: float = 0.2
    rate: float = 0.043
    tick_usd: float = 0.01
    skew_slope: float = 0.08
    """Relative vol added per standard deviation below the money (put skew)."""
    smile_curvature: float = 0.025
    wing_spread_widening: float = 0.15
    """Relative half-spread widening per standard deviation away from the money."""
    expiry_spread_widening: float = 1.0
    """Relative half-spread widening at the close, decaying over `expiry_spread_decay_minutes`."""
    expiry_spread_decay_minutes: float = 45.0
    spike_spot_beta: float = 0.06
    """ETF log drop per unit of log VIX spike, per unit of vol_to_vix."""

    def __post_init__(self) -> None:
        names = [p.underlying for p in self.profiles]
        if not names or len(set(names)) != len(names):
            raise DomainError("SimulatorConfig.profiles must name each of SPY, QQQ, IWM at most once")
        corr = np.asarray(self.return_correlation, dtype=np.float64)
        if corr.shape != (len(names), len(names)) or not np.allclose(corr, corr.T):
            raise DomainError(
                f"SimulatorConfig.return_correlation must be a symmetric {len(names)}x{len(names)} matrix"
            )
        if not np.allclose(np.diag(corr), 1.0) or np.any(np.abs(corr) > 1.0):
            raise DomainError("SimulatorConfig.return_correlation needs a unit diagonal and |values| <= 1")
        try:
            np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:
            raise DomainError("SimulatorConfig.return_correlation must be positive definite") from None
        for attr, low, high in (
            ("spot_vix_correlation", -0.99, 0.99),
            ("vix_start", 5.0, 150.0),
            ("vix_long_run", 5.0, 150.0),
            ("vix_mean_reversion_per_year", 0.0, 100.0),
            ("vix_vol_of_vol", 0.0, 5.0),
            ("realized_to_implied", 0.1, 2.0),
            ("overnight_variance_share", 0.0, 0.9),
            ("rate", -0.05, 0.25),
            ("skew_slope", 0.0, 0.2),
            ("smile_curvature", 0.0, 0.2),
            ("wing_spread_widening", 0.0, 2.0),
            ("expiry_spread_widening", 0.0, 10.0),
            ("expiry_spread_decay_minutes", 1.0, 390.0),
            ("spike_spot_beta", 0.0, 1.0),
        ):
            value = getattr(self, attr)
            if not low <= value <= high:
                raise DomainError(f"SimulatorConfig.{attr}={value} must be within {low}..{high}")
        if self.tick_usd not in (0.01, 0.05):
            raise DomainError(f"SimulatorConfig.tick_usd={self.tick_usd} must be 0.01 or 0.05")

    def with_strikes_each_side(self, strikes_each_side: int) -> SimulatorConfig:
        """The same market with narrower or wider chains (e.g. 1 for fast statistics)."""
        profiles = tuple(replace(p, strikes_each_side=strikes_each_side) for p in self.profiles)
        return replace(self, profiles=profiles)


@dataclass(frozen=True, slots=True)
class MarketState:
    """The closing levels one session leaves for the next: each ETF and VIX."""

    close_usd: Mapping[Underlying, float]
    session_date: date | None = None
    """The session that closed at these levels; None for the configured starting levels."""

    @classmethod
    def initial(cls, config: SimulatorConfig) -> MarketState:
        levels = {p.underlying: p.start_price_usd for p in config.profiles}
        levels[Underlying.VIX] = config.vix_start
        return cls(levels)

    def to_wire(self) -> dict[str, object]:
        return {
            "session_date": self.session_date.isoformat() if self.session_date else None,
            "close": {u.value: round(v, 4) for u, v in self.close_usd.items()},
        }


@dataclass(frozen=True, eq=False)
class SimulatedDay:
    """One synthetic session: the market day, the quote update times and how it was made."""

    market_day: MarketDay
    seed: int
    scenario: Scenario
    previous: MarketState
    close_state: MarketState
    quote_ts_event_ns: Mapping[Underlying, I64]
    """Per chain, (sample x contract): when each quote last changed before its sample (cbbo ts_event)."""

    @property
    def prior_close(self) -> dict[str, float]:
        """The previous session's closes keyed by symbol, as `FeatureSource.from_day` takes them."""
        return {u.value: level for u, level in self.previous.close_usd.items()}

    def describe(self) -> dict[str, object]:
        """JSON-ready facts about the day, for a manifest."""
        day = self.market_day
        bars = day.bars
        return {
            "synthetic": day.synthetic,
            "session_date": day.session_date.isoformat(),
            "seed": self.seed,
            "scenario": self.scenario.value,
            "session_minutes": len(next(iter(bars.values()))),
            "previous_close": self.previous.to_wire(),
            "open": {s: float(b.open[0]) for s, b in bars.items()},
            "close": {s: float(b.close[-1]) for s, b in bars.items()},
            "chains": {
                u.value: {
                    "expiry": c.expiry.isoformat(),
                    "contracts": len(c.contracts),
                    "strike_min": float(c.strike.min()),
                    "strike_max": float(c.strike.max()),
                }
                for u, c in day.chains.items()
            },
        }


def _intraday_vol_shape(minutes: int) -> F64:
    """Relative volatility of each minute: high at the open, low at midday, rising into the close.

    Normalised to a mean square of 1, so the session's variance is unchanged by the shape.
    """
    tau = (np.arange(minutes, dtype=np.float64) + 0.5) / minutes
    shape = 0.75 + 1.5 * np.exp(-tau / 0.05) + 0.5 * np.exp(-(1.0 - tau) / 0.06)
    shape = shape / np.sqrt(np.mean(shape * shape))
    return np.asarray(shape, dtype=np.float64)


def _ar1(shocks: F64, phi: float) -> F64:
    """x[i] = phi x[i-1] + shocks[i] along axis 0, x[-1] = 0, without a Python loop."""
    steps = np.arange(shocks.shape[0], dtype=np.float64)[:, None]
    weights = np.power(phi, -steps)
    result = np.power(phi, steps) * np.cumsum(shocks * weights, axis=0)
    return np.asarray(result, dtype=np.float64)


def _bridge_extremes(log_open: F64, log_close: F64, sd: F64, u_high: F64, u_low: F64) -> tuple[F64, F64]:
    """Exact high and low of a Brownian bridge from log_open to log_close with total sd, in log space."""
    move_sq = (log_close - log_open) ** 2
    mid = log_open + log_close
    high = 0.5 * (mid + np.sqrt(move_sq - 2.0 * sd * sd * np.log(u_high)))
    low = 0.5 * (mid - np.sqrt(move_sq - 2.0 * sd * sd * np.log(u_low)))
    return high, low


def _cents(price_usd: F64) -> F64:
    return np.asarray(np.round(price_usd, 2), dtype=np.float64)


def _bars(
    symbol: str,
    open_ts_ns: I64,
    day_open: float,
    log_close: F64,
    sd: F64,
    u_high: F64,
    u_low: F64,
    volume: I64,
) -> BarSeries:
    log_open = np.concatenate(([math.log(day_open)], log_close[:-1]))
    high_log, low_log = _bridge_extremes(log_open, log_close, sd, u_high, u_low)
    close = _cents(np.exp(log_close))
    open_ = np.concatenate(([round(day_open, 2)], close[:-1]))
    high = np.maximum(_cents(np.exp(high_log)), np.maximum(open_, close))
    low = np.minimum(_cents(np.exp(low_log)), np.minimum(open_, close))
    return BarSeries(symbol, open_ts_ns, open_, high, low, close, volume)


class MarketSimulator:
    """Generates synthetic sessions; see the module docstring for the model."""

    def __init__(self, config: SimulatorConfig | None = None, calendar: MarketCalendar | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.calendar = calendar or MarketCalendar()
        self._cholesky = np.linalg.cholesky(np.asarray(self.config.return_correlation, dtype=np.float64))

    def day(
        self,
        session_date: date,
        *,
        seed: int,
        scenario: Scenario = Scenario.NORMAL,
        previous: MarketState | None = None,
    ) -> SimulatedDay:
        """One session, opening from `previous` (default: the configured starting levels)."""
        if not 0 <= seed <= MAX_SEED:
            raise DomainError(f"seed={seed} must be within 0..{MAX_SEED}")
        session = self.calendar.session(session_date)
        if session is None:
            raise DomainError(f"session_date={session_date.isoformat()} is not an NYSE session")
        state = previous or MarketState.initial(self.config)
        self._check_state(state, session_date)
        return self._simulate(session, seed, Scenario.parse(scenario), state)

    def days(
        self,
        session_dates: Iterable[date],
        *,
        seed: int,
        scenario: Scenario = Scenario.NORMAL,
        previous: MarketState | None = None,
    ) -> Iterator[SimulatedDay]:
        """Consecutive sessions, each opening from the previous one's close."""
        state = previous
        for session_date in session_dates:
            simulated = self.day(session_date, seed=seed, scenario=scenario, previous=state)
            state = simulated.close_state
            yield simulated

    def _check_state(self, state: MarketState, session_date: date) -> None:
        needed = [p.underlying for p in self.config.profiles] + [Underlying.VIX]
        for underlying in needed:
            level = state.close_usd.get(underlying)
            if level is None or not 0 < level < 1e6:
                raise DomainError(f"previous.close_usd[{underlying.value}]={level} must be a positive price")
        if state.session_date is not None and state.session_date >= session_date:
            raise DomainError(
                f"previous.session_date={state.session_date} must be before session_date={session_date}"
            )

    def _simulate(
        self, session: SessionTimes, seed: int, scenario: Scenario, state: MarketState
    ) -> SimulatedDay:
        cfg = self.config
        effects = SCENARIO_EFFECTS[scenario]
        minutes = session.minutes
        n_etf = len(cfg.profiles)
        path_seq, chain_seq = np.random.SeedSequence([seed, session.session_date.toordinal()]).spawn(2)
        rng = np.random.default_rng(path_seq)
        shape = _intraday_vol_shape(minutes)
        minute_year = 1.0 / (TRADING_DAYS_PER_YEAR * REGULAR_SESSION_MINUTES)
        rho = cfg.spot_vix_correlation
        vol_to_vix = np.array([p.vol_to_vix for p in cfg.profiles])

        # Every draw, in a fixed order.
        gap_z = self._cholesky @ rng.standard_normal(n_etf)
        gap_vix_e = float(rng.standard_normal())
        z = rng.standard_normal((minutes, n_etf)) @ self._cholesky.T
        vix_e = rng.standard_normal(minutes)
        spike_u = rng.random(2)
        u_extremes = 1.0 - rng.random((2, minutes, n_etf + 1))  # in (0, 1]: logs stay finite
        volume_z = rng.standard_normal((minutes, n_etf))

        # Overnight: VIX mean-reverts and gaps against SPY; ETFs gap with the previous close's vol.
        vix_prev = state.close_usd[Underlying.VIX]
        log_vix_prev = math.log(vix_prev)
        overnight_year = cfg.overnight_variance_share / TRADING_DAYS_PER_YEAR
        log_vix_open = (
            log_vix_prev
            + cfg.vix_mean_reversion_per_year
            * (math.log(cfg.vix_long_run) - log_vix_prev)
            / TRADING_DAYS_PER_YEAR
            + cfg.vix_vol_of_vol
            * math.sqrt(overnight_year)
            * (rho * float(gap_z[0]) + math.sqrt(1.0 - rho * rho) * gap_vix_e)
            + effects.vix_gap_log
        )
        gap_sd = vix_prev / 100.0 * vol_to_vix * cfg.realized_to_implied * math.sqrt(overnight_year)
        if effects.gap_sigmas == 0.0:
            gap_log = gap_sd * gap_z
        else:
            gap_log = (
                gap_sd
                * math.copysign(1.0, effects.gap_sigmas)
                * (abs(effects.gap_sigmas) + 0.5 * np.abs(gap_z))
            )
        prev_close = np.array([state.close_usd[p.underlying] for p in cfg.profiles])
        etf_open = prev_close * np.exp(gap_log)

        # Intraday VIX (stochastic vol driver), with an optional spike.
        minute_sd_vix = cfg.vix_vol_of_vol * shape * math.sqrt(minute_year)
        spike = np.zeros(minutes)
        if effects.vix_spike_log:
            start = int(minutes * (0.2 + 0.45 * spike_u[0]))
            ramp = np.clip((np.arange(minutes) + 1.0 - start) / _SPIKE_RAMP_MINUTES, 0.0, 1.0)
            spike = np.diff(effects.vix_spike_log * (0.8 + 0.4 * spike_u[1]) * ramp, prepend=0.0)
        vix_shock = rho * z[:, 0] + math.sqrt(1.0 - rho * rho) * vix_e
        log_vix = log_vix_open + np.cumsum(
            minute_sd_vix * vix_shock + effects.vix_drift_log / minutes + spike
        )
        vix_start_of_minute = np.exp(np.concatenate(([log_vix_open], log_vix[:-1])))

        # ETFs: vol follows VIX, U-shaped over the day.
        intraday_unit = (1.0 - cfg.overnight_variance_share) * minute_year
        minute_sd = (
            vix_start_of_minute[:, None]
            / 100.0
            * vol_to_vix[None, :]
            * cfg.realized_to_implied
            * shape[:, None]
            * math.sqrt(intraday_unit)
        )
        returns = minute_sd * z
        if effects.drift_sigmas:
            session_sd = np.sqrt(np.sum(minute_sd * minute_sd, axis=0))
            returns += effects.drift_sigmas * session_sd / minutes
        returns -= cfg.spike_spot_beta * vol_to_vix[None, :] * spike[:, None]
        if effects.reversion_half_life_minutes is not None:
            deviation = _ar1(returns, 0.5 ** (1.0 / effects.reversion_half_life_minutes))
        else:
            deviation = np.cumsum(returns, axis=0)
        log_close = np.log(etf_open)[None, :] + deviation

        open_ns = datetime_to_ns(session.open_et)
        open_ts_ns = open_ns + np.arange(minutes, dtype=np.int64) * NS_PER_MINUTE
        volume_shape = shape * shape
        activity = vix_start_of_minute / math.exp(log_vix_open)
        bars: dict[str, BarSeries] = {}
        for j, profile in enumerate(cfg.profiles):
            volume = (
                profile.volume_per_day
                / REGULAR_SESSION_MINUTES
                * volume_shape
                * activity
                * np.exp(0.35 * volume_z[:, j] - 0.06125)
                * (0.6 + 0.5 * np.abs(z[:, j]))
            )
            bars[profile.underlying.value] = _bars(
                profile.underlying.value,
                open_ts_ns.copy(),
                float(etf_open[j]),
                log_close[:, j],
                minute_sd[:, j],
                u_extremes[0, :, j],
                u_extremes[1, :, j],
                np.rint(volume).astype(np.int64),
            )
        bars[Underlying.VIX.value] = _bars(
            Underlying.VIX.value,
            open_ts_ns.copy(),
            math.exp(log_vix_open),
            log_vix,
            minute_sd_vix,
            u_extremes[0, :, n_etf],
            u_extremes[1, :, n_etf],
            np.zeros(minutes, dtype=np.int64),
        )

        vix_end_of_minute = np.exp(log_vix)
        chains: dict[Underlying, ChainSeries] = {}
        quote_ts_event_ns: dict[Underlying, I64] = {}
        chain_rngs = [np.random.default_rng(s) for s in chain_seq.spawn(n_etf)]
        for profile, chain_rng in zip(cfg.profiles, chain_rngs, strict=True):
            if not self.calendar.has_0dte_expiry(profile.underlying, session.session_date):
                continue
            chain, ts_event = self._chain(
                profile,
                session.session_date,
                open_ns,
                bars[profile.underlying.value],
                vix_end_of_minute,
                shape,
                intraday_unit,
                chain_rng,
            )
            chains[profile.underlying] = chain
            quote_ts_event_ns[profile.underlying] = ts_event

        close_levels = {p.underlying: float(bars[p.underlying.value].close[-1]) for p in cfg.profiles}
        close_levels[Underlying.VIX] = float(bars[Underlying.VIX.value].close[-1])
        return SimulatedDay(
            market_day=MarketDay(session.session_date, bars, chains, synthetic=True),
            seed=seed,
            scenario=scenario,
            previous=state,
            close_state=MarketState(close_levels, session.session_date),
            quote_ts_event_ns=quote_ts_event_ns,
        )

    def _chain(
        self,
        profile: UnderlyingProfile,
        expiry: date,
        open_ns: int,
        bars: BarSeries,
        vix: F64,
        shape: F64,
        intraday_unit: float,
        rng: np.random.Generator,
    ) -> tuple[ChainSeries, I64]:
        """The day's 0DTE chain sampled at the end of every minute, and each quote's last update time."""
        cfg = self.config
        minutes = len(bars)
        step_milli = round(profile.strike_step_usd * 1000)
        center_milli = round(float(bars.open[0]) / profile.strike_step_usd) * step_milli
        offsets = np.arange(-profile.strikes_each_side, profile.strikes_each_side + 1)
        strikes_milli = center_milli + offsets * step_milli
        strikes_milli = strikes_milli[strikes_milli > 0]
        contracts = tuple(
            OptionContract(root=profile.underlying.value, expiry=expiry, right=right, strike=int(k) / 1000)
            for right in (OptionRight.CALL, OptionRight.PUT)
            for k in strikes_milli
        )
        strike = np.tile(strikes_milli / 1000.0, 2)
        is_call = np.repeat([True, False], strikes_milli.size)

        spot = bars.close
        minutes_left = minutes - 1.0 - np.arange(minutes, dtype=np.float64)
        t_years = t_years_from_minutes(np.maximum(minutes_left, MIN_TIME_TO_EXPIRY_MINUTES))
        weight_sq = shape * shape
        remaining_weight = np.cumsum(weight_sq[::-1])[::-1] - weight_sq
        remaining_weight = np.maximum(remaining_weight, weight_sq[-1] * MIN_TIME_TO_EXPIRY_MINUTES)
        atm_total_sd = vix / 100.0 * profile.vol_to_vix * np.sqrt(intraday_unit * remaining_weight)
        atm_vol = atm_total_sd / np.sqrt(t_years)
        carry = (cfg.rate - profile.dividend_yield) * t_years
        moneyness = (np.log(strike[None, :] / spot[:, None]) - carry[:, None]) / atm_total_sd[:, None]
        clipped = np.clip(moneyness, -_SMILE_MONEYNESS_CLIP, _SMILE_MONEYNESS_CLIP)
        smile = np.clip(1.0 - cfg.skew_slope * clipped + cfg.smile_curvature * clipped * clipped, 0.5, 3.0)
        theo = bsm_price(
            spot[:, None],
            strike[None, :],
            t_years[:, None],
            cfg.rate,
            profile.dividend_yield,
            atm_vol[:, None] * smile,
            is_call[None, :],
        )

        expiry_factor = 1.0 + cfg.expiry_spread_widening * np.exp(
            -minutes_left / cfg.expiry_spread_decay_minutes
        )
        half_spread = (
            (profile.half_spread_usd + profile.half_spread_fraction * theo)
            * (1.0 + cfg.wing_spread_widening * np.abs(clipped))
            * expiry_factor[:, None]
        )
        ticks_per_usd = round(1.0 / cfg.tick_usd)
        bid_ticks = np.maximum(np.floor((theo - half_spread) * ticks_per_usd), 0.0)
        ask_ticks = np.maximum(np.ceil((theo + half_spread) * ticks_per_usd), 1.0)
        bid = bid_ticks / ticks_per_usd
        ask = ask_ticks / ticks_per_usd

        depth = profile.quote_size_median * (1.0 + 3.0 * np.exp(-theo / 0.25))
        sizes = np.maximum(np.rint(depth[None] * rng.lognormal(0.0, 0.5, (2, *theo.shape))), 1.0)
        bid_size = np.where(bid_ticks > 0, sizes[0], 0.0).astype(np.int64)
        ask_size = sizes[1].astype(np.int64)

        sample_ts_ns = open_ns + (np.arange(minutes, dtype=np.int64) + 1) * NS_PER_MINUTE
        mean_age_ns = 0.25 * NS_PER_SECOND * (1.0 + clipped * clipped)
        age_ns = np.minimum(rng.exponential(1.0, theo.shape) * mean_age_ns, _MAX_QUOTE_AGE_NS)
        ts_event = sample_ts_ns[:, None] - age_ns.astype(np.int64)
        ts_event.setflags(write=False)

        chain = ChainSeries(
            profile.underlying,
            expiry,
            contracts,
            sample_ts_ns,
            bid,
            ask,
            bid_size,
            ask_size,
        )
        return chain, ts_event
