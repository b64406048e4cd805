"""History fixtures: devices and bulk readings written as the collector would, and the reference math.

The reference (``expected_buckets``) is the straightforward computation every aggregate, rollup and
series answer is compared with: group the raw rows by epoch-aligned UTC bucket, then avg/min/max/count.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import pytest
from sqlalchemy import insert

from ddms import db
from ddms.models import Device, Reading

Row = tuple[uuid.UUID, datetime, float]


async def add_device(name: str, *, retention_days: int = 90, unit: str = "°C") -> uuid.UUID:
    async with db.session_scope() as session:
        device = Device(name=name, modbus_ip="127.0.0.1", modbus_slave_id=1, modbus_register=0,
                        unit=unit, retention_days=retention_days)
        session.add(device)
        await session.commit()
        return device.id


async def add_rows(rows: Iterable[Row], chunk: int = 5000) -> None:
    """Bulk insert (executemany), the way the collector's writer stores readings."""
    batch: list[dict[str, object]] = []
    async with db.current().engine.begin() as conn:
        for device_id, moment, value in rows:
            batch.append({"device_id": device_id, "timestamp": moment, "value": value})
            if len(batch) >= chunk:
                await conn.execute(insert(Reading), batch)
                batch = []
        if batch:
            await conn.execute(insert(Reading), batch)


def bucket_start(moment: datetime, width: int) -> int:
    return int(moment.timestamp() // width) * width


def expected_buckets(rows: Iterable[Row], device_id: uuid.UUID, width: int,
                     lo: datetime | None = None, hi: datetime | None = None) -> dict[int, tuple[float, float, float, int]]:
    """{bucket epoch: (avg, min, max, count)} over raw rows of one device whose bucket is in [lo, hi)."""
    groups: dict[int, list[float]] = defaultdict(list)
    for device, moment, value in rows:
        if device != device_id:
            continue
        start = bucket_start(moment, width)
        if lo is not None and start < lo.timestamp():
            continue
        if hi is not None and start >= hi.timestamp():
            continue
        groups[start].append(value)
    return {start: (sum(values) / len(values), min(values), max(values), len(values))
            for start, values in groups.items()}


def as_dict(points: Iterable[object]) -> dict[int, tuple[float, float, float, int]]:
    return {int(p.timestamp.timestamp()): (p.avg, p.min, p.max, p.count) for p in points}  # type: ignore[attr-defined]


def assert_same(actual: dict[int, tuple[float, float, float, int]],
                expected: dict[int, tuple[float, float, float, int]]) -> None:
    assert sorted(actual) == sorted(expected)
    for key, (avg, low, high, number) in expected.items():
        got = actual[key]
        assert got[0] == pytest.approx(avg, rel=1e-9, abs=1e-9), key
        assert (got[1], got[2], got[3]) == (low, high, number), key
