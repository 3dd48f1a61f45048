"""Powertools' Tracer, without the X-Ray SDK when tracing is off.

`Tracer()` imports aws_xray_sdk.core (and botocore with it) even when it is disabled: about half a
second of every cold start. Where Powertools would disable tracing (POWERTOOLS_TRACE_DISABLED, or
outside Lambda: the embedded AWS, tests, the CLI) the tracer gets a provider that records nothing;
in Lambda with tracing on (CDK sets Tracing.ACTIVE) it is Powertools' usual X-Ray tracer.
"""

from __future__ import annotations

import numbers
import traceback
from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class _Unrecorded(BaseSegment):
    """A segment that keeps nothing."""

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(
        self, exception: BaseException, stack: list[traceback.StackSummary], remote: bool = False
    ) -> None:
        pass


class _NoTracing(BaseProvider):
    """The provider of a tracer that is off: segments that keep nothing, nothing patched."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _Unrecorded()

    @asynccontextmanager
    async def in_subsegment_async(
        self, name: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[BaseSegment, None]:
        yield _Unrecorded()

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass


def lambda_tracer(service: str) -> Tracer:
    """The handler's Tracer: X-Ray where Powertools traces, else one that records nothing."""
    if Tracer._is_tracer_disabled():  # Powertools' own rule: its environment variables, Lambda or not
        return Tracer(service=service, provider=_NoTracing(), auto_patch=False)
    return Tracer(service=service)
