"""/api/readings: raw pages, 1min/1hour/1day aggregates, counts, latest value and chart series.

Times arrive as strings and are parsed by the service, so a bad value is a 400 with a readable
message (the contract's rule), not a framework 422.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from ddms.api.deps import AggregateParam, Authenticated, SessionDep, TimeRangeDep
from ddms.api.openapi import errors
from ddms.schemas.readings import (
    AggregatedReading,
    LatestReading,
    ReadingCount,
    ReadingPublic,
    ReadingsPagePublic,
    SeriesPoint,
    SeriesPublic,
)
from ddms.services import readings

router = APIRouter(prefix="/api/readings", tags=["readings"])


@router.get("/{device_id}", response_model=ReadingsPagePublic, responses=errors(400))
async def list_readings(
    device_id: uuid.UUID,
    session: SessionDep,
    _: Authenticated,
    window: TimeRangeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=readings.MAX_OFFSET)] = 0,
    aggregate: AggregateParam = None,
) -> ReadingsPagePublic:
    start, end = window
    width = readings.parse_aggregate(aggregate)
    if width is None:
        page = await readings.raw_page(session, device_id, start, end, limit, offset)
        raw = [
            ReadingPublic(timestamp=item.timestamp, value=item.value)
            for item in page.items
            if isinstance(item, readings.RawReading)
        ]
        return ReadingsPagePublic(device_id=device_id, readings=raw, total=page.total)
    page = await readings.aggregate_page(session, device_id, start, end, width, limit, offset)
    buckets = [
        AggregatedReading(timestamp=b.timestamp, value=b.avg, min=b.min, max=b.max, count=b.count)
        for b in page.items
        if isinstance(b, readings.Bucket)
    ]
    return ReadingsPagePublic(device_id=device_id, readings=buckets, total=page.total)


@router.get("/{device_id}/latest", response_model=LatestReading)
async def latest_reading(device_id: uuid.UUID, session: SessionDep, _: Authenticated) -> LatestReading:
    reading = await readings.latest(session, device_id)
    return LatestReading(device_id=device_id, timestamp=reading.timestamp, value=reading.value)


@router.get("/{device_id}/count", response_model=ReadingCount, responses=errors(400))
async def count_readings(
    device_id: uuid.UUID,
    session: SessionDep,
    _: Authenticated,
    window: TimeRangeDep,
) -> ReadingCount:
    start, end = window
    return ReadingCount(device_id=device_id, count=await readings.count(session, device_id, start, end))


@router.get("/{device_id}/series", response_model=SeriesPublic, responses=errors(400))
async def reading_series(
    device_id: uuid.UUID,
    session: SessionDep,
    _: Authenticated,
    window: TimeRangeDep,
    max_points: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> SeriesPublic:
    start, end = window
    series = await readings.series(session, device_id, start, end, max_points)
    points = [
        SeriesPoint(timestamp=p.timestamp, avg=p.avg, min=p.min, max=p.max, count=p.count)
        for p in series.points
    ]
    return SeriesPublic(
        device_id=device_id, bucket_seconds=series.bucket_seconds, source=series.source, points=points
    )
