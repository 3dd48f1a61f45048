"""`smart0dte order-bridge`: the gateway task's order bridge (queue -> IB Gateway, fills -> state store).

The container's entrypoint starts IB Gateway through IBC, waits for its API port, then execs this
command. Flags fall back to the environment:

    --ib-host     SMART0DTE_IB_HOST       (default 127.0.0.1)
    --ib-port     SMART0DTE_IB_PORT       live 4001, ibkr_paper 4002
    --client-id   SMART0DTE_IB_CLIENT_ID
    --account     SMART0DTE_IB_ACCOUNT    IB paper accounts start with DU or DF
    --mode        SMART0DTE_MODE          ibkr_paper or live (through bootstrap.aws.AwsConfig.from_env)

A port, account or mode that disagree is refused before anything connects (exit 2).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import replace
from datetime import datetime, time
from typing import Any

from smart0dte.adapters.clock import SystemClock
from smart0dte.bootstrap import aws, order_bridge
from smart0dte.bootstrap.runtime import runtime
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar
from smart0dte.domain.models import DomainError, TradingMode
from smart0dte.resources import ENV_IB_ACCOUNT, ENV_IB_CLIENT_ID, ENV_IB_HOST, ENV_IB_PORT, GATEWAY
from smart0dte.services.order_bridge import LoopTimings, run_order_bridge, stop_time

logger = logging.getLogger(__name__)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM (ECS stopping the task) and SIGINT set `stop`; the loop ends after its current step."""

    def handler(signum: int, _frame: object) -> None:
        logger.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _stop_at_arg(text: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        ts = None
    if ts is None or ts.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"--stop-at={text!r} must be an ISO 8601 time with an offset, e.g. 2025-03-14T16:10:00-04:00"
        )
    return ts


def _run(args: argparse.Namespace) -> int:
    settings = order_bridge.resolve_settings(args)
    clock = SystemClock()
    now = clock.now()
    today = now.astimezone(NEW_YORK).date()
    session = MarketCalendar().session(today)
    if session is None:
        if args.stop_at is None:
            raise DomainError(f"{today.isoformat()} is not an NYSE session; pass --stop-at to run anyway")
        session_start = datetime.combine(today, time(0), NEW_YORK)
        stop_at: datetime = args.stop_at
    else:
        session_start = datetime.combine(today, time(0), NEW_YORK)
        stop_at = stop_time(session.close_et, args.stop_at)
    config = replace(aws.AwsConfig.from_env(), mode=settings.mode)

    stop = threading.Event()
    stop_on_signals(stop)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logger.info(
        "gateway %s on %s:%d account %s until %s",
        settings.mode.value,
        settings.ib_host,
        settings.ib_port,
        settings.account,
        stop_at.isoformat(),
    )
    summary = run_order_bridge(
        connect=order_bridge.ib_connector(
            settings.ib_host, settings.ib_port, settings.client_id, settings.account
        ),
        store=aws.state_store(config),
        intents=order_bridge.command_receiver(config),
        clock=clock,
        sleep=order_bridge.ib_sleep(),
        port=settings.ib_port,
        session_start=session_start,
        stop_at=stop_at,
        stop=stop,
        timings=LoopTimings(heartbeat_every_s=GATEWAY.heartbeat_every_s),
        heartbeat_metric=aws.task_heartbeat(config, GATEWAY),
        notifications=runtime(settings.mode).notifications,
    )
    print(
        f"gateway stopped ({summary.stopped_by}): {len(summary.handled)} message(s), "
        f"{summary.fills_recorded} fill(s) recorded, {summary.connects} connect(s), "
        f"{summary.errors} error(s)",
        file=sys.stderr,
    )
    if summary.refused:
        print(f"error: {summary.refused}", file=sys.stderr)
        return 2
    return 0


def register(commands: Any) -> None:
    gw = commands.add_parser("order-bridge", help="run the IB order bridge of the gateway task")
    gw.add_argument("--ib-host", default=None, help=f"IB Gateway host (else {ENV_IB_HOST}, else 127.0.0.1)")
    gw.add_argument("--ib-port", default=None, help=f"4001 live, 4002 ibkr_paper (else {ENV_IB_PORT})")
    gw.add_argument("--client-id", default=None, help=f"IB API client id (else {ENV_IB_CLIENT_ID})")
    gw.add_argument("--account", default=None, help=f"IB account id (else {ENV_IB_ACCOUNT})")
    gw.add_argument(
        "--mode",
        choices=[m.value for m in TradingMode],
        default=None,
        help="ibkr_paper or live (else SMART0DTE_MODE)",
    )
    gw.add_argument(
        "--stop-at",
        type=_stop_at_arg,
        default=None,
        help="stop earlier than 15 minutes after today's close (ISO 8601 with offset)",
    )
    gw.set_defaults(run=_run)
