"""CSV export streamed from a server-side cursor: constant memory, no row cap, newest first.

A plan (``device_plan``, ``group_plan``, ``devices_plan``) checks the request and fixes the query and
the file name while the caller can still answer 400/404; ``stream(plan)`` then opens its own
connection (the request's session is gone by the time the body is sent), fetches ``CHUNK_ROWS`` rows
at a time through a server-side cursor, and turns each chunk into CSV in a worker thread, so neither
memory nor event-loop stalls grow with the size of the range.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import Float, String, Uuid, bindparam, text
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms import db
from ddms.errors import Invalid, NotFound
from ddms.models import UTCDateTime, utcnow
from ddms.services import groups, readings

CHUNK_ROWS = 5000
RAW_HEADER = ["timestamp", "value", "unit"]
AGGREGATE_HEADER = ["time_bucket", "avg_value", "min_value", "max_value", "count", "unit"]
NAMED_HEADER = ["timestamp", "device_name", "value", "unit"]
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._-]")
_UNSAFE = re.compile(r"[^\w.-]")


@dataclass
class ExportPlan:
    """What ``stream`` runs: a statement, its parameters, the header and how to shape each row."""

    filename_base: str
    header: list[str]
    statement: Any
    params: dict[str, object]
    shape: str  # "raw", "aggregate" or "named"
    unit: str = ""
    created: datetime = field(default_factory=utcnow)

    @property
    def content_disposition(self) -> str:
        return content_disposition(self.filename_base, self.created)


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
) -> tuple[str, dict[str, object], list[Any]]:
    sql, params, binds = "", {}, []
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
        return ExportPlan(device.name, AGGREGATE_HEADER, statement, query.params, "aggregate", device.unit)
    where, params, binds = _range_sql('"timestamp"', start, end)
    statement = text(
        f'SELECT "timestamp", value FROM readings WHERE device_id = :device{where} ORDER BY "timestamp" DESC'
    ).bindparams(bindparam("device", type_=Uuid()), *binds)
    statement = statement.columns(timestamp=UTCDateTime(), value=Float())
    return ExportPlan(device.name, RAW_HEADER, statement, params | {"device": device_id}, "raw", device.unit)


def _named_plan(
    name: str, device_ids: list[uuid.UUID], start: datetime | None, end: datetime | None
) -> ExportPlan:
    where, params, binds = _range_sql('r."timestamp"', start, end)
    statement = text(
        'SELECT r."timestamp", d.name, r.value, d.unit FROM readings AS r '
        "JOIN devices AS d ON d.id = r.device_id "
        f'WHERE r.device_id IN :ids{where} ORDER BY r."timestamp" DESC, d.name'
    ).bindparams(bindparam("ids", expanding=True, type_=Uuid()), *binds)
    statement = statement.columns(timestamp=UTCDateTime(), name=String(), value=Float(), unit=String())
    return ExportPlan(
        name, NAMED_HEADER, statement, params | {"ids": device_ids or [uuid.UUID(int=0)]}, "named"
    )


async def group_plan(
    session: AsyncSession, group_id: uuid.UUID, start: datetime | None, end: datetime | None
) -> ExportPlan:
    group = await groups.get_group(session=session, group_id=group_id)
    members = await groups.group_devices(session=session, group_id=group_id)
    return _named_plan(group.name, [device.id for device in members], start, end)


def parse_device_ids(value: str | None) -> list[uuid.UUID]:
    """``a,b,c`` → UUIDs; none at all or a malformed one is Invalid (400)."""
    parts = [part.strip() for part in (value or "").split(",") if part.strip()]
    if not parts:
        raise Invalid("device_ids is required: a comma-separated list of device ids")
    try:
        return list(dict.fromkeys(uuid.UUID(part) for part in parts))
    except ValueError:
        raise Invalid("device_ids must be comma-separated device UUIDs") from None


async def devices_plan(
    session: AsyncSession, device_ids: Sequence[uuid.UUID], start: datetime | None, end: datetime | None
) -> ExportPlan:
    for device_id in device_ids:
        try:
            await readings.get_device(session, device_id)
        except NotFound:
            raise Invalid(f"Unknown device id: {device_id}") from None
    return _named_plan("devices", list(device_ids), start, end)


def _number(value: float) -> str:
    return repr(float(value))


def _format(rows: Sequence[Any], shape: str, unit: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if shape == "raw":
        writer.writerows((moment.isoformat(), _number(value), unit) for moment, value in rows)
    elif shape == "named":
        writer.writerows(
            (moment.isoformat(), name, _number(value), device_unit)
            for moment, name, value, device_unit in rows
        )
    else:
        writer.writerows(
            (
                row[1].isoformat(),
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
    csv.writer(buffer).writerow(plan.header)
    return buffer.getvalue().encode("utf-8")


async def stream(plan: ExportPlan, chunk_rows: int = CHUNK_ROWS) -> AsyncIterator[bytes]:
    """The CSV body: the header row, then one chunk of rows at a time from a server-side cursor."""
    yield header_bytes(plan)
    async with db.current().engine.connect() as conn:
        result = await conn.stream(plan.statement.execution_options(yield_per=chunk_rows), plan.params)
        async for rows in result.partitions(chunk_rows):
            yield await asyncio.to_thread(_format, rows, plan.shape, plan.unit)
