"""Walk-forward parameter optimization of the rule strategies: a report, never applied to trading.

For each strategy a small declared grid over a few of its parameters (`DEFAULT_GRIDS`, validated by
`search_grid`: every value within its Field's bounds, every combination a valid params object)
gives the candidates; candidate 0 is always the strategy's defaults. Each candidate runs through
the session engine over each session with that strategy alone enabled (the others off), from the
same starting capital every day, so a session's outcome depends on that session only.

Walk-forward (`walk_forward`), with `n` sessions in time order, windows anchored at the newest::

    fold k: in-sample [s, s + in_sample)  ->  out-of-sample [s + in_sample, s + in_sample + oos)

The folds' out-of-sample windows tile the newest sessions without overlap. In each fold the
parameters are chosen from the in-sample columns alone (`choose`) and then scored on the
out-of-sample sessions, which no choice has seen. The objective: the highest net P&L per session
in-sample among candidates with at least `min_trades` trades there, taken only when it beats the
defaults by more than `min_improvement_usd` per session; otherwise the defaults stay (they are
always eligible and win ties), so noise alone does not move the recommendation. The recommended
parameters are the choice on the newest in-sample window (it has no later sessions to be scored
on); the honest estimate of the procedure is the walk-forward out-of-sample result (each fold's
choice on its own out-of-sample sessions) next to the defaults on the same sessions.

No I/O, clock or randomness: the same sessions and grids give the same result.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from pydantic import Field, ValidationError, model_validator
from pydantic.dataclasses import dataclass as validated_dataclass

from smart0dte.domain.calendar import SessionTimes
from smart0dte.domain.chain_analytics import PricingInputs
from smart0dte.domain.controls import AutomationSettings
from smart0dte.domain.features import DEFAULT_PRICING_INPUTS
from smart0dte.domain.marketdata import F64, MarketDay
from smart0dte.domain.models import DomainError
from smart0dte.domain.session_engine import AccountCarry, EngineConfig, SessionEngine
from smart0dte.domain.strategies import STRATEGIES
from smart0dte.domain.strategies.base import StrategyParams
from smart0dte.domain.strategy_signals import StrategySignals

FORMAT = 1
"""Version of the `OptimizationResult.to_wire` layout."""
REPORT_ONLY = (
    "report only: the recommended parameters are not applied to trading; a person must review "
    "them and change the strategy's parameters by hand"
)
OBJECTIVE = (
    "highest in-sample net P&L per session among candidates with at least min_trades in-sample "
    "trades, taken only if it beats the defaults by more than min_improvement_usd per session; "
    "otherwise the defaults"
)
TIE_USD = 0.01
"""P&L per session within which two candidates tie (the earlier one, defaults first, is kept)."""
MAX_CANDIDATES = 12
"""Candidates (defaults included) per strategy: the cost is candidates x sessions engine runs."""
MAX_RUNS = 2400
"""Engine runs (all grids' candidates x max_sessions) one `optimize` call may plan: about 0.13-0.2 s
each, so at most ~8 minutes; the defaults plan 24 x 40 = 960 (measured 122-190 s)."""
STARTING_EQUITY_USD = Decimal("100000")

I64 = npt.NDArray[np.int64]
Value = float | int | str | bool

DEFAULT_GRIDS: Mapping[str, Mapping[str, tuple[Value, ...]]] = {
    "momentum_breakout": {"min_break_atr": (0.25, 0.5, 1.0), "min_move_30m_atr": (4.0, 6.0)},
    "mean_reversion": {"min_move_15m_atr": (4.0, 6.0, 8.0), "min_vwap_atr": (2.0, 3.0)},
    "gap_fill": {"min_gap_straddles": (1.0, 1.25, 1.5), "min_fill_fraction": (0.1, 0.2)},
    "vix_spike": {"min_jump_15m_pct": (7.0, 10.0, 14.0), "min_drop_bps": (10.0, 15.0)},
}
"""Per strategy, the parameters searched and their values (each includes the default): 6
candidates each, 24 engine runs per session for the four strategies."""


def default_engine_config() -> EngineConfig:
    """The engine configuration of a backtest: automation on, everything else at its defaults."""
    return EngineConfig(settings=AutomationSettings(master_switch=True))


# --- the grid -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchGrid:
    """A strategy's validated candidates; `candidates[0]` is its defaults."""

    strategy: str
    axes: tuple[tuple[str, tuple[Value, ...]], ...]
    candidates: tuple[StrategyParams, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.axes)

    def tuned(self, index: int) -> dict[str, Value]:
        """The searched parameters of candidate `index`, by name."""
        params = self.candidates[index]
        return {name: getattr(params, name) for name in self.names}


_BOUNDS: tuple[tuple[str, str], ...] = (
    ("ge", "is below its bound"),
    ("gt", "is not above its bound"),
    ("le", "is above its bound"),
    ("lt", "is not below its bound"),
)


def _breaks(kind: str, value: float, bound: float) -> bool:
    return {
        "ge": value < bound,
        "gt": value <= bound,
        "le": value > bound,
        "lt": value >= bound,
    }[kind]


def _bound_error(name: str, value: Value, metadata: Sequence[object]) -> str | None:
    """Why `value` breaks one of the Field bounds (pydantic's ge/gt/le/lt metadata), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # not a number: the params' own validation names the type error
    for constraint in metadata:
        for kind, broken in _BOUNDS:
            bound = getattr(constraint, kind, None)
            if isinstance(bound, int | float) and _breaks(kind, value, bound):
                return f"{name}={value} {broken} {kind}={bound}"
    return None


def _construct(defaults: StrategyParams, where: str, values: Mapping[str, Any]) -> StrategyParams:
    try:
        return dataclasses.replace(defaults, **values)
    except (ValidationError, ValueError, TypeError) as exc:
        detail = (
            "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in exc.errors())
            if isinstance(exc, ValidationError)
            else str(exc)
        )
        raise DomainError(f"{where} {dict(values)} is not a valid parameter set: {detail}") from None


def search_grid(strategy: str, axes: Mapping[str, Sequence[Value]]) -> SearchGrid:
    """The candidates of `strategy` over `axes` (name -> values), defaults first.

    Errors name the strategy, the field and, for an out-of-range value, the bound it breaks.
    """
    found = STRATEGIES.get(strategy)
    if found is None:
        raise DomainError(f"grid: strategy {strategy!r} is unknown; known: {', '.join(STRATEGIES)}")
    defaults: StrategyParams = found.default_params
    fields = type(defaults).__pydantic_fields__  # type: ignore[attr-defined]
    if not axes:
        raise DomainError(f"grid[{strategy!r}] names no parameter")
    checked: list[tuple[str, tuple[Value, ...]]] = []
    for name, values in axes.items():
        where = f"grid[{strategy!r}][{name!r}]"
        if name not in fields:
            raise DomainError(
                f"{where}: {type(defaults).__name__} has no such field; known: {', '.join(fields)}"
            )
        values = tuple(values)
        if not values:
            raise DomainError(f"{where} has no value")
        if len(set(values)) != len(values):
            raise DomainError(f"{where} repeats a value: {list(values)}")
        for value in values:
            broken = _bound_error(name, value, fields[name].metadata)
            if broken is not None:
                raise DomainError(f"{where}: {broken}")
            _construct(defaults, where, {name: value})
        checked.append((name, values))
    names = [name for name, _ in checked]
    default_values = tuple(getattr(defaults, name) for name in names)
    combos = [c for c in itertools.product(*(v for _, v in checked)) if c != default_values]
    if 1 + len(combos) > MAX_CANDIDATES:
        raise DomainError(
            f"grid[{strategy!r}] has {1 + len(combos)} candidates (defaults included); at most "
            f"{MAX_CANDIDATES} keep the optimization's cost bounded"
        )
    candidates = [defaults]
    for combo in combos:
        candidates.append(
            _construct(defaults, f"grid[{strategy!r}] combination", dict(zip(names, combo, strict=True)))
        )
    return SearchGrid(strategy, tuple(checked), tuple(candidates))


def default_grids() -> tuple[SearchGrid, ...]:
    """`DEFAULT_GRIDS`, validated, in `STRATEGIES` order."""
    return tuple(search_grid(name, DEFAULT_GRIDS[name]) for name in STRATEGIES if name in DEFAULT_GRIDS)


# --- evaluation -----------------------------------------------------------------------------


@validated_dataclass(frozen=True)
class WalkForwardSpec:
    """Window lengths in sessions and the eligibility rule of the objective."""

    in_sample_sessions: int = Field(default=20, ge=2, le=250)
    out_of_sample_sessions: int = Field(default=5, ge=1, le=60)
    """Also the step between folds: out-of-sample windows tile without overlap."""
    min_trades: int = Field(default=3, ge=0, le=1000)
    """In-sample trades a candidate other than the defaults needs to be chosen."""
    min_improvement_usd: float = Field(default=10.0, ge=0, le=10_000)
    """In-sample P&L per session by which a candidate must beat the defaults to replace them."""
    max_sessions: int = Field(default=40, ge=3, le=250)
    """The newest this many sessions are used: the cost is candidates x sessions engine runs."""

    @model_validator(mode="after")
    def _room_for_a_fold(self) -> Self:
        if self.max_sessions < self.needed:
            raise ValueError(
                f"max_sessions ({self.max_sessions}) must be >= in_sample_sessions + out_of_sample_sessions "
                f"({self.needed})"
            )
        return self

    @property
    def needed(self) -> int:
        """Sessions for one fold."""
        return self.in_sample_sessions + self.out_of_sample_sessions

    def to_wire(self) -> dict[str, object]:
        return {
            "in_sample_sessions": self.in_sample_sessions,
            "out_of_sample_sessions": self.out_of_sample_sessions,
            "step_sessions": self.out_of_sample_sessions,
            "min_trades": self.min_trades,
            "min_improvement_usd": self.min_improvement_usd,
            "max_sessions": self.max_sessions,
        }


DEFAULT_SPEC = WalkForwardSpec()


@dataclass(frozen=True, slots=True)
class SessionInput:
    """One session to evaluate: the day, its times and the prior session's closes."""

    day: MarketDay
    session: SessionTimes
    prior_close: Mapping[str, float]
    pricing: PricingInputs = field(default=DEFAULT_PRICING_INPUTS)


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Per candidate (rows) and session (columns, oldest first): P&L, trades and winning trades."""

    dates: tuple[date, ...]
    pnl_usd: F64
    trades: I64
    wins: I64

    def __post_init__(self) -> None:
        shape = self.pnl_usd.shape
        if (
            len(shape) != 2
            or shape[1] != len(self.dates)
            or self.trades.shape != shape
            or self.wins.shape != shape
        ):
            raise DomainError(
                f"Outcomes: pnl {shape}, trades {self.trades.shape}, wins {self.wins.shape} "
                f"and {len(self.dates)} dates do not agree"
            )
        if list(self.dates) != sorted(set(self.dates)):
            raise DomainError("Outcomes.dates must be strictly increasing")


def run_candidate(
    base: StrategySignals, strategy: str, params: StrategyParams, day: SessionInput, config: EngineConfig
) -> tuple[float, int, int]:
    """(P&L, trades, winning trades) of one session with `strategy` alone at `params`.

    `base` holds the day's feature rows (computed once per session); each run gets its own copy
    with fresh per-day strategy state.
    """
    signals = copy.copy(base)
    signals.params = {strategy: params}
    signals.enabled = {strategy}
    signals.states = {}
    signals.regimes = {}
    carry = AccountCarry(equity_usd=STARTING_EQUITY_USD, peak_equity_usd=STARTING_EQUITY_USD)
    result = SessionEngine(day.day, day.session, config, signals, carry).run()
    pnl = float(result.portfolio.equity_usd() - STARTING_EQUITY_USD)
    return pnl, len(result.trades), sum(1 for t in result.trades if t.pnl_usd > 0)


def evaluate(
    sessions: Iterable[SessionInput], grids: Sequence[SearchGrid], config: EngineConfig | None = None
) -> dict[str, Outcomes]:
    """Every candidate of every grid over every session, one session at a time (a day is held
    in memory only while its runs last)."""
    names = [g.strategy for g in grids]
    if len(set(names)) != len(names):
        raise DomainError(f"grids name a strategy more than once: {names}")
    config = config or default_engine_config()
    dates: list[date] = []
    columns: dict[str, list[tuple[list[float], list[int], list[int]]]] = {g.strategy: [] for g in grids}
    for day in sessions:
        dates.append(day.session.session_date)
        base = StrategySignals(day.day, day.session, day.prior_close, day.pricing)
        for grid in grids:
            runs = [run_candidate(base, grid.strategy, params, day, config) for params in grid.candidates]
            columns[grid.strategy].append(([r[0] for r in runs], [r[1] for r in runs], [r[2] for r in runs]))
    out: dict[str, Outcomes] = {}
    for grid in grids:
        cols = columns[grid.strategy]
        shape = (len(grid.candidates), len(cols))

        def matrix(k: int, dtype: type, cols: list[Any] = cols, shape: tuple[int, int] = shape) -> Any:
            return np.array([c[k] for c in cols], dtype=dtype).T.reshape(shape)

        out[grid.strategy] = Outcomes(
            tuple(dates), matrix(0, np.float64), matrix(1, np.int64), matrix(2, np.int64)
        )
    return out


# --- walk-forward ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metrics:
    sessions: int
    trades: int
    win_rate: float | None
    net_pnl_usd: float
    pnl_per_session_usd: float
    worst_session_usd: float

    @classmethod
    def of(cls, pnl: F64, trades: I64, wins: I64) -> Metrics:
        """Metrics of one candidate over some sessions (1-D arrays, one entry per session)."""
        n, total = int(pnl.size), int(trades.sum())
        net = float(pnl.sum())
        return cls(
            sessions=n,
            trades=total,
            win_rate=int(wins.sum()) / total if total else None,
            net_pnl_usd=round(net, 2),
            pnl_per_session_usd=round(net / n, 2) if n else 0.0,
            worst_session_usd=round(float(pnl.min()), 2) if n else 0.0,
        )

    def to_wire(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def choose(pnl_usd: F64, trades: I64, min_trades: int, min_improvement_usd: float = 0.0) -> int:
    """The candidate (row) the objective picks from these sessions' columns alone: the best eligible
    one by P&L per session (ties within `TIE_USD` to the earlier row), if it beats the defaults
    (row 0) by more than `min_improvement_usd` per session; else the defaults."""
    if pnl_usd.ndim != 2 or pnl_usd.shape[1] == 0:
        raise DomainError(
            f"choose needs candidates x sessions with at least one session, got {pnl_usd.shape}"
        )
    score = pnl_usd.sum(axis=1) / pnl_usd.shape[1]
    eligible = trades.sum(axis=1) >= min_trades
    best: int | None = None
    for i in range(1, score.size):
        if eligible[i] and (best is None or score[i] > score[best] + TIE_USD):
            best = i
    if best is not None and score[best] > score[0] + max(min_improvement_usd, TIE_USD):
        return best
    return 0


@dataclass(frozen=True, slots=True)
class Window:
    first: int
    stop: int
    start: date
    end: date

    def to_wire(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "sessions": self.stop - self.first,
        }


@dataclass(frozen=True, slots=True)
class Fold:
    in_sample_window: Window
    out_of_sample_window: Window
    chosen: int
    """Index into the grid's candidates."""
    in_sample: Metrics
    out_of_sample: Metrics
    default_out_of_sample: Metrics


def _window(dates: Sequence[date], first: int, stop: int) -> Window:
    return Window(first, stop, dates[first], dates[stop - 1])


def _metrics(outcomes: Outcomes, row: int, columns: slice | I64) -> Metrics:
    return Metrics.of(
        outcomes.pnl_usd[row, columns], outcomes.trades[row, columns], outcomes.wins[row, columns]
    )


def walk_forward(outcomes: Outcomes, spec: WalkForwardSpec) -> list[Fold]:
    """Folds anchored at the newest session; each choice reads only its in-sample columns."""
    n = len(outcomes.dates)
    if n < spec.needed:
        raise DomainError(f"walk-forward needs {spec.needed} sessions, got {n}")
    starts = list(range(n - spec.needed, -1, -spec.out_of_sample_sessions))[::-1]
    folds: list[Fold] = []
    for s in starts:
        ins = slice(s, s + spec.in_sample_sessions)
        oos = slice(ins.stop, ins.stop + spec.out_of_sample_sessions)
        chosen = choose(
            outcomes.pnl_usd[:, ins], outcomes.trades[:, ins], spec.min_trades, spec.min_improvement_usd
        )
        folds.append(
            Fold(
                in_sample_window=_window(outcomes.dates, ins.start, ins.stop),
                out_of_sample_window=_window(outcomes.dates, oos.start, oos.stop),
                chosen=chosen,
                in_sample=_metrics(outcomes, chosen, ins),
                out_of_sample=_metrics(outcomes, chosen, oos),
                default_out_of_sample=_metrics(outcomes, 0, oos),
            )
        )
    return folds


@dataclass(frozen=True, slots=True)
class OptimizationResult:
    """One strategy's walk-forward report (see the module doc)."""

    grid: SearchGrid
    spec: WalkForwardSpec
    dates: tuple[date, ...]
    folds: tuple[Fold, ...]
    recommended: int
    """The choice on the newest in-sample window (index into the candidates)."""
    latest_window: Window
    latest_in_sample: Metrics
    default_latest_in_sample: Metrics
    out_of_sample: Metrics
    """Each fold's choice on its own out-of-sample sessions, pooled."""
    default_out_of_sample: Metrics

    @property
    def beats_defaults(self) -> bool:
        """The walk-forward's out-of-sample P&L is above the defaults' on the same sessions."""
        return self.out_of_sample.net_pnl_usd > self.default_out_of_sample.net_pnl_usd + TIE_USD

    def to_wire(self) -> dict[str, object]:
        grid = self.grid
        return {
            "format": FORMAT,
            "strategy": grid.strategy,
            "applied": False,
            "note": REPORT_ONLY,
            "objective": OBJECTIVE,
            "grid": {name: list(values) for name, values in grid.axes},
            "candidates": len(grid.candidates),
            "walk_forward": self.spec.to_wire(),
            "sessions": _window(self.dates, 0, len(self.dates)).to_wire(),
            "default_params": grid.tuned(0),
            "summary": {
                "recommended_params": grid.tuned(self.recommended),
                "recommended_is_default": self.recommended == 0,
                "latest_window": self.latest_window.to_wire(),
                "latest_in_sample": self.latest_in_sample.to_wire(),
                "default_latest_in_sample": self.default_latest_in_sample.to_wire(),
                "out_of_sample": self.out_of_sample.to_wire(),
                "default_out_of_sample": self.default_out_of_sample.to_wire(),
                "beats_defaults": self.beats_defaults,
            },
            "folds": [
                {
                    "in_sample_window": f.in_sample_window.to_wire(),
                    "out_of_sample_window": f.out_of_sample_window.to_wire(),
                    "chosen_params": grid.tuned(f.chosen),
                    "chosen_is_default": f.chosen == 0,
                    "in_sample": f.in_sample.to_wire(),
                    "out_of_sample": f.out_of_sample.to_wire(),
                    "default_out_of_sample": f.default_out_of_sample.to_wire(),
                }
                for f in self.folds
            ],
        }


def summarize(grid: SearchGrid, outcomes: Outcomes, spec: WalkForwardSpec) -> OptimizationResult:
    """The walk-forward report of one strategy from its outcomes."""
    if outcomes.pnl_usd.shape[0] != len(grid.candidates):
        raise DomainError(
            f"{grid.strategy}: outcomes have {outcomes.pnl_usd.shape[0]} candidates, "
            f"the grid {len(grid.candidates)}"
        )
    folds = walk_forward(outcomes, spec)
    n = len(outcomes.dates)
    latest = slice(n - spec.in_sample_sessions, n)
    recommended = choose(
        outcomes.pnl_usd[:, latest], outcomes.trades[:, latest], spec.min_trades, spec.min_improvement_usd
    )
    oos_columns = np.concatenate(
        [np.arange(f.out_of_sample_window.first, f.out_of_sample_window.stop) for f in folds]
    )
    oos_rows = np.concatenate(
        [np.full(f.out_of_sample_window.stop - f.out_of_sample_window.first, f.chosen) for f in folds]
    )
    walked = Metrics.of(
        outcomes.pnl_usd[oos_rows, oos_columns],
        outcomes.trades[oos_rows, oos_columns],
        outcomes.wins[oos_rows, oos_columns],
    )
    return OptimizationResult(
        grid=grid,
        spec=spec,
        dates=outcomes.dates,
        folds=tuple(folds),
        recommended=recommended,
        latest_window=_window(outcomes.dates, latest.start, latest.stop),
        latest_in_sample=_metrics(outcomes, recommended, latest),
        default_latest_in_sample=_metrics(outcomes, 0, latest),
        out_of_sample=walked,
        default_out_of_sample=_metrics(outcomes, 0, oos_columns),
    )


def optimize(
    sessions: Iterable[SessionInput],
    grids: Sequence[SearchGrid] | None = None,
    spec: WalkForwardSpec = DEFAULT_SPEC,
    config: EngineConfig | None = None,
) -> list[OptimizationResult]:
    """Evaluate every grid over `sessions` (oldest first; at most `spec.max_sessions` of them, at
    least `spec.needed`) and walk forward each strategy."""
    chosen_grids = tuple(grids) if grids is not None else default_grids()
    planned = sum(len(g.candidates) for g in chosen_grids) * spec.max_sessions
    if planned > MAX_RUNS:
        raise DomainError(
            f"{sum(len(g.candidates) for g in chosen_grids)} candidates x max_sessions={spec.max_sessions} "
            f"= {planned} engine runs; at most {MAX_RUNS}"
        )

    def bounded() -> Iterator[SessionInput]:
        for count, day in enumerate(sessions, start=1):
            if count > spec.max_sessions:
                raise DomainError(f"more than max_sessions={spec.max_sessions} sessions given")
            yield day

    outcomes = evaluate(bounded(), chosen_grids, config)
    return [summarize(g, outcomes[g.strategy], spec) for g in chosen_grids]
