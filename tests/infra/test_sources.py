"""What the stack checks before it synthesizes: the files resources.py promises, ASL placeholders
that match each spec's functions, and a least-privilege entry for every function."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from smart0dte_infra.access import (
    AccessMatrixError,
    access_for,
)
from smart0dte_infra.sources import (
    PRICING_KERNELS,
    DefinitionMismatchError,
    MissingSourcesError,
    check_sources,
    definition_path,
    load_definition,
    uses_distributed_map,
)

from smart0dte import resources as r

from .conftest import minimal_definition, write_fake_repo

TRADING_CYCLE = next(s for s in r.STATE_MACHINES if s.name == "trading_cycle")


def test_a_complete_checkout_passes(tmp_path: Path) -> None:
    check_sources(write_fake_repo(tmp_path))


def test_an_empty_checkout_names_every_file_it_lacks(tmp_path: Path) -> None:
    with pytest.raises(MissingSourcesError) as raised:
        check_sources(tmp_path)

    lines = [line.strip() for line in str(raised.value).splitlines()[1:]]
    assert lines == [
        *(f"- lambdas/{f.name}/handler.py" for f in r.FUNCTIONS),
        *(f"- stepfunctions/{s.name}.asl.json" for s in r.STATE_MACHINES),
        *(f"- {kernel}" for kernel in PRICING_KERNELS),
        "(the pricing kernel is built by `make kernel`)",
    ]


def test_a_checkout_without_the_built_pricing_kernel_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "layers").mkdir()
    write_fake_repo(repo, layers=False)
    shutil.copytree(
        r.REPO_ROOT / "layers" / "core",
        repo / "layers" / "core",
        ignore=shutil.ignore_patterns("__pycache__", PRICING_KERNELS[1].name),
    )
    with pytest.raises(MissingSourcesError, match="make kernel") as raised:
        check_sources(repo)
    assert str(raised.value).splitlines()[1].strip() == f"- {PRICING_KERNELS[1]}"


def test_a_definition_must_use_exactly_the_placeholders_of_its_functions(tmp_path: Path) -> None:
    repo = write_fake_repo(tmp_path)
    path = definition_path(TRADING_CYCLE, repo)
    definition = json.loads(path.read_text())
    definition["States"]["RiskFunctionArn"]["Resource"] = "${LearningFunctionArn}"
    path.write_text(json.dumps(definition))

    with pytest.raises(DefinitionMismatchError) as raised:
        load_definition(TRADING_CYCLE, repo)

    message = str(raised.value)
    assert "stepfunctions/trading_cycle.asl.json" in message
    assert "unknown placeholder(s) ${LearningFunctionArn}" in message
    assert "never uses ${RiskFunctionArn}" in message


def test_a_definition_must_be_json(tmp_path: Path) -> None:
    repo = write_fake_repo(tmp_path)
    path = definition_path(TRADING_CYCLE, repo)
    path.write_text(path.read_text() + "}")

    with pytest.raises(DefinitionMismatchError, match="not valid JSON"):
        load_definition(TRADING_CYCLE, repo)


def test_distributed_maps_are_found_at_any_depth() -> None:
    inline = minimal_definition(TRADING_CYCLE)
    distributed = minimal_definition(TRADING_CYCLE, distributed=True)
    nested = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [distributed], "End": True}}}

    assert not uses_distributed_map(inline)
    assert uses_distributed_map(distributed)
    assert uses_distributed_map(nested)


def test_every_function_needs_a_least_privilege_entry() -> None:
    newcomer = r.FunctionSpec("newcomer")

    assert set(access_for()) == {f.name for f in r.FUNCTIONS}
    with pytest.raises(AccessMatrixError, match="newcomer"):
        access_for((*r.FUNCTIONS, newcomer))
    with pytest.raises(AccessMatrixError, match="risk"):
        access_for(tuple(f for f in r.FUNCTIONS if f.name != "risk"))


def test_environment_variable_names_come_from_logical_names() -> None:
    assert r.env_var("TABLE", r.TRADING_TABLE.logical_name) == "SMART0DTE_TABLE_TRADING"
    assert r.env_var("TOPIC", r.ALERT_TOPIC.logical_name, "arn") == "SMART0DTE_TOPIC_ALERTS_ARN"
