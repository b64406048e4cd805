"""The series planner (rollup where clean, raw rows where stale) gives the buckets of a direct aggregate.

Random data, random stale stretches (late readings into rolled-up hours, a partly finished refresh,
marks left by deletions and by whole hours) and random chart ranges, on every backend: each answer
must equal the raw rows grouped directly, whatever mix of rollup and raw rows the planner chose.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Uuid, bindparam, text

from ddms import db
from ddms.models import UTCDateTime
from ddms.services import readings, rollups
from tests.history.helpers import Row, add_device, add_rows, as_dict, assert_same, expected_buckets

pytestmark = pytest.mark.usefixtures("database")

START = datetime(2026, 5, 3, 21, 0, tzinfo=UTC)
SPAN = timedelta(days=3)


def random_rows(rng: random.Random, devices: list[uuid.UUID], count: int) -> list[Row]:
    """Readings at random instants (microseconds included, bucket edges hit on purpose)."""
    rows: dict[tuple[uuid.UUID, datetime], Row] = {}
    for _ in range(count):
        device = rng.choice(devices)
        if rng.random() < 0.1:  # exactly on, or just before, a minute / hour / day edge
            width = rng.choice((60, 3600, 86400))
            edge = rollups.floor_time(START + SPAN * rng.random(), width) + timedelta(seconds=width)
            moment = edge - timedelta(microseconds=rng.choice((0, 1)))
        else:
            moment = START + timedelta(microseconds=rng.randrange(int(SPAN.total_seconds() * 1e6)))
        rows.setdefault((device, moment), (device, moment, round(rng.uniform(-100, 100), 3)))
    return list(rows.values())


async def direct_aggregate(
    device: uuid.UUID, width: int, lo: datetime, hi: datetime
) -> dict[int, tuple[float, float, float, int]]:
    """The same buckets grouped by the database straight from ``readings`` (no rollup, no planner)."""
    async with db.session_scope() as session:
        bucket = db.time_bucket_sql(db.dialect_of(session), '"timestamp"', width)
        statement = (
            text(
                f"SELECT {bucket} AS tb, avg(value), min(value), max(value), count(*) FROM readings "
                'WHERE device_id = :d AND "timestamp" >= :lo AND "timestamp" < :hi GROUP BY 1'
            )
            .bindparams(
                bindparam("d", type_=Uuid()),
                bindparam("lo", type_=UTCDateTime()),
                bindparam("hi", type_=UTCDateTime()),
            )
            .columns(tb=UTCDateTime())
        )
        rows = (await session.exec(statement, params={"d": device, "lo": lo, "hi": hi})).all()  # type: ignore[call-overload]
    return {int(row[0].timestamp()): (row[1], row[2], row[3], int(row[4])) for row in rows}


async def make_stale(rng: random.Random, devices: list[uuid.UUID], rows: list[Row]) -> None:
    """Late readings, an unfinished refresh and bare marks: the states a reader meets."""
    late = random_rows(rng, devices, rng.randrange(5, 40))
    taken = {(row[0], row[1]) for row in rows}
    late = [row for row in late if (row[0], row[1]) not in taken]
    await add_rows(late)
    rows += late
    async with db.session_scope() as session:
        for _ in range(rng.randrange(0, 3)):  # marks a deletion leaves (some at minute 00)
            moment = START + SPAN * rng.random()
            whole = rollups.floor_time(moment, 3600) if rng.random() < 0.5 else moment
            await rollups.mark_dirty(session, rng.choice(devices), whole)
        await session.commit()
        if rng.random() < 0.7:  # a refresh that did only some chunks of one device
            await rollups.refresh_device(session, rng.choice(devices), budget=rng.choice((1, 5, 30)))


async def test_series_equals_a_direct_aggregate_with_random_stale_stretches(database: db.Database) -> None:
    rng = random.Random(12)
    devices = [await add_device("planner a"), await add_device("planner b")]
    rows = random_rows(rng, devices, 800)
    await add_rows(rows)
    sources: set[str] = set()
    for round_no in range(4):
        if round_no == 1:
            async with db.session_scope() as session:
                await rollups.refresh(session)
        if round_no >= 1:
            await make_stale(rng, devices, rows)
        for _ in range(6):
            span = timedelta(seconds=rng.choice((600, 7200, 86400, 3 * 86400, 20 * 86400)) * rng.random())
            start = START - timedelta(hours=2) + (SPAN + timedelta(hours=4)) * rng.random()
            end = start + span
            max_points = rng.choice((5, 30, 200, 1000))
            async with db.session_scope() as session:
                result = await readings.series_many(session, devices, start, end, max_points)
            for device in devices:
                series = result[device]
                sources.add(series.source)
                lo, hi = readings.aligned(start, end, series.bucket_seconds)
                assert lo is not None
                assert hi is not None
                got = as_dict(series.points)
                assert_same(got, expected_buckets(rows, device, series.bucket_seconds, lo, hi))
                assert_same(got, await direct_aggregate(device, series.bucket_seconds, lo, hi))
    # the planner did use rollups, so the comparison covered its merging
    assert sources & set(rollups.ROLLUP_SECONDS), sources


async def test_stale_stretches_found_by_skip_scan_equal_every_mark_widened_and_merged(
    database: db.Database,
) -> None:
    rng = random.Random(7)
    devices = [await add_device("marks a"), await add_device("marks b"), await add_device("no marks")]
    marks: set[tuple[uuid.UUID, datetime]] = set()
    for _ in range(400):
        moment = rollups.floor_time(START + SPAN * rng.random(), rng.choice((60, 60, 60, 3600)))
        marks.add((rng.choice(devices[:2]), moment))
    async with db.session_scope() as session:
        for device, moment in marks:
            await rollups.mark_dirty(session, device, moment)
        await session.commit()
        for width in (60, 120, 900, 3600, 7200, 86400, 604800):
            for _ in range(4):
                lo = rollups.floor_time(START - timedelta(hours=3) + SPAN * rng.random(), width)
                hi = lo + timedelta(seconds=width * rng.randrange(1, 200))
                found = await rollups.dirty_ranges(session, devices, width, lo, hi)
                reference = rollups._merge_in_python(sorted(marks), width)
                for device in devices:
                    assert clip(found.get(device, []), lo, hi) == clip(reference.get(device, []), lo, hi), (
                        width,
                        lo,
                        hi,
                    )


def clip(
    ranges: list[tuple[datetime, datetime]], lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    cut = [(max(a, lo), min(b, hi)) for a, b in ranges]
    return [(a, b) for a, b in cut if a < b]
