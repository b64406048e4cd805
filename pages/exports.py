"""CSV downloads for the signed-in browser (the UI session, not a bearer token).

The chart pages link here with the range they show. The export service plans and streams the file
exactly as GET /api/export/... does (constant memory, newest first, same columns and file name).
"""

from __future__ import annotations

import uuid

from nicegui import app
from starlette.responses import JSONResponse, Response, StreamingResponse

from ddms import db
from ddms.errors import DDMSError, Forbidden, Invalid, NotFound
from ddms.i18n import translate_detail
from ddms.services import export, readings
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


def register() -> None:
    """Add the download routes to NiceGUI's app (called by ``pages.register``)."""
    app.add_api_route("/ui/export/device/{device_id}", export_device, include_in_schema=False)
    app.add_api_route("/ui/export/group/{group_id}", export_group, include_in_schema=False)
