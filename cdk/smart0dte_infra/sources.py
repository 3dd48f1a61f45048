"""The files the stack deploys from the checkout: one handler per function, one ASL file per state
machine, and the compiled pricing kernel the core layer carries. resources.py names them relative to
its own checkout; the stack may be pointed at another root (tests use a generated one), so paths are
re-rooted here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from smart0dte import resources
from smart0dte.resources import FunctionSpec, StateMachineSpec

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
PRICING_KERNELS = (
    Path("layers/core/python/smart0dte/domain/_pricing_kernel.so"),
    Path("layers/core/python/smart0dte/domain/_pricing_kernel_v3.so"),
)
"""The baseline (x86-64-v2) build and the one taken on CPUs with AVX2 and FMA (x86-64-v3)."""
"""Built by `make kernel` (x86_64 Linux, glibc <= 2.34); without it Lambda would fail to price."""


class MissingSourcesError(FileNotFoundError):
    """Files that resources.py promises are absent from the checkout being synthesized."""


class DefinitionMismatchError(ValueError):
    """An ASL file's placeholders differ from the functions its spec lists."""


def rerooted(path: Path, repo_root: Path) -> Path:
    return repo_root / path.relative_to(resources.REPO_ROOT)


def handler_path(spec: FunctionSpec, repo_root: Path) -> Path:
    return rerooted(spec.handler_path, repo_root)


def definition_path(spec: StateMachineSpec, repo_root: Path) -> Path:
    return rerooted(spec.definition_path, repo_root)


def check_sources(
    repo_root: Path,
    functions: tuple[FunctionSpec, ...] = resources.FUNCTIONS,
    state_machines: tuple[StateMachineSpec, ...] = resources.STATE_MACHINES,
) -> None:
    """Raise one error naming every missing handler, ASL file and the kernel, so a synth fails
    before it starts."""
    missing = [handler_path(f, repo_root) for f in functions if not handler_path(f, repo_root).is_file()]
    missing += [
        definition_path(s, repo_root) for s in state_machines if not definition_path(s, repo_root).is_file()
    ]
    kernels = [repo_root / k for k in PRICING_KERNELS if not (repo_root / k).is_file()]
    missing += kernels
    if missing:
        listed = "\n".join(f"  - {path.relative_to(repo_root)}" for path in missing)
        hint = "\n(the pricing kernel is built by `make kernel`)" if kernels else ""
        raise MissingSourcesError(
            f"cannot synthesize: {len(missing)} file(s) the stack deploys are missing "
            f"under {repo_root}:\n{listed}{hint}"
        )


def load_definition(spec: StateMachineSpec, repo_root: Path) -> dict[str, Any]:
    """The parsed ASL, after checking it uses exactly the placeholders of the spec's functions."""
    path = definition_path(spec, repo_root)
    text = path.read_text()
    used = set(PLACEHOLDER.findall(text))
    expected = set(spec.substitutions)
    if used != expected:
        problems = []
        if unknown := sorted(used - expected):
            problems.append(f"unknown placeholder(s) {', '.join('${' + p + '}' for p in unknown)}")
        if unused := sorted(expected - used):
            problems.append(f"never uses {', '.join('${' + p + '}' for p in unused)}")
        raise DefinitionMismatchError(
            f"{path.relative_to(repo_root)}: {'; '.join(problems)} "
            f"(resources.py lists functions {', '.join(spec.functions)} for {spec.name!r})"
        )
    try:
        definition: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as error:
        raise DefinitionMismatchError(f"{path.relative_to(repo_root)}: not valid JSON ({error})") from error
    return definition


def uses_distributed_map(definition: dict[str, Any]) -> bool:
    """True when a Map state (at any depth) runs in DISTRIBUTED mode and so starts child executions."""
    for state in definition.get("States", {}).values():
        processor = state.get("ItemProcessor") or {}
        if processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED":
            return True
        inner = [processor, state.get("Iterator") or {}, *state.get("Branches", [])]
        if any(uses_distributed_map(branch) for branch in inner if branch):
            return True
    return False
