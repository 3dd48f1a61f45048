"""Synthesis against the real checkout: the handlers in lambdas/ and the ASL files in
stepfunctions/, deployed as they are, and the built dashboard (web/dist) when `make` has built it
(`make test` does); otherwise a two-file stand-in, so these tests also run on their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from smart0dte_infra.sources import definition_path

from smart0dte import resources as r

from .conftest import (
    LAMBDA_UNZIPPED_LIMIT_BYTES,
    REPO_ROOT,
    Synth,
    describe_sizes,
    package_sizes,
    resources_of_functions,
    synthesize,
    write_fake_dashboard,
)

pytestmark = pytest.mark.real_repo


REAL_DASHBOARD = REPO_ROOT / "web" / "dist"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if (REAL_DASHBOARD / "index.html").is_file():
        return REAL_DASHBOARD
    return write_fake_dashboard(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory, deps_layer: Path, dashboard: Path) -> Synth:
    return synthesize(REPO_ROOT, deps_layer, tmp_path_factory.mktemp("cdk.out"), dashboard_dir=dashboard)


def test_the_checkout_synthesizes_every_resource_and_passes_aws_solutions(real: Synth) -> None:
    assert len(resources_of_functions(real.template_json)) == len(r.FUNCTIONS)
    real.template.resource_count_is("AWS::StepFunctions::StateMachine", len(r.STATE_MACHINES))
    real.template.resource_count_is("AWS::Scheduler::Schedule", len(r.SCHEDULES))
    assert real.nag.success, "\n".join(v.rule_name for v in real.nag.violations)


def test_each_asl_file_is_deployed_as_written(real: Synth) -> None:
    machines = {
        v["Properties"]["StateMachineName"]: v["Properties"]
        for v in real.template_json["Resources"].values()
        if v["Type"] == "AWS::StepFunctions::StateMachine"
    }
    for spec in r.STATE_MACHINES:
        key = machines[spec.physical_name()]["DefinitionS3Location"]["Key"]
        deployed = json.loads((real.outdir / f"asset.{key}").read_text())
        assert deployed == json.loads(definition_path(spec, REPO_ROOT).read_text()), spec.name


def test_each_real_handler_ships_only_its_own_folder(real: Synth) -> None:
    handlers = {f.physical_name(): f.name for f in r.FUNCTIONS}
    for function in resources_of_functions(real.template_json):
        props = function["Properties"]
        staged = real.outdir / f"asset.{props['Code']['S3Key'].removesuffix('.zip')}"
        expected = REPO_ROOT / "lambdas" / handlers[props["FunctionName"]] / "handler.py"
        assert (staged / "handler.py").read_bytes() == expected.read_bytes()
        assert not list(staged.rglob("__pycache__"))


def test_real_functions_with_their_layers_fit_lambdas_250_mb_unzipped_limit(
    real: Synth, capsys: pytest.CaptureFixture[str]
) -> None:
    sizes = package_sizes(real)
    with capsys.disabled():
        print(f"\nreal handlers: {describe_sizes(sizes)}")
    assert max(sizes.values()) <= LAMBDA_UNZIPPED_LIMIT_BYTES, sizes


def test_the_built_dashboard_is_what_the_site_deployment_uploads(real: Synth, dashboard: Path) -> None:
    (deployment,) = [
        v for v in real.template_json["Resources"].values() if v["Type"] == "Custom::CDKBucketDeployment"
    ]
    staged_sources = [
        real.outdir / f"asset.{k.removesuffix('.zip')}" for k in deployment["Properties"]["SourceObjectKeys"]
    ]
    (staged,) = [d for d in staged_sources if (d / "index.html").exists()]  # the other one is config.json
    assert (staged / "index.html").read_bytes() == (dashboard / "index.html").read_bytes()
    shipped = sorted(p.relative_to(staged) for p in staged.rglob("*") if p.is_file())
    assert shipped == sorted(p.relative_to(dashboard) for p in dashboard.rglob("*") if p.is_file())
