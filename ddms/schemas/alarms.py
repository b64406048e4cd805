"""Alarm, alarm-history and notification bodies (CONTRACT.md sections Alarms and Notifications)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from ddms.schemas.common import StrictInput, UTCTimestamp

AlarmStateFilter = Literal["active", "cleared", "all"]
SeverityName = Literal["warning", "critical", "error"]
Comment = Annotated[str, StringConstraints(max_length=500)]


class AlarmOut(BaseModel):
    """The contract's Alarm object; ``value`` raised it, ``peak_value`` is the furthest from normal."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: uuid.UUID
    device_id: uuid.UUID
    device_name: str
    kind: Literal["threshold", "offline", "device_error"]
    severity: SeverityName
    state: Literal["active", "cleared"]
    value: float | None
    peak_value: float | None
    threshold: float | None
    raised_at: UTCTimestamp
    cleared_at: UTCTimestamp | None
    acknowledged_at: UTCTimestamp | None
    acknowledged_by: str | None
    comment: str | None


class AlarmList(BaseModel):
    alarms: list[AlarmOut]
    total: int


class AlarmEventOut(BaseModel):
    """One transition of an alarm in its history."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    alarm_id: uuid.UUID
    device_id: uuid.UUID
    transition: Literal["raised", "escalated", "deescalated", "cleared", "acknowledged"]
    severity: SeverityName
    value: float | None
    at: UTCTimestamp
    username: str | None
    comment: str | None


class AcknowledgeIn(StrictInput):
    comment: Comment | None = None


class AcknowledgeAllIn(StrictInput):
    device_id: uuid.UUID | None = None
    comment: Comment | None = None


class Acknowledged(BaseModel):
    acknowledged: int


class NotificationOut(BaseModel):
    """The contract's Notification object (plus ``user_id``, ``alarm_id`` and ``params``).

    ``params``: the template codes (``title``, ``message``) and values that ``title`` and ``message``
    were rendered from (``ddms.services.alarm_texts``); None for notifications stored without them.
    """

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: uuid.UUID
    user_id: uuid.UUID
    type: Literal[
        "device_offline",
        "device_online",
        "device_error",
        "threshold_warning",
        "threshold_critical",
        "threshold_cleared",
        "system",
    ]
    severity: Literal["info", "warning", "error", "critical"]
    title: str
    message: str
    params: dict[str, Any] | None = None
    device_id: uuid.UUID | None
    alarm_id: uuid.UUID | None
    read_at: UTCTimestamp | None
    created_at: UTCTimestamp


class NotificationPage(BaseModel):
    notifications: list[NotificationOut]
    total: int
    unread_count: int
    limit: int
    offset: int
    has_more: bool


class UnreadCount(BaseModel):
    unread_count: int


class MarkedRead(BaseModel):
    marked: int
