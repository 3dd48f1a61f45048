"""Adapters over local folders: archived DBN days and folder object stores. Top-level functions, so
a backtest's worker processes receive them by reference."""

from __future__ import annotations

from pathlib import Path

from smart0dte.ports import HistoricalMarketData, ObjectStore


def dbn_folder(root: Path) -> HistoricalMarketData:
    """Archived days under `root/<YYYY-MM-DD>/` (needs the `gateway` extra's databento-dbn)."""
    from smart0dte.adapters.databento.historical import DbnFolderMarketData

    return DbnFolderMarketData(root)


def folder_store(root: Path) -> ObjectStore:
    """An object store on the local file system (a model registry, reports)."""
    from smart0dte.adapters.local_store import FolderObjectStore

    return FolderObjectStore(root)
