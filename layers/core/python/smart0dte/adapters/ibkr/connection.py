"""The order bridge's connection to IB Gateway: ib_async's `IB` and the IbkrBroker on it."""

from __future__ import annotations

from typing import Any

from smart0dte.ports import LiveBroker


class IbConnection:
    """BrokerConnection over an ib_async `IB` and the IbkrBroker on it."""

    def __init__(self, ib: Any, broker: LiveBroker) -> None:
        self._ib = ib
        self._broker = broker

    @property
    def broker(self) -> LiveBroker:
        return self._broker

    def is_connected(self) -> bool:
        """Runs ib_async's event loop briefly (order and connection events), then asks IB."""
        self._ib.sleep(0)
        return bool(self._ib.isConnected())

    def close(self) -> None:
        self._ib.disconnect()
