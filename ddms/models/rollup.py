"""The rollup tables ``readings_1min``, ``readings_1hour``, ``readings_1day`` and their dirty list.

On every backend (SQLite, PostgreSQL, TimescaleDB) these are ordinary tables kept current by
``ddms.services.rollups`` (before migration 009 TimescaleDB had continuous aggregates here).
``readings_rollup_dirty`` lists the (device, minute) pairs that received readings since they were
last rolled up (an hour-aligned ``hour_start`` stands for its whole hour); a database trigger on
``readings`` fills it, so every writer (ORM, executemany, COPY) is covered, late readings included.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Float, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from ddms.models.types import UTCDateTime


def _device_fk() -> Column:  # type: ignore[type-arg]
    return Column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)


class Rollup1Min(SQLModel, table=True):
    __tablename__ = "readings_1min"

    device_id: uuid.UUID = Field(sa_column=_device_fk())
    time_bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    avg: float = Field(sa_column=Column(Float, nullable=False))
    min: float = Field(sa_column=Column(Float, nullable=False))
    max: float = Field(sa_column=Column(Float, nullable=False))
    count: int = Field(sa_column=Column(Integer, nullable=False))


class Rollup1Hour(SQLModel, table=True):
    __tablename__ = "readings_1hour"

    device_id: uuid.UUID = Field(sa_column=_device_fk())
    time_bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    avg: float = Field(sa_column=Column(Float, nullable=False))
    min: float = Field(sa_column=Column(Float, nullable=False))
    max: float = Field(sa_column=Column(Float, nullable=False))
    count: int = Field(sa_column=Column(Integer, nullable=False))


class Rollup1Day(SQLModel, table=True):
    __tablename__ = "readings_1day"

    device_id: uuid.UUID = Field(sa_column=_device_fk())
    time_bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    avg: float = Field(sa_column=Column(Float, nullable=False))
    min: float = Field(sa_column=Column(Float, nullable=False))
    max: float = Field(sa_column=Column(Float, nullable=False))
    count: int = Field(sa_column=Column(Integer, nullable=False))


class RollupDirty(SQLModel, table=True):
    """A minute (or hour) of one device whose rollups are stale (no FK: writers must never wait on it)."""

    __tablename__ = "readings_rollup_dirty"

    device_id: uuid.UUID = Field(primary_key=True)
    hour_start: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    touched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
