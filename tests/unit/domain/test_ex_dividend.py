"""Ex-dividend awareness end to end: the config list -> PricingInputs -> analyze / analyze_snapshot
flags -> contract selection (chain analytics and the session engine) skips flagged calls."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from smart0dte.domain import ex_dividend
from smart0dte.domain.chain_analytics import (
    PricingInputs,
    analyze,
    analyze_snapshot,
    early_exercise_skips,
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
from smart0dte.domain.pricing import bsm_price, t_years_from_minutes
from tests.unit.domain import test_session_engine as engine_day

SPY_EX_DATE = date(2025, 3, 21)  # SPY's March 2025 ex-dividend date (third Friday)
SPOT = 560.0
STRIKES = np.arange(540.0, 581.0)


def chain(spot: float = SPOT, minutes: float = 240.0) -> tuple[np.ndarray, ...]:
    strike = np.concatenate([STRIKES, STRIKES])
    is_call = np.repeat([True, False], STRIKES.size)
    fair = bsm_price(spot, strike, t_years_from_minutes(minutes), 0.04, 0.012, 0.25, is_call)
    return strike, is_call, fair - 0.01, fair + 0.01


def test_the_default_config_holds_each_etfs_quarterly_ex_dates() -> None:
    inputs = PricingInputs()
    assert SPY_EX_DATE in inputs.ex_dividend_dates[Underlying.SPY]
    assert date(2025, 6, 23) in inputs.ex_dividend_dates[Underlying.QQQ]
    assert date(2025, 6, 16) in inputs.ex_dividend_dates[Underlying.IWM]
    for underlying in (Underlying.SPY, Underlying.QQQ, Underlying.IWM):
        dates = ex_dividend.CONFIRMED[underlying] | ex_dividend.PROJECTED[underlying]
        assert {d.year for d in dates} >= {2024, 2025}
        assert all(d.weekday() < 5 for d in dates)  # trading days only
        assert all(d.month in (3, 6, 9, 12) for d in dates)  # quarterly
    assert not ex_dividend.CONFIRMED[Underlying.SPY] & ex_dividend.PROJECTED[Underlying.SPY]


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (
            {Underlying.SPY: ["2025-03-21"]},
            r"ex_dividend_dates\[SPY\] must hold datetime.date values, got str",
        ),
        ({Underlying.SPY: "2025-03-21"}, r"ex_dividend_dates\[SPY\] must be a collection of dates"),
        (
            {Underlying.SPY: [datetime(2025, 3, 21, tzinfo=UTC)]},
            r"must hold datetime.date values, got datetime",
        ),
        ({"XYZ": [SPY_EX_DATE]}, r"unknown underlying 'XYZ'"),
    ],
)
def test_bad_ex_dividend_config_is_refused(dates: dict[object, object], message: str) -> None:
    with pytest.raises(DomainError, match=message):
        PricingInputs(ex_dividend_dates=dates)  # type: ignore[arg-type]


def test_symbols_are_accepted_as_keys() -> None:
    inputs = PricingInputs(ex_dividend_dates={"SPY": [SPY_EX_DATE]})  # type: ignore[dict-item]
    assert inputs.ex_dividend_dates == {Underlying.SPY: frozenset({SPY_EX_DATE})}


def test_default_inputs_flag_in_the_money_calls_on_the_ex_date_only() -> None:
    strike, is_call, bid, ask = chain()
    flagged = analyze(Underlying.SPY, SPY_EX_DATE, strike, is_call, bid, ask, SPOT, 240.0, PricingInputs())
    assert flagged.ex_dividend_today
    assert flagged.early_exercise_risk.tolist() == (is_call & (strike < SPOT)).tolist()
    assert not flagged.selectable[flagged.early_exercise_risk].any()
    before = analyze(
        Underlying.SPY,
        SPY_EX_DATE - timedelta(days=1),
        strike,
        is_call,
        bid,
        ask,
        SPOT,
        240.0,
        PricingInputs(),
    )
    assert not before.early_exercise_risk.any()
    other = analyze(Underlying.QQQ, SPY_EX_DATE, strike, is_call, bid, ask, SPOT, 240.0, PricingInputs())
    assert not other.early_exercise_risk.any()


def test_selection_skips_flagged_calls_and_says_how_many() -> None:
    strike, is_call, bid, ask = chain()
    inputs = PricingInputs()
    ex_day = analyze(Underlying.SPY, SPY_EX_DATE, strike, is_call, bid, ask, SPOT, 240.0, inputs)
    normal = analyze(Underlying.SPY, date(2025, 3, 20), strike, is_call, bid, ask, SPOT, 240.0, inputs)
    deep = select_by_delta(normal, OptionRight.CALL, 0.9)
    assert deep is not None and normal.strike[deep] < SPOT  # an in-the-money call on a normal day
    chosen = select_by_delta(ex_day, OptionRight.CALL, 0.9)
    assert chosen is not None and ex_day.strike[chosen] >= SPOT and not ex_day.early_exercise_risk[chosen]
    assert select_by_delta(ex_day, OptionRight.CALL, 0.9, allow_early_exercise_risk=True) == deep
    assert early_exercise_skips(ex_day, OptionRight.CALL) == int(
        np.count_nonzero(ex_day.usable & ex_day.early_exercise_risk)
    )
    assert early_exercise_skips(ex_day, OptionRight.CALL) > 0
    assert early_exercise_skips(ex_day, OptionRight.PUT) == 0
    itm = select_by_moneyness(ex_day, OptionRight.CALL, -0.02)  # 2% in the money: flagged, skipped
    assert itm is not None and ex_day.strike[itm] >= SPOT
    put = select_by_delta(ex_day, OptionRight.PUT, 0.9)  # puts are not affected
    assert put is not None and ex_day.strike[put] > SPOT


def test_zero_bid_in_the_money_call_is_neither_usable_nor_selectable() -> None:
    strike, is_call, bid, ask = chain()
    bid = bid.copy()
    itm = int(np.flatnonzero(is_call & (strike == 550.0))[0])
    bid[itm] = 0.0
    result = analyze(Underlying.SPY, SPY_EX_DATE, strike, is_call, bid, ask, SPOT, 240.0, PricingInputs())
    assert result.early_exercise_risk[itm]
    assert not result.usable[itm] and not result.selectable[itm]


def _snapshot(ts: datetime, expiry: date) -> ChainSnapshot:
    strike, is_call, bid, ask = chain()
    quotes = tuple(
        OptionQuote(
            contract=OptionContract(
                root="SPY", expiry=expiry, right=OptionRight.CALL if c else OptionRight.PUT, strike=float(k)
            ),
            bid=max(round(float(b), 2), 0.0),
            ask=round(float(a), 2),
            bid_size=10,
            ask_size=10,
        )
        for k, c, b, a in zip(strike, is_call, bid, ask, strict=True)
    )
    return ChainSnapshot(
        underlying=Underlying.SPY, ts=ts, expiry=expiry, underlying_price=SPOT, quotes=quotes
    )


def test_snapshot_uses_its_new_york_trading_date_not_the_expiry() -> None:
    # 1DTE chain seen on the ex-date: the expiry (Monday) is not an ex-date, the trading date is.
    ts = datetime(2025, 3, 21, 16, 0, tzinfo=UTC)  # 12:00 in New York
    result = analyze_snapshot(_snapshot(ts, date(2025, 3, 24)), ts + timedelta(hours=4), PricingInputs())
    assert result.ex_dividend_today and result.early_exercise_risk.any()
    # 20:30 New York on the ex-date is already the 22nd in UTC: still the 21st's trading date.
    late = datetime(2025, 3, 22, 0, 30, tzinfo=UTC)
    result = analyze_snapshot(_snapshot(late, date(2025, 3, 24)), late + timedelta(hours=1), PricingInputs())
    assert result.ex_dividend_today
    # The day after (a Saturday snapshot of a chain expiring on the ex-date): not flagged.
    after = datetime(2025, 3, 22, 15, 0, tzinfo=UTC)
    result = analyze_snapshot(_snapshot(after, SPY_EX_DATE), after + timedelta(hours=1), PricingInputs())
    assert not result.ex_dividend_today and not result.early_exercise_risk.any()


class DeepCall(engine_day.Scripted):
    """A deep in-the-money call signal (target delta 0.9) at minute 45."""

    def signals(self, known, now):  # type: ignore[no-untyped-def]
        return [s.model_copy(update={"target_delta": 0.9}) for s in super().signals(known, now)]


def _engine_run(inputs: PricingInputs):  # type: ignore[no-untyped-def]
    config = replace(engine_day.CONFIG, pricing=inputs)
    path = np.full(engine_day.MINUTES, 560.0)
    return engine_day.run(path, DeepCall({45: OptionRight.CALL}), config)


def test_the_engine_never_buys_a_flagged_call_and_says_why() -> None:
    day = engine_day.DAY
    normal = _engine_run(PricingInputs(ex_dividend_dates={}))
    ex_day = _engine_run(PricingInputs(ex_dividend_dates={Underlying.SPY: [day]}))
    risk_normal = next(d for d in normal.decisions if d.kind == "risk")
    risk_ex = next(d for d in ex_day.decisions if d.kind == "risk")
    bought_normal = OptionContract.from_occ(str(risk_normal.detail["contract"]))
    assert bought_normal.strike < 560.0  # deep in the money on a normal day
    assert "contract_note" not in risk_normal.detail
    assert "ex-dividend" in str(risk_ex.detail["contract_note"])
    contract = risk_ex.detail["contract"]
    if contract is not None:
        assert OptionContract.from_occ(str(contract)).strike >= 560.0
