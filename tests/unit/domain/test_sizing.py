import pytest
from hypothesis import given
from hypothesis import strategies as st

from smart0dte.domain.models import DomainError
from smart0dte.domain.sizing import (
    KELLY_CAP,
    fixed_fractional,
    half_kelly,
    kelly_fraction,
    volatility_adjusted,
)


def test_fixed_fractional_fits_premium_in_the_risk_budget() -> None:
    assert fixed_fractional(10_000, 1.00, 0.02) == 2  # $200 budget / $100 per contract
    assert fixed_fractional(10_000, 0.99, 0.02) == 2
    assert fixed_fractional(10_000, 2.01, 0.02) == 0
    assert fixed_fractional(100_000, 0.40, 0.02) == 50


def test_kelly_fraction_and_half_kelly_cap() -> None:
    ratio = 0.25 / 0.15  # take profit 25% vs stop 15%
    assert kelly_fraction(0.6, ratio) == pytest.approx(0.6 - 0.4 / ratio)
    assert kelly_fraction(0.3, ratio) == 0.0
    # Half Kelly of 0.36 is 0.18, below the 25% cap; the per-trade limit (2%) still binds.
    assert half_kelly(10_000, 1.0, 0.6, ratio, max_risk_fraction=0.02) == 2
    assert half_kelly(10_000, 1.0, 0.6, ratio, max_risk_fraction=1.0) == 18
    # A certain win at 10:1 would be Kelly 1.0; half is 0.5, capped at 25%.
    assert half_kelly(10_000, 1.0, 1.0, 10.0, max_risk_fraction=1.0) == int(KELLY_CAP * 100)
    assert half_kelly(10_000, 1.0, 0.3, ratio, max_risk_fraction=1.0) == 0


def test_volatility_adjusted_shrinks_size_when_volatility_is_high_only() -> None:
    assert volatility_adjusted(100_000, 1.0, 0.02, current_vol=40, reference_vol=20) == 10
    assert volatility_adjusted(100_000, 1.0, 0.02, current_vol=10, reference_vol=20) == 20


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: fixed_fractional(10_000, 0.0, 0.02), "premium_per_share_usd=0.0"),
        (lambda: fixed_fractional(10_000, 1.0, 1.5), "risk_fraction=1.5"),
        (lambda: kelly_fraction(1.2, 1.0), "win_probability=1.2"),
        (lambda: kelly_fraction(0.5, 0.0), "win_loss_ratio=0.0"),
        (lambda: volatility_adjusted(1, 1.0, 0.02, 0.0, 20), "current_vol=0.0"),
    ],
)
def test_bad_inputs_name_the_field(call, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError, match=field):
        call()


@given(
    equity=st.floats(0, 1e7),
    premium=st.floats(0.01, 50),
    fraction=st.floats(0.0001, 1),
    p=st.floats(0, 1),
    ratio=st.floats(0.1, 10),
)
def test_no_method_ever_exceeds_its_risk_budget(
    equity: float, premium: float, fraction: float, p: float, ratio: float
) -> None:
    for contracts, budget in (
        (fixed_fractional(equity, premium, fraction), fraction),
        (half_kelly(equity, premium, p, ratio, fraction), fraction),
        (volatility_adjusted(equity, premium, fraction, 30, 20), fraction),
    ):
        assert contracts >= 0
        assert contracts * premium * 100 <= budget * equity * (1 + 1e-9)
