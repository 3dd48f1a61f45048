"""The ASL files resources.py names: valid JSON, every state reachable, every Next defined, and
only the placeholders of the functions the spec lists."""

import json
import re
from typing import Any

import pytest

from smart0dte.resources import STATE_MACHINES, StateMachineSpec

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def _states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, including those inside Map/Parallel branches, by name."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        for inner in [state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])]:
            if inner:
                found.update(_states(inner))
    return found


def _reachable(definition: dict[str, Any]) -> set[str]:
    states, seen, todo = definition["States"], set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        targets = [state.get("Next"), state.get("Default")]
        targets += [c["Next"] for c in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
        todo += [t for t in targets if t]
    return seen


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda s: s.name)
def test_definition_is_complete_and_uses_only_its_functions(spec: StateMachineSpec) -> None:
    text = spec.definition_path.read_text()
    definition = json.loads(text)
    assert set(PLACEHOLDER.findall(text)) == set(spec.substitutions)
    assert _reachable(definition) == set(definition["States"])
    states = _states(definition)
    for name, state in states.items():
        if state["Type"] not in {"Succeed", "Fail", "Choice"}:
            assert state.get("End") or state.get("Next"), f"{spec.name}.{name} neither ends nor continues"
        if state["Type"] == "Task" and name in definition["States"]:
            assert any(c["Next"] for c in state.get("Catch", [])), f"{spec.name}.{name} has no failure path"
    assert any(s["Type"] == "Fail" for s in definition["States"].values()), "a visible failure path"


def test_trading_cycle_is_express_signals_risk_execute() -> None:
    spec = next(s for s in STATE_MACHINES if s.name == "trading_cycle")
    definition = json.loads(spec.definition_path.read_text())
    assert spec.type.value == "EXPRESS"
    order = [n for n in ("Signals", "Risk", "Execute") if n in definition["States"]]
    assert order == ["Signals", "Risk", "Execute"]
    assert definition["StartAt"] == "Signals"
