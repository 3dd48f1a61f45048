"""FolderObjectStore: the ObjectStore port on a folder, with atomic writes and safe keys."""

import os
from pathlib import Path

import pytest

from smart0dte import ports
from smart0dte.adapters.local_store import FolderObjectStore, ObjectNotFound, check_key
from smart0dte.domain.models import DomainError
from smart0dte.ports import ObjectStore


def test_bytes_put_under_a_key_come_back_and_replace_the_old_ones(tmp_path: Path) -> None:
    store: ObjectStore = FolderObjectStore(tmp_path / "models")

    store.put_bytes("direction/versions/a.json", b"first")
    store.put_bytes("direction/versions/a.json", b"second")

    assert store.get_bytes("direction/versions/a.json") == b"second"
    assert (tmp_path / "models" / "direction" / "versions" / "a.json").read_bytes() == b"second"


def test_writes_leave_no_temporary_file_behind(tmp_path: Path) -> None:
    store = FolderObjectStore(tmp_path)

    for k in range(3):
        store.put_bytes("x/blob.bin", bytes([k]) * 1000)

    assert sorted(os.listdir(tmp_path / "x")) == ["blob.bin"]


def test_a_failed_write_keeps_the_old_object_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FolderObjectStore(tmp_path)
    store.put_bytes("k", b"old")

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        store.put_bytes("k", b"new")

    assert store.get_bytes("k") == b"old"
    assert sorted(os.listdir(tmp_path)) == ["k"]


def test_keys_are_listed_by_any_string_prefix_sorted(tmp_path: Path) -> None:
    store = FolderObjectStore(tmp_path)
    for key in (
        "d/versions/b.json",
        "d/versions/a.json",
        "d/promoted.json",
        "e/x",
        "d/decisions/000001-x.json",
    ):
        store.put_bytes(key, b"1")

    assert list(store.list_keys("d/versions/")) == ["d/versions/a.json", "d/versions/b.json"]
    assert list(store.list_keys("d/p")) == ["d/promoted.json"]
    assert list(store.list_keys("")) == [
        "d/decisions/000001-x.json",
        "d/promoted.json",
        "d/versions/a.json",
        "d/versions/b.json",
        "e/x",
    ]
    assert list(store.list_keys("nothing/here/")) == []
    assert list(FolderObjectStore(tmp_path / "absent").list_keys("")) == []


def test_a_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound, match="no object at key='a/b'"):
        FolderObjectStore(tmp_path).get_bytes("a/b")


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../outside", "a/../../b", "a//b", "a/./b", "a/.hidden", "a/", "a\\b", "a\x00b"],
)
def test_keys_that_could_leave_the_root_or_collide_are_refused(tmp_path: Path, key: str) -> None:
    store = FolderObjectStore(tmp_path / "root")

    with pytest.raises(DomainError, match="key"):
        store.put_bytes(key, b"x")

    assert not (tmp_path / "root").exists()
    assert not (tmp_path / "outside").exists()


def test_prefixes_are_checked_like_keys_but_may_end_anywhere() -> None:
    assert check_key("direction/ver", prefix=True) == "direction/ver"
    assert check_key("", prefix=True) == ""
    with pytest.raises(DomainError):
        check_key("../", prefix=True)


def test_a_key_cannot_be_both_an_object_and_a_folder(tmp_path: Path) -> None:
    store = FolderObjectStore(tmp_path)
    store.put_bytes("a/b", b"x")

    with pytest.raises(DomainError, match="already an object"):
        store.put_bytes("a/b/c", b"y")
    with pytest.raises(DomainError, match="folder"):
        store.put_bytes("a", b"z")


def test_a_missing_key_raises_the_ports_error(tmp_path: Path) -> None:
    with pytest.raises(ports.ObjectNotFound):
        FolderObjectStore(tmp_path).get_bytes("nothing")


def test_delete_removes_the_object_and_a_second_delete_is_no_error(tmp_path: Path) -> None:
    store = FolderObjectStore(tmp_path)
    store.put_bytes("backtests/abc/report.json", b"{}")
    store.put_bytes("backtests/abc/days/2025-03-14.json", b"{}")

    store.delete("backtests/abc/report.json")
    store.delete("backtests/abc/report.json")

    assert list(store.list_keys("backtests/")) == ["backtests/abc/days/2025-03-14.json"]
    with pytest.raises(ObjectNotFound):
        store.get_bytes("backtests/abc/report.json")
    with pytest.raises(DomainError, match="key="):
        store.delete("../outside")
