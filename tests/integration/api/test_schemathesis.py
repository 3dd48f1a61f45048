"""Schemathesis against the generated OpenAPI document, through the local server in this process:
no 5xx and every documented response matches its schema. Bounded examples per operation."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.local.http_server import ApiServer, serve
from smart0dte.services.api import ApiDeps, build_app, openapi_document

from .conftest import FakeBacktests, FixedClock, seed
from .test_openapi import no_store

schema = schemathesis.openapi.from_dict(
    openapi_document(build_app(ApiDeps(store_factory=no_store, clock=FixedClock())))
)


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


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case: Any, server: ApiServer) -> None:
    token = server.issue_token("schemathesis")
    response = case.call(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
