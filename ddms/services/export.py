"""CSV export streamed from a server-side cursor: constant memory, no row cap, newest first.

A plan (``device_plan``, ``group_plan``, ``devices_plan``) checks the request and fixes the query and
the file name while the caller can still answer 400/404; ``stream(plan)`` then opens its own
connection (the request's session is gone by the time the body is sent), fetches ``CHUNK_ROWS`` rows
at a time through a server-side cursor, and turns each chunk into CSV in a worker thread, so neither
memory nor event-loop stalls grow with the size of the range.

Device names and units are user data: a spreadsheet opening the file would run a cell such as
``=HYPERLINK(...)`` as a formula. ``csv_text`` neutralises them (OWASP "CSV injection"), once per
device when the plan is made; the query then selects those prepared texts, so the database never
formats a raw name or unit into the file, on SQLite and in PostgreSQL's ``COPY`` alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import re
import sqlite3
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import BindParameter, Float, String, Uuid, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import TextualSelect
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms import db
from ddms.errors import Invalid, NotFound
from ddms.models import Device, UTCDateTime, utcnow
from ddms.services import groups, readings

CHUNK_ROWS = 5000
RAW_HEADER = ["timestamp", "value", "unit"]
AGGREGATE_HEADER = ["time_bucket", "avg_value", "min_value", "max_value", "count", "unit"]
NAMED_HEADER = ["timestamp", "device_name", "value", "unit"]
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._-]")
_UNSAFE = re.compile(r"[^\w.-]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UTC_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_text(value: str | None) -> str:
    """A text cell that no spreadsheet evaluates: one starting with ``=``, ``+``, ``-``, ``@``, tab or
    carriage return gets a leading ``'`` (shown as text, the original after it), unless it is a plain
    number such as ``-3.5`` (a number is no formula, and must stay one)."""
    if not value:
        return ""
    if value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


@dataclass
class ExportPlan:
    """What ``stream`` runs: a statement, its parameters, the header and how to shape each row."""

    filename_base: str
    header: list[str]
    statement: TextualSelect
    params: dict[str, object]
    shape: str  # "rows" (ready to write) or "aggregate"
    unit: str = ""
    # Python's csv writer quotes a cell holding "\n" but not one holding a lone "\r" (with "\n" line
    # ends); a carriage return in a name or unit would then split the row in a reader. Such rare
    # plans quote every cell (the same cells once read; PostgreSQL's COPY quotes them by itself).
    quote_all: bool = False
    created: datetime = field(default_factory=utcnow)
    zone: ZoneInfo | None = None  # times in this zone (offset in each) instead of UTC
    bom: bool = False  # a UTF-8 byte order mark first: spreadsheets then read °C and CJK names right

    @property
    def content_disposition(self) -> str:
        return content_disposition(self.filename_base, self.created)


BOM = "\ufeff".encode()


def parse_zone(value: str | None) -> ZoneInfo | None:
    """An IANA time zone name (``Asia/Shanghai``); None or empty: UTC. Unknown names are Invalid."""
    if value is None or not value.strip():
        return None
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("bad_timezone", field="tz", params={"value": value}) from None


def with_options(plan: ExportPlan, tz: str | None, bom: bool) -> ExportPlan:
    """The plan writing times in the zone ``tz`` (checked now, while a 400 can still be answered)
    and starting with a byte order mark if ``bom``."""
    return replace(plan, zone=parse_zone(tz), bom=bom)


def _local(text: str, zone: ZoneInfo) -> str:
    """A UTC ISO text (as the database formats it) in ``zone``, with that zone's offset."""
    return datetime.fromisoformat(text).astimezone(zone).isoformat(timespec="microseconds")


def _localised(rows: Sequence[Any], zone: ZoneInfo) -> list[tuple[Any, ...]]:
    return [(_local(row[0], zone), *row[1:]) for row in rows]


def content_disposition(name: str, moment: datetime) -> str:
    """``attachment; filename=<name>_<YYYYMMDD_HHMMSS>.csv``, plus RFC 5987 ``filename*`` for non-ASCII."""
    stamp = moment.strftime("%Y%m%d_%H%M%S")
    ascii_name = _UNSAFE_ASCII.sub("_", name) or "export"
    value = f"attachment; filename={ascii_name}_{stamp}.csv"
    if not name.isascii():
        unicode_name = _UNSAFE.sub("_", name)
        value += f"; filename*=UTF-8''{quote(f'{unicode_name}_{stamp}.csv', safe='')}"
    return value


def _range_sql(
    column: str, start: datetime | None, end: datetime | None
) -> tuple[str, dict[str, object], list[BindParameter[Any]]]:
    sql = ""
    params: dict[str, object] = {}
    binds: list[BindParameter[Any]] = []
    if start is not None:
        sql += f" AND {column} >= :lo"
        params["lo"] = start
        binds.append(bindparam("lo", type_=UTCDateTime()))
    if end is not None:
        sql += f" AND {column} <= :hi"
        params["hi"] = end
        binds.append(bindparam("hi", type_=UTCDateTime()))
    return sql, params, binds


async def device_plan(
    session: AsyncSession,
    device_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    aggregate: int | None,
) -> ExportPlan:
    """One device (archived devices too), raw or as 1min/1hour/1day buckets."""
    device = await readings.get_device(session, device_id)
    if aggregate is not None:
        lo, hi = readings.aligned(start, end, aggregate)
        query = await readings.build_bucket_query(session, [device_id], aggregate, lo, hi)
        statement = readings.typed(query, f"SELECT * FROM ({query.sql}) AS grouped ORDER BY tb DESC")
        return ExportPlan(
            device.name,
            AGGREGATE_HEADER,
            statement,
            query.params,
            "aggregate",
            csv_text(device.unit),
            quote_all="\r" in device.unit,
        )
    where, params, binds = _range_sql('"timestamp"', start, end)
    iso = db.iso_text_sql(_dialect(session), '"timestamp"')
    raw = text(
        f"SELECT {iso} AS ts, value, :unit AS unit FROM readings WHERE device_id = :device{where} "
        'ORDER BY "timestamp" DESC'
    ).bindparams(bindparam("device", type_=Uuid()), bindparam("unit", type_=String()), *binds)
    statement = raw.columns(ts=String(), value=Float(), unit=String())
    params |= {"device": device_id, "unit": csv_text(device.unit)}
    return ExportPlan(
        device.name,
        RAW_HEADER,
        statement,
        params,
        "rows",
        csv_text(device.unit),
        quote_all="\r" in device.unit,
    )


def _dialect(session: AsyncSession) -> str:
    return db.dialect_of(session)


def _labels_sql(
    members: Sequence[Device],
) -> tuple[str, str, dict[str, object], list[BindParameter[Any]]]:
    """``CASE r.device_id WHEN ... END`` for each row's device name and unit, as ``csv_text`` made them."""
    if not members:
        return "''", "''", {}, []
    names: list[str] = []
    units: list[str] = []
    params: dict[str, object] = {}
    binds: list[BindParameter[Any]] = []
    for number, device in enumerate(members):
        names.append(f"WHEN :id{number} THEN :name{number}")
        units.append(f"WHEN :id{number} THEN :unit{number}")
        params |= {
            f"id{number}": device.id,
            f"name{number}": csv_text(device.name),
            f"unit{number}": csv_text(device.unit),
        }
        binds += [
            bindparam(f"id{number}", type_=Uuid()),
            bindparam(f"name{number}", type_=String()),
            bindparam(f"unit{number}", type_=String()),
        ]
    return f"CASE r.device_id {' '.join(names)} END", f"CASE r.device_id {' '.join(units)} END", params, binds


def _named_plan(
    dialect: str, name: str, members: Sequence[Device], start: datetime | None, end: datetime | None
) -> ExportPlan:
    column = 'r."timestamp"'
    where, params, binds = _range_sql(column, start, end)
    name_sql, unit_sql, label_params, label_binds = _labels_sql(members)
    raw = text(
        f"SELECT {db.iso_text_sql(dialect, column)} AS ts, {name_sql} AS name, r.value, {unit_sql} AS unit "
        f'FROM readings AS r WHERE r.device_id IN :ids{where} ORDER BY r."timestamp" DESC, name'
    ).bindparams(bindparam("ids", expanding=True, type_=Uuid()), *binds, *label_binds)
    statement = raw.columns(ts=String(), name=String(), value=Float(), unit=String())
    ids = [device.id for device in members] or [uuid.UUID(int=0)]
    quote_all = any("\r" in device.name or "\r" in device.unit for device in members)
    return ExportPlan(
        name, NAMED_HEADER, statement, params | label_params | {"ids": ids}, "rows", quote_all=quote_all
    )


async def group_plan(
    session: AsyncSession, group_id: uuid.UUID, start: datetime | None, end: datetime | None
) -> ExportPlan:
    group = await groups.get_group(session=session, group_id=group_id)
    members = await groups.group_devices(session=session, group_id=group_id)
    return _named_plan(_dialect(session), group.name, members, start, end)


def parse_device_ids(value: str | None) -> list[uuid.UUID]:
    """``a,b,c`` → UUIDs; none at all or a malformed one is Invalid (400)."""
    parts = [part.strip() for part in (value or "").split(",") if part.strip()]
    if not parts:
        raise Invalid("device_ids_required", field="device_ids")
    try:
        return list(dict.fromkeys(uuid.UUID(part) for part in parts))
    except ValueError:
        raise Invalid("device_ids_malformed", field="device_ids") from None


async def devices_plan(
    session: AsyncSession, device_ids: Sequence[uuid.UUID], start: datetime | None, end: datetime | None
) -> ExportPlan:
    members = []
    for device_id in device_ids:
        try:
            members.append(await readings.get_device(session, device_id))
        except NotFound:
            raise Invalid("unknown_device", field="device_ids", params={"id": str(device_id)}) from None
    return _named_plan(_dialect(session), "devices", members, start, end)


def _number(value: float) -> str:
    return repr(float(value))


def _format(rows: Sequence[Any], plan: ExportPlan) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, lineterminator="\n", quoting=csv.QUOTE_ALL if plan.quote_all else csv.QUOTE_MINIMAL
    )
    unit, zone = plan.unit, plan.zone
    if plan.shape == "rows":  # in column order, times ISO text in UTC (formatted by the database)
        writer.writerows(rows if zone is None else _localised(rows, zone))
    else:
        writer.writerows(
            (
                row[1].astimezone(zone).isoformat() if zone is not None else row[1].isoformat(),
                _number(float(row[2]) / float(row[3])),
                _number(row[4]),
                _number(row[5]),
                int(row[3]),
                unit,
            )
            for row in rows
        )
    return buffer.getvalue().encode("utf-8")


def header_bytes(plan: ExportPlan) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(plan.header)
    return buffer.getvalue().encode("utf-8")


async def stream(plan: ExportPlan, chunk_rows: int = CHUNK_ROWS) -> AsyncIterator[bytes]:
    """The CSV body: the header row, then the rows a chunk at a time.

    PostgreSQL formats ready rows itself (``COPY (query) TO STDOUT WITH CSV``, same quoting rules);
    elsewhere a server-side cursor feeds Python's csv writer. Either way at most a few chunks are
    held in memory. Times in another zone than UTC are converted in Python: where the rows are
    formatted, or in COPY's lines (the time is each line's first field, ISO text that CSV never quotes).
    """
    yield (BOM if plan.bom else b"") + header_bytes(plan)
    async with db.current().engine.connect() as conn:
        if db.is_postgres(conn) and plan.shape == "rows":
            # closed here, before the connection is given back: a COPY cut short must be cleaned up first
            async with contextlib.aclosing(_copy_out(conn, plan)) as copied:
                source = copied if plan.zone is None else _local_lines(copied, plan.zone)
                async for chunk in source:
                    yield chunk
            return
        path = conn.engine.url.database
        if not db.is_postgres(conn) and plan.shape == "rows" and path and path != ":memory:":
            async for chunk in _sqlite_thread(conn, plan, path, chunk_rows):
                yield chunk
            return
        result = await conn.stream(plan.statement.execution_options(yield_per=chunk_rows), plan.params)
        async for rows in result.partitions(chunk_rows):
            yield await asyncio.to_thread(_format, rows, plan)


def _positional(conn: AsyncConnection, plan: ExportPlan) -> tuple[str, list[object]]:
    """The plan's statement in the driver's positional form, with its bind values processed."""
    compiled = plan.statement.compile(dialect=conn.dialect)
    expanded = compiled.construct_expanded_state(plan.params)
    # expanded.processors only covers the expanded IN lists; the rest are the compiled binds' own.
    # Tuple binds would carry a sequence of processors; this plan has none, hence callable().
    processors = {**compiled._bind_processors, **expanded.processors}
    args = []
    for name, value in zip(expanded.positiontup or [], expanded.positional_parameters, strict=True):
        processor = processors.get(name)
        args.append(processor(value) if callable(processor) else value)
    return expanded.statement, args


async def _sqlite_thread(
    conn: AsyncConnection, plan: ExportPlan, path: str, chunk_rows: int, in_flight: int = 8
) -> AsyncIterator[bytes]:
    """SQLite: fetch and format in one dedicated thread with its own connection (a reader never
    blocks the WAL writer), handing finished chunks to the loop with back-pressure."""
    sql, args = _positional(conn, plan)
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
    slots, stop = threading.Semaphore(in_flight), threading.Event()

    def work() -> None:
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=10)) as reader:
                reader.execute("PRAGMA query_only=ON")
                cursor = reader.execute(sql, args)
                while not stop.is_set() and (rows := cursor.fetchmany(chunk_rows)):
                    body = _format(rows, plan)
                    slots.acquire()
                    loop.call_soon_threadsafe(chunks.put_nowait, body)
        except BaseException as exc:  # handed to the consumer, which raises it
            loop.call_soon_threadsafe(chunks.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(chunks.put_nowait, None)

    thread = threading.Thread(target=work, name="ddms-export", daemon=True)
    thread.start()
    try:
        while (item := await chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            slots.release()
            yield item
    finally:
        stop.set()
        slots.release()  # wake the thread if it waits for a slot
        await asyncio.to_thread(thread.join)


async def _local_lines(chunks: AsyncIterator[bytes], zone: ZoneInfo) -> AsyncIterator[bytes]:
    """COPY's CSV with each row's leading UTC time in ``zone``. A line cut between two chunks is held
    back until its end arrives, and a line inside a quoted cell (a name holding a newline) is left as
    it is: the count of quotes so far tells, as a CSV reader's would."""
    rest, inside = b"", False
    async for chunk in chunks:
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        if cut:
            body, inside = await asyncio.to_thread(_local_chunk, data[:cut], zone, inside)
            yield body
    if rest:
        yield _local_chunk(rest, zone, inside)[0]


def _local_chunk(data: bytes, zone: ZoneInfo, inside: bool) -> tuple[bytes, bool]:
    """``data`` (whole lines) with the rows' times in ``zone``; whether it ends inside a quoted cell."""
    lines = data.decode("utf-8").split("\n")
    for index, line in enumerate(lines):
        if not inside:
            stamp, comma, tail = line.partition(",")
            if comma and _UTC_TEXT.fullmatch(stamp):
                lines[index] = _local(stamp, zone) + comma + tail
        inside ^= line.count('"') % 2 == 1
    return "\n".join(lines).encode("utf-8"), inside


async def _copy_out(
    conn: AsyncConnection, plan: ExportPlan, in_flight: int = 8
) -> AsyncGenerator[bytes, None]:
    """Stream ``COPY ... TO STDOUT`` through asyncpg with back-pressure (at most ``in_flight`` chunks).

    The SQLAlchemy statement is compiled to asyncpg's positional form, so both paths share one query.
    """
    sql, args = _positional(conn, plan)
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None:  # only a closed pool entry has none; ours is checked out
        raise RuntimeError("the asyncpg connection is gone")
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
    slots = asyncio.Semaphore(in_flight)

    async def sink(data: bytes) -> None:
        await slots.acquire()  # waits while the client is slower than the database
        chunks.put_nowait(bytes(data))

    async def run() -> None:
        try:
            await driver.copy_from_query(sql, *args, output=sink, format="csv")
        finally:
            chunks.put_nowait(None)

    task = asyncio.create_task(run())
    finished = False
    try:
        while (chunk := await chunks.get()) is not None:
            slots.release()
            yield chunk
        await task  # raises if COPY failed
        finished = True
    finally:
        if not finished:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await conn.invalidate()  # a COPY cut short leaves the connection unusable
