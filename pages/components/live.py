"""Live values for a page, fed from the in-process bus (never by querying the database per client).

``watch_latest`` calls back in the page's context whenever a device's latest value changes. The
collector writes every reading's value, level and device status into the bus's latest-value store;
each page compares that in-memory snapshot on a short UI timer and pushes only what changed to its
browser, so one client costs a dictionary comparison per tick and no database query at all.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from nicegui import ui

from ddms.bus import LatestValue, get_bus

Callback = Callable[[LatestValue], Any]


def watch_latest(callback: Callback, device_ids: set[uuid.UUID] | None = None, interval: float = 0.5) -> ui.timer:
    """Call ``callback(latest)`` now for every current value, then for every change."""
    seen: dict[uuid.UUID, LatestValue] = {}

    def drain() -> None:
        for latest in get_bus().latest_all().values():
            if device_ids is not None and latest.device_id not in device_ids:
                continue
            if seen.get(latest.device_id) != latest:
                seen[latest.device_id] = latest
                recent.add(latest)
                callback(latest)

    drain()
    return ui.timer(interval, drain)


class RecentValues:
    """The last values of every device, kept once per process for the cards' small trends.

    A page opened now starts its sparklines with what arrived before it, without a database query.
    """

    def __init__(self, size: int = 60) -> None:
        self.size = size
        self._values: dict[uuid.UUID, deque[tuple[datetime, float]]] = {}

    def add(self, latest: LatestValue) -> None:
        values = self._values.setdefault(latest.device_id, deque(maxlen=self.size))
        if not values or values[-1][0] != latest.timestamp:
            values.append((latest.timestamp, latest.value))

    def of(self, device_id: uuid.UUID) -> list[tuple[datetime, float]]:
        self.sample()
        return list(self._values.get(device_id, ()))

    def sample(self) -> None:
        for latest in get_bus().latest_all().values():
            self.add(latest)


recent = RecentValues()
