"""Keeping ``readings_1min``, ``readings_1hour`` and ``readings_1day`` current, on every backend.

How it stays correct (late readings included)
---------------------------------------------
A trigger on ``readings`` (migration 002) records every (device, minute) that receives a row in
``readings_rollup_dirty`` (column ``hour_start``: where the stale stretch starts, see ``stale_span``):
a row trigger on SQLite, a statement trigger over the transition table on PostgreSQL, so ORM
inserts, executemany and COPY are all covered, however old the reading's timestamp.
``refresh()`` then, one bounded chunk of one device per transaction:

1. deletes the device's oldest dirty rows (minutes), at most ``CHUNK_MINUTES`` of them, and gets
   them back;
2. rebuilds the 1-minute buckets of exactly those stretches from the raw rows, then the 1-hour
   buckets holding them from the 1-minute buckets;
3. rebuilds the 1-day buckets of the touched days from the (now current) 1-hour buckets.

Only new data is rolled up (a run per minute reads about one minute of raw rows per device, however
fast devices are sampled), and a late reading re-dirties its (old) minute, so its buckets are
recomputed. On PostgreSQL the trigger upserts with ``DO UPDATE``, which row-locks the dirty row until
the writer commits: a refresh that deletes it waits for that commit, and its later statements (read
committed) see the new readings; a writer that arrives after the delete inserts a fresh dirty row
for the next run. SQLite has one writer at a time, so the question does not arise.

Readers never wait for a refresh: ``dirty_ranges()`` tells ``services.readings`` which stretches are
stale, and those are read from raw rows instead (the "not yet rolled up tail").

Why chunks: SQLite has one writer. After a drained outage a device has hours of dirty minutes, and
rolling them up in one transaction held the write lock for seconds: the collector's writer met
"database is locked" and the final flush at shutdown timed out. A chunk reads at most
``CHUNK_MINUTES`` minutes of one device's raw rows (1,800 rows at 1 s sampling), each raw row is read
once, and the writer gets its turn between chunks. Thirty minutes, measured (benchmarks/history.py
--loaded, a week of 1 s data, load 4-5): the writer was held p99 53-63 ms, max 60-71 ms, and the
week caught up in 7-9 s; ten-minute chunks held it longer in the tail (p99 78-106, max 138-204 ms:
each commit costs the same, so three times as many of them kept the job contending with readers
for 21-26 s), and past the row work a transaction's wall time is mostly waiting for the event loop.

An hour or day bucket rebuilt while some of its minutes are still dirty is rebuilt again with the
chunk that claims them; until then readers take those stretches from raw rows, as they do for every
dirty stretch.

TimescaleDB keeps these same tables, on the ``readings`` hypertable (migration 009): its continuous
aggregates answered late readings only after a refresh, its job runner fails on PostgreSQL 15.19+,
and they read 1.5-4x slower than these tables.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Uuid, bindparam, text
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms import db
from ddms.models import UTCDateTime

logger = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ROLLUP_SECONDS = {"readings_1min": 60, "readings_1hour": 3600, "readings_1day": 86400}
CHUNK_MINUTES = 30  # minutes of one device's raw rows rolled up per transaction (1800 rows at 1 s)


@dataclass(frozen=True, slots=True)
class RefreshReport:
    devices: int
    stretches: int
    days: int
    transactions: int = 0  # chunks committed


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one refresh transaction did (for a test's ``on_chunk`` hook)."""

    device_id: uuid.UUID
    marks: int  # dirty rows claimed
    minutes: int  # their weight: minutes of raw rows they stand for
    raw_rows: int  # raw readings rolled up into the 1-minute buckets


def mark_weight(mark: datetime) -> int:
    """Minutes of raw rows a dirty mark makes a refresh read (see ``stale_span``)."""
    start, end = stale_span(mark)
    return int((end - start).total_seconds()) // 60


def floor_time(moment: datetime, seconds: int) -> datetime:
    """Start of the epoch-aligned UTC bucket of width ``seconds`` holding ``moment``."""
    epoch = int(moment.timestamp() // seconds) * seconds
    return datetime.fromtimestamp(epoch, UTC)


def stale_span(start: datetime) -> tuple[datetime, datetime]:
    """The stretch a dirty row stands for: its minute.

    (Before migration 007 an hour-aligned row stood for its whole hour, so a minute-00 mark of 1 s
    data rolled its hour up twice and no chunk could be smaller than an hour; 007 widened those
    rows into the hour's minutes.)
    """
    return start, start + MINUTE


def _merge(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


async def dirty_ranges(
    session: AsyncSession,
    device_ids: list[uuid.UUID],
    granularity: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[uuid.UUID, list[tuple[datetime, datetime]]]:
    """Per device, the merged stretches whose rollups are stale, widened to ``granularity`` seconds.

    ``granularity`` is the reader's bucket width (a multiple of the rollup's): a bucket holding any
    dirty mark is stale as a whole. The database hops from one stale bucket to the next (a
    recursive skip scan: one index probe per stale bucket), so the cost follows the buckets a chart
    shows, not the marks: right after a bulk load every minute of every device is marked (43 200
    marks in a month), and reading them all cost more than the raw aggregate the rollups replace.
    ``_merge_in_python`` states the same result plainly; the tests hold the two equal.
    """
    found = await dirty_ranges_unless_many(session, device_ids, granularity, start, end, None)
    return found or {}


async def dirty_ranges_unless_many(
    session: AsyncSession,
    device_ids: list[uuid.UUID],
    granularity: int,
    start: datetime | None,
    end: datetime | None,
    give_up_at: int | None,
) -> dict[uuid.UUID, list[tuple[datetime, datetime]]] | None:
    """``dirty_ranges``, or None once ``give_up_at`` dirty marks lie in [start, end).

    In the same statement, before the skip scan: a count of the marks in the range, stopped at
    ``give_up_at`` (an index range read, a fraction of a probe per mark). Right after a bulk load
    every minute is marked, and the skip scan's probe per stale bucket (720 for a day in 2-minute
    buckets) cost a third of the raw aggregate the reader then ran anyway; the count tells the
    reader to take the raw rows at once. None means only "at least that many marks", never which.
    """
    width = int(granularity)
    params: dict[str, object] = {"ids": device_ids}
    if start is not None:
        params["lo"] = floor_time(start, width)
    if end is not None:
        params["hi"] = end
    if give_up_at is not None:
        params["cap"] = max(int(give_up_at), 1)
    sql = _skip_scan_sql(db.dialect_of(session), width, "lo" in params, "hi" in params, "cap" in params)
    statement = (
        text(sql)
        .bindparams(
            bindparam("ids", expanding=True, type_=Uuid()),
            *[bindparam(k, type_=UTCDateTime()) for k in ("lo", "hi") if k in params],
        )
        .columns(device_id=Uuid(), m=UTCDateTime())
    )
    hops = list((await session.exec(statement, params=params)).all())  # type: ignore[call-overload]
    if any(device_id is None for device_id, _ in hops):  # the count reached the cap: no hop was made
        return None
    return stale_stretches(hops, width)


def _widened(mark: datetime, width: int) -> tuple[datetime, datetime]:
    """The stretch of buckets of ``width`` seconds that the dirty ``mark`` makes stale."""
    first, last = stale_span(mark)
    begin = floor_time(first, width)
    try:
        end = floor_time(last - timedelta(microseconds=1), width) + timedelta(seconds=width)
    except OverflowError:  # a reading near the end of year 9999 (the API accepts it): no bucket after it
        end = datetime.max.replace(tzinfo=UTC)
    return begin, end


def _skip_scan_sql(dialect: str, width: int, lower: bool, upper: bool, capped: bool = False) -> str:
    """For each device, the first dirty mark, then the first one past the stale stretch it opens...

    ``capped``: the marks of the range are first counted up to ``:cap``; at the cap the hops are
    not made and one (NULL, NULL) row says so. See ``skip_scan_ctes``.
    """
    ctes = skip_scan_ctes(dialect, width, lower, upper, capped)
    hops = "SELECT device_id, m FROM hop WHERE m IS NOT NULL"
    if not capped:
        return f"WITH RECURSIVE {ctes} {hops}"
    given_up = "SELECT NULL AS device_id, NULL AS m FROM marked WHERE n >= :cap"
    return f"WITH RECURSIVE {ctes} {given_up} UNION ALL {hops}"


def skip_scan_ctes(dialect: str, width: int, lower: bool, upper: bool, capped: bool) -> str:
    """The common table expressions of the skip scan (for a ``WITH RECURSIVE``), to read in one statement.

    ``hop(device_id, m)``: per device of ``:ids``, the first dirty mark at or after ``:lo`` and
    before ``:hi``, then the first one past the end of the bucket of ``width`` seconds holding the
    last (each step one probe of the (device_id, hour_start) primary key); a NULL ``m`` ends a
    device's chain. ``capped`` adds ``marked(n)``, the range's marks counted up to ``:cap``, and
    makes no hop once ``n`` reaches it.
    """
    following = db.add_seconds_sql(dialect, db.time_bucket_sql(dialect, "h.m", width), width)
    # Each probe has one lower bound (:lo for the first, the stretch's end after it): given two,
    # SQLite seeks on one and filters by the other, and every probe scanned from :lo again.
    probe = (
        "SELECT min(x.hour_start) FROM readings_rollup_dirty AS x WHERE x.device_id = {device} AND {floor}"
    )
    probe += " AND x.hour_start < :hi" if upper else ""
    seed = probe.format(device="d.id", floor="x.hour_start >= :lo" if lower else "1 = 1")
    step = probe.format(device="h.device_id", floor=f"x.hour_start >= {following}")
    gate = " AND (SELECT n FROM marked) < :cap" if capped else ""
    hop = (
        f"hop(device_id, m) AS (SELECT d.id, ({seed}) FROM devices AS d WHERE d.id IN :ids{gate} "
        f"UNION ALL SELECT h.device_id, ({step}) FROM hop AS h WHERE h.m IS NOT NULL)"
    )
    if not capped:
        return hop
    counted = "y.device_id IN :ids"
    counted += " AND y.hour_start >= :lo" if lower else ""
    counted += " AND y.hour_start < :hi" if upper else ""
    marked = (
        "marked(n) AS (SELECT count(*) FROM (SELECT 1 AS one FROM readings_rollup_dirty AS y "
        f"WHERE {counted} LIMIT :cap) AS z)"
    )
    return f"{marked}, {hop}"


def stale_stretches(
    marks: list[tuple[uuid.UUID, datetime]], granularity: int
) -> dict[uuid.UUID, list[tuple[datetime, datetime]]]:
    """Per device, the merged stretches of buckets of ``granularity`` seconds the ``marks`` make stale.

    Fed with the skip scan's hops (``skip_scan_ctes``) it gives what ``dirty_ranges`` returns.
    """
    found: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    for device_id, marked in marks:
        found.setdefault(device_id, []).append(_widened(marked, granularity))
    return {device_id: _merge(ranges) for device_id, ranges in found.items()}


def _merge_in_python(
    marks: list[tuple[uuid.UUID, datetime]], granularity: int
) -> dict[uuid.UUID, list[tuple[datetime, datetime]]]:
    """What ``dirty_ranges`` returns for these marks, stated plainly (every mark widened, then merged)."""
    found: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    for device_id, marked in marks:
        found.setdefault(device_id, []).append(_widened(marked, granularity))
    return {device_id: _merge(ranges) for device_id, ranges in found.items()}


def _refresh_statements(dialect: str) -> tuple[str, str, str]:
    """1min from raw rows; 1hour from 1min and 1day from 1hour (sum = avg x count), so each level
    reads at most 60 (24) rows per bucket instead of rescanning the raw hour."""
    minute = db.time_bucket_sql(dialect, '"timestamp"', 60)
    from_raw = (
        "INSERT INTO readings_1min (device_id, time_bucket, avg, min, max, count) "
        f"SELECT device_id, {minute}, avg(value), min(value), max(value), count(*) FROM readings "
        'WHERE device_id = :device AND "timestamp" >= :lo AND "timestamp" < :hi '
        f"GROUP BY device_id, {minute}"
    )
    cascade = (
        "INSERT INTO {target} (device_id, time_bucket, avg, min, max, count) "
        "SELECT device_id, {bucket}, sum(avg * count) / sum(count), min(min), max(max), sum(count) "
        "FROM {source} WHERE device_id = :device AND time_bucket >= :lo AND time_bucket < :hi "
        "GROUP BY device_id, {bucket}"
    )
    hourly = cascade.format(
        target="readings_1hour",
        source="readings_1min",
        bucket=db.time_bucket_sql(dialect, "time_bucket", 3600),
    )
    daily = cascade.format(
        target="readings_1day",
        source="readings_1hour",
        bucket=db.time_bucket_sql(dialect, "time_bucket", 86400),
    )
    return from_raw, hourly, daily


def _typed(sql: str) -> object:
    return text(sql).bindparams(
        bindparam("device", type_=Uuid()),
        bindparam("lo", type_=UTCDateTime()),
        bindparam("hi", type_=UTCDateTime()),
    )


ROLLUP_LOCK_CLASS = 0x6464  # first key of the per-device advisory lock (PostgreSQL)


async def lock_device(session: AsyncSession, device_id: uuid.UUID) -> None:
    """Serialise rollup writers of one device until the transaction ends.

    A refresh and retention's trim must not interleave: a refresh that read rows retention is
    deleting could otherwise commit buckets after the trim removed them. PostgreSQL takes a
    transaction-scoped advisory lock (which also keeps several DDMS instances from refreshing one
    device at once); SQLite needs none, its single writer already serialises the two.
    """
    if db.is_postgres(session):
        statement = text("SELECT pg_advisory_xact_lock(:cls, hashtext(CAST(:device AS text)))").bindparams(
            bindparam("device", type_=Uuid())
        )
        await session.exec(statement, params={"cls": ROLLUP_LOCK_CLASS, "device": device_id})  # type: ignore[call-overload]


async def _claim(session: AsyncSession, device_id: uuid.UUID, budget: int) -> tuple[list[datetime], bool]:
    """Delete the device's oldest dirty marks worth at most ``budget`` minutes (one at least).

    Returns the marks and whether more were left behind.
    """
    oldest = (
        text(
            "SELECT hour_start FROM readings_rollup_dirty WHERE device_id = :device "
            "ORDER BY hour_start LIMIT :limit"
        )
        .bindparams(bindparam("device", type_=Uuid()))
        .columns(hour_start=UTCDateTime())
    )
    found = list(
        (await session.exec(oldest, params={"device": device_id, "limit": budget + 1})).scalars()  # type: ignore[call-overload]
    )
    chosen: list[datetime] = []
    weight = 0
    for mark in found:
        weight += mark_weight(mark)
        if chosen and weight > budget:
            break
        chosen.append(mark)
    if not chosen:
        return [], False
    statement = (
        text(
            "DELETE FROM readings_rollup_dirty WHERE device_id = :device AND hour_start IN :marks "
            "RETURNING hour_start"
        )
        .bindparams(
            bindparam("device", type_=Uuid()),
            bindparam("marks", expanding=True, type_=UTCDateTime()),
        )
        .columns(hour_start=UTCDateTime())
    )
    claimed = list(
        (await session.exec(statement, params={"device": device_id, "marks": chosen})).scalars()  # type: ignore[call-overload]
    )
    return claimed, len(found) > len(chosen)


async def _raw_rows(
    session: AsyncSession, device_id: uuid.UUID, ranges: list[tuple[datetime, datetime]]
) -> int:
    total = 0
    for lo, hi in ranges:
        statement = _typed(
            "SELECT coalesce(sum(count), 0) FROM readings_1min WHERE device_id = :device "
            "AND time_bucket >= :lo AND time_bucket < :hi"
        )
        result = await session.exec(statement, params={"device": device_id, "lo": lo, "hi": hi})  # type: ignore[call-overload]
        total += int(result.scalar() or 0)
    return total


async def refresh_device(
    session: AsyncSession,
    device_id: uuid.UUID,
    *,
    budget: int = CHUNK_MINUTES,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> tuple[int, int, bool]:
    """Roll up one chunk of one device's dirty stretches in one transaction.

    Returns (stretches, days) rebuilt and whether dirty stretches are left for another chunk.
    """
    dialect = db.dialect_of(session)
    minute_sql, hour_sql, day_sql = _refresh_statements(dialect)
    await lock_device(session, device_id)
    marks, more = await _claim(session, device_id, budget)
    minute_ranges = _merge([stale_span(mark) for mark in marks])
    hour_ranges = _merge([(floor_time(mark, 3600), floor_time(mark, 3600) + HOUR) for mark in marks])
    day_ranges = _merge([(floor_time(mark, 86400), floor_time(mark, 86400) + DAY) for mark in marks])
    for table, insert, ranges in (
        ("readings_1min", minute_sql, minute_ranges),
        ("readings_1hour", hour_sql, hour_ranges),
        ("readings_1day", day_sql, day_ranges),
    ):
        for lo, hi in ranges:
            params = {"device": device_id, "lo": lo, "hi": hi}
            await session.exec(
                _typed(  # type: ignore[call-overload]
                    f"DELETE FROM {table} WHERE device_id = :device "
                    "AND time_bucket >= :lo AND time_bucket < :hi"
                ),
                params=params,
            )
            await session.exec(_typed(insert), params=params)  # type: ignore[call-overload]
    if on_chunk is not None:
        rows = await _raw_rows(session, device_id, minute_ranges)
        on_chunk(Chunk(device_id, len(marks), sum(mark_weight(mark) for mark in marks), rows))
    await session.commit()
    return len(marks), len({day for day, _ in day_ranges}), more


async def refresh(
    session: AsyncSession, *, budget: int = CHUNK_MINUTES, on_chunk: Callable[[Chunk], None] | None = None
) -> RefreshReport:
    """Bring every device's rollups up to date in bounded chunks.

    ``budget`` is the minutes of raw rows one transaction may roll up; ``on_chunk`` hears of each.
    """
    statement = text("SELECT DISTINCT device_id FROM readings_rollup_dirty").columns(device_id=Uuid())
    device_ids = list((await session.exec(statement)).scalars())  # type: ignore[call-overload]
    await session.commit()
    stretches = days = transactions = 0
    for device_id in device_ids:
        more = True
        while more:
            device_stretches, device_days, more = await refresh_device(
                session, device_id, budget=budget, on_chunk=on_chunk
            )
            stretches += device_stretches
            days += device_days
            transactions += 1
            await asyncio.sleep(0)  # let other tasks (the readings' writer) in between chunks
    if device_ids:
        logger.debug(
            "rolled up %d stretches (%d days) of %d devices in %d transactions",
            stretches,
            days,
            len(device_ids),
            transactions,
        )
    return RefreshReport(len(device_ids), stretches, days, transactions)


async def mark_dirty(session: AsyncSession, device_id: uuid.UUID, moment: datetime) -> None:
    """Record the minute of ``moment`` as stale (used after deleting readings, which fire no trigger)."""
    hour = floor_time(moment, 60)
    params = {"device": device_id, "hour": hour}
    statement = text(
        "INSERT INTO readings_rollup_dirty (device_id, hour_start) VALUES (:device, :hour) "
        "ON CONFLICT (device_id, hour_start) DO NOTHING"
    ).bindparams(bindparam("device", type_=Uuid()), bindparam("hour", type_=UTCDateTime()))
    await session.exec(statement, params=params)  # type: ignore[call-overload]
