"""Retention removes exactly the readings older than each device's retention_days, in batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Float, Uuid, bindparam, text

from ddms import db
from ddms.models import UTCDateTime
from ddms.services import devices, retention, rollups
from tests.history.helpers import Row, add_device, add_rows, assert_same, expected_buckets

pytestmark = pytest.mark.usefixtures("database")

NOW = datetime(2026, 7, 10, 12, 34, 56, tzinfo=UTC)


async def stored_rows() -> list[Row]:
    statement = text('SELECT device_id, "timestamp", value FROM readings').columns(
        device_id=Uuid(), timestamp=UTCDateTime(), value=Float()
    )
    async with db.current().engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(statement)).all()]  # type: ignore[misc]


async def rollup_of(table: str, device: object) -> dict[int, tuple[float, float, float, int]]:
    statement = text(f'SELECT time_bucket, "avg", "min", "max", "count" FROM {table} WHERE device_id = :d')
    statement = statement.bindparams(bindparam("d", type_=Uuid())).columns(time_bucket=UTCDateTime())
    async with db.current().engine.connect() as conn:
        rows = (await conn.execute(statement, {"d": device})).all()
    return {int(r[0].timestamp()): (float(r[1]), float(r[2]), float(r[3]), int(r[4])) for r in rows}


async def test_retention_removes_exactly_the_expired_rows_and_fixes_rollups() -> None:
    short = await add_device("short", retention_days=1)
    long = await add_device("long", retention_days=3)
    archived = await add_device("archived", retention_days=2)
    rows: list[Row] = []
    for device in (short, long, archived):
        # Five days every 7 minutes, ending now; the cutoffs fall inside hours and days.
        rows += [
            (device, NOW - timedelta(minutes=7 * i, seconds=i % 60), float(i % 97))
            for i in range(5 * 24 * 60 // 7)
        ]
    # Readings exactly at a cutoff are kept; one microsecond older are removed.
    rows.append((short, NOW - timedelta(days=1), 500.0))
    rows.append((short, NOW - timedelta(days=1, microseconds=1), 600.0))
    await add_rows(rows)
    async with db.session_scope() as session:
        await devices.delete_device(session=session, device_id=archived, keep_data=True)
        await rollups.refresh(session)

    report = await retention.apply_retention(now=NOW, batch_rows=97)  # many small batches

    days = {short: 1, long: 3, archived: 2}
    kept = [row for row in rows if row[1] >= NOW - timedelta(days=days[row[0]])]
    assert report.rows_deleted == len(rows) - len(kept)
    assert sorted(await stored_rows()) == sorted(kept)
    assert (await retention.apply_retention(now=NOW, batch_rows=97)).rows_deleted == 0

    async with db.session_scope() as session:
        await rollups.refresh(session)
    for device in (short, long, archived):
        for table, width in rollups.ROLLUP_SECONDS.items():
            assert_same(await rollup_of(table, device), expected_buckets(kept, device, width))
