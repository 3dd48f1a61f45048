"""cfn-lint and checkov on synthesized templates, compared with the reviewed baseline
(cdk/scan-baseline.json): every finding must match an accepted entry, and every entry a finding.

cfn-lint comes from the project's venv (pyproject's dev extra); checkov pins boto3, botocore and
packaging below the project's, so it lives in its own venv, `.tools/checkov`, that `make test`
creates (the Makefile's CHECKOV_STAMP)."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smart0dte import resources

BASELINE = resources.REPO_ROOT / "cdk" / "scan-baseline.json"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
CHECKOV = resources.REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"
CHECKOV_INSTALL = "make .tools/checkov/.installed"
CHECKOV_FLAGS = (
    "--framework",
    "cloudformation",
    "--output",
    "json",
    "--compact",
    "--quiet",
    "--skip-download",
)


@dataclass(frozen=True, order=True)
class Finding:
    tool: str
    template: str
    rule: str
    resource: str
    message: str = ""

    def __str__(self) -> str:
        return f"{self.tool} {self.rule} on {self.resource} ({self.template}): {self.message}"


@dataclass(frozen=True)
class Accepted:
    tool: str
    template: str
    rule: str
    resource: str
    """An fnmatch pattern of logical ids (CDK appends a hash to each)."""
    reason: str

    def covers(self, finding: Finding) -> bool:
        return (
            self.tool == finding.tool
            and fnmatch.fnmatchcase(finding.template, self.template)
            and self.rule == finding.rule
            and fnmatch.fnmatchcase(finding.resource, self.resource)
        )


def load_baseline(path: Path = BASELINE) -> list[Accepted]:
    entries = json.loads(path.read_text())["accepted"]
    baseline = [Accepted(**entry) for entry in entries]
    unreasoned = [a for a in baseline if len(a.reason.split()) < 4]
    assert not unreasoned, f"baseline entries without a reason: {unreasoned}"
    return baseline


def cfn_lint(template: Path, label: str) -> list[Finding]:
    done = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 2, 4, 6, 8, 10, 12, 14):  # bit flags of the levels found; 1: crash
        raise RuntimeError(f"cfn-lint failed ({done.returncode}): {done.stderr[-2000:]}")
    return [
        Finding("cfn-lint", label, m["Rule"]["Id"], _resource(m["Location"]["Path"]), m["Message"][:200])
        for m in json.loads(done.stdout or "[]")
    ]


def _resource(path: list[Any] | None) -> str:
    path = path or []
    return str(path[1]) if len(path) > 1 and path[0] == "Resources" else "/".join(map(str, path[:2]))


def checkov(template: Path, label: str) -> list[Finding]:
    if not CHECKOV.is_file():
        raise FileNotFoundError(f"checkov is not installed at {CHECKOV}: run `{CHECKOV_INSTALL}`")
    done = subprocess.run(
        [str(CHECKOV), *CHECKOV_FLAGS, "--file", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):  # 1: failed checks were found
        raise RuntimeError(f"checkov failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    reports = report if isinstance(report, list) else [report]
    return [
        Finding("checkov", label, c["check_id"], c["resource"].split(".", 1)[1], c["check_name"][:200])
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]


def compare(findings: list[Finding], baseline: list[Accepted]) -> tuple[list[Finding], list[Accepted]]:
    """(findings no entry accepts, entries that accept no finding)."""
    new = sorted(f for f in findings if not any(a.covers(f) for a in baseline))
    stale = [a for a in baseline if not any(a.covers(f) for f in findings)]
    return new, stale
