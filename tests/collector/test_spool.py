"""The durable spool, counted: a Modbus server answers each unit a sequence (1, 2, 3, ...), so every
reading lost or stored twice is known by its value.

- kill -9 of a collector process during a database outage, then the database back and a restart:
  everything that reached the spool is stored exactly once; the only readings lost are the newest
  ones the killed process still held in memory (taken after its last spool append).
- a full spool drops the oldest chunks, and the count it reports is exactly what is missing.
- an alarm chunk replayed twice (a crash between commit and delete) is stored once.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import func, select

from collector.spool import CHANGES, READINGS, Spool, decode_rows
from collector.writer import Writer
from ddms import db, metrics
from ddms.bus import get_bus
from ddms.models import AlarmEvent, Reading
from ddms.services.alarm_rules import RAISED, Change, LiveAlarm
from tests.collector.conftest import add_device, eventually
from tests.collector.modbus_server import RawModbusServer, Unit
from tests.collector.test_outage import _outage
from tests.conftest import TEST_SECRET
from tests.services.test_startup_wait import child_env

ROOT = Path(__file__).resolve().parents[2]


class CountingServer(RawModbusServer):
    """Each answer of a unit carries its next sequence number; every answer is recorded with the
    generation of the connection that asked (the test bumps ``generation`` when it kills a process)."""

    def __init__(self, units: list[int]) -> None:
        super().__init__()
        self.generation = 1
        self.next = dict.fromkeys(units, 1)
        self.served: list[tuple[int, int, int]] = []  # (unit, value, generation)
        for unit in units:
            self.units[unit] = Unit()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.generation = self.generation  # type: ignore[attr-defined]
        await super()._serve(reader, writer)

    async def _answer(self, writer: asyncio.StreamWriter, tid: int, unit_id: int, pdu: bytes) -> None:
        value = self.next[unit_id]
        self.next[unit_id] = value + 1
        self.units[unit_id].registers[0] = value
        self.served.append((unit_id, value, writer.generation))  # type: ignore[attr-defined]
        await super()._answer(writer, tid, unit_id, pdu)


def _spooled(path: Path) -> list[tuple[uuid.UUID, float]]:
    """The readings in a spool file, read by the test as a second process would."""
    conn = sqlite3.connect(path)
    try:
        chunks = conn.execute("SELECT payload FROM chunks WHERE kind = ?", (READINGS,)).fetchall()
    finally:
        conn.close()
    return [(device, value) for (payload,) in chunks for device, _, value in decode_rows(payload)]


async def _stored() -> dict[uuid.UUID, list[float]]:
    async with db.session_scope() as session:
        rows = (await session.exec(select(Reading.device_id, Reading.value))).all()  # type: ignore[call-overload]
    values: dict[uuid.UUID, list[float]] = {}
    for device_id, value in rows:
        values.setdefault(device_id, []).append(value)
    return values


async def _child(
    database: db.Database, data_dir: Path, *, stderr: IO[bytes] | None = None, **settings: str
) -> asyncio.subprocess.Process:
    """A collector process over ``database`` (``settings``: more environment, e.g. WRITER_...)."""
    env = (
        child_env()
        | {
            "DATABASE_URL": database.url,
            "DDMS_DATA_DIR": str(data_dir),
            "JWT_SECRET_KEY": TEST_SECRET,
            "AUTO_MIGRATE": "false",
            "MODBUS_TIMEOUT": "0.5",
            "MODBUS_RETRY_ATTEMPTS": "0",
            "WRITER_FLUSH_INTERVAL": "0.2",
            "ALARMS_ENABLED": "false",
            "PYTHONPATH": str(ROOT),
        }
        | settings
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.collector.spool_child",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
    )
    assert process.stdout is not None
    async with asyncio.timeout(60):
        assert (await process.stdout.readline()).strip() == b"started"
    return process


async def test_kill_9_during_an_outage_then_restart_stores_every_spooled_reading_once(
    database: db.Database, tmp_path: Path
) -> None:
    server = CountingServer(units=[1, 2, 3])
    port = await server.start()
    devices = {
        unit: (await add_device(name=f"seq-{unit}", modbus_port=port, modbus_slave_id=unit)).id
        for unit in (1, 2, 3)
    }
    spool_path = tmp_path / "spool.db"
    first = await _child(database, tmp_path)
    try:
        await eventually(lambda: _each(devices, 2), within=60)  # writing works
        async with _outage(database):
            # The outage's readings reach the spool (several appends: at least 4 per device).
            await eventually(
                lambda: spool_path.exists() and _counts(_spooled(spool_path), devices) >= 4, within=90
            )
            first.kill()  # SIGKILL: no flush, no spool append, no clean close
            await first.wait()
            server.generation = 2
            spooled = _spooled(spool_path)
        second = await _child(database, tmp_path)  # the database is back
        try:
            await eventually(lambda: not _spooled(spool_path), within=60)  # replayed, then deleted
            await eventually(lambda: _each(devices, 1, generation=2, server=server), within=60)
        finally:
            second.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                assert await second.wait() == 0
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
        await server.stop()

    stored = await _stored()
    for unit, device_id in devices.items():
        values = stored[device_id]
        assert len(values) == len(set(values)), f"unit {unit}: a reading stored twice"
        in_spool = {value for dev, value in spooled if dev == device_id}
        assert in_spool, unit
        assert in_spool <= set(values), f"unit {unit}: spooled readings missing"
        served = {(value, gen) for u, value, gen in server.served if u == unit}
        assert set(values) <= {value for value, _ in served}  # nothing invented
        last_safe = max(in_spool)
        last_stored_by_second = max(value for value, gen in served if gen == 2 and value in values)
        lost = {value for value, gen in served if value not in values}
        # Lost: only what the killed process held in memory after its last spool append, and the
        # answers in flight when the second one stopped (taken after its last poll was counted).
        for value in lost:
            generation = dict(served)[value]
            if generation == 1:
                assert value > last_safe, f"unit {unit}: lost {value}, older than the spool's newest"
            else:
                assert value > last_stored_by_second, f"unit {unit}: lost {value} of the second run"


def _counts(rows: list[tuple[uuid.UUID, float]], devices: dict[int, uuid.UUID]) -> int:
    """The fewest spooled readings of any device."""
    return min(sum(1 for dev, _ in rows if dev == device_id) for device_id in devices.values())


async def _each(
    devices: dict[int, uuid.UUID],
    at_least: int,
    *,
    generation: int | None = None,
    server: CountingServer | None = None,
) -> bool:
    """Every device has more than ``at_least`` readings stored (of ``generation``, if given)."""
    values = await _stored()
    for unit, device_id in devices.items():
        mine = set(values.get(device_id, []))
        if generation is not None and server is not None:
            mine &= {v for u, v, g in server.served if u == unit and g == generation}
        if len(mine) <= at_least:
            return False
    return True


async def test_a_full_spool_drops_the_oldest_and_counts_them_exactly(
    database: db.Database, tmp_path: Path
) -> None:
    device = await add_device(name="seq", modbus_port=1, modbus_slave_id=1)
    # 10 rows a chunk of 32 bytes each: a 1000-byte spool holds three chunks (960 bytes).
    writer = Writer(get_bus(), batch_size=10, spool_path=tmp_path / "spool.db", spool_max_bytes=1000)
    await writer.open_spool()  # the test drives spill and flush itself (no background task)
    dropped_before = metrics.WRITER_DROPPED.labels(what="readings")._value.get()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        async with _outage(database):
            for value in range(1, 101):  # ten chunks into a spool of three
                writer.add(device.id, start + timedelta(seconds=value), float(value))
                if value % 10 == 0:
                    assert await writer.spill()
            assert writer.spool is not None
            assert (writer.spool.rows, writer.dropped) == (30, 70)
            health = writer.health()
            assert (health.spool_rows, health.dropped) == (30, 70)
            assert metrics.WRITER_DROPPED.labels(what="readings")._value.get() - dropped_before == 70
        await writer.flush()
    finally:
        await writer.stop()
    stored = sorted((await _stored())[device.id])
    assert stored == [float(v) for v in range(71, 101)]  # the newest 30; the 70 counted are the rest


async def test_an_alarm_chunk_replayed_after_a_crash_is_stored_once(
    database: db.Database, tmp_path: Path
) -> None:
    device = await add_device(name="hot", modbus_port=1, modbus_slave_id=1)
    at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    alarm = LiveAlarm(
        id=uuid.uuid4(),
        device_id=device.id,
        device_name="hot",
        kind="threshold",
        severity="critical",
        state="active",
        value=99.0,
        peak_value=99.0,
        threshold=90.0,
        raised_at=at,
    )
    path = tmp_path / "spool.db"
    spool = Spool(path, 1 << 20)
    spool.append_changes([Change(RAISED, alarm, at, 99.0)])
    copy = spool.first()
    assert copy is not None
    assert copy.kind == CHANGES
    spool.close()
    # A first process replayed the chunk and committed, then died before deleting it.
    crashed = Writer(get_bus())
    assert copy.changes is not None
    await crashed._store_changes(copy.changes, replay=True)
    await crashed._store_changes(copy.changes, replay=True)  # (twice: still one)
    assert await _events() == 1
    # The next start replays it once more, then deletes it.
    writer = Writer(get_bus(), spool_path=path)
    await writer.start()
    await eventually(lambda: writer.spool is not None and writer.spool.bytes == 0, within=30)
    await writer.stop()
    assert await _events() == 1


async def _events() -> int:
    async with db.session_scope() as session:
        result = await session.exec(select(func.count()).select_from(AlarmEvent))  # type: ignore[call-overload]
        return int(result.one()[0])
