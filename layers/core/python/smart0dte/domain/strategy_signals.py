"""The rule strategies as the session engine's signal source.

Features are computed once per day (`features.day_features` is causal: row i uses bars up to i,
which a property test holds); each minute the strategies see only the rows, bars and chain
samples known at that minute.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.chain_analytics import PricingInputs
from smart0dte.domain.features import FeatureSource, day_features
from smart0dte.domain.marketdata import F64, MarketDay, datetime_to_ns
from smart0dte.domain.models import Signal, Underlying
from smart0dte.domain.regime import RegimeReading
from smart0dte.domain.strategies import StateKey, run_strategies
from smart0dte.domain.strategies.base import MarketHistory, StrategyParams, StrategyState


class StrategySignals:
    """Every enabled strategy, every minute, with per-day state kept between minutes."""

    def __init__(
        self,
        day: MarketDay,
        session: SessionTimes,
        prior_close: Mapping[str, float],
        pricing: PricingInputs,
        params: Mapping[str, StrategyParams] | None = None,
        enabled: Collection[str] | None = None,
    ) -> None:
        self.session = session
        self.prior_close = dict(prior_close)
        self.pricing = pricing
        self.params = params
        self.enabled = enabled
        self.features: dict[Underlying, F64] = {
            u: day_features(FeatureSource.from_day(day, u, session, prior_close, pricing))
            for u in Underlying.tradable()
            if u.value in day.bars
        }
        self.states: Mapping[StateKey, StrategyState] = {}
        self.regimes: Mapping[Underlying, RegimeReading] = {}

    def signals(self, known: MarketDay, now: datetime) -> list[Signal]:
        history = MarketHistory(
            ts_ns=datetime_to_ns(now),
            session=self.session,
            bars=known.bars,
            chains=known.chains,
            features={u: rows[: len(known.bars[u.value])] for u, rows in self.features.items()},
            prior_close=self.prior_close,
            pricing=self.pricing,
        )
        decisions = run_strategies(history, self.states, self.params, enabled=self.enabled)
        self.states = decisions.states
        self.regimes = decisions.regimes
        return list(decisions.signals)
