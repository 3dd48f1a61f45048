"""Blobs by key: the DBN archive, models and reports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class ObjectStore(Protocol):
    """Blobs by key: the DBN archive, models and reports (S3 in AWS, a folder locally)."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def list_keys(self, prefix: str) -> Iterator[str]: ...

    def delete(self, key: str) -> None:
        """Remove the object; a key with no object is not an error (deleting is idempotent)."""


class ObjectNotFound(LookupError):
    """An ObjectStore has no object under the key; the message names the store and the key."""
