"""The mode switch's checks without a store: which account a broker mode may trade on, what the
deployment's gateway serves, and which checks each target asks for."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from smart0dte.domain.controls import AutomationSettings, RiskLimits
from smart0dte.domain.models import TradingMode
from smart0dte.ports import BrokerAccount, GatewayStatus, TradingControls, account_refusal, is_paper_account
from smart0dte.services.live_arming import (
    Idle,
    LiveConfirmation,
    Target,
    broker_mode_checks,
    check_prefix,
    gateway_mode,
    limits_fingerprint,
    paper_restore_checks,
)

NOW = datetime(2025, 3, 14, 14, 0, tzinfo=UTC)
PAUSED_PAPER = Idle(TradingMode.PAPER, TradingControls(paused=True), (), ())


def test_only_ibkr_paper_and_live_use_the_broker() -> None:
    assert [m for m in TradingMode if m.uses_broker] == [TradingMode.IBKR_PAPER, TradingMode.LIVE]


@pytest.mark.parametrize(
    ("account", "paper"), [("DU1234567", True), ("DF1234567", True), ("U1234567", False), ("F1234567", False)]
)
def test_the_account_id_prefix_decides_what_an_account_is(account: str, paper: bool) -> None:
    assert is_paper_account(account) is paper
    fits = {m for m in TradingMode if account_refusal(m, account) is None}
    assert fits == ({TradingMode.IBKR_PAPER} if paper else {TradingMode.LIVE})


def test_the_deployment_setting_names_the_mode_its_gateway_serves() -> None:
    assert [gateway_mode(v) for v in ("ibkr_paper", "enabled", "disabled", None, "live")] == [
        TradingMode.IBKR_PAPER,
        TradingMode.LIVE,
        None,
        None,
        None,
    ]
    assert [check_prefix(m) for m in TradingMode] == ["paper", "ibkrPaper", "live"]


def _gateway(account: str, port: int) -> GatewayStatus:
    return GatewayStatus(
        NOW - timedelta(seconds=10), True, port, BrokerAccount(account, Decimal(30_000), True)
    )


def test_ibkr_paper_asks_none_of_lives_checks_on_money() -> None:
    checks = broker_mode_checks(
        now=NOW,
        live_trading="ibkr_paper",
        target=Target(TradingMode.IBKR_PAPER, TradingControls(), _gateway("DU1234567", 4002)),
        leaving=PAUSED_PAPER,
    )
    assert [(c.name, c.met) for c in checks] == [
        ("deployment", True),
        ("gateway", True),
        ("ibkrPaperAccount", True),
        ("optionsPermission", True),
        ("paperIdle", True),
        ("ibkrPaperEmergencyStop", True),
    ]


def test_live_adds_the_account_typed_back_the_reviewed_limits_and_live() -> None:
    settings, limits = AutomationSettings(), RiskLimits()
    confirmation = LiveConfirmation(
        settings, limits, "LIVE", "U1234567", limits_fingerprint(settings, limits)
    )
    checks = broker_mode_checks(
        now=NOW,
        live_trading="enabled",
        target=Target(TradingMode.LIVE, TradingControls(), _gateway("U1234567", 4001)),
        leaving=Idle(TradingMode.IBKR_PAPER, TradingControls(emergency_stop=True), (), ()),
        live=confirmation,
    )
    assert [(c.name, c.met) for c in checks] == [
        ("deployment", True),
        ("gateway", True),
        ("liveAccount", True),
        ("optionsPermission", True),
        ("riskLimits", True),
        ("ibkrPaperIdle", True),
        ("liveEmergencyStop", True),
        ("confirmation", True),
    ]
    with pytest.raises(ValueError, match="arming live needs its LiveConfirmation"):
        broker_mode_checks(
            now=NOW,
            live_trading="enabled",
            target=Target(TradingMode.LIVE, TradingControls(), None),
            leaving=PAUSED_PAPER,
        )


def test_paper_needs_only_the_mode_left_idle() -> None:
    (check,) = paper_restore_checks(Idle(TradingMode.IBKR_PAPER, TradingControls(), ("p1",), ("o1",)))
    assert (check.name, check.met) == ("ibkrPaperIdle", False)
    assert check.detail == (
        "ibkr_paper trading is running: pause it or press the emergency stop first; "
        "open ibkr_paper positions: p1; working ibkr_paper orders: o1"
    )
    with pytest.raises(ValueError, match=r"target\.mode=paper needs no gateway"):
        broker_mode_checks(
            now=NOW,
            live_trading=None,
            target=Target(TradingMode.PAPER, TradingControls(), None),
            leaving=PAUSED_PAPER,
        )
