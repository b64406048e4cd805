"""Notification channels (webhook, e-mail) and their durable outbox of deliveries.

The secrets (``secret``, ``smtp_password``) must be kept readable: the webhook secret signs every
event and the SMTP password logs in. They live in these columns only and no schema carries them out
(``ddms.schemas.channels.ChannelPublic`` has no such field); the database is protected like backups.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from ddms.models.types import UTCDateTime, utcnow


class ChannelType(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class SmtpTls(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class NotificationChannel(SQLModel, table=True):
    """Where alarm transitions go besides the in-app notifications."""

    __tablename__ = "notification_channels"
    __table_args__ = (Index("ix_notification_channels_name", "name", unique=True),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))
    type: str = Field(sa_column=Column(String(10), nullable=False))
    enabled: bool = True
    min_severity: str = Field(default="warning", sa_column=Column(String(10), nullable=False))
    url: str | None = Field(default=None, sa_column=Column(String(2000), nullable=True))
    secret: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    smtp_host: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    smtp_port: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    smtp_tls: str | None = Field(default=None, sa_column=Column(String(10), nullable=True))
    smtp_username: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    smtp_password: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    email_from: str | None = Field(default=None, sa_column=Column(String(320), nullable=True))
    email_to: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ChannelDelivery(SQLModel, table=True):
    """One event for one channel: written when the alarm transition arrives, sent by the worker.

    ``event`` is the contract event without ``sent_at`` (added, and signed, at each attempt).
    """

    __tablename__ = "channel_deliveries"
    __table_args__ = (
        Index("ix_channel_deliveries_channel_state_due", "channel_id", "state", "next_attempt_at"),
        Index("ix_channel_deliveries_state_created", "state", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    channel_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("notification_channels.id", ondelete="CASCADE"), nullable=False)
    )
    event: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    state: str = Field(default=DeliveryState.PENDING, sa_column=Column(String(10), nullable=False))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
