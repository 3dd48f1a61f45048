"""The GitHub Actions workflows (.github/workflows): actionlint passes on them (with shellcheck on
their scripts when it is installed), every action is pinned by a full commit SHA, and deploys run
one at a time through OIDC with production behind its environment."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from smart0dte.resources import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
PINNED = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}")


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return document


def actionlint() -> str:
    """The actionlint of this environment's dev extra (beside the interpreter), else on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.is_file() else shutil.which("actionlint")
    assert found, "actionlint is not installed: pip install -e '.[dev]'"
    return found


def test_actionlint_passes_on_the_workflows() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 2
    done = subprocess.run([actionlint(), *files], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_action_is_pinned_by_a_full_commit_sha() -> None:
    uses = [
        step["uses"]
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for job in load(path.name)["jobs"].values()
        for step in job.get("steps", [])
        if "uses" in step
    ]
    assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
    assert [u for u in uses if not PINNED.fullmatch(u)] == []


def test_deploys_never_overlap_and_production_waits_for_staging_and_its_reviewers() -> None:
    deploy = load("deploy.yml")
    assert deploy["concurrency"] == {"group": "deploy", "cancel-in-progress": False}
    assert deploy["permissions"] == {"contents": "read"}
    staging, production = deploy["jobs"]["staging"], deploy["jobs"]["production"]
    assert production["needs"] == "staging"
    for job, stage in ((staging, "staging"), (production, "production")):
        assert job["environment"] == stage
        assert job["concurrency"] == {"group": f"deploy-{stage}", "cancel-in-progress": False}
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        commands = " ".join(step.get("run", "") for step in job["steps"])
        assert "deploy smart0dte-" in commands and 'npx --yes "$CDK_CLI"' in commands
    staging_run = " ".join(step.get("run", "") for step in staging["steps"])
    assert "-c prefix=smart0dte-staging" in staging_run and "liveTrading" not in staging_run
    assert re.fullmatch(r"aws-cdk@2\.\d+\.\d+", deploy["env"]["CDK_CLI"])


def test_pull_requests_test_synthesize_with_cdk_nag_and_diff_without_a_change_set() -> None:
    ci = load("ci.yml")
    assert "pull_request" in ci[True]  # YAML 1.1 reads the key `on` as True
    runs = {name: " ".join(step.get("run", "") for step in job["steps"]) for name, job in ci["jobs"].items()}
    assert "make test" in runs["test"]
    assert runs["synth"].count("synth --quiet") >= 3
    assert "diff --no-change-set" in runs["synth"]
