"""Readings, aggregates and chart series on the wire (CONTRACT.md "Readings").

``ReadingPublic``, ``SeriesPoint`` and ``SeriesPublic`` are plain dataclasses that
``ddms.services.readings`` builds itself (one per row, cheaply) and the API returns as they are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydantic import BaseModel

from ddms.schemas.common import UTCTimestamp


@dataclass(frozen=True, slots=True)
class ReadingPublic:
    timestamp: UTCTimestamp
    value: float


class AggregatedReading(BaseModel):
    """One bucket: ``value`` is the average."""

    timestamp: UTCTimestamp
    value: float
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


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    timestamp: UTCTimestamp
    avg: float
    min: float
    max: float
    count: int


@dataclass(frozen=True, slots=True)
class SeriesPublic:
    device_id: uuid.UUID
    bucket_seconds: int
    source: str
    points: list[SeriesPoint]


@dataclass(frozen=True, slots=True)
class GroupReading:
    device_id: uuid.UUID
    device_name: str
    unit: str
    timestamp: UTCTimestamp
    value: float


class GroupReadingsPublic(BaseModel):
    """``GET /api/groups/{id}/readings``: the members' raw readings of the last hours, newest first."""

    group_id: uuid.UUID
    readings: list[GroupReading]
