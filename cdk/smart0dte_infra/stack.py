"""The Smart 0DTE stack: storage, functions, workflows and schedules, all read from resources.py,
the dashboard (Cognito, the HTTP API, CloudFront), the alarms and the CloudWatch dashboard
(monitoring.py), with `-c liveTrading=ibkr_paper` (an IB paper
account) or `-c liveTrading=enabled` (the live account) the gateway task (gateway.py) and, with
`-c marketData=databento`, the market-data feed task (feed.py); the two tasks share one VPC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from constructs import Construct

from smart0dte import resources as r

from .dashboard import Dashboard, check_dashboard, custom_domain_from_context
from .feed import MARKET_DATA_CONTEXT, MARKET_DATA_DATABENTO, Feed, market_data_from_context
from .functions import Functions, reserved_concurrency_from_context
from .gateway import Gateway, TaskNetwork, live_trading_from_context
from .layer_build import build_deps_layer
from .monitoring import Monitoring
from .notifications import AlertSubscriptions, ReauthenticationReminder, alert_emails_from_context
from .scheduling import Scheduling
from .sources import check_sources
from .storage import Storage, construct_id
from .telegram import Telegram, telegram_from_context
from .workflows import Workflows

S3_ACCESS_LOGS_BY_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"
API_FUNCTION = "api"
NOTIFY_FUNCTION = "notify"
TRADING_CYCLE_STATE_MACHINE = "trading_cycle"


def deps_requirements(repo_root: Path) -> Path:
    return repo_root / "layers" / "deps" / "requirements.txt"


def default_dashboard_dir(repo_root: Path) -> Path:
    """Where `make web/dist/index.html` builds the dashboard."""
    return repo_root / "web" / "dist"


class Smart0dteStack(Stack):
    """Everything the serverless trading system runs on, named `<prefix>-<logical name>`.

        `repo_root` is the checkout whose handlers, ASL files and layers are deployed; synthesis stops
        with one error listing every missing handler or ASL file. `deps_layer_dir` is a built
        dependency layer (a folder holding `python/`); without it the layer is built, or reused, under
        `<repo_root>/build/layers/` from layers/deps/requirements.txt. `dashboard_dir` is the built
        dashboard to deploy (default `<repo_root>/web/dist`); synthesis stops, naming the build
        command, when it holds no index.html.

    The context `liveTrading` (disabled, the default | ibkr_paper | enabled) and `ibAccount` decide
    whether the gateway task is deployed and for which mode; a value it does not allow stops
    synthesis (LiveTradingContextError). The context `marketData` (databento | none, the default)
    decides whether the feed task is deployed (MarketDataContextError otherwise); `telegram` (enabled |
    disabled, the default) whether the Telegram bot's webhook is (telegram.py, TelegramContextError).
    TRADING_CYCLE_STATE_MACHINE is what it starts. The context `alertEmail` (addresses separated by
    commas) subscribes each to the alert topic (AlertEmailContextError for a malformed one).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        prefix: str = r.DEFAULT_PREFIX,
        repo_root: Path = r.REPO_ROOT,
        deps_layer_dir: Path | None = None,
        dashboard_dir: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id_, **kwargs)
        self.live_trading = live_trading_from_context(self.node)
        self.market_data = market_data_from_context(self.node)
        telegram_enabled, telegram_chat_ids = telegram_from_context(self.node)
        self.alert_emails = alert_emails_from_context(self.node)
        # Access logs go to a bucket with ACLs disabled; that needs a bucket policy, not the ACL.
        self.node.set_context(S3_ACCESS_LOGS_BY_POLICY, True)
        repo_root = repo_root.resolve()
        check_sources(repo_root)
        dashboard_dir = (dashboard_dir or default_dashboard_dir(repo_root)).resolve()
        check_dashboard(dashboard_dir)
        requirements = deps_requirements(repo_root)
        if deps_layer_dir is None:
            deps_layer_dir = build_deps_layer(requirements, repo_root / "build")

        self.storage = Storage(self, "Storage", prefix=prefix)
        self.functions = Functions(
            self,
            "Functions",
            prefix=prefix,
            repo_root=repo_root,
            deps_layer_dir=deps_layer_dir,
            storage=self.storage,
            reserved_concurrency=reserved_concurrency_from_context(self.node),
        )
        self.alert_subscriptions = AlertSubscriptions(
            self,
            "Alerts",
            topic=self.storage.topics[r.ALERT_TOPIC],
            emails=self.alert_emails,
            forwarder=self.functions.functions[NOTIFY_FUNCTION],
        )
        self.workflows = Workflows(
            self, "Workflows", prefix=prefix, repo_root=repo_root, functions=self.functions.functions
        )
        for name, access in self.functions.access.items():
            self.workflows.allow_starts(self.functions.functions[name], access, prefix)
        self.scheduling = Scheduling(
            self,
            "Scheduling",
            prefix=prefix,
            state_machines=self.workflows.state_machines,
            functions=self.functions.functions,
            schedule_creators=[n for n, a in self.functions.access.items() if a.creates_session_schedules],
        )
        self.functions.functions[API_FUNCTION].add_environment(
            r.ENV_LIVE_TRADING, self.live_trading.env_value
        )
        self.scheduling.allow_reading(self.functions.functions[API_FUNCTION])
        self.network: TaskNetwork | None = None
        if self.live_trading.enabled or self.market_data.enabled:
            self.network = TaskNetwork(self, "TaskNetwork", prefix=prefix)
        self.gateway: Gateway | None = None
        if self.live_trading.mode is not None:
            assert self.live_trading.ib_account is not None
            self.gateway = Gateway(
                self,
                "Gateway",
                prefix=prefix,
                repo_root=repo_root,
                mode=self.live_trading.mode,
                ib_account=self.live_trading.ib_account,
                storage=self.storage,
                schedule_group=self.scheduling.group,
                network=self.network,
            )
            self.reauthentication_reminder = ReauthenticationReminder(
                self,
                "ReauthenticationReminder",
                prefix=prefix,
                mode=self.live_trading.mode,
                function=self.functions.functions[NOTIFY_FUNCTION],
                group=self.scheduling.group,
            )
        self.feed: Feed | None = None
        if self.market_data.enabled:
            assert self.network is not None
            self.feed = Feed(
                self,
                "Feed",
                prefix=prefix,
                repo_root=repo_root,
                network=self.network,
                storage=self.storage,
                trading_cycle=self.workflows.state_machines[TRADING_CYCLE_STATE_MACHINE],
                schedule_group=self.scheduling.group,
            )
        self.dashboard = Dashboard(
            self,
            "Dashboard",
            prefix=prefix,
            dashboard_dir=dashboard_dir,
            api_function=self.functions.functions[API_FUNCTION],
            storage=self.storage,
            domain=custom_domain_from_context(self.node),
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            prefix=prefix,
            topic=self.storage.topics[r.ALERT_TOPIC],
            functions=self.functions.functions,
            state_machines=self.workflows.state_machines,
            dead_letter_queues=self.storage.dead_letter_queues,
            http_api=self.dashboard.http_api,
            tasks=tuple(
                t for t, built in ((r.FEED, self.feed), (r.GATEWAY, self.gateway)) if built is not None
            ),
            schedule_group=self.scheduling.group,
        )
        self.telegram: Telegram | None = None
        if telegram_enabled:
            self.telegram = Telegram(
                self,
                "Telegram",
                prefix=prefix,
                repo_root=repo_root,
                layers=[self.functions.core_layer, self.functions.deps_layer],
                storage=self.storage,
                http_api=self.dashboard.http_api,
                distribution=self.dashboard.distribution,
                chat_ids=telegram_chat_ids,
            )
            for name, access in self.functions.access.items():
                if r.ALERT_TOPIC in access.publishes_to:
                    function = self.functions.functions[name]
                    assert function.role is not None
                    self.telegram.send_alerts_from(function.role, function.add_environment)
            if self.gateway is not None:  # the order bridge notifies IB's fills
                self.telegram.send_alerts_from(self.gateway.task_role, self.gateway.container.add_environment)
            CfnOutput(
                self,
                "TelegramWebhookUrl",
                value=self.telegram.webhook_url,
                description="register it: smart0dte telegram-webhook --url <this>",
            )
            CfnOutput(
                self,
                "TelegramSecretName",
                value=r.telegram_secret_name(prefix),
                description="create it: JSON with bot_token, webhook_secret and chat_ids (integers)",
            )
        auth = self.dashboard.auth
        assert auth.client is not None
        CfnOutput(
            self,
            "DashboardUrl",
            value=self.dashboard.url,
            description="the dashboard: it signs you in through the Cognito hosted UI",
        )
        CfnOutput(
            self,
            "ApiUrl",
            value=self.dashboard.http_api.api_endpoint,
            description="the HTTP API's own endpoint: it answers 403 to any call that does not come through "
            "CloudFront (<DashboardUrl>api/)",
        )
        CfnOutput(self, "UserPoolId", value=auth.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=auth.client.user_pool_client_id)
        CfnOutput(
            self, "CognitoDomain", value=auth.domain.base_url(), description="hosted UI and OAuth2 endpoints"
        )
        for name, machine in self.workflows.state_machines.items():
            CfnOutput(self, f"{construct_id(name)}StateMachineArn", value=machine.state_machine_arn)
        for spec, topic in self.storage.topics.items():
            CfnOutput(self, f"{construct_id(spec.logical_name)}TopicArn", value=topic.topic_arn)
        if self.gateway is not None:
            CfnOutput(self, "GatewayCluster", value=self.gateway.cluster.cluster_name)
            CfnOutput(self, "GatewayLogGroup", value=self.gateway.log_group.log_group_name)
            CfnOutput(
                self,
                "GatewaySecretName",
                value=r.GATEWAY.secret_name(prefix),
                description="create it before deploying: JSON with username and password of the IB login",
            )
        CfnOutput(
            self,
            "MarketData",
            value=self.market_data.source,
            description=(
                "the feed task streams Databento live data and starts one trading cycle per minute"
                if self.feed is not None
                else "no market-data feed: this stack does not trade by itself (nothing writes market data "
                f"or starts trading cycles); deploy with -c {MARKET_DATA_CONTEXT}={MARKET_DATA_DATABENTO}"
            ),
        )
        if self.feed is not None:
            CfnOutput(self, "FeedCluster", value=self.feed.cluster.cluster_name)
            CfnOutput(self, "FeedLogGroup", value=self.feed.log_group.log_group_name)
            CfnOutput(
                self,
                "FeedSecretName",
                value=r.FEED.secret_name(prefix),
                description="create it before deploying: the Databento API key as a plain string",
            )

    @property
    def availability_zones(self) -> list[str]:
        """Two AZs of the stack's region, resolved by CloudFormation (Fn::GetAZs): the tasks' VPC
        never makes synthesis look the account's zones up, even when the stack names an account."""
        return [Fn.select(0, Fn.get_azs()), Fn.select(1, Fn.get_azs())]
