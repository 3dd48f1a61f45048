"""Fixtures of the infrastructure tests: the real dependency layer (built once per requirements
hash), a generated checkout with a handler per function, a minimal ASL file per state machine and
a two-file dashboard, and one synthesis of that checkout shared by the session."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")  # major versions

from smart0dte import resources

REPO_ROOT = resources.REPO_ROOT
if str(REPO_ROOT / "cdk") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "cdk"))

from smart0dte_infra.layer_build import build_deps_layer, tree_size_bytes  # noqa: E402
from smart0dte_infra.sources import definition_path, handler_path  # noqa: E402

FAKE_DASHBOARD_MARKER = "<!-- smart0dte fake dashboard for the infrastructure tests -->"
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000
"""Lambda's limit on a function's code plus all its layers, unzipped (250 MiB)."""


@dataclass(frozen=True)
class Synth:
    """One synthesized app: the stack, its template (as JSON and as an assertions.Template), the
    cloud assembly folder and the AwsSolutions report."""

    app: Any
    stack: Any
    template: Any
    template_json: dict[str, Any]
    outdir: Path
    nag: Any


def minimal_definition(spec: resources.StateMachineSpec, distributed: bool = False) -> dict[str, Any]:
    """A valid ASL chaining one Task per placeholder of the spec; optionally inside a Distributed Map."""
    names = list(spec.substitutions)
    states: dict[str, Any] = {}
    for i, placeholder in enumerate(names):
        state: dict[str, Any] = {"Type": "Task", "Resource": "${" + placeholder + "}"}
        if i + 1 < len(names):
            state["Next"] = names[i + 1]
        else:
            state["End"] = True
        states[placeholder] = state
    inner = {"StartAt": names[0], "States": states}
    if not distributed:
        return inner
    processor = {**inner, "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}}
    return {"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemProcessor": processor, "End": True}}}


def write_fake_dashboard(directory: Path) -> Path:
    """A built dashboard in miniature: index.html and one asset (what `npm run build` leaves)."""
    (directory / "assets").mkdir(parents=True, exist_ok=True)
    (directory / "index.html").write_text(
        f"<!doctype html>{FAKE_DASHBOARD_MARKER}<script src=./assets/app.js>"
    )
    (directory / "assets" / "app.js").write_text("console.log('smart0dte');\n")
    return directory


def write_fake_repo(root: Path, distributed: Iterable[str] = (), layers: bool = True) -> Path:
    """A checkout holding what the stack deploys, generated from resources.py; layers are the real
    ones (a link to them, unless `layers` is False), the dashboard (web/dist) a two-file stand-in."""
    for function in resources.FUNCTIONS:
        path = handler_path(function, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("def handler(event, context):\n    return event\n")
    for machine in resources.STATE_MACHINES:
        path = definition_path(machine, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(minimal_definition(machine, machine.name in distributed), indent=2))
    if layers:
        (root / "layers").symlink_to(REPO_ROOT / "layers", target_is_directory=True)
    write_fake_dashboard(root / "web" / "dist")
    return root


@pytest.fixture(scope="session")
def deps_layer() -> Path:
    """The real third-party layer; the first run downloads wheels, later runs reuse build/."""
    return build_deps_layer(REPO_ROOT / "layers" / "deps" / "requirements.txt", REPO_ROOT / "build")


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Synth:
    """The stack of a generated checkout (backtest as a Distributed Map), synthesized once."""
    repo = write_fake_repo(tmp_path_factory.mktemp("repo"), distributed={"backtest"})
    return synthesize(repo, deps_layer, tmp_path_factory.mktemp("cdk.out"))


TASKS_ACCOUNT = "111111111111"
CUSTOM_DOMAIN = "trade.example.com"
CUSTOM_CERTIFICATE = f"arn:aws:acm:us-east-1:{TASKS_ACCOUNT}:certificate/0a1b2c3d-1111-2222-3333-444455556666"
WITH_TASKS = {
    "marketData": "databento",
    "liveTrading": "ibkr_paper",
    "ibAccount": "DU1234567",
    "domainName": CUSTOM_DOMAIN,
    "certificateArn": CUSTOM_CERTIFICATE,
}
"""The fullest stack: both ECS tasks (the feed, the IB paper gateway) and a custom domain."""


@pytest.fixture(scope="session")
def synth_with_tasks(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path) -> Synth:
    """WITH_TASKS synthesized once, bound to an account as `cdk deploy` binds it."""
    repo = write_fake_repo(tmp_path_factory.mktemp("repo"))
    for name in ("pyproject.toml", "README.md", "gateway_container"):
        (repo / name).symlink_to(REPO_ROOT / name)
    return synthesize(
        repo, deps_layer, tmp_path_factory.mktemp("cdk.out"), context=WITH_TASKS, account=TASKS_ACCOUNT
    )


def synthesize(
    repo_root: Path,
    deps_layer: Path,
    outdir: Path,
    prefix: str = resources.DEFAULT_PREFIX,
    dashboard_dir: Path | None = None,
    context: dict[str, str] | None = None,
    account: str | None = None,
) -> Synth:
    """Synthesize the stack as cdk/app.py does (cdk.json's context, plus `context` as `-c` would
    add it), then run the AwsSolutions pack. `dashboard_dir` None deploys `<repo_root>/web/dist`,
    like the app; `account` binds the stack to it (us-east-1), as the CLI does with credentials."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template
    from cdk_nag import AwsSolutionsChecks
    from smart0dte_infra import Smart0dteStack

    app_context = {**json.loads((REPO_ROOT / "cdk.json").read_text())["context"], **(context or {})}
    app = cdk.App(context=app_context, outdir=str(outdir))
    stack = Smart0dteStack(
        app,
        prefix,
        prefix=prefix,
        repo_root=repo_root,
        deps_layer_dir=deps_layer,
        dashboard_dir=dashboard_dir,
        env=None if account is None else cdk.Environment(account=account, region="us-east-1"),
    )
    assembly = app.synth()
    template_json = assembly.get_stack_by_name(stack.stack_name).template
    nag = AwsSolutionsChecks().validate_scope(app)
    return Synth(app, stack, Template.from_json(template_json), template_json, outdir, nag)


def package_sizes(synth: Synth) -> dict[str, int]:
    """Per function name: unzipped bytes of its code asset plus its layers' assets, as staged in
    the cloud assembly (the folders the CLI zips and uploads)."""
    t = synth.template_json
    sizes: dict[str, int] = {}
    for function in resources_of_functions(t):
        props = function["Properties"]
        keys = [props["Code"]["S3Key"]]
        keys += [t["Resources"][layer["Ref"]]["Properties"]["Content"]["S3Key"] for layer in props["Layers"]]
        folders = [synth.outdir / f"asset.{key.removesuffix('.zip')}" for key in keys]
        missing = [f for f in folders if not f.is_dir()]
        assert not missing, f"assets not staged: {missing}"
        sizes[props["FunctionName"]] = sum(tree_size_bytes(folder) for folder in folders)
    return sizes


def resources_of_functions(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The functions of resources.FUNCTIONS: the named ones. CDK's BucketDeployment handler, the
    only other function, has no name."""
    return [
        v
        for v in template["Resources"].values()
        if v["Type"] == "AWS::Lambda::Function" and "FunctionName" in v["Properties"]
    ]


def describe_sizes(sizes: dict[str, int]) -> str:
    largest = max(sizes, key=sizes.__getitem__)
    return (
        f"Lambda unzipped size (code + core layer + deps layer): largest {largest} "
        f"{sizes[largest]:,} bytes ({sizes[largest] / 2**20:.1f} MiB) of {LAMBDA_UNZIPPED_LIMIT_BYTES:,}"
    )
