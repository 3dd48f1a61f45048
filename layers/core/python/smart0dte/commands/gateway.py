"""`smart0dte gateway`: the gateway task's order bridge (queue -> IB Gateway, fills -> state store).

The container's entrypoint starts IB Gateway through IBC, waits for its API port, then execs this
command. Flags fall back to the environment:

    --ib-host     SMART0DTE_IB_HOST       (default 127.0.0.1)
    --ib-port     SMART0DTE_IB_PORT       live 4001, paper 4002
    --client-id   SMART0DTE_IB_CLIENT_ID
    --account     SMART0DTE_IB_ACCOUNT    paper accounts start with DU
    --mode        SMART0DTE_MODE          (through wiring.AwsConfig.from_env)

A port, account or mode that disagree is refused before anything connects (exit 2).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any, Final

from smart0dte.bootstrap import aws as wiring
from smart0dte.domain.calendar import NEW_YORK, MarketCalendar
from smart0dte.domain.models import DomainError, TradingMode
from smart0dte.ports import (
    LIVE_GATEWAY_PORT,
    PAPER_ACCOUNT_PREFIX,
    PAPER_GATEWAY_PORT,
    BrokerConnection,
    LiveBroker,
)
from smart0dte.resources import ORDER_INTENT_QUEUE
from smart0dte.services.order_bridge import run_gateway, stop_time

if TYPE_CHECKING:
    from smart0dte.adapters.aws.sqs import SqsIntentReceiver

ENV_IB_HOST: Final = "SMART0DTE_IB_HOST"
ENV_IB_PORT: Final = "SMART0DTE_IB_PORT"
ENV_IB_CLIENT_ID: Final = "SMART0DTE_IB_CLIENT_ID"
ENV_IB_ACCOUNT: Final = "SMART0DTE_IB_ACCOUNT"
DEFAULT_IB_HOST: Final = "127.0.0.1"
CONNECT_TIMEOUT_S: Final = 15.0
PORT_OF_MODE: Final = {TradingMode.LIVE: LIVE_GATEWAY_PORT, TradingMode.PAPER: PAPER_GATEWAY_PORT}

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GatewayArgs:
    """The command's settings after the flags, the environment and the checks."""

    ib_host: str
    ib_port: int
    client_id: int
    account: str
    mode: TradingMode


def _int(flag: str, env: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DomainError(f"{flag}={text!r} (or {env}) must be an integer") from None


def resolve_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> GatewayArgs:
    """Flags, else environment; raises DomainError naming the field that is missing or disagrees."""
    env = dict(os.environ if environ is None else environ)

    def value(flag: str, attr: str, name: str, default: str | None = None) -> str:
        given = getattr(args, attr)
        text = str(given) if given is not None else env.get(name) or default
        if not text:
            raise DomainError(f"{flag} (or {name}) is required")
        return text

    mode = TradingMode(args.mode) if args.mode else wiring.AwsConfig.from_env(env).mode
    resolved = GatewayArgs(
        ib_host=value("--ib-host", "ib_host", ENV_IB_HOST, DEFAULT_IB_HOST),
        ib_port=_int("--ib-port", ENV_IB_PORT, value("--ib-port", "ib_port", ENV_IB_PORT)),
        client_id=_int("--client-id", ENV_IB_CLIENT_ID, value("--client-id", "client_id", ENV_IB_CLIENT_ID)),
        account=value("--account", "account", ENV_IB_ACCOUNT),
        mode=mode,
    )
    check_consistent(resolved)
    return resolved


def check_consistent(args: GatewayArgs) -> None:
    """Live trades on 4001 with a U account, paper on 4002 with a DU account; anything else is refused."""
    expected_port = PORT_OF_MODE[args.mode]
    if args.ib_port != expected_port:
        raise DomainError(
            f"--ib-port={args.ib_port} disagrees with --mode={args.mode.value}: "
            f"{args.mode.value} IB Gateway listens on {expected_port}"
        )
    is_paper_account = args.account.startswith(PAPER_ACCOUNT_PREFIX)
    if is_paper_account != (args.mode is TradingMode.PAPER):
        kind = "a paper" if is_paper_account else "a live"
        raise DomainError(
            f"--account={args.account} is {kind} account (paper ids start with {PAPER_ACCOUNT_PREFIX}) "
            f"but --mode={args.mode.value}"
        )


class IbConnection:
    """BrokerConnection over an ib_async `IB` and the IbkrBroker on it."""

    def __init__(self, ib: Any, broker: LiveBroker) -> None:
        self._ib = ib
        self._broker = broker

    @property
    def broker(self) -> LiveBroker:
        return self._broker

    def is_connected(self) -> bool:
        """Runs ib_async's event loop briefly (order and connection events), then asks IB."""
        self._ib.sleep(0)
        return bool(self._ib.isConnected())

    def close(self) -> None:
        self._ib.disconnect()


def ib_connector(settings: GatewayArgs) -> Any:
    """A connect function for run_gateway; imports ib_async (the `gateway` extra) only when called."""

    def connect() -> BrokerConnection:
        from smart0dte.adapters.ibkr.broker import IbkrBroker, connect_ib

        ib = connect_ib(settings.ib_host, settings.ib_port, settings.client_id, CONNECT_TIMEOUT_S)
        return IbConnection(ib, IbkrBroker(ib, settings.account))

    return connect


def intent_receiver(config: wiring.AwsConfig) -> SqsIntentReceiver:
    from smart0dte.adapters.aws.sqs import SqsIntentReceiver

    sqs = wiring.aws_client(config, "sqs")
    url = (
        config.order_queue_url
        or sqs.get_queue_url(QueueName=ORDER_INTENT_QUEUE.physical_name(config.prefix))["QueueUrl"]
    )
    return SqsIntentReceiver(str(url), sqs)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM (ECS stopping the task) and SIGINT set `stop`; the loop ends after its current step."""

    def handler(signum: int, _frame: object) -> None:
        logger.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class _UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


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
    settings = resolve_args(args)
    clock = _UtcClock()
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
    config = replace(wiring.AwsConfig.from_env(), mode=settings.mode)
    from ib_async import util  # the `gateway` extra; util.sleep keeps ib_async's event loop running

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
    summary = run_gateway(
        connect=ib_connector(settings),
        store=wiring.state_store(config),
        intents=intent_receiver(config),
        clock=clock,
        sleep=util.sleep,
        port=settings.ib_port,
        session_start=session_start,
        stop_at=stop_at,
        stop=stop,
    )
    print(
        f"gateway stopped ({summary.stopped_by}): {len(summary.handled)} message(s), "
        f"{summary.fills_recorded} fill(s) recorded, {summary.connects} connect(s), "
        f"{summary.errors} error(s)",
        file=sys.stderr,
    )
    return 0


def register(commands: Any) -> None:
    gw = commands.add_parser("gateway", help="run the IB order bridge of the gateway task")
    gw.add_argument("--ib-host", default=None, help=f"IB Gateway host (else {ENV_IB_HOST}, else 127.0.0.1)")
    gw.add_argument("--ib-port", default=None, help=f"4001 live, 4002 paper (else {ENV_IB_PORT})")
    gw.add_argument("--client-id", default=None, help=f"IB API client id (else {ENV_IB_CLIENT_ID})")
    gw.add_argument("--account", default=None, help=f"IB account id (else {ENV_IB_ACCOUNT})")
    gw.add_argument(
        "--mode", choices=[m.value for m in TradingMode], default=None, help="else SMART0DTE_MODE"
    )
    gw.add_argument(
        "--stop-at",
        type=_stop_at_arg,
        default=None,
        help="stop earlier than 15 minutes after today's close (ISO 8601 with offset)",
    )
    gw.set_defaults(run=_run)
