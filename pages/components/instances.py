"""The Settings page's list of DDMS instances on this database and the devices each one polls.

Several ``ddms serve`` on one PostgreSQL share the devices (``ddms.services.cluster``); the owner sees
here which instance is alive, since when, its last heartbeat and what it polls (what ``ddms status``
prints). An embedded SQLite database has exactly one instance: this one.
"""

from __future__ import annotations

import uuid
from typing import Any

from nicegui import ui

from ddms import db
from ddms.i18n import _, format_integer, format_moment
from ddms.services import cluster, devices
from pages import theme
from pages.session import browser_timezone


async def instances_section() -> None:
    with ui.card().classes("w-full max-w-2xl gap-1").mark("instances"):
        ui.label(_("Instances")).classes("text-subtitle1 font-bold")
        if not db.current().is_postgres:
            ui.label(_("One instance: the embedded SQLite database serves this process only.")).classes(
                "text-grey-8"
            )
            return
        async with db.session_scope() as session:
            found = await cluster.list_instances(session)
            rows = await devices.list_devices(session=session)
            holders = await cluster.device_holders(session, [row.id for row in rows])
        names = {row.id: row.name for row in rows}
        me = cluster.current()
        polled: dict[uuid.UUID, list[str]] = {}
        for device, instance in holders.items():
            polled.setdefault(instance, []).append(names[device])
        if not found:
            ui.label(
                _("Device sharing is off (CLUSTER_ENABLED=false): this instance polls every device.")
            ).classes("text-grey-8")
        for info in found:
            instance_row(info, me.id if me is not None else None, sorted(polled.get(info.id, [])))
        unpolled = len(rows) - len(holders)
        if found and unpolled:
            ui.label(
                _("{n} devices not polled by any instance right now").format(n=format_integer(unpolled))
            ).classes("text-warning").mark("unpolled")


def instance_row(info: Any, me: uuid.UUID | None, polled: list[str]) -> None:
    zone = browser_timezone()
    title = f"{info.host} · pid {info.pid}"
    if info.id == me:
        title += " · " + _("this instance")
    state = _("Live") if info.live else _("Gone")
    summary = _("{state}, since {started}, last heartbeat {beat}, polls {n} devices").format(
        state=state,
        started=format_moment(info.started_at, zone),
        beat=format_moment(info.heartbeat_at, zone),
        n=format_integer(len(polled)),
    )
    with (
        ui.expansion(title, caption=summary, icon="dns" if info.live else "cloud_off")
        .classes("w-full")
        .mark("instance")
        .props(theme.testid("instance"))
    ):
        if polled:
            ui.label(", ".join(polled)).classes("text-sm").mark("instance-devices")
        else:
            ui.label(_("No devices")).classes("text-sm text-grey-7")
