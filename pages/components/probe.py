"""The test-connection button: one real Modbus read through the live service (as the REST route)."""

from __future__ import annotations

import uuid
from typing import Any

from nicegui import ui

from ddms import db
from ddms.errors import DDMSError
from ddms.i18n import _, format_number, translate_error
from ddms.services import live
from pages.layout import acting_user, can_edit, notify_error


async def probe(device_id: uuid.UUID) -> dict[str, Any]:
    """``{success, error, value?, latency_ms?}`` exactly as POST /api/devices/{id}/test-connection."""
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
            value=format_number(result.get("value"), 4), latency=format_number(result.get("latency_ms"), 1)
        )
        ui.notify(message, type="positive", timeout=8000)
    else:
        ui.notify(
            _("Connection failed: {error}").format(error=result.get("error")),
            type="negative",
            timeout=8000,
        )
