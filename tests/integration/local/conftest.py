"""Helpers for the embedded-AWS tests: a runtime per module (moto is process-wide, so one at a
time), recording handlers, and raw reads of the market table."""

from collections.abc import Iterator
from typing import Any

import pytest

from smart0dte.local.embedded import EmbeddedAws

PREFIX = "s0-local-test"


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(prefix=PREFIX) as runtime:
        yield runtime


@pytest.fixture
def calls(aws: EmbeddedAws) -> Iterator[list[tuple[str, Any]]]:
    """Cleared invocation records; handlers the test set are dropped after it."""
    aws.dispatcher.clear_invocations()
    recorded: list[tuple[str, Any]] = []
    yield recorded
    aws.dispatcher.set_handlers({name: None for name in aws.function_arns})


def recording(calls: list[tuple[str, Any]], name: str, result: Any) -> Any:
    """A handler that records its event and returns `result(event)` (or `result` itself)."""

    def handler(event: Any, context: Any) -> Any:
        calls.append((name, event))
        return result(event) if callable(result) else result

    return handler
