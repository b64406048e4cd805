"""The test-connection button of a saved device: one real Modbus read through the live service (as the
REST route). The form's Test button and decode assistant are ``device_form_probe``."""

from __future__ import annotations

import math
import uuid
from typing import Any

from nicegui import ui

from ddms import db
from ddms.errors import DDMSError
from ddms.i18n import _, format_number, translate_error
from ddms.services import live
from pages.layout import acting_user, can_edit, notify_error


def shown(value: float | None) -> str:
    """A decoded value: grouped digits where they read well, else scientific (a denormal stays visibly
    tiny, -1.3422e-15, instead of rounding to "-0"); a pattern that is no number says so."""
    if value is None or not math.isfinite(value):
        return _("not a number")
    if value == 0 or 1e-4 <= abs(value) < 1e15:
        return format_number(value, 6)
    return f"{value:.4e}"


def registers_text(result: dict[str, Any]) -> str:
    """The registers read, in hex as the device sent them."""
    registers = " ".join(f"0x{word}" for word in result.get("registers_hex") or [])
    return _("Registers read: {registers}").format(registers=registers)


async def probe(device_id: uuid.UUID) -> dict[str, Any]:
    """The answer of POST /api/devices/{id}/test-connection, exactly."""
    async with db.session_scope() as session:
        return await live.probe_connection(session=session, device_id=device_id)


async def run_connection_test(device_id: uuid.UUID) -> None:
    """Run the test with a spinner and show the value read and the latency (or the error)."""
    try:
        await acting_user(can_edit)
    except DDMSError as exc:
        notify_error(exc)
        return
    note = ui.notification(_("Testing connection…"), spinner=True, timeout=None)
    try:
        result = await probe(device_id)
    except DDMSError as exc:
        ui.notify(translate_error(exc), type="negative")
        return
    finally:
        note.dismiss()
    if result.get("success"):
        message = _("Connection OK: value {value} read in {latency} ms").format(
            value=shown(result.get("value")), latency=format_number(result.get("latency_ms"), 1)
        )
    else:
        message = _("Connection failed: {error}").format(error=result.get("error"))
    if result.get("registers_hex"):  # a wrong byte order shows in the raw words (edit to see every order)
        message += "\n" + registers_text(result)
    ui.notify(
        message, type="positive" if result.get("success") else "negative", timeout=8000, multi_line=True
    )
