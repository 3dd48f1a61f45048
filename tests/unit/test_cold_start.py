"""A handler's cold import leaves out what it does not need yet (bench/cold_start.py times it).

Each handler is imported in a fresh interpreter as the Lambda runtime imports it, with tracing off
(the embedded AWS; outside Lambda Powertools disables it too): the calendar comes from its table,
not exchange_calendars and pandas; Powertools' Tracer does not load the X-Ray SDK; boto3 waits for
the first adapter the composition root builds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from smart0dte.resources import FUNCTIONS, FunctionSpec

NOT_AT_IMPORT = ("pandas", "exchange_calendars", "aws_xray_sdk.core", "boto3", "botocore.session")
LOADED_MODULES = (
    "import sys; sys.path.insert(0, sys.argv[1]); import handler; print(json.dumps(sorted(sys.modules)))"
)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=[f.name for f in FUNCTIONS])
def test_a_handler_imports_no_calendar_library_tracing_sdk_or_boto3(spec: FunctionSpec) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_TASK_ROOT"))}
    env["POWERTOOLS_TRACE_DISABLED"] = "true"
    result = subprocess.run(
        [sys.executable, "-c", f"import json; {LOADED_MODULES}", str(spec.handler_path.parent)],
        env=env,
        cwd=spec.handler_path.parent,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert "handler" in loaded
    assert sorted(loaded & set(NOT_AT_IMPORT)) == []
