"""Readings, aggregates and chart series on the wire (CONTRACT.md "Readings")."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from ddms.schemas.common import UTCTimestamp


class ReadingPublic(BaseModel):
    timestamp: UTCTimestamp
    value: float


class AggregatedReading(ReadingPublic):
    """One bucket: ``value`` is the average."""

    min: float
    max: float
    count: int


class ReadingsPagePublic(BaseModel):
    device_id: uuid.UUID
    readings: list[AggregatedReading] | list[ReadingPublic]
    total: int


class LatestReading(BaseModel):
    device_id: uuid.UUID
    timestamp: UTCTimestamp
    value: float


class ReadingCount(BaseModel):
    device_id: uuid.UUID
    count: int


class SeriesPoint(BaseModel):
    timestamp: UTCTimestamp
    avg: float
    min: float
    max: float
    count: int


class SeriesPublic(BaseModel):
    device_id: uuid.UUID
    bucket_seconds: int
    source: str
    points: list[SeriesPoint]


class GroupReading(ReadingPublic):
    device_id: uuid.UUID
    device_name: str
    unit: str


class GroupReadingsPublic(BaseModel):
    """``GET /api/groups/{id}/readings``: the members' raw readings of the last hours, newest first."""

    group_id: uuid.UUID
    readings: list[GroupReading]
