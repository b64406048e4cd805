"""Small builders for page tests: devices, groups and readings made through the services."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from nicegui.testing import User

import ddms.db
from ddms.bus import LatestValue, get_bus
from ddms.models import Device, utcnow
from ddms.schemas.devices import DeviceCreate, GroupCreate
from ddms.services import alarms, devices, groups


async def make_device(name: str = "Boiler", **fields: Any) -> Device:
    body = {"modbus_ip": "127.0.0.1", "modbus_slave_id": 1, "modbus_register": 0, "unit": "°C"} | fields
    async with ddms.db.session_scope() as session:
        return await devices.create_device(session=session, data=DeviceCreate(name=name, **body))


async def make_group(name: str, members: list[Device]) -> Any:
    async with ddms.db.session_scope() as session:
        return await groups.create_group(
            session=session, data=GroupCreate(name=name, device_ids=[device.id for device in members])
        )


def publish(
    device: Device, value: float, level: str = "normal", status: str = "online", at: datetime | None = None
) -> LatestValue:
    """What the collector does after a poll: the bus gets the new latest value."""
    latest = LatestValue(device.id, at or utcnow(), value, level, status, device.name, device.unit)
    get_bus().publish_reading(latest)
    return latest


def texts(user: User) -> list[str]:
    """Every string the simulated page shows: element texts, labels, hints, options, placeholders."""
    assert user.client is not None
    found: list[str] = []
    for element in user.client.layout.descendants():
        if not element.visible:
            continue
        text = getattr(element, "text", None)
        if isinstance(text, str) and text:
            found.append(text)
        for prop in ("label", "placeholder", "hint", "error-message"):
            value = element.props.get(prop)
            if isinstance(value, str) and value:
                found.append(value)
        for option in element.props.get("options", []) or []:
            if isinstance(option, dict) and isinstance(option.get("label"), str):
                found.append(option["label"])
    return found


async def eventually(check: Callable[[], object], within: float = 10.0) -> None:
    """Wait until ``check()`` is truthy (page handlers run as tasks after a simulated click)."""
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.05)


async def feed(device: Device, value: float, at: datetime | None = None) -> str:
    """One reading through the real alarm engine, stored and published as the collector's writer does
    (changes committed with the batch, then notices and notifications on the bus); returns the level."""
    engine = alarms.get_engine()
    assert engine is not None, "use the alarm_engine fixture"
    moment = at or utcnow()
    level, changes = engine.reading(device, value, moment)
    async with ddms.db.session_scope() as session:
        notices, items = await alarms.store_changes(session=session, changes=changes)
        await session.commit()
    get_bus().alarm_notices(notices)
    get_bus().notifications(items)
    publish(device, value, level=str(level), at=moment)
    return str(level)
