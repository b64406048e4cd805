"""``/compare?devices=a,b,c``: several devices in one history chart, without making a group.

The choice lives in the URL (shareable, bookmarkable, like the range): nothing is saved, so every role
may compare what it may see. Each device keeps its unit's own y axis, so 80 °C and 4 bar both read.
"""

from __future__ import annotations

import uuid
from typing import Any

from nicegui import ui
from nicegui.events import ValueChangeEventArguments
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.i18n import _
from ddms.services import devices
from pages.components.chart_window import ChartWindow
from pages.components.compare_picker import MAX_COMPARED, device_select
from pages.components.multi_history import MultiHistory
from pages.components.retry import retrying
from pages.components.time_range import from_query
from pages.layout import frame, require_user

PATH = "/compare"
EXPORT = "/ui/export/devices"


def chosen_ids(value: str | None) -> tuple[list[uuid.UUID], int]:
    """The device ids of the link in their order, without repeats, and how many parts were unreadable."""
    ids: list[uuid.UUID] = []
    unreadable = 0
    for part in (value or "").split(","):
        if not part.strip():
            continue
        try:
            device_id = uuid.UUID(part.strip())
        except ValueError:
            unreadable += 1
            continue
        if device_id not in ids:
            ids.append(device_id)
    return ids, unreadable


class Comparison:
    """The picked devices, the chart of them, and the URL and export that follow the choice."""

    def __init__(self, known: dict[uuid.UUID, Any], picked: list[Any], request: Request) -> None:
        self.known = known
        preset, custom = from_query(request.query_params)
        with ui.row().classes("w-full items-center gap-3"):
            options = {str(device_id): device.name for device_id, device in known.items()}
            device_select(options, [str(d.id) for d in picked], self.choose)
        self.empty = ui.label(_("Pick two or more devices to see them in one chart.")).classes("text-grey-7")
        self.empty.mark("compare-empty")
        self.history = MultiHistory(
            picked,
            lambda on_range, on_zoom: ChartWindow(PATH, EXPORT, on_range, on_zoom, preset, custom),
            mark="compare-chart",
        )
        self.follow()

    def follow(self) -> None:
        ids = ",".join(str(device_id) for device_id in self.history.ids)
        window = self.history.window
        window.view_query = {"devices": ids} if ids else {}
        window.export_query = {"device_ids": ids}
        window.follow()
        self.empty.set_visibility(not self.history.members)

    async def choose(self, event: ValueChangeEventArguments[Any]) -> None:
        values = event.value if isinstance(event.value, list) else []
        picked = [self.known[uuid.UUID(v)] for v in values if uuid.UUID(v) in self.known][:MAX_COMPARED]
        self.history.members = picked
        self.follow()
        await self.history.reload()


@ui.page(PATH)
@retrying
async def compare_page(request: Request) -> RedirectResponse | None:
    target = PATH + (f"?{request.url.query}" if request.url.query else "")
    user = await require_user(target)
    if isinstance(user, RedirectResponse):
        return user
    ids, unreadable = chosen_ids(request.query_params.get("devices"))
    async with db.session_scope() as session:
        rows = await devices.list_devices(session=session)
    known = {row.id: row for row in rows}
    picked = [known[device_id] for device_id in ids if device_id in known]
    left_out = unreadable + len(ids) - len(picked)
    with frame(_("Compare"), user):
        if left_out:
            ui.label(
                _("{n} of the devices in the link were not found and are left out.").format(n=left_out)
            ).classes("text-warning").mark("compare-unknown")
        if len(picked) > MAX_COMPARED:
            ui.label(_("At most {n} devices can be compared at once.").format(n=MAX_COMPARED)).classes(
                "text-warning"
            ).mark("compare-too-many")
            picked = picked[:MAX_COMPARED]
        with ui.card().classes("w-full"):
            comparison = Comparison(known, picked, request)
    await comparison.history.reload()
    return None
