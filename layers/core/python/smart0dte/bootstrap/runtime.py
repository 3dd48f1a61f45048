"""The services the Lambda handlers call, built from the environment CDK sets (see `wiring` and
cdk/smart0dte_infra/access.py). Importing this module touches no AWS; each adapter is built when a
service first needs it, once per warm Lambda container and trading mode.

Beyond `wiring`'s variables, these are read where a service needs them:

    SMART0DTE_TOPIC_ALERTS_ARN              the alert topic (else looked up by name: local only)
    SMART0DTE_SCHEDULE_GROUP                the stage's schedule group (default: the prefix)
    SMART0DTE_SESSION_SCHEDULER_ROLE_ARN    the role one-time schedules start workflows with
    SMART0DTE_STATE_MACHINE_<NAME>_ARN      flatten and post_close (else looked up by name)

The trading mode comes from the event; pre_market's scheduled event carries none and takes the
active mode (`active_mode`), which it passes on to the day's other workflows. Live builds the live
records' stores and, only when an intent is sent, the order queue.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Final

from smart0dte.adapters.clock import SystemClock
from smart0dte.bootstrap import aws as wiring
from smart0dte.bootstrap import files
from smart0dte.domain.models import TradingMode
from smart0dte.domain.strategy_signals import ProbabilityFn
from smart0dte.ports import Clock, Notifier, ObjectStore, OrderQueue, Scheduler
from smart0dte.ports.history import HistoricalMarketData
from smart0dte.resources import (
    ALERT_TOPIC,
    ARCHIVE_BUCKET,
    MODELS_BUCKET,
    REPORTS_BUCKET,
    STATE_MACHINES,
)
from smart0dte.services.session import SessionDesk

ENV_TOPIC_ALERTS_ARN: Final = "SMART0DTE_TOPIC_ALERTS_ARN"
ENV_SCHEDULE_GROUP: Final = "SMART0DTE_SCHEDULE_GROUP"
ENV_SCHEDULER_ROLE_ARN: Final = "SMART0DTE_SESSION_SCHEDULER_ROLE_ARN"
SESSION_SCHEDULE_TARGETS: Final = ("flatten", "post_close")


def state_machine_arn_env(name: str) -> str:
    return f"SMART0DTE_STATE_MACHINE_{name.upper()}_ARN"


_MODELS: dict[tuple[str, str], ProbabilityFn] = {}
"""Loaded models by (bucket, version): one load per warm container."""


@dataclass
class Runtime:
    """Adapters for one trading mode, built lazily from `config` and `environ`."""

    config: wiring.AwsConfig
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, mode: TradingMode | None = None) -> Runtime:
        config = wiring.AwsConfig.from_env()
        return cls(config if mode is None else replace(config, mode=mode))

    @property
    def mode(self) -> TradingMode:
        return self.config.mode

    @property
    def clock(self) -> Clock:
        return SystemClock()

    @staticmethod
    def open_archive(root: Path) -> HistoricalMarketData:
        """The archive's days once copied under `root` (backtest_day, learning)."""
        return files.dbn_folder(root)

    @cached_property
    def state(self) -> Any:
        return wiring.state_store(self.config)

    @cached_property
    def sessions(self) -> Any:
        from smart0dte.adapters.aws.dynamodb.session import DynamoSessionStore

        c = self.config
        return DynamoSessionStore(c.prefix, c.mode, region=c.region, endpoint_url=c.endpoint_url)

    @cached_property
    def market(self) -> Any:
        from smart0dte.adapters.aws.dynamodb.market import DynamoMarketReader

        c = self.config
        return DynamoMarketReader(c.prefix, c.mode, region=c.region, endpoint_url=c.endpoint_url)

    @cached_property
    def _boto3(self) -> Any:
        """One boto3 session for this runtime's clients: service models load once per container."""
        import boto3  # type: ignore[import-untyped]

        return boto3.session.Session(region_name=self.config.region)

    def client(self, service: str) -> Any:
        """A client like `wiring.aws_client`'s, from this runtime's session (cached per service)."""
        cached = self._clients.get(service)
        if cached is None:
            cached = self._boto3.client(service, endpoint_url=self.config.endpoint_url)
            self._clients[service] = cached
        return cached

    def bucket(self, logical: str) -> ObjectStore:
        spec = {b.logical_name: b for b in (ARCHIVE_BUCKET, MODELS_BUCKET, REPORTS_BUCKET)}[logical]
        return wiring.object_store(self.config, spec, self.client("s3"))

    def order_queue(self) -> OrderQueue:
        if self.config.mode is not TradingMode.LIVE:
            raise ValueError("only live mode sends intents to the order queue")
        return wiring.order_queue(self.config, self.client("sqs"))

    @cached_property
    def notifier(self) -> Notifier:
        from smart0dte.adapters.aws.sns import SnsNotifier

        client = self.client("sns")
        arn = self.environ.get(ENV_TOPIC_ALERTS_ARN)
        if not arn:
            name = ALERT_TOPIC.physical_name(self.config.prefix)
            topics = [t["TopicArn"] for t in client.list_topics().get("Topics", [])]
            found = [t for t in topics if t.rsplit(":", 1)[-1] == name]
            if not found:
                raise LookupError(f"{ENV_TOPIC_ALERTS_ARN} is not set and no topic is named {name}")
            arn = found[0]
        return SnsNotifier(arn, client)

    @cached_property
    def scheduler(self) -> Scheduler:
        from smart0dte.adapters.aws.scheduler import EventBridgeScheduler

        targets: dict[str, str] = {}
        sfn: Any = None
        for name in SESSION_SCHEDULE_TARGETS:
            arn = self.environ.get(state_machine_arn_env(name))
            if not arn:
                sfn = sfn or self.client("stepfunctions")
                spec = next(s for s in STATE_MACHINES if s.name == name)
                machines = sfn.list_state_machines().get("stateMachines", [])
                arn = next(
                    (
                        m["stateMachineArn"]
                        for m in machines
                        if m["name"] == spec.physical_name(self.config.prefix)
                    ),
                    "",
                )
                if not arn:
                    raise LookupError(
                        f"{state_machine_arn_env(name)} is not set and no state machine is named "
                        f"{spec.physical_name(self.config.prefix)}"
                    )
            targets[name] = arn
        group = self.environ.get(ENV_SCHEDULE_GROUP) or self.config.prefix
        role = (
            self.environ.get(ENV_SCHEDULER_ROLE_ARN)
            or f"arn:aws:iam::000000000000:role/{self.config.prefix}-local"
        )
        return EventBridgeScheduler(self.client("scheduler"), group, role, targets)

    @cached_property
    def idempotency(self) -> Any:
        return wiring.idempotency_persistence(self.config, self.client("dynamodb"))

    def model_fn(self, version: str) -> ProbabilityFn:
        bucket = self.config.bucket_name(MODELS_BUCKET)
        cached = _MODELS.get((bucket, version))
        if cached is None:
            from smart0dte.ml.registry import ModelRegistry

            cached = ModelRegistry(self.bucket("models")).load(version).model().probability_fn()
            _MODELS[(bucket, version)] = cached
        return cached

    def promoted_version(self) -> str | None:
        from smart0dte.ml.registry import ModelRegistry

        return ModelRegistry(self.bucket("models")).promoted_version()

    def desk(self) -> SessionDesk:
        return SessionDesk(
            mode=self.mode,
            state=self.state,
            sessions=self.sessions,
            market=self.market,
            queue=self.order_queue if self.mode is TradingMode.LIVE else None,
            model_fn=self.model_fn,
        )


_RUNTIMES: dict[TradingMode, Runtime] = {}


def active_mode() -> TradingMode:
    """The mode the system trades in now (paper until `POST /api/trading/mode` switches it)."""
    mode: TradingMode = runtime(TradingMode.PAPER).state.get_active_mode().mode
    return mode


def forget_runtimes() -> None:
    """Drop the built runtimes: the environment they were built from changed (the embedded AWS
    started or stopped in this process; a Lambda container's environment never changes)."""
    _RUNTIMES.clear()


def runtime(mode: TradingMode) -> Runtime:
    """The runtime of `mode` from the environment, built once per warm container."""
    found = _RUNTIMES.get(mode)
    if found is None:
        found = Runtime.from_env(mode)
        _RUNTIMES[mode] = found
    return found
