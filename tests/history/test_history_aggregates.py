"""Aggregates, rollups and chart series equal a direct computation from raw rows, on every backend.

The data has gaps, readings exactly on and just before bucket edges (minute, hour and day), a day
boundary, and late arrivals written after their hours were already rolled up.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Float, Integer, Uuid, bindparam, text

from ddms import db
from ddms.models import Device, UTCDateTime
from ddms.services import readings, rollups
from tests.history.helpers import Row, add_device, add_rows, as_dict, assert_same, expected_buckets

pytestmark = pytest.mark.usefixtures("database")

BASE = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)


def first_batch(device: uuid.UUID, other: uuid.UUID) -> list[Row]:
    """Three hours across midnight every 7 s, with a 40-minute gap, plus edge cases and a sparse device."""
    rng = random.Random(5)
    rows: list[Row] = []
    for step in range(0, 3 * 3600, 7):
        moment = BASE + timedelta(seconds=step, microseconds=rng.randrange(0, 999_999))
        if BASE + timedelta(minutes=70) <= moment < BASE + timedelta(minutes=110):
            continue  # the gap
        rows.append((device, moment, round(rng.uniform(-50, 150), 3)))
    midnight = datetime(2026, 3, 2, tzinfo=UTC)
    for edge in (
        midnight,
        midnight - timedelta(microseconds=1),
        midnight + timedelta(hours=1),
        midnight + timedelta(hours=1) - timedelta(microseconds=1),
        midnight + timedelta(minutes=5) - timedelta(microseconds=1),
    ):
        rows.append((device, edge + timedelta(microseconds=0), rng.uniform(-1, 1)))
    # Sparse readings over two months, so day buckets and the 1day rollup are exercised.
    for day in range(60):
        rows.append((device, BASE - timedelta(days=day + 1, hours=day % 5), rng.uniform(0, 10)))
        rows.append((other, BASE - timedelta(days=day, minutes=day), rng.uniform(100, 200)))
    return unique(rows)


def unique(rows: list[Row]) -> list[Row]:
    seen: dict[tuple[uuid.UUID, datetime], Row] = {}
    for row in rows:
        seen.setdefault((row[0], row[1]), row)
    return list(seen.values())


def late_batch(device: uuid.UUID, existing: list[Row]) -> list[Row]:
    """Readings for hours already rolled up (inside the gap and a month back) and one new hour."""
    taken = {(row[0], row[1]) for row in existing}
    rows = [
        (device, BASE + timedelta(minutes=80, seconds=3), 999.0),
        (device, BASE + timedelta(minutes=80, seconds=4), -999.0),
        (device, BASE - timedelta(days=30, minutes=1), 42.0),
        (device, BASE + timedelta(hours=4, minutes=1), 7.5),
    ]
    return [row for row in rows if (row[0], row[1]) not in taken]


async def rollup_rows(table: str, device: uuid.UUID) -> dict[int, tuple[float, float, float, int]]:
    statement = text(f'SELECT time_bucket, "avg", "min", "max", "count" FROM {table} WHERE device_id = :d')
    statement = statement.bindparams(bindparam("d", type_=Uuid())).columns(
        time_bucket=UTCDateTime(), avg=Float(), min=Float(), max=Float(), count=Integer()
    )
    async with db.current().engine.connect() as conn:
        rows = (await conn.execute(statement, {"d": device})).all()
    return {int(row[0].timestamp()): (row[1], row[2], row[3], int(row[4])) for row in rows}


async def check_all_aggregates(device: uuid.UUID, rows: list[Row]) -> None:
    async with db.session_scope() as session:
        for name, width in readings.AGGREGATES.items():
            page = await readings.aggregate_page(session, device, None, None, width, limit=1000, offset=0)
            expected = expected_buckets(rows, device, width)
            assert page.total == len(expected), name
            assert_same(as_dict(page.items), expected)
            assert [p.timestamp for p in page.items] == sorted(
                (p.timestamp for p in page.items), reverse=True
            )


async def test_rollups_and_aggregates_match_raw_rows_including_late_arrivals() -> None:
    device, other = await add_device("boiler"), await add_device("chiller")
    rows = first_batch(device, other)
    await add_rows(rows)
    # Before any refresh every bucket is stale: the answers come from raw rows.
    await check_all_aggregates(device, rows)
    async with db.session_scope() as session:
        report = await rollups.refresh(session)
    assert report.devices == 2
    await check_all_aggregates(device, rows)
    for table, width in rollups.ROLLUP_SECONDS.items():
        assert_same(await rollup_rows(table, device), expected_buckets(rows, device, width))
        assert_same(await rollup_rows(table, other), expected_buckets(rows, other, width))

    late = late_batch(device, rows)
    await add_rows(late)
    rows += late
    await check_all_aggregates(device, rows)  # stale hours merged from raw rows
    async with db.session_scope() as session:
        report = await rollups.refresh(session)
        assert (report.devices, report.stretches) == (1, 3)  # exactly the touched minutes, nothing else
        assert (await rollups.refresh(session)).devices == 0
    await check_all_aggregates(device, rows)
    for table, width in rollups.ROLLUP_SECONDS.items():
        assert_same(await rollup_rows(table, device), expected_buckets(rows, device, width))


@pytest.mark.parametrize(
    ("span", "max_points", "source"),
    [
        (timedelta(minutes=30), 1000, "readings"),
        (timedelta(hours=3), 100, "readings_1min"),
        (timedelta(days=3), 50, "readings_1hour"),
        (timedelta(days=61), 40, "readings_1day"),
        (timedelta(days=61), 7, "readings_1day"),
    ],
)
async def test_series_equals_raw_computation_and_respects_max_points(
    span: timedelta, max_points: int, source: str
) -> None:
    device, other = await add_device("boiler"), await add_device("chiller")
    rows = first_batch(device, other)
    await add_rows(rows)
    async with db.session_scope() as session:
        await rollups.refresh(session)
    late = late_batch(device, rows)
    await add_rows(late)  # not yet rolled up: the tail is merged from raw rows
    rows += late
    end = datetime(2026, 3, 2, 1, 12, 13, tzinfo=UTC)
    start = end - span
    async with db.session_scope() as session:
        series = await readings.series(session, device, start, end, max_points)
    assert series.source == source
    width = series.bucket_seconds
    lo, hi = readings.aligned(start, end, width)
    buckets_in_range = (int(hi.timestamp()) - int(lo.timestamp())) // width  # type: ignore[union-attr]
    assert buckets_in_range <= max_points
    assert len(series.points) <= max_points
    assert_same(as_dict(series.points), expected_buckets(rows, device, width, lo, hi))
    assert [p.timestamp for p in series.points] == sorted(p.timestamp for p in series.points)


async def test_group_series_gives_each_device_its_own_points() -> None:
    device, other = await add_device("boiler"), await add_device("chiller")
    rows = first_batch(device, other)
    await add_rows(rows)
    start, end = BASE - timedelta(days=20), BASE + timedelta(hours=3)
    async with db.session_scope() as session:
        result = await readings.series_many(session, [device, other], start, end, 200)
    for device_id in (device, other):
        width = result[device_id].bucket_seconds
        lo, hi = readings.aligned(start, end, width)
        assert_same(as_dict(result[device_id].points), expected_buckets(rows, device_id, width, lo, hi))


async def test_raw_pages_counts_and_latest() -> None:
    device, other = await add_device("boiler"), await add_device("chiller")
    rows = first_batch(device, other)
    await add_rows(rows)
    mine = sorted((row for row in rows if row[0] == device), key=lambda row: row[1], reverse=True)
    start, end = mine[-200][1], mine[100][1]
    expected = [row for row in mine if start <= row[1] <= end]
    async with db.session_scope() as session:
        page = await readings.raw_page(session, device, start, end, limit=50, offset=10)
        assert page.total == len(expected) == await readings.count(session, device, start, end)
        assert [(r.timestamp, r.value) for r in page.items] == [(row[1], row[2]) for row in expected[10:60]]
        newest = await readings.latest(session, device)
        assert (newest.timestamp, newest.value) == (mine[0][1], mine[0][2])


def test_bucket_choice_never_exceeds_max_points() -> None:
    rng = random.Random(3)
    for _ in range(500):
        start = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 10**8))
        end = start + timedelta(seconds=rng.randrange(0, 10**9 // rng.choice((1, 10, 1000))))
        max_points = rng.choice((1, 2, 7, 100, 1000, 5000))
        width = readings.choose_bucket(start, end, max_points, rng.choice((1, 20, 500)))
        lo, hi = readings.aligned(start, end, width)
        assert (hi - lo).total_seconds() / width <= max_points  # type: ignore[operator]


def test_bucket_choice_keeps_group_charts_within_the_row_budget() -> None:
    end = datetime(2026, 6, 1, tzinfo=UTC)
    week = end - timedelta(days=7)
    assert readings.choose_bucket(week, end, 1000, devices=1) == 900  # 10 080 one-minute rows
    assert readings.choose_bucket(week, end, 1000, devices=20) == 3600  # 201 600 would be too many
    assert readings.choose_bucket(end - timedelta(hours=1), end, 1000, devices=20) == 5  # raw stays raw


def test_a_zoom_into_one_second_data_reads_a_bounded_number_of_rows() -> None:
    """At 1 s sampling the raw rows of a window are ten times the default estimate: up to
    RAW_ROW_BUDGET of them stay raw, beyond it the 1-minute rollup's width is taken."""
    end = datetime(2026, 6, 1, tzinfo=UTC)
    assert readings.choose_bucket(end - timedelta(hours=1), end, 1000, raw_seconds=1) == 5  # 3 600 rows
    assert readings.choose_bucket(end - timedelta(hours=6), end, 1000, raw_seconds=1) == 60  # not 21 600
    assert readings.choose_bucket(end - timedelta(hours=6), end, 1000, raw_seconds=10) == 30  # 2 160 rows


async def test_a_six_hour_zoom_of_a_one_second_device_comes_from_the_rollup_and_keeps_its_spike() -> None:
    device = await add_device("fast")
    async with db.session_scope() as session:
        fast = await session.get(Device, device)
        assert fast is not None
        fast.sampling_interval = 1
        session.add(fast)
        await session.commit()
    end = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    rows: list[Row] = [(device, end - timedelta(seconds=s), 20.0) for s in range(6 * 3600, 0, -1)]
    rows[9000] = (device, rows[9000][1], 99.0)  # one sample
    await add_rows(rows)
    async with db.session_scope() as session:
        await rollups.refresh(session)
        series = await readings.series(session, device, end - timedelta(hours=6), end, 1000)
    assert (series.source, series.bucket_seconds) == ("readings_1min", 60)
    assert max(point.max for point in series.points) == 99.0
    assert sum(point.count for point in series.points) == len(rows)


async def blocked_by(pid: int, task: asyncio.Task[None], within: float = 30.0) -> None:
    """Wait until some session waits for a lock held by backend ``pid`` (PostgreSQL's own account)."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    async with asyncio.timeout(within), db.current().engine.connect() as conn:
        while not (await conn.execute(query, {"pid": pid})).scalar_one():
            assert not task.done(), "the refresh finished without waiting for the writer"
            await asyncio.sleep(0.05)


async def test_refresh_waits_for_an_uncommitted_writer_and_includes_its_rows(database: db.Database) -> None:
    """PostgreSQL: a writer still in its transaction holds the dirty row, so a refresh cannot miss it."""
    if not database.is_postgres:
        pytest.skip("SQLite has a single writer: a refresh cannot overlap an open write transaction")
    device = await add_device("busy")
    hour = datetime(2026, 4, 1, 9, tzinfo=UTC)
    await add_rows([(device, hour + timedelta(minutes=1), 1.0)])  # the minute is dirty and committed
    async with database.engine.connect() as writer:
        await writer.execute(
            text('INSERT INTO readings ("timestamp", device_id, value) VALUES (:t, :d, 3.0)').bindparams(
                bindparam("t", type_=UTCDateTime()), bindparam("d", type_=Uuid())
            ),
            {"t": hour + timedelta(minutes=1, seconds=30), "d": device},  # the same (dirty) minute
        )

        async def refresh() -> None:
            async with db.session_scope() as session:
                await rollups.refresh_device(session, device)

        task = asyncio.create_task(refresh())
        await blocked_by((await writer.execute(text("SELECT pg_backend_pid()"))).scalar_one(), task)
        assert not task.done()  # waiting for the writer's lock on the dirty row
        await writer.commit()
        await asyncio.wait_for(task, 60)  # generous: the refresh only has to finish, not be quick
    assert await rollup_rows("readings_1hour", device) == {int(hour.timestamp()): (2.0, 1.0, 3.0, 2)}


async def test_time_bucket_sql_matches_epoch_floor_for_every_chart_width(database: db.Database) -> None:
    moments = [
        datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
        datetime(2024, 2, 29, 13, 47, 31, 5, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 0, tzinfo=UTC),
    ]
    moments += [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=9_973 * i + 0.5) for i in range(40)]
    dialect = database.engine.dialect.name
    column = "CAST(:m AS TIMESTAMPTZ)" if database.is_postgres else ":m"
    for width in (*readings.NICE_BUCKETS, 7, 45, 86400 * 3):
        sql = f"SELECT {db.time_bucket_sql(dialect, column, width)} AS b"
        async with database.engine.connect() as conn:
            for moment in moments:
                statement = text(sql).bindparams(bindparam("m", type_=UTCDateTime())).columns(b=UTCDateTime())
                got = (await conn.execute(statement, {"m": moment})).scalar()
                assert got is not None
                assert int(got.timestamp()) == int(moment.timestamp() // width) * width, (width, moment)
