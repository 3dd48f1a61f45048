"""`smart0dte demo` end to end on the embedded AWS (a few minutes of the day, with handlers that
record a signal, a rejection, a fill and a flatten in DynamoDB), its refusal to run without the
deployed handlers, and the in-process fallback's JSON."""

import json
from datetime import datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from smart0dte import resources
from smart0dte.bootstrap.aws import AwsConfig, state_store
from smart0dte.cli import main
from smart0dte.commands import demo
from smart0dte.domain.controls import TradingState
from smart0dte.domain.models import OptionContract, OptionRight, Position, Signal, TradingMode, Underlying
from smart0dte.domain.risk import RiskRule, RiskVerdict, Violation
from smart0dte.ports import RiskDecision

MINUTES = 3
JSON_KEYS = {"executions", "trades", "pnl", "rejections_by_rule", "audit_records", "decisions"}
CALL = OptionContract(root="SPY", expiry=demo.DEMO_DATE, right=OptionRight.CALL, strike=590)


def _signal(n: int, ts: datetime) -> Signal:
    return Signal(
        signal_id=f"momentum_breakout-SPY-{n}",
        ts=ts,
        underlying=Underlying.SPY,
        direction=OptionRight.CALL,
        strategy="momentum_breakout",
        confidence=0.8,
        rationale=f"test signal {n}",
        contract=CALL,
    )


def _trading_handlers() -> dict[str, Any]:
    """Handlers that act like the real ones on the first cycle, through the runtime's environment."""

    def store() -> Any:
        return state_store(AwsConfig.from_env())

    def pre_market(event: Any, context: Any) -> Any:
        print("pre_market log line on stdout")
        return {**event, "is_session": True}

    def signals(event: Any, context: Any) -> Any:
        ts = datetime.fromisoformat(event["ts"])
        if ts.minute != 31:
            return {**event, "candidates": []}
        found = [_signal(1, ts), _signal(2, ts)]
        for signal in found:
            store().put_signal(signal, actor="signals")
        return {**event, "candidates": [s.signal_id for s in found]}

    def risk(event: Any, context: Any) -> Any:
        ts = datetime.fromisoformat(event["ts"])
        approve, reject = event["candidates"]
        ok = RiskVerdict(True, TradingState.ACTIVE, ())
        no = RiskVerdict(
            False,
            TradingState.ACTIVE,
            (Violation(RiskRule.MAX_POSITIONS, "1 open of 1"), Violation(RiskRule.DAILY_LOSS_LIMIT, "-5.1%")),
        )
        store().put_risk_decision(RiskDecision(approve, ts, ok, 1), actor="risk")
        store().put_risk_decision(RiskDecision(reject, ts, no, 0), actor="risk")
        return {**event, "intents": [approve]}

    def execute(event: Any, context: Any) -> Any:
        ts = datetime.fromisoformat(event["ts"])
        position = Position(
            position_id="position-1",
            mode=TradingMode.PAPER,
            contract=CALL,
            quantity=1,
            entry_price=Decimal("1.25"),
            opened_at=ts,
            strategy="momentum_breakout",
        )
        store().open_position(position, actor="execute", reason="filled")
        return {"orders": ["order-1"]}

    def flatten(event: Any, context: Any) -> Any:
        ts = datetime.fromisoformat(event["ts"])
        for position in store().list_open_positions():
            store().close_position(
                position.position_id,
                Decimal("1.50"),
                ts,
                "flatten",
                actor="flatten",
                commissions_usd=Decimal("1.30"),
            )
        return {**event, "open_positions": len(store().list_open_positions())}

    def echo(event: Any, context: Any) -> Any:
        return event

    return {
        "pre_market": pre_market,
        "signals": signals,
        "risk": risk,
        "execute": execute,
        "flatten": flatten,
        "post_close": echo,
        "learning": echo,
    }


@pytest.fixture
def with_test_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "missing_handlers_message", lambda: None)
    monkeypatch.setattr(demo, "run_embedded", partial(demo.run_embedded, handlers=_trading_handlers()))


def test_demo_json_reads_the_day_back_from_dynamodb(
    with_test_handlers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--embedded", "--minutes", str(MINUTES), "--json", "--no-serve"])

    captured = capsys.readouterr()
    out = json.loads(captured.out)  # handler output went to stderr
    assert code == 0
    assert "pre_market log line on stdout" in captured.err
    assert set(out) >= JSON_KEYS
    assert out["executions"] == {
        "pre_market": {"succeeded": 1, "failed": 0},
        "trading_cycle": {"succeeded": MINUTES, "failed": 0},
        "flatten": {"succeeded": 1, "failed": 0},
        "post_close": {"succeeded": 1, "failed": 0},
        "learning": {"succeeded": 1, "failed": 0},
    }
    assert out["trades"] == [
        {
            "position_id": "position-1",
            "symbol": "SPY",
            "contract": CALL.occ_symbol,
            "strategy": "momentum_breakout",
            "quantity": 1,
            "entry_time": "2025-03-14T09:31:00-04:00",
            "entry_price": "1.25",
            "exit_time": "2025-03-14T15:50:00-04:00",
            "exit_price": "1.50",
            "exit_reason": "flatten",
            "pnl": "23.70",
        }
    ]
    assert out["pnl"] == "23.70"
    assert out["open_positions"] == 0
    assert out["rejections_by_rule"] == {"DAILY_LOSS_LIMIT": 1, "MAX_POSITIONS": 1}
    assert [(d["signal_id"], d["approved"], d["quantity"]) for d in out["decisions"]] == [
        ("momentum_breakout-SPY-1", True, 1),
        ("momentum_breakout-SPY-2", False, 0),
    ]
    assert out["decisions"][1]["violations"] == ["MAX_POSITIONS: 1 open of 1", "DAILY_LOSS_LIMIT: -5.1%"]
    # settings, 2 signals, 2 risk decisions, the position opened and closed
    assert out["audit_records"] == 7
    assert (out["bars_written"], out["snapshots_written"]) == (MINUTES * 4 + 4, MINUTES * 3)


def test_demo_explains_the_day_in_words(with_test_handlers: None, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--embedded", "--minutes", str(MINUTES), "--no-serve"])

    out = capsys.readouterr().out
    assert code == 0
    assert "on the embedded AWS at http://127.0.0.1:" in out
    assert "09:31 SIGNAL SPY C by momentum_breakout conf 80%" in out
    assert "      why: test signal 1" in out
    assert "      risk: REJECTED MAX_POSITIONS: 1 open of 1; DAILY_LOSS_LIMIT: -5.1% (x0)" in out
    assert f"09:31-15:50 TRADE {CALL.occ_symbol} x1 1.25 -> 1.50 (flatten), net P&L $23.70" in out
    assert f"trading_cycle  {MINUTES:>9} {0:>7}" in out
    assert "rejections by rule: DAILY_LOSS_LIMIT 1, MAX_POSITIONS 1" in out
    assert "Open positions at the close: 0" in out


def test_the_embedded_demo_names_the_missing_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(resources, "REPO_ROOT", tmp_path)

    code = main(["demo", "--embedded"])

    err = capsys.readouterr().err
    assert code == 2
    assert "7 are missing" in err
    for name in ("pre_market", "signals", "risk", "execute", "flatten", "post_close", "learning"):
        assert f"lambdas/{name}/handler.py" in err
    assert "backtest_day" not in err  # the day does not run the backtest workflow
    assert "smart0dte demo --in-process" in err


def test_the_in_process_fallback_gives_the_same_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--in-process", "--json"])

    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out) >= JSON_KEYS
    assert out["runtime"] == "in-process"
    assert out["decisions"] and out["open_positions"] == 0
    assert sum(out["rejections_by_rule"].values()) == sum(
        1 for d in out["decisions"] if d["approved"] is False
    )


def test_demo_flags_are_checked_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--embedded", "--minutes", "391"]) == 2
    assert "--minutes=391 must be within 1..390 for 2025-03-14" in capsys.readouterr().err
    assert main(["demo", "--date", "2025-03-15"]) == 2
    assert "--date=2025-03-15 (a Saturday) is not an NYSE session" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--embedded", "--in-process"])
