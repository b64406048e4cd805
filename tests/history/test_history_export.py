"""A large export streams: memory stays flat however many rows the range holds, and no row is lost."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime

import pytest

from ddms import db
from ddms.services import export
from tests.history.helpers import add_device, fill_series

pytestmark = pytest.mark.usefixtures("database")

START = datetime(2026, 1, 1, tzinfo=UTC)


async def peak_while_exporting(device_id: object) -> tuple[int, int, int]:
    """(peak traced bytes, rows, CSV bytes) while consuming one raw export of the device."""
    async with db.session_scope() as session:
        plan = await export.device_plan(session, device_id, None, None, None)  # type: ignore[arg-type]
    rows = size = 0
    tracemalloc.start()
    try:
        async for chunk in export.stream(plan):
            rows += chunk.count(b"\n")
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, rows - 1, size


async def test_export_memory_does_not_grow_with_rows() -> None:
    small, large = await add_device("small"), await add_device("large")
    await fill_series(small, START, 10_000)
    await fill_series(large, START, 100_000)
    small_peak, small_rows, _ = await peak_while_exporting(small)
    large_peak, large_rows, large_size = await peak_while_exporting(large)
    assert (small_rows, large_rows) == (10_000, 100_000)
    # 10x the rows (and ~5 MB of CSV) must not need more memory than a couple of chunks.
    assert large_size > 3_500_000
    assert large_peak < small_peak * 1.5 + 1_000_000, (small_peak, large_peak)
    assert large_peak < 8_000_000


async def test_abandoned_export_releases_its_connection() -> None:
    """A client that disconnects mid-download must not leave a connection stuck in a cursor or COPY."""
    device = await add_device("big")
    await fill_series(device, START, 60_000)
    for _ in range(3):
        async with db.session_scope() as session:
            plan = await export.device_plan(session, device, None, None, None)
        body = export.stream(plan)
        received = [await anext(body) for _ in range(3)]
        await body.aclose()
        assert received[0].startswith(b"timestamp,value,unit\n")
    async with db.session_scope() as session:
        plan = await export.device_plan(session, device, None, None, None)
    assert sum([chunk.count(b"\n") async for chunk in export.stream(plan)]) == 60_001


async def test_local_times_in_copy_lines_survive_any_chunk_cut() -> None:
    """PostgreSQL's COPY lines are converted as they stream: a cut anywhere (inside a line, inside a
    multi-byte character) and a quoted name holding a newline and something like a time change
    nothing but the rows' own times."""
    from zoneinfo import ZoneInfo

    utc = "2026-01-01T00:00:00.000000+00:00"
    body = (
        f'{utc},"Kessel ""N"",\n{utc},x",1.5,°C\n'  # a name whose second line looks like a row
        f"{utc.replace('00:00:00', '16:30:00')},锅炉,2.0,°C\n"
    ).encode()
    expected = (
        '2026-01-01T08:00:00.000000+08:00,"Kessel ""N"",\n'
        f'{utc},x",1.5,°C\n'
        "2026-01-02T00:30:00.000000+08:00,锅炉,2.0,°C\n"
    ).encode()

    async def pieces(size: int):  # type: ignore[no-untyped-def]
        for start in range(0, len(body), size):
            yield body[start : start + size]

    for size in (1, 2, 7, 33, len(body)):
        converted = b"".join([c async for c in export._local_lines(pieces(size), ZoneInfo("Asia/Shanghai"))])
        assert converted == expected, size
