"""A device's alarms on its page: the transitions list and the episodes drawn on the history chart."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from nicegui import context, ui

from ddms import db
from ddms.bus import AlarmNotice, get_bus
from ddms.i18n import _, format_datetime, format_number
from ddms.services import alarms
from pages import theme
from pages.components.charts import Episode
from pages.session import browser_timezone

EPISODE_LIMIT = 200
HISTORY_ROWS = 50


async def load_episodes(
    device_id: uuid.UUID | None, start: datetime, end: datetime, *, group_id: uuid.UUID | None = None
) -> list[Episode]:
    """The device's (or the group's members') alarms that overlap ``start``..``end`` (an active one
    reaches ``end``)."""
    async with db.session_scope() as session:
        found, _total = await alarms.list_alarms(
            session=session,
            state="all",
            device_id=device_id,
            group_id=group_id,
            until=end,
            limit=EPISODE_LIMIT,
        )
    episodes: list[Episode] = []
    for alarm in found:
        cleared = alarm.cleared_at or end
        if cleared >= start:
            begin = max(alarm.raised_at, start)
            episodes.append((begin.isoformat(), min(cleared, end).isoformat(), alarm.severity))
    return episodes


@dataclass(frozen=True, slots=True)
class Row:
    transition: str
    severity: str
    value: float | None
    at: datetime
    username: str | None
    comment: str | None


class AlarmHistoryList:
    """The device's alarm transitions, newest first; new ones arrive from the bus."""

    def __init__(self, device_id: uuid.UUID) -> None:
        self.device_id = device_id
        self.items: list[Row] = []
        self.pending: list[AlarmNotice] = []
        self.list = ui.column().classes("w-full gap-0").mark("alarm-history")
        context.client.on_delete(get_bus().on_alarm_notices(self.note))
        ui.timer(0.5, self.apply, immediate=False)

    async def load(self) -> None:
        async with db.session_scope() as session:
            events = await alarms.alarm_history(session=session, device_id=self.device_id, limit=HISTORY_ROWS)
        self.items = [Row(e.transition, e.severity, e.value, e.at, e.username, e.comment) for e in events]
        self.render()

    def note(self, notices: list[AlarmNotice]) -> None:
        self.pending.extend(n for n in notices if n.alarm.device_id == self.device_id)

    def apply(self) -> None:
        if not self.pending:
            return
        notices, self.pending[:] = list(self.pending), []
        for n in notices:
            acked = n.transition == "acknowledged"
            row = Row(
                n.transition,
                n.alarm.severity,
                None if acked else n.alarm.value,
                n.at,
                n.alarm.acknowledged_by if acked else None,
                n.alarm.comment if acked else None,
            )
            self.items.insert(0, row)
        del self.items[HISTORY_ROWS:]
        self.render()

    def render(self) -> None:
        self.list.clear()
        with self.list:
            if not self.items:
                ui.label(_("No alarms so far.")).classes("text-grey-7").mark("no-alarm-history")
            for row in self.items:
                colour = theme.SEVERITY_COLOURS.get(row.severity, "#757575")
                with (
                    ui.row()
                    .classes("w-full items-center gap-x-4 py-1 border-b border-gray-300")
                    .style(f"border-left: 4px solid {colour}; padding-left: 6px")
                    .mark("alarm-event", row.transition)
                ):
                    ui.label(format_datetime(row.at, browser_timezone())).classes("text-sm min-w-[11rem]")
                    ui.label(_(theme.TRANSITION_LABELS.get(row.transition, row.transition))).classes(
                        "font-bold"
                    )
                    ui.label(_(theme.SEVERITY_LABELS.get(row.severity, row.severity))).classes(
                        theme.tone_class(row.severity if row.severity in theme.LIGHT.tones else "offline")
                    )
                    if row.value is not None:
                        ui.label(format_number(row.value)).classes("text-sm")
                    if row.username:
                        ui.label(_("by {user}").format(user=row.username)).classes("text-sm")
                    if row.comment:
                        ui.label(row.comment).classes("text-sm italic")
