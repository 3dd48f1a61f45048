"""What every strategy is given at decision time t, and the pieces they share.

A strategy is a pure function with one shape::

    decide(snapshot, history, state, params) -> list[Signal]

- `snapshot` (`Snapshot`): one underlying at t: its latest feature row and the regime read from it.
- `history` (`MarketHistory`): the causal view at t of every symbol: bars closed by t, chain rows
  sampled by t, the feature rows up to t, the prior session's closes and the pricing inputs. It
  refuses to hold anything stamped later, so a strategy cannot look ahead.
- `state` (`StrategyState`): what this strategy already did today on this underlying.
- `params`: the strategy's own frozen parameters (a `StrategyParams` subclass, validated on
  construction: an out-of-range value raises an error naming the field and its limit).

No I/O, clock or randomness: the same inputs give the same signals, ids included. The shared gates
(regime, minutes to close, cooldown, daily cap) are applied by `strategies.run_strategies` before
`decide` is called; `decide` applies the strategy's own rules.

Confidence is `CONFIDENCE_FLOOR + (1 - CONFIDENCE_FLOOR) * sum(weight_k * strength_k)`, where each
strength is a `ramp` of one piece of evidence (0 at the entry threshold, 1 at full strength) and the
weights sum to 1: monotone in every piece of evidence, within [0.5, 1] once the rules have fired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TypeVar

import numpy as np
from pydantic import Field
from pydantic.dataclasses import dataclass as validated_dataclass

from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.chain_analytics import PricingInputs, analyze, select_by_delta
from smart0dte.domain.features import DEFAULT_PRICING_INPUTS, N_FEATURES
from smart0dte.domain.marketdata import (
    F64,
    NS_PER_MINUTE,
    NS_PER_SECOND,
    BarSeries,
    ChainSeries,
    MarketDay,
    datetime_to_ns,
    ns_to_datetime,
)
from smart0dte.domain.models import (
    Direction,
    DomainError,
    OptionContract,
    OptionRight,
    Signal,
    Underlying,
)
from smart0dte.domain.regime import RegimeReading

CONFIDENCE_FLOOR = 0.5
"""Confidence of a signal whose evidence sits exactly at every entry threshold."""


@validated_dataclass(frozen=True)
class StrategyParams:
    """Parameters every strategy has; each strategy subclasses this with its own."""

    target_delta: float = Field(default=0.40, gt=0.05, lt=0.95)
    """|delta| of the contract to buy; the chain's nearest usable contract is chosen."""
    min_minutes_to_close: float = Field(default=45.0, ge=0, le=390)
    """No new signal later than this before the close (the day is flattened 10 minutes before it)."""
    cooldown_minutes: float = Field(default=30.0, ge=0, le=390)
    max_signals_per_day: int = Field(default=2, ge=1, le=50)
    max_chain_age_s: int = Field(default=90, ge=0, le=600)
    """Chain samples older than this at t are too stale to choose a contract from."""


@dataclass(frozen=True, slots=True)
class StrategyState:
    """What one strategy did today on one underlying: enough for cooldowns and daily caps."""

    session_date: date
    signals_today: int = 0
    last_signal_ts_ns: int | None = None
    last_direction: Direction | None = None

    def ready(self, ts_ns: int, params: StrategyParams) -> bool:
        """Under the daily cap and out of the cooldown since the last signal."""
        if self.signals_today >= params.max_signals_per_day:
            return False
        if self.last_signal_ts_ns is None:
            return True
        return ts_ns - self.last_signal_ts_ns >= params.cooldown_minutes * NS_PER_MINUTE

    def after(self, signal: Signal) -> StrategyState:
        """The state once `signal` has been emitted."""
        return replace(
            self,
            signals_today=self.signals_today + 1,
            last_signal_ts_ns=datetime_to_ns(signal.ts),
            last_direction=signal.direction,
        )


def require_ordered(params: object, pairs: Sequence[tuple[str, str]]) -> None:
    """Each (low, high) pair of fields must satisfy low < high; the error names both and their values."""
    for low, high in pairs:
        low_value, high_value = getattr(params, low), getattr(params, high)
        if not low_value < high_value:
            raise ValueError(f"{low} ({low_value}) must be < {high} ({high_value})")


@dataclass(frozen=True, slots=True)
class MarketHistory:
    """Everything known at decision time `ts_ns` (a minute end), and nothing later.

    `features[u]` has one row per bar in `bars[u.value]` (see `features.FEATURE_NAMES`).
    """

    ts_ns: int
    session: SessionTimes
    bars: Mapping[str, BarSeries]
    chains: Mapping[Underlying, ChainSeries]
    features: Mapping[Underlying, F64]
    prior_close: Mapping[str, float]
    pricing: PricingInputs = field(default=DEFAULT_PRICING_INPUTS)

    def __post_init__(self) -> None:
        for symbol, series in self.bars.items():
            if len(series) and int(series.close_ts_ns[-1]) > self.ts_ns:
                raise DomainError(
                    f"MarketHistory.bars[{symbol}] holds a bar closing at {int(series.close_ts_ns[-1])}, "
                    f"after ts_ns={self.ts_ns}: that is look-ahead"
                )
        for underlying, chain in self.chains.items():
            if len(chain) and int(chain.sample_ts_ns[-1]) > self.ts_ns:
                raise DomainError(
                    f"MarketHistory.chains[{underlying.value}] holds a sample at "
                    f"{int(chain.sample_ts_ns[-1])}, after ts_ns={self.ts_ns}: that is look-ahead"
                )
        for underlying, rows in self.features.items():
            known = self.bars.get(underlying.value)
            expected = (0 if known is None else len(known), N_FEATURES)
            if rows.shape != expected:
                raise DomainError(
                    f"MarketHistory.features[{underlying.value}] has shape {rows.shape}; expected {expected} "
                    "(one row per closed bar)"
                )

    @classmethod
    def from_day(
        cls,
        day: MarketDay,
        ts_ns: int,
        session: SessionTimes,
        prior_close: Mapping[str, float],
        day_features: Mapping[Underlying, F64],
        pricing: PricingInputs = DEFAULT_PRICING_INPUTS,
    ) -> MarketHistory:
        """The view at `ts_ns` of a day, given each underlying's `features.day_features` (or rows
        computed so far): bars, chain rows and feature rows are cut at ts_ns, without copying."""
        bars = {symbol: series.head(series.closed_by(ts_ns)) for symbol, series in day.bars.items()}
        return cls(
            ts_ns=ts_ns,
            session=session,
            bars=bars,
            chains={u: chain.head(chain.sampled_by(ts_ns)) for u, chain in day.chains.items()},
            features={u: rows[: len(bars[u.value])] for u, rows in day_features.items()},
            prior_close=prior_close,
            pricing=pricing,
        )

    @property
    def session_close_ns(self) -> int:
        return datetime_to_ns(self.session.close_et)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One underlying at decision time: its latest feature row and the regime read from it."""

    underlying: Underlying
    ts_ns: int
    row: F64
    """The feature row of the latest closed bar (index with `features.Feature`)."""
    close: float
    """Close of that bar."""
    regime: RegimeReading

    @property
    def ts(self) -> datetime:
        return ns_to_datetime(self.ts_ns)

    def value(self, feature: int) -> float:
        return float(self.row[feature])


P = TypeVar("P", bound=StrategyParams)
DecideFn = Callable[[Snapshot, MarketHistory, StrategyState, P], list[Signal]]


def ramp(value: float, zero_at: float, full_at: float) -> float:
    """0 at `zero_at`, 1 at `full_at`, linear between and clipped; NaN counts as no evidence (0).

    `full_at` may lie below `zero_at` for evidence that grows as the value falls (e.g. RSI).
    """
    if value != value:  # NaN
        return 0.0
    fraction = (value - zero_at) / (full_at - zero_at)
    return min(1.0, max(0.0, fraction))


def ratio(num: float, den: float) -> float:
    """num / den, NaN when den is 0 (e.g. a move in ATRs over a flat window)."""
    return num / den if den != 0 else float("nan")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One weighted piece of evidence behind a confidence, named for the rationale."""

    name: str
    weight: float
    strength: float


def confidence(evidence: Sequence[Evidence]) -> tuple[float, str]:
    """Confidence from weighted strengths (weights sum to 1), and the formula with its numbers."""
    total = sum(e.weight * e.strength for e in evidence)
    value = min(1.0, max(0.0, CONFIDENCE_FLOOR + (1.0 - CONFIDENCE_FLOOR) * total))
    terms = " + ".join(f"{e.weight:g} x {e.strength:.2f} {e.name}" for e in evidence)
    return value, f"confidence {value:.2f} = {CONFIDENCE_FLOOR:g} + {1 - CONFIDENCE_FLOOR:g} x ({terms})"


def signal_id(strategy: str, underlying: Underlying, ts_ns: int, direction: Direction) -> str:
    """Deterministic id: strategy, symbol, decision minute and right, e.g.
    'momentum_breakout-SPY-20250314T1431Z-C'."""
    return f"{strategy}-{underlying.value}-{ns_to_datetime(ts_ns):%Y%m%dT%H%MZ}-{direction.value}"


def choose_contract(
    history: MarketHistory,
    underlying: Underlying,
    direction: Direction,
    target_delta: float,
    max_chain_age_s: int,
) -> tuple[OptionContract, float] | None:
    """The usable contract of `direction` whose |delta| is nearest `target_delta`, and that delta,
    from the latest chain sample (priced by `chain_analytics`); None without a fresh sample."""
    chain = history.chains.get(underlying)
    series = history.bars.get(underlying.value)
    if chain is None or not len(chain) or series is None or not len(series):
        return None
    sample_ts_ns = int(chain.sample_ts_ns[-1])
    if history.ts_ns - sample_ts_ns > max_chain_age_s * NS_PER_SECOND:
        return None
    minutes_left = (history.session_close_ns - sample_ts_ns) / NS_PER_MINUTE
    if minutes_left <= 0:
        return None
    side = np.flatnonzero(chain.is_call == (direction is OptionRight.CALL))
    analytics = analyze(
        underlying,
        history.session.session_date,
        chain.strike[side],
        chain.is_call[side],
        chain.bid[-1, side],
        chain.ask[-1, side],
        float(series.close[-1]),
        minutes_left,
        history.pricing,
    )
    chosen = select_by_delta(analytics, direction, target_delta)
    if chosen is None:
        return None
    return chain.contracts[int(side[chosen])], float(analytics.delta[chosen])


def make_signal(
    strategy: str,
    snapshot: Snapshot,
    history: MarketHistory,
    direction: Direction,
    evidence: Sequence[Evidence],
    why: str,
    params: StrategyParams,
) -> Signal:
    """A Signal with its confidence, contract choice and a rationale carrying every number used."""
    value, formula = confidence(evidence)
    choice = choose_contract(
        history, snapshot.underlying, direction, params.target_delta, params.max_chain_age_s
    )
    if choice is None:
        contract, pick = None, f"no fresh chain: target delta {params.target_delta:.2f}"
    else:
        contract, delta = choice
        pick = f"contract {contract.occ_symbol} (delta {delta:+.2f}, target {params.target_delta:.2f})"
    return Signal(
        signal_id=signal_id(strategy, snapshot.underlying, snapshot.ts_ns, direction),
        ts=snapshot.ts,
        underlying=snapshot.underlying,
        direction=direction,
        strategy=strategy,
        confidence=value,
        rationale=f"{why}; {snapshot.regime.describe()}; {formula}; {pick}",
        target_delta=params.target_delta,
        contract=contract,
    )
