"""An in-memory fake of the dashboard's HTTP API, served with web/dist on 127.0.0.1.

It implements the JSON contract the dashboard is built against, so the browser tests do not
depend on the real API Lambda. Settings are validated with the real `AutomationSettings`
model and a failure is answered the way Powertools answers it (422 with `detail` entries).
"""

from __future__ import annotations

import copy
import json
import math
import mimetypes
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from smart0dte.domain.controls import AutomationSettings, RiskLimits
from smart0dte.domain.models import TradingMode
from smart0dte.ports import TradingControls
from smart0dte.services.live_arming import (
    LIVE_TRADING_ENABLED,
    Idle,
    LiveConfirmation,
    Target,
    broker_mode_checks,
    gateway_mode,
    limits_fingerprint,
    paper_restore_checks,
)

TOKEN = "e2e-token"
NOW = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)  # 11:00 New York


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _bars(start: float, n: int = 60, step_s: int = 120) -> list[dict[str, Any]]:
    bars, price = [], start
    t0 = NOW.replace(hour=13, minute=30)
    for i in range(n):
        o = price
        c = o + (((i * 7919) % 11 - 5) * 0.0004 + 0.0006 * math.sin(i / 6)) * start
        wick = 0.0004 * start
        bars.append(
            {
                "ts": _iso(t0 + timedelta(seconds=i * step_s)),
                "open": round(o, 2),
                "high": round(max(o, c) + wick, 2),
                "low": round(min(o, c) - wick, 2),
                "close": round(c, 2),
                "volume": 1000 + i * 13,
            }
        )
        price = c
    return bars


SESSION_OPEN = NOW.replace(hour=13, minute=30)
SESSION_CLOSE = NOW.replace(hour=20, minute=0)
SPOTS = {"SPY": 589.6, "QQQ": 500.2, "IWM": 205.3}
"""Each underlying's price at NOW; a chosen earlier minute finds it a cent lower per minute."""


def _chain(
    symbol: str, spot: float, held: dict[str, int] | None = None, traded: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    held = held or {}
    rows = []
    for k in range(-30, 31):  # 122 rows, as on a busy day
        strike = round(spot) + k
        for right in ("C", "P"):
            itm = (spot - strike) if right == "C" else (strike - spot)
            mid = max(itm, 0) + max(0.05, 0.35 - abs(k) * 0.04)
            bid_size, ask_size = 200 + 40 * min(abs(k), 5), 300 + 60 * min(abs(k), 5)
            # The deepest in-the-money SPY call stands for an ex-dividend day's early-exercise risk.
            early = symbol == "SPY" and right == "C" and k == -3
            call_delta = max(0.01, min(0.99, 0.5 - 0.12 * k))
            contract = f"{symbol:<6}250314{right}{int(strike * 1000):08d}"
            rows.append(
                {
                    "contract": contract,
                    "strike": strike,
                    "right": right,
                    "bid": round(mid - 0.02, 2),
                    "ask": round(mid + 0.02, 2),
                    "bidSize": bid_size,
                    "askSize": ask_size,
                    "volume": bid_size + ask_size,
                    "volumeSource": "displayed_size",
                    "iv": 0.14 + 0.005 * abs(k),
                    "delta": round(call_delta if right == "C" else call_delta - 1, 3),
                    "gamma": max(0.001, 0.09 - 0.01 * abs(k)),
                    "thetaPerMinute": min(-0.00005, -0.0012 + 0.0001 * abs(k)),
                    "vega": 0.021,
                    "usable": True,
                    "earlyExerciseRisk": early,
                    "selectable": not early,
                    "heldQuantity": held.get(contract, 0),
                    "traded": contract in held or contract in traded,
                }
            )
    return rows


OPTIMIZED = ("momentum_breakout", "mean_reversion", "gap_fill", "vix_spike")


def _optimization(strategy: str) -> dict[str, Any]:
    """GET /api/analytics/optimization/{strategy}: a stored report for momentum_breakout only."""

    def metrics(trades: int, net: float) -> dict[str, Any]:
        return {
            "sessions": 20,
            "trades": trades,
            "winRate": 0.5 if trades else None,
            "netPnlUsd": net,
            "pnlPerSessionUsd": round(net / 20, 2),
            "worstSessionUsd": -300.0,
        }

    base: dict[str, Any] = {
        "strategy": strategy,
        "defaultParams": {"target_delta": 0.4},
        "liveTrades": {
            "trades": 0,
            "winRate": None,
            "profitFactor": None,
            "expectancyUsd": None,
            "averageWinUsd": None,
            "averageLossUsd": None,
            "netPnlUsd": 0.0,
        },
    }
    if strategy != "momentum_breakout":
        note = "no walk-forward optimization has run for this strategy yet"
        return {**base, "optimization": None, "note": note}
    window = {"start": "2025-02-03", "end": "2025-03-03", "sessions": 20}
    result = {
        "strategy": strategy,
        "applied": False,
        "note": "report only: the recommended parameters are not applied to trading",
        "objective": "highest in-sample net P&L per session",
        "source": "archive 2025-01-02..2025-03-03 (40 sessions)",
        "generatedAt": "2025-03-14T21:05:00Z",
        "grid": {"min_break_atr": [0.25, 0.5, 1.0], "min_move_30m_atr": [4.0, 6.0]},
        "candidates": 6,
        "walkForward": {
            "inSampleSessions": 20,
            "outOfSampleSessions": 5,
            "stepSessions": 5,
            "minTrades": 3,
            "minImprovementUsd": 10.0,
            "maxSessions": 40,
        },
        "sessions": {"start": "2025-01-02", "end": "2025-03-03", "sessions": 40},
        "defaultParams": {"min_break_atr": 0.5, "min_move_30m_atr": 6.0},
        "summary": {
            "recommendedParams": {"min_break_atr": 1.0, "min_move_30m_atr": 6.0},
            "recommendedIsDefault": False,
            "latestWindow": window,
            "latestInSample": metrics(12, 840.0),
            "defaultLatestInSample": metrics(15, 120.0),
            "outOfSample": metrics(11, 1234.5),
            "defaultOutOfSample": metrics(14, -250.0),
            "beatsDefaults": True,
        },
        "folds": [],
    }
    return {**base, "optimization": result, "note": None}


def initial_state() -> dict[str, Any]:
    equity = [
        {"ts": _iso(NOW - timedelta(days=30 - i)), "equity": 25_000 + i * 42.5 - (i % 4) * 60}
        for i in range(30)
    ]
    return {
        "mode": "paper",
        "tradingState": "ACTIVE",
        "paused": False,
        "emergencyStop": {"active": False, "by": None, "reason": None, "at": None},
        "settings": AutomationSettings(master_switch=True).to_wire(),
        "riskLimits": RiskLimits().to_wire(),
        "positions": [
            {
                "id": "pos-1",
                "contract": "SPY   250314C00590000",
                "strategy": "orb",
                "quantity": 2,
                "entryPrice": 1.25,
                "markPrice": 1.6,
                "unrealizedPnl": 70.0,
                "openedAt": _iso(NOW),
            },
            {
                "id": "pos-2",
                "contract": "QQQ   250314P00500000",
                "strategy": "vwap_reversion",
                "quantity": 1,
                "entryPrice": 0.9,
                "markPrice": 0.75,
                "unrealizedPnl": -15.0,
                "openedAt": _iso(NOW),
            },
        ],
        # Contracts traded this session besides those held (the chain marks both).
        "tradedContracts": ["SPY   250314P00588000"],
        # True: the session has closed and the chain's default is its last trading minute.
        "chainAfterClose": False,
        "pnl": {"realized": 312.5, "unrealized": 55.0, "today": 367.5},
        "equityCurve": equity,
        "marketStatus": {
            "phase": "open",
            "nextChangeEt": _iso(datetime.now(UTC) + timedelta(hours=2, minutes=5)),
            "session": {
                "open": "2025-03-14T09:30:00-04:00",
                "close": "2025-03-14T16:00:00-04:00",
                "earlyClose": False,
            },
        },
        "recentSignals": [
            {
                "ts": _iso(NOW),
                "symbol": "SPY",
                "strategy": "orb",
                "direction": "long_call",
                "confidence": 0.82,
                "rationale": "Opening-range breakout above 589.40 on 1.8x volume; VIX 14.2 calm regime",
            },
            {
                "ts": _iso(NOW - timedelta(minutes=9)),
                "symbol": "QQQ",
                "strategy": "vwap_reversion",
                "direction": "long_put",
                "confidence": 0.74,
                "rationale": ["2.1 sd above VWAP", "RSI 78"],
            },
        ],
        "health": {
            "components": {
                "dataFeed": {"status": "green", "reason": "last bar 12 s ago"},
                "broker": {"status": "yellow", "reason": "paper broker (simulated)"},
                "signalEngine": {"status": "green", "reason": "model v7 loaded"},
                "marketHours": {"status": "green", "reason": "regular session until 16:00 ET"},
                "system": {"status": "gray", "reason": "no alarms configured"},
            }
        },
        "analytics": {
            "metrics": {
                "totalTrades": 148,
                "winRate": 0.56,
                "sharpe": 1.42,
                "maxDrawdown": 0.061,
                "totalPnl": 4210.55,
                "profitFactor": 1.37,
            },
            "equityCurve": equity,
            "drawdown": [{"ts": p["ts"], "drawdown": -0.01 * (i % 5)} for i, p in enumerate(equity)],
            "byStrategy": [
                {"strategy": "orb", "trades": 80, "winRate": 0.6, "totalPnl": 3100.0, "sharpe": 1.8},
                {
                    "strategy": "vwap_reversion",
                    "trades": 68,
                    "winRate": 0.51,
                    "totalPnl": 1110.55,
                    "sharpe": 0.9,
                },
            ],
        },
        # Newest first, as the API sends them; the two of one instant in the order they happened
        # (newest first too): the fill, then the position it opened.
        "audit": [
            {
                "ts": _iso(NOW - timedelta(minutes=5)),
                "actor": "user:alice",
                "action": "SettingsChanged",
                "reason": "tighter stops",
                "sentence": "Settings changed by user:alice: stop loss percentage 20.0% -> 15.0%.",
                "details": {"stopLossPercentage": 0.15},
            },
            {
                "ts": _iso(NOW - timedelta(minutes=30)),
                "actor": "system:execute",
                "action": "PositionOpened",
                "reason": "entry filled",
                "sentence": "Position opened: 36 IWM 225 call (2025-03-14) at $0.55 by momentum breakout.",
                "details": {"position": {"quantity": 36}},
            },
            {
                "ts": _iso(NOW - timedelta(minutes=30)),
                "actor": "system:execute",
                "action": "OrderFilled",
                "reason": "36 @ 0.55 -> FILLED",
                "sentence": "Bought 36 IWM 225 call (2025-03-14) at $0.55, fees $23.40; the order is filled.",
                "details": {"quantity": 36, "price": "0.55"},
            },
            {
                "ts": _iso(NOW - timedelta(hours=3)),
                "actor": "scheduler",
                "action": "pre_market.started",
                "reason": "08:00 ET schedule",
                "details": {"session": "2025-03-14"},
            },
        ],
        # GET /api/account: $100,000 at the start of the day, $1,200 lost since, peak $102,000.
        "account": {
            "mode": "paper",
            "sessionDate": "2025-03-14",
            "planned": True,
            "startingEquityUsd": "100000.00",
            "peakEquityUsd": "102000.00",
            "equityUsd": "98800.00",
            "realizedPnlUsd": "-1500.00",
            "unrealizedPnlUsd": "300.00",
            "positionsValueUsd": "2300.00",
            "workingBuysUsd": "500.00",
            "buyingPowerUsd": "96000.00",
            "riskPerTradeUsd": "1976.00",
            "dailyLoss": {
                "usedUsd": "1200.00",
                "limitUsd": "5000.00",
                "usedFraction": 0.012,
                "limitFraction": 0.05,
            },
            "drawdown": {
                "usedUsd": "3200.00",
                "limitUsd": "15300.00",
                "usedFraction": 0.0313725,
                "limitFraction": 0.15,
            },
            "strategies": ["momentum_breakout", "mean_reversion", "gap_fill", "vix_spike"],
        },
        "backtests": {},
        # How a backtest run ends ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"); while
        # "backtestHold" is true a run stays RUNNING with 2 sessions done.
        "backtestOutcome": "SUCCEEDED",
        "backtestHold": False,
        "optimization": {name: _optimization(name) for name in OPTIMIZED},
        # Trading mode: a test may set "liveTrading" (the deployment flag: None, "ibkr_paper" or
        # "enabled"), "gateway" (a smart0dte.ports.GatewayStatus, the one gateway of the
        # deployment), "liveEmergencyStop" and "ibkrPaperEmergencyStop".
        "liveTrading": None,
        "gateway": None,
        "liveEmergencyStop": False,
        "ibkrPaperEmergencyStop": False,
        "modeChange": None,
    }


def _limits(error: Any) -> dict[str, Any]:
    """The numeric limits of a pydantic error (`ctx`, as the real API sends them)."""
    limits = {k: v for k, v in error.get("ctx", {}).items() if isinstance(v, int | float)}
    return {"ctx": limits} if limits else {}


@dataclass
class FakeApi:
    """The API's state plus a log of every /api request (method, path, auth header, body)."""

    dist: Path
    state: dict[str, Any] = field(default_factory=initial_state)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.state = initial_state()
            self.requests.clear()

    def posts(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST" and r["path"] == path]

    def _loc_name(self, part: object) -> object:
        """The field name as the API reports it: camelCase, or snake_case when a test asks."""
        if self.state.get("snake_case_locs") and isinstance(part, str):
            return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), part)
        return part

    def _strikes(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        """GET /api/strikes: the chain at NOW (or, with "chainAfterClose", at the last trading
        minute of a closed session), or at a chosen `at=HH:MM` within the session so far."""
        s = self.state
        symbol = query.get("symbol", ["SPY"])[0]
        latest = SESSION_CLOSE if s.get("chainAfterClose") else NOW
        shown = SESSION_CLOSE - timedelta(minutes=1) if s.get("chainAfterClose") else NOW
        earliest = SESSION_OPEN + timedelta(minutes=1)
        at = query.get("at", [None])[0]
        if at is not None:
            m = re.fullmatch(r"(\d{1,2}):(\d{2})", at)
            # 2025-03-14 is EDT: New York = UTC - 4 h.
            chosen = (
                SESSION_OPEN.replace(hour=int(m[1]) + 4, minute=int(m[2]))
                if m and int(m[1]) < 20 and int(m[2]) < 60
                else None
            )
            if chosen is None or not earliest <= chosen <= latest:
                return 422, {
                    "message": f"at={at!r} must be a minute HH:MM (New York time) within 09:31.."
                    f"{(latest - timedelta(hours=4)):%H:%M} of the 2025-03-14 session",
                    "field": "at",
                }
            shown = chosen
        spot = round(SPOTS.get(symbol, 100.0) - 0.01 * (NOW - shown).total_seconds() / 60, 2)
        held = {
            str(p["contract"]): int(p["quantity"]) for p in s["positions"] if p.get("openedAt") <= _iso(shown)
        }
        rows = _chain(symbol, spot, held, frozenset(s.get("tradedContracts", ())))
        return 200, {
            "symbol": symbol,
            "ts": _iso(shown),
            "sessionDate": "2025-03-14",
            "sessionClose": _iso(SESSION_CLOSE),
            "underlyingPrice": spot,
            "minutesToExpiry": (SESSION_CLOSE - shown).total_seconds() / 60,
            "atmStrike": float(min(sorted({r["strike"] for r in rows}), key=lambda k: abs(k - spot))),
            "atEarliest": _iso(earliest),
            "atLatest": _iso(latest),
            "marksAsOf": _iso(shown),
            "rows": rows,
        }

    # -- trading mode: the real live-arming checks over the fake's state ----------------
    def _mode_checks(
        self, to: str, confirm: str | None, account: str | None, fingerprint: str | None
    ) -> list[dict[str, Any]]:
        s = self.state
        idle = Idle(
            mode=TradingMode(s["mode"]),
            controls=TradingControls(paused=s["paused"], emergency_stop=s["emergencyStop"]["active"]),
            open_position_ids=tuple(str(p["id"]) for p in s["positions"]),
            working_order_ids=(),
        )
        mode = TradingMode(to)
        if not mode.uses_broker:
            checks = paper_restore_checks(idle)
        else:
            stopped = s["liveEmergencyStop"] if mode is TradingMode.LIVE else s["ibkrPaperEmergencyStop"]
            live = LiveConfirmation(
                AutomationSettings.model_validate(s["settings"]),
                RiskLimits.model_validate(s["riskLimits"]),
                confirm,
                account,
                fingerprint,
            )
            checks = broker_mode_checks(
                now=datetime.now(UTC),
                live_trading=s["liveTrading"],
                target=Target(mode, TradingControls(emergency_stop=stopped), s["gateway"]),
                leaving=idle,
                live=live if mode is TradingMode.LIVE else None,
            )
        return [{"name": c.name, "met": c.met, "detail": c.detail} for c in checks]

    def _mode_status(self) -> dict[str, Any]:
        s = self.state
        change = s["modeChange"] or {}
        served = gateway_mode(s["liveTrading"])
        return {
            "mode": s["mode"],
            "changedBy": change.get("by"),
            "changedAt": change.get("at"),
            "reason": change.get("reason"),
            "liveTradingEnabled": s["liveTrading"] == LIVE_TRADING_ENABLED,
            "gatewayMode": served.value if served is not None else None,
            "limitsFingerprint": limits_fingerprint(
                AutomationSettings.model_validate(s["settings"]), RiskLimits.model_validate(s["riskLimits"])
            ),
            "switches": [
                {"mode": m.value, "checks": self._mode_checks(m.value, None, None, None)}
                for m in TradingMode
                if m.value != s["mode"]
            ],
        }

    def _switch_mode(self, body: Any) -> tuple[int, Any]:
        s = self.state
        modes = [m.value for m in TradingMode]
        if not isinstance(body, dict) or body.get("mode") not in modes:
            return 422, {
                "statusCode": 422,
                "detail": [
                    {"loc": ["body", "mode"], "msg": f"must be one of {', '.join(modes)}", "type": "x"}
                ],
            }
        if body["mode"] == s["mode"]:
            return 200, {"mode": s["mode"], "changed": False, "unmet": [], "checks": []}
        checks = self._mode_checks(
            body["mode"], body.get("confirm"), body.get("account"), body.get("limitsFingerprint")
        )
        unmet = [f"{c['name']}: {c['detail']}" for c in checks if not c["met"]]
        if unmet:
            return 409, {
                "message": f"cannot switch to {body['mode']}: " + "; ".join(unmet),
                "unmet": unmet,
                "checks": checks,
            }
        if TradingMode(body["mode"]).uses_broker:
            s["paused"] = True  # ibkr_paper and live start paused with the active mode's settings
        s["mode"] = body["mode"]
        s["modeChange"] = {"by": "user:e2e", "at": _iso(NOW), "reason": body.get("reason")}
        return 200, {"mode": s["mode"], "changed": True, "unmet": [], "checks": checks}

    # -- backtests and risk limits --------------------------------------------------------
    def _start_backtest(self, body: Any) -> tuple[int, Any]:
        try:
            start, end = date.fromisoformat(body["start"]), date.fromisoformat(body["end"])
        except (TypeError, KeyError, ValueError):
            return 422, {"message": "start and end must be dates YYYY-MM-DD", "field": "start"}
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        sessions = [d for d in days if d.weekday() < 5]
        if not sessions:
            return 422, {"message": f"no NYSE session between {start} and {end}", "field": "start"}
        bt_id = f"bt-{len(self.state['backtests']) + 1}"
        self.state["backtests"][bt_id] = {"polls": 0, "total": len(sessions)}
        return 202, {"id": bt_id, "status": "RUNNING"}

    def _backtest_status(self, bt_id: str) -> dict[str, Any]:
        """GET /api/analytics/backtest/{id}: two more sessions per poll, then the outcome."""
        s, run = self.state, self.state["backtests"][bt_id]
        run["polls"] += 1
        total = run["total"]
        done = min(total, 2 * run["polls"])
        if s["backtestHold"]:
            done = min(total, 2)
        out: dict[str, Any] = {
            "id": bt_id,
            "status": "RUNNING",
            "daysTotal": total,
            "daysDone": done,
            "progress": done / total,
            "result": None,
            "error": None,
            "cause": None,
        }
        if done < total or s["backtestHold"]:
            return out
        outcome = s["backtestOutcome"]
        out["status"] = outcome
        if outcome == "SUCCEEDED":
            out["result"] = {
                "days": total,
                "trades": 17,
                "netPnlUsd": "1234.50",
                "totalReturn": 0.012345,
                "reportKey": f"backtests/{bt_id}/report.json",
            }
        else:
            out["daysDone"] = total - 1
            out["progress"] = (total - 1) / total
            out["error"] = "States.TaskFailed"
            out["cause"] = "a backtest day failed after retries"
            out["reason"] = "session 2025-03-12: no archived chain snapshots for 2025-03-12 (SPY)"
        return out

    def _set_risk_limits(self, body: Any) -> tuple[int, Any]:
        """POST /api/risk/limits: any subset, validated with the real `RiskLimits` model."""
        s = self.state
        if not isinstance(body, dict) or not body:
            return 422, {"message": "body must set at least one limit", "field": "body"}
        try:
            merged = RiskLimits.model_validate({**s["riskLimits"], **body})
        except ValidationError as err:
            detail = [
                {
                    "loc": ["body", *map(str, e["loc"])],
                    "field": ".".join(map(str, e["loc"])),
                    "msg": e["msg"],
                    "type": e["type"],
                    **_limits(e),
                }
                for e in err.errors()
            ]
            summary = "; ".join(f"{d['field']}: {d['msg']}" for d in detail)
            return 422, {"message": f"invalid request: {summary}", "detail": detail}
        s["riskLimits"] = merged.to_wire()
        return 200, {"mode": s["mode"], "riskLimits": s["riskLimits"]}

    # -- routes -------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        s = self.state
        if method == "GET" and path in s.get("verbatim", {}):  # a test's canned response
            return 200, s["verbatim"][path]
        if method == "GET" and path == "/api/health":
            return 200, s["health"]
        if method == "GET" and path == "/api/dashboard":
            keys = ("mode", "tradingState", "pnl", "equityCurve", "marketStatus", "recentSignals")
            out = {k: s[k] for k in keys if k in s}  # a test may drop fields
            return 200, {**out, "automation": s["settings"]}
        if method == "GET" and path == "/api/trading":
            keys = ("mode", "tradingState", "emergencyStop", "paused", "settings", "positions", "riskLimits")
            return 200, {k: s[k] for k in keys if k in s}
        if method == "POST" and path == "/api/trading/emergency-stop":
            s["tradingState"] = "HALTED"
            s["emergencyStop"] = {
                "active": True,
                "by": "user:e2e",
                "reason": body.get("reason"),
                "at": _iso(NOW),
            }
            return 200, {"tradingState": "HALTED", "emergencyStop": s["emergencyStop"]}
        if method == "POST" and path == "/api/trading/pause":
            s["paused"] = True
            return 200, {"paused": True}
        if method == "POST" and path == "/api/trading/resume":
            if s["emergencyStop"]["active"] and (body.get("mode") is None or body.get("confirm") != "RESUME"):
                field = "mode" if body.get("mode") is None else "confirm"  # as the real API
                return 422, {
                    "message": 'an emergency stop is set: send "mode" and "confirm": "RESUME"',
                    "field": field,
                }
            s["paused"] = False
            s["tradingState"] = "ACTIVE"
            s["emergencyStop"] = {"active": False, "by": None, "reason": None, "at": None}
            return 200, {"paused": False, "tradingState": "ACTIVE"}
        if method == "GET" and path == "/api/trading/mode":
            return 200, self._mode_status()
        if method == "POST" and path == "/api/trading/mode":
            return self._switch_mode(body)
        m = re.fullmatch(r"/api/positions/([^/]+)/close", path)
        if method == "POST" and m:
            before = len(s["positions"])
            s["positions"] = [p for p in s["positions"] if p["id"] != m.group(1)]
            return (
                (200, {"status": "closed", "exitPrice": "1.00", "realizedPnlUsd": "-50.00"})
                if len(s["positions"]) < before
                else (404, {"message": "no such position"})
            )
        if method == "POST" and path == "/api/automation/settings":
            if not isinstance(body, dict):
                return 422, {
                    "statusCode": 422,
                    "detail": [{"loc": ["body"], "msg": "must be an object", "type": "x"}],
                }
            try:
                merged = AutomationSettings.model_validate({**s["settings"], **body})
            except ValidationError as err:
                detail = [
                    {
                        "loc": ["body", *map(self._loc_name, e["loc"])],
                        "msg": e["msg"],
                        "type": e["type"],
                        **_limits(e),
                    }
                    for e in err.errors()
                ]
                return 422, {"statusCode": 422, "detail": detail}
            s["settings"] = merged.to_wire()
            return 200, s["settings"]
        if method == "GET" and path == "/api/strikes":
            return self._strikes(query)
        if method == "GET" and path == "/api/bars":
            symbol = query.get("symbol", ["SPY"])[0]
            start = {"SPY": 589.6, "QQQ": 500.2, "IWM": 205.3}.get(symbol, 1.2)
            return 200, {"symbol": symbol, "interval": "2m", "bars": _bars(start)}
        if method == "GET" and path == "/api/analytics":
            return 200, s["analytics"]
        if method == "POST" and path == "/api/risk/limits":
            return self._set_risk_limits(body)
        if method == "GET" and path == "/api/analytics/intraday":
            note = "no trading minute has run in paper in the 10 sessions to 2025-03-14"
            return 200, {"sessionDate": "2025-03-14", "marks": [], "fills": [], "note": note}
        if method == "GET" and path == "/api/analytics/backtest/options":
            return 200, {
                "sources": [{"name": "simulator", "description": "synthetic sessions"}],
                "scenarios": [{"name": "normal", "description": "an ordinary day"}],
                "defaultSource": "simulator",
                "defaultScenario": "normal",
            }
        if method == "GET" and path == "/api/analytics/backtests":
            return 200, {"runs": []}
        if method == "POST" and path == "/api/analytics/backtest":
            return self._start_backtest(body)
        m = re.fullmatch(r"/api/analytics/backtest/([^/]+)", path)
        if method == "GET" and m and m.group(1) in s["backtests"]:
            return 200, self._backtest_status(m.group(1))
        m = re.fullmatch(r"/api/analytics/optimization/([^/]+)", path)
        if method == "GET" and m:
            found = s["optimization"].get(m.group(1))
            return (200, found) if found else (404, {"message": f"strategy={m.group(1)!r} is unknown"})
        if method == "GET" and path == "/api/account":
            return 200, s["account"]
        if method == "GET" and path == "/api/audit":
            return 200, {"records": s["audit"]}
        if method == "POST" and path == "/api/reset":
            if body.get("confirm") != "RESET" or body.get("scope") not in {
                "positions",
                "signals",
                "analytics",
                "all",
            }:
                return 422, {
                    "statusCode": 422,
                    "detail": [{"loc": ["body", "confirm"], "msg": "bad", "type": "x"}],
                }
            deleted = {}
            if body["scope"] in ("signals", "all"):
                deleted.update(signals=len(s["recentSignals"]), riskDecisions=len(s["recentSignals"]))
                s["recentSignals"] = []
            if body["scope"] in ("positions", "all"):
                deleted["positions"] = len(s["positions"])
                s["positions"] = []
            return 200, {"scope": body["scope"], "deleted": deleted}
        return 404, {"message": f"no route {method} {path}"}


def make_handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _send(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def _api(self, method: str) -> None:
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                body = None
            auth = self.headers.get("Authorization")
            with api.lock:
                api.requests.append(
                    {
                        "method": method,
                        "path": url.path,
                        "query": url.query,
                        "auth": auth,
                        "body": copy.deepcopy(body),
                    }
                )
                if url.path != "/api/health" and auth != f"Bearer {TOKEN}":
                    status, out = 401, {"message": "Unauthorized"}
                else:
                    status, out = api.handle(method, url.path, parse_qs(url.query), body)
            self._send(status, json.dumps(out).encode(), "application/json")

        def do_POST(self) -> None:
            if self.path.startswith("/api/"):
                self._api("POST")
            else:
                self._send(405, b"", "text/plain")

        def do_GET(self) -> None:
            if self.path.startswith("/api/"):
                self._api("GET")
                return
            rel = urlsplit(self.path).path.lstrip("/") or "index.html"
            target = (api.dist / rel).resolve()
            if not target.is_file() or api.dist.resolve() not in target.parents:
                self._send(404, b"not found", "text/plain")
                return
            ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self._send(200, target.read_bytes(), ctype)

    return Handler


def serve(api: FakeApi) -> tuple[ThreadingHTTPServer, str]:
    """Starts the server on a free port of 127.0.0.1 in a daemon thread; returns it and its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(api))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
