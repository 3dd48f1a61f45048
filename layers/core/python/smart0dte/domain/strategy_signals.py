"""The rule strategies, and the direction model when one is promoted, as the session engine's
signal source.

Features are computed once per day (`features.day_features` is causal: row i uses bars up to i,
which a property test holds); each minute the strategies see only the rows, bars and chain
samples known at that minute. With a `probability_fn` (the promoted model), each signal's
confidence becomes the `ensemble.combine` of its rule confidence and the model's probability of an
up move, read from the same feature row the rules used; the rationale ends with the numbers. Without
one, confidences are the rules' own and the rationale ends with "no promoted model: rules only".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from datetime import datetime

from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.chain_analytics import PricingInputs
from smart0dte.domain.ensemble import DEFAULT_MODEL_WEIGHT, RULES_ONLY, check_weight, combine
from smart0dte.domain.features import FeatureSource, day_features
from smart0dte.domain.marketdata import F64, MarketDay, datetime_to_ns
from smart0dte.domain.models import Signal, Underlying
from smart0dte.domain.regime import RegimeReading
from smart0dte.domain.strategies import StateKey, run_strategies
from smart0dte.domain.strategies.base import MarketHistory, StrategyParams, StrategyState

ProbabilityFn = Callable[[Underlying, F64], float]
"""The model's probability that `underlying` closes higher over its horizon, from one feature row."""

_RATIONALE_MAX = 2000
"""`Signal.rationale`'s length limit."""


def _with_note(rationale: str, note: str) -> str:
    """`rationale; note`, shortening the rule part (never the note) to the rationale's limit."""
    text = f"{rationale}; {note}"
    if len(text) <= _RATIONALE_MAX:
        return text
    keep = _RATIONALE_MAX - len(note) - 5
    return f"{rationale[:keep]}...; {note}"


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
        probability_fn: ProbabilityFn | None = None,
        model_weight: float = DEFAULT_MODEL_WEIGHT,
    ) -> None:
        self.session = session
        self.prior_close = dict(prior_close)
        self.pricing = pricing
        self.params = params
        self.enabled = enabled
        self.probability_fn = probability_fn
        self.model_weight = check_weight(model_weight)
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
        probabilities: dict[Underlying, float | str] = {}
        return [self._with_model(s, history, probabilities) for s in decisions.signals]

    def _probability(self, underlying: Underlying, history: MarketHistory) -> float | str:
        """The model's p_up on the underlying's latest row, or why there is none.

        A model failure must not stop the rules from trading: it is named in the rationale instead.
        """
        assert self.probability_fn is not None
        try:
            p_up = float(self.probability_fn(underlying, history.features[underlying][-1]))
        except Exception as exc:  # the model is an optional refinement of the rules
            return f"model failed ({type(exc).__name__}: {exc}): rules only"
        if not (math.isfinite(p_up) and 0.0 <= p_up <= 1.0):
            return f"model gave p_up={p_up}, outside 0..1: rules only"
        return p_up

    def _with_model(
        self, signal: Signal, history: MarketHistory, probabilities: dict[Underlying, float | str]
    ) -> Signal:
        if self.probability_fn is None:
            return signal.model_copy(update={"rationale": _with_note(signal.rationale, RULES_ONLY)})
        if signal.underlying not in probabilities:
            probabilities[signal.underlying] = self._probability(signal.underlying, history)
        p_up = probabilities[signal.underlying]
        if isinstance(p_up, str):
            return signal.model_copy(update={"rationale": _with_note(signal.rationale, p_up)})
        value, note = combine(signal.confidence, p_up, signal.direction, self.model_weight)
        return signal.model_copy(
            update={"confidence": value, "rationale": _with_note(signal.rationale, note)}
        )
