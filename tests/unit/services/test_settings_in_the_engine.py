"""The settings the Settings page exposes reach the engine: the sizing method and the trailing stop
in its config, a strategy turned off generates no signal, and the starting equity is the first
session's equity."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, cast

from smart0dte.domain.controls import AutomationSettings, RiskLimits
from smart0dte.domain.marketdata import MarketDay, ns_to_datetime
from smart0dte.domain.models import Signal, TradingMode
from smart0dte.domain.simulator import DEFAULT_SEED, Scenario
from smart0dte.domain.sizing import SizingMethod
from smart0dte.ports import TradingControls
from smart0dte.services.events import SessionEvent
from smart0dte.services.pre_market import PreMarket
from smart0dte.services.session import Envelope, SessionDesk
from tests.unit.session_day import SESSION, SESSION_DATE, simulate


@dataclass
class Controls:
    """The control-table reads of a phase (a StateStore's, for these tests)."""

    settings: AutomationSettings
    mode: TradingMode = TradingMode.PAPER
    limits: RiskLimits = field(default_factory=RiskLimits)

    def get_settings(self) -> AutomationSettings:
        return self.settings

    def get_risk_limits(self) -> RiskLimits:
        return self.limits

    def get_controls(self) -> TradingControls:
        return TradingControls()


def desk(settings: AutomationSettings) -> SessionDesk:
    none = cast(Any, None)
    return SessionDesk(TradingMode.PAPER, cast(Any, Controls(settings)), none, none)


def test_the_engine_config_takes_the_sizing_method_and_the_trailing_stop() -> None:
    config = (
        desk(AutomationSettings(sizing_method=SizingMethod.HALF_KELLY, trailing_stop_percentage=0.2))
        .inputs()
        .config
    )
    assert config.sizing is SizingMethod.HALF_KELLY
    assert config.trailing_stop_fraction == 0.2
    default = desk(AutomationSettings()).inputs().config
    assert default.sizing is SizingMethod.FIXED_FRACTIONAL
    assert default.trailing_stop_fraction is None  # 0 means off


@cache
def _day() -> tuple[MarketDay, dict[str, float]]:
    return simulate(seed=DEFAULT_SEED, scenario=Scenario.TREND_UP)


def _signals(settings: AutomationSettings) -> list[Signal]:
    day, prior = _day()
    envelope = Envelope(TradingMode.PAPER, SESSION_DATE, engine={}, prior_close=prior)
    source = desk(settings).strategies(envelope, SESSION, day, settings)
    found: list[Signal] = []
    for ts_ns in day.bars["SPY"].close_ts_ns.tolist():
        found += source.signals(day.until(ts_ns), ns_to_datetime(ts_ns))
    return found


def test_a_strategy_turned_off_generates_no_signal() -> None:
    every = _signals(AutomationSettings())
    fired = {s.strategy for s in every}
    assert fired, "the trend day fires at least one strategy"
    off = sorted(fired)[0]

    without = _signals(AutomationSettings(disabled_strategies=(off,)))

    assert off not in {s.strategy for s in without}
    assert [s for s in every if s.strategy != off] == without


@dataclass
class NoPlans:
    """Day documents with no previous session (the account's first session)."""

    plans: list[Any] = field(default_factory=list)

    def get_engine(self, _day: object) -> None:
        return None

    def put_plan(self, plan: Any, _actor: str, _reason: str) -> None:
        self.plans.append(plan)


@dataclass
class Scheduler:
    def create_one_time(self, *_args: object) -> bool:
        return True


@dataclass
class Clock:
    def now(self) -> datetime:
        return datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


@dataclass
class PreMarketState(Controls):
    def day_trades_in_window(self, _days: object) -> int:
        return 0

    def set_trading_state(self, *_args: object) -> None:
        return None


def test_the_first_session_starts_with_the_settings_starting_equity() -> None:
    documents = NoPlans()
    state = PreMarketState(AutomationSettings(starting_equity_usd=25_000))
    service = PreMarket(cast(Any, state), cast(Any, documents), cast(Any, Scheduler()), cast(Any, Clock()))
    out = service.prepare(SessionEvent(mode=TradingMode.PAPER, session_date=SESSION_DATE))

    assert Decimal(out["starting_equity_usd"]) == Decimal("25000")
    (plan,) = documents.plans
    assert plan.starting_equity_usd == plan.peak_equity_usd == Decimal("25000")
