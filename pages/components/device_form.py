"""The device form: every field of the contract, inline messages from the schema and the service, and a
Test button that reads the device with the values typed so far (``device_form_probe``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from ddms import db
from ddms.errors import DDMSError
from ddms.i18n import FIELD_LABELS, N_, _, translate_error
from ddms.models.device import ByteOrder, DataType
from ddms.schemas.devices import DeviceFields
from ddms.services import system
from pages.components.device_form_probe import DecodeAssistant
from pages.components.forms import field_errors
from pages.layout import busy


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | area | int | float | select
    default: Any = None
    options: tuple[str, ...] = ()
    clearable: bool = False  # an edit may set it back to "none" (thresholds)


SECTIONS: list[tuple[str, list[Field]]] = [
    (
        N_("Device"),
        [
            Field("name", FIELD_LABELS["name"]),
            Field("description", FIELD_LABELS["description"], "area"),
            Field("unit", FIELD_LABELS["unit"], default=""),
        ],
    ),
    (
        N_("Modbus connection"),
        [
            Field("modbus_ip", FIELD_LABELS["modbus_ip"]),
            Field("modbus_port", FIELD_LABELS["modbus_port"], "int", 502),
            Field("modbus_slave_id", FIELD_LABELS["modbus_slave_id"], "int", 1),
            Field("modbus_register", FIELD_LABELS["modbus_register"], "int", 0),
            Field("modbus_register_count", FIELD_LABELS["modbus_register_count"], "int"),
            Field("data_type", FIELD_LABELS["data_type"], "select", None, tuple(t.value for t in DataType)),
            Field(
                "byte_order", FIELD_LABELS["byte_order"], "select", "ABCD", tuple(b.value for b in ByteOrder)
            ),
            Field("scale", FIELD_LABELS["scale"], "float", 1.0),
            Field("offset", FIELD_LABELS["offset"], "float", 0.0),
            Field("sampling_interval", FIELD_LABELS["sampling_interval"], "int", 10),
        ],
    ),
    (
        N_("Alarms and storage"),
        [
            Field(
                "threshold_critical_lower", FIELD_LABELS["threshold_critical_lower"], "float", clearable=True
            ),
            Field(
                "threshold_warning_lower", FIELD_LABELS["threshold_warning_lower"], "float", clearable=True
            ),
            Field(
                "threshold_warning_upper", FIELD_LABELS["threshold_warning_upper"], "float", clearable=True
            ),
            Field(
                "threshold_critical_upper", FIELD_LABELS["threshold_critical_upper"], "float", clearable=True
            ),
            Field("hysteresis", FIELD_LABELS["hysteresis"], "float", 0.0),
            Field("retention_days", FIELD_LABELS["retention_days"], "int", 90),
        ],
    ),
]
FIELDS = [field for _section, fields in SECTIONS for field in fields]


class DeviceForm:
    """Inputs bound to one device's values; ``data()`` is the body for create or update."""

    def __init__(self, device: Any | None, defaults: dict[str, Any] | None = None) -> None:
        self.device = device
        self.defaults = defaults or {}
        self.inputs: dict[str, Any] = {}
        for title, fields in SECTIONS:
            ui.label(_(title)).classes("text-subtitle1 font-bold mt-2")
            with ui.grid().classes("w-full gap-3 grid-cols-1 sm:grid-cols-2 md:grid-cols-3"):
                for field in fields:
                    self.inputs[field.name] = self._input(field)

    def _input(self, field: Field) -> Any:
        if self.device is not None:
            value = getattr(self.device, field.name)
        else:
            value = self.defaults.get(field.name, field.default)
        label = _(field.label)
        if field.kind == "select":
            options = {"": _("Automatic")} if field.name == "data_type" else {}
            options |= {option: option for option in field.options}
            element: ui.select | ui.number | ui.textarea | ui.input = ui.select(
                options, label=label, value=value or ""
            )
        elif field.kind in ("int", "float"):
            element = ui.number(label, value=value, format="%.10g" if field.kind == "float" else None)
        elif field.kind == "area":
            element = ui.textarea(label, value=value or "").props("autogrow")
        else:
            element = ui.input(label, value=value or "")
        element.props("outlined dense").classes("w-full" + (" sm:col-span-2" if field.kind == "area" else ""))
        element.mark(f"field-{field.name}")
        element.on("blur", lambda field=field: self.check(field.name))
        if field.kind == "select":
            element.on_value_change(lambda _e, field=field: self.check(field.name))
        return element

    def value(self, name: str) -> Any:
        value = self.inputs[name].value
        field = next(f for f in FIELDS if f.name == name)
        if value == "" and field.kind != "text":
            return None
        if field.kind == "int" and isinstance(value, float) and value.is_integer():
            return int(value)
        if field.kind == "text" and isinstance(value, str):
            return value.strip()
        return value

    def data(self) -> dict[str, Any]:
        """Create: the filled fields; edit: every field (a cleared threshold is sent as null)."""
        body: dict[str, Any] = {}
        for field in FIELDS:
            value = self.value(field.name)
            if value is None and not (self.device is not None and field.clearable):
                continue
            if field.name == "description" and value == "" and self.device is None:
                continue
            body[field.name] = value
        return body

    def check(self, name: str) -> bool:
        """Validate one field alone against the schema's rule and show the message inline."""
        value = self.value(name)
        error = None
        if value is None and name in ("name", "modbus_ip"):
            error = _("Required")
        elif value is not None:
            error = field_errors(DeviceFields, {name: value}).get(name)
        self.inputs[name].error = error
        return error is None

    def check_all(self) -> bool:
        return all([self.check(field.name) for field in FIELDS])  # noqa: C419 - check every field

    def show_service_error(self, error: DDMSError) -> bool:
        """Put each problem of a service error next to the field it is about (its ``field``; several
        broken rules come together); False when one of them has no field here."""
        placed = [problem for problem in error.errors if problem.field in self.inputs]
        for problem in placed:
            self.inputs[str(problem.field)].error = translate_error(problem)
        return len(placed) == len(error.errors)


Saver = Callable[[dict[str, Any], "DeviceForm"], Awaitable[bool]]


async def device_dialog(device: Any | None, save: Saver) -> None:
    """Open the create/edit dialog; ``save`` returns True when the service accepted the body.

    A new device starts with the owner's default retention from the configuration.
    """
    defaults: dict[str, Any] = {}
    if device is None:
        async with db.session_scope() as session:
            defaults["retention_days"] = (await system.get_config(session=session)).default_retention_days
    with (
        ui.dialog().props("maximized-on-mobile") as dialog,
        ui.card().classes("w-full max-w-4xl").mark("device-dialog"),
    ):
        ui.label(_("Edit device") if device else _("Add device")).classes("text-h6")
        form = DeviceForm(device, defaults)
        assistant = DecodeAssistant(form)
        with ui.row().classes("w-full items-center gap-2"):
            ui.button(_("Test connection"), icon="network_check", on_click=busy(assistant.run)).props(
                "outline"
            ).mark("form-test")
            ui.space()
            ui.button(_("Cancel"), on_click=dialog.close).props("flat").mark("cancel")
            button = ui.button(_("Save")).mark("save")

        async def submit() -> None:
            if not form.check_all():
                return
            button.props("loading")
            try:
                if await save(form.data(), form):
                    dialog.close()
            finally:
                button.props(remove="loading")

        button.on_click(submit)
    dialog.open()
