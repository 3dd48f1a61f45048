"""CDK entry (cdk.json): `cdk synth`, `cdk deploy`, or `python cdk/app.py` to synthesize only.

Context: `-c prefix=smart0dte-prod` names every resource `<prefix>-<name>` (default `smart0dte`);
the stack is named after the prefix too, so stages deploy side by side in one account.
`-c liveTrading=ibkr_paper -c ibAccount=DU1234567` deploys the gateway task on an IB paper account
and lets the dashboard switch to ibkr_paper (the broker path without money);
`-c liveTrading=enabled -c ibAccount=U1234567` deploys it on the live account and lets the dashboard
arm live trading; the default, `disabled`, deploys paper trading only (smart0dte_infra/gateway.py).
`-c marketData=databento` deploys the Databento feed task that writes market data and starts the
trading cycles, in every mode alike; without it (`none`, the default) the stack does not trade
by itself (smart0dte_infra/feed.py). `-c telegram=enabled` deploys the Telegram bot's webhook
(smart0dte_infra/telegram.py).
`-c githubRepo=owner/name` adds the `<prefix>-ci-access` stack: GitHub's OIDC provider and the roles
CI deploys with (`-c githubEnvironments=staging,production`, `-c githubOidcProviderArn=` to import
the account's provider; smart0dte_infra/ci_access.py). Without it only the main stack synthesizes.
`-c domainName=trade.example.com -c certificateArn=arn:aws:acm:us-east-1:...` serves the dashboard
on that name with TLS 1.2 at the minimum (smart0dte_infra/dashboard.py).
`-c reservedConcurrency=off` reserves no Lambda concurrency, for an account whose concurrency
limit is below 151 (a new account's is 10; smart0dte_infra/functions.py).

The dashboard is deployed from web/dist, which `make web/dist/index.html` builds; without it the
app stops with that command instead of a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
for path in (REPO_ROOT / "cdk", REPO_ROOT / "layers" / "core" / "python"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402
from smart0dte_infra import Smart0dteStack  # noqa: E402
from smart0dte_infra.ci_access import CiAccessContextError, add_ci_access  # noqa: E402
from smart0dte_infra.dashboard import CustomDomainContextError, DashboardNotBuiltError  # noqa: E402
from smart0dte_infra.feed import MarketDataContextError  # noqa: E402
from smart0dte_infra.functions import ReservedConcurrencyContextError  # noqa: E402
from smart0dte_infra.gateway import LiveTradingContextError  # noqa: E402
from smart0dte_infra.telegram import TelegramContextError  # noqa: E402

from smart0dte.resources import DEFAULT_PREFIX  # noqa: E402


def main() -> None:
    app = cdk.App()
    prefix = str(app.node.try_get_context("prefix") or DEFAULT_PREFIX)
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    try:
        Smart0dteStack(
            app,
            prefix,
            prefix=prefix,
            repo_root=REPO_ROOT,
            dashboard_dir=REPO_ROOT / "web" / "dist",
            env=env,
            description="Smart 0DTE: autonomous serverless 0DTE options trading (storage, functions, "
            "workflows, schedules, dashboard; the market-data feed task with -c marketData=databento, "
            "without which the stack does not trade by itself)",
        )
        add_ci_access(app, prefix, env=env)
    except (
        CiAccessContextError,
        CustomDomainContextError,
        DashboardNotBuiltError,
        LiveTradingContextError,
        MarketDataContextError,
        ReservedConcurrencyContextError,
        TelegramContextError,
    ) as error:
        sys.exit(str(error))
    # Synthesis fails on any AwsSolutions finding that is not acknowledged with a reason.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    app.synth()


if __name__ == "__main__":
    main()
