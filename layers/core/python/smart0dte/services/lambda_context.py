"""A stand-in Lambda context for callers that have none (the embedded-AWS runtime, tests):
Powertools' logger reads these four fields, idempotency the remaining time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LocalContext:
    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def context_or_local(context: Any, function_name: str) -> Any:
    """`context`, or a LocalContext named after the function when the caller passed none."""
    return context if context is not None else LocalContext(function_name)
