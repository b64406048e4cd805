"""/devices: the device list with create, edit, delete (keep-data choice) and test-connection."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import background_tasks, context, ui
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.bus import DeviceChange, get_bus
from ddms.errors import DDMSError
from ddms.i18n import _, format_datetime, format_integer
from ddms.schemas.devices import DeviceCreate, DeviceUpdate
from ddms.services import devices
from ddms.services.levels import current_status
from pages import theme
from pages.components.compare_picker import compare_button
from pages.components.device_form import DeviceForm, device_dialog
from pages.components.dialogs import confirm_delete
from pages.components.forms import field_errors
from pages.components.live import DeviceState, watch_latest
from pages.components.probe import run_connection_test
from pages.components.retry import retrying
from pages.layout import acting_user, can_edit, frame, notify_done, notify_error, require_user
from pages.session import SessionUser, browser_timezone


async def editor() -> SessionUser:
    return await acting_user(can_edit)


Done = Callable[[], Any]


async def save_device(
    device_id: uuid.UUID | None, body: dict[str, Any], form: DeviceForm, done: Done
) -> bool:
    """Create or update through the service; its errors go next to their field or into a toast."""
    try:
        await editor()
        schema = DeviceUpdate if device_id else DeviceCreate
        errors = field_errors(schema, body)
        if errors:
            for name, message in errors.items():
                if name in form.inputs:
                    form.inputs[name].error = message
            return False
        async with db.session_scope() as session:
            if device_id is None:
                device = await devices.create_device(session=session, data=DeviceCreate.model_validate(body))
            else:
                device = await devices.update_device(
                    session=session, device_id=device_id, data=DeviceUpdate.model_validate(body)
                )
    except ValidationError:  # pragma: no cover - field_errors ran the same validation
        return False
    except DDMSError as exc:
        if not form.show_service_error(exc):
            notify_error(exc)
        return False
    notify_done(_("Device '{name}' saved").format(name=device.name))
    done()
    return True


def delete_dialog(device: Any, done: Done) -> None:
    """Delete with the keep-data choice (archived readings stay for history and export)."""
    keep: list[ui.checkbox] = []

    def choices() -> None:
        text = _("Keep its readings (history and export stay available)")
        keep.append(ui.checkbox(text, value=True).mark("keep-data"))

    async def delete() -> None:
        await editor()
        async with db.session_scope() as session:
            await devices.delete_device(session=session, device_id=device.id, keep_data=keep[0].value)

    confirm_delete(
        _("Delete device '{name}'?").format(name=device.name),
        delete,
        _("Device '{name}' deleted").format(name=device.name),
        done,
        choices,
    )


class RowLive:
    """The parts of a device's row that follow the bus: connection status and last reading."""

    def __init__(self, device: Any) -> None:
        self.device_id = device.id
        self.interval = device.sampling_interval
        latest = get_bus().latest(device.id)
        self.last_at = latest.timestamp if latest is not None else device.last_reading_at
        self.status = current_status(device.id, device.status)
        self.waiting = self.last_at is None and get_bus().status(device.id) is None
        self.time = ui.label().classes("text-xs text-grey-7").mark("last-reading")

    def badge(self) -> None:
        self.status_badge = ui.badge().classes("text-sm px-2 py-1").mark("status-badge")
        self.render()

    def update(self, state: DeviceState) -> None:
        if state.latest is not None:
            self.last_at = state.latest.timestamp
        self.status, self.waiting = state.status, False
        self.render()

    def render(self) -> None:
        last = format_datetime(self.last_at, browser_timezone())
        self.time.set_text(_("Last reading: {when} · every {n} s").format(when=last, n=self.interval))
        if self.waiting:
            self.status_badge.set_text(_(theme.WAITING_LABEL))
            self.status_badge.style(theme.fill_style(theme.STATUS_COLOURS["offline"]))
            return
        self.status_badge.set_text(_(theme.STATUS_LABELS.get(self.status, self.status)))
        colour = theme.STATUS_COLOURS.get(self.status, theme.STATUS_COLOURS["offline"])
        self.status_badge.style(theme.fill_style(colour))


def in_host(host: ui.element, action: Callable[[], Any]) -> Callable[[], Awaitable[None] | None]:
    """A click handler that builds its dialog in ``host``: outside the refreshable list, so a live
    redraw (a device changed elsewhere) cannot remove a dialog the user has open. A plain action runs
    at once (its dialog is there when the click returns); an async one finishes in ``host`` too."""

    def run() -> Awaitable[None] | None:
        with host:
            result = action()
        if not inspect.isawaitable(result):
            return None
        pending = result

        async def finish() -> None:
            with host:
                await pending

        return finish()

    return run


def device_row(device: Any, user: SessionUser, done: Done, host: ui.element) -> RowLive:
    address = _("{host}:{port} · slave {slave} · register {register}").format(
        host=device.modbus_ip,
        port=device.modbus_port,
        slave=device.modbus_slave_id,
        register=device.modbus_register,
    )
    with (
        ui.card().classes("w-full").mark(theme.key("device-row", device.id)),
        ui.row().classes("w-full items-center gap-3"),
    ):
        with ui.column().classes("gap-0 grow"):
            ui.link(device.name, f"/devices/{device.id}").classes("text-subtitle1 font-bold")
            ui.label(address).classes("text-sm text-grey-7")
            live = RowLive(device)
        live.badge()
        if user.can_edit_devices:
            ui.button(
                _("Test connection"),
                icon="network_check",
                on_click=in_host(host, lambda: run_connection_test(device.id)),
            ).props("outline").mark("test-connection")
            ui.button(_("Edit"), icon="edit", on_click=in_host(host, lambda: edit(device, done))).props(
                "outline"
            ).mark("edit")
            ui.button(
                _("Delete"),
                icon="delete",
                color="negative",
                on_click=in_host(host, lambda: delete_dialog(device, done)),
            ).props("outline").mark("delete")
    return live


async def add(done: Done) -> None:
    await device_dialog(None, lambda body, form: save_device(None, body, form, done))


async def edit(device: Any, done: Done) -> None:
    await device_dialog(device, lambda body, form: save_device(device.id, body, form, done))


class DeviceList:
    """This browser tab's list (a refreshable per page, so one tab's change never re-renders another's).

    It is live: a device added, edited or removed anywhere (another tab, the REST API) redraws the list
    within a second, keeping the search; status and last reading follow the bus.
    """

    def __init__(self, user: SessionUser, rows: list[Any]) -> None:
        self.user = user
        self.search = ""
        self.rows: dict[uuid.UUID, RowLive] = {}
        self.devices = rows
        self.loading = asyncio.Lock()
        self.host = ui.element().mark("dialogs")
        self.changed = False
        context.client.on_delete(get_bus().on_device_change(self.note))
        ui.timer(1.0, self.check)
        watch_latest(self.update)

    def note(self, _change: DeviceChange) -> None:
        """Bus listener (runs in the publisher's context): remember, redraw on this page's timer."""
        self.changed = True

    async def check(self) -> None:
        if self.changed:
            self.changed = False
            await self.load()

    def update(self, state: DeviceState) -> None:
        row = self.rows.get(state.device_id)
        if row is not None:
            row.update(state)

    async def load(self) -> None:
        """Read the devices, then draw them at once: the drawing never waits, so two reloads at the same
        moment (a save here and a change elsewhere) cannot interleave and draw the list twice."""
        async with self.loading, db.session_scope() as session:  # in turn: the last read is the newest
            self.devices = await devices.list_devices(session=session)
            self.show.refresh()

    def reload(self) -> None:
        background_tasks.create(self.load(), name="reload device list")

    def filter(self, text: str | None) -> None:
        self.search = (text or "").lower()
        self.show.refresh()

    @ui.refreshable_method
    def show(self) -> None:
        shown = [row for row in self.devices if self.search in row.name.lower()]
        ui.label(_("{n} devices").format(n=format_integer(len(shown)))).classes("text-sm text-grey-7").mark(
            "device-count"
        )
        if not shown:
            ui.label(_("No devices yet.")).classes("text-grey-7").mark("empty")
        self.rows = {device.id: device_row(device, self.user, self.reload, self.host) for device in shown}


@ui.page("/devices")
@retrying
async def devices_page(request: Request) -> RedirectResponse | None:
    user = await require_user(request.url.path)
    if isinstance(user, RedirectResponse):
        return user
    async with db.session_scope() as session:
        rows = await devices.list_devices(session=session)
    with frame(_("Devices"), user):
        listing = DeviceList(user, rows)
        with ui.row().classes("w-full items-center gap-3"):
            ui.input(placeholder=_("Search by name"), on_change=lambda e: listing.filter(e.value)).props(
                "outlined dense clearable"
            ).classes("w-64").mark("search")
            ui.space()
            compare_button(
                lambda: {str(row.id): row.name for row in listing.devices},
                lambda: [row.id for row in listing.devices if listing.search in row.name.lower()],
            )
            if user.can_edit_devices:
                ui.button(_("Add device"), icon="add", on_click=lambda: add(listing.reload)).mark(
                    "add-device"
                )
        listing.show()
    return None
