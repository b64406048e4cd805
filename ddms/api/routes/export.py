"""/api/export: CSV downloads of one device, a group, or a list of devices (streamed, no row cap)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from starlette.responses import StreamingResponse

from ddms.api.deps import AggregateParam, Authenticated, SessionDep, TimeRangeDep
from ddms.api.openapi import errors
from ddms.services import export, readings

router = APIRouter(prefix="/api/export", tags=["export"])

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "CSV file, newest row first",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    **errors(400),
}


def _response(plan: export.ExportPlan) -> StreamingResponse:
    return StreamingResponse(
        export.stream(plan),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": plan.content_disposition, "Cache-Control": "no-store"},
    )


@router.get("/device/{device_id}", response_class=StreamingResponse, responses=CSV_RESPONSES)
async def export_device(
    device_id: uuid.UUID,
    session: SessionDep,
    _: Authenticated,
    window: TimeRangeDep,
    aggregate: AggregateParam = None,
) -> StreamingResponse:
    start, end = window
    plan = await export.device_plan(session, device_id, start, end, readings.parse_aggregate(aggregate))
    return _response(plan)


@router.get("/group/{group_id}", response_class=StreamingResponse, responses=CSV_RESPONSES)
async def export_group(
    group_id: uuid.UUID,
    session: SessionDep,
    _: Authenticated,
    window: TimeRangeDep,
) -> StreamingResponse:
    start, end = window
    return _response(await export.group_plan(session, group_id, start, end))


@router.get("/devices", response_class=StreamingResponse, responses=CSV_RESPONSES)
async def export_devices(
    session: SessionDep,
    _: Authenticated,
    window: TimeRangeDep,
    device_ids: str | None = None,
) -> StreamingResponse:
    start, end = window
    ids = export.parse_device_ids(device_ids)
    return _response(await export.devices_plan(session, ids, start, end))
