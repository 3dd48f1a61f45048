"""cfn-lint and checkov on the two synthesized stacks of the session (paper; both tasks with a custom
domain): every finding is in the reviewed baseline (cdk/scan-baseline.json) with its reason, and
every baseline entry is still found; a template with a new finding fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Synth
from .template_scans import Finding, cfn_lint, checkov, compare, load_baseline

UNVERSIONED_BUCKET = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "Reports": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
            },
        }
    },
}
"""A bucket as the stack had them before issue 16: private and encrypted, but not versioned."""
CHECKOV_BUCKET_VERSIONING = "CKV_AWS_21"


def template_file(synth: Synth) -> Path:
    return synth.outdir / f"{synth.stack.stack_name}.template.json"


@pytest.fixture(scope="module")
def findings(synth: Synth, synth_with_tasks: Synth) -> list[Finding]:
    found: list[Finding] = []
    for label, s in (("paper", synth), ("tasks", synth_with_tasks)):
        found += cfn_lint(template_file(s), label) + checkov(template_file(s), label)
    return found


def test_every_finding_is_accepted_in_the_baseline_and_every_entry_still_found(
    findings: list[Finding],
) -> None:
    new, stale = compare(findings, load_baseline())
    assert not new, (
        "new findings (fix them, or accept each in cdk/scan-baseline.json with a reason):\n"
        + "\n".join(map(str, new))
    )
    assert not stale, f"baseline entries no longer found (remove them): {stale}"


def test_cfn_lint_finds_nothing_but_what_the_baseline_accepts(findings: list[Finding]) -> None:
    tools = {f.tool for f in findings}
    assert "checkov" in tools  # checkov ran and reported (its accepted findings)
    print(
        f"scan findings: cfn-lint {sum(f.tool == 'cfn-lint' for f in findings)}, "
        f"checkov {sum(f.tool == 'checkov' for f in findings)}; baseline {len(load_baseline())} entries"
    )


def test_an_unversioned_bucket_is_a_new_finding(tmp_path: Path) -> None:
    template = tmp_path / "unversioned.template.json"
    template.write_text(json.dumps(UNVERSIONED_BUCKET))
    found = checkov(template, "fixture") + cfn_lint(template, "fixture")
    new, _ = compare(found, load_baseline())
    assert Finding("checkov", "fixture", CHECKOV_BUCKET_VERSIONING, "Reports") in {
        Finding(f.tool, f.template, f.rule, f.resource) for f in new
    }


def test_a_baseline_entry_accepts_only_its_rule_and_resource_pattern() -> None:
    (entry, *_) = load_baseline()
    finding: dict[str, Any] = {
        "tool": entry.tool,
        "template": "tasks",
        "rule": entry.rule,
        "resource": entry.resource.replace("*", "X"),
    }
    assert entry.covers(Finding(**finding)) == (entry.template in ("*", "tasks"))
    assert not entry.covers(Finding(**{**finding, "rule": entry.rule + "0"}))
    assert not entry.covers(Finding(**{**finding, "tool": "other"}))
