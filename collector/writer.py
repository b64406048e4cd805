"""The batched writer: readings and device statuses go to the database in bulk, off the poll path.

Pollers only append to an in-memory buffer (O(1), no await). A background task writes the buffer
at least once a second, or as soon as ``batch_size`` rows wait: one ``executemany`` on SQLite, one
``COPY`` into a per-connection staging table plus one ``INSERT ... SELECT`` on PostgreSQL. The
insert skips rows that are already stored and rows of devices deleted meanwhile, so a batch that
is retried after a failure can never store a reading twice nor be rejected forever.

When the database is unreachable the rows stay in the buffer (bounded by ``buffer_limit``; beyond
that the oldest are dropped, counted and logged) and are written when it comes back. Rows leave
the buffer only after their transaction has committed.

Alarm changes (``alarm_changes``) travel the same way: queued in order with the readings, written
in the same flush (one transaction per flush: alarm rows, their history, the notifications), kept
in the buffer while the database is away and written in order when it returns; only after commit
are they published on the bus (``AlarmNotice``s and notifications).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import deque
from datetime import datetime
from itertools import islice

from sqlalchemy import Uuid, bindparam, text

from ddms import db, metrics
from ddms.bus import Bus
from ddms.models import UTCDateTime
from ddms.services import alarms
from ddms.services.alarm_rules import UPDATED, Change
from ddms.services.live import StatusUpdate, store_statuses

logger = logging.getLogger(__name__)

Row = tuple[int, uuid.UUID, datetime, float]  # (sequence number, device, time, value)
MIN_FLUSH_GAP = 0.5
"""Seconds between two flushes at least: a burst of alarm transitions is one batch, not one each."""

_SQLITE_INSERT = text(
    "INSERT INTO readings (timestamp, device_id, value) SELECT :timestamp, :device_id, :value "
    "WHERE EXISTS (SELECT 1 FROM devices WHERE id = :device_id) ON CONFLICT DO NOTHING"
).bindparams(bindparam("timestamp", type_=UTCDateTime()), bindparam("device_id", type_=Uuid()))
_PG_STAGE = text(
    "CREATE TEMP TABLE IF NOT EXISTS readings_stage "
    "(timestamp timestamptz, device_id uuid, value double precision) ON COMMIT DELETE ROWS"
)
_PG_MERGE = text(
    "INSERT INTO readings (timestamp, device_id, value) SELECT s.timestamp, s.device_id, s.value "
    "FROM readings_stage s WHERE EXISTS (SELECT 1 FROM devices d WHERE d.id = s.device_id) "
    "ON CONFLICT DO NOTHING"
)


async def insert_readings(database: db.Database, rows: list[Row]) -> None:
    """Store ``rows`` in one transaction (executemany on SQLite, COPY on PostgreSQL)."""
    async with database.engine.begin() as conn:
        if database.is_postgres:
            await conn.execute(_PG_STAGE)
            raw = await conn.get_raw_connection()
            await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                "readings_stage",
                records=[(ts, device_id, value) for _, device_id, ts, value in rows],
                columns=["timestamp", "device_id", "value"],
            )
            await conn.execute(_PG_MERGE)
        else:
            await conn.execute(
                _SQLITE_INSERT,
                [
                    {"timestamp": ts, "device_id": device_id, "value": value}
                    for _, device_id, ts, value in rows
                ],
            )


class Writer:
    """Buffers readings and statuses; writes them in batches from one background task."""

    def __init__(
        self,
        bus: Bus,
        *,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        buffer_limit: int = 100_000,
        timeout: float = 15.0,
    ) -> None:
        self.bus = bus
        self.batch_size, self.flush_interval = batch_size, flush_interval
        self.buffer_limit, self.timeout = max(buffer_limit, batch_size), timeout
        self.rows: deque[Row] = deque()
        self.statuses: dict[uuid.UUID, StatusUpdate] = {}
        self.changes: list[Change] = []
        self.changes_dropped = 0
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self._seq = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._outage_since: float | None = None
        self._last_drop_log = 0.0
        self._flushed = asyncio.Event()
        self._last_flush = -math.inf
        self._full = False
        self._stopping = False

    # --- the poll path (synchronous, O(1)) ------------------------------------------------------
    def add(self, device_id: uuid.UUID, timestamp: datetime, value: float) -> None:
        if len(self.rows) >= self.buffer_limit:
            self.rows.popleft()
            self.dropped += 1
            metrics.READINGS_DROPPED.inc()
            now = time.monotonic()
            if now - self._last_drop_log > 10:
                self._last_drop_log = now
                logger.error(
                    "write buffer full (%d rows): dropping the oldest readings (%d dropped so far)",
                    self.buffer_limit,
                    self.dropped,
                )
        self._seq += 1
        self.rows.append((self._seq, device_id, timestamp, value))
        if len(self.rows) >= self.batch_size:
            self._full = True
            self._wake.set()

    def status(
        self, device_id: uuid.UUID, status: str, error: str | None, last_reading_at: datetime | None
    ) -> None:
        """Queue a device status; only the newest per device is written (last_reading_at kept)."""
        previous = self.statuses.get(device_id)
        if last_reading_at is None and previous is not None:
            last_reading_at = previous.last_reading_at
        self.statuses[device_id] = StatusUpdate(device_id, status, error, last_reading_at)

    def alarm_changes(self, changes: tuple[Change, ...]) -> None:
        """Queue alarm changes (in the order they happened) for the next flush."""
        self.changes.extend(changes)
        if len(self.changes) > self.buffer_limit:
            excess = len(self.changes) - self.buffer_limit
            del self.changes[:excess]
            self.changes_dropped += excess
            logger.error("write buffer full: dropped %d alarm changes (oldest first)", excess)
        if any(change.transition != UPDATED for change in changes):
            self._wake.set()  # people wait for transitions: write them soon (a new peak can wait)

    # --- the background task ---------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="reading writer")

    async def stop(self, final_flush_timeout: float = 10.0) -> None:
        """Stop the task, then try once more (bounded) to write what is left.

        A flush in progress is let finish first: cancelled inside a transaction it could leave the
        SQLite write lock held until the connection is collected, and the last flush would wait for it.
        """
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), final_flush_timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            async with asyncio.timeout(final_flush_timeout):
                await self.flush()
        except Exception as exc:  # the process is stopping; say what is lost
            logger.error(
                "writer stopped with %d unwritten readings and %d alarm changes: %s",
                len(self.rows),
                len(self.changes),
                type(exc).__name__,
            )

    async def _run(self) -> None:
        backoff = 0.0
        next_full = time.monotonic() + self.flush_interval
        while True:
            if backoff:  # the database is failing: retry on a timer, not on every full batch
                await asyncio.sleep(backoff)
                full = True
            else:
                try:
                    async with asyncio.timeout(max(0.0, next_full - time.monotonic())):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                full = self._full or time.monotonic() >= next_full
            if self._stopping:
                return
            gap = self._last_flush + MIN_FLUSH_GAP - time.monotonic()
            if gap > 0:
                await asyncio.sleep(gap)
            self._wake.clear()
            self._full = False
            self._last_flush = time.monotonic()
            if not full:  # woken by alarm transitions: those now, the readings on their schedule
                try:
                    await self._flush_changes()
                except Exception as exc:
                    self.failures += 1
                    metrics.WRITER_FAILURES.inc()
                    backoff = 0.5
                    self._report_failure(exc)
                continue
            next_full = time.monotonic() + self.flush_interval
            metrics.WRITER_BUFFER.set(len(self.rows))
            try:
                await self.flush()
                backoff = 0.0
            except Exception as exc:
                self.failures += 1
                metrics.WRITER_FAILURES.inc()
                backoff = min(5.0, max(0.5, backoff * 2))
                self._report_failure(exc)

    def _report_failure(self, exc: Exception) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            kind = "unavailable" if db.is_outage(exc) else "failing"
            logger.error(
                "database %s (%s): keeping readings in memory (%d buffered, limit %d)",
                kind,
                type(exc).__name__,
                len(self.rows),
                self.buffer_limit,
            )
            if not db.is_outage(exc):
                logger.error("write failure detail", exc_info=exc)

    async def flush(self) -> int:
        """Write every buffered row and status now; returns the rows written. Raises on failure."""
        statuses = self.statuses
        if statuses:
            self.statuses = {}
            try:
                async with asyncio.timeout(self.timeout), db.session_scope() as session:
                    await store_statuses(session=session, updates=list(statuses.values()))
            except BaseException:
                # Put them back unless a newer status for the device arrived meanwhile.
                self.statuses = statuses | self.statuses
                raise
        await self._flush_changes()
        written = 0
        while self.rows:
            batch = list(islice(self.rows, self.batch_size))
            started = time.perf_counter()
            async with asyncio.timeout(self.timeout):
                await insert_readings(db.current(), batch)
            metrics.WRITER_FLUSH_SECONDS.observe(time.perf_counter() - started)
            last = batch[-1][0]
            while self.rows and self.rows[0][0] <= last:  # rows dropped meanwhile are already gone
                self.rows.popleft()
            written += len(batch)
            self.written += len(batch)
            metrics.READINGS_WRITTEN.inc(len(batch))
        metrics.WRITER_BUFFER.set(len(self.rows))
        if self._outage_since is not None:
            logger.warning(
                "database writes work again after %.1f s; buffered readings written",
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None
        self._flushed.set()
        self._flushed = asyncio.Event()
        return written

    async def _flush_changes(self) -> None:
        """Store the queued alarm changes in one transaction, then publish them."""
        changes = self.changes
        if not changes:
            return
        self.changes = []
        try:
            async with asyncio.timeout(self.timeout), db.session_scope() as session:
                notices, items = await alarms.store_changes(session=session, changes=changes)
                await session.commit()
        except Exception as exc:
            if not db.is_outage(exc):
                # A batch the database refuses for good must not block the readings behind it.
                self.changes_dropped += len(changes)
                logger.exception("alarm changes refused by the database: %d dropped", len(changes))
                return
            self.changes = changes + self.changes  # back in front, in order
            raise
        except BaseException:
            self.changes = changes + self.changes
            raise
        for notice in notices:
            metrics.ALARM_TRANSITIONS.labels(kind=notice.alarm.kind, transition=notice.transition).inc()
        if notices:
            self.bus.alarm_notices(notices)
        if items:
            self.bus.notifications(items)

    async def wait_flushed(self, within: float) -> None:
        """Wait until the next successful flush (tests and benchmarks)."""
        async with asyncio.timeout(within):
            await self._flushed.wait()
