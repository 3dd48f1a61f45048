"""The hardened stack in the synthesized templates: versioned buckets whose old versions expire,
TLS 1.2 at the minimum with a custom domain, security headers the built dashboard works with,
ECS tasks as a non-root user on a read-only root filesystem with their writable paths declared,
reserved concurrency where a runaway costs money, and the contexts that choose them."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from smart0dte_infra.dashboard import (
    CERTIFICATE_ARN_CONTEXT,
    DOMAIN_NAME_CONTEXT,
    CustomDomainContextError,
    custom_domain_from_context,
)
from smart0dte_infra.functions import (
    RESERVED_CONCURRENCY,
    RESERVED_CONCURRENCY_CONTEXT,
    ReservedConcurrencyContextError,
    reserved_concurrency_from_context,
)
from smart0dte_infra.gateway import APP_USER, IMAGE_DOCKERFILE, WRITABLE_PATHS
from smart0dte_infra.storage import NONCURRENT_VERSION_RETENTION

from smart0dte import resources as r

from .conftest import CUSTOM_CERTIFICATE, CUSTOM_DOMAIN, REPO_ROOT, Synth
from .task_checks import container, task_definition
from .template_queries import logical_id, resources_of_type

PREFIX = r.DEFAULT_PREFIX
LAMBDA_UNRESERVED_MINIMUM = 100
"""Lambda refuses a reservation that leaves less than this of the account's limit unreserved."""


@pytest.fixture(scope="module")
def paper(synth: Synth) -> dict[str, Any]:
    return synth.template_json


@pytest.fixture(scope="module")
def t(synth_with_tasks: Synth) -> dict[str, Any]:
    return synth_with_tasks.template_json


# --- buckets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["paper", "t"])
def test_every_bucket_is_versioned_and_its_old_versions_expire(
    stack: str, request: pytest.FixtureRequest
) -> None:
    template = request.getfixturevalue(stack)
    buckets = resources_of_type(template, "AWS::S3::Bucket")
    assert len(buckets) == len(r.BUCKETS) + 2  # the access logs and the dashboard site
    for bid, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, bid
        rules = [rule for rule in props["LifecycleConfiguration"]["Rules"] if rule["Status"] == "Enabled"]
        (old,) = [rule for rule in rules if "NoncurrentVersionExpiration" in rule]
        assert old["NoncurrentVersionExpiration"] == {
            "NoncurrentDays": NONCURRENT_VERSION_RETENTION.to_days()
        }, bid
        assert old["ExpiredObjectDeleteMarker"] is True
        assert "Prefix" not in old and "TagFilters" not in old, "the rule covers the whole bucket"


# --- CloudFront ----------------------------------------------------------------------------------------


def distribution(template: dict[str, Any]) -> dict[str, Any]:
    (dist,) = resources_of_type(template, "AWS::CloudFront::Distribution").values()
    return dict(dist["Properties"]["DistributionConfig"])


def test_with_a_custom_domain_viewers_need_tls_1_2_and_sign_in_returns_there(t: dict[str, Any]) -> None:
    config = distribution(t)
    assert config["Aliases"] == [CUSTOM_DOMAIN]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": CUSTOM_CERTIFICATE,
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }
    (client,) = resources_of_type(t, "AWS::Cognito::UserPoolClient").values()
    assert client["Properties"]["CallbackURLs"] == [f"https://{CUSTOM_DOMAIN}/"]


def test_without_a_custom_domain_the_default_certificate_is_used(paper: dict[str, Any]) -> None:
    config = distribution(paper)
    assert "Aliases" not in config and "ViewerCertificate" not in config


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({DOMAIN_NAME_CONTEXT: CUSTOM_DOMAIN}, "give both"),
        ({CERTIFICATE_ARN_CONTEXT: CUSTOM_CERTIFICATE}, "give both"),
        (
            {
                DOMAIN_NAME_CONTEXT: CUSTOM_DOMAIN,
                CERTIFICATE_ARN_CONTEXT: CUSTOM_CERTIFICATE.replace("us-east-1", "eu-west-1"),
            },
            "us-east-1",
        ),
        ({DOMAIN_NAME_CONTEXT: CUSTOM_DOMAIN, CERTIFICATE_ARN_CONTEXT: "my-cert"}, "us-east-1"),
    ],
)
def test_a_domain_without_a_usable_certificate_is_refused_naming_the_context(
    context: dict[str, str], expected: str
) -> None:
    with pytest.raises(CustomDomainContextError, match=expected) as raised:
        custom_domain_from_context(cdk.App(context=context).node)
    assert CERTIFICATE_ARN_CONTEXT in str(raised.value)


def test_the_built_dashboard_runs_under_the_csp_no_inline_script_or_style_element() -> None:
    """script-src 'self': an inline <script> would not run. The CSP allows inline style attributes
    (the chart library sets them), not needed by elements; the page's own code is in assets/."""
    index = REPO_ROOT / "web" / "dist" / "index.html"
    if not index.is_file():
        pytest.fail(f"{index} is missing: build the dashboard (make web/dist/index.html)")
    html = index.read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts, "the built page loads its code"
    for attributes, body in scripts:
        assert "src=" in attributes and not body.strip(), f"inline script: {body[:80]!r}"
    assert not re.search(r"\son\w+=", html), "inline event handler"


# --- ECS tasks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [r.FEED, r.GATEWAY], ids=lambda s: s.name)
def test_tasks_run_as_the_image_user_on_a_read_only_root_with_declared_writable_paths(
    t: dict[str, Any], spec: r.TaskSpec
) -> None:
    definition = container(t, spec)
    assert definition["User"] == APP_USER and definition["User"] != "0"
    assert definition["ReadonlyRootFilesystem"] is True
    volumes = {v["Name"] for v in task_definition(t, spec)[1]["Volumes"]}
    mounts = {m["ContainerPath"]: m for m in definition["MountPoints"]}
    assert set(mounts) == set(WRITABLE_PATHS.values())
    for name, path in WRITABLE_PATHS.items():
        assert mounts[path]["SourceVolume"] == name in volumes
        assert mounts[path]["ReadOnly"] is False


def test_the_image_declares_the_user_and_the_writable_paths_the_tasks_mount() -> None:
    dockerfile = (REPO_ROOT / IMAGE_DOCKERFILE).read_text()
    (uid,) = re.findall(r"^ARG APP_UID=(\d+)$", dockerfile, flags=re.M)
    assert uid == APP_USER
    (volume,) = re.findall(r"^VOLUME (\[.*\])$", dockerfile, flags=re.M)
    assert set(json.loads(volume)) == set(WRITABLE_PATHS.values())
    # The VOLUME comes after the user owns its home, and the image runs as that user.
    assert dockerfile.index("useradd") < dockerfile.index("VOLUME") < dockerfile.index("USER ${APP_UID}")


# --- reserved concurrency ------------------------------------------------------------------------------


def reserved(template: dict[str, Any]) -> dict[str, int]:
    found = {}
    for spec in r.FUNCTIONS:
        fid = logical_id(template, "AWS::Lambda::Function", FunctionName=spec.physical_name(PREFIX))
        value = template["Resources"][fid]["Properties"].get("ReservedConcurrentExecutions")
        if value is not None:
            found[spec.name] = value
    return found


def test_the_functions_a_runaway_would_bill_have_reserved_concurrency(paper: dict[str, Any]) -> None:
    assert reserved(paper) == RESERVED_CONCURRENCY == {"api": 10, "backtest_day": 40, "learning": 1}
    # A throttled trading minute costs more than a runaway: the trading cycle is never capped.
    assert not {"signals", "risk", "execute", "pre_market", "flatten", "post_close"} & set(reserved(paper))


def test_backtest_days_reserve_what_the_workflow_runs_at_once() -> None:
    definition = json.loads((REPO_ROOT / "stepfunctions" / "backtest.asl.json").read_text())
    assert definition["States"]["Days"]["MaxConcurrency"] == RESERVED_CONCURRENCY["backtest_day"]


def test_the_default_account_limit_fits_the_reservations_and_off_reserves_nothing() -> None:
    assert sum(RESERVED_CONCURRENCY.values()) + LAMBDA_UNRESERVED_MINIMUM <= 1000
    assert reserved_concurrency_from_context(cdk.App().node) == RESERVED_CONCURRENCY
    assert (
        reserved_concurrency_from_context(cdk.App(context={RESERVED_CONCURRENCY_CONTEXT: "off"}).node) == {}
    )
    with pytest.raises(ReservedConcurrencyContextError, match=r"on .* or off .* below 151"):
        reserved_concurrency_from_context(cdk.App(context={RESERVED_CONCURRENCY_CONTEXT: "10"}).node)
