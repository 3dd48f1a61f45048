"""The ECS tasks' heartbeat as CloudWatch embedded metric format (EMF): one JSON line on stdout per
beat. The task's awslogs driver sends stdout to its log group, where CloudWatch Logs extracts the
metric (no PutMetricData permission, no SDK call, nothing to retry)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TextIO

from smart0dte.resources import HEARTBEAT_DIMENSIONS, HEARTBEAT_METRIC, METRICS_NAMESPACE


def heartbeat_line(prefix: str, task: str, healthy: bool, timestamp_ms: int) -> str:
    """One EMF record: HEARTBEAT_METRIC = 1 (healthy) or 0, dimensioned by stage prefix and task."""
    dimensions = dict(zip(HEARTBEAT_DIMENSIONS, (prefix, task), strict=True))
    record = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [list(HEARTBEAT_DIMENSIONS)],
                    "Metrics": [{"Name": HEARTBEAT_METRIC, "Unit": "Count"}],
                }
            ],
        },
        **dimensions,
        HEARTBEAT_METRIC: 1 if healthy else 0,
    }
    return json.dumps(record, separators=(",", ":"))


def heartbeat_emitter(prefix: str, task: str, out: TextIO | None = None) -> Callable[[bool], None]:
    """`beat(healthy)` writes one heartbeat line to `out` (stdout by default) and flushes it."""

    def beat(healthy: bool) -> None:
        line = heartbeat_line(prefix, task, healthy, int(time.time() * 1000))
        print(line, file=out or sys.stdout, flush=True)

    return beat
