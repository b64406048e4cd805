"""Device and group bodies with the contract's ranges; cross-field rules live in the service."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ddms.modbus_types import ByteOrder, DataType
from ddms.models.device import DeviceStatus
from ddms.schemas.common import StrictInput, UTCTimestamp
from ddms.services.validation import check_host

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Host = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(check_host)]
Threshold = Annotated[float | None, Field(allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class DeviceFields(StrictInput):
    """Every settable field, all optional: the base of create (with requirements) and update."""

    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    modbus_ip: Host | None = None
    modbus_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    modbus_slave_id: Annotated[int, Field(ge=1, le=247)] | None = None
    modbus_register: Annotated[int, Field(ge=0, le=65535)] | None = None
    modbus_register_count: Annotated[int, Field(ge=1, le=125)] | None = None
    unit: Annotated[str, StringConstraints(max_length=20)] | None = None
    sampling_interval: Annotated[int, Field(ge=1, le=3600)] | None = None
    threshold_warning_lower: Threshold = None
    threshold_warning_upper: Threshold = None
    threshold_critical_lower: Threshold = None
    threshold_critical_upper: Threshold = None
    hysteresis: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    retention_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    data_type: DataType | None = None
    byte_order: ByteOrder | None = None
    scale: Finite | None = None
    offset: Finite | None = None


class DeviceCreate(DeviceFields):
    name: Name
    modbus_ip: Host
    modbus_slave_id: Annotated[int, Field(ge=1, le=247)]
    modbus_register: Annotated[int, Field(ge=0, le=65535)]


class DeviceUpdate(DeviceFields):
    """Partial update: only the fields present in the body change (null clears a threshold)."""


class DeviceTest(DeviceFields):
    """A device body not saved yet, for test connection: any device field may be sent (the body a
    script would create the device with), only the connection and decoding fields are used."""

    modbus_ip: Host
    modbus_slave_id: Annotated[int, Field(ge=1, le=247)]
    modbus_register: Annotated[int, Field(ge=0, le=65535)]


class Decoded(BaseModel):
    """The registers read as one data type in one byte order; null: not a finite number that way."""

    data_type: DataType
    byte_order: ByteOrder
    value: float | None


class ConnectionTestResult(BaseModel):
    """One real Modbus read. ``registers`` (and their hex) and ``decodings`` are there whenever the
    device answered, also when the configured decoding is not a number (``success`` false)."""

    success: bool
    error: str | None
    device_id: uuid.UUID | None = Field(description="null for values not saved yet")
    device_name: str | None
    value: float | None = Field(None, description="the configured decoding, raw × scale + offset")
    latency_ms: float | None = None
    registers: list[int] | None = Field(None, description="as the device sent them, in address order")
    registers_hex: list[str] | None = Field(None, description="the same, four hex digits each")
    decodings: list[Decoded] | None = Field(
        None, description="every data type of the register count in every byte order (× scale + offset)"
    )


class DevicePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    modbus_ip: str
    modbus_port: int
    modbus_slave_id: int
    modbus_register: int
    modbus_register_count: int
    unit: str
    sampling_interval: int
    threshold_warning_lower: float | None
    threshold_warning_upper: float | None
    threshold_critical_lower: float | None
    threshold_critical_upper: float | None
    hysteresis: float
    retention_days: int
    data_type: str
    byte_order: str
    scale: float
    offset: float
    status: DeviceStatus
    last_reading_at: UTCTimestamp | None
    last_error: str | None
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class GroupCreate(StrictInput):
    name: Name
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    device_ids: list[uuid.UUID] | None = None


class GroupUpdate(StrictInput):
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    device_ids: list[uuid.UUID] | None = None


class GroupPublic(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    device_count: int
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class GroupMember(BaseModel):
    id: uuid.UUID
    name: str
    unit: str
    status: DeviceStatus


class AlertSummary(BaseModel):
    normal: int = 0
    warning: int = 0
    critical: int = 0
    offline: int = 0


class GroupDetail(GroupPublic):
    devices: list[GroupMember]
    alert_summary: AlertSummary
