"""Devices: the contract's validation rules, CRUD, and notifying the collector of changes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from sqlalchemy import delete
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.bus import ChangeKind, get_bus
from ddms.errors import Conflict, Invalid, NotFound, raise_all
from ddms.modbus_types import registers_of
from ddms.models import DataType, Device, DeviceGroup, DeviceStatus, Reading, utcnow
from ddms.schemas.devices import DeviceCreate, DeviceTest, DeviceUpdate
from ddms.services import alarms, system
from ddms.services.unique import commit_unique, ensure_unique

logger = logging.getLogger(__name__)

# The contract's defaults when data_type is omitted.
DEFAULT_TYPE_FOR_COUNT = {1: DataType.UINT16, 2: DataType.FLOAT32}

# Fields an update may set to null: the optional ones, and the register count (derived again).
NULLABLE = frozenset(
    {
        "description",
        "threshold_warning_lower",
        "threshold_warning_upper",
        "threshold_critical_lower",
        "threshold_critical_upper",
        "modbus_register_count",
    }
)

STATUS_ALIASES = {"connected": DeviceStatus.ONLINE, "disconnected": DeviceStatus.OFFLINE}


def parse_status(value: str | None) -> DeviceStatus | None:
    """``online|offline|error``, or the aliases ``connected``/``disconnected``; Invalid otherwise."""
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in STATUS_ALIASES:
        return STATUS_ALIASES[lowered]
    try:
        return DeviceStatus(lowered)
    except ValueError:
        raise Invalid("invalid_status", field="status", params={"value": value}) from None


def resolve_data_type(fields: dict[str, Any]) -> list[Invalid]:
    """Fill data_type/modbus_register_count from each other; the problem when they disagree."""
    data_type, count = fields.get("data_type"), fields.get("modbus_register_count")
    names = {"type_field": "data_type", "count_field": "modbus_register_count"}
    if data_type is None:
        count = count or 1
        if count not in DEFAULT_TYPE_FOR_COUNT:
            return [Invalid("data_type_required", field="data_type", params=names)]
        fields["data_type"], fields["modbus_register_count"] = DEFAULT_TYPE_FOR_COUNT[count], count
        return []
    width = registers_of(data_type)
    if count is None:
        fields["modbus_register_count"] = width
    elif count != width:
        params = names | {"count": count, "data_type": str(data_type), "width": width}
        return [Invalid("register_count_mismatch", field="modbus_register_count", params=params)]
    return []


THRESHOLD_ORDER = (
    "threshold_critical_lower",
    "threshold_warning_lower",
    "threshold_warning_upper",
    "threshold_critical_upper",
)


def check_thresholds(fields: dict[str, Any]) -> list[Invalid]:
    """critical_lower <= warning_lower < warning_upper <= critical_upper, for those that are set.

    Every neighbouring pair out of order is a problem of its own, at its lower field (each field is
    the lower one of at most one pair), so a form marks every field to change at once.
    """
    present = [(name, fields[name]) for name in THRESHOLD_ORDER if fields.get(name) is not None]
    problems = []
    for (low_name, low), (high_name, high) in pairwise(present):
        strict = low_name == "threshold_warning_lower" and high_name == "threshold_warning_upper"
        if low > high or (strict and low == high):
            params = {"low_field": low_name, "low": f"{low:g}", "high_field": high_name, "high": f"{high:g}"}
            code = "threshold_order_strict" if strict else "threshold_order"
            problems.append(Invalid(code, field=low_name, params=params))
    return problems


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with data_type and register count resolved; every broken rule raised together."""
    raise_all([*resolve_data_type(fields), *check_thresholds(fields)])
    return fields


@dataclass(frozen=True, slots=True)
class ConnectionTarget:
    """A form's or a script's connection values before they are saved (a ``ModbusTarget``)."""

    modbus_ip: str
    modbus_port: int
    modbus_slave_id: int
    modbus_register: int
    modbus_register_count: int
    data_type: str
    byte_order: str
    scale: float
    offset: float


def connection_target(data: DeviceTest) -> ConnectionTarget:
    """Where and how to read ``data``'s value, with the defaults a new device gets; Invalid (at its
    field) when the data type and register count disagree. Thresholds and the like are not checked."""
    defaults = {
        name: Device.model_fields[name].default for name in ("modbus_port", "byte_order", "scale", "offset")
    }
    fields = defaults | data.model_dump(exclude_none=True)
    raise_all(resolve_data_type(fields))
    return ConnectionTarget(
        modbus_ip=fields["modbus_ip"],
        modbus_port=fields["modbus_port"],
        modbus_slave_id=fields["modbus_slave_id"],
        modbus_register=fields["modbus_register"],
        modbus_register_count=fields["modbus_register_count"],
        data_type=str(fields["data_type"]),
        byte_order=str(fields["byte_order"]),
        scale=fields["scale"],
        offset=fields["offset"],
    )


async def get_device(*, session: AsyncSession, device_id: uuid.UUID, include_deleted: bool = False) -> Device:
    device = await session.get(Device, device_id, populate_existing=True)
    if device is None or (device.deleted_at is not None and not include_deleted):
        raise NotFound("device_not_found")
    return device


async def list_devices(*, session: AsyncSession, status: DeviceStatus | None = None) -> list[Device]:
    """Devices ordered by name, optionally only those with one connection status."""
    query = select(Device).where(Device.deleted_at.is_(None)).order_by(Device.name)  # type: ignore[union-attr]
    if status is not None:
        query = query.where(Device.status == status)
    return list((await session.exec(query)).all())


async def list_rows(
    *, session: AsyncSession, columns: Collection[str], status: DeviceStatus | None = None
) -> list[dict[str, Any]]:
    """``columns`` of every device (by name, optionally of one status) as plain dicts.

    For read-only answers: no ORM instance, identity map or change tracking per row.
    """
    table = Device.__table__  # type: ignore[attr-defined]
    query = sa_select(*(table.c[name] for name in columns)).where(table.c.deleted_at.is_(None))
    if status is not None:
        query = query.where(table.c.status == status)
    result = await session.exec(query.order_by(table.c.name))  # type: ignore[call-overload]
    names = tuple(columns)
    return [dict(zip(names, row, strict=True)) for row in result.all()]


def _taken(name: str) -> Conflict:
    return Conflict("device_name_taken", field="name", params={"name": name})


async def _ensure_unique_name(session: AsyncSession, name: str, exclude: uuid.UUID | None = None) -> None:
    """Names are unique among devices not deleted (an archived device frees its name)."""
    live = Device.deleted_at.is_(None)  # type: ignore[union-attr]
    await ensure_unique(
        session, Device.name, name, _taken(name), live, *([Device.id != exclude] if exclude else [])
    )


async def create_device(*, session: AsyncSession, data: DeviceCreate) -> Device:
    """A new device; without ``retention_days`` it keeps data as long as the system settings say."""
    fields = _checked(data.model_dump(exclude_unset=True, exclude_none=True))
    await _ensure_unique_name(session, fields["name"])
    if "retention_days" not in fields:
        fields["retention_days"] = (await system.get_config(session=session)).default_retention_days
    device = Device(**fields)
    session.add(device)
    await commit_unique(session, _taken(fields["name"]))
    get_bus().device_changed(ChangeKind.CREATED, device.id)
    return device


async def update_device(*, session: AsyncSession, device_id: uuid.UUID, data: DeviceUpdate) -> Device:
    """Partial update; rules are checked on the merged result, so a change cannot break them."""
    device = await get_device(session=session, device_id=device_id)
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key not in NULLABLE:
            raise Invalid("not_null", field=key, params={"field": key})
    merged = device.model_dump() | changes
    if "modbus_register_count" in changes and "data_type" not in changes:
        count = changes["modbus_register_count"]
        fits = count is None or registers_of(merged["data_type"]) == count
        if not fits and count in DEFAULT_TYPE_FOR_COUNT:
            merged["data_type"] = None  # the old type no longer fits: the new count's default
    elif "data_type" in changes and "modbus_register_count" not in changes:
        merged["modbus_register_count"] = None
    _checked(merged)
    if "name" in changes:
        await _ensure_unique_name(session, merged["name"], exclude=device.id)
    for key in (*changes, "data_type", "modbus_register_count"):
        setattr(device, key, merged[key])
    device.updated_at = utcnow()
    session.add(device)
    await commit_unique(session, _taken(merged["name"]))
    get_bus().device_changed(ChangeKind.UPDATED, device.id)
    return device


async def delete_device(*, session: AsyncSession, device_id: uuid.UUID, keep_data: bool = False) -> None:
    """Delete a device; with keep_data its readings stay (the device is archived, its name freed)."""
    device = await get_device(session=session, device_id=device_id)
    if keep_data:
        await session.exec(delete(DeviceGroup).where(col(DeviceGroup.device_id) == device_id))
        device.deleted_at = utcnow()
        device.updated_at = device.deleted_at
        session.add(device)
    else:
        await session.exec(delete(Reading).where(col(Reading.device_id) == device_id))
        await session.delete(device)
    # An engine in this process clears the alarms itself on the bus event below; without one (a
    # web-only instance) they are cleared here, in the deletion's transaction.
    cleared = [] if alarms.get_engine() else await alarms.clear_deleted(session=session, device_id=device_id)
    await session.commit()
    alarms.announce(cleared)
    get_bus().device_changed(ChangeKind.DELETED, device_id)
