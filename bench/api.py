"""API benchmark: GET /api/dashboard with a year of trades in the store.

Run: .venv/bin/python bench/api.py [--days N] [--trades-per-day N] [--requests N] [--json]

Seeds an in-process moto DynamoDB (tables from resources.py) with `--days` sessions (252 by
default) of closed round trips through the real store (`open_position` + `close_position`, so
counters and audit records are written as in production), two open positions, today's signals
with risk decisions and an SPY chain snapshot. Then it times GET /api/dashboard:

- through the local server over HTTP on 127.0.0.1 with a real token (what the dashboard sees
  locally: token check, API Gateway v2 event, the Lambda handler, JSON) — the target
  (p95 <= 50 ms);
- through the handler alone (the event built once), for the share the HTTP layer adds;
- and, without a target of their own, the page's two other calls: the equity curve
  (/api/analytics?timeframe=3m, every closed trade of three months) and /api/health.

The first requests warm up (connection, pynamodb models) and are not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

TARGET_P95_S = 0.050
ANALYTICS_PATH = "/api/analytics?timeframe=3m"
"""The dashboard page draws its equity curve from this call (every closed trade of 3 months)."""
WARMUP = 20
PREFIX = "smart0dte-bench"
REGION = "us-east-1"


def _seed(store: Any, days: int, per_day: int, now: datetime) -> int:
    from smart0dte.domain.calendar import MarketCalendar
    from smart0dte.domain.models import OptionContract, OptionRight, Position, TradingMode

    calendar = MarketCalendar()
    sessions: list[date] = []
    day = now.date()
    while len(sessions) < days:
        day = calendar.previous_session(day)
        sessions.append(day)
    strategies = ("momentum_breakout", "mean_reversion", "gap_fill", "vix_spike")
    count = 0
    for i, session_date in enumerate(sessions):
        times = calendar.session(session_date)
        assert times is not None
        for k in range(per_day):
            opened = times.open_et + timedelta(minutes=30 + 40 * k)
            contract = OptionContract(root="SPY", expiry=session_date, right=OptionRight.CALL, strike=560 + k)
            position = Position(
                position_id=f"p-{session_date.isoformat()}-{k}",
                mode=TradingMode.PAPER,
                contract=contract,
                quantity=2,
                entry_price=Decimal("1.25"),
                opened_at=opened,
                strategy=strategies[(i + k) % len(strategies)],
            )
            store.open_position(position, "system:bench", "entry")
            exit_price = Decimal("1.60") if (i + k) % 3 else Decimal("0.95")
            store.close_position(
                position.position_id, exit_price, opened + timedelta(minutes=20), "target", "system:bench"
            )
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=252)
    parser.add_argument("--trades-per-day", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    import boto3  # type: ignore[import-untyped]
    from moto import mock_aws

    from smart0dte.adapters.aws.dynamodb import DynamoState
    from smart0dte.adapters.aws.provisioning import provision
    from smart0dte.domain.models import TradingMode
    from smart0dte.local import moto_partitions
    from smart0dte.local.http_server import LambdaContext, api_event, serve
    from smart0dte.services.api import ApiDeps

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    from tests.integration.api.conftest import T0, FixedClock, seed

    moto_partitions.install()  # as the embedded AWS of `smart0dte demo` does
    with mock_aws():
        provision(PREFIX, boto3.session.Session(region_name=REGION))
        store = DynamoState(PREFIX, TradingMode.PAPER, region=REGION)
        started = time.perf_counter()
        seed(store)  # today's settings, positions, orders, signals, bars, chain
        trades = _seed(store, args.days, args.trades_per_day, T0)
        seeded_s = time.perf_counter() - started
        server = serve(0, None, deps=ApiDeps(store_factory=lambda: store, clock=FixedClock(T0)))
        try:
            token = server.issue_token("bench", ("read",))

            def get(path: str) -> Callable[[], None]:
                def over_http() -> None:
                    req = urllib.request.Request(
                        server.url + path, headers={"Authorization": f"Bearer {token}"}
                    )
                    with urllib.request.urlopen(req, timeout=300) as resp:
                        if resp.status != 200:
                            raise RuntimeError(f"GET {path} -> {resp.status}")
                        resp.read()

                return over_http

            event = api_event("GET", "/api/dashboard", {"host": "127.0.0.1"}, b"", server.auth.verify(token))

            def in_handler() -> None:
                result = server.api_handler(event, LambdaContext())
                if result["statusCode"] != 200:
                    raise RuntimeError(f"handler -> {result['statusCode']}: {result.get('body')}")

            figures: dict[str, dict[str, float]] = {}
            timed = (
                ("http", get("/api/dashboard")),
                ("handler", in_handler),
                ("analytics", get(ANALYTICS_PATH)),
                ("health", get("/api/health")),
            )
            for name, fn in timed:
                # The equity curve reads every closed trade of 3 months: a few calls show its cost.
                count = min(args.requests, 10) if name == "analytics" else args.requests
                for _ in range(WARMUP if count == args.requests else 1):
                    fn()
                samples = []
                for _ in range(count):
                    t = time.perf_counter()
                    fn()
                    samples.append(time.perf_counter() - t)
                arr = np.asarray(samples)
                figures[name] = {
                    "p50_ms": float(np.percentile(arr, 50) * 1e3),
                    "p95_ms": float(np.percentile(arr, 95) * 1e3),
                    "p99_ms": float(np.percentile(arr, 99) * 1e3),
                }
        finally:
            server.close()

    result = {
        "trades_in_store": trades,
        "sessions": args.days,
        "seed_s": seeded_s,
        "requests": args.requests,
        "target_p95_ms": TARGET_P95_S * 1e3,
        "dashboard_http": figures["http"],
        "dashboard_handler": figures["handler"],
        "ratio_p95_to_target": figures["http"]["p95_ms"] / (TARGET_P95_S * 1e3),
        "analytics_http": figures["analytics"],
        "health_http": figures["health"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"store: {trades} closed trades over {args.days} sessions (seeded in {seeded_s:.1f} s)")
        print(
            f"{'GET /api/dashboard':<28}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'target p95':>12}{'ratio':>8}"
        )
        for name, label in (("http", "local server (HTTP)"), ("handler", "handler only")):
            f = figures[name]
            ratio = f["p95_ms"] / (TARGET_P95_S * 1e3)
            cells = f"{f['p50_ms']:>9.1f}{f['p95_ms']:>9.1f}{f['p99_ms']:>9.1f}"
            print(f"  {label:<26}{cells}{TARGET_P95_S * 1e3:>12.1f}{ratio:>8.2f}")
        print("the dashboard page's other calls (no target of their own), over HTTP:")
        for name, label in (("analytics", ANALYTICS_PATH), ("health", "/api/health")):
            f = figures[name]
            print(f"  {label:<26}{f['p50_ms']:>9.1f}{f['p95_ms']:>9.1f}{f['p99_ms']:>9.1f}")
    return 0 if figures["http"]["p95_ms"] <= TARGET_P95_S * 1e3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
