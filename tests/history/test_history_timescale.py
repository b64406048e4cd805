"""TimescaleDB: hypertable, continuous aggregates, and the same answers as the raw computation.

Runs whenever the connected PostgreSQL offers the ``timescaledb`` extension (pg_available_extensions)
and it can be created (it must be in shared_preload_libraries); skipped with that reason otherwise.
The service and API tests of the other files also run on it then, because migration 002 picks
TimescaleDB for the session database too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import text

from ddms import db, runtime
from ddms.migrate import upgrade
from ddms.services import readings, retention, rollups
from tests.conftest import PG_ADMIN_URL, create_pg_database, drop_pg_database
from tests.history.helpers import add_device, add_rows, as_dict, assert_same, expected_buckets


async def _timescale_offered() -> str | None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL not reachable: {exc}"
    try:
        offered = await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        preload = await conn.fetchval("SHOW shared_preload_libraries")
    finally:
        await conn.close()
    if not offered:
        return "the connected PostgreSQL does not offer the timescaledb extension (pg_available_extensions)"
    if "timescaledb" not in (preload or ""):
        return "timescaledb is offered but not in shared_preload_libraries, so it cannot be created"
    return None


@pytest.fixture
async def timescale() -> AsyncIterator[db.Database]:
    reason = await _timescale_offered()
    if reason:
        pytest.skip(reason)
    url = await create_pg_database()
    try:
        await upgrade(url)
        database = db.Database(url)
        with runtime.installed(runtime.Runtime(database=database)):
            yield database
        await database.dispose()
    finally:
        await drop_pg_database(url)


async def test_migration_makes_a_hypertable_and_continuous_aggregates(timescale: db.Database) -> None:
    async with timescale.engine.connect() as conn:
        hypertables = (
            (await conn.execute(text("SELECT hypertable_name FROM timescaledb_information.hypertables")))
            .scalars()
            .all()
        )
        caggs = (
            (
                await conn.execute(
                    text("SELECT view_name FROM timescaledb_information.continuous_aggregates ORDER BY 1")
                )
            )
            .scalars()
            .all()
        )
        compressed = (
            await conn.execute(
                text(
                    "SELECT compression_enabled FROM timescaledb_information.hypertables "
                    "WHERE hypertable_name = 'readings'"
                )
            )
        ).scalar()
    assert "readings" in hypertables
    assert sorted(caggs) == ["readings_1day", "readings_1hour", "readings_1min"]
    assert compressed is True
    async with db.session_scope() as session:
        assert await rollups.is_continuous(session)


async def test_aggregates_series_and_retention_match_raw_rows(timescale: db.Database) -> None:
    device = await add_device("furnace", retention_days=2)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [(device, now - timedelta(seconds=37 * i), float(i % 101)) for i in range(12_000)]  # ~5 days
    await add_rows(rows)
    async with timescale.engine.connect() as conn:  # materialise part, leave the rest real-time
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(
            text("CALL refresh_continuous_aggregate('readings_1hour', NULL, now() - INTERVAL '1 day')")
        )
    async with db.session_scope() as session:
        for width in readings.AGGREGATES.values():
            page = await readings.aggregate_page(session, device, None, None, width, 1000, 0)
            assert page.total == len(expected_buckets(rows, device, width))
        series = await readings.series(session, device, now - timedelta(days=4), now, 100)
    lo, hi = readings.aligned(now - timedelta(days=4), now, series.bucket_seconds)
    assert_same(as_dict(series.points), expected_buckets(rows, device, series.bucket_seconds, lo, hi))

    await retention.apply_retention(now=now)
    kept = [row for row in rows if row[1] >= now - timedelta(days=2)]
    async with db.session_scope() as session:
        assert await readings.count(session, device, None, None) == len(kept)
        page = await readings.aggregate_page(session, device, None, None, 3600, 1000, 0)
    assert_same(as_dict(page.items), expected_buckets(kept, device, 3600))
