"""Loading the deployed handler files by path, and rendering the ASL with function ARNs."""

import sys
from pathlib import Path

import pytest

from smart0dte import resources
from smart0dte.local.embedded import (
    EmbeddedAwsError,
    HandlerImportError,
    HandlerNotFound,
    LambdaServiceException,
    error_type_of,
    load_handler,
    missing_handlers,
    render_definition,
)
from smart0dte.resources import FUNCTIONS, StateMachineSpec, WorkflowType

SPEC = FUNCTIONS[0]


def _write(root: Path, name: str, files: dict[str, str]) -> None:
    folder = root / "lambdas" / name
    folder.mkdir(parents=True)
    for file, text in files.items():
        (folder / file).write_text(text)


def test_a_handler_loads_by_path_with_its_folder_importable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "REPO_ROOT", tmp_path)
    _write(
        tmp_path,
        SPEC.name,
        {
            "handler.py": "from s0_test_shapes import shaped\n\n\ndef handler(event, context):\n"
            "    return shaped(event)\n",
            "s0_test_shapes.py": "def shaped(event):\n    return {'shaped': event}\n",
        },
    )

    handler = load_handler(SPEC)

    assert handler({"a": 1}, None) == {"shaped": {"a": 1}}
    assert missing_handlers() == [f for f in FUNCTIONS if f is not SPEC]
    assert str(tmp_path / "lambdas" / SPEC.name) not in sys.path
    sys.modules.pop("s0_test_shapes", None)


def test_broken_or_handlerless_modules_fail_like_the_lambda_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "REPO_ROOT", tmp_path)

    with pytest.raises(HandlerImportError, match=r"no file .*/lambdas/pre_market/handler\.py"):
        load_handler(SPEC)
    _write(tmp_path, SPEC.name, {"handler.py": "import not_a_module_anywhere\n"})
    with pytest.raises(
        HandlerImportError, match="ModuleNotFoundError: No module named 'not_a_module_anywhere'"
    ):
        load_handler(SPEC)
    (tmp_path / "lambdas" / SPEC.name / "handler.py").write_text("HANDLER = None\n")
    with pytest.raises(HandlerNotFound, match="Handler 'handler' missing"):
        load_handler(SPEC)
    assert error_type_of(HandlerImportError("x")) == "Runtime.ImportModuleError"
    assert error_type_of(HandlerNotFound("x")) == "Runtime.HandlerNotFound"
    assert error_type_of(LambdaServiceException("x")) == "Lambda.ServiceException"
    assert error_type_of(KeyError("x")) == "KeyError"


def test_every_placeholder_must_name_a_function_of_the_state_machine() -> None:
    machine = StateMachineSpec("trading_cycle", WorkflowType.EXPRESS, ("signals", "risk"))
    arns = {"signals": "arn:signals", "risk": "arn:risk", "execute": "arn:execute"}

    with pytest.raises(EmbeddedAwsError, match=r"no value for placeholder\(s\) ExecuteFunctionArn"):
        render_definition(machine, arns)
    full = StateMachineSpec("trading_cycle", WorkflowType.EXPRESS, ("signals", "risk", "execute"))
    assert "arn:execute" in render_definition(full, arns)
