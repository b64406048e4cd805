"""/display and /display/{group_id}: the public wall display (no login), large live tiles.

Readable from across a room: one tile per device whose whole background is its alarm colour.
Values are pushed from the bus. After a server restart NiceGUI's client reconnects and reloads the
page, so a screen left on this address recovers by itself; the tab can go full-screen with a button.
"""

from __future__ import annotations

import uuid

from nicegui import ui

from ddms import db
from ddms.bus import get_bus
from ddms.errors import NotFound
from ddms.i18n import LANGUAGES, _, format_time
from ddms.models import utcnow
from ddms.services import devices, groups
from pages.components.device_card import DeviceTile
from pages.components.live import DeviceState, reload_on_device_changes, watch_latest
from pages.layout import apply_theme, connection_indicator
from pages.session import app_title, browser_timezone, language_url, load_app_title


async def _wall(group_id: str | None) -> None:
    await load_app_title()
    apply_theme()
    ui.query("body").classes("bg-black")
    title = app_title()
    try:
        async with db.session_scope() as session:
            if group_id is None:
                rows = await devices.list_devices(session=session)
            else:
                group = await groups.get_group(session=session, group_id=uuid.UUID(group_id))
                rows = await groups.group_devices(session=session, group_id=group.id)
                title = f"{title} · {group.name}"
    except (ValueError, NotFound):
        ui.label(_("Group not found")).classes("text-h4 text-white").mark("not-found")
        return
    ui.page_title(title)
    fullscreen = ui.fullscreen()
    with ui.row().classes("w-full items-center text-white px-2"):
        ui.label(title).classes("text-h4 font-bold").mark("display-title")
        ui.space()
        clock = ui.label().classes("text-h5 tabular-nums")
        connection_indicator()
        here = "/display" if group_id is None else f"/display/{group_id}"
        for code, (name, _locale) in LANGUAGES.items():
            ui.button(name, on_click=lambda code=code: ui.navigate.to(language_url(code, here))) \
                .props("flat dense no-caps color=white").mark(f"language-{code}")
        ui.button(icon="fullscreen", on_click=fullscreen.toggle).props("flat round color=white") \
            .tooltip(_("Full screen")).mark("fullscreen")
    ui.timer(1.0, lambda: clock.set_text(_clock()))
    bus = get_bus()
    with ui.grid().classes("w-full gap-4 p-2 grid-cols-1 md:grid-cols-2 xl:grid-cols-3"):
        tiles = {row.id: DeviceTile(row, bus.latest(row.id)) for row in rows}
    if not rows:
        ui.label(_("No devices to show.")).classes("text-h4 text-white").mark("empty")

    def on_state(state: DeviceState) -> None:
        tiles[state.device_id].update(state)

    watch_latest(on_state, set(tiles))
    reload_on_device_changes()


def _clock() -> str:
    return format_time(utcnow(), browser_timezone())


@ui.page("/display")
async def display_page() -> None:
    await _wall(None)


@ui.page("/display/{group_id}")
async def group_display_page(group_id: str) -> None:
    await _wall(group_id)
