"""The dependency layer build: keyed by a hash of what decides its content, built once, never left
half-built, trimmed of what Lambda already provides, and made of Linux x86_64 CPython 3.12 wheels."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from smart0dte_infra import layer_build
from smart0dte_infra.layer_build import (
    LayerBuildError,
    build_deps_layer,
    layer_dir,
    pip_command,
    requirements_hash,
)


def _requirements(tmp_path: Path, text: str = "numpy>=2\n") -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return path


def test_hash_follows_the_requirements_content(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = requirements_hash(_requirements(tmp_path / "a"))
    same = requirements_hash(_requirements(tmp_path / "b"))
    other = requirements_hash(_requirements(tmp_path, "numpy>=2\npandas\n"))

    assert first == same
    assert other != first
    assert layer_dir(tmp_path / "a" / "requirements.txt", tmp_path / "build") == (
        tmp_path / "build" / "layers" / f"deps-{first}"
    )


def test_pip_targets_lambdas_platform_without_docker(tmp_path: Path) -> None:
    command = " ".join(pip_command(tmp_path / "requirements.txt", tmp_path / "python"))

    assert "--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64" in command
    assert "--only-binary=:all:" in command
    assert "--python-version 3.12" in command
    assert "--implementation cp" in command
    assert f"--target {tmp_path / 'python'}" in command


def test_an_existing_build_is_reused_without_running_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requirements = _requirements(tmp_path)
    built = layer_dir(requirements, tmp_path / "build")
    (built / "python").mkdir(parents=True)

    def no_pip(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pip ran although the layer was built")

    monkeypatch.setattr(subprocess, "run", no_pip)

    assert build_deps_layer(requirements, tmp_path / "build") == built


def _fake_pip(returncode: int, stderr: str = "") -> Any:
    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        target = Path(command[command.index("--target") + 1])
        for package in (
            "numpy/core",
            "numpy/tests",
            "numpy/linalg/tests",
            "pandas/tests",
            "botocore/data",
            "boto3",
            "s3transfer",
            "bin",
            "pydantic/__pycache__",
        ):
            (target / package).mkdir(parents=True, exist_ok=True)
            (target / package / "x.py").write_text("x = 1\n")
        (target / "botocore-1.40.0.dist-info").mkdir()
        return subprocess.CompletedProcess(command, returncode, "", stderr)

    return run


def test_a_build_is_trimmed_of_tests_caches_scripts_and_the_runtimes_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "run", _fake_pip(0))

    built = build_deps_layer(_requirements(tmp_path), tmp_path / "build") / "python"

    assert sorted(p.relative_to(built).as_posix() for p in built.rglob("*.py")) == ["numpy/core/x.py"]
    assert not (built / "botocore-1.40.0.dist-info").exists()
    assert [p.name for p in (tmp_path / "build" / "layers").iterdir()] == [built.parent.name]


def test_a_failed_build_leaves_nothing_behind_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "run", _fake_pip(1, "ERROR: No matching distribution found for numpy"))

    with pytest.raises(LayerBuildError, match="No matching distribution found for numpy") as raised:
        build_deps_layer(_requirements(tmp_path), tmp_path / "build")

    assert "manylinux_2_28_x86_64" in str(raised.value)
    assert list((tmp_path / "build" / "layers").iterdir()) == []


def test_the_real_layer_holds_linux_x86_64_cpython_3_12_binaries_and_no_aws_sdk(deps_layer: Path) -> None:
    site = deps_layer / "python"
    extensions = [p.name for p in site.rglob("*.so")]

    assert any(name.endswith(".cpython-312-x86_64-linux-gnu.so") for name in extensions)
    assert not any(".cpython-3" in name and "312" not in name for name in extensions)
    assert all((site / package).is_dir() for package in ("numpy", "pandas", "pydantic_core", "pynamodb"))
    for absent in (*layer_build.PROVIDED_BY_RUNTIME, "bin", "pandas/tests"):
        assert not (site / absent).exists(), absent
