"""Schemathesis with every check it has, through the local server in this process, as its CLI runs
(`schemathesis run --checks all`): the examples, coverage (boundaries and negative data per
field), fuzzing (positive and negative) and stateful (links between operations) phases. Zero
failures: no 5xx, every status and body as documented, schema-invalid requests refused and
schema-valid ones accepted, 405 with `Allow` for an undeclared method, 401 without the token.

Bounded: MAX_EXAMPLES per operation and phase, a fixed seed: about 2 minutes on 2 busy cores
(114 s at load average 7). Before issue 16's strict API, `schemathesis run --checks all` with 20
examples found 46 distinct failures; now this run finds none."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, from_schema
from schemathesis.engine import events as ev

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.local.http_server import ApiServer, serve
from smart0dte.services.api import ApiDeps, build_app, openapi_document

from .conftest import FakeBacktests, FixedClock, seed
from .test_openapi import no_store

MAX_EXAMPLES = 8
CROSS_FIELD_RULES = {
    ("POST", "/api/analytics/backtest"): "start <= end, at most 5 years, at least one NYSE session",
    ("GET", "/api/trades"): "from <= to, at most 366 days",
    ("GET", "/api/orders"): "from <= to, at most 366 days",
    ("GET", "/api/strikes"): "at within the session's first snapshot .. now",
    ("POST", "/api/automation/settings"): "riskManagement stays on while tradeExecution is on",
}
"""Operations with a rule across fields (or against the clock) that JSON Schema cannot state: a
request the schema allows may break it, and is answered 422 naming the field and the rule. The
check that schema-valid requests are accepted takes 422 as an answer there, and only there."""
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
"""schemathesis' own default for positive_data_acceptance (5xx fails not_a_server_error)."""


@pytest.fixture(scope="module")
def server(paper: DynamoState, aws: object, dynamodb: object) -> Iterator[ApiServer]:
    from ..moto_env import empty_tables

    empty_tables(aws, dynamodb)  # type: ignore[arg-type]
    seed(paper)
    running = serve(
        0, None, deps=ApiDeps(store_factory=lambda: paper, clock=FixedClock(), backtests=FakeBacktests())
    )
    yield running
    running.close()


def run(server: ApiServer) -> tuple[list[str], set[str], int]:
    """Every failure schemathesis reports (one line each), the phases that finished and the number
    of requests checked."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": 1,
            "cache": {"enabled": False},  # each run starts from nothing and writes nothing
            "base-url": server.url,
            "headers": {"Authorization": f"Bearer {server.issue_token('schemathesis')}"},
            "checks": {"enabled": True},
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
            "operations": [
                {
                    "include-method": method,
                    "include-path": path,
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
                }
                for method, path in CROSS_FIELD_RULES
            ],
        }
    )
    doc = openapi_document(build_app(ApiDeps(store_factory=no_store, clock=FixedClock())))
    schema = schemathesis.openapi.from_dict(doc, config=config)
    failures: list[str] = []
    phases: set[str] = set()
    checked = 0
    for event in from_schema(schema).execute():
        if isinstance(event, ev.PhaseFinished) and event.status is not Status.SKIP:
            phases.add(event.phase.name.value)
        if isinstance(event, ev.ScenarioFinished | ev.FuzzScenarioFinished):
            checked += len(event.recorder.checks)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status is Status.FAILURE and check.failure_info is not None:
                        case = event.recorder.cases[case_id].value
                        failure = check.failure_info.failure
                        failures.append(f"{case.method} {case.path}: {check.name}: {failure.title}")
        elif isinstance(event, ev.NonFatalError):
            failures.append(f"{event.label}: error: {event.value!r}")
        elif isinstance(event, ev.EngineFinished):
            failures += [f"{f.operation}: {f.title}" for f in event.failures]
    return sorted(set(failures)), phases, checked


@pytest.mark.slow
def test_every_check_of_every_phase_passes(server: ApiServer) -> None:
    failures, phases, checked = run(server)
    assert failures == []
    assert {"examples", "coverage", "fuzzing", "stateful"} <= phases
    assert checked > 30 * MAX_EXAMPLES  # 30 operations, each tried in every phase


def test_the_cross_field_rules_name_real_operations() -> None:
    doc: dict[str, Any] = openapi_document(build_app(ApiDeps(store_factory=no_store, clock=FixedClock())))
    for method, path in CROSS_FIELD_RULES:
        assert method.lower() in doc["paths"][path]
