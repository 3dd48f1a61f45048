"""What GitHub Actions may do in the account: the `<prefix>-ci-access` stack.

GitHub's OIDC provider (created, or imported with `-c githubOidcProviderArn=...`: an account has
one per URL) and, per GitHub environment (`-c githubEnvironments=staging,production`), a deploy
role that a workflow job of that environment in the repository `-c githubRepo=owner/name` may
assume with its OIDC token. A deploy role may only assume the CDK bootstrap roles of this account
and region (`cdk-hnb659fds-*`), which do the deploying; a pull request's diff role only the
bootstrap's lookup role (read-only), for `cdk diff`. No long-lived key exists anywhere.
"""

from __future__ import annotations

import re
from typing import Any, Final

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from .nag import acknowledge

GITHUB_OIDC_URL: Final = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_HOST: Final = "token.actions.githubusercontent.com"
AUDIENCE: Final = "sts.amazonaws.com"
BOOTSTRAP_QUALIFIER: Final = "hnb659fds"
"""CDK's default bootstrap qualifier: its roles are `cdk-<qualifier>-<kind>-role-<account>-<region>`."""
DEFAULT_ENVIRONMENTS: Final = ("staging", "production")
_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_ENVIRONMENT = re.compile(r"[A-Za-z0-9_.-]{1,255}")


class CiAccessContextError(ValueError):
    """A missing or malformed context value of the CI access stack, named with its flag."""


def parse_repo(value: Any) -> str:
    """`owner/name` of `-c githubRepo`, refused when missing or of another shape."""
    text = str(value or "").strip()
    if not _REPO.fullmatch(text):
        raise CiAccessContextError(
            f"-c githubRepo={text!r}: the CI access stack needs the GitHub repository as owner/name "
            "(e.g. -c githubRepo=acme/smart0dte)"
        )
    return text


def parse_environments(value: Any) -> tuple[str, ...]:
    """The GitHub environments of `-c githubEnvironments=a,b` (default staging,production)."""
    if value is None:
        return DEFAULT_ENVIRONMENTS
    names = tuple(part.strip() for part in str(value).split(","))
    bad = [name for name in names if not _ENVIRONMENT.fullmatch(name)]
    if bad or not names:
        raise CiAccessContextError(
            f"-c githubEnvironments={value!r}: comma-separated GitHub environment names "
            "(letters, digits, . _ -), e.g. staging,production"
        )
    return names


class CiAccessStack(Stack):
    """GitHub's OIDC provider, a deploy role per environment and a pull request's diff role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        github_repo: str,
        environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS,
        oidc_provider_arn: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        repo = parse_repo(github_repo)
        if oidc_provider_arn:
            provider: iam.IOidcProvider = iam.OidcProviderNative.from_oidc_provider_arn(
                self, "GitHubOidc", oidc_provider_arn
            )
        else:
            provider = iam.OidcProviderNative(self, "GitHubOidc", url=GITHUB_OIDC_URL, client_ids=[AUDIENCE])
        bootstrap_roles = self.format_arn(
            service="iam",
            region="",
            resource="role",
            resource_name=f"cdk-{BOOTSTRAP_QUALIFIER}-*-{self.account}-{self.region}",
        )
        lookup_role = self.format_arn(
            service="iam",
            region="",
            resource="role",
            resource_name=f"cdk-{BOOTSTRAP_QUALIFIER}-lookup-role-{self.account}-{self.region}",
        )
        for environment in environments:
            role = self._role(
                provider,
                f"Deploy{_camel(environment)}",
                f"{prefix}-ci-deploy-{environment}",
                f"repo:{repo}:environment:{environment}",
                bootstrap_roles,
                f"GitHub Actions of {repo}, environment {environment}: cdk deploy via the bootstrap roles",
            )
            acknowledge(
                role,
                "AwsSolutions-IAM5",
                "cdk deploy assumes the bootstrap's deploy, file-publishing, image-publishing and lookup "
                "roles, all named cdk-hnb659fds-*-<account>-<region>; the pattern allows no other role",
                f"Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-{BOOTSTRAP_QUALIFIER}-*-"
                "<AWS::AccountId>-<AWS::Region>",
            )
            CfnOutput(self, f"Deploy{_camel(environment)}RoleArn", value=role.role_arn)
        diff = self._role(
            provider,
            "PullRequestDiff",
            f"{prefix}-ci-diff",
            f"repo:{repo}:pull_request",
            lookup_role,
            f"GitHub Actions of {repo}, pull requests: cdk diff through the read-only lookup role",
        )
        CfnOutput(self, "PullRequestDiffRoleArn", value=diff.role_arn)

    def _role(
        self,
        provider: iam.IOidcProvider,
        construct_id: str,
        name: str,
        subject: str,
        assumable: str,
        description: str,
    ) -> iam.Role:
        role = iam.Role(
            self,
            construct_id,
            role_name=name,
            description=description,
            max_session_duration=Duration.hours(1),
            assumed_by=iam.WebIdentityPrincipal(
                provider.oidc_provider_arn,
                conditions={
                    "StringEquals": {f"{GITHUB_OIDC_HOST}:aud": AUDIENCE, f"{GITHUB_OIDC_HOST}:sub": subject}
                },
            ),
        )
        role.add_to_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[assumable]))
        return role


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def add_ci_access(scope: Construct, prefix: str, **kwargs: Any) -> CiAccessStack | None:
    """The `<prefix>-ci-access` stack when `-c githubRepo` is given, else none (the main stack
    synthesizes without it)."""
    node = scope.node
    repo = node.try_get_context("githubRepo")
    if repo is None:
        return None
    return CiAccessStack(
        scope,
        f"{prefix}-ci-access",
        prefix=prefix,
        github_repo=repo,
        environments=parse_environments(node.try_get_context("githubEnvironments")),
        oidc_provider_arn=node.try_get_context("githubOidcProviderArn"),
        description="Smart 0DTE: GitHub Actions' OIDC roles (they may only assume the CDK bootstrap roles)",
        **kwargs,
    )
