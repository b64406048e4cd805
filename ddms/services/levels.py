"""How a device is shown and counted: one rule for cards, wall tiles, group summaries and the API.

Kept apart from ``services.live`` (which reads the database) so the group service can use it
without an import cycle.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from ddms.bus import Bus, LatestValue, get_bus
from ddms.models import DeviceStatus
from ddms.services.thresholds import Level

OFFLINE_LEVEL = "offline"
WAITING_LEVEL = "waiting"  # shown, not counted: a new device the collector has not reported on yet


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


def awaiting_first_reading(
    device_id: uuid.UUID, last_reading_at: datetime | None, bus: Bus | None = None
) -> bool:
    """A device that never had a reading and that the collector has not reported on since it started:
    a new one (or one not polled yet). Shown as "waiting for first reading", not as offline, which it
    only is once a poll failed (``bus.status``)."""
    bus = bus or get_bus()
    return last_reading_at is None and bus.latest(device_id) is None and bus.status(device_id) is None


__all__ = ["OFFLINE_LEVEL", "WAITING_LEVEL", "awaiting_first_reading", "current_status", "display_level"]
