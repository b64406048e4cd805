"""Alarm history and notifications are purged after their retention; active alarms never are."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import select

from ddms import db
from ddms.models import Alarm, AlarmEvent, Notification, Role
from ddms.services import alarms, retention
from ddms.services.alarm_rules import AlarmEngine
from tests.api.helpers import add_user

NOW = datetime(2027, 6, 1, tzinfo=UTC)


class Limits:
    def __init__(self) -> None:
        self.id, self.name = uuid.uuid4(), "pump"
        self.threshold_warning_lower = self.threshold_critical_lower = None
        self.threshold_warning_upper, self.threshold_critical_upper, self.hysteresis = 80.0, 90.0, 0.0


async def count(table: type) -> int:
    async with db.session_scope() as session:
        return int((await session.exec(select(func.count()).select_from(table))).one())


async def store(engine: AlarmEngine, device: Limits, value: float, at: datetime) -> None:
    _, changes = engine.reading(device, value, at)
    async with db.session_scope() as session:
        await alarms.store_changes(session=session, changes=changes)
        await session.commit()


async def test_old_history_and_notifications_go_active_alarms_stay(database: db.Database) -> None:
    await add_user("admin", Role.OWNER)
    engine = AlarmEngine()
    old, recent, still_active = Limits(), Limits(), Limits()
    long_ago = NOW - timedelta(days=400)
    await store(engine, old, 85, long_ago)  # raised and cleared 400 days ago
    await store(engine, old, 10, long_ago + timedelta(minutes=5))
    await store(engine, still_active, 95, long_ago)  # raised 400 days ago, still active
    await store(engine, recent, 85, NOW - timedelta(days=100))  # notification past 90 days, alarm kept
    assert (await count(Alarm), await count(AlarmEvent), await count(Notification)) == (3, 4, 4)

    removed = await retention.apply_alarm_retention(alarm_days=365, notification_days=90, now=NOW)
    assert removed == (1, 3, 4)
    async with db.session_scope() as session:
        kept = {row.device_id: row.state for row in (await session.exec(select(Alarm))).all()}
    assert kept == {still_active.id: "active", recent.id: "active"}
    assert await count(AlarmEvent) == 1  # the recent raise
    assert await retention.apply_alarm_retention(alarm_days=365, notification_days=90, now=NOW) == (0, 0, 0)
