"""`ObjectStore` on the local file system: one file per key under a root folder.

Keys look like S3 keys ("direction/versions/<hash>.json") and map to paths under the root. A key
is refused unless every '/'-separated part is a plain name: no empty part, no '.' or '..', nothing
starting with '.', no backslash or NUL, not absolute, at most 1024 UTF-8 bytes (S3's limit). So a
key can never reach outside the root, and the hidden temporary files never collide with a key.

Writes are atomic: the bytes go to a hidden temporary file in the key's folder, are flushed to
disk, then renamed over the key. A reader sees the old object or the new one, never a part.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from smart0dte import ports
from smart0dte.domain.models import DomainError

MAX_KEY_BYTES = 1024


class ObjectNotFound(ports.ObjectNotFound, DomainError):
    """No object is stored under the key (the port's error, and a DomainError the CLI reports)."""


def check_key(key: str, *, prefix: bool = False) -> str:
    """`key` if it is a valid key (or, with prefix=True, a valid key prefix); else an error naming it."""
    if not isinstance(key, str):
        raise DomainError(f"key={key!r} must be a string")
    if not key and not prefix:
        raise DomainError("key must not be empty")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise DomainError(f"key={key[:40]!r}... is longer than {MAX_KEY_BYTES} bytes")
    if "\\" in key or "\x00" in key:
        raise DomainError(f"key={key!r} must not contain a backslash or NUL")
    if key.startswith("/"):
        raise DomainError(f"key={key!r} must be relative (no leading '/')")
    parts = key.split("/")
    if prefix:
        parts = parts[:-1]  # the last part of a prefix may be partial (or empty)
    for part in parts:
        if not part or part.startswith("."):
            raise DomainError(f"key={key!r}: every part between '/' must be a name not starting with '.'")
    if prefix and key.split("/")[-1].startswith("."):
        raise DomainError(f"key prefix={key!r} must not name a part starting with '.'")
    return key


class FolderObjectStore:
    """Blobs as files under `root` (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path.is_dir():
            raise DomainError(f"key={key!r} is a folder of other keys here; it cannot also hold bytes")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise DomainError(f"key={key!r}: a part of its path is already an object") from None
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(bytes(data))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(f"no object at key={key!r} in {self.root}") from None

    def delete(self, key: str) -> None:
        """Remove the object's file; no error when there is none (as S3's DeleteObject)."""
        path = self._path(key)
        if path.is_file():
            path.unlink()

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys starting with `prefix` (any string prefix, as in S3), sorted."""
        check_key(prefix, prefix=True)
        folder_parts = prefix.split("/")[:-1]
        folder = self.root.joinpath(*folder_parts)
        if not folder.is_dir():
            return iter(())
        keys: list[str] = []
        for directory, subdirs, files in os.walk(folder):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            relative = Path(directory).relative_to(self.root).as_posix()
            base = "" if relative == "." else f"{relative}/"
            keys.extend(f"{base}{name}" for name in files if not name.startswith("."))
        return iter(sorted(k for k in keys if k.startswith(prefix)))
