"""Devices (one Modbus value source each), their readings, groups and membership."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Float, ForeignKey, Index, String, Text, text
from sqlmodel import Field, SQLModel

# The type enums are the Modbus type table's (re-exported: models and schemas name them from here).
from ddms.modbus_types import ByteOrder as ByteOrder
from ddms.modbus_types import DataType as DataType
from ddms.models.types import UTCDateTime, utcnow


class DeviceStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    ERROR = "error"


class Device(SQLModel, table=True):
    """A device is soft-deleted (``deleted_at``) when its readings are kept after deletion."""

    __tablename__ = "devices"
    __table_args__ = (
        Index(
            "ix_devices_name",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    modbus_ip: str = Field(sa_column=Column(String(255), nullable=False))
    modbus_port: int = Field(default=502, nullable=False)
    modbus_slave_id: int = Field(nullable=False)
    modbus_register: int = Field(nullable=False)
    modbus_register_count: int = Field(default=1, nullable=False)
    unit: str = Field(default="", sa_column=Column(String(20), nullable=False))
    sampling_interval: int = Field(default=10, nullable=False)
    threshold_warning_lower: float | None = Field(default=None)
    threshold_warning_upper: float | None = Field(default=None)
    threshold_critical_lower: float | None = Field(default=None)
    threshold_critical_upper: float | None = Field(default=None)
    hysteresis: float = Field(default=0.0, nullable=False)
    retention_days: int = Field(default=90, nullable=False)
    data_type: str = Field(default="uint16", sa_column=Column(String(10), nullable=False))
    byte_order: str = Field(default="ABCD", sa_column=Column(String(4), nullable=False))
    scale: float = Field(default=1.0, nullable=False)
    offset: float = Field(default=0.0, nullable=False)
    status: str = Field(default="offline", sa_column=Column(String(10), nullable=False))
    last_reading_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Reading(SQLModel, table=True):
    """One value of one device at one instant; the time series every view is built from."""

    __tablename__ = "readings"
    __table_args__ = (Index("idx_readings_device_timestamp", "device_id", "timestamp"),)

    timestamp: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    device_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    )
    value: float = Field(sa_column=Column(Float, nullable=False))


class Group(SQLModel, table=True):
    __tablename__ = "groups"
    __table_args__ = (Index("ix_groups_name", "name", unique=True),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class DeviceGroup(SQLModel, table=True):
    __tablename__ = "device_groups"

    group_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    )
    device_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    )
