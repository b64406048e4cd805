"""What a card or tile shows of a device's alarms, from the engine's memory (no query per card).

A device's alarm stays on its card until someone acknowledges it, even when the value is back to
normal ("latched"): an excursion during the night must still be seen in the morning.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nicegui import context, ui

from ddms.bus import AlarmNotice, get_bus
from ddms.services import alarms
from pages import theme


@dataclass(frozen=True, slots=True)
class AlarmLook:
    severity: str  # the worst of the device's alarms (warning | error | critical)
    acknowledged: bool  # every one of them acknowledged (still active)
    latched: bool  # all cleared, waiting for acknowledgement

    @property
    def rank(self) -> int:
        return theme.SEVERITY_RANK.get(self.severity, 0)


def look_of(device_id: uuid.UUID, summary: alarms.ActiveSummary | None = None) -> AlarmLook | None:
    """The device's alarm look: its active alarms and its cleared but unacknowledged ones.

    ``summary``: one ``alarms.active_summary()`` for many devices (it is built from every alarm).
    """
    found = (summary or alarms.active_summary()).active_for(device_id)
    if not found:
        return None
    worst = max(found, key=lambda alarm: theme.SEVERITY_RANK.get(alarm.severity, 0))
    return AlarmLook(
        severity=worst.severity,
        acknowledged=all(alarm.acknowledged for alarm in found),
        latched=all(alarm.latched for alarm in found),
    )


def watch_alarms(
    callback: Callable[[uuid.UUID], Any],
    device_ids: set[uuid.UUID] | None = None,
    interval: float = 0.5,
    after: Callable[[], Any] | None = None,
) -> ui.timer:
    """Call ``callback(device_id)`` in this page after alarm transitions of its devices (bus pushed,
    applied once per tick, like ``pages.components.live.watch_latest``)."""
    pending: set[uuid.UUID] = set()

    def note(notices: list[AlarmNotice]) -> None:
        pending.update(
            n.alarm.device_id for n in notices if device_ids is None or n.alarm.device_id in device_ids
        )

    def drain() -> None:
        if not pending:
            return
        while pending:
            callback(pending.pop())
        if after is not None:
            after()

    context.client.on_delete(get_bus().on_alarm_notices(note))
    return ui.timer(interval, drain, immediate=False)
