"""The feed command's collaborators: the Databento key and live client, and the trading_cycle starter."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final

from smart0dte.bootstrap import aws
from smart0dte.domain.models import DomainError, Underlying
from smart0dte.ports import Clock
from smart0dte.resources import ENV_DATABENTO_API_KEY

if TYPE_CHECKING:
    from smart0dte.adapters.databento.live import LiveMarketFeed

TRADING_CYCLE: Final = "trading_cycle"


def databento_key(environ: Mapping[str, str] | None = None) -> str:
    key = (os.environ if environ is None else environ).get(ENV_DATABENTO_API_KEY, "")
    if not key.strip():
        raise DomainError(f"{ENV_DATABENTO_API_KEY} is not set: the Databento API key is required")
    return key


def trading_cycle_arn(sfn: Any, prefix: str, environ: Mapping[str, str]) -> str:
    """The trading_cycle ARN from the environment, else the state machine's of that physical name."""
    try:
        return aws.state_machine_arn(sfn, prefix, TRADING_CYCLE, environ)
    except LookupError as exc:
        raise DomainError(str(exc)) from None


def trading_cycle_starter(config: aws.AwsConfig) -> Callable[[datetime], None]:
    """Starts one trading_cycle execution per closed minute of `config.mode`, never twice."""
    from smart0dte.adapters.aws.stepfunctions import cycle_starter

    sfn = aws.aws_client(config, "stepfunctions")
    return cycle_starter(sfn, trading_cycle_arn(sfn, config.prefix, os.environ), config.mode)


def databento_live_feed(
    key: str,
    underlyings: tuple[Underlying, ...],
    put: Callable[[Any], None],
    clock: Clock,
    session_date: date,
) -> LiveMarketFeed:
    """Today's 0DTE chains and bars of `underlyings` from Databento's live API (the `gateway` extra)."""
    from smart0dte.adapters.databento.live import FeedConfig, LiveMarketFeed, databento_client_factory

    return LiveMarketFeed(
        FeedConfig(underlyings=underlyings),
        put,
        clock=clock,
        session_date=session_date,
        client_factory=databento_client_factory(key),
    )
