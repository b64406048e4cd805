"""Migration 007: the rollup marks an older database holds for whole hours become the hour's minutes.

Before 007 an hour-aligned mark stood for its whole hour (migration 002 marked existing readings so),
and after it every mark stands for one minute: a whole-hour mark left as it was would lose 59
minutes of staleness, so the upgrade must widen it to the 60 minute marks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from ddms import db
from ddms.migrate import upgrade
from ddms.models import UTCDateTime
from tests.conftest import BACKENDS, create_pg_database, drop_pg_database
from tests.migrations.test_kill import add_data


@pytest.fixture(params=BACKENDS)
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ddms.db'}"
        return
    created = await create_pg_database(request.param)
    try:
        yield created
    finally:
        await drop_pg_database(created)


async def marks(url: str) -> list[datetime]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as connection:
            statement = text("SELECT hour_start FROM readings_rollup_dirty ORDER BY hour_start").columns(
                hour_start=UTCDateTime()
            )
            return list((await connection.execute(statement)).scalars())
    finally:
        await engine.dispose()


async def test_whole_hour_marks_become_their_minutes(url: str) -> None:
    await upgrade(url, "006_channels")
    await asyncio.to_thread(add_data, url)  # readings 00:00-00:29: the trigger marks minutes
    engine = db.create_engine(url)
    try:
        async with engine.begin() as connection:
            hour = (
                "'2026-01-01 05:00:00.000000'"
                if engine.dialect.name == "sqlite"
                else "'2026-01-01 05:00:00+00'"
            )
            await connection.execute(
                text(
                    "INSERT INTO readings_rollup_dirty (device_id, hour_start) "
                    f"SELECT id, {hour} FROM devices"
                )
            )
    finally:
        await engine.dispose()
    before = await marks(url)
    assert len(before) == 31  # minutes 00:00-00:29 and the old-style mark of hour 05
    await upgrade(url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    minutes = [start + timedelta(minutes=n) for n in range(60)]
    minutes += [start + timedelta(hours=5, minutes=n) for n in range(60)]
    assert await marks(url) == minutes
