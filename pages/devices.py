"""/devices: the device list with create, edit, delete (keep-data choice) and test-connection."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from nicegui import ui
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.errors import DDMSError
from ddms.i18n import _, format_datetime, format_integer
from ddms.schemas.devices import DeviceCreate, DeviceUpdate
from ddms.services import devices
from pages import theme
from pages.components.device_form import DeviceForm, device_dialog
from pages.components.dialogs import confirm_delete
from pages.components.forms import field_errors
from pages.components.probe import run_connection_test
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


def device_row(device: Any, user: SessionUser, done: Done) -> None:
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
            last = format_datetime(device.last_reading_at, browser_timezone())
            ui.label(
                _("Last reading: {when} · every {n} s").format(when=last, n=device.sampling_interval)
            ).classes("text-xs text-grey-7")
        ui.badge(_(theme.STATUS_LABELS.get(device.status, device.status))).style(
            theme.fill_style(theme.STATUS_COLOURS.get(device.status, theme.STATUS_COLOURS["offline"]))
        ).classes("text-sm px-2 py-1")
        if user.can_edit_devices:
            ui.button(
                _("Test connection"), icon="network_check", on_click=lambda: run_connection_test(device.id)
            ).props("outline").mark("test-connection")
            ui.button(_("Edit"), icon="edit", on_click=lambda: edit(device, done)).props("outline").mark(
                "edit"
            )
            ui.button(
                _("Delete"), icon="delete", color="negative", on_click=lambda: delete_dialog(device, done)
            ).props("outline").mark("delete")


async def add(done: Done) -> None:
    await device_dialog(None, lambda body, form: save_device(None, body, form, done))


async def edit(device: Any, done: Done) -> None:
    await device_dialog(device, lambda body, form: save_device(device.id, body, form, done))


class DeviceList:
    """This browser tab's list (a refreshable per page, so one tab's change never re-renders another's)."""

    def __init__(self, user: SessionUser) -> None:
        self.user = user
        self.search = ""

    def reload(self) -> None:
        self.show.refresh()

    def filter(self, text: str | None) -> None:
        self.search = (text or "").lower()
        self.show.refresh()

    @ui.refreshable_method
    async def show(self) -> None:
        async with db.session_scope() as session:
            rows = await devices.list_devices(session=session)
        shown = [row for row in rows if self.search in row.name.lower()]
        ui.label(_("{n} devices").format(n=format_integer(len(shown)))).classes("text-sm text-grey-7").mark(
            "device-count"
        )
        if not shown:
            ui.label(_("No devices yet.")).classes("text-grey-7").mark("empty")
        for device in shown:
            device_row(device, self.user, self.reload)


@ui.page("/devices")
async def devices_page(request: Request) -> RedirectResponse | None:
    user = await require_user(request.url.path)
    if isinstance(user, RedirectResponse):
        return user
    listing = DeviceList(user)
    with frame(_("Devices"), user):
        with ui.row().classes("w-full items-center gap-3"):
            ui.input(placeholder=_("Search by name"), on_change=lambda e: listing.filter(e.value)).props(
                "outlined dense clearable"
            ).classes("w-64").mark("search")
            ui.space()
            if user.can_edit_devices:
                ui.button(_("Add device"), icon="add", on_click=lambda: add(listing.reload)).mark(
                    "add-device"
                )
        await listing.show()
    return None
