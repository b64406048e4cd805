"""How a device is shown and counted: one rule for cards, wall tiles, group summaries and the API.

Kept apart from ``services.live`` (which reads the database) so the group service can use it
without an import cycle.
"""

from __future__ import annotations

import uuid

from ddms.bus import Bus, LatestValue, get_bus
from ddms.models import DeviceStatus
from ddms.services.thresholds import Level

OFFLINE_LEVEL = "offline"


def display_level(status: str, latest: LatestValue | None) -> str:
    """THE level a device is shown and counted with: ``offline`` unless online (offline or in error),
    else the alarm level of its latest reading (``normal`` before the first one).

    Cards, wall tiles, the group page's summary and ``GET /api/groups/{id}``'s alert_summary all use
    this, with the status from ``current_status``, so they cannot disagree.
    """
    if status != DeviceStatus.ONLINE:
        return OFFLINE_LEVEL
    return latest.level if latest is not None else Level.NORMAL.value


def current_status(device_id: uuid.UUID, stored: str, bus: Bus | None = None) -> str:
    """The collector's live connection status of a device, the stored one before its first poll."""
    bus = bus or get_bus()
    live = bus.status(device_id)
    if live is not None:
        return live.status
    latest = bus.latest(device_id)
    return latest.device_status if latest is not None else stored


__all__ = ["OFFLINE_LEVEL", "current_status", "display_level"]
