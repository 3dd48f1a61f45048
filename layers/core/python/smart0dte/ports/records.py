"""What every store shares: versioned records, the errors of reads and conditional writes, and the
session date that partitions per-day records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Generic, TypeVar

from smart0dte.domain.calendar import NEW_YORK

T = TypeVar("T")


class RecordNotFound(LookupError):
    """A record the call needs does not exist; the message names the entity and its id."""


class ConcurrentUpdate(RuntimeError):
    """Another writer changed the record first (optimistic lock); reload and try again."""


class ConflictingRecord(ValueError):
    """A create found the id already taken by a different record."""


def session_date_of(ts: datetime) -> date:
    """The New York calendar date of `ts`: the partition date of every per-day record."""
    return ts.astimezone(NEW_YORK).date()


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    """A record with the version its next conditional write must match."""

    value: T
    version: int
