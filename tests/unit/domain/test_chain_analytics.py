from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from smart0dte.domain.chain_analytics import (
    PricingInputs,
    QuoteFlag,
    analyze,
    analyze_snapshot,
    atm_straddle,
    atm_strike,
    put_call_skew,
    select_by_delta,
    select_by_moneyness,
)
from smart0dte.domain.models import (
    ChainSnapshot,
    DomainError,
    OptionContract,
    OptionQuote,
    OptionRight,
    Underlying,
)
from smart0dte.domain.pricing import bsm_greeks, t_years_from_minutes

DAY = date(2025, 3, 14)
SPOT = 560.0
MINUTES = 240.0
INPUTS = PricingInputs(rate=0.04, div_yield={Underlying.SPY: 0.012})
STRIKES = np.arange(545.0, 576.0)


def smile(strike: np.ndarray) -> np.ndarray:
    """A put skew: vol rises as strikes fall below spot."""
    return (
        0.30 + 0.6 * np.maximum(0.0, (SPOT - strike) / SPOT) + 0.1 * np.maximum(0.0, (strike - SPOT) / SPOT)
    )


def time_value(strike: np.ndarray, is_call: np.ndarray, price: np.ndarray) -> np.ndarray:
    intrinsic = np.where(is_call, np.maximum(SPOT - strike, 0), np.maximum(strike - SPOT, 0))
    return price - intrinsic


def chain_arrays(
    half_spread: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    strike = np.concatenate([STRIKES, STRIKES])
    is_call = np.concatenate([np.ones(STRIKES.size, bool), np.zeros(STRIKES.size, bool)])
    t = float(t_years_from_minutes(MINUTES))
    vol = smile(strike)
    fair = bsm_greeks(SPOT, strike, t, 0.04, 0.012, vol, is_call).price
    return strike, is_call, fair - half_spread, fair + half_spread, vol


def test_mid_iv_recovers_the_smile_and_greeks_are_consistent() -> None:
    strike, is_call, bid, ask, vol = chain_arrays(half_spread=0.005)
    chain = analyze(Underlying.SPY, DAY, strike, is_call, bid, ask, SPOT, MINUTES, INPUTS)
    rows = chain.usable
    assert rows[(bid > 0) & (time_value(strike, is_call, chain.mid) >= 0.05)].all()
    np.testing.assert_allclose(chain.iv[rows], vol[rows], rtol=0, atol=1e-9)
    assert np.all((chain.delta[rows & is_call] > 0) & (chain.delta[rows & is_call] < 1))
    assert np.all((chain.delta[rows & ~is_call] < 0) & (chain.delta[rows & ~is_call] > -1))
    assert np.all(chain.theta_per_minute[rows] < 0)
    assert np.all(chain.gamma[rows] > 0)


def test_bad_quotes_are_marked_and_never_used() -> None:
    strike, is_call, bid, ask, _ = chain_arrays()
    bid, ask = bid.copy(), ask.copy()
    atm_call = int(np.flatnonzero(is_call & (strike == 560))[0])
    bid[atm_call], ask[atm_call] = 3.0, 2.9  # crossed
    bid[atm_call + 1] = 0.0  # no bid
    bid[atm_call + 2] = ask[atm_call + 2]  # locked
    bid[atm_call + 3] = ask[atm_call + 3] = np.nan  # missing
    chain = analyze(Underlying.SPY, DAY, strike, is_call, bid, ask, SPOT, MINUTES, INPUTS)
    assert chain.quote_flag[atm_call : atm_call + 4].tolist() == [
        QuoteFlag.CROSSED,
        QuoteFlag.ZERO_BID,
        QuoteFlag.LOCKED,
        QuoteFlag.MISSING,
    ]
    assert not chain.usable[atm_call : atm_call + 4].any()
    assert np.isnan(chain.iv[atm_call : atm_call + 4]).all()
    assert np.isnan(chain.delta[atm_call : atm_call + 4]).all()
    assert select_by_moneyness(chain, OptionRight.CALL, 0.0) != atm_call


def test_selection_by_delta_and_moneyness() -> None:
    strike, is_call, bid, ask, _ = chain_arrays()
    chain = analyze(Underlying.SPY, DAY, strike, is_call, bid, ask, SPOT, MINUTES, INPUTS)
    call = select_by_delta(chain, OptionRight.CALL, 0.30)
    put = select_by_delta(chain, OptionRight.PUT, 0.30)
    assert call is not None and put is not None
    assert chain.is_call[call] and not chain.is_call[put]
    assert chain.strike[call] > SPOT > chain.strike[put]
    calls = chain.usable & chain.is_call
    assert abs(chain.delta[call] - 0.30) == pytest.approx(np.min(np.abs(chain.delta[calls] - 0.30)))
    otm_call = select_by_moneyness(chain, OptionRight.CALL, 0.005)
    otm_put = select_by_moneyness(chain, OptionRight.PUT, 0.005)
    assert otm_call is not None and otm_put is not None
    assert (chain.strike[otm_call], chain.strike[otm_put]) == (
        563.0,
        557.0,
    )  # 560 x (1 +/- 0.005) = 562.8 / 557.2
    with pytest.raises(DomainError, match=r"target_abs_delta=1\.2"):
        select_by_delta(chain, OptionRight.CALL, 1.2)


def test_straddle_expected_move_and_put_skew() -> None:
    strike, is_call, bid, ask, _ = chain_arrays()
    chain = analyze(Underlying.SPY, DAY, strike, is_call, bid, ask, SPOT, MINUTES, INPUTS)
    move = atm_straddle(chain)
    assert move is not None and move.strike == 560.0
    # ATM straddle ~ 0.8 sigma sqrt(t) S for a 30% vol over 4 hours.
    approx = 0.8 * 0.30 * np.sqrt(float(t_years_from_minutes(MINUTES))) * SPOT
    assert move.straddle_usd == pytest.approx(approx, rel=0.05)
    assert move.move_fraction == pytest.approx(move.straddle_usd / SPOT)
    skew = put_call_skew(chain)
    assert skew is not None and skew > 0


def test_in_the_money_calls_are_flagged_on_ex_dividend_days_only() -> None:
    strike, is_call, bid, ask, _ = chain_arrays()
    ex_div = PricingInputs(
        rate=0.04, div_yield={Underlying.SPY: 0.012}, ex_dividend_dates={Underlying.SPY: frozenset({DAY})}
    )
    flagged = analyze(
        Underlying.SPY, DAY, strike, is_call, bid, ask, SPOT, MINUTES, ex_div
    ).early_exercise_risk
    assert flagged.tolist() == (is_call & (strike < SPOT)).tolist()
    other_day = analyze(
        Underlying.SPY, DAY + timedelta(days=3), strike, is_call, bid, ask, SPOT, MINUTES, ex_div
    )
    assert not other_day.early_exercise_risk.any()


def test_snapshot_wrapper_times_expiry_to_the_close() -> None:
    strike, is_call, bid, ask, _ = chain_arrays()
    quotes = tuple(
        OptionQuote(
            contract=OptionContract(
                root="SPY", expiry=DAY, right=OptionRight.CALL if c else OptionRight.PUT, strike=k
            ),
            bid=round(float(b), 2),
            ask=round(float(a), 2),
            bid_size=10,
            ask_size=10,
        )
        for k, c, b, a in zip(strike, is_call, bid, ask, strict=True)
        if b > 0
    )
    close = datetime(2025, 3, 14, 20, 0, tzinfo=UTC)
    snapshot = ChainSnapshot(
        underlying=Underlying.SPY,
        ts=close - timedelta(minutes=MINUTES),
        expiry=DAY,
        underlying_price=SPOT,
        quotes=quotes,
    )
    chain = analyze_snapshot(snapshot, close, INPUTS)
    assert chain.minutes_to_expiry == MINUTES
    assert chain.usable[time_value(chain.strike, chain.is_call, chain.mid) >= 0.05].all()
    assert chain.usable.sum() >= len(quotes) // 2


def test_inputs_validation_names_the_field() -> None:
    with pytest.raises(DomainError, match=r"rate=0\.5"):
        PricingInputs(rate=0.5)
    strike, is_call, bid, ask, _ = chain_arrays()
    with pytest.raises(DomainError, match=r"spot=0\.0"):
        analyze(Underlying.SPY, DAY, strike, is_call, bid, ask, 0.0, MINUTES, INPUTS)


def _spoil(bid: np.ndarray, ask: np.ndarray, i: int, how: str) -> None:
    if how == "crossed":
        bid[i], ask[i] = ask[i] + 0.05, ask[i]
    else:
        bid[i] = 0.0


@pytest.mark.parametrize("how", ["crossed", "zero_bid"])
def test_a_bad_quote_at_the_atm_strike_is_skipped_by_the_straddle(how: str) -> None:
    strike, is_call, bid, ask, _ = chain_arrays()
    bid, ask = bid.copy(), ask.copy()
    atm_call = int(np.flatnonzero(is_call & (strike == SPOT))[0])
    _spoil(bid, ask, atm_call, how)
    chain = analyze(Underlying.SPY, DAY, strike, is_call, bid, ask, SPOT, MINUTES, INPUTS)
    assert not chain.usable[atm_call]
    move = atm_straddle(chain)
    assert move is not None and move.strike != SPOT  # the next strike with both sides clean
    assert abs(move.strike - SPOT) == 1.0
    assert select_by_moneyness(chain, OptionRight.CALL, 0.0) != atm_call


@pytest.mark.parametrize(
    ("spot", "expected"), [(560.4, 560.0), (560.6, 561.0), (560.5, 560.0), (500.0, 545.0)]
)
def test_the_atm_strike_is_the_nearest_to_spot_and_the_lower_of_a_tie(spot: float, expected: float) -> None:
    strike, is_call, bid, ask, _ = chain_arrays()
    chain = replace(analyze(Underlying.SPY, DAY, strike, is_call, bid, ask, SPOT, MINUTES, INPUTS), spot=spot)
    assert atm_strike(chain) == expected


def test_the_atm_strike_ignores_quotes_and_an_empty_chain_has_none() -> None:
    strike, is_call, bid, ask, _ = chain_arrays()
    bid = np.where(strike == SPOT, 0.0, bid)  # both sides at spot unusable
    chain = analyze(Underlying.SPY, DAY, strike, is_call, bid, ask, SPOT, MINUTES, INPUTS)
    assert not chain.usable[strike == SPOT].any()
    assert atm_strike(chain) == SPOT
    assert atm_strike(replace(chain, strike=np.empty(0))) is None


@pytest.mark.parametrize("how", ["crossed", "zero_bid"])
def test_a_bad_quote_at_the_target_delta_strike_is_skipped_by_selection_and_skew(how: str) -> None:
    strike, is_call, bid, ask, _ = chain_arrays()
    clean = analyze(Underlying.SPY, DAY, strike, is_call, bid, ask, SPOT, MINUTES, INPUTS)
    call = select_by_delta(clean, OptionRight.CALL, 0.25)
    put = select_by_delta(clean, OptionRight.PUT, 0.25)
    assert call is not None and put is not None
    skew_clean = put_call_skew(clean)
    bid, ask = bid.copy(), ask.copy()
    _spoil(bid, ask, call, how)
    _spoil(bid, ask, put, how)
    chain = analyze(Underlying.SPY, DAY, strike, is_call, bid, ask, SPOT, MINUTES, INPUTS)
    new_call = select_by_delta(chain, OptionRight.CALL, 0.25)
    new_put = select_by_delta(chain, OptionRight.PUT, 0.25)
    assert new_call is not None and new_put is not None
    assert new_call != call and new_put != put
    assert chain.usable[new_call] and chain.usable[new_put]
    assert abs(chain.strike[new_call] - chain.strike[call]) == 1.0
    skew = put_call_skew(chain)
    assert skew is not None and skew != skew_clean
    assert skew == pytest.approx(float(chain.iv[new_put] - chain.iv[new_call]))


def test_every_greek_is_exposed_at_the_mid_iv() -> None:
    strike, is_call, bid, ask, _ = chain_arrays()
    chain = analyze(Underlying.SPY, DAY, strike, is_call, bid, ask, SPOT, MINUTES, INPUTS)
    rows = chain.usable
    t = float(t_years_from_minutes(MINUTES))
    g = bsm_greeks(SPOT, strike[rows], t, 0.04, 0.012, chain.iv[rows], is_call[rows])
    for name, ours in (
        ("delta", chain.delta),
        ("gamma", chain.gamma),
        ("theta_per_minute", chain.theta_per_minute),
        ("theta_per_year", chain.theta_per_year),
        ("vega_per_vol_point", chain.vega_per_vol_point),
        ("vega_per_unit_vol", chain.vega_per_unit_vol),
        ("rho_per_unit_rate", chain.rho_per_unit_rate),
    ):
        np.testing.assert_array_equal(ours[rows], getattr(g, name), err_msg=name)
        assert np.isnan(ours[~rows]).all(), name


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"spot": float("nan")}, r"spot=nan must be a finite number > 0"),
        ({"spot": float("inf")}, r"spot=inf must be a finite number > 0"),
        ({"spot": "560"}, r"spot='560' must be a finite number > 0"),
        ({"minutes_to_expiry": float("nan")}, r"minutes_to_expiry=nan must be a finite number >= 0"),
        ({"minutes_to_expiry": -1.0}, r"minutes_to_expiry=-1\.0 must be"),
        ({"strike": np.array([-5.0, 560.0])}, r"strike\[0\]=-5\.0 must be a finite number > 0"),
        ({"strike": np.array([np.nan, 560.0])}, r"strike\[0\]=nan must be"),
        ({"is_call": np.array(["call", "put"])}, r"is_call must be an array of booleans"),
        (
            {"bid": np.array([1.0])},
            r"must have one length, got \{'strike': 2, 'is_call': 2, 'bid': 1, 'ask': 2\}",
        ),
        ({"bid": "1.0"}, r"bid must be an array, got str"),
        ({"underlying": "SPY"}, r"underlying must be an Underlying"),
        ({"session_date": "2025-03-14"}, r"session_date must be a datetime.date"),
    ],
)
def test_bad_analyze_inputs_raise_naming_the_field(override: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "underlying": Underlying.SPY,
        "session_date": DAY,
        "strike": np.array([555.0, 560.0]),
        "is_call": np.array([True, False]),
        "bid": np.array([6.0, 3.0]),
        "ask": np.array([6.2, 3.2]),
        "spot": SPOT,
        "minutes_to_expiry": MINUTES,
        "inputs": INPUTS,
    }
    args.update(override)
    with pytest.raises(DomainError, match=message):
        analyze(**args)  # type: ignore[arg-type]


def test_lists_are_accepted_and_selection_arguments_validated() -> None:
    chain = analyze(
        Underlying.SPY, DAY, [555.0, 560.0], [True, False], [6.0, 3.0], [6.2, 3.2], SPOT, MINUTES, INPUTS
    )
    assert chain.strike.dtype == np.float64 and chain.is_call.dtype == np.bool_
    with pytest.raises(DomainError, match=r"target_abs_delta=nan"):
        select_by_delta(chain, OptionRight.CALL, float("nan"))
    with pytest.raises(DomainError, match=r"right must be an OptionRight"):
        select_by_delta(chain, "CALL", 0.3)  # type: ignore[arg-type]
    with pytest.raises(DomainError, match=r"otm_fraction='x'"):
        select_by_moneyness(chain, OptionRight.PUT, "x")  # type: ignore[arg-type]
