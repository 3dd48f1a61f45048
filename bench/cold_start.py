"""Cold-start benchmark: how long each Lambda handler takes to import in a fresh process.

Run: .venv/bin/python bench/cold_start.py [--repeat N] [--json]

Each figure is the median over N fresh interpreters (default 5) of the time the import takes inside
the process, loaded as the Lambda runtime loads it: `lambdas/<name>/` first on sys.path, then
`import handler`. The reference is `import numpy` measured the same way, so the ratio says how many
numpy imports a cold start costs, whatever the machine's speed. Interpreter start-up is the same for
every row and not counted. The time is the process's CPU time (importing is CPU-bound: on an idle
core, as in a Lambda sandbox, it is the wall time; on a shared machine the wall time also counts
the other processes' turns); --json also gives the wall time. Two environments:

- embedded: what smart0dte.local.embedded gives the handlers (tracing and metrics disabled, moto's
  fake credentials, the table, bucket, topic, queue and state-machine variables CDK sets);
- lambda: what CDK's function and the Lambda runtime give (LAMBDA_TASK_ROOT, the function name, no
  POWERTOOLS_TRACE_DISABLED): tracing is on there (Tracing.ACTIVE), so Powertools' Tracer imports the
  X-Ray SDK. The target (<= 1.0 s, issue 13) is for the embedded column; the lambda column adds what
  tracing costs by choice.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from smart0dte.domain.pricing import KERNEL_ENV
from smart0dte.local.embedded import FAKE_CREDENTIALS, function_environment
from smart0dte.resources import (
    DEFAULT_PREFIX,
    FUNCTIONS,
    ORDER_INTENT_QUEUE,
    STATE_MACHINES,
    TOPICS,
    FunctionSpec,
)

TARGET_S = 1.0
REGION = "us-east-1"
ACCOUNT = "123456789012"
IMPORT_TIMER = (
    "import sys, time; sys.path.insert(0, sys.argv[1]); "
    "cpu, wall = time.process_time(), time.perf_counter(); "
    "import {module}; print(time.process_time() - cpu, time.perf_counter() - wall)"
)


def _resource_environment() -> dict[str, str]:
    """The table, bucket, topic, queue and state-machine variables, with made-up ARNs and URLs."""
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    return function_environment(
        DEFAULT_PREFIX,
        {ORDER_INTENT_QUEUE.logical_name: f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/intents.fifo"},
        {t.logical_name: arn.format("sns", t.logical_name) for t in TOPICS},
        {s.name: arn.format("states", f"stateMachine:{s.name}") for s in STATE_MACHINES},
        arn.format("iam", "role/scheduler").replace(f":{REGION}", ""),
    )


def environments(spec: FunctionSpec) -> dict[str, dict[str, str]]:
    """The variables each handler process sees, per environment; PATH and PYTHONPATH are kept."""
    base = {k: os.environ[k] for k in ("PATH", "PYTHONPATH", "HOME") if k in os.environ}
    resources = _resource_environment()
    embedded = {
        **base,
        **resources,
        **FAKE_CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "SMART0DTE_PREFIX": DEFAULT_PREFIX,
        "SMART0DTE_MODE": "paper",
        "POWERTOOLS_SERVICE_NAME": "smart0dte",
        "POWERTOOLS_METRICS_NAMESPACE": "Smart0DTE",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    lambda_ = {
        **base,
        **resources,
        **FAKE_CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": spec.physical_name(),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "LAMBDA_TASK_ROOT": str(spec.handler_path.parent),
        "SMART0DTE_PREFIX": DEFAULT_PREFIX,
        "SMART0DTE_ACCOUNT": ACCOUNT,
        "POWERTOOLS_SERVICE_NAME": spec.name,
        "POWERTOOLS_METRICS_NAMESPACE": "Smart0DTE",
        "LOG_LEVEL": "INFO",
        KERNEL_ENV: "c",
    }
    return {"embedded": embedded, "lambda": lambda_}


def import_seconds(module: str, directory: Path, env: dict[str, str], repeat: int) -> dict[str, float]:
    """Median CPU and wall time of importing `module` (found first in `directory`) over `repeat`
    fresh processes."""
    cpu, wall = [], []
    for _ in range(repeat):
        result = subprocess.run(
            [sys.executable, "-c", IMPORT_TIMER.format(module=module), str(directory)],
            env=env,
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
        )
        cpu_s, wall_s = result.stdout.split()[-2:]
        cpu.append(float(cpu_s))
        wall.append(float(wall_s))
    return {"cpu_s": statistics.median(cpu), "wall_s": statistics.median(wall)}


def run(repeat: int) -> dict[str, Any]:
    reference_env = {k: os.environ[k] for k in ("PATH", "PYTHONPATH", "HOME") if k in os.environ}
    numpy = import_seconds("numpy", Path.cwd(), reference_env, repeat)
    rows = {}
    for spec in FUNCTIONS:
        rows[spec.name] = {
            name: import_seconds("handler", spec.handler_path.parent, env, repeat)
            for name, env in environments(spec).items()
        }
    return {"repeat": repeat, "numpy": numpy, "handlers": rows, "target_s": TARGET_S}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per figure (median)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    r = run(args.repeat)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    numpy_s = r["numpy"]["cpu_s"]
    print(
        f"Cold import (CPU s), median of {r['repeat']} fresh processes; "
        f"reference `import numpy`: {numpy_s:.3f} s (wall {r['numpy']['wall_s']:.3f} s)\n"
    )
    print(
        f"{'handler':<14}{'embedded s':>12}{'x numpy':>9}{'lambda s':>11}{'x numpy':>9}"
        f"  embedded <= {TARGET_S} s"
    )
    for name, figures in r["handlers"].items():
        embedded_s, lambda_s = figures["embedded"]["cpu_s"], figures["lambda"]["cpu_s"]
        verdict = "ok" if embedded_s <= TARGET_S else "OVER"
        print(
            f"{name:<14}{embedded_s:>12.3f}{embedded_s / numpy_s:>9.1f}"
            f"{lambda_s:>11.3f}{lambda_s / numpy_s:>9.1f}  {verdict}"
        )


if __name__ == "__main__":
    main()
