"""System configuration and health bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ddms.schemas.common import StrictInput, UTCTimestamp
from ddms.services.validation import check_cron


class ConfigPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    backup_enabled: bool
    backup_schedule: str
    backup_retention_count: int
    default_retention_days: int
    sse_interval: float
    app_title: str
    updated_at: UTCTimestamp


class ConfigUpdate(StrictInput):
    backup_enabled: bool | None = None
    backup_schedule: (
        Annotated[str, StringConstraints(min_length=9, max_length=100), AfterValidator(check_cron)] | None
    ) = None
    backup_retention_count: Annotated[int, Field(ge=1, le=365)] | None = None
    default_retention_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    sse_interval: Annotated[float, Field(ge=0.5, le=3600, allow_inf_nan=False)] | None = None
    app_title: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class WriterHealth(BaseModel):
    """Whether readings are being stored: the collector's writer, as ``/api/health`` and the banner show it.

    ``ok``: writes commit and nothing waits on disk. ``degraded``: writes fail since less than a few
    seconds, or work again while the spool drains. ``failing``: readings are not being stored.
    """

    writer: str
    buffer_rows: int
    spool_rows: int
    spool_bytes: int
    dropped: int
    oldest_unwritten_seconds: float | None
    last_write_at: UTCTimestamp | None
    failing_since: UTCTimestamp | None


class Health(BaseModel):
    status: str
    database: str
    version: str
    writer: str | None = None
    """``ok`` / ``degraded`` / ``failing``; null when this app runs no collector."""
    spool_rows: int | None = None
    oldest_unwritten_seconds: float | None = None
    last_write_at: UTCTimestamp | None = None
    failing_since: UTCTimestamp | None = None
    dropped: int | None = None
