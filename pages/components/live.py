"""Live values for a page, pushed from the in-process bus (never by querying the database per client).

``watch_latest`` registers a bus listener for the page's devices. The bus calls it synchronously
when the collector publishes a reading or a status change; the listener only records the device's
newest state, and the page applies what changed on a short UI timer, so a burst of readings costs one
browser update per device per tick. The listener is removed when the browser tab goes away.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nicegui import context, ui

from ddms.bus import DeviceChange, Event, LatestValue, StatusChange, get_bus


@dataclass(frozen=True, slots=True)
class DeviceState:
    """What a card shows: the newest reading (if any) and the connection status."""

    device_id: uuid.UUID
    latest: LatestValue | None
    status: str


Callback = Callable[[DeviceState], Any]


def _state(event: Event) -> DeviceState | None:
    if isinstance(event, LatestValue):
        return DeviceState(event.device_id, event, event.device_status)
    if isinstance(event, StatusChange):
        latest = get_bus().latest(event.device_id)
        return DeviceState(event.device_id, latest, event.status)
    return None  # DeviceChange: configuration, not a value


def watch_latest(
    callback: Callback,
    device_ids: set[uuid.UUID] | None = None,
    interval: float = 0.25,
    after: Callable[[], Any] | None = None,
) -> ui.timer:
    """Call ``callback(state)`` in this page for every reading or status change the bus publishes.

    ``after()`` runs once per tick that delivered something (e.g. recounting a summary once, not
    once per device).
    """
    pending: dict[uuid.UUID, DeviceState] = {}

    def on_event(event: Event) -> None:
        state = _state(event)
        if state is not None:
            pending[state.device_id] = state

    def drain() -> None:
        if not pending:
            return
        while pending:
            _device_id, state = pending.popitem()
            callback(state)
        if after is not None:
            after()

    unsubscribe = get_bus().listen(on_event, device_ids=device_ids)
    context.client.on_delete(unsubscribe)
    return ui.timer(interval, drain)


def reload_on_device_changes(device_ids: set[uuid.UUID] | None = None) -> None:
    """Rebuild the page when a device (of ``device_ids``, or any) is added, edited or removed."""
    changed: list[DeviceChange] = []

    def note(change: DeviceChange) -> None:
        if device_ids is None or change.device_id in device_ids:
            changed.append(change)

    unregister = get_bus().on_device_change(note)
    context.client.on_delete(unregister)

    def check() -> None:
        if changed:
            changed.clear()
            ui.navigate.reload()

    ui.timer(1.0, check)
