"""The Telegram bot: its webhook function and route (`-c telegram=enabled`).

Context:

    telegram          enabled | disabled (default). Disabled deploys nothing of the bot: no
                      route without a JWT exists unless the operator asks for one, and the
                      function would only fail without its secret.
    telegramChatIds   optional, comma-separated chat ids allowed beside the secret's `chat_ids`
                      (the function's ENV_TELEGRAM_CHAT_IDS).

With `enabled`, the Telegram construct holds:

* the function `<prefix>-telegram` (lambdas/telegram, the two layers) with its own role: the
  control table read/write (controls change in one transaction with their audit record), the
  audit table append-only, the trading and market tables read-only (positions, the journal and
  fill log, chain snapshots for the marks), and GetSecretValue on the one secret;
* the secret `<prefix>/telegram`, referenced by name (never created here, so no token is ever in
  a template): JSON with `bot_token`, `webhook_secret` and `chat_ids`, created by the operator
  (README, "Control from Telegram");
* the route `POST /api/telegram/webhook` on the dashboard's HTTP API without the JWT authorizer:
  Telegram cannot send a Cognito token, and the X-Telegram-Bot-Api-Secret-Token header, checked by
  the function in constant time, is its authentication. CloudFront forwards that header (every
  viewer header but Host), so the URL to register is `https://<distribution>/api/telegram/webhook`
  (the stack's TelegramWebhookUrl output).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, Node

from smart0dte import resources as r
from smart0dte.domain.pricing import KERNEL_ENV

from .access import TABLE_ACTIONS, TABLE_READS_INDEXES, TableAccess
from .functions import (
    ARCHITECTURE,
    ASSET_EXCLUDE,
    HANDLER,
    LOG_RETENTION,
    METRICS_NAMESPACE,
    RUNTIME,
    XRAY_REASON,
)
from .nag import acknowledge, finding_resource
from .sources import check_sources, handler_path
from .storage import Storage

TELEGRAM_CONTEXT: Final = "telegram"
TELEGRAM_ENABLED: Final = "enabled"
TELEGRAM_DISABLED: Final = "disabled"
TELEGRAM_CHAT_IDS_CONTEXT: Final = "telegramChatIds"
TELEGRAM_TABLES: Final = {
    r.CONTROL_TABLE: TableAccess.READ_WRITE,
    r.AUDIT_TABLE: TableAccess.APPEND,
    r.TRADING_TABLE: TableAccess.READ,
    r.MARKET_TABLE: TableAccess.READ,
}
SECRET_ACTIONS: Final = ("secretsmanager:GetSecretValue",)


class TelegramContextError(ValueError):
    """The telegram or telegramChatIds context is not one of its allowed values."""


def telegram_from_context(node: Node) -> tuple[bool, str]:
    """(deploy the bot?, the extra chat ids) from `telegram` and `telegramChatIds`."""
    raw = node.try_get_context(TELEGRAM_CONTEXT)
    value = TELEGRAM_DISABLED if raw is None else str(raw)
    if value not in (TELEGRAM_ENABLED, TELEGRAM_DISABLED):
        raise TelegramContextError(
            f"context {TELEGRAM_CONTEXT}={raw!r} is not allowed: use -c {TELEGRAM_CONTEXT}="
            f"{TELEGRAM_ENABLED} (deploy the Telegram bot's webhook) or -c {TELEGRAM_CONTEXT}="
            f"{TELEGRAM_DISABLED} (the default)"
        )
    chats = str(node.try_get_context(TELEGRAM_CHAT_IDS_CONTEXT) or "")
    bad = [c for c in chats.split(",") if c.strip() and not c.strip().lstrip("-").isdigit()]
    if bad:
        raise TelegramContextError(
            f"context {TELEGRAM_CHAT_IDS_CONTEXT}={chats!r}: {', '.join(bad)} is not a chat id "
            "(integers, comma-separated)"
        )
    return value == TELEGRAM_ENABLED, ",".join(c.strip() for c in chats.split(",") if c.strip())


class Telegram(Construct):
    """The webhook function, its role, the referenced secret and the unauthenticated route."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        prefix: str,
        repo_root: Path,
        layers: list[lambda_.ILayerVersion],
        storage: Storage,
        http_api: apigw.HttpApi,
        distribution: cloudfront.Distribution,
        chat_ids: str = "",
    ) -> None:
        super().__init__(scope, construct_id_)
        spec = r.TELEGRAM_FUNCTION
        check_sources(repo_root, functions=(spec,), state_machines=())
        secret_name = r.telegram_secret_name(prefix)
        self.secret = secretsmanager.Secret.from_secret_name_v2(self, "Secret", secret_name)
        log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{spec.physical_name(prefix)}: its tables, its secret, its logs",
        )
        log_group.grant_write(self.role)
        environment = {
            r.ENV_PREFIX: prefix,
            r.ENV_ACCOUNT: Aws.ACCOUNT_ID,
            r.ENV_TELEGRAM_SECRET: secret_name,
            "POWERTOOLS_SERVICE_NAME": spec.name,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": "INFO",
            KERNEL_ENV: "c",
        }
        if chat_ids:
            environment[r.ENV_TELEGRAM_CHAT_IDS] = chat_ids
        for table_spec, level in TELEGRAM_TABLES.items():
            table = storage.tables[table_spec]
            arns = [table.table_arn]
            if level in TABLE_READS_INDEXES:
                arns += [f"{table.table_arn}/index/{index.name}" for index in table_spec.indexes]
            self.role.add_to_policy(iam.PolicyStatement(actions=list(TABLE_ACTIONS[level]), resources=arns))
            environment[r.env_var("TABLE", table_spec.logical_name)] = table.table_name
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=spec.physical_name(prefix),
            description=spec.purpose,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(handler_path(spec, repo_root).parent), exclude=ASSET_EXCLUDE),
            layers=layers,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            role=self.role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment=environment,
        )
        (self.route,) = http_api.add_routes(
            path=r.TELEGRAM_WEBHOOK_PATH,
            methods=[apigw.HttpMethod.POST],
            integration=integrations.HttpLambdaIntegration("TelegramWebhook", self.function),
            authorizer=apigw.HttpNoneAuthorizer(),
        )
        self.webhook_url = f"https://{distribution.distribution_domain_name}{r.TELEGRAM_WEBHOOK_PATH}"
        acknowledge(
            self.route,
            "AwsSolutions-APIG4",
            "Telegram cannot send a Cognito JWT: the webhook authenticates each request by its "
            "X-Telegram-Bot-Api-Secret-Token header (compared in constant time; 401/403 otherwise) and "
            "answers only allow-listed chats.",
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Pinned to python3.12 like every function: the dependency layer is built for cp312 wheels.",
        )
        acknowledge(self.role, "AwsSolutions-IAM5", XRAY_REASON, "Resource::*")
        self._secret_name = secret_name
        self._chat_ids = chat_ids
        self._allow_secret(self.role)

    def _allow_secret(self, role: iam.IRole) -> None:
        role.add_to_principal_policy(
            # The name's ARN with Secrets Manager's 6-character suffix (`-??????`): the one secret.
            iam.PolicyStatement(actions=list(SECRET_ACTIONS), resources=[f"{self.secret.secret_arn}-??????"])
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "A secret referenced by name has Secrets Manager's random 6-character suffix: `-??????` "
            "matches that one secret and no other name.",
            finding_resource(self, f"{self.secret.secret_arn}-??????"),
        )

    def send_alerts_from(self, role: iam.IRole, add_environment: Callable[[str, str], object]) -> None:
        """Make a function or task that notifies (its role, its environment's setter) send to the
        allow-listed chats too: the secret's name (and the extra chat ids) in its environment, the
        secret readable by its role (bootstrap/telegram_secret.TelegramChannel)."""
        add_environment(r.ENV_TELEGRAM_SECRET, self._secret_name)
        if self._chat_ids:
            add_environment(r.ENV_TELEGRAM_CHAT_IDS, self._chat_ids)
        self._allow_secret(role)
