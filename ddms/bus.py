"""The in-process event bus: latest value of every device, and publish/subscribe for changes.

Pages and the SSE stream read the latest values from here instead of querying the database per
client; the collector listens here for configuration changes made through REST or the pages.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

logger = logging.getLogger(__name__)


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class DeviceChange:
    """A device's configuration changed; the collector reloads it."""

    kind: ChangeKind
    device_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The newest reading of a device with its alarm level and connection status."""

    device_id: uuid.UUID
    timestamp: datetime
    value: float
    level: str
    device_status: str


Listener = Callable[[DeviceChange], None]


class Bus:
    """Synchronous fan-out of device configuration changes (listeners must not block)."""

    def __init__(self) -> None:
        self._change_listeners: list[Listener] = []
        self._latest: dict[uuid.UUID, LatestValue] = {}

    def latest(self, device_id: uuid.UUID) -> LatestValue | None:
        return self._latest.get(device_id)

    def latest_all(self) -> dict[uuid.UUID, LatestValue]:
        """A snapshot (copy) of every device's latest value."""
        return dict(self._latest)

    def set_latest(self, latest: LatestValue) -> None:
        self._latest[latest.device_id] = latest

    def forget(self, device_id: uuid.UUID) -> None:
        self._latest.pop(device_id, None)

    def on_device_change(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener``; returns a function that unregisters it."""
        self._change_listeners.append(listener)
        return lambda: self._change_listeners.remove(listener)

    def device_changed(self, kind: ChangeKind, device_id: uuid.UUID) -> None:
        change = DeviceChange(kind, device_id)
        for listener in list(self._change_listeners):
            try:
                listener(change)
            except Exception:
                logger.exception("device-change listener failed")


_bus = Bus()


def get_bus() -> Bus:
    """The process-wide bus."""
    return _bus


def reset_bus() -> Bus:
    """A fresh bus (tests and app restarts within one process)."""
    global _bus
    _bus = Bus()
    return _bus


__all__ = ["Bus", "ChangeKind", "DeviceChange", "LatestValue", "get_bus", "reset_bus"]
