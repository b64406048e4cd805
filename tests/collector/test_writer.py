"""The writer's bounded buffer: drops are counted and visible, the rest is written once."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from collector.writer import Writer
from ddms import db, metrics
from ddms.bus import get_bus
from ddms.models import Reading, utcnow
from tests.collector.conftest import add_device


async def test_a_full_buffer_drops_the_oldest_and_says_so(
    database: db.Database, caplog: pytest.LogCaptureFixture
) -> None:
    device = await add_device(name="counter", modbus_port=502, modbus_slave_id=1)
    writer = Writer(get_bus(), batch_size=10, buffer_limit=20)
    dropped_before = metrics.READINGS_DROPPED._value.get()
    start = utcnow()
    taken = [start + timedelta(milliseconds=index) for index in range(25)]
    with caplog.at_level(logging.ERROR, logger="collector.writer"):
        for index, moment in enumerate(taken):
            writer.add(device.id, moment, float(index))
    assert writer.dropped == 5
    assert metrics.READINGS_DROPPED._value.get() - dropped_before == 5
    assert "write buffer full" in caplog.text

    assert await writer.flush() == 20
    assert await writer.flush() == 0  # nothing is written twice
    async with db.session_scope() as session:
        rows = (await session.exec(select(Reading.value).order_by(Reading.value))).all()
        count = (await session.exec(select(func.count()).select_from(Reading))).one()[0]
    assert [row[0] for row in rows] == [float(i) for i in range(5, 25)]
    assert count == 20
