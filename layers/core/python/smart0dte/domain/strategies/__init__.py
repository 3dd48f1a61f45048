"""The strategies by name, and the runner the minute cycle calls.

Each minute, for a decision time t (a minute end)::

    history = MarketHistory.from_day(day, t, session, prior_close, features)   # or built directly
    decisions = run_strategies(history, states)
    states = decisions.states                                                  # keep for next minute

`run_strategies` reads each tradable underlying's latest feature row, classifies its regime, and
calls every strategy the regime allows (see `Strategy.regimes`) that is also past its shared gates:
at least `min_minutes_to_close` left, out of cooldown, under its daily cap. An underlying whose
latest bar did not close within the last bar interval before t is skipped (stale data). States from
another session are discarded, so a new day starts clean.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic

from smart0dte.domain.marketdata import NS_PER_MINUTE, NS_PER_SECOND
from smart0dte.domain.models import DomainError, Signal, Underlying
from smart0dte.domain.regime import DEFAULT_REGIME_PARAMS, Regime, RegimeParams, RegimeReading, classify
from smart0dte.domain.strategies import gap_fill, mean_reversion, momentum_breakout, vix_spike
from smart0dte.domain.strategies.base import (
    DecideFn,
    MarketHistory,
    P,
    Snapshot,
    StrategyParams,
    StrategyState,
)


@dataclass(frozen=True, slots=True)
class Strategy(Generic[P]):
    name: str
    decide: DecideFn[P]
    default_params: P
    regimes: frozenset[Regime]
    """The regimes in which the strategy may fire."""


STRATEGIES: Mapping[str, Strategy[Any]] = MappingProxyType(
    {
        s.name: s
        for s in (
            Strategy(
                momentum_breakout.NAME,
                momentum_breakout.decide,
                momentum_breakout.MomentumBreakoutParams(),
                frozenset({Regime.TREND}),
            ),
            Strategy(
                mean_reversion.NAME,
                mean_reversion.decide,
                mean_reversion.MeanReversionParams(),
                frozenset({Regime.RANGE, Regime.TREND}),
            ),
            Strategy(
                gap_fill.NAME,
                gap_fill.decide,
                gap_fill.GapFillParams(),
                frozenset({Regime.WARMUP, Regime.RANGE, Regime.TREND}),
            ),
            Strategy(
                vix_spike.NAME,
                vix_spike.decide,
                vix_spike.VixSpikeParams(),
                frozenset({Regime.HIGH_VOL}),
            ),
        )
    }
)
"""Every strategy, by name, in the order they are run."""

StateKey = tuple[str, Underlying]


@dataclass(frozen=True, slots=True)
class Decisions:
    """The outcome of one minute: signals, the regime of each underlying, and the states to keep."""

    signals: tuple[Signal, ...]
    regimes: Mapping[Underlying, RegimeReading]
    states: Mapping[StateKey, StrategyState]


def _resolve_params(overrides: Mapping[str, StrategyParams] | None) -> dict[str, StrategyParams]:
    resolved: dict[str, StrategyParams] = {name: s.default_params for name, s in STRATEGIES.items()}
    for name, params in (overrides or {}).items():
        strategy = STRATEGIES.get(name)
        if strategy is None:
            raise DomainError(f"params[{name!r}]: no such strategy; known: {', '.join(STRATEGIES)}")
        expected = type(strategy.default_params)
        if not isinstance(params, expected):
            raise DomainError(f"params[{name!r}] must be {expected.__name__}, got {type(params).__name__}")
        resolved[name] = params
    return resolved


def run_strategies(
    history: MarketHistory,
    states: Mapping[StateKey, StrategyState],
    params: Mapping[str, StrategyParams] | None = None,
    regime_params: RegimeParams = DEFAULT_REGIME_PARAMS,
    enabled: Collection[str] | None = None,
) -> Decisions:
    """Every allowed strategy on every fresh tradable underlying at `history.ts_ns`."""
    resolved = _resolve_params(params)
    unknown = set(enabled or ()) - set(STRATEGIES)
    if unknown:
        raise DomainError(
            f"enabled names unknown strategies {sorted(unknown)}; known: {', '.join(STRATEGIES)}"
        )
    session_date = history.session.session_date
    minutes_to_close = (history.session_close_ns - history.ts_ns) / NS_PER_MINUTE
    signals: list[Signal] = []
    regimes: dict[Underlying, RegimeReading] = {}
    kept = {key: state for key, state in states.items() if state.session_date == session_date}
    for underlying in Underlying.tradable():
        rows = history.features.get(underlying)
        series = history.bars.get(underlying.value)
        if rows is None or series is None or not len(series):
            continue
        if history.ts_ns - int(series.close_ts_ns[-1]) >= series.interval_s * NS_PER_SECOND:
            continue
        row = rows[-1]
        reading = classify(row, regime_params)
        regimes[underlying] = reading
        snapshot = Snapshot(underlying, history.ts_ns, row, float(series.close[-1]), reading)
        for name, strategy in STRATEGIES.items():
            strategy_params = resolved[name]
            if enabled is not None and name not in enabled:
                continue
            if (
                reading.regime not in strategy.regimes
                or minutes_to_close < strategy_params.min_minutes_to_close
            ):
                continue
            state = kept.get((name, underlying)) or StrategyState(session_date)
            if not state.ready(history.ts_ns, strategy_params):
                continue
            for signal in strategy.decide(snapshot, history, state, strategy_params):
                state = state.after(signal)
                signals.append(signal)
            kept[(name, underlying)] = state
    return Decisions(tuple(signals), regimes, kept)
