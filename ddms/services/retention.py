"""Retention: readings older than each device's ``retention_days`` are removed, without long locks.

Every device counts, archived ones too (deleted with keep_data: their readings stay exportable until
their own retention passes). Deletes go in batches of ``batch_rows`` rows, one short transaction
each, oldest first, using the (device_id, timestamp) index: the batch's upper bound is the
timestamp of its last row, so each statement deletes exactly one batch.

On TimescaleDB whole chunks older than the *longest* retention are dropped first (every device in
such a chunk allows it), their readings counted per device for the report; the batched deletes then
handle devices with shorter retention (deleting from compressed chunks works, only slower).

The rollup tables follow (on every backend): buckets entirely before a device's cutoff are
deleted and the hour holding the cutoff is marked stale, so the next refresh recomputes the partial
buckets from the rows that remain.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, TextClause, Uuid, bindparam, text

from ddms import db
from ddms.models import UTCDateTime, utcnow
from ddms.services import alarms, notifications, rollups

logger = logging.getLogger(__name__)

BATCH_ROWS = 5000


@dataclass(frozen=True, slots=True)
class RetentionReport:
    devices: int
    rows_deleted: int
    chunks_dropped: int


def _typed(sql: str) -> TextClause:
    return text(sql).bindparams(bindparam("device", type_=Uuid()), bindparam("cutoff", type_=UTCDateTime()))


async def _device_retention() -> list[tuple[uuid.UUID, int]]:
    statement = text("SELECT id, retention_days FROM devices").columns(id=Uuid(), retention_days=Integer())
    async with db.session_scope() as session:
        return [(row[0], int(row[1])) for row in (await session.exec(statement)).all()]  # type: ignore[call-overload]


async def _drop_chunks(oldest_allowed: datetime) -> tuple[int, dict[uuid.UUID, int]]:
    """TimescaleDB: drop every chunk that ends before the longest retention's cutoff.

    Returns the chunks dropped and, per device, the readings they held: counted in the same
    transaction, before the drop, so the report and the log include them. ``drop_chunks`` drops
    the chunks whose range ends at or before the cutoff; chunks do not overlap, so the readings
    they held are exactly those before the latest such end.
    """
    cutoff = {"cutoff": oldest_allowed}
    boundary_sql = text(
        "SELECT max(range_end) FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'readings' AND hypertable_schema = current_schema() AND range_end <= :cutoff"
    ).bindparams(bindparam("cutoff", type_=UTCDateTime()))
    count_sql = (
        text('SELECT device_id, count(*) FROM readings WHERE "timestamp" < :boundary GROUP BY device_id')
        .bindparams(bindparam("boundary", type_=UTCDateTime()))
        .columns(device_id=Uuid(), n=Integer())
    )
    drop_sql = text("SELECT count(*) FROM drop_chunks('readings', older_than => :cutoff)").bindparams(
        bindparam("cutoff", type_=UTCDateTime())
    )
    async with db.session_scope() as session:
        await db.serialize(session, "retention-drop-chunks")
        boundary = (await session.exec(boundary_sql, params=cutoff)).scalar()  # type: ignore[call-overload]
        if boundary is None:
            return 0, {}
        rows = (await session.exec(count_sql, params={"boundary": boundary})).all()  # type: ignore[call-overload]
        dropped = (await session.exec(drop_sql, params=cutoff)).scalar()  # type: ignore[call-overload]
        await session.commit()
    return int(dropped or 0), {device_id: int(n) for device_id, n in rows}


async def _delete_device_rows(device_id: uuid.UUID, cutoff: datetime, batch_rows: int) -> int:
    """Delete one device's rows older than ``cutoff``, ``batch_rows`` per transaction."""
    boundary_sql = _typed(
        'SELECT "timestamp" FROM readings WHERE device_id = :device AND "timestamp" < :cutoff '
        'ORDER BY "timestamp" LIMIT 1 OFFSET :skip'
    ).columns(timestamp=UTCDateTime())
    upto_sql = _typed(
        'DELETE FROM readings WHERE device_id = :device AND "timestamp" < :cutoff AND "timestamp" <= :upto'
    ).bindparams(bindparam("upto", type_=UTCDateTime()))
    rest_sql = _typed('DELETE FROM readings WHERE device_id = :device AND "timestamp" < :cutoff')
    params: dict[str, object] = {"device": device_id, "cutoff": cutoff}
    deleted = 0
    while True:
        async with db.session_scope() as session:
            upto = (await session.exec(boundary_sql, params=params | {"skip": batch_rows - 1})).scalar()  # type: ignore[call-overload]
            if upto is None:
                result = await session.exec(rest_sql, params=params)  # type: ignore[call-overload]  # sqlmodel's exec() stubs omit text()
            else:
                result = await session.exec(upto_sql, params=params | {"upto": upto})  # type: ignore[call-overload]  # sqlmodel's exec() stubs omit text()
            deleted += max(result.rowcount or 0, 0)
            await session.commit()
        if upto is None:
            return deleted
        await asyncio.sleep(0)  # other tasks (the writer, requests) get the database in between


async def _trim_rollups(device_id: uuid.UUID, cutoff: datetime) -> None:
    async with db.session_scope() as session:
        # The device's rollup lock, then the dirty row, then the rollups: a refresh's order.
        await rollups.lock_device(session, device_id)
        await rollups.mark_dirty(session, device_id, cutoff)
        for table, width in rollups.ROLLUP_SECONDS.items():
            await session.exec(
                _typed(  # type: ignore[call-overload]
                    f"DELETE FROM {table} WHERE device_id = :device AND time_bucket < :cutoff"
                ),
                params={"device": device_id, "cutoff": rollups.floor_time(cutoff, width)},
            )
        await session.commit()


async def apply_retention(now: datetime | None = None, batch_rows: int = BATCH_ROWS) -> RetentionReport:
    """Remove what every device's retention no longer keeps; returns what was done."""
    now = now or utcnow()
    devices = await _device_retention()
    chunks = 0
    in_chunks: dict[uuid.UUID, int] = {}
    if devices:
        async with db.session_scope() as session:
            hypertable = await db.is_timescale(session)
        if hypertable:
            chunks, in_chunks = await _drop_chunks(now - timedelta(days=max(days for _, days in devices)))
    total = 0
    for device_id, days in devices:
        cutoff = now - timedelta(days=days)
        removed = in_chunks.get(device_id, 0) + await _delete_device_rows(device_id, cutoff, batch_rows)
        if removed:
            await _trim_rollups(device_id, cutoff)
            logger.info(
                "retention removed %d readings of device %s older than %s", removed, device_id, cutoff
            )
        total += removed
    return RetentionReport(len(devices), total, chunks)


async def apply_alarm_retention(
    *, alarm_days: int, notification_days: int, now: datetime | None = None
) -> tuple[int, int, int]:
    """Purge cleared alarms and alarm history older than ``alarm_days`` (ALARM_RETENTION_DAYS) and
    notifications older than ``notification_days`` (NOTIFICATION_RETENTION_DAYS).

    Returns (alarms, events, notifications) removed; active alarms are never removed."""
    now = now or utcnow()
    async with db.session_scope() as session:
        removed, events = await alarms.purge_before(session=session, cutoff=now - timedelta(days=alarm_days))
        notes = await notifications.purge_before(
            session=session, cutoff=now - timedelta(days=notification_days)
        )
    if removed or events or notes:
        logger.info(
            "retention removed %d cleared alarm(s), %d alarm event(s), %d notification(s)",
            removed,
            events,
            notes,
        )
    return removed, events, notes
