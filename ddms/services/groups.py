"""Groups of devices: CRUD, membership (replaced as a whole) and the alert summary."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.bus import get_bus
from ddms.errors import Conflict, Invalid, NotFound
from ddms.models import Device, DeviceGroup, DeviceStatus, Group, utcnow
from ddms.schemas.devices import AlertSummary, GroupCreate, GroupDetail, GroupMember, GroupPublic, GroupUpdate
from ddms.services.levels import current_status, display_level
from ddms.services.unique import commit_unique, ensure_unique


def _public(group: Group, device_count: int) -> GroupPublic:
    return GroupPublic(
        id=group.id,
        name=group.name,
        description=group.description,
        device_count=device_count,
        created_at=group.created_at,
        updated_at=group.updated_at,
    )


async def get_group(*, session: AsyncSession, group_id: uuid.UUID) -> Group:
    group = await session.get(Group, group_id, populate_existing=True)
    if group is None:
        raise NotFound("group_not_found")
    return group


async def list_groups(*, session: AsyncSession) -> list[GroupPublic]:
    """Groups by name with how many devices each holds (one query)."""
    counts = (
        select(DeviceGroup.group_id, func.count().label("n"))
        .join(Device, col(Device.id) == col(DeviceGroup.device_id))
        .where(col(Device.deleted_at).is_(None))
        .group_by(col(DeviceGroup.group_id))
        .subquery()
    )
    query = (
        select(Group, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.group_id == Group.id)
        .order_by(Group.name)
    )
    return [_public(group, count) for group, count in (await session.exec(query)).all()]


async def group_devices(*, session: AsyncSession, group_id: uuid.UUID) -> list[Device]:
    query = (
        select(Device)
        .join(DeviceGroup, col(DeviceGroup.device_id) == col(Device.id))
        .where(col(DeviceGroup.group_id) == group_id, col(Device.deleted_at).is_(None))
        .order_by(Device.name)
    )
    return list((await session.exec(query)).all())


def alert_summary(devices: list[Device]) -> AlertSummary:
    """Devices per ``live.display_level`` (offline or in error count as offline), as the cards show them."""
    summary = AlertSummary()
    bus = get_bus()
    for device in devices:
        level = display_level(current_status(device.id, device.status, bus), bus.latest(device.id))
        setattr(summary, level, getattr(summary, level) + 1)
    return summary


async def group_detail(*, session: AsyncSession, group_id: uuid.UUID) -> GroupDetail:
    group = await get_group(session=session, group_id=group_id)
    devices = await group_devices(session=session, group_id=group_id)
    return GroupDetail(
        **_public(group, len(devices)).model_dump(),
        devices=[
            GroupMember(id=d.id, name=d.name, unit=d.unit, status=DeviceStatus(d.status)) for d in devices
        ],
        alert_summary=alert_summary(devices),
    )


async def _check_device_ids(session: AsyncSession, device_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    unique = list(dict.fromkeys(device_ids))
    if not unique:
        return unique
    found = set(
        (
            await session.exec(
                select(Device.id).where(Device.id.in_(unique), Device.deleted_at.is_(None))  # type: ignore[attr-defined,union-attr]
            )
        ).all()
    )
    missing = [str(device_id) for device_id in unique if device_id not in found]
    if missing:
        raise Invalid("unknown_devices", field="device_ids", params={"ids": ", ".join(missing)})
    return unique


def _taken(name: str) -> Conflict:
    return Conflict("group_name_taken", field="name", params={"name": name})


async def _ensure_unique_name(session: AsyncSession, name: str, exclude: uuid.UUID | None = None) -> None:
    await ensure_unique(session, Group.name, name, _taken(name), *([Group.id != exclude] if exclude else []))


async def create_group(*, session: AsyncSession, data: GroupCreate) -> GroupDetail:
    await _ensure_unique_name(session, data.name)
    device_ids = await _check_device_ids(session, data.device_ids or [])
    group = Group(name=data.name, description=data.description)
    session.add(group)
    # The group row must exist before its memberships: without ORM relationships the unit of work
    # does not order the two inserts by their foreign key.
    await commit_unique(session, _taken(data.name), flush_only=True)
    session.add_all(DeviceGroup(group_id=group.id, device_id=device_id) for device_id in device_ids)
    await commit_unique(session, _taken(data.name))
    return await group_detail(session=session, group_id=group.id)


async def update_group(*, session: AsyncSession, group_id: uuid.UUID, data: GroupUpdate) -> GroupDetail:
    """Partial update; ``device_ids``, when given, replaces the membership as a whole."""
    group = await get_group(session=session, group_id=group_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        if changes["name"] is None:
            raise Invalid("not_null", field="name", params={"field": "name"})
        await _ensure_unique_name(session, changes["name"], exclude=group.id)
        group.name = changes["name"]
    if "description" in changes:
        group.description = changes["description"]
    if "device_ids" in changes:
        device_ids = await _check_device_ids(session, changes["device_ids"] or [])
        await session.exec(delete(DeviceGroup).where(col(DeviceGroup.group_id) == group_id))
        session.add_all(DeviceGroup(group_id=group_id, device_id=device_id) for device_id in device_ids)
    group.updated_at = utcnow()
    session.add(group)
    await commit_unique(session, _taken(group.name))
    return await group_detail(session=session, group_id=group_id)


async def delete_group(*, session: AsyncSession, group_id: uuid.UUID) -> None:
    """Remove the group and its memberships; the devices stay."""
    group = await get_group(session=session, group_id=group_id)
    await session.delete(group)
    await session.commit()
