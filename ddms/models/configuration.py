"""The system configuration: one row (id = 1) the owner edits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from ddms.models.types import UTCDateTime, utcnow

SINGLETON_ID = 1


class Configuration(SQLModel, table=True):
    __tablename__ = "configuration"

    id: int = Field(default=SINGLETON_ID, primary_key=True)
    backup_enabled: bool = Field(default=True, nullable=False)
    backup_schedule: str = Field(default="0 2 * * *", sa_column=Column(String(100), nullable=False))
    backup_retention_count: int = Field(default=7, nullable=False)
    default_retention_days: int = Field(default=90, nullable=False)
    sse_interval: float = Field(default=5.0, nullable=False)
    app_title: str = Field(default="DDMS", sa_column=Column(String(100), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
