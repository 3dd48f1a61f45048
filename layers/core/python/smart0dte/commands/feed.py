"""`smart0dte feed`: the gateway task's market-data half (Databento -> market table -> trading_cycle).

Streams today's 0DTE chains and SPY/QQQ/IWM through `LiveMarketFeed`, writes each closed minute's
bars and chain snapshots to the market table and starts the trading_cycle Express state machine
with {"mode", "ts"} for each closed minute from the open + 1 minute to the close
(`services.feed`). Stops on SIGTERM/SIGINT, at --stop-at, and at the latest 15 minutes
after the close.

Environment (read by `bootstrap.feed`): DATABENTO_API_KEY (required; never logged), the
trading_cycle ARN (else looked up by name), and the variables of `bootstrap.aws.AwsConfig.from_env`.

The mode is --mode, else the ACTIVE mode the store holds (SMART0DTE_MODE is not read: the feed
follows the switch). Exit 2 (refused) on a day without an NYSE session or 0DTE expiry, or without
the API key; exit 1 when the feed gave up reconnecting (so the task can be run again).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any, Final

from smart0dte.adapters.clock import SystemClock
from smart0dte.bootstrap import aws
from smart0dte.bootstrap import feed as feed_parts
from smart0dte.commands.order_bridge import stop_on_signals
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar, SessionTimes
from smart0dte.domain.models import DomainError, TradingMode, Underlying
from smart0dte.resources import FEED
from smart0dte.services.feed import DEFAULT_GRACE_S, Feed
from smart0dte.services.order_bridge import stop_time

WAIT_STEP_S: Final = 1.0

logger = logging.getLogger(__name__)


def resolve_mode(requested: str | None, config: aws.AwsConfig) -> TradingMode:
    """--mode, else the ACTIVE mode in the store (paper until someone switches)."""
    if requested:
        return TradingMode(requested)
    return aws.state_store(config).get_active_mode().mode


def session_or_refuse(calendar: MarketCalendar, now: datetime) -> tuple[SessionTimes, tuple[Underlying, ...]]:
    """Today's session and the underlyings with a 0DTE expiry today; DomainError when there are none."""
    today = now.astimezone(NEW_YORK).date()
    session = calendar.session(today)
    if session is None:
        raise DomainError(f"{today.isoformat()} is not an NYSE session: nothing to stream")
    underlyings = tuple(u for u in Underlying.tradable() if calendar.has_0dte_expiry(u, today))
    if not underlyings:
        raise DomainError(f"{today.isoformat()}: no 0DTE expiry of SPY, QQQ or IWM: nothing to trade")
    return session, underlyings


def _stop_at_arg(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--stop-at={text!r} must be HH:MM (New York time)") from None


def _grace_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 60:
        raise argparse.ArgumentTypeError(f"--grace-s={text!r} must be a number of seconds > 0 and < 60")
    return value


def _run(args: argparse.Namespace) -> int:
    key = feed_parts.databento_key()
    clock = SystemClock()
    now = clock.now()
    session, underlyings = session_or_refuse(MarketCalendar(), now)
    requested = (
        None if args.stop_at is None else datetime.combine(session.session_date, args.stop_at, NEW_YORK)
    )
    stop_at = stop_time(session.close_et, requested)
    if now >= stop_at:
        print(f"feed: already past the stop time {stop_at.isoformat()}; nothing to do", file=sys.stderr)
        return 0

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    base = aws.AwsConfig.from_env()
    mode = resolve_mode(args.mode, base)
    config = replace(base, mode=mode)
    feed = Feed(
        aws.state_store(config),
        feed_parts.trading_cycle_starter(config),
        clock,
        session,
        underlyings,
        grace_s=args.grace_s,
        heartbeat=aws.task_heartbeat(config, FEED),
        heartbeat_every=timedelta(seconds=FEED.heartbeat_every_s),
    )
    source = feed_parts.databento_live_feed(key, underlyings, feed.put, clock, session.session_date)
    stop = threading.Event()
    stop_on_signals(stop)
    logger.info(
        "feed %s for %s (%s) until %s; trading cycles %s to %s",
        mode.value,
        session.session_date.isoformat(),
        ", ".join(u.value for u in underlyings),
        stop_at.isoformat(),
        feed.first_minute_end.isoformat(),
        session.close_et.isoformat(),
    )
    feed_thread = threading.Thread(target=feed.run, args=(stop, stop_at), name="feed", daemon=True)
    feed_thread.start()
    source.start()
    try:
        while not stop.wait(WAIT_STEP_S):
            if clock.now() >= stop_at or feed.fatal is not None or not feed_thread.is_alive():
                break
    finally:
        source.stop()
        stop.set()
        feed_thread.join(30.0)
    stats = feed.stats
    print(
        f"feed stopped: {stats.bars_written} bar(s), {stats.snapshots_written} snapshot(s) written, "
        f"{stats.cycles_started} trading cycle(s) started ({stats.partial_cycles} partial), "
        f"{stats.skipped_write_failure + stats.skipped_no_data} minute(s) skipped, "
        f"{stats.write_failures} write failure(s)",
        file=sys.stderr,
    )
    if feed.fatal is not None:
        print(f"feed: gave up reconnecting: {feed.fatal}", file=sys.stderr)
        return 1
    return 0


def register(commands: Any) -> None:
    fd = commands.add_parser(
        "feed", help="run the market-data half of the gateway task (Databento -> market table -> cycles)"
    )
    fd.add_argument(
        "--mode", choices=[m.value for m in TradingMode], default=None, help="else the store's active mode"
    )
    fd.add_argument(
        "--stop-at",
        type=_stop_at_arg,
        default=None,
        help="HH:MM New York: stop earlier than 15 minutes after today's close",
    )
    fd.add_argument(
        "--grace-s",
        type=_grace_arg,
        default=DEFAULT_GRACE_S,
        help=f"seconds after a minute end to start its cycle on missing data (default {DEFAULT_GRACE_S:g})",
    )
    fd.set_defaults(run=_run)
