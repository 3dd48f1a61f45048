from typing import Any

import pytest

from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.adapters.aws.s3 import S3ObjectStore
from smart0dte.ports import ObjectNotFound
from smart0dte.resources import ARCHIVE_BUCKET

from .conftest import empty_bucket


@pytest.fixture
def store(aws: Provisioned, s3: Any) -> S3ObjectStore:
    bucket = aws.buckets[ARCHIVE_BUCKET.logical_name]
    empty_bucket(s3, bucket)
    return S3ObjectStore(bucket, s3, list_page_size=2)


def test_bytes_round_trip(store: S3ObjectStore) -> None:
    blob = bytes(range(256)) * 10

    store.put_bytes("2025-03-14/SPY.ohlcv-1m.dbn.zst", blob)

    assert store.get_bytes("2025-03-14/SPY.ohlcv-1m.dbn.zst") == blob


def test_a_missing_key_raises_an_error_naming_bucket_and_key(store: S3ObjectStore) -> None:
    with pytest.raises(
        ObjectNotFound, match=r"s3://smart0dte-test-archive-local/2025-03-14/none\.dbn does not exist"
    ):
        store.get_bytes("2025-03-14/none.dbn")


def test_list_keys_follows_every_page_under_the_prefix(store: S3ObjectStore) -> None:
    keys = [f"2025-03-14/{symbol}.dbn" for symbol in ("IWM", "QQQ", "SPY", "VIX", "SPY-opt")]
    for key in keys:
        store.put_bytes(key, b"x")
    store.put_bytes("2025-03-17/SPY.dbn", b"x")

    assert list(store.list_keys("2025-03-14/")) == sorted(keys)
    assert list(store.list_keys("2025-03-")) == [*sorted(keys), "2025-03-17/SPY.dbn"]
    assert list(store.list_keys("2024-")) == []


def test_keys_and_page_sizes_out_of_range_are_refused(store: S3ObjectStore, s3: Any) -> None:
    with pytest.raises(ValueError, match="key must be 1 to 1024 bytes"):
        store.put_bytes("", b"x")
    with pytest.raises(ValueError, match="key must be 1 to 1024 bytes"):
        store.get_bytes("k" * 1025)
    with pytest.raises(ValueError, match="list_page_size=0 must be 1 to 1000"):
        S3ObjectStore("b", s3, list_page_size=0)


def test_delete_removes_the_object_and_a_second_delete_is_no_error(store: S3ObjectStore) -> None:
    store.put_bytes("backtests/abc/report.json", b"{}")
    store.put_bytes("backtests/abc/days/2025-03-14.json", b"{}")

    store.delete("backtests/abc/report.json")
    store.delete("backtests/abc/report.json")

    assert list(store.list_keys("backtests/")) == ["backtests/abc/days/2025-03-14.json"]
    with pytest.raises(ObjectNotFound):
        store.get_bytes("backtests/abc/report.json")
