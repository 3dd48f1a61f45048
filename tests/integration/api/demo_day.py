"""The demo day (2025-03-14, trend_down, seed 7) through the real session engine, for the API's and
the browser's chart tests: its saved state (minute marks and fills, as the trading cycle stores it)
and its IWM market data around the day's one trade (IWM 220P x92, 0.17 -> 0.12)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from smart0dte.domain.calendar import MarketCalendar
from smart0dte.domain.marketdata import MarketDay, datetime_to_ns, ns_to_datetime
from smart0dte.domain.models import Bar, Underlying
from smart0dte.domain.session_engine import AccountCarry, SessionEngine
from smart0dte.domain.simulator import MarketSimulator, Scenario
from smart0dte.domain.strategy_signals import StrategySignals
from smart0dte.ports.market import MarketWriter
from smart0dte.services.backtest import backtest_config
from smart0dte.services.session import Envelope

DAY = date(2025, 3, 14)
STARTING_EQUITY_USD = Decimal("100000")
TRADED = "IWM   250314P00220000"


def demo_day(until: datetime | None = None) -> tuple[MarketDay, dict[str, Any]]:
    """The simulated day and its saved document after its last minute (or after `until`): the
    trading cycle's envelope, the engine's state under "engine"."""
    simulated = MarketSimulator().day(DAY, seed=7, scenario=Scenario.TREND_DOWN)
    session = MarketCalendar().session(DAY)
    assert session is not None
    config = backtest_config()
    previous = {u.value: level for u, level in simulated.previous.close_usd.items()}
    signals = StrategySignals(simulated.market_day, session, previous, config.pricing)
    carry = AccountCarry(STARTING_EQUITY_USD, STARTING_EQUITY_USD, 0)
    engine = SessionEngine(simulated.market_day, session, config, signals, carry)
    if until is None:
        engine.run()
    else:
        now = session.open_et + timedelta(minutes=1)
        while now <= until:
            engine.step(now)
            now += timedelta(minutes=1)
    envelope = Envelope(mode=config.mode, session_date=DAY, engine=engine.to_state(), prior_close=previous)
    return simulated.market_day, envelope.to_document()


def write_iwm_market(store: MarketWriter, day: MarketDay, start: datetime, end: datetime) -> None:
    """IWM's one-minute bars and chain snapshots from `start` to `end` into the market table."""
    bars = day.bars[Underlying.IWM.value]
    closes: dict[int, float] = {}
    for i in range(len(bars)):
        ts = ns_to_datetime(int(bars.open_ts_ns[i]))
        closes[int(bars.open_ts_ns[i])] = float(bars.close[i])
        if start <= ts <= end:
            store.put_bar(
                Bar(
                    symbol="IWM",
                    ts=ts,
                    open=float(bars.open[i]),
                    high=float(bars.high[i]),
                    low=float(bars.low[i]),
                    close=float(bars.close[i]),
                    volume=int(bars.volume[i]),
                )
            )
    chain = day.chains[Underlying.IWM]
    lo, hi = datetime_to_ns(start), datetime_to_ns(end)
    for row in range(len(chain)):
        at = int(chain.sample_ts_ns[row])
        if lo <= at <= hi:
            price = closes[max(t for t in closes if t < at)]
            store.put_chain_snapshot(chain.snapshot(row, price))
