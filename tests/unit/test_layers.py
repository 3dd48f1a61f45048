"""The layering of docs/architecture.md, checked on the source: what each layer may import.

    domain     pure logic: the standard library, numpy, pandas, pydantic, calendars; nothing of ours above it
    ports      Protocols and records: domain only
    ml, services  use cases: domain, ports, ml, services, resources; no adapter, no composition root,
               no local runtime, no AWS or broker SDK
    adapters   AWS and vendor SDKs behind the ports: no service, no composition root, no local runtime;
               no private name of another module
    bootstrap  the composition root: the only code (with local/, the embedded AWS's own root) that
               imports boto3, reads the environment or loads a Lambda handler file

Imports are read from every `import` statement, at any depth (a lazy import counts too).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import smart0dte

PACKAGE_DIR = Path(smart0dte.__file__).parent
REPO_ROOT = PACKAGE_DIR.parents[3]
HANDLERS = sorted((REPO_ROOT / "lambdas").glob("*/handler.py"))

VENDOR_SDKS = frozenset(
    {"boto3", "botocore", "pynamodb", "databento", "databento_dbn", "ib_async", "ib_insync", "moto"}
)
DOMAIN_FORBIDDEN = VENDOR_SDKS | {"aws_lambda_powertools", "xgboost"}
USE_CASE_LAYERS = ("ml", "services")
ENVIRONMENT_READERS = ("bootstrap", "local")
ENVIRONMENT_EXCEPTIONS = {
    "domain/pricing.py": "SMART0DTE_PRICING_KERNEL/ISA choose the kernel build when the module loads "
    "(a diagnostic switch of tests and benches, not configuration)",
}
"""Modules outside the composition root that still read a variable, each with its reason."""


def imports_of(path: Path) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(module, imported names) of every absolute import in `path`, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, tuple(alias.name for alias in node.names)


def top_level(module: str) -> str:
    return module.split(".")[0]


def layer_of_module(module: str) -> str | None:
    """`smart0dte.services.api` -> `services`; None for a module that is not ours."""
    parts = module.split(".")
    return parts[1] if parts[0] == "smart0dte" and len(parts) > 1 else None


def our_layers(path: Path) -> set[str]:
    """The layers of ours that `path` imports (`from smart0dte import ports` counts as `ports`)."""
    found: set[str] = set()
    for module, names in imports_of(path):
        if module == "smart0dte":
            found.update(names)
        elif (layer := layer_of_module(module)) is not None:
            found.add(layer)
    return found


def sources(layer: str) -> list[Path]:
    root = PACKAGE_DIR / layer
    return sorted(root.rglob("*.py")) if root.is_dir() else [PACKAGE_DIR / f"{layer}.py"]


def rel(path: Path) -> str:
    return str(path.relative_to(PACKAGE_DIR))


def violations(layers: tuple[str, ...], forbidden_ours: set[str], forbidden_sdks: frozenset[str]) -> dict:
    found = {}
    for layer in layers:
        for path in sources(layer):
            bad = (our_layers(path) & forbidden_ours) | {
                top_level(m) for m, _ in imports_of(path) if top_level(m) in forbidden_sdks
            }
            if bad:
                found[rel(path)] = sorted(bad)
    return found


def test_the_layers_exist() -> None:
    for layer in ("domain", "ports", "ml", "services", "adapters", "bootstrap", "local", "commands"):
        assert len(sources(layer)) >= 2, layer
    assert len(HANDLERS) >= 9


def test_the_domain_imports_nothing_of_ours_above_it_and_no_sdk() -> None:
    above = {"ports", "ml", "services", "adapters", "bootstrap", "local", "commands", "cli", "resources"}
    assert violations(("domain",), above, DOMAIN_FORBIDDEN) == {}


def test_ports_import_only_the_domain() -> None:
    above = {"ml", "services", "adapters", "bootstrap", "local", "commands", "cli", "resources"}
    assert violations(("ports",), above, DOMAIN_FORBIDDEN) == {}


def test_use_cases_import_no_adapter_no_composition_root_no_local_runtime_and_no_sdk() -> None:
    assert (
        violations(USE_CASE_LAYERS, {"adapters", "bootstrap", "local", "commands", "cli"}, VENDOR_SDKS) == {}
    )


def test_adapters_import_no_use_case_no_composition_root_and_no_local_runtime() -> None:
    assert (
        violations(("adapters",), {"services", "ml", "bootstrap", "local", "commands", "cli"}, frozenset())
        == {}
    )


def test_no_module_imports_a_private_name_of_another_module() -> None:
    found = {
        rel(path): sorted(n for n in names if n.startswith("_") and not n.startswith("__"))
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        for module, names in imports_of(path)
        if layer_of_module(module) is not None
        and any(n.startswith("_") and not n.startswith("__") for n in names)
    }
    assert found == {}


def test_boto3_is_imported_only_by_adapters_and_the_composition_root() -> None:
    importers = {
        rel(path)
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if any(top_level(m) in {"boto3", "botocore"} for m, _ in imports_of(path))
    }
    assert importers
    assert {p for p in importers if p.split("/")[0] not in ("adapters", "bootstrap")} == set()


def test_handlers_take_their_collaborators_from_the_composition_root() -> None:
    found = {
        str(path.relative_to(REPO_ROOT)): sorted(bad)
        for path in HANDLERS
        if (
            bad := (our_layers(path) & {"adapters", "local", "commands"})
            | {top_level(m) for m, _ in imports_of(path) if top_level(m) in VENDOR_SDKS}
        )
    }
    assert found == {}


def _reads_environment(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "getenv"}
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            return True
    return False


def test_only_the_composition_root_reads_the_environment() -> None:
    readers = {
        rel(path)
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if path.relative_to(PACKAGE_DIR).parts[0] not in ENVIRONMENT_READERS and _reads_environment(path)
    }
    assert readers == set(ENVIRONMENT_EXCEPTIONS)
    assert not any(_reads_environment(path) for path in HANDLERS)


def test_only_the_composition_root_and_the_local_runtime_load_handler_files() -> None:
    loaders = {
        rel(path)
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if "spec_from_file_location" in path.read_text()
    }
    assert {p for p in loaders if p.split("/")[0] not in ("bootstrap", "local")} == set()


def test_importing_every_domain_module_loads_no_forbidden_package() -> None:
    modules = [
        "smart0dte.domain." + ".".join(p.relative_to(PACKAGE_DIR / "domain").with_suffix("").parts)
        for p in sources("domain")
        if p.stem != "__init__"
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({sorted(DOMAIN_FORBIDDEN)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("source", "layer", "expected"),
    [
        ("def f():\n    import boto3\n    from databento import Live\n", "services", ["boto3", "databento"]),
        ("from smart0dte.adapters.aws.s3 import S3ObjectStore\n", "services", ["adapters"]),
        ("from smart0dte import bootstrap\n", "ml", ["bootstrap"]),
    ],
)
def test_the_checks_catch_a_forbidden_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, layer: str, expected: list[str]
) -> None:
    fake = tmp_path / "smart0dte"
    (fake / layer).mkdir(parents=True)
    (fake / layer / "bad.py").write_text(source)
    (fake / layer / "good.py").write_text("import json\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_DIR", fake)
    assert violations((layer,), {"adapters", "bootstrap"}, VENDOR_SDKS) == {f"{layer}/bad.py": expected}


def test_the_private_name_check_sees_a_private_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from smart0dte.adapters.aws.dynamodb.tables import _Tx, Public\n")
    assert [names for _, names in imports_of(bad)] == [("_Tx", "Public")]
