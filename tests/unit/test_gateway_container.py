"""gateway_container/: the Dockerfile's essentials (it cannot be built here: no Docker engine)."""

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = ROOT / "gateway_container"
DOCKERFILE = CONTAINER / "Dockerfile"
ENTRYPOINT = CONTAINER / "entrypoint.sh"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    return rows


def args() -> dict[str, str]:
    found = {}
    for keyword, rest in instructions():
        if keyword == "ARG":
            name, _, value = rest.partition("=")
            found[name] = value.strip('"')
    return found


def test_it_runs_as_a_non_root_user() -> None:
    users = [rest for keyword, rest in instructions() if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_base_image_and_installers_are_pinned() -> None:
    pinned = args()
    assert re.fullmatch(r"python:3\.12-slim(-\w+)?", pinned["PYTHON_IMAGE"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned["IBC_VERSION"])
    assert pinned["IB_GATEWAY_URL"].startswith("https://download2.interactivebrokers.com/")
    assert {"IB_GATEWAY_SHA256", "IBC_SHA256"} <= pinned.keys()
    assert "latest" not in DOCKERFILE.read_text()


def test_the_package_is_installed_with_the_aws_and_gateway_extras() -> None:
    runs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert 'pip install --no-cache-dir ".[aws,gateway]"' in runs
    assert "IBCLinux-${IBC_VERSION}.zip" in runs


def test_the_entrypoint_exists_is_executable_and_ends_in_the_bridge() -> None:
    (entry,) = [rest for keyword, rest in instructions() if keyword == "ENTRYPOINT"]
    assert "/opt/smart0dte/entrypoint.sh" in entry
    assert os.access(ENTRYPOINT, os.X_OK)
    script = ENTRYPOINT.read_text()
    assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script
    assert re.search(r"^exec smart0dte order-bridge ", script, re.MULTILINE)
    for name in ("TWS_USERID", "TWS_PASSWORD", "TRADING_MODE"):
        assert f"${{{name}:?" in script  # refused when ECS did not inject it


def test_no_secret_is_baked_into_the_image() -> None:
    for keyword, rest in instructions():
        if keyword in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"PASSWORD|USERID|SECRET|TOKEN|AWS_ACCESS_KEY", rest, re.IGNORECASE), rest
    copied = " ".join(rest for keyword, rest in instructions() if keyword in ("COPY", "ADD"))
    assert ".env" not in copied and "config.ini" not in copied


def test_it_has_a_healthcheck() -> None:
    (check,) = [rest for keyword, rest in instructions() if keyword == "HEALTHCHECK"]
    assert "CMD" in check and "/dev/tcp/127.0.0.1/" in check
