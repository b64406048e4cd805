"""The rollup job after a drained outage: bounded chunks, so the readings' writer is never locked out.

A backlog of hours of 1 s readings on several devices is rolled up. Each transaction must claim at
most ``CHUNK_MINUTES`` minutes of one device's raw rows (counted by rows, not by wall time, so the
outcome does not depend on the machine), the result must equal the reference computed from the raw
rows, and on SQLite a writer inserting readings all along, with a busy timeout of only 1 s, must
never meet "database is locked".
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Uuid, bindparam, event, insert, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from ddms import db
from ddms.models import Reading
from ddms.services import rollups
from tests.history.helpers import Row, add_device, add_rows, assert_same, expected_buckets
from tests.history.test_history_aggregates import rollup_rows

logger = logging.getLogger(__name__)

HOURS = 3
DEVICES = 3
START = datetime(2026, 3, 2, 6, 0, 0, tzinfo=UTC)


class TransactionTimes:
    """Wall time from BEGIN to COMMIT of each transaction on an engine (reported, not asserted)."""

    def __init__(self, engine: Any) -> None:
        self.longest = 0.0
        self._begun: dict[int, float] = {}
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)

    def _begin(self, conn: Any) -> None:
        self._begun[id(conn)] = time.perf_counter()

    def _commit(self, conn: Any) -> None:
        begun = self._begun.pop(id(conn), None)
        if begun is not None:
            self.longest = max(self.longest, time.perf_counter() - begun)


async def test_a_large_backlog_is_rolled_up_in_bounded_chunks(database: db.Database) -> None:
    devices = [await add_device(f"backlog {n}") for n in range(DEVICES)]
    rows: list[Row] = [
        (device, START + timedelta(seconds=second), float((second * 7 + n) % 100))
        for n, device in enumerate(devices)
        for second in range(HOURS * 3600)
    ]
    await add_rows(rows)
    chunks: list[rollups.Chunk] = []
    times = TransactionTimes(database.engine.sync_engine)

    writes = 0
    errors: list[str] = []
    done = asyncio.Event()
    writer_device = await add_device("live")

    async def write_readings() -> None:
        """The collector's writer meanwhile: small transactions with a short busy timeout (SQLite)."""
        nonlocal writes
        url = database.engine.url.render_as_string(hide_password=False)
        engine = create_async_engine(url, connect_args={"timeout": 1.0})
        moment = START + timedelta(days=1)
        try:
            while not done.is_set():
                batch = [
                    {"device_id": writer_device, "timestamp": moment + timedelta(seconds=i), "value": 1.0}
                    for i in range(10)
                ]
                moment += timedelta(seconds=10)
                try:
                    async with engine.begin() as conn:
                        await conn.execute(insert(Reading), batch)
                    writes += 1
                except OperationalError as exc:
                    errors.append(str(exc))
                await asyncio.sleep(0)
        finally:
            await engine.dispose()

    writer = asyncio.create_task(write_readings()) if not database.is_postgres else None
    try:
        async with db.session_scope() as session:
            report = await rollups.refresh(session, on_chunk=chunks.append)
    finally:
        done.set()
        if writer is not None:
            await writer

    per_device = HOURS * 60  # dirty minutes of each backlog device
    assert report.devices >= DEVICES  # (the live device too, if its first rows came in time)
    backlog = [chunk for chunk in chunks if chunk.device_id in devices]
    assert sum(chunk.marks for chunk in backlog) == DEVICES * per_device
    # Every raw row exactly once: no mark stands for more than its minute (migration 007).
    assert sum(chunk.raw_rows for chunk in backlog) == len(rows)
    for chunk in chunks:
        assert chunk.minutes <= rollups.CHUNK_MINUTES
        assert chunk.raw_rows <= rollups.CHUNK_MINUTES * 60  # 1 s readings: 60 per minute at most
    assert rollups.CHUNK_MINUTES * 60 <= 1800  # the writer is held for at most 1 800 raw rows' work
    assert len(backlog) == DEVICES * per_device // rollups.CHUNK_MINUTES
    assert report.transactions == len(chunks)
    for table, width in rollups.ROLLUP_SECONDS.items():
        for device in devices:
            assert_same(await rollup_rows(table, device), expected_buckets(rows, device, width))
    left = text("SELECT count(*) FROM readings_rollup_dirty WHERE device_id IN :ids").bindparams(
        bindparam("ids", expanding=True, type_=Uuid())
    )
    async with db.session_scope() as session:
        assert (await session.exec(left, params={"ids": devices})).scalar() == 0  # type: ignore[call-overload]
    if writer is not None:
        assert errors == []  # never "database is locked", with a busy timeout of 1 s
        assert writes > 0
    logger.info(
        "longest transaction %.1f ms over %d chunks; %d writes meanwhile",
        times.longest * 1000,
        len(chunks),
        writes,
    )


@pytest.mark.parametrize("budget", [60, 10])
async def test_an_hour_of_1s_data_is_read_once(database: db.Database, budget: int) -> None:
    """Its minute-00 mark is a minute like the others: ``budget`` minutes per transaction, each row once.

    (It used to stand for the whole hour: an hour took two transactions, the hour and then minutes
    :01-:59, and its raw rows were read twice.)
    """
    device = await add_device("one hour")
    rows: list[Row] = [
        (device, START + timedelta(seconds=second), float(second % 17)) for second in range(3600)
    ]
    await add_rows(rows)
    chunks: list[rollups.Chunk] = []
    async with db.session_scope() as session:
        report = await rollups.refresh(session, budget=budget, on_chunk=chunks.append)
    assert report.transactions == len(chunks) == 60 // budget
    assert [chunk.raw_rows for chunk in chunks] == [budget * 60] * (60 // budget)
    assert [chunk.marks for chunk in chunks] == [budget] * (60 // budget)
    for table, width in rollups.ROLLUP_SECONDS.items():
        assert_same(await rollup_rows(table, device), expected_buckets(rows, device, width))
