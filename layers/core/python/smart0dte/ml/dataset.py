"""Training examples for the direction model: one per closed bar of each underlying's session.

The example of bar i pairs the feature row of bar i (`features.day_features`, causal: it reads only
what was known at bar i's close) with a label from later bars: whether the underlying's close
`horizon_minutes` after bar i's close is above bar i's close. Labels exist only for training and
evaluation; inference sees feature rows alone.

- Rows whose horizon runs past the session's close, or whose horizon bar is missing (a gap in the
  data), have no label and are dropped: a label never crosses into the next session.
- Rows whose close does not move over the horizon (a tie on the price grid) say nothing about
  direction and are dropped too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt

from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.chain_analytics import PricingInputs
from smart0dte.domain.features import (
    DEFAULT_FEATURE_PARAMS,
    DEFAULT_PRICING_INPUTS,
    FEATURE_NAMES,
    N_FEATURES,
    Feature,
    FeatureParams,
    FeatureSource,
    day_features,
)
from smart0dte.domain.marketdata import F64, I64, NS_PER_MINUTE, BarSeries, MarketDay, datetime_to_ns
from smart0dte.domain.models import DomainError, Underlying
from smart0dte.domain.regime import DEFAULT_REGIME_PARAMS, Regime, RegimeParams, classify

DEFAULT_HORIZON_MINUTES = 15
MAX_HORIZON_MINUTES = 120
LEVEL_FEATURES = (Feature.VWAP, Feature.OR_HIGH, Feature.OR_LOW, Feature.ATR_14)
"""Features in price units: they tell SPY from IWM and one year from the next, not direction.
Their scale-free forms (VWAP_DIST_BPS, OR_POSITION, ATR_14_BPS, ...) stay in the model."""
MODEL_FEATURES: tuple[str, ...] = tuple(
    name for feature, name in zip(Feature, FEATURE_NAMES, strict=True) if feature not in LEVEL_FEATURES
)
"""The feature columns the model reads, by name (artifacts store the names, not the indices)."""
UNDERLYINGS: tuple[Underlying, ...] = Underlying.tradable()
REGIMES: tuple[Regime, ...] = tuple(Regime)

I8 = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class SessionData:
    """One session as the dataset needs it: the day, its times and the prior session's closes."""

    day: MarketDay
    session: SessionTimes
    prior_close: Mapping[str, float]
    pricing: PricingInputs = field(default=DEFAULT_PRICING_INPUTS)

    def __post_init__(self) -> None:
        if self.session.session_date != self.day.session_date:
            raise DomainError(
                f"SessionData.session is {self.session.session_date}, the market day {self.day.session_date}"
            )


def check_horizon(horizon_minutes: int) -> int:
    if not 1 <= horizon_minutes <= MAX_HORIZON_MINUTES:
        raise DomainError(f"horizon_minutes={horizon_minutes} must be within 1..{MAX_HORIZON_MINUTES}")
    return horizon_minutes


def direction_labels(
    bars: BarSeries, session_close_ns: int, horizon_minutes: int
) -> tuple[npt.NDArray[np.intp], F64]:
    """The bars that have a label, and their forward return in bps over the horizon.

    Bar i's label compares the close of the bar closing exactly `horizon_minutes` after bar i
    closes, within the session, with bar i's close.
    """
    check_horizon(horizon_minutes)
    close_ts = bars.close_ts_ns
    count = close_ts.shape[0]
    if count == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    target_ts = close_ts + horizon_minutes * NS_PER_MINUTE
    later = np.searchsorted(close_ts, target_ts)
    candidates = np.flatnonzero((later < count) & (target_ts <= session_close_ns))
    rows = candidates[close_ts[later[candidates]] == target_ts[candidates]]
    forward_bps = (bars.close[later[rows]] / bars.close[rows] - 1.0) * 1e4
    moved = forward_bps != 0.0
    return rows[moved], forward_bps[moved]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Examples in rows: the full feature row (`features.Feature` columns), the label and where it
    came from. `session[k]` indexes `session_dates`, which are in time order."""

    features: F64
    label_up: BoolArray
    forward_return_bps: F64
    ts_ns: I64
    session: I64
    underlying: I8
    """Index into UNDERLYINGS."""
    regime: I8
    """Index into REGIMES: the regime `regime.classify` reads from the example's feature row."""
    session_dates: tuple[date, ...]
    horizon_minutes: int

    def __post_init__(self) -> None:
        n = self.features.shape[0]
        if self.features.ndim != 2 or self.features.shape[1] != N_FEATURES:
            raise DomainError(f"Dataset.features has shape {self.features.shape}; expected (n, {N_FEATURES})")
        for name in ("label_up", "forward_return_bps", "ts_ns", "session", "underlying", "regime"):
            if getattr(self, name).shape != (n,):
                raise DomainError(f"Dataset.{name} has shape {getattr(self, name).shape}; expected ({n},)")
        if list(self.session_dates) != sorted(set(self.session_dates)):
            raise DomainError("Dataset.session_dates must be distinct and in time order")

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def up_rate(self) -> float:
        return float(self.label_up.mean()) if len(self) else float("nan")

    def sessions(self, first: int, stop: int) -> Dataset:
        """The examples of sessions first..stop-1 (indexes into session_dates)."""
        return self.take((self.session >= first) & (self.session < stop))

    def take(self, mask: BoolArray) -> Dataset:
        return Dataset(
            self.features[mask],
            self.label_up[mask],
            self.forward_return_bps[mask],
            self.ts_ns[mask],
            self.session[mask],
            self.underlying[mask],
            self.regime[mask],
            self.session_dates,
            self.horizon_minutes,
        )


def session_examples(
    data: SessionData,
    underlying: Underlying,
    horizon_minutes: int = DEFAULT_HORIZON_MINUTES,
    feature_params: FeatureParams = DEFAULT_FEATURE_PARAMS,
) -> tuple[F64, F64, I64, npt.NDArray[np.intp]]:
    """One underlying's labelled examples of a session: feature rows, forward returns in bps, the
    rows' close times and their bar indexes."""
    source = FeatureSource.from_day(data.day, underlying, data.session, data.prior_close, data.pricing)
    rows, forward_bps = direction_labels(source.bars, datetime_to_ns(data.session.close_et), horizon_minutes)
    features = day_features(source, feature_params)[rows]
    return features, forward_bps, source.bars.close_ts_ns[rows], rows


def build_dataset(
    sessions: Iterable[SessionData],
    horizon_minutes: int = DEFAULT_HORIZON_MINUTES,
    feature_params: FeatureParams = DEFAULT_FEATURE_PARAMS,
    regime_params: RegimeParams = DEFAULT_REGIME_PARAMS,
) -> Dataset:
    """Examples of every tradable underlying of every session (read one at a time, so a long
    range of days never sits in memory at once). Sessions must come in time order."""
    check_horizon(horizon_minutes)
    parts: list[tuple[F64, F64, I64, int, int]] = []
    dates: list[date] = []
    for data in sessions:
        if dates and data.day.session_date <= dates[-1]:
            raise DomainError(
                f"sessions must be in time order: {data.day.session_date} came after {dates[-1]}"
            )
        dates.append(data.day.session_date)
        for code, underlying in enumerate(UNDERLYINGS):
            if underlying.value not in data.day.bars:
                continue
            features, forward_bps, ts_ns, _ = session_examples(
                data, underlying, horizon_minutes, feature_params
            )
            parts.append((features, forward_bps, ts_ns, len(dates) - 1, code))
    if not parts:
        return _empty(tuple(dates), horizon_minutes)
    features = np.concatenate([p[0] for p in parts])
    forward_bps = np.concatenate([p[1] for p in parts])
    regime_code = {r: i for i, r in enumerate(REGIMES)}
    return Dataset(
        features=features,
        label_up=forward_bps > 0.0,
        forward_return_bps=forward_bps,
        ts_ns=np.concatenate([p[2] for p in parts]).astype(np.int64),
        session=np.concatenate([np.full(p[0].shape[0], p[3], dtype=np.int64) for p in parts]),
        underlying=np.concatenate([np.full(p[0].shape[0], p[4], dtype=np.int8) for p in parts]),
        regime=np.array(
            [regime_code[classify(row, regime_params).regime] for row in features], dtype=np.int8
        ),
        session_dates=tuple(dates),
        horizon_minutes=horizon_minutes,
    )


def _empty(dates: tuple[date, ...], horizon_minutes: int) -> Dataset:
    return Dataset(
        np.zeros((0, N_FEATURES)),
        np.zeros(0, dtype=np.bool_),
        np.zeros(0),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int8),
        np.zeros(0, dtype=np.int8),
        dates,
        horizon_minutes,
    )
