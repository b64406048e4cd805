"""Series over (nearly) all-stale and partly stale ranges: which path the planner takes, and exactness.

Right after a bulk load every minute is marked dirty; a count of the marks tells the planner to read
the raw rows at once instead of probing each stale bucket (``dirty_ranges_unless_many``). On
PostgreSQL dense raw stretches are read bucket by bucket. Whatever the path, the answer must equal
the raw rows grouped directly, late readings included.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ddms import db
from ddms.services import readings, rollups
from tests.history.helpers import (
    Row,
    add_device,
    add_rows,
    as_dict,
    assert_same,
    expected_buckets,
    fill_series,
)

pytestmark = pytest.mark.usefixtures("database")

DATA_START = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
STEP = 2  # seconds between readings: 60 in a 2-minute bucket, dense enough to read bucket by bucket
COUNT = 3 * 3600 // STEP  # three hours
CHART_START = DATA_START - timedelta(minutes=30)  # the chart shows four hours, three with data
CHART_END = DATA_START + timedelta(hours=3, minutes=30)
POINTS = 200  # 4 h in at most 200 points: 2-minute buckets from the 1-minute rollup


async def dense_device(name: str) -> tuple[uuid.UUID, list[Row]]:
    """A device configured at STEP seconds with three hours of readings, as a bulk load leaves them."""
    device = await add_device(name, sampling_interval=STEP)
    await fill_series(device, DATA_START, COUNT, STEP)
    rows = [(device, DATA_START + timedelta(seconds=i * STEP), float(i % 1000)) for i in range(COUNT)]
    return device, rows


async def chart(device: uuid.UUID, sampling_interval: int | None = None) -> readings.Series:
    """The series as the API asks for it (interval unknown) or as the chart page does (given)."""
    async with db.session_scope() as session:
        found = await readings.series_many(
            session, [device], CHART_START, CHART_END, POINTS, sampling_interval
        )
    return found[device]


def expected(
    rows: list[Row], device: uuid.UUID, series: readings.Series
) -> dict[int, tuple[float, float, float, int]]:
    lo, hi = readings.aligned(CHART_START, CHART_END, series.bucket_seconds)
    return expected_buckets(rows, device, series.bucket_seconds, lo, hi)


async def test_marks_past_the_cap_give_up_and_below_it_equal_dirty_ranges(database: db.Database) -> None:
    device, other = await add_device("capped"), await add_device("other")
    lo = datetime(2026, 6, 2, tzinfo=UTC)
    hi = lo + timedelta(hours=2)
    inside = [lo + timedelta(minutes=m) for m in (0, 1, 2, 10, 11, 59, 119)]
    async with db.session_scope() as session:
        for moment in inside:
            await rollups.mark_dirty(session, device, moment)
        await rollups.mark_dirty(session, device, hi)  # outside: not counted
        await rollups.mark_dirty(session, other, lo)  # another device: not counted
        await session.commit()
        for width in (60, 120, 3600):
            plain = await rollups.dirty_ranges(session, [device], width, lo, hi)
            assert plain
            at_cap = await rollups.dirty_ranges_unless_many(session, [device], width, lo, hi, len(inside))
            assert at_cap is None
            below = await rollups.dirty_ranges_unless_many(session, [device], width, lo, hi, len(inside) + 1)
            assert below == plain


@pytest.mark.parametrize("known", [None, STEP])
async def test_a_mostly_stale_range_is_read_from_raw_rows_and_equals_them(
    database: db.Database, known: int | None
) -> None:
    """Three of the chart's four hours hold data, all of it stale: the stale stretch does not cover
    the range (the old planner then made a union with the empty rollup), but the marks do pass half
    its minutes, so the raw rows are read alone."""
    device, rows = await dense_device("bulk loaded")
    series = await chart(device, known)
    assert (series.source, series.bucket_seconds) == ("readings", 120)
    assert_same(as_dict(series.points), expected(rows, device, series))


@pytest.mark.parametrize("known", [None, STEP])
async def test_a_partly_stale_range_stays_exact_with_late_readings(
    database: db.Database, known: int | None
) -> None:
    """Known interval: the stale buckets are read bucket by bucket on PostgreSQL; unknown, grouped."""
    device, rows = await dense_device("late readings")
    async with db.session_scope() as session:
        await rollups.refresh(session)
    late = [(device, DATA_START + timedelta(minutes=m, seconds=1.5), -5.0 * m) for m in (20, 21, 22, 95)]
    await add_rows(late)  # three minutes stale, in the middle of rolled-up hours, and one more apart
    rows += late
    series = await chart(device, known)
    assert series.source == "readings_1min"  # the clean buckets from the rollup
    assert_same(as_dict(series.points), expected(rows, device, series))


async def test_dense_stale_stretches_are_read_bucket_by_bucket_on_postgresql(database: db.Database) -> None:
    """The path the two tests above check for exactness is the per-bucket one on PostgreSQL (and the
    plain grouped one on SQLite, which has no LATERAL)."""
    device, _ = await dense_device("bucketwise")
    lo, hi = readings.aligned(CHART_START, CHART_END, 120)
    async with db.session_scope() as session:
        whole = await readings.build_bucket_query(session, [device], 120, lo, hi, STEP, bucketwise=True)
        unsure = await readings.build_bucket_query(session, [device], 120, lo, hi, bucketwise=True)
        other_session = await readings.build_bucket_query(session, [device], 120, lo, hi, STEP)
    assert ("generate_series" in whole.sql) == database.is_postgres
    assert ("generate_series" in unsure.sql) == database.is_postgres  # the interval was read
    assert "generate_series" not in other_session.sql
    assert whole.source == unsure.source == other_session.source == "readings"


async def test_a_group_of_a_current_and_a_just_loaded_device_is_exact_for_both(database: db.Database) -> None:
    """The marks are counted over the group: half of them stale sends both devices to raw rows."""
    current, current_rows = await dense_device("rolled up")
    async with db.session_scope() as session:
        await rollups.refresh(session)
    loaded, loaded_rows = await dense_device("just loaded")
    async with db.session_scope() as session:
        found = await readings.series_many(session, [current, loaded], CHART_START, CHART_END, POINTS)
    for device, rows in ((current, current_rows), (loaded, loaded_rows)):
        assert_same(as_dict(found[device].points), expected(rows, device, found[device]))
    # three hours of marks of one device against four hours of two: under half, the rollup stays
    assert found[current].source == "readings_1min"
