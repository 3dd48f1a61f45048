"""ObjectStore on one S3 bucket: the DBN archive, model artifacts and reports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from smart0dte.ports import ObjectNotFound

MAX_KEY_BYTES: Final = 1024
"""S3's limit on the UTF-8 length of an object key."""
MAX_LIST_PAGE_SIZE: Final = 1000
"""The most keys S3 returns per ListObjectsV2 page."""
_MISSING_CODES = frozenset({"NoSuchKey", "404"})


class S3ObjectStore:
    """Blobs by key in `bucket`, through an injected boto3 S3 client."""

    def __init__(self, bucket: str, client: Any, list_page_size: int = MAX_LIST_PAGE_SIZE) -> None:
        if not 1 <= list_page_size <= MAX_LIST_PAGE_SIZE:
            raise ValueError(f"list_page_size={list_page_size} must be 1 to {MAX_LIST_PAGE_SIZE}")
        self._bucket = bucket
        self._client = client
        self._list_page_size = list_page_size

    @property
    def bucket(self) -> str:
        return self._bucket

    def _check_key(self, key: str) -> None:
        size_bytes = len(key.encode())
        if not 1 <= size_bytes <= MAX_KEY_BYTES:
            raise ValueError(
                f"key must be 1 to {MAX_KEY_BYTES} bytes of UTF-8, got {size_bytes}: {key[:80]!r}"
            )

    def put_bytes(self, key: str, data: bytes) -> None:
        self._check_key(key)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=data)

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; ObjectNotFound names the bucket and key when there is none."""
        self._check_key(key)
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                raise ObjectNotFound(f"s3://{self._bucket}/{key} does not exist") from exc
            raise
        body: bytes = response["Body"].read()
        return body

    def delete(self, key: str) -> None:
        """Remove the object (S3's DeleteObject: no error when there is none)."""
        self._check_key(key)
        self._client.delete_object(Bucket=self._bucket, Key=key)

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key under `prefix`, in S3's (lexical) order, across all result pages."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self._bucket, Prefix=prefix, PaginationConfig={"PageSize": self._list_page_size}
        )
        for page in pages:
            for obj in page.get("Contents", ()):
                yield str(obj["Key"])
