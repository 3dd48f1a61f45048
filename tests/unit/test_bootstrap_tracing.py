"""The handlers' tracer: Powertools' X-Ray tracer where Powertools traces, a silent one elsewhere.

Each case runs in a fresh interpreter: Powertools keeps the Tracer's configuration on the class.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
from smart0dte.bootstrap.tracing import lambda_tracer
tracer = lambda_tracer("probe")

@tracer.capture_lambda_handler
def handle(event, context):
    if event.get("fail"):
        raise ValueError("boom")
    return {"echo": event}

result = handle({"n": 1}, None)
try:
    handle({"fail": True}, None)
    raised = False
except ValueError:
    raised = True
print(json.dumps({
    "result": result,
    "raised": raised,
    "provider": type(tracer.provider).__module__,
    "xray_sdk_core": "aws_xray_sdk.core" in sys.modules,
}))
"""


def _probe(**env: str) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_TASK_ROOT"))}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True, check=True
    )
    probe: dict[str, object] = json.loads(result.stdout)
    return probe


def test_with_tracing_disabled_the_handler_runs_and_the_x_ray_sdk_is_not_loaded() -> None:
    probe = _probe(POWERTOOLS_TRACE_DISABLED="true")
    assert probe == {
        "result": {"echo": {"n": 1}},
        "raised": True,
        "provider": "smart0dte.bootstrap.tracing",
        "xray_sdk_core": False,
    }


def test_outside_lambda_tracing_is_off_as_powertools_decides() -> None:
    assert _probe()["provider"] == "smart0dte.bootstrap.tracing"


def test_in_lambda_with_tracing_on_it_is_the_x_ray_tracer() -> None:
    probe = _probe(LAMBDA_TASK_ROOT="/var/task", AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR")
    assert str(probe["provider"]).startswith("aws_xray_sdk.core.")
    assert probe["xray_sdk_core"] is True
    assert probe["result"] == {"echo": {"n": 1}}
