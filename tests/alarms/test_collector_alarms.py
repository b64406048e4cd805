"""Alarms raised by the running collector from a real Modbus server, stored with the readings (on
SQLite and PostgreSQL), published after commit, continued across a restart and kept through an outage."""

from __future__ import annotations

import sqlite3
import uuid

from sqlmodel import col, select

from collector.runner import Collector
from collector.spool import CHANGES
from ddms import db
from ddms.bus import LatestValue, get_bus
from ddms.config import Settings
from ddms.models import Alarm, AlarmEvent, Notification, Role
from ddms.services import alarms, devices
from tests.alarms.conftest import Published
from tests.api.helpers import add_user
from tests.collector.conftest import add_device, eventually
from tests.collector.modbus_server import RawModbusServer, Unit
from tests.collector.test_outage import _outage

LIMITS = {
    "threshold_warning_upper": 80.0,
    "threshold_critical_upper": 90.0,
    "hysteresis": 2.0,
}


async def boiler(server: RawModbusServer, value: int = 50, unit_id: int = 1) -> tuple[uuid.UUID, Unit]:
    unit = server.units[unit_id] = Unit(registers={0: value})
    device = await add_device(
        name=f"boiler-{unit_id}", modbus_port=server.port, modbus_slave_id=unit_id, **LIMITS
    )
    return device.id, unit


def levels(device_id: uuid.UUID) -> list[str]:
    """Levels of the readings the collector publishes for the device from now on."""
    seen: list[str] = []
    get_bus().listen(
        lambda e: seen.append(e.level) if isinstance(e, LatestValue) else None, device_ids={device_id}
    )
    return seen


def waiting_changes(collector: Collector) -> int:
    """Alarm changes not yet stored: in the writer's buffer, or spooled on disk when a flush failed."""
    writer = collector.writer
    spooled = 0
    if writer.spool is not None:
        with sqlite3.connect(writer.spool.path) as spool:
            spooled = spool.execute(
                "SELECT COALESCE(SUM(nrows), 0) FROM chunks WHERE kind = ?", (CHANGES,)
            ).fetchone()[0]
    return len(writer.changes) + int(spooled)


async def stored_events(alarm_id: uuid.UUID) -> list[tuple[str, str]]:
    async with db.session_scope() as session:
        rows = await session.exec(
            select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(col(AlarmEvent.id))
        )
        return [(row.transition, row.severity) for row in rows.all()]


async def stored_alarms() -> list[Alarm]:
    async with db.session_scope() as session:
        return list((await session.exec(select(Alarm).order_by(col(Alarm.raised_at)))).all())


async def test_a_threshold_episode_is_one_alarm_stored_and_notified_to_owner_and_admins(
    database: db.Database, collector: Collector, raw_server: RawModbusServer, published: Published
) -> None:
    owner = await add_user("admin", Role.OWNER)
    admin = await add_user("shift_admin", Role.ADMIN)
    await add_user("viewer", Role.READ_ONLY)
    device_id, unit = await boiler(raw_server)
    seen = levels(device_id)
    await eventually(lambda: "normal" in seen, within=15)

    unit.registers[0] = 85
    await published.wait(lambda n: len(n) == 1)
    unit.registers[0] = 95
    await published.wait(lambda n: len(n) == 2)
    unit.registers[0] = 70
    await published.wait(lambda n: len(n) == 3)
    assert published.transitions() == [
        ("raised", "warning"),
        ("escalated", "critical"),
        ("cleared", "critical"),
    ]
    alarm_id = published.notices[0].alarm.id
    assert {n.alarm.id for n in published.notices} == {alarm_id}

    # Published after commit: everything is in the database already.
    assert await stored_events(alarm_id) == [
        ("raised", "warning"),
        ("escalated", "critical"),
        ("cleared", "critical"),
    ]
    [alarm] = await stored_alarms()
    assert (alarm.state, alarm.value, alarm.peak_value, alarm.threshold) == ("cleared", 85, 95, 90)
    async with db.session_scope() as session:
        notes = (await session.exec(select(Notification).order_by(col(Notification.created_at)))).all()
    assert {n.user_id for n in notes} == {owner.id, admin.id}  # read-only accounts get no device alerts
    assert sorted(n.type for n in notes if n.user_id == admin.id) == [
        "threshold_cleared",
        "threshold_critical",
        "threshold_warning",
    ]
    assert len(published.notifications) == len(notes) == 6


async def test_offline_is_raised_once_after_three_failed_polls_and_its_recovery_clears_it(
    database: db.Database, collector: Collector, raw_server: RawModbusServer, published: Published
) -> None:
    await add_user("admin", Role.OWNER)
    device_id, unit = await boiler(raw_server)
    seen = levels(device_id)
    await eventually(lambda: bool(seen), within=15)
    unit.silent = True
    await published.wait(lambda n: len(n) == 1)
    stats = get_bus().poll_stats(device_id)
    assert stats is not None
    failed = stats.failed
    assert failed >= 3
    await eventually(lambda: stats.failed >= failed + 3, within=20)  # still offline: nothing new
    assert published.transitions("offline") == [("raised", "error")]
    unit.silent = False
    await published.wait(lambda n: len(n) == 2)
    assert published.transitions() == [("raised", "error"), ("cleared", "error")]
    assert [n.type for n in published.notifications] == ["device_offline", "device_online"]


async def test_exception_answers_raise_a_device_error_alarm(
    database: db.Database, collector: Collector, raw_server: RawModbusServer, published: Published
) -> None:
    _, unit = await boiler(raw_server)
    unit.exception = 2
    await published.wait(lambda n: len(n) == 1)
    assert published.notices[0].alarm.kind == "device_error"
    unit.exception = None
    await published.wait(lambda n: len(n) == 2)
    assert published.transitions() == [("raised", "error"), ("cleared", "error")]


async def test_a_restarted_collector_continues_the_same_alarm(
    database: db.Database, collector_settings: Settings, raw_server: RawModbusServer, published: Published
) -> None:
    device_id, unit = await boiler(raw_server, value=95)
    first = Collector(collector_settings, backoff_cap=1.0)
    await first.start()
    try:
        await published.wait(lambda n: len(n) == 1)
    finally:
        await first.stop()
    alarm_id = published.notices[0].alarm.id

    unit.registers[0] = 89  # inside the hysteresis band of the critical limit
    second = Collector(collector_settings, backoff_cap=1.0)
    await second.start()
    try:
        seen = levels(device_id)
        await eventually(lambda: len(seen) >= 3, within=15)
        assert set(seen) == {"critical"}  # the level held across the restart
        assert [a.id for a in alarms.get_engine().active()] == [alarm_id]  # type: ignore[union-attr]
        unit.registers[0] = 60
        await published.wait(lambda n: len(n) == 2)
    finally:
        await second.stop()
    assert published.transitions() == [("raised", "critical"), ("cleared", "critical")]
    assert published.notices[1].alarm.id == alarm_id
    assert [a.id for a in await stored_alarms()] == [alarm_id]  # nothing raised twice
    assert await stored_events(alarm_id) == [("raised", "critical"), ("cleared", "critical")]


async def test_transitions_wait_out_a_database_outage_and_are_written_in_order(
    database: db.Database, collector: Collector, raw_server: RawModbusServer, published: Published
) -> None:
    device_id, unit = await boiler(raw_server)
    seen = levels(device_id)
    await eventually(lambda: "normal" in seen, within=15)
    async with _outage(database):
        for value, level in ((85, "warning"), (95, "critical"), (70, "normal")):
            unit.registers[0] = value
            count = seen.count(level)
            await eventually(lambda level=level, count=count: seen.count(level) > count, within=15)  # type: ignore[misc]
        assert waiting_changes(collector) >= 3  # in the buffer or the spool, with the readings
        assert published.notices == []  # nothing is announced before it is stored
    await published.wait(lambda n: len(n) == 3, within=30)
    assert published.transitions() == [
        ("raised", "warning"),
        ("escalated", "critical"),
        ("cleared", "critical"),
    ]
    assert await stored_events(published.notices[0].alarm.id) == [
        ("raised", "warning"),
        ("escalated", "critical"),
        ("cleared", "critical"),
    ]


async def test_deleting_a_device_clears_its_alarms_and_keeps_them_in_history(
    database: db.Database, collector: Collector, raw_server: RawModbusServer, published: Published
) -> None:
    device_id, _ = await boiler(raw_server, value=85)
    await published.wait(lambda n: len(n) == 1)
    async with db.session_scope() as session:
        await devices.delete_device(session=session, device_id=device_id)
    await published.wait(lambda n: len(n) == 2)
    assert published.transitions() == [("raised", "warning"), ("cleared", "warning")]
    [alarm] = await stored_alarms()
    assert alarm.state == "cleared"
    assert await stored_events(alarm.id) == [("raised", "warning"), ("cleared", "warning")]
