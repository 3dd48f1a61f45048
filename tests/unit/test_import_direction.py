"""The domain core stays pure: nothing under smart0dte.domain may import AWS or vendor SDKs."""

import ast
import subprocess
import sys
from pathlib import Path

import smart0dte.domain

FORBIDDEN = {
    "boto3",
    "botocore",
    "pynamodb",
    "databento",
    "databento_dbn",
    "ib_async",
    "ib_insync",
    "aws_lambda_powertools",
    "moto",
    "xgboost",
}
DOMAIN_DIR = Path(smart0dte.domain.__file__).parent


def _imported_top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_domain_source_file_imports_a_forbidden_package() -> None:
    files = sorted(DOMAIN_DIR.rglob("*.py"))
    assert len(files) >= 5
    offenders = {str(f.relative_to(DOMAIN_DIR)): _imported_top_level_names(f) & FORBIDDEN for f in files}
    assert {f: names for f, names in offenders.items() if names} == {}


def test_importing_every_domain_module_loads_no_forbidden_package() -> None:
    modules = [f"smart0dte.domain.{p.stem}" for p in DOMAIN_DIR.glob("*.py") if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({sorted(FORBIDDEN)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import boto3\n    from databento import Live\n")
    assert _imported_top_level_names(bad) & FORBIDDEN == {"boto3", "databento"}
