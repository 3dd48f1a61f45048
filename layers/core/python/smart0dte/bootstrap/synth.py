"""Synthesis of the CDK app for the commands that read its template (`smart0dte cost`): runs
`cdk/app.py` as `cdk synth` would (cdk.json's context plus the given `-c` pairs), without the CDK
CLI or AWS credentials, in a temporary cloud assembly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smart0dte import resources
from smart0dte.domain.models import DomainError

APP = resources.REPO_ROOT / "cdk" / "app.py"


def synthesize_template(context: Mapping[str, str], repo_root: Path = resources.REPO_ROOT) -> dict[str, Any]:
    """The main stack's template (the stack named after the `prefix` context) as `cdk synth -c
    k=v ...` would write it; a synthesis that fails raises with what the app printed last."""
    app_context = {**json.loads((repo_root / "cdk.json").read_text())["context"], **context}
    prefix = str(app_context.get("prefix") or resources.DEFAULT_PREFIX)
    with tempfile.TemporaryDirectory(prefix="smart0dte-synth-") as outdir:
        env = {
            **os.environ,
            "CDK_OUTDIR": outdir,
            "CDK_CONTEXT_JSON": json.dumps(app_context),
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18,20",
        }
        done = subprocess.run(
            [sys.executable, str(repo_root / "cdk" / "app.py")],
            cwd=repo_root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise DomainError(f"cdk/app.py failed (exit {done.returncode}):\n{tail}")
        template: dict[str, Any] = json.loads((Path(outdir) / f"{prefix}.template.json").read_text())
        return template
