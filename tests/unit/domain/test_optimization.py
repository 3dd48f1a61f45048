"""Walk-forward parameter optimization: grids are validated, choices never see their out-of-sample
sessions, and the same sessions give the same report."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta

import numpy as np
import pytest

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.models import DomainError
from smart0dte.domain.optimization import (
    DEFAULT_GRIDS,
    MAX_CANDIDATES,
    REPORT_ONLY,
    Outcomes,
    SessionInput,
    WalkForwardSpec,
    choose,
    default_engine_config,
    default_grids,
    evaluate,
    optimize,
    run_candidate,
    search_grid,
    summarize,
    walk_forward,
)
from smart0dte.domain.session_engine import AccountCarry, SessionEngine
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.domain.strategies import STRATEGIES
from smart0dte.domain.strategy_signals import StrategySignals

# --- grids ------------------------------------------------------------------------------------


def test_default_grids_are_valid_small_and_start_from_the_defaults() -> None:
    grids = default_grids()
    assert [g.strategy for g in grids] == list(STRATEGIES)
    for grid in grids:
        defaults = STRATEGIES[grid.strategy].default_params
        assert grid.candidates[0] == defaults
        assert 2 <= len(grid.candidates) <= MAX_CANDIDATES
        assert len(set(map(repr, grid.candidates))) == len(grid.candidates)
        for name, values in DEFAULT_GRIDS[grid.strategy].items():
            assert getattr(defaults, name) in values  # the defaults are one of the grid's points


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        (
            {"min_break_atr": (-1.0, 0.5)},
            r"grid\['momentum_breakout'\]\['min_break_atr'\]: min_break_atr=-1.0 is below its bound ge=0",
        ),
        (
            {"min_volume_ratio": (1.5, 25.0)},
            r"\['min_volume_ratio'\]: min_volume_ratio=25.0 is above its bound le=20",
        ),
        ({"full_break_atr": (0.0,)}, r"\['full_break_atr'\]: full_break_atr=0.0 is not above its bound gt=0"),
        ({"target_delta": (0.95,)}, r"\['target_delta'\]: target_delta=0.95 is not below its bound lt=0.95"),
        (
            {"min_brake_atr": (0.5,)},
            r"\['min_brake_atr'\]: MomentumBreakoutParams has no such field; known: ",
        ),
        ({"min_break_atr": ()}, r"\['min_break_atr'\] has no value"),
        ({"min_break_atr": (0.5, 0.5)}, r"\['min_break_atr'\] repeats a value"),
        (
            {"level": ("opening_range", "daily")},
            r"\['level'\] {'level': 'daily'} is not a valid parameter set",
        ),
        # within its own bounds, but not below full_break_atr (2.0): the params' ordering rule says so
        ({"min_break_atr": (0.5, 3.0)}, r"min_break_atr \(3.0\) < full_break_atr \(2.0\)"),
        (
            {"min_break_atr": (0.1, 0.2, 0.3, 0.5), "min_volume_ratio": (1.1, 1.2, 1.5, 1.8)},
            rf"16 candidates \(defaults included\); at most {MAX_CANDIDATES}",
        ),
        ({}, r"names no parameter"),
    ],
)
def test_grid_errors_name_the_field_and_the_bound(axes: dict[str, tuple[object, ...]], message: str) -> None:
    with pytest.raises(DomainError, match=message):
        search_grid("momentum_breakout", axes)  # type: ignore[arg-type]


def test_grid_of_an_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(DomainError, match=r"strategy 'orb' is unknown; known: momentum_breakout"):
        search_grid("orb", {"min_break_atr": (0.5,)})


def test_grid_candidates_cover_the_product_once_with_the_defaults_first() -> None:
    grid = search_grid("gap_fill", {"min_gap_straddles": (1.0, 1.25), "min_fill_fraction": (0.1, 0.2)})
    assert [grid.tuned(i) for i in range(len(grid.candidates))] == [
        {"min_gap_straddles": 1.25, "min_fill_fraction": 0.2},
        {"min_gap_straddles": 1.0, "min_fill_fraction": 0.1},
        {"min_gap_straddles": 1.0, "min_fill_fraction": 0.2},
        {"min_gap_straddles": 1.25, "min_fill_fraction": 0.1},
    ]


def test_spec_bounds_are_validated() -> None:
    with pytest.raises(ValueError, match="in_sample_sessions"):
        WalkForwardSpec(in_sample_sessions=1)
    assert WalkForwardSpec(in_sample_sessions=4, out_of_sample_sessions=2).needed == 6
    with pytest.raises(
        ValueError, match=r"max_sessions \(5\) must be >= in_sample_sessions \+ out_of_sample"
    ):
        WalkForwardSpec(in_sample_sessions=4, out_of_sample_sessions=2, max_sessions=5)


# --- choosing and walking forward -------------------------------------------------------------


def test_choose_needs_enough_trades_and_a_clear_improvement_over_the_defaults() -> None:
    pnl = np.array([[10.0, 10.0], [10.0, 10.0], [30.0, 30.0], [50.0, 50.0]])
    trades = np.array([[1, 1], [5, 5], [2, 2], [1, 1]])  # in-sample totals 2, 10, 4, 2
    assert choose(pnl, trades, min_trades=5) == 0  # only 1 is eligible and it merely ties the defaults
    assert choose(pnl, trades, min_trades=3) == 2  # 3 is best but trades too little
    assert choose(pnl, trades, min_trades=0) == 3
    assert choose(pnl, trades, min_trades=0, min_improvement_usd=39.0) == 3
    assert choose(pnl, trades, min_trades=0, min_improvement_usd=40.0) == 0  # 50 - 10 is not more than 40
    near_tie = np.array([[10.0, 10.0], [10.004, 10.004]])
    assert choose(near_tie, np.ones((2, 2), dtype=np.int64), min_trades=0) == 0
    equal_others = np.array([[0.0], [20.0], [20.0]])
    assert choose(equal_others, np.ones((3, 1), dtype=np.int64), min_trades=0) == 1  # the earlier of a tie
    losing_defaults = np.array([[-40.0, -40.0], [-10.0, -20.0]])
    assert choose(losing_defaults, np.array([[4, 4], [0, 3]]), min_trades=3, min_improvement_usd=10) == 1


def _dates(n: int) -> tuple[date, ...]:
    return tuple(date(2025, 1, 1) + timedelta(days=i) for i in range(n))


def _random_outcomes(rng: np.random.Generator, candidates: int, n: int) -> Outcomes:
    trades = rng.integers(0, 4, size=(candidates, n))
    wins = np.minimum(trades, rng.integers(0, 3, size=(candidates, n)))
    pnl = np.where(trades > 0, rng.normal(0, 300, size=(candidates, n)), 0.0)
    return Outcomes(_dates(n), pnl.astype(np.float64), trades.astype(np.int64), wins.astype(np.int64))


def test_folds_tile_the_newest_sessions_and_never_overlap_their_own_in_sample() -> None:
    outcomes = _random_outcomes(np.random.default_rng(0), 6, 13)
    folds = walk_forward(
        outcomes, WalkForwardSpec(in_sample_sessions=4, out_of_sample_sessions=3, min_trades=0)
    )
    windows = [
        (
            (f.in_sample_window.first, f.in_sample_window.stop),
            (f.out_of_sample_window.first, f.out_of_sample_window.stop),
        )
        for f in folds
    ]
    assert windows == [((0, 4), (4, 7)), ((3, 7), (7, 10)), ((6, 10), (10, 13))]
    assert folds[-1].out_of_sample_window.end == outcomes.dates[-1]
    with pytest.raises(DomainError, match="walk-forward needs 8 sessions, got 7"):
        walk_forward(
            _random_outcomes(np.random.default_rng(0), 6, 7),
            WalkForwardSpec(in_sample_sessions=5, out_of_sample_sessions=3),
        )


@pytest.mark.parametrize("seed", range(25))
def test_a_choice_is_the_same_whatever_its_out_of_sample_and_later_sessions_hold(seed: int) -> None:
    """Rewrite every session from a fold's out-of-sample window on so that another candidate wins
    there by far: the fold's choice must not move. A walk-forward that chose on in-sample plus
    out-of-sample (or any later) sessions would follow the rewrite."""
    rng = np.random.default_rng(seed)
    candidates, n = int(rng.integers(2, 8)), int(rng.integers(8, 30))
    spec = WalkForwardSpec(
        in_sample_sessions=int(rng.integers(2, 6)),
        out_of_sample_sessions=int(rng.integers(1, 4)),
        min_trades=2,
        min_improvement_usd=float(rng.choice([0.0, 50.0])),
    )
    if n < spec.needed:
        n = spec.needed
    outcomes = _random_outcomes(rng, candidates, n)
    folds = walk_forward(outcomes, spec)
    for fold in folds:
        cut = fold.out_of_sample_window.first
        other = (fold.chosen + 1) % candidates
        pnl, trades = outcomes.pnl_usd.copy(), outcomes.trades.copy()
        pnl[:, cut:] = -1_000.0
        pnl[other, cut:] = 1_000_000.0
        trades[:, cut:] = 50
        rewritten = Outcomes(outcomes.dates, pnl, trades, outcomes.wins)
        again = {f.in_sample_window.first: f.chosen for f in walk_forward(rewritten, spec)}
        assert again[fold.in_sample_window.first] == fold.chosen
        # and the choice is exactly the objective on the in-sample columns
        ins = slice(fold.in_sample_window.first, fold.in_sample_window.stop)
        assert fold.chosen == choose(
            outcomes.pnl_usd[:, ins], outcomes.trades[:, ins], spec.min_trades, spec.min_improvement_usd
        )


def test_summary_pools_each_folds_choice_on_its_own_out_of_sample_sessions() -> None:
    grid = search_grid("momentum_breakout", {"min_break_atr": (0.25, 0.5)})  # defaults 0.5 first
    # candidate 1 wins sessions 0..3, loses 4..5; the defaults are flat
    pnl = np.array([[0.0] * 6, [100.0, 100.0, 100.0, 100.0, -500.0, -500.0]])
    trades = np.array([[0] * 6, [1] * 6])
    outcomes = Outcomes(_dates(6), pnl, trades, (pnl > 0).astype(np.int64))
    spec = WalkForwardSpec(in_sample_sessions=2, out_of_sample_sessions=2, min_trades=1)
    result = summarize(grid, outcomes, spec)
    assert [(f.in_sample_window.first, f.chosen) for f in result.folds] == [(0, 1), (2, 1)]
    assert result.out_of_sample.net_pnl_usd == 100 + 100 - 500 - 500
    assert result.default_out_of_sample.net_pnl_usd == 0.0
    assert result.beats_defaults is False
    assert result.recommended == 0  # the newest window (sessions 4..5) loses: keep the defaults
    wire = result.to_wire()
    assert wire["applied"] is False and wire["note"] == REPORT_ONLY
    assert wire["summary"]["recommended_params"] == {"min_break_atr": 0.5}  # type: ignore[index]
    assert wire["folds"][0]["chosen_params"] == {"min_break_atr": 0.25}  # type: ignore[index]
    assert wire["folds"][1]["out_of_sample"]["net_pnl_usd"] == -1000.0  # type: ignore[index]
    json.dumps(wire)  # JSON-ready


def test_the_planned_cost_is_bounded_before_anything_runs() -> None:
    spec = WalkForwardSpec(max_sessions=101)
    with pytest.raises(
        DomainError, match=r"24 candidates x max_sessions=101 = 2424 engine runs; at most 2400"
    ):
        optimize(iter(()), default_grids(), spec)
    twice = [search_grid("gap_fill", {"min_fill_fraction": (0.1, 0.2)})] * 2
    with pytest.raises(DomainError, match="grids name a strategy more than once"):
        optimize(iter(()), twice, WalkForwardSpec(in_sample_sessions=2, out_of_sample_sessions=1))


# --- through the engine -------------------------------------------------------------------------


def _sessions(scenario: Scenario, n: int) -> list[SessionInput]:
    calendar = MarketCalendar()
    dates = calendar.sessions_between(date(2025, 3, 10), date(2025, 3, 31))[:n]
    out = []
    for simulated in MarketSimulator().days(dates, seed=5, scenario=scenario):
        session = calendar.session(simulated.market_day.session_date)
        assert session is not None
        out.append(SessionInput(simulated.market_day, session, simulated.prior_close))
    return out


@pytest.fixture(scope="module")
def trend_days() -> list[SessionInput]:
    return _sessions(Scenario.TREND_UP, 3)


def test_a_candidate_runs_its_strategy_alone_as_a_fresh_signal_source_would(
    trend_days: list[SessionInput],
) -> None:
    day = trend_days[0]
    config = default_engine_config()
    params = dataclasses.replace(STRATEGIES["momentum_breakout"].default_params, min_break_atr=0.25)
    base = StrategySignals(day.day, day.session, day.prior_close, day.pricing)
    copied = run_candidate(base, "momentum_breakout", params, day, config)
    fresh_source = StrategySignals(
        day.day,
        day.session,
        day.prior_close,
        day.pricing,
        params={"momentum_breakout": params},
        enabled={"momentum_breakout"},
    )
    carry = AccountCarry(equity_usd=100_000, peak_equity_usd=100_000)  # type: ignore[arg-type]
    fresh = SessionEngine(day.day, day.session, config, fresh_source, carry).run()
    assert copied[1] == len(fresh.trades)
    assert all(t.strategy == "momentum_breakout" for t in fresh.trades)
    assert copied[0] == pytest.approx(float(sum(t.pnl_usd for t in fresh.trades)), abs=0.01)
    assert base.states == {}  # the shared source was not advanced by the run


def test_the_same_sessions_give_the_same_report(trend_days: list[SessionInput]) -> None:
    grids = [search_grid("momentum_breakout", {"min_break_atr": (0.25, 0.5)})]
    spec = WalkForwardSpec(in_sample_sessions=2, out_of_sample_sessions=1, min_trades=0, max_sessions=3)
    first = [r.to_wire() for r in optimize(iter(trend_days), grids, spec)]
    second = [r.to_wire() for r in optimize(iter(trend_days), grids, spec)]
    assert first == second
    (wire,) = first
    assert wire["strategy"] == "momentum_breakout" and wire["candidates"] == 2
    assert wire["sessions"] == {"start": "2025-03-10", "end": "2025-03-12", "sessions": 3}
    assert len(wire["folds"]) == 1  # type: ignore[arg-type]
    outcomes = evaluate(trend_days, grids)["momentum_breakout"]
    assert outcomes.trades.sum() > 0  # the trend days do trade: the comparison is not of zeros
