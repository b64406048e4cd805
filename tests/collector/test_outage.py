"""A database outage while polling continues: every reading taken meanwhile is stored, none twice."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine.url import make_url

from collector.runner import Collector
from collector.simulator import Simulator
from ddms import db
from ddms.bus import LatestValue, get_bus
from ddms.models import Reading
from tests.collector.conftest import add_device, eventually
from tests.conftest import PG_ADMIN_URL


async def _admin(sql: str, url: str) -> None:
    """Run ``sql`` as the admin of the server holding ``url`` (plain PostgreSQL or TimescaleDB)."""
    target = make_url(url)
    admin = make_url(PG_ADMIN_URL).set(host=target.host, port=target.port, database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def _outage(database: db.Database) -> AsyncIterator[None]:
    """No writes get through: PostgreSQL refuses connections; SQLite is locked by another writer."""
    if database.is_postgres:
        name = make_url(database.url).database
        await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false', database.url)
        await _admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'", database.url
        )
        try:
            yield
        finally:
            await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true', database.url)
        return
    path = make_url(database.url).database
    assert path is not None
    lock = await asyncio.to_thread(
        sqlite3.connect, path, timeout=5, isolation_level=None, check_same_thread=False
    )
    try:
        await asyncio.to_thread(lock.execute, "BEGIN EXCLUSIVE")
        yield
    finally:
        await asyncio.to_thread(lock.execute, "ROLLBACK")
        await asyncio.to_thread(lock.close)


async def test_readings_taken_during_an_outage_are_written_when_it_ends(
    database: db.Database, collector: Collector, sim: Simulator
) -> None:
    device = await add_device(name="boiler", modbus_port=sim.port, modbus_slave_id=1, data_type="float32")
    taken: list[LatestValue] = []
    get_bus().listen(
        lambda e: taken.append(e) if isinstance(e, LatestValue) else None, device_ids={device.id}
    )
    await eventually(lambda: len(taken) >= 1, within=10)
    await eventually(lambda: not collector.writer.rows, within=20)

    async with _outage(database):
        during = len(taken)
        # Polling goes on; the readings wait in the buffer, or in the spool once a write has hung
        # for a second (SQLite: the lock) or failed (PostgreSQL: refused).
        await eventually(lambda: len(taken) >= during + 2, within=10)
        spool = collector.writer.spool
        assert collector.writer.rows or (spool is not None and spool.rows)
        if database.is_postgres:
            await eventually(lambda: collector.writer.failures >= 1, within=10)

    await eventually(lambda: not collector.writer.rows, within=20)
    await collector.stop()  # final flush; nothing more is taken
    async with db.session_scope() as session:
        stored = await session.exec(select(Reading.timestamp).where(Reading.device_id == device.id))
        timestamps = sorted(row[0] for row in stored.all())
        count = (await session.exec(select(func.count()).select_from(Reading))).one()[0]
    assert timestamps == sorted(item.timestamp for item in taken)  # every reading, once
    assert count == len(taken)
