"""Readings history: raw pages, 1min/1hour/1day aggregates, counts, the latest value, chart series.

One query layer for every backend: aggregates are read from the rollup whose bucket fits
(``readings_1min|1hour|1day``: tables kept by ``services.rollups`` on every backend, TimescaleDB
included), and stretches whose rollups are still stale are read from raw rows in the same query,
so answers always equal a direct computation over ``readings``.

A bucket is epoch-aligned UTC and always summarises its whole width: an aggregate or series over
[start, end] returns every bucket that overlaps the range, computed over the full bucket (what a
rollup row holds anyway). Raw pages and counts use [start, end] exactly, both ends inclusive.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import BindParameter, Float, Integer, TextClause, Uuid, bindparam, func, text
from sqlalchemy.sql.selectable import TextualSelect
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms import db
from ddms.errors import Invalid, NotFound
from ddms.models import Device, Reading, UTCDateTime, utcnow
from ddms.schemas.readings import GroupReading, ReadingPublic, SeriesPoint, SeriesPublic
from ddms.services import devices, groups, rollups

AGGREGATES = {"1min": 60, "1hour": 3600, "1day": 86400}
ROLLUPS = ((86400, "readings_1day"), (3600, "readings_1hour"), (60, "readings_1min"))
NICE_BUCKETS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
)
DEFAULT_SERIES_SPAN = timedelta(hours=24)
ROW_BUDGET = 50_000  # rollup rows one chart may read (all its devices together)
# Raw rows cost more than rollup rows (every one is bucketed and aggregated): a chart whose finest
# width would aggregate more than this many takes the 1-minute rollup's width instead (a 6-hour zoom
# of a 1 s device: 360 one-minute rows rather than 21 600 raw ones; the min/max band keeps a spike).
RAW_ROW_BUDGET = 20_000
RAW_ROW_SECONDS = 10  # raw rows are estimated at the devices' sampling interval, by default this
MAX_DIRTY_RANGES = 200  # beyond this many stale stretches, read raw rows instead of the rollup
# Marks (stale minutes) worth counting before the skip scan: past this the range is too wide for a
# count to be cheap, and the skip scan decides alone.
MAX_COUNTED_MARKS = 50_000
# A bucket is aggregated on its own (one index range read, no sort of the range's rows) when a
# device samples at least this many readings into it; sparser data is grouped in one pass.
PER_BUCKET_ROWS = 8
MAX_PER_BUCKET = 20_000  # buckets of all devices together read one by one at most
PER_BUCKET_LOOKUP = 64  # raw buckets at stake before an unknown sampling interval is worth reading
_PLUS_AS_SPACE = re.compile(r" (\d\d:?\d\d)$")
# The instants a query may name. Buckets are epoch-aligned, and the widest bucket arithmetic
# (floor to a day, plus a day) must stay inside what datetime can hold: a day short of year 10000.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
_FAR_END = datetime.max.replace(tzinfo=UTC)
# OFFSET is bound as a signed 64-bit integer by PostgreSQL (bigint) and SQLite alike.
MAX_OFFSET = 2**63 - 1


# What the service returns is what the API sends (no copy field by field).
Bucket = SeriesPoint
RawReading = ReadingPublic
Series = SeriesPublic


@dataclass(frozen=True, slots=True)
class ReadingsPage:
    device_id: uuid.UUID
    items: list[RawReading] | list[Bucket]
    total: int


def parse_time(value: str | None, name: str) -> datetime | None:
    """ISO 8601 to aware UTC (naive means UTC); a '+' turned into a space by a URL is accepted."""
    if value is None or not value.strip():
        return None
    cleaned = _PLUS_AS_SPACE.sub(r"+\1", value.strip())
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise Invalid("not_a_time", field=name, params={"field": name, "value": value}) from None
    try:
        moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is in year 0 in UTC
        raise _out_of_range(name) from None
    return check_time(moment, name)


def check_time(moment: datetime, name: str) -> datetime:
    """``moment`` if it lies in [EARLIEST, LATEST], else Invalid: bucket arithmetic never overflows."""
    if not EARLIEST <= moment <= LATEST:
        raise _out_of_range(name)
    return moment


def _out_of_range(name: str) -> Invalid:
    return Invalid("time_out_of_range", field=name, params={"field": name})


def check_page(limit: int, offset: int) -> None:
    """A page the databases can bind: LIMIT at least 1, OFFSET a non-negative int64."""
    if limit < 1 or not 0 <= offset <= MAX_OFFSET:
        raise Invalid("bad_paging", params={"max_offset": MAX_OFFSET})


def parse_range(start_time: str | None, end_time: str | None) -> tuple[datetime | None, datetime | None]:
    start, end = parse_time(start_time, "start_time"), parse_time(end_time, "end_time")
    if start is not None and end is not None and end < start:
        raise Invalid("end_before_start", field="end_time")
    return start, end


def parse_aggregate(value: str | None) -> int | None:
    """Bucket seconds of ``1min|1hour|1day``; None for raw."""
    if value is None or not value.strip():
        return None
    if value.strip() not in AGGREGATES:
        raise Invalid("bad_aggregate", field="aggregate", params={"choices": ", ".join(AGGREGATES)})
    return AGGREGATES[value.strip()]


async def get_device(session: AsyncSession, device_id: uuid.UUID) -> Device:
    """The device, archived ones included (their readings stay readable and exportable)."""
    return await devices.get_device(session=session, device_id=device_id, include_deleted=True)


def _bounds(column: str, lo: datetime | None, hi: datetime | None, inclusive_hi: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f" AND {column} >= :lo")
    if hi is not None:
        parts.append(f" AND {column} {'<=' if inclusive_hi else '<'} :hi")
    return "".join(parts)


def _time_params(statement: TextClause, names: list[str]) -> TextClause:
    return statement.bindparams(*[bindparam(name, type_=UTCDateTime()) for name in names])


async def latest(session: AsyncSession, device_id: uuid.UUID) -> RawReading:
    """The device's newest stored reading; NotFound for an unknown device or one without readings."""
    await get_device(session, device_id)
    reading = await latest_stored(session, device_id)
    if reading is None:
        raise NotFound("no_readings")
    return reading


async def latest_stored(session: AsyncSession, device_id: uuid.UUID) -> RawReading | None:
    """The newest stored reading of ``device_id`` (the one query for it: REST, live values, pages)."""
    statement = text(
        'SELECT "timestamp", value FROM readings WHERE device_id = :device ORDER BY "timestamp" DESC LIMIT 1'
    ).bindparams(bindparam("device", type_=Uuid()))
    columns = statement.columns(timestamp=UTCDateTime(), value=Float())
    row = (await session.exec(columns, params={"device": device_id})).first()  # type: ignore[call-overload]  # sqlmodel's exec() stubs omit text()
    return None if row is None else RawReading(row[0], row[1])


# GET /api/groups/{id}/readings: up to a year back, at most 10 000 rows (a day of 100 devices at 10 s
# is 864 000 rows: a wider look goes through the series, aggregates or the CSV export instead).
GROUP_HOURS_MAX = 8760
GROUP_LIMIT_MAX = 10_000


async def group_recent(
    session: AsyncSession, group_id: uuid.UUID, *, hours: int, limit: int, now: datetime | None = None
) -> list[GroupReading]:
    """The raw readings of the group's current (not deleted) members since ``now - hours``, newest first.

    The route bounds ``hours`` and ``limit`` by ``GROUP_HOURS_MAX`` and ``GROUP_LIMIT_MAX`` (422 beyond).
    """
    await groups.get_group(session=session, group_id=group_id)
    members = {device.id: device for device in await groups.group_devices(session=session, group_id=group_id)}
    if not members:
        return []
    since = (now or utcnow()) - timedelta(hours=hours)
    query = (
        select(col(Reading.device_id), col(Reading.timestamp), col(Reading.value))
        .where(col(Reading.device_id).in_(members), col(Reading.timestamp) >= since)
        .order_by(col(Reading.timestamp).desc(), col(Reading.device_id))
        .limit(limit)
    )
    rows = (await session.exec(query)).all()
    return [
        GroupReading(device_id, members[device_id].name, members[device_id].unit, timestamp, value)
        for device_id, timestamp, value in rows
    ]


async def count(
    session: AsyncSession, device_id: uuid.UUID, start: datetime | None, end: datetime | None
) -> int:
    await get_device(session, device_id)
    sql = "SELECT count(*) FROM readings WHERE device_id = :device" + _bounds('"timestamp"', start, end, True)
    params = {"device": device_id, "lo": start, "hi": end}
    statement = _time_params(
        text(sql).bindparams(bindparam("device", type_=Uuid())),
        [k for k in ("lo", "hi") if params[k] is not None],
    )
    bound = {k: v for k, v in params.items() if v is not None}
    result = await session.exec(statement, params=bound)  # type: ignore[call-overload]  # sqlmodel's exec() stubs omit text()
    return int(result.scalar())


async def raw_page(
    session: AsyncSession,
    device_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    offset: int,
) -> ReadingsPage:
    """Raw readings newest first, with the total in the range."""
    check_page(limit, offset)
    total = await count(session, device_id, start, end)
    sql = (
        'SELECT "timestamp", value FROM readings WHERE device_id = :device'
        + _bounds('"timestamp"', start, end, True)
        + ' ORDER BY "timestamp" DESC LIMIT :limit OFFSET :offset'
    )
    params: dict[str, object] = {"device": device_id, "limit": limit, "offset": offset}
    times = {k: v for k, v in (("lo", start), ("hi", end)) if v is not None}
    statement = _time_params(text(sql).bindparams(bindparam("device", type_=Uuid())), list(times))
    columns = statement.columns(timestamp=UTCDateTime(), value=Float())
    rows = (await session.exec(columns, params=params | times)).all()  # type: ignore[call-overload]  # sqlmodel's exec() stubs omit text()
    return ReadingsPage(device_id, [RawReading(ts, value) for ts, value in rows], total)


@dataclass(frozen=True, slots=True)
class BucketQuery:
    """A grouped (device_id, tb, s, c, mn, mx) query over rollup + stale raw stretches, or raw only."""

    sql: str
    params: dict[str, object]
    binds: list[BindParameter[object]]
    source: str


def _source_for(bucket_seconds: int) -> tuple[int, str]:
    for width, table in ROLLUPS:
        if bucket_seconds % width == 0:
            return width, table
    return 0, "readings"


def _clipped(
    stale: dict[uuid.UUID, list[tuple[datetime, datetime]]], lo: datetime | None, hi: datetime | None
) -> list[tuple[uuid.UUID, datetime, datetime]]:
    """Stale stretches cut to [lo, hi), empty ones dropped (the raw half then reads no row twice)."""
    result = []
    for device, ranges in stale.items():
        for start, end in ranges:
            first = start if lo is None else max(start, lo)
            last = end if hi is None else min(end, hi)
            if first < last:
                result.append((device, first, last))
    return result


def _covers(
    stretches: list[tuple[uuid.UUID, datetime, datetime]],
    device_ids: list[uuid.UUID],
    lo: datetime,
    hi: datetime,
) -> bool:
    """True when the stale stretches span all of [lo, hi) for every device (the rollup has no say)."""
    covering = {device for device, first, last in stretches if first <= lo and last >= hi}
    return covering >= set(device_ids)


def _raw_part(
    bucket: str,
    index: int,
    stretch: tuple[uuid.UUID, datetime, datetime],
    params: dict[str, object],
    binds: list[BindParameter[object]],
) -> str:
    """The buckets of one device's stale stretch from raw rows (its parameters added to ``params``).

    Bounded by the stretch alone, it is one index range scan of exactly its rows (an OR of
    stretches under the range's bounds made SQLite scan every raw row of the range, clean hours
    included). The device is the bound value, not a grouping key: grouping by the bucket alone is
    a quarter cheaper per row on both databases than by (device_id, bucket).
    """
    device, start, end = stretch
    params |= {f"dd{index}": device, f"da{index}": start, f"db{index}": end}
    binds += [
        bindparam(f"dd{index}", type_=Uuid()),
        bindparam(f"da{index}", type_=UTCDateTime()),
        bindparam(f"db{index}", type_=UTCDateTime()),
    ]
    return (
        f"SELECT :dd{index} AS device_id, {bucket} AS tb, sum(value) AS s, count(*) AS c, "
        f'min(value) AS mn, max(value) AS mx FROM readings WHERE device_id = :dd{index} AND "timestamp" '
        f'>= :da{index} AND "timestamp" < :db{index} GROUP BY 2'
    )


def _per_bucket_part(
    bucket_seconds: int,
    index: int,
    stretch: tuple[uuid.UUID, datetime, datetime],
    params: dict[str, object],
    binds: list[BindParameter[object]],
) -> str:
    """``_raw_part`` on PostgreSQL for dense data: each bucket of the stretch aggregated on its own.

    The planner cannot know that a ``date_bin`` of 86 400 rows makes 720 groups: it sorted them all
    (on disk past ``work_mem``), and that sort was most of the direct aggregate's time. One index
    range read per bucket of ``generate_series`` needs no sort and reads the same rows: 3x faster
    for a day of 1 s data. The stretch must be whole buckets.
    """
    device, start, end = stretch
    params |= {f"dd{index}": device, f"da{index}": start, f"db{index}": end}
    binds += [
        bindparam(f"dd{index}", type_=Uuid()),
        bindparam(f"da{index}", type_=UTCDateTime()),
        bindparam(f"db{index}", type_=UTCDateTime()),
    ]
    width = f"INTERVAL '{int(bucket_seconds)} seconds'"
    return (
        f"SELECT CAST(:dd{index} AS uuid) AS device_id, b.tb AS tb, a.s, a.c, a.mn, a.mx "
        f"FROM generate_series(CAST(:da{index} AS timestamptz), CAST(:db{index} AS timestamptz) - {width}, "
        f"{width}) AS b(tb) "
        "CROSS JOIN LATERAL (SELECT sum(value) AS s, count(*) AS c, min(value) AS mn, max(value) AS mx "
        f'FROM readings WHERE device_id = :dd{index} AND "timestamp" >= b.tb AND "timestamp" < b.tb + {width}'
        ") AS a WHERE a.c > 0"
    )


def _marks_cap(
    device_ids: list[uuid.UUID], lo: datetime | None, hi: datetime | None, raw_seconds: float | None
) -> int | None:
    """How many dirty marks in [lo, hi) mean "read it all from raw rows": half the minutes that can
    hold readings (a mark per minute with data, one per sampling interval past a minute).

    With half the range stale the rollup saves at most half the raw rows, and costs a probe per
    stale bucket first. None when the count would be too long to be worth it.
    """
    if lo is None or hi is None:
        return None
    per_minute = min(1.0, 60.0 / raw_seconds) if raw_seconds else 1.0
    possible = len(device_ids) * (hi - lo).total_seconds() / 60 * per_minute
    cap = math.ceil(possible / 2)
    return cap if 1 <= cap <= MAX_COUNTED_MARKS else None


def _whole_buckets(bucket_seconds: int, stretch: tuple[uuid.UUID, datetime, datetime]) -> bool:
    """Whether ``stretch`` is epoch-aligned whole buckets (in exact arithmetic: a float of seconds
    took the [1970, end of 9999] range for whole buckets of its own width)."""
    _, start, end = stretch
    width = timedelta(seconds=bucket_seconds)
    return (start - EARLIEST) % width == (end - start) % width == timedelta(0)


async def fastest_interval(session: AsyncSession, device_ids: list[uuid.UUID]) -> float:
    """The devices' fastest configured sampling interval (RAW_ROW_SECONDS when none is set)."""
    fastest = await session.exec(
        select(func.min(Device.sampling_interval)).where(col(Device.id).in_(device_ids))
    )
    return float(fastest.one() or RAW_ROW_SECONDS)


@dataclass(frozen=True, slots=True)
class RawSampling:
    """What ``build_bucket_query`` knows of the raw rows' density (see ``_raw_parts``)."""

    device_ids: list[uuid.UUID]
    raw_seconds: float | None = None  # the fastest device's sampling interval, if known
    bucketwise: bool = False  # the query runs in this session: per-bucket reads (and SET LOCAL) allowed


async def _raw_parts(
    session: AsyncSession,
    bucket_seconds: int,
    raw_bucket: str,
    stretches: list[tuple[uuid.UUID, datetime, datetime]],
    sampling: RawSampling,
    params: dict[str, object],
    binds: list[BindParameter[object]],
) -> list[str]:
    """One select per stale stretch: ``_per_bucket_part`` where that is cheaper, else ``_raw_part``.

    Bucket by bucket only on PostgreSQL, for a query run in this session (``sampling.bucketwise``),
    for whole buckets of at least PER_BUCKET_ROWS readings each at the fastest device's interval,
    and MAX_PER_BUCKET buckets at most. The interval is read here if the caller did not know it,
    and only when enough buckets are at stake for the raw read to dwarf that round trip.
    """
    buckets = sum((last - first).total_seconds() / bucket_seconds for _, first, last in stretches)
    raw_seconds = sampling.raw_seconds
    bucketwise = (
        sampling.bucketwise
        and db.dialect_of(session) == "postgresql"
        and (raw_seconds is not None or buckets >= PER_BUCKET_LOOKUP)
        and buckets <= MAX_PER_BUCKET
    )
    if bucketwise and raw_seconds is None:
        raw_seconds = await fastest_interval(session, sampling.device_ids)
    dense = bucketwise and raw_seconds is not None and bucket_seconds >= PER_BUCKET_ROWS * raw_seconds
    parts, separate = [], False
    for index, stretch in enumerate(stretches):
        if dense and _whole_buckets(bucket_seconds, stretch):
            parts.append(_per_bucket_part(bucket_seconds, index, stretch, params, binds))
            separate = True
        else:
            parts.append(_raw_part(raw_bucket, index, stretch, params, binds))
    if separate:
        # Its estimate (a default share of the table per bucket) is far above the real cost and
        # made PostgreSQL compile the query (JIT: 100-200 ms for a 60 ms query).
        await session.exec(text("SET LOCAL jit = off"))  # type: ignore[call-overload]
    return parts


async def build_bucket_query(
    session: AsyncSession,
    device_ids: list[uuid.UUID],
    bucket_seconds: int,
    lo: datetime | None,
    hi: datetime | None,
    raw_seconds: float | None = None,
    *,
    bucketwise: bool = False,
) -> BucketQuery:
    """Buckets of ``bucket_seconds`` over [lo, hi) (lo and hi aligned by the caller).

    ``raw_seconds``: the devices' fastest sampling interval, if the caller knows it. ``bucketwise``:
    the query runs in this session (a series), so raw stretches of dense data may be read bucket by
    bucket (``_raw_parts``).
    """
    sampling = RawSampling(device_ids, raw_seconds, bucketwise)
    dialect = db.dialect_of(session)
    width, table = _source_for(bucket_seconds)
    params: dict[str, object] = {"ids": device_ids}
    binds: list[BindParameter[object]] = [bindparam("ids", expanding=True, type_=Uuid())]
    for name, value in (("lo", lo), ("hi", hi)):
        if value is not None:
            params[name] = value
            binds.append(bindparam(name, type_=UTCDateTime()))
    raw_bucket = db.time_bucket_sql(dialect, '"timestamp"', bucket_seconds)
    raw_head = (
        f"SELECT device_id, {raw_bucket} AS tb, sum(value) AS s, count(*) AS c, min(value) AS mn, "
        "max(value) AS mx FROM readings"
    )
    raw_select = f"{raw_head} WHERE device_id IN :ids" + _bounds('"timestamp"', lo, hi, False)
    # Stale stretches in whole buckets of the answer: a bucket is read from the rollup or from raw
    # rows, never half and half, and finding them costs one probe per stale bucket.
    if not width:
        return BucketQuery(raw_select + " GROUP BY 1, 2", params, binds, "readings")
    cap = _marks_cap(device_ids, lo, hi, raw_seconds)
    stale = await rollups.dirty_ranges_unless_many(session, device_ids, bucket_seconds, lo, hi, cap)
    stretches = [] if stale is None else _clipped(stale, lo, hi)
    if lo is not None and hi is not None and (stale is None or _covers(stretches, device_ids, lo, hi)):
        # Nothing (or too little) to take from the rollup: everything or half of it stale, e.g.
        # right after a bulk load. The plain aggregate over raw rows, device by device, not a union
        # with an empty half.
        own: dict[str, object] = {}
        own_binds: list[BindParameter[object]] = []
        whole = [(device, lo, hi) for device in device_ids]
        parts = await _raw_parts(session, bucket_seconds, raw_bucket, whole, sampling, own, own_binds)
        return BucketQuery(" UNION ALL ".join(parts), own, own_binds, "readings")
    if len(stretches) > MAX_DIRTY_RANGES:
        return BucketQuery(raw_select + " GROUP BY 1, 2", params, binds, "readings")
    rollup_bucket = (
        "time_bucket"
        if width == bucket_seconds
        else db.time_bucket_sql(dialect, "time_bucket", bucket_seconds)
    )
    rollup_select = (
        f'SELECT device_id, {rollup_bucket} AS tb, sum("avg" * "count") AS s, sum("count") AS c, '
        f'min("min") AS mn, max("max") AS mx FROM {table} WHERE device_id IN :ids'
        + _bounds("time_bucket", lo, hi, False)
    )
    if not stretches:
        return BucketQuery(rollup_select + " GROUP BY 1, 2", params, binds, table)
    # One raw select per stale stretch, bounded by the stretch alone: each is an index range scan
    # of exactly its rows (an OR of stretches under the range's bounds made SQLite scan every raw
    # row of the range and filter, clean hours included).
    raw_parts = await _raw_parts(session, bucket_seconds, raw_bucket, stretches, sampling, params, binds)
    conditions = []
    for index in range(len(stretches)):
        conditions.append(
            f"(device_id = :dd{index} AND time_bucket >= :da{index} AND time_bucket < :db{index})"
        )
    union = " UNION ALL ".join(
        [f"{rollup_select} AND NOT ({' OR '.join(conditions)}) GROUP BY 1, 2", *raw_parts]
    )
    merged = (
        f"SELECT device_id, tb, sum(s) AS s, sum(c) AS c, min(mn) AS mn, max(mx) AS mx "
        f"FROM ({union}) AS parts GROUP BY device_id, tb"
    )
    return BucketQuery(merged, params, binds, table)


def typed(query: BucketQuery, sql: str) -> TextualSelect:
    return (
        text(sql)
        .bindparams(*query.binds)
        .columns(device_id=Uuid(), tb=UTCDateTime(), s=Float(), c=Integer(), mn=Float(), mx=Float())
    )


def _bucket(row: tuple) -> Bucket:  # type: ignore[type-arg]
    """A (device_id, tb, s, c, mn, mx, ...) row as a point (columns past the sixth are ignored)."""
    number = int(row[3])
    return Bucket(row[1], float(row[2]) / number, float(row[4]), float(row[5]), number)


def aligned(
    start: datetime | None, end: datetime | None, seconds: int
) -> tuple[datetime | None, datetime | None]:
    """[start, end] widened to whole buckets: [floor(start), floor(end) + width).

    The end is capped at the last instant datetime holds: a chart's bucket may be wider than what is
    left of year 9999, and nothing is stored past it anyway.
    """
    lo = rollups.floor_time(start, seconds) if start is not None else None
    if end is None:
        return lo, None
    last = rollups.floor_time(end, seconds)
    width = timedelta(seconds=seconds)
    return lo, (last + width if _FAR_END - last > width else _FAR_END)


async def aggregate_page(
    session: AsyncSession,
    device_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    bucket_seconds: int,
    limit: int,
    offset: int,
) -> ReadingsPage:
    """Buckets newest first (value = avg), with how many buckets hold data in the range."""
    check_page(limit, offset)
    await get_device(session, device_id)
    lo, hi = aligned(start, end, bucket_seconds)
    query = await build_bucket_query(session, [device_id], bucket_seconds, lo, hi)
    total_sql = f"SELECT count(*) FROM ({query.sql}) AS grouped"
    counted = text(total_sql).bindparams(*query.binds)
    total = (await session.exec(counted, params=query.params)).scalar()  # type: ignore[call-overload]  # sqlmodel's exec() stubs omit text()
    page_sql = f"SELECT * FROM ({query.sql}) AS grouped ORDER BY tb DESC LIMIT :limit OFFSET :offset"
    page = typed(query, page_sql)
    rows = (await session.exec(page, params=query.params | {"limit": limit, "offset": offset})).all()  # type: ignore[call-overload]  # sqlmodel's exec() stubs omit text()
    return ReadingsPage(device_id, [_bucket(row) for row in rows], int(total or 0))


def choose_bucket(
    start: datetime, end: datetime, max_points: int, devices: int = 1, raw_seconds: float = RAW_ROW_SECONDS
) -> int:
    """The finest 'nice' epoch-aligned width for a chart over [start, end].

    Two limits: at most ``max_points`` buckets, and a bounded number of source rows to read for all
    ``devices`` together (raw rows estimated at one per ``raw_seconds``, the fastest device's sampling
    interval: at most RAW_ROW_BUDGET of them, or ROW_BUDGET rollup rows), so that any chart, a
    20-device week or a zoom into 1 s data included, is a bounded amount of work: when the finest
    width would read too many rows, the next width served by a coarser rollup is taken instead.
    """
    span = max((end - start).total_seconds(), 1.0)

    def buckets(width: int) -> int:
        return int(end.timestamp() // width) - int(start.timestamp() // width) + 1

    def rows(width: int) -> float:
        source = _source_for(width)[0] or max(raw_seconds, 0.001)
        return devices * (span / source + 1)

    def budget(width: int) -> int:
        return ROW_BUDGET if _source_for(width)[0] else RAW_ROW_BUDGET

    fitting = [width for width in NICE_BUCKETS if buckets(width) <= max_points]
    for width in fitting:
        if rows(width) <= budget(width):
            return width
    if fitting:  # over budget whatever the width: read as few rows as the points allow
        return fitting[-1]
    days = math.ceil(span / 86400 / max(max_points - 1, 1))
    width = max(days, 1) * 86400
    while buckets(width) > max_points:
        width += 86400
    return width


def _width_needs_interval(start: datetime, end: datetime, max_points: int, devices: int) -> bool:
    """Whether the devices' sampling interval can change ``choose_bucket``'s width for this chart.

    The width only grows with denser data, so when the densest and the sparsest give the same one
    (every width that fits is served by a rollup, e.g. a day in 1000 points) every interval does.
    """
    densest = choose_bucket(start, end, max_points, devices, 0.001)
    return densest != choose_bucket(start, end, max_points, devices, math.inf)


def series_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or utcnow()
    return (start or max(end - DEFAULT_SERIES_SPAN, EARLIEST)), end


async def series_many(
    session: AsyncSession,
    device_ids: list[uuid.UUID],
    start: datetime,
    end: datetime,
    max_points: int,
    sampling_interval: float | None = None,
) -> dict[uuid.UUID, Series]:
    """One chart series per device (a group chart) in one query; oldest point first.

    ``sampling_interval``: the fastest of the devices' intervals when the caller has them (it sizes
    the raw read); otherwise it is read, one more round trip, if the width depends on it (a zoom
    whose finest widths are read from raw rows) or raw rows are read bucket by bucket."""
    check_time(start, "start_time")
    check_time(end, "end_time")
    devices = len(device_ids)
    raw_seconds = None if sampling_interval is None else float(sampling_interval or RAW_ROW_SECONDS)
    if raw_seconds is None and _width_needs_interval(start, end, max_points, devices):
        raw_seconds = await fastest_interval(session, device_ids)
    width = choose_bucket(start, end, max_points, devices, raw_seconds or RAW_ROW_SECONDS)
    lo, hi = aligned(start, end, width)
    if lo is not None and hi is not None and _source_for(width)[0]:
        rows, source = await _series_rows(session, RawSampling(device_ids, raw_seconds, True), width, lo, hi)
    else:
        query = await build_bucket_query(session, device_ids, width, lo, hi, raw_seconds, bucketwise=True)
        ordered = typed(query, f"SELECT * FROM ({query.sql}) AS grouped ORDER BY tb")
        rows = list((await session.exec(ordered, params=query.params)).all())  # type: ignore[call-overload]  # sqlmodel's exec() stubs omit text()
        source = query.source
    result = {device_id: Series(device_id, width, source, []) for device_id in device_ids}
    for row in rows:
        result[row[0]].points.append(_bucket(row))
    return result


ROLLUP_ROW, STALE_MARK, GIVEN_UP = 0, 1, 2  # what a row of ``_series_rows``' first statement is


async def _series_rows(
    session: AsyncSession, sampling: RawSampling, width: int, lo: datetime, hi: datetime
) -> tuple[list[tuple], str]:  # type: ignore[type-arg]
    """A series' rows (device_id, tb, s, c, mn, mx) over [lo, hi) oldest first, and their source.

    ``build_bucket_query`` in as few round trips as it can: one statement returns the rollup's
    buckets, the skip scan's stale marks and the marks' count (``dirty_ranges_unless_many``) at
    once, so a chart whose rollups are current costs one query. Only when marks came back are raw
    rows read, in a second statement: the whole range when (nearly) all of it is stale, else the
    stale buckets alone, whose rollup rows are then dropped (a bucket comes from the rollup or from
    raw rows, never half and half).
    """
    dialect = db.dialect_of(session)
    device_ids = sampling.device_ids
    rollup_width, table = _source_for(width)
    cap = _marks_cap(device_ids, lo, hi, sampling.raw_seconds)
    rollup_bucket = (
        "time_bucket" if rollup_width == width else db.time_bucket_sql(dialect, "time_bucket", width)
    )
    gate = " AND (SELECT n FROM marked) < :cap" if cap is not None else ""
    parts = [
        f'SELECT device_id, {rollup_bucket} AS tb, sum("avg" * "count") AS s, sum("count") AS c, '
        f'min("min") AS mn, max("max") AS mx, {ROLLUP_ROW} AS kind FROM {table} WHERE device_id IN :ids '
        f"AND time_bucket >= :lo AND time_bucket < :hi{gate} GROUP BY 1, 2",
        f"SELECT device_id, m, NULL, NULL, NULL, NULL, {STALE_MARK} FROM hop WHERE m IS NOT NULL",
    ]
    if cap is not None:
        parts.append(f"SELECT NULL, NULL, NULL, NULL, NULL, NULL, {GIVEN_UP} FROM marked WHERE n >= :cap")
    ctes = rollups.skip_scan_ctes(dialect, width, True, True, cap is not None)
    statement = (
        text(f"WITH RECURSIVE {ctes} {' UNION ALL '.join(parts)} ORDER BY 7, 2")
        .bindparams(
            bindparam("ids", expanding=True, type_=Uuid()),
            bindparam("lo", type_=UTCDateTime()),
            bindparam("hi", type_=UTCDateTime()),
        )
        .columns(
            device_id=Uuid(), tb=UTCDateTime(), s=Float(), c=Integer(), mn=Float(), mx=Float(), kind=Integer()
        )
    )
    params: dict[str, object] = {"ids": device_ids, "lo": lo, "hi": hi}
    if cap is not None:
        params["cap"] = cap
    rows = list((await session.exec(statement, params=params)).all())  # type: ignore[call-overload]
    given_up = bool(rows) and rows[-1][6] == GIVEN_UP  # (sorted last; no hop and no rollup row then)
    marks = [(row[0], row[1]) for row in rows if row[6] == STALE_MARK]
    if not marks and not given_up:
        return rows, table
    stretches = [] if given_up else _clipped(rollups.stale_stretches(marks, width), lo, hi)
    if given_up or _covers(stretches, device_ids, lo, hi) or len(stretches) > MAX_DIRTY_RANGES:
        # (Nearly) everything stale: the raw rows alone, no rollup row kept.
        stretches, rows = [(device, lo, hi) for device in device_ids], []
        table = "readings"
    raw = await _raw_rows(session, sampling, width, stretches)
    kept = [row for row in rows if row[6] == ROLLUP_ROW and not _inside(row[0], row[1], stretches)]
    return sorted(kept + raw, key=lambda row: row[1]), table


async def _raw_rows(
    session: AsyncSession,
    sampling: RawSampling,
    width: int,
    stretches: list[tuple[uuid.UUID, datetime, datetime]],
) -> list[tuple]:  # type: ignore[type-arg]
    """The buckets of ``stretches`` aggregated from raw rows (``_raw_parts``)."""
    params: dict[str, object] = {}
    binds: list[BindParameter[object]] = []
    raw_bucket = db.time_bucket_sql(db.dialect_of(session), '"timestamp"', width)
    parts = await _raw_parts(session, width, raw_bucket, stretches, sampling, params, binds)
    query = BucketQuery(" UNION ALL ".join(parts), params, binds, "readings")
    return list((await session.exec(typed(query, query.sql), params=params)).all())  # type: ignore[call-overload]


def _inside(
    device: uuid.UUID, moment: datetime, stretches: list[tuple[uuid.UUID, datetime, datetime]]
) -> bool:
    return any(device == owner and first <= moment < last for owner, first, last in stretches)


async def series(
    session: AsyncSession,
    device_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    max_points: int = 1000,
) -> Series:
    """A chart series of at most ``max_points`` points, from the rollup that fits the range."""
    device = await get_device(session, device_id)
    if max_points < 1:
        raise Invalid("bad_max_points", field="max_points")
    begin, finish = series_range(start, end)
    if finish < begin:
        raise Invalid("end_before_start", field="end_time")
    found = await series_many(session, [device_id], begin, finish, max_points, device.sampling_interval)
    return found[device_id]
