"""The tasks' heartbeat as CloudWatch embedded metric format: one valid EMF line per beat, with
only the bounded dimensions (stage prefix, task name)."""

from __future__ import annotations

import io
import json

from smart0dte import resources as r
from smart0dte.adapters.aws.metrics import heartbeat_emitter, heartbeat_line


def test_a_beat_is_one_emf_line_naming_its_metric_and_dimensions_beside_their_values() -> None:
    line = json.loads(heartbeat_line("smart0dte-prod", "feed", True, 1_700_000_000_000))
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert line["_aws"]["Timestamp"] == 1_700_000_000_000
    assert directive == {
        "Namespace": r.METRICS_NAMESPACE,
        "Dimensions": [["Prefix", "Task"]],
        "Metrics": [{"Name": r.HEARTBEAT_METRIC, "Unit": "Count"}],
    }
    # EMF: every dimension and metric named in the directive is a top-level member of the record.
    assert (line["Prefix"], line["Task"], line[r.HEARTBEAT_METRIC]) == ("smart0dte-prod", "feed", 1)
    assert set(line) == {"_aws", "Prefix", "Task", r.HEARTBEAT_METRIC}


def test_the_emitter_writes_one_flushed_line_per_beat_with_0_when_unhealthy() -> None:
    out = io.StringIO()
    beat = heartbeat_emitter("smart0dte", r.GATEWAY.name, out)
    beat(True)
    beat(False)
    values = [json.loads(line)[r.HEARTBEAT_METRIC] for line in out.getvalue().splitlines()]
    assert values == [1, 0]


def test_no_handler_or_module_adds_a_metric_dimension() -> None:
    """Powertools metrics carry the `service` dimension only: a dimension per order id, contract or
    date would create a CloudWatch metric (billed monthly) per value."""
    sources = [*(r.REPO_ROOT / "lambdas").rglob("*.py"), *(r.REPO_ROOT / "layers" / "core").rglob("*.py")]
    offending = [
        str(path.relative_to(r.REPO_ROOT))
        for path in sources
        if any(
            call in path.read_text()
            for call in ("add_dimension(", "set_default_dimensions(", "default_dimensions=")
        )
    ]
    assert sources and offending == []
