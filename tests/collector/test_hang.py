"""A database that hangs instead of refusing (a lock held by another transaction): the writer spools
what it holds while the flush waits, it does not wait for the flush to fail first.

Without that, a flush against a hanging database fails only after SQLite's 10 s busy timeout or the
writer's 15 s timeout, and a kill -9 meanwhile loses every reading held in memory.

- kill -9 of a collector process 2-3 s into a hang, long before any write fails, then a start:
  every reading the Modbus server handed out before the kill is stored exactly once, except the
  ones taken after the last spool append. That bound: while a flush runs, what memory holds is
  appended every ``WRITER_SPILL_AFTER_SECONDS`` (here 1 s), so those are the readings of at most
  the last second before the kill (and answers still on the wire).
- the batch a hanging flush is writing goes to the spool; if the flush then commits, its spool copy
  is removed (not replayed); readings arriving meanwhile reach the spool too.
- alarm changes in a flush that hangs reach the spool; committed or failed, they are stored once.
- readings a full buffer pops from the hanging batch are saved by its copy, not counted lost.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine.url import make_url

from collector.spool import CHANGES, READINGS
from collector.writer import Writer
from ddms import db
from ddms.bus import AlarmNotice, get_bus
from ddms.services.alarm_rules import RAISED, Change, LiveAlarm
from tests.collector.conftest import add_device, eventually
from tests.collector.test_outage import _outage
from tests.collector.test_spool import CountingServer, _child, _each, _events, _spooled, _stored

SPILL_AFTER = 1.0  # WRITER_SPILL_AFTER_SECONDS of the killed process (the default)


@asynccontextmanager
async def _hang(
    database: db.Database, *, table: str = "readings", end_waiters: bool = False
) -> AsyncIterator[None]:
    """Writes wait instead of failing: another transaction holds PostgreSQL's ``table`` (a write
    waits for the writer's own 15 s timeout) or SQLite's whole file (a write waits out the 10 s
    busy timeout).

    ``end_waiters``: before letting go, end the PostgreSQL sessions still waiting for the lock (a
    killed process's insert, which nobody would commit).
    """
    if not database.is_postgres:
        async with _outage(database):
            yield
        return
    url = make_url(database.url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
    try:
        async with conn.transaction():
            await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            try:
                yield
            finally:
                if end_waiters:
                    await conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks "
                        "WHERE NOT granted AND relation = $1::text::regclass",
                        table,
                    )
    finally:
        await conn.close()


async def _lines(stream: asyncio.StreamReader | None, into: list[str]) -> None:
    assert stream is not None
    async for line in stream:
        into.append(line.decode(errors="replace"))


async def test_kill_9_while_the_database_hangs_loses_only_what_came_after_the_last_spill(
    database: db.Database, tmp_path: Path
) -> None:
    server = CountingServer(units=[1, 2, 3])
    port = await server.start()
    devices = {
        unit: (await add_device(name=f"seq-{unit}", modbus_port=port, modbus_slave_id=unit)).id
        for unit in (1, 2, 3)
    }
    spool_path = tmp_path / "spool.db"
    first = await _child(
        database,
        tmp_path,
        stderr=asyncio.subprocess.PIPE,
        WRITER_SPILL_AFTER_SECONDS=str(SPILL_AFTER),
    )
    log: list[str] = []
    reading = asyncio.ensure_future(_lines(first.stderr, log))
    try:
        await eventually(lambda: _each(devices, 0), within=60)  # writing works
        async with _hang(database, end_waiters=True):
            hang_from = len(server.served)  # answers from here on are taken while writes hang

            def spooled_during_hang() -> int:
                """The fewest readings of any device that were taken during the hang and are spooled."""
                during = {(u, v) for u, v, _ in server.served[hang_from:]}
                rows = _spooled(spool_path) if spool_path.exists() else []
                by_unit = {device_id: unit for unit, device_id in devices.items()}
                return min(
                    sum(1 for dev, value in rows if by_unit.get(dev) == unit and (unit, value) in during)
                    for unit in devices
                )

            await eventually(lambda: spooled_during_hang() >= 2, within=30)
            first.kill()  # SIGKILL: no flush, no spool append, no clean close
            await first.wait()
            server.generation = 2
            spooled = _spooled(spool_path)
        await reading
        # Killed while the first hanging write still waited: none had failed yet.
        assert any("database write running for" in line for line in log), log
        assert not any(re.search(r"database (unavailable|failing) \(", line) for line in log), log
        # The database answers again; the next start replays the spool (the same code a restarted
        # process runs, in this one: a second process start costs seconds, test_spool has one).
        restarted = Writer(get_bus(), spool_path=spool_path)
        await restarted.start()
        try:
            await eventually(lambda: not _spooled(spool_path), within=30)  # replayed, then deleted
        finally:
            await restarted.stop()
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
        reading.cancel()
        await server.stop()

    stored = await _stored()
    for unit, device_id in devices.items():
        values = stored[device_id]
        assert len(values) == len(set(values)), f"unit {unit}: a reading stored twice"
        taken_by_first = {value for u, value, generation in server.served if u == unit and generation == 1}
        assert set(values) <= {value for u, value, _ in server.served if u == unit}  # nothing invented
        in_spool = {value for dev, value in spooled if dev == device_id}
        newest_spooled = max(in_spool)
        lost = taken_by_first - set(values)
        # The bound: only readings newer than the spool's newest at the kill, i.e. taken after the
        # last append (made at most SPILL_AFTER before it), are allowed to be missing.
        assert all(value > newest_spooled for value in lost), (
            f"unit {unit}: lost {sorted(lost)}, older than the spool's newest {newest_spooled}"
        )


async def test_a_hanging_flush_spools_its_batch_and_a_late_commit_removes_the_copy(
    database: db.Database, tmp_path: Path
) -> None:
    device = await add_device(name="seq", modbus_port=1, modbus_slave_id=1)
    # A full batch (5) starts a flush; nothing else would before a minute.
    writer = Writer(
        get_bus(), batch_size=5, flush_interval=60, spill_after=0.2, spool_path=tmp_path / "spool.db"
    )
    await writer.start()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        assert writer.spool is not None
        spool = writer.spool
        async with _hang(database):
            for value in range(5):
                writer.add(device.id, start + timedelta(seconds=value), float(value))
            # The batch being written, copied; then it leaves the buffer. (The spool counts the copy
            # in its worker thread, a moment before the writer's loop resumes and drops the rows.)
            await eventually(lambda: spool.rows == 5 and not writer.rows, within=10)
            for value in range(5, 8):  # taken while the flush hangs
                writer.add(device.id, start + timedelta(seconds=value), float(value))
            await eventually(lambda: spool.rows == 8, within=10)
            assert (writer.written, writer.failures) == (0, 0)  # the first flush still waits
        await eventually(lambda: writer.written == 5, within=30)  # it committed after all
        assert spool.rows == 3  # its copy is gone; the three taken meanwhile wait for the next flush
    finally:
        await writer.stop()
    assert sorted((await _stored())[device.id]) == [float(v) for v in range(8)]
    assert writer.written == 8  # the copy of the committed batch was not replayed


def _chunks(path: Path, kind: int) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM chunks WHERE kind = ?", (kind,)).fetchone()[0])
    finally:
        conn.close()


def _raised(device_id: uuid.UUID) -> Change:
    at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    alarm = LiveAlarm(
        id=uuid.uuid4(),
        device_id=device_id,
        device_name="hot",
        kind="threshold",
        severity="critical",
        state="active",
        value=99.0,
        peak_value=99.0,
        threshold=90.0,
        raised_at=at,
    )
    return Change(RAISED, alarm, at, 99.0)


@pytest.mark.parametrize("outcome", ["commits", "times out"])
async def test_alarm_changes_of_a_hanging_flush_reach_the_spool_and_are_stored_once(
    database: db.Database, tmp_path: Path, outcome: str
) -> None:
    if outcome == "times out" and not database.is_postgres:
        pytest.skip("a timed-out SQLite write keeps its connection until the 10 s busy timeout")
    device = await add_device(name="hot", modbus_port=1, modbus_slave_id=1)
    notices: list[AlarmNotice] = []
    unlisten = get_bus().on_alarm_notices(notices.extend)
    path = tmp_path / "spool.db"
    timeout = 3.0 if outcome == "times out" else 15.0
    writer = Writer(get_bus(), flush_interval=60, spill_after=0.2, timeout=timeout, spool_path=path)
    await writer.start()
    try:
        assert writer.spool is not None
        spool = writer.spool
        async with _hang(database, table="alarms"):
            writer.alarm_changes((_raised(device.id),))  # a transition: written at once (and hangs)
            await eventually(lambda: _chunks(path, CHANGES) == 1, within=10)
            assert writer.failures == 0  # copied while the write still waited
            if outcome == "times out":
                # It gave up, and so did the next attempt (the replay of the copy): by then the
                # failure's own spill has long ended.
                await eventually(lambda: writer.failures >= 2, within=30)
                assert not writer.changes  # the copy in the spool is the only one left:
                assert _chunks(path, CHANGES) == 1  # not put back in memory, nor spooled twice
        if outcome == "commits":
            await eventually(lambda: len(notices) == 1, within=30)
            await eventually(lambda: spool.bytes == 0, within=10)  # the copy went with the commit
            assert writer.failures == 0
        else:
            await eventually(lambda: spool.bytes == 0, within=30)  # replayed when the database is back
    finally:
        await writer.stop()
        unlisten()
    assert await _events() == 1
    assert len(notices) == 1
    assert writer.changes_dropped == 0
    assert _chunks(path, READINGS) == 0


async def test_readings_a_full_buffer_pops_from_a_hanging_batch_are_not_counted_lost(
    database: db.Database, tmp_path: Path
) -> None:
    """The batch in flight holds them: its spool copy saves them when the flush then fails."""
    if not database.is_postgres:
        pytest.skip("a timed-out SQLite write keeps its connection until the 10 s busy timeout")
    device = await add_device(name="seq", modbus_port=1, modbus_slave_id=1)
    writer = Writer(
        get_bus(),
        batch_size=5,
        buffer_limit=5,  # (at least one batch)
        flush_interval=60,
        spill_after=0.5,
        timeout=3.0,
        spool_path=tmp_path / "spool.db",
    )
    await writer.start()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        async with _hang(database):
            for value in range(5):  # a full batch: the flush takes it, and hangs
                writer.add(device.id, start + timedelta(seconds=value), float(value))
            await eventually(lambda: writer._flight is not None, within=10)
            for value in range(5, 7):  # the buffer is full: 0 and 1 leave it, still in the batch
                writer.add(device.id, start + timedelta(seconds=value), float(value))
            await eventually(lambda: writer.failures >= 1, within=30)  # copied, then timed out
            assert writer.dropped == 0
    finally:
        await writer.stop()
    assert sorted((await _stored())[device.id]) == [float(v) for v in range(7)]
    assert writer.dropped == 0
