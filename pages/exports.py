"""CSV downloads for the signed-in browser (the UI session, not a bearer token).

The chart pages link here with the range they show. The export service plans and streams the file
exactly as GET /api/export/... does (constant memory, newest first, same columns and file name).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from nicegui import app
from starlette.responses import JSONResponse, Response, StreamingResponse

from ddms import db
from ddms.errors import DDMSError, Forbidden, Invalid, NotFound
from ddms.i18n import translate_detail
from ddms.models import utcnow
from ddms.schemas.alarms import AlarmOut
from ddms.services import alarms, export, readings
from pages.session import current_user

_STATUS: dict[type[DDMSError], int] = {NotFound: 404, Invalid: 400, Forbidden: 403}


async def _download(kind: str, target: str, start_time: str | None, end_time: str | None) -> Response:
    if await current_user() is None:
        return JSONResponse({"detail": "Not authenticated"}, status_code=401)
    try:
        target_id = uuid.UUID(target)
    except ValueError:
        return JSONResponse({"detail": "Invalid id or time"}, status_code=400)
    try:
        start, end = readings.parse_range(start_time, end_time)  # the API's parser and bounds
        async with db.session_scope() as session:
            if kind == "device":
                plan = await export.device_plan(session, target_id, start, end, None)
            else:
                plan = await export.group_plan(session, target_id, start, end)
    except DDMSError as exc:
        status = _STATUS.get(type(exc), 400)
        return JSONResponse({"detail": translate_detail(exc.detail)}, status_code=status)
    return StreamingResponse(
        export.stream(plan),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": plan.content_disposition},
    )


async def export_device(
    device_id: str, start_time: str | None = None, end_time: str | None = None
) -> Response:
    return await _download("device", device_id, start_time, end_time)


async def export_group(group_id: str, start_time: str | None = None, end_time: str | None = None) -> Response:
    return await _download("group", group_id, start_time, end_time)


ALARM_HEADER = [
    "raised_at",
    "cleared_at",
    "device_name",
    "kind",
    "severity",
    "value",
    "peak_value",
    "threshold",
    "acknowledged_at",
    "acknowledged_by",
    "comment",
]
ALARM_CHUNK = 500  # the service's largest page


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def _num(value: float | None) -> str:
    return repr(float(value)) if value is not None else ""


def alarm_csv(found: list[AlarmOut], header: bool = False) -> bytes:
    """Rows of the alarm history; names, users and comments neutralised like the readings export."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(ALARM_HEADER)
    for alarm in found:
        writer.writerow(
            [
                _iso(alarm.raised_at),
                _iso(alarm.cleared_at),
                export.csv_text(alarm.device_name),
                alarm.kind,
                alarm.severity,
                _num(alarm.value),
                _num(alarm.peak_value),
                _num(alarm.threshold),
                _iso(alarm.acknowledged_at),
                export.csv_text(alarm.acknowledged_by),
                export.csv_text(alarm.comment),
            ]
        )
    return buffer.getvalue().encode("utf-8")


async def _alarm_pages(query: dict[str, Any]) -> AsyncIterator[bytes]:
    """The header, then the cleared alarms a page at a time from the service (newest raised first)."""
    yield alarm_csv([], header=True)
    offset = 0
    while True:
        async with db.session_scope() as session:
            found, total = await alarms.list_alarms(
                session=session, state="cleared", limit=ALARM_CHUNK, offset=offset, **query
            )
        if found:
            yield alarm_csv(found)
        offset += len(found)
        if not found or offset >= total:
            return


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


async def export_alarms(
    start_time: str | None = None,
    end_time: str | None = None,
    severity: str | None = None,
    device_id: str | None = None,
    group_id: str | None = None,
) -> Response:
    """The cleared alarms of a range (the /alarms page's history) as CSV."""
    if await current_user() is None:
        return JSONResponse({"detail": "Not authenticated"}, status_code=401)
    try:
        query = {"device_id": _uuid_or_none(device_id), "group_id": _uuid_or_none(group_id)}
    except ValueError:
        return JSONResponse({"detail": "Invalid id or time"}, status_code=400)
    if severity not in (None, "", "warning", "error", "critical"):
        return JSONResponse({"detail": "severity must be one of: warning, error, critical"}, status_code=400)
    try:
        start, end = readings.parse_range(start_time, end_time)
        query |= {"severity": severity or None, "since": start, "until": end}
        async with db.session_scope() as session:  # a bad filter answers now, not mid-stream
            await alarms.list_alarms(session=session, state="cleared", limit=1, **query)
    except DDMSError as exc:
        status = _STATUS.get(type(exc), 400)
        return JSONResponse({"detail": translate_detail(exc.detail)}, status_code=status)
    return StreamingResponse(
        _alarm_pages(query),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": export.content_disposition("alarms", utcnow())},
    )


def register() -> None:
    """Add the download routes to NiceGUI's app (called by ``pages.register``)."""
    app.add_api_route("/ui/export/device/{device_id}", export_device, include_in_schema=False)
    app.add_api_route("/ui/export/group/{group_id}", export_group, include_in_schema=False)
    app.add_api_route("/ui/export/alarms", export_alarms, include_in_schema=False)
