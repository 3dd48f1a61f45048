"""The services the Lambda handlers call, built from the environment CDK sets (see `aws` and
cdk/smart0dte_infra/access.py). Importing this module touches no AWS; each adapter is built when a
service first needs it, once per warm Lambda container and trading mode.

Beyond `aws`'s variables, these are read where a service needs them (names in `resources`): the
alert topic's ARN (else looked up by name: local only), the stage's schedule group (default: the
prefix), the role one-time schedules start workflows with, and the flatten and post_close state
machines' ARNs (else looked up by name).

The trading mode comes from the event; pre_market's scheduled event carries none and takes the
active mode (`active_mode`), which it passes on to the day's other workflows. Each mode builds its
own records' stores; a broker-backed mode (ibkr_paper, live) builds the order queue only when an
intent is sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from smart0dte.adapters.clock import SystemClock
from smart0dte.bootstrap import aws, files
from smart0dte.domain.models import TradingMode
from smart0dte.ports import Clock, HistoricalMarketData, Notifier, ObjectStore, OrderQueue, Scheduler
from smart0dte.resources import (
    ALERT_TOPIC,
    ARCHIVE_BUCKET,
    ENV_SCHEDULE_GROUP,
    ENV_SESSION_SCHEDULER_ROLE_ARN,
    ENV_TELEGRAM_SECRET,
    MODELS_BUCKET,
    REPORTS_BUCKET,
    topic_arn_env,
)

if TYPE_CHECKING:
    from smart0dte.domain.strategy_signals import ProbabilityFn
    from smart0dte.services.notifications import Notifications
    from smart0dte.services.session import SessionDesk

SESSION_SCHEDULE_TARGETS: Final = ("flatten", "post_close")


_MODELS: dict[tuple[str, str], ProbabilityFn] = {}
"""Loaded models by (bucket, version): one load per warm container."""


@dataclass
class Runtime:
    """Adapters for one trading mode, built lazily from `config` and `environ`."""

    config: aws.AwsConfig
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, mode: TradingMode | None = None) -> Runtime:
        config = aws.AwsConfig.from_env()
        return cls(config if mode is None else replace(config, mode=mode))

    @property
    def mode(self) -> TradingMode:
        return self.config.mode

    @property
    def clock(self) -> Clock:
        return _CLOCK or SystemClock()

    @staticmethod
    def open_archive(root: Path) -> HistoricalMarketData:
        """The archive's days once copied under `root` (backtest_day, learning)."""
        return files.dbn_folder(root)

    @cached_property
    def state(self) -> Any:
        return aws.state_store(self.config)

    @cached_property
    def documents(self) -> Any:
        from smart0dte.adapters.aws.dynamodb.session import DynamoDayDocuments

        c = self.config
        return DynamoDayDocuments(c.prefix, c.mode, region=c.region, endpoint_url=c.endpoint_url)

    @cached_property
    def market(self) -> Any:
        from smart0dte.adapters.aws.dynamodb.market import DynamoMarketReader

        c = self.config
        return DynamoMarketReader(c.prefix, c.mode, region=c.region, endpoint_url=c.endpoint_url)

    def client(self, service: str) -> Any:
        """The process session's client of `service` (cached per runtime and service)."""
        cached = self._clients.get(service)
        if cached is None:
            cached = aws.aws_client(self.config, service)
            self._clients[service] = cached
        return cached

    def bucket(self, logical: str) -> ObjectStore:
        spec = {b.logical_name: b for b in (ARCHIVE_BUCKET, MODELS_BUCKET, REPORTS_BUCKET)}[logical]
        return aws.object_store(self.config, spec, self.client("s3"))

    def order_queue(self) -> OrderQueue:
        if not self.config.mode.uses_broker:
            raise ValueError(
                f"mode {self.config.mode.value} fills on the simulated venue: only ibkr_paper and live "
                "send orders to the order queue"
            )
        return aws.order_queue(self.config, self.client("sqs"))

    @cached_property
    def channels(self) -> list[Notifier]:
        """Every channel to the humans: the alert topic (its email subscriptions) and, where the
        environment names the Telegram secret (`-c telegram=enabled`), the allow-listed chats."""
        if not self.environ.get(ENV_TELEGRAM_SECRET):
            return [self.alert_topic]
        from smart0dte.bootstrap.telegram_secret import TelegramChannel

        return [self.alert_topic, TelegramChannel(self.config, self.environ)]

    @property
    def notifications(self) -> Notifications:
        """The mode's notification service: its levels from the settings, read at each event; its
        once-a-day claims in the mode's audit log; the channels built at the first event."""
        from smart0dte.services.notifications import Notifications

        return Notifications(
            self.mode,
            lambda: self.channels,
            lambda: self.state.get_settings().notifications,
            claims=self.state.audit,
        )

    def forwarded_notifications(self) -> Notifications:
        """The notification service without the alert topic: for what the topic already carries
        (the CloudWatch alarms), so it reaches the other channels and is not emailed twice."""
        from smart0dte.services.notifications import Notifications

        return Notifications(
            self.mode,
            lambda: [c for c in self.channels if c is not self.alert_topic],
            lambda: self.state.get_settings().notifications,
        )

    @cached_property
    def alert_topic(self) -> Notifier:
        from smart0dte.adapters.aws.sns import SnsNotifier

        client = self.client("sns")
        arn = self.environ.get(topic_arn_env(ALERT_TOPIC))
        if not arn:
            name = ALERT_TOPIC.physical_name(self.config.prefix)
            topics = [t["TopicArn"] for t in client.list_topics().get("Topics", [])]
            found = [t for t in topics if t.rsplit(":", 1)[-1] == name]
            if not found:
                raise LookupError(f"{topic_arn_env(ALERT_TOPIC)} is not set and no topic is named {name}")
            arn = found[0]
        return SnsNotifier(arn, client)

    @cached_property
    def scheduler(self) -> Scheduler:
        from smart0dte.adapters.aws.scheduler import EventBridgeScheduler

        targets = {name: self.state_machine_arn(name) for name in SESSION_SCHEDULE_TARGETS}
        group = self.environ.get(ENV_SCHEDULE_GROUP) or self.config.prefix
        role = (
            self.environ.get(ENV_SESSION_SCHEDULER_ROLE_ARN)
            or f"arn:aws:iam::000000000000:role/{self.config.prefix}-local"
        )
        return EventBridgeScheduler(self.client("scheduler"), group, role, targets)

    def state_machine_arn(self, name: str) -> str:
        """The workflow's ARN from the environment CDK sets, else looked up by its physical name."""
        return aws.state_machine_arn(self.client("stepfunctions"), self.config.prefix, name, self.environ)

    @cached_property
    def idempotency(self) -> Any:
        return aws.idempotency_persistence(self.config, self.client("dynamodb"))

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
        """The session desk on the mode's venue: paper on the simulated venue, ibkr_paper and live on
        the broker venue (commands through the order queue to the gateway's order bridge)."""
        from smart0dte.domain.broker_venue import BrokerVenue
        from smart0dte.domain.simulated_venue import SimulatedVenue
        from smart0dte.services.session import SessionDesk

        broker = self.mode.uses_broker
        return SessionDesk(
            mode=self.mode,
            state=self.state,
            documents=self.documents,
            market=self.market,
            venue=BrokerVenue if broker else SimulatedVenue,
            queue=self.order_queue if broker else None,
            broker_book=self.state.get_broker_book if broker else None,
            model_fn=self.model_fn,
            notifications=self.notifications,
        )


_RUNTIMES: dict[TradingMode, Runtime] = {}
_CLOCK: Clock | None = None


def use_clock(clock: Clock | None) -> None:
    """Give every runtime `clock` as "now" (a replay's simulated clock); None: the system clock."""
    global _CLOCK
    _CLOCK = clock


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
