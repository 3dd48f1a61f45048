"""The `<prefix>-ci-access` stack (cdk/smart0dte_infra/ci_access.py), synthesized once per case:
GitHub's OIDC provider, deploy roles trusted only by the repository's environments and allowed
only to assume the CDK bootstrap roles, a pull request's diff role allowed only the lookup role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks
from smart0dte_infra.ci_access import CiAccessContextError, add_ci_access, parse_environments, parse_repo

from .template_queries import resources_of_type

REPO = "acme/smart0dte"
PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
BOOTSTRAP_ROLES = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":iam::",
            {"Ref": "AWS::AccountId"},
            ":role/cdk-hnb659fds-*-",
            {"Ref": "AWS::AccountId"},
            "-",
            {"Ref": "AWS::Region"},
        ],
    ]
}
LOOKUP_ROLE = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":iam::",
            {"Ref": "AWS::AccountId"},
            ":role/cdk-hnb659fds-lookup-role-",
            {"Ref": "AWS::AccountId"},
            "-",
            {"Ref": "AWS::Region"},
        ],
    ]
}


@dataclass(frozen=True)
class CiSynth:
    template: dict[str, Any]
    nag: Any


def synthesize(context: dict[str, str]) -> CiSynth:
    app = cdk.App(context=context)
    stack = add_ci_access(app, "smart0dte")
    assert stack is not None and stack.stack_name == "smart0dte-ci-access"
    template = app.synth().get_stack_by_name(stack.stack_name).template
    return CiSynth(template, AwsSolutionsChecks().validate_scope(app))


@pytest.fixture(scope="module")
def created() -> CiSynth:
    return synthesize({"githubRepo": REPO})


@pytest.fixture(scope="module")
def imported() -> CiSynth:
    return synthesize(
        {"githubRepo": REPO, "githubEnvironments": "prod", "githubOidcProviderArn": PROVIDER_ARN}
    )


def roles(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Role name -> its properties and `statements` (every statement of every policy attached)."""
    found = {}
    for logical_id, role in resources_of_type(template, "AWS::IAM::Role").items():
        props = role["Properties"]
        assert "ManagedPolicyArns" not in props and "Policies" not in props
        statements = [
            s
            for policy in resources_of_type(template, "AWS::IAM::Policy").values()
            if {"Ref": logical_id} in policy["Properties"]["Roles"]
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
        found[props["RoleName"]] = {**props, "statements": statements}
    return found


def trust(role: dict[str, Any]) -> dict[str, Any]:
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(statement["Condition"]) == {"StringEquals"}, "no StringLike: the subject is exact"
    return statement


def test_the_github_oidc_provider_is_created_for_sts(created: CiSynth) -> None:
    (provider,) = resources_of_type(created.template, "AWS::IAM::OIDCProvider").values()
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]


def test_each_role_trusts_only_its_repository_and_environment(created: CiSynth) -> None:
    (provider_id,) = resources_of_type(created.template, "AWS::IAM::OIDCProvider")
    subjects = {
        "smart0dte-ci-deploy-staging": f"repo:{REPO}:environment:staging",
        "smart0dte-ci-deploy-production": f"repo:{REPO}:environment:production",
        "smart0dte-ci-diff": f"repo:{REPO}:pull_request",
    }
    found = roles(created.template)
    assert set(found) == set(subjects)
    for name, subject in subjects.items():
        statement = trust(found[name])
        assert statement["Principal"] == {"Federated": {"Ref": provider_id}}
        assert statement["Condition"]["StringEquals"] == {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": subject,
        }
        assert found[name]["MaxSessionDuration"] == 3600


def test_deploy_roles_may_only_assume_the_cdk_bootstrap_roles(created: CiSynth) -> None:
    found = roles(created.template)
    for name in ("smart0dte-ci-deploy-staging", "smart0dte-ci-deploy-production"):
        assert found[name]["statements"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": BOOTSTRAP_ROLES}
        ], name
    assert found["smart0dte-ci-diff"]["statements"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": LOOKUP_ROLE}
    ]


def test_the_stack_passes_aws_solutions_with_its_one_reasoned_acknowledgment(created: CiSynth) -> None:
    assert created.nag.success, "\n".join(v.rule_name for v in created.nag.violations)


def test_an_existing_provider_is_imported_by_arn_with_the_named_environments(imported: CiSynth) -> None:
    assert resources_of_type(imported.template, "AWS::IAM::OIDCProvider") == {}
    found = roles(imported.template)
    assert set(found) == {"smart0dte-ci-deploy-prod", "smart0dte-ci-diff"}
    statement = trust(found["smart0dte-ci-deploy-prod"])
    assert statement["Principal"] == {"Federated": PROVIDER_ARN}
    assert statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        f"repo:{REPO}:environment:prod"
    )
    assert imported.nag.success


def test_without_github_repo_the_app_has_no_ci_stack() -> None:
    assert add_ci_access(cdk.App(context={}), "smart0dte") is None


@pytest.mark.parametrize("value", ["", "acme", "acme/", "/repo", "acme/smart 0dte", "acme/x/y", "-acme/x"])
def test_a_malformed_repository_is_refused_naming_the_flag(value: str) -> None:
    with pytest.raises(CiAccessContextError, match=r"-c githubRepo=.*owner/name"):
        parse_repo(value)


@pytest.mark.parametrize("value", ["", "staging,", "prod uction", "a,b*"])
def test_malformed_environments_are_refused_naming_the_flag(value: str) -> None:
    with pytest.raises(CiAccessContextError, match="-c githubEnvironments="):
        parse_environments(value)
