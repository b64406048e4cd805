"""Alarms (one episode of an abnormal condition on one device), their history, and per-user notifications.

``alarms.device_id`` is deliberately not a foreign key: alarms and their history outlive the device
(deleting a device clears its alarms but keeps them). A partial unique index keeps at most one
active alarm per (device, kind), so even two processes cannot raise the same condition twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from ddms.models.types import UTCDateTime, utcnow


class AlarmKind(StrEnum):
    THRESHOLD = "threshold"
    OFFLINE = "offline"
    DEVICE_ERROR = "device_error"


class AlarmSeverity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"
    ERROR = "error"


class AlarmState(StrEnum):
    ACTIVE = "active"
    CLEARED = "cleared"


class Transition(StrEnum):
    RAISED = "raised"
    ESCALATED = "escalated"
    DEESCALATED = "deescalated"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"


class NotificationType(StrEnum):
    DEVICE_OFFLINE = "device_offline"
    DEVICE_ONLINE = "device_online"
    DEVICE_ERROR = "device_error"
    THRESHOLD_WARNING = "threshold_warning"
    THRESHOLD_CRITICAL = "threshold_critical"
    THRESHOLD_CLEARED = "threshold_cleared"
    SYSTEM = "system"


class Alarm(SQLModel, table=True):
    __tablename__ = "alarms"
    __table_args__ = (
        Index(
            "ix_alarms_active_device_kind",
            "device_id",
            "kind",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_alarms_raised_at", "raised_at"),
        Index("ix_alarms_state", "state"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    device_id: uuid.UUID = Field(nullable=False)
    device_name: str = Field(sa_column=Column(String(100), nullable=False))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    severity: str = Field(sa_column=Column(String(10), nullable=False))
    state: str = Field(sa_column=Column(String(10), nullable=False))
    value: float | None = Field(default=None)
    peak_value: float | None = Field(default=None)
    threshold: float | None = Field(default=None)
    raised_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, sa_column=Column(String(50), nullable=True))
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AlarmEvent(SQLModel, table=True):
    """One transition of an alarm (the alarm history); ``id`` orders the events of one instant."""

    __tablename__ = "alarm_events"
    __table_args__ = (
        Index("ix_alarm_events_alarm_id", "alarm_id"),
        Index("ix_alarm_events_device_at", "device_id", "at"),
        Index("ix_alarm_events_at", "at"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    alarm_id: uuid.UUID = Field(nullable=False)
    device_id: uuid.UUID = Field(nullable=False)
    transition: str = Field(sa_column=Column(String(20), nullable=False))
    severity: str = Field(sa_column=Column(String(10), nullable=False))
    value: float | None = Field(default=None)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    username: str | None = Field(default=None, sa_column=Column(String(50), nullable=True))
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Notification(SQLModel, table=True):
    """One notice to one user. ``title`` and ``message`` are the English text (REST); ``params`` holds
    the template codes and values they were rendered from (``ddms.services.alarm_texts``), which the
    pages translate from. Rows written before ``params`` existed have None there."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False))
    type: str = Field(sa_column=Column(String(30), nullable=False))
    severity: str = Field(sa_column=Column(String(10), nullable=False))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    message: str = Field(sa_column=Column(Text, nullable=False))
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    device_id: uuid.UUID | None = Field(default=None)
    alarm_id: uuid.UUID | None = Field(default=None)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
