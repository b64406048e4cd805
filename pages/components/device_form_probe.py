"""The device form's Test button and decode assistant: one real read with the values typed so far.

Nothing is saved. The answer shows the registers as the device sent them (hex) and their value in
every byte order for every data type of the register count; a click on the reading that makes sense
sets the form's data type and byte order. A CDAB float tested as ABCD shows a tiny number next to
the real one, instead of a quiet "Connection OK: value -0".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nicegui import ui

from ddms.errors import DDMSError
from ddms.i18n import _, format_number
from ddms.modbus_types import ByteOrder
from ddms.schemas.devices import DeviceTest
from ddms.services import live
from ddms.services.devices import DEFAULT_TYPE_FOR_COUNT
from pages import theme
from pages.components.forms import field_errors
from pages.components.probe import registers_text, shown
from pages.layout import acting_user, can_edit, notify_error

if TYPE_CHECKING:
    from pages.components.device_form import DeviceForm

# The form fields a test reads (the rest of the body is not needed to reach the device).
CONNECTION_FIELDS = (
    "modbus_ip",
    "modbus_port",
    "modbus_slave_id",
    "modbus_register",
    "modbus_register_count",
    "data_type",
    "byte_order",
    "scale",
    "offset",
)


class DecodeAssistant:
    """Test connection from a ``DeviceForm``'s current values, and the decodings to pick from."""

    def __init__(self, form: DeviceForm) -> None:
        self.form = form
        self.result: dict[str, Any] | None = None
        with (
            ui.column()
            .classes("w-full gap-2")
            .mark("decode-assistant")
            .props(theme.testid("decode-assistant"))
        ):
            self.show()

    def body(self) -> dict[str, Any]:
        data = self.form.data()
        return {name: data[name] for name in CONNECTION_FIELDS if data.get(name) is not None}

    async def run(self) -> None:
        """Check the connection fields, read once through the service, show what came back."""
        try:
            await acting_user(can_edit)
        except DDMSError as exc:
            notify_error(exc)
            return
        if not all([self.form.check(name) for name in CONNECTION_FIELDS]):  # noqa: C419 - mark every field
            return
        body = self.body()
        errors = field_errors(DeviceTest, body)
        for name, message in errors.items():
            if name in self.form.inputs:
                self.form.inputs[name].error = message
        if errors:
            return
        try:
            result = await live.probe_settings(data=DeviceTest.model_validate(body))
        except DDMSError as exc:
            if not self.form.show_service_error(exc):
                notify_error(exc)
            return
        self.result = result
        self.show.refresh()

    def chosen(self) -> tuple[str | None, str]:
        """The data type and byte order the form would save now (an automatic type: the count's)."""
        data_type = self.form.value("data_type")
        if data_type is None and self.result and self.result.get("registers"):
            data_type = DEFAULT_TYPE_FOR_COUNT.get(len(self.result["registers"]))
        return (str(data_type) if data_type else None), str(self.form.value("byte_order") or ByteOrder.ABCD)

    def pick(self, data_type: str, byte_order: str) -> None:
        """The engineer's choice becomes the form's data type and byte order (saved with the form)."""
        self.form.inputs["data_type"].value = data_type
        self.form.inputs["byte_order"].value = byte_order
        self.show.refresh()

    @ui.refreshable_method
    def show(self) -> None:
        result = self.result
        if result is None:
            return
        chosen = self.chosen()
        by_choice = {(d["data_type"], d["byte_order"]): d["value"] for d in result.get("decodings") or []}
        latency = format_number(result.get("latency_ms"), 1)
        if result["success"]:
            value = by_choice.get(chosen, result.get("value"))
            status = _("Connection OK: value {value} read in {latency} ms").format(
                value=shown(value), latency=latency
            )
        else:
            status = _("Connection failed: {error}").format(error=result.get("error"))
        colour = "text-positive" if result["success"] else "text-negative"
        ui.label(status).classes(f"font-bold {colour}").mark("probe-status")
        if result.get("registers_hex") is None:
            return
        ui.label(registers_text(result)).classes("font-mono").mark("probe-registers")
        ui.label(_("Pick the reading that matches the device to set its data type and byte order.")).classes(
            "text-sm text-grey-7"
        )
        self._table(by_choice, chosen)

    def _table(self, by_choice: dict[tuple[str, str], float | None], chosen: tuple[str | None, str]) -> None:
        types = list(dict.fromkeys(data_type for data_type, _order in by_choice))
        with ui.grid(columns=len(ByteOrder) + 1).classes("w-full gap-1 items-center").mark("decodings"):
            ui.label(_("Data type")).classes("text-sm font-bold")
            for order in ByteOrder:
                ui.label(str(order)).classes("text-sm font-bold font-mono")
            for data_type in types:
                ui.label(data_type).classes("font-mono")
                for order in ByteOrder:
                    if (data_type, str(order)) not in by_choice:  # one register: no word order
                        ui.label("").mark(f"no-decoding-{data_type}-{order}")
                        continue
                    value = by_choice[(data_type, str(order))]
                    button = ui.button(
                        shown(value), on_click=lambda t=data_type, o=str(order): self.pick(t, o)
                    ).props("no-caps dense")
                    if (data_type, str(order)) != chosen:
                        button.props("outline")
                    button.mark(f"decoding-{data_type}-{order}")
                    if value is None:
                        button.disable()
