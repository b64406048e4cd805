"""TimescaleDB: what DDMS does itself there, and the defects a real TimescaleDB showed.

Runs against the TimescaleDB cluster of the tests' ``timescaledb`` backend (127.0.0.1:5433, set up by
``make timescaledb``); the not-preloaded fallback runs against the plain cluster (5432) once the
extension's files are installed on the machine. A missing backend skips locally, fails with CI=true.
Every other service and API test runs on TimescaleDB too (the ``db_url`` fixture's third backend).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from ddms import db, runtime
from ddms.config import Settings, load_settings
from ddms.errors import Unavailable
from ddms.migrate import SchemaError, upgrade
from ddms.scheduler import HistoryScheduler
from ddms.services import backup, readings, retention, rollups, timescale
from tests.conftest import (
    PG_ADMIN_URL,
    TEST_SECRET,
    backend_unavailable,
    create_pg_database,
    drop_pg_database,
)
from tests.history.helpers import Row, add_device, add_rows, as_dict, assert_same, expected_buckets

# The session's TimescaleDB database (the db_url fixture's third backend), emptied after each test.
on_timescale = pytest.mark.parametrize("db_url", ["timescaledb"], indirect=True)


def _now() -> datetime:
    """Real now: chunks are cut by the server's clock-independent ranges, the scheduler's jobs use now."""
    return datetime.now(UTC).replace(microsecond=0)


async def _scalar(sql: str) -> object:
    async with db.current().engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar()


async def _compressed_chunks() -> int:
    return int(
        await _scalar(  # type: ignore[arg-type]
            "SELECT count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'readings' AND is_compressed"
        )
        or 0
    )


async def _assert_every_view_matches(device: uuid.UUID, rows: list[Row], now: datetime) -> None:
    """Every aggregate page and a 19-day series answer what the raw rows say."""
    async with db.session_scope() as session:
        for width in readings.AGGREGATES.values():
            page = await readings.aggregate_page(session, device, None, None, width, 100_000, 0)
            assert_same(as_dict(page.items), expected_buckets(rows, device, width))
        series = await readings.series(session, device, now - timedelta(days=19), now, 1000)
    lo, hi = readings.aligned(now - timedelta(days=19), now, series.bucket_seconds)
    assert_same(as_dict(series.points), expected_buckets(rows, device, series.bucket_seconds, lo, hi))


@on_timescale
async def test_migration_makes_a_compressible_hypertable_with_rollup_tables_and_no_jobs(
    database: db.Database,
) -> None:
    assert await _scalar(
        "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'readings'"
    )
    assert await _scalar(
        "SELECT compression_enabled FROM timescaledb_information.hypertables "
        "WHERE hypertable_name = 'readings'"
    )
    assert await _scalar("SELECT count(*) FROM timescaledb_information.continuous_aggregates") == 0
    # DDMS relies on no TimescaleDB job: the runner fails every one on PostgreSQL 15.19+.
    assert (
        await _scalar("SELECT count(*) FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL")
        == 0
    )
    kinds = await _scalar(
        "SELECT string_agg(relkind::text, '' ORDER BY relname) FROM pg_class "
        "WHERE relname IN ('readings_1min', 'readings_1hour', 'readings_1day') "
        "AND relnamespace = current_schema()::regnamespace"
    )
    assert kinds == "rrr"  # DDMS's own rollup tables, kept current by its dirty marks
    async with db.session_scope() as session:
        assert await db.is_timescale(session)


@on_timescale
async def test_late_reading_into_a_compressed_chunk_shows_after_one_rollup_run(database: db.Database) -> None:
    """The scheduler's own jobs compress (nothing from TimescaleDB's job runner), and a reading 10
    days back, into a compressed chunk, is in every aggregate and series after one rollup run."""
    now = _now()
    device = await add_device("kiln", retention_days=365)
    rows: list[Row] = [
        (device, now - timedelta(minutes=29 * i), float(i % 37)) for i in range(1, 1000)
    ]  # ~20 d
    await add_rows(rows)
    jobs = HistoryScheduler(load_settings(jwt_secret_key=TEST_SECRET))
    await jobs.refresh_rollups()
    await jobs.apply_retention()  # retention (nothing expired here), then compression
    assert await _compressed_chunks() >= 10
    await _assert_every_view_matches(device, rows, now)

    late = (device, now - timedelta(days=10, seconds=17), 1000.0)
    await add_rows([late])
    await jobs.refresh_rollups()  # what one ROLLUP_INTERVAL runs
    await _assert_every_view_matches(device, [*rows, late], now)
    assert await timescale.compress_chunks(now) == 1  # the late row's chunk is recompressed
    assert await timescale.compress_chunks(now) == 0
    await _assert_every_view_matches(device, [*rows, late], now)


@on_timescale
async def test_retention_reports_the_rows_of_dropped_chunks(database: db.Database) -> None:
    now = _now()
    short = await add_device("short", retention_days=2)
    long = await add_device("long", retention_days=4)
    rows: list[Row] = [
        (device, now - timedelta(minutes=13 * i), float(i)) for device in (short, long) for i in range(1, 600)
    ]  # ~5.4 days each
    await add_rows(rows)
    async with db.session_scope() as session:
        await rollups.refresh(session)

    report = await retention.apply_retention(now=now)

    expired = [row for row in rows if row[1] < now - timedelta(days=2 if row[0] == short else 4)]
    kept = [row for row in rows if row not in expired]
    assert report.chunks_dropped >= 1  # the days before the longest retention went as whole chunks
    assert report.rows_deleted == len(expired)
    async with db.session_scope() as session:
        await rollups.refresh(session)
        for device in (short, long):
            assert await readings.count(session, device, None, None) == len(
                [r for r in kept if r[0] == device]
            )
            page = await readings.aggregate_page(session, device, None, None, 3600, 1000, 0)
            assert_same(as_dict(page.items), expected_buckets(kept, device, 3600))


async def _plain_server_with_timescale_files() -> str:
    """A fresh database on the plain cluster, which lists timescaledb as available but cannot create it."""
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        offered = await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        preload = str(await conn.fetchval("SHOW shared_preload_libraries"))
    finally:
        await conn.close()
    if offered is None:
        backend_unavailable(f"the timescaledb files are not installed where {PG_ADMIN_URL} runs")
    if "timescaledb" in preload:
        pytest.skip(f"{PG_ADMIN_URL} preloads timescaledb: it is not the not-preloaded case")
    return await create_pg_database()


async def test_installed_but_not_preloaded_falls_back_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = await _plain_server_with_timescale_files()
    try:
        with pytest.raises(SchemaError) as refused:
            await upgrade(url, timescaledb="on")
        assert "\n" not in str(refused.value)
        assert "TIMESCALEDB=on" in str(refused.value)
        assert "shared_preload_libraries" in str(refused.value)

        with caplog.at_level(logging.WARNING, logger="ddms.db"):
            await upgrade(url, timescaledb="auto")  # used to die with PendingRollbackError
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1
        assert "TIMESCALEDB" in warnings[0]
        assert "shared_preload_libraries" in warnings[0]
        database = db.Database(url)
        try:
            with runtime.installed(runtime.Runtime(database=database)):
                async with db.session_scope() as session:
                    assert not await db.is_timescale(session)
                device = await add_device("plain")
                await add_rows([(device, datetime(2026, 1, 1, tzinfo=UTC), 1.0)])
                async with db.session_scope() as session:
                    assert (await rollups.refresh(session)).devices == 1
        finally:
            await database.dispose()
    finally:
        await drop_pg_database(url)


async def test_timescaledb_on_refuses_a_database_migrated_without_it() -> None:
    url = await create_pg_database("timescaledb")
    try:
        await upgrade(url, timescaledb="off")
        with pytest.raises(
            SchemaError, match=r"^TIMESCALEDB=on but readings is not a TimescaleDB hypertable"
        ):
            await upgrade(url, timescaledb="on")
    finally:
        await drop_pg_database(url)


OLD_AGGREGATE = (
    "CREATE MATERIALIZED VIEW {name} WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS "
    "SELECT time_bucket(INTERVAL '{width}', \"timestamp\") AS time_bucket, device_id, avg(value) AS avg, "
    "min(value) AS min, max(value) AS max, count(*) AS count FROM readings GROUP BY 1, 2 WITH NO DATA"
)


async def test_migration_009_replaces_the_continuous_aggregates_of_older_databases() -> None:
    """A database from before 009 (aggregates and policies, as 002 used to make) gets the tables."""
    url = await create_pg_database("timescaledb")
    database = db.Database(url)
    try:
        await upgrade(url, "007_minute_marks", timescaledb="on")
        async with database.engine.begin() as conn:  # what the old 002 left instead of the tables
            await conn.execute(text("DROP TRIGGER readings_rollup_dirty_trg ON readings"))
            for name, width in (
                ("readings_1min", "1 minute"),
                ("readings_1hour", "1 hour"),
                ("readings_1day", "1 day"),
            ):
                await conn.execute(text(f"DROP TABLE {name}"))
                await conn.execute(text(OLD_AGGREGATE.format(name=name, width=width)))
                await conn.execute(
                    text(
                        f"SELECT add_continuous_aggregate_policy('{name}', INTERVAL '2 days', NULL, "
                        "INTERVAL '1 hour', initial_start => now() + INTERVAL '1 day')"
                    )
                )
            # Their jobs start in a day: TimescaleDB's own runner must not run one while 009 drops it.
            await conn.execute(
                text(
                    "SELECT add_compression_policy('readings', INTERVAL '7 days', "
                    "initial_start => now() + INTERVAL '1 day')"
                )
            )
        with runtime.installed(runtime.Runtime(database=database)):
            device = await add_device("old")
            rows: list[Row] = [
                (device, datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=7 * i), 1.0 * i)
                for i in range(500)
            ]
            await add_rows(rows)
            await database.engine.dispose()
            await upgrade(url, timescaledb="on")
            assert (
                await _scalar(
                    "SELECT count(*) FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL"
                )
                == 0
            )
            async with db.session_scope() as session:
                await rollups.refresh(session)
                for width in readings.AGGREGATES.values():
                    page = await readings.aggregate_page(session, device, None, None, width, 1000, 0)
                    assert_same(as_dict(page.items), expected_buckets(rows, device, width))
    finally:
        await database.dispose()
        await drop_pg_database(url)


@on_timescale
@pytest.mark.usefixtures("database")
async def test_restore_into_a_new_timescaledb_database(settings: Settings, tmp_path: Path) -> None:
    """pg_restore alone fails on hypertables; DDMS runs TimescaleDB's pre/post-restore procedure."""
    now = _now()
    device = await add_device("compressed")
    rows: list[Row] = [(device, now - timedelta(minutes=31 * i), float(i)) for i in range(1, 700)]
    await add_rows(rows)
    assert await timescale.compress_chunks(now) >= 5
    source = load_settings(**(settings.model_dump(exclude_unset=True) | {"backup_dir": tmp_path}))
    path = await backup.create_backup(source)

    target_url = await create_pg_database("timescaledb")
    try:
        await upgrade(target_url, timescaledb="on")  # restore over a current, non-empty schema
        target = load_settings(**(source.model_dump(exclude_unset=True) | {"database_url": target_url}))
        await backup.restore_backup(target, path)
        await backup.restore_backup(target, path)  # again, over the restored hypertable
        restored = db.Database(target_url)
        try:
            with runtime.installed(runtime.Runtime(database=restored)):
                assert await _compressed_chunks() >= 5
                assert await _scalar("SELECT current_setting('timescaledb.restoring', true)") in (
                    None,
                    "",
                    "off",
                )
                async with db.session_scope() as session:
                    assert await readings.count(session, device, None, None) == len(rows)
                    assert await db.is_timescale(session)
        finally:
            await restored.dispose()
    finally:
        await drop_pg_database(target_url)


@on_timescale
@pytest.mark.usefixtures("database")
async def test_restoring_a_timescaledb_backup_where_it_cannot_be_created_says_why(
    settings: Settings, tmp_path: Path
) -> None:
    await add_device("x")
    source = load_settings(**(settings.model_dump(exclude_unset=True) | {"backup_dir": tmp_path}))
    path = await backup.create_backup(source)
    target_url = await _plain_server_with_timescale_files()
    try:
        target = load_settings(**(source.model_dump(exclude_unset=True) | {"database_url": target_url}))
        with pytest.raises(Unavailable, match=r"TimescaleDB database, but .*shared_preload_libraries"):
            await backup.restore_backup(target, path)
    finally:
        await drop_pg_database(target_url)


def test_a_tool_failure_shows_its_first_error_not_only_the_last_line() -> None:
    stderr = (
        "pg_restore: while PROCESSING TOC:\n"
        "pg_restore: from TOC entry 4242; 2606 1 CONSTRAINT readings pk_readings\n"
        "pg_restore: error: could not execute query: "
        "ERROR:  ONLY option not supported on hypertable operations\n"
        "Command was: ALTER TABLE ONLY public.readings DROP CONSTRAINT IF EXISTS pk_readings;\n"
        "pg_restore: warning: errors ignored on restore: 1\n"
    )
    reason = backup.failure_reason(stderr, 1)
    assert reason.startswith("pg_restore: error: could not execute query: ERROR:  ONLY option not supported")
    assert reason.endswith("(then: pg_restore: warning: errors ignored on restore: 1)")
    assert backup.failure_reason("", 3) == "exit code 3"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.usefixtures("database")
async def test_a_plain_postgresql_backup_is_refused_by_a_timescaledb_database(
    settings: Settings, tmp_path: Path
) -> None:
    """Restoring mode would register the restored plain table as an empty hypertable (rows lost to
    every query), and without it pg_restore --clean fails half-way: refused before anything changes."""
    await add_device("plain source")
    source = load_settings(**(settings.model_dump(exclude_unset=True) | {"backup_dir": tmp_path}))
    path = await backup.create_backup(source)
    target_url = await create_pg_database("timescaledb")
    try:
        await upgrade(target_url, timescaledb="on")
        target = load_settings(**(source.model_dump(exclude_unset=True) | {"database_url": target_url}))
        with pytest.raises(Unavailable, match="plain PostgreSQL database and this database uses TimescaleDB"):
            await backup.restore_backup(target, path)
        kept = db.Database(target_url)
        try:
            with runtime.installed(runtime.Runtime(database=kept)):
                async with db.session_scope() as session:
                    assert await db.is_timescale(session)
        finally:
            await kept.dispose()
    finally:
        await drop_pg_database(target_url)
