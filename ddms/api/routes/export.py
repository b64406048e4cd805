"""/api/export: CSV downloads of one device, a group, a list of devices, or the alarm history (streamed).

``export_router`` builds these routes for any way of knowing the caller: the REST API mounts them
with the bearer token check, the pages (``pages/exports.py``) with the signed-in browser. So both
downloads parse the range with the same dependency (bad input is answered before the body starts),
plan the same files, send the same headers and map errors the same way (``ErrorMappingRoute``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import StreamingResponse

from ddms.api.deps import AggregateParam, SessionDep, TimeRangeDep, get_principal
from ddms.api.errors import ErrorMappingRoute
from ddms.api.openapi import errors
from ddms.services import alarm_export, export, readings

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "CSV file, newest row first",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    **errors(400),
}


def csv_response(plan: export.ExportPlan) -> StreamingResponse:
    """The streamed file; ``no-store``: exports hold plant data and must not stay in shared caches."""
    return StreamingResponse(
        export.stream(plan),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": plan.content_disposition, "Cache-Control": "no-store"},
    )


TimeZoneParam = Annotated[
    str | None,
    Query(
        description="IANA time zone of the times in the file, each with its offset "
        "(e.g. Europe/Berlin; default UTC; an unknown zone: 400)",
        examples=["Asia/Shanghai"],
    ),
]
BomParam = Annotated[
    bool,
    Query(description="Start the file with a UTF-8 byte order mark, for spreadsheets (default: plain UTF-8)"),
]


def export_router(prefix: str, caller: Callable[..., Any], *, include_in_schema: bool = True) -> APIRouter:
    """The export routes under ``prefix``, admitting whoever the ``caller`` dependency admits."""
    router = APIRouter(
        prefix=prefix, tags=["export"], route_class=ErrorMappingRoute, include_in_schema=include_in_schema
    )

    @router.get("/device/{device_id}", response_class=StreamingResponse, responses=CSV_RESPONSES)
    async def export_device(
        device_id: uuid.UUID,
        session: SessionDep,
        window: TimeRangeDep,
        aggregate: AggregateParam = None,
        tz: TimeZoneParam = None,
        bom: BomParam = False,
        _: Any = Depends(caller),
    ) -> StreamingResponse:
        start, end = window
        plan = await export.device_plan(session, device_id, start, end, readings.parse_aggregate(aggregate))
        return csv_response(export.with_options(plan, tz, bom))

    @router.get("/group/{group_id}", response_class=StreamingResponse, responses=CSV_RESPONSES)
    async def export_group(
        group_id: uuid.UUID,
        session: SessionDep,
        window: TimeRangeDep,
        tz: TimeZoneParam = None,
        bom: BomParam = False,
        _: Any = Depends(caller),
    ) -> StreamingResponse:
        start, end = window
        plan = await export.group_plan(session, group_id, start, end)
        return csv_response(export.with_options(plan, tz, bom))

    @router.get("/devices", response_class=StreamingResponse, responses=CSV_RESPONSES)
    async def export_devices(
        session: SessionDep,
        window: TimeRangeDep,
        device_ids: str | None = None,
        tz: TimeZoneParam = None,
        bom: BomParam = False,
        _: Any = Depends(caller),
    ) -> StreamingResponse:
        start, end = window
        ids = export.parse_device_ids(device_ids)
        plan = await export.devices_plan(session, ids, start, end)
        return csv_response(export.with_options(plan, tz, bom))

    @router.get("/alarms", response_class=StreamingResponse, responses=CSV_RESPONSES)
    async def export_alarms(
        window: TimeRangeDep,
        severity: str | None = None,
        device_id: uuid.UUID | None = None,
        group_id: uuid.UUID | None = None,
        _: Any = Depends(caller),
    ) -> StreamingResponse:
        """Cleared alarms raised in the range (the alarm history), newest raised first."""
        start, end = window
        query = await alarm_export.check(
            alarm_export.AlarmQuery(severity or None, device_id, group_id, start, end)
        )
        return StreamingResponse(
            alarm_export.stream(query),
            media_type=CSV_MEDIA_TYPE,
            headers={"Content-Disposition": query.content_disposition(), "Cache-Control": "no-store"},
        )

    return router


router = export_router("/api/export", get_principal)
