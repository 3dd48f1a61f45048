"""Build the third-party Lambda layer without Docker, once per requirements hash.

pip downloads manylinux wheels for the Lambda runtime (CPython 3.12 on x86_64, Amazon Linux 2023)
into `build/layers/deps-<hash>/python`. The hash covers the requirements file, the target platform
and this recipe, so a rebuild happens only when one of them changes; tests and `cdk synth` reuse
the folder. The build lands in a temporary folder first and is renamed into place, so an
interrupted build never leaves a half-built layer behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
"""Amazon Linux 2023 has glibc 2.34: wheels built for glibc 2.28 (current numpy, pandas) and 2.17
(e.g. databento-dbn) both run there."""
PYTHON_VERSION = "3.12"
IMPLEMENTATION = "cp"
DEPS_DIR_PREFIX = "deps-"
RECIPE_VERSION = "1"
"""Bump when the build steps below change, so existing builds are not reused."""

PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")
"""The Lambda Python runtime ships the AWS SDK. pynamodb and the X-Ray SDK pull botocore in; keeping
that copy would pair the runtime's boto3 with a botocore of another release and spend ~30 MB."""

STRIPPED_TOP_LEVEL = ("bin",)
"""Console scripts with a shebang of the build machine's Python; useless in a layer."""
STRIPPED_DIRS = ("__pycache__",)
STRIPPED_PACKAGE_TESTS = ("numpy", "pandas")
"""Test suites shipped inside these wheels; never imported at run time."""


class LayerBuildError(RuntimeError):
    """pip could not build the dependency layer."""


def requirements_hash(requirements: Path) -> str:
    """A short digest of what decides the layer's content."""
    digest = hashlib.sha256()
    digest.update(requirements.read_bytes())
    for part in (*PLATFORMS, PYTHON_VERSION, IMPLEMENTATION, RECIPE_VERSION):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:16]


def layer_dir(requirements: Path, build_root: Path) -> Path:
    """Where the layer for these requirements lives (the folder holding `python/`)."""
    return build_root / "layers" / f"{DEPS_DIR_PREFIX}{requirements_hash(requirements)}"


def pip_command(requirements: Path, target: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--no-compile",
        *(flag for platform in PLATFORMS for flag in ("--platform", platform)),
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        IMPLEMENTATION,
        "--target",
        str(target),
        "--requirement",
        str(requirements),
    ]


def build_deps_layer(requirements: Path, build_root: Path) -> Path:
    """Return the layer folder for `requirements`, building it first if it is not there yet."""
    final = layer_dir(requirements, build_root)
    if (final / "python").is_dir():
        return final
    if not requirements.is_file():
        raise LayerBuildError(f"requirements file not found: {requirements}")
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.parent / f".{final.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        result = subprocess.run(
            pip_command(requirements, partial / "python"), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise LayerBuildError(
                f"pip could not build the dependency layer from {requirements} for "
                f"{'+'.join(PLATFORMS)}/cp{PYTHON_VERSION} (exit {result.returncode}):\n"
                f"{result.stderr.strip()}"
            )
        _strip(partial / "python")
        try:
            partial.rename(final)
        except OSError:
            if not (final / "python").is_dir():  # another process won the race with a complete build
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


def _strip(site: Path) -> None:
    for name in STRIPPED_TOP_LEVEL:
        shutil.rmtree(site / name, ignore_errors=True)
    for name in PROVIDED_BY_RUNTIME:
        shutil.rmtree(site / name, ignore_errors=True)
        for info in site.glob(f"{name}-*.dist-info"):
            shutil.rmtree(info)
    for package in STRIPPED_PACKAGE_TESTS:
        for tests in sorted((site / package).rglob("tests"), reverse=True):
            if tests.is_dir():
                shutil.rmtree(tests)
    for name in STRIPPED_DIRS:
        for folder in sorted(site.rglob(name), reverse=True):
            shutil.rmtree(folder, ignore_errors=True)


def tree_size_bytes(root: Path) -> int:
    """Unzipped size of a folder: the sum of its regular files, as Lambda counts it."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            path = Path(dirpath) / filename
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


if __name__ == "__main__":  # python cdk/smart0dte_infra/layer_build.py [requirements] [build_root]
    repo = Path(__file__).resolve().parents[2]
    req = Path(sys.argv[1]) if len(sys.argv) > 1 else repo / "layers" / "deps" / "requirements.txt"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else repo / "build"
    built = build_deps_layer(req, out)
    print(f"{built} ({tree_size_bytes(built) / 1e6:.1f} MB unzipped)")
