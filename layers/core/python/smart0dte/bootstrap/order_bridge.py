"""The order bridge's settings (flags, else the environment) and collaborators: IB Gateway through
ib_async (the `gateway` extra, imported only when called) and the order-intent queue."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from smart0dte.bootstrap import aws
from smart0dte.domain.models import DomainError, TradingMode
from smart0dte.ports import GATEWAY_PORTS, account_refusal
from smart0dte.resources import ENV_IB_ACCOUNT, ENV_IB_CLIENT_ID, ENV_IB_HOST, ENV_IB_PORT

if TYPE_CHECKING:
    from smart0dte.adapters.aws.sqs import SqsCommandReceiver
    from smart0dte.ports import BrokerConnection

CONNECT_TIMEOUT_S: Final = 15.0
DEFAULT_IB_HOST: Final = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """The order-bridge command's settings after the flags, the environment and the checks."""

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


def resolve_settings(args: argparse.Namespace, environ: dict[str, str] | None = None) -> BridgeSettings:
    """Flags, else environment; raises DomainError naming the field that is missing or disagrees."""
    env = dict(os.environ if environ is None else environ)

    def value(flag: str, attr: str, name: str, default: str | None = None) -> str:
        given = getattr(args, attr)
        text = str(given) if given is not None else env.get(name) or default
        if not text:
            raise DomainError(f"{flag} (or {name}) is required")
        return text

    mode = TradingMode(args.mode) if args.mode else aws.AwsConfig.from_env(env).mode
    resolved = BridgeSettings(
        ib_host=value("--ib-host", "ib_host", ENV_IB_HOST, DEFAULT_IB_HOST),
        ib_port=_int("--ib-port", ENV_IB_PORT, value("--ib-port", "ib_port", ENV_IB_PORT)),
        client_id=_int("--client-id", ENV_IB_CLIENT_ID, value("--client-id", "client_id", ENV_IB_CLIENT_ID)),
        account=value("--account", "account", ENV_IB_ACCOUNT),
        mode=mode,
    )
    check_consistent(resolved)
    return resolved


def check_consistent(args: BridgeSettings) -> None:
    """ibkr_paper trades on 4002 with an IB paper account (DU..., DF...), live on 4001 with a
    real-money account; paper (the simulated venue) has no bridge. Anything else is refused."""
    expected_port = GATEWAY_PORTS.get(args.mode)
    if expected_port is None:
        brokered = " or ".join(m.value for m in GATEWAY_PORTS)
        raise DomainError(
            f"--mode={args.mode.value} trades on the simulated venue and needs no order bridge: "
            f"use --mode {brokered}"
        )
    if args.ib_port != expected_port:
        raise DomainError(
            f"--ib-port={args.ib_port} disagrees with --mode={args.mode.value}: "
            f"{args.mode.value} IB Gateway listens on {expected_port}"
        )
    refusal = account_refusal(args.mode, args.account)
    if refusal is not None:
        raise DomainError(f"--account={args.account} disagrees with --mode={args.mode.value}: {refusal}")


def ib_connector(host: str, port: int, client_id: int, account: str) -> Callable[[], BrokerConnection]:
    """A connect function for the bridge's loop: each call opens a new IB API session."""

    def connect() -> BrokerConnection:
        from smart0dte.adapters.ibkr.broker import IbkrBroker, connect_ib
        from smart0dte.adapters.ibkr.connection import IbConnection

        ib = connect_ib(host, port, client_id, CONNECT_TIMEOUT_S)
        return IbConnection(ib, IbkrBroker(ib, account))

    return connect


def ib_sleep() -> Callable[[float], None]:
    """ib_async's sleep, which keeps its event loop (order and connection events) running."""
    from ib_async import util

    def sleep(seconds: float) -> None:
        util.sleep(seconds)

    return sleep


def command_receiver(config: aws.AwsConfig) -> SqsCommandReceiver:
    from smart0dte.adapters.aws.sqs import SqsCommandReceiver

    sqs = aws.aws_client(config, "sqs")
    return SqsCommandReceiver(aws.order_queue_url(config, sqs), sqs)
