"""The batched writer: readings and device statuses go to the database in bulk, off the poll path.

Pollers only append to an in-memory buffer (O(1), no await). A background task writes the buffer
at least once a second, or as soon as ``batch_size`` rows wait: one ``executemany`` on SQLite, one
``COPY`` into a per-connection staging table plus one ``INSERT ... SELECT`` on PostgreSQL. The
insert skips rows that are already stored and rows of devices deleted meanwhile, so a batch that
is retried after a failure can never store a reading twice nor be rejected forever.

When a flush fails (the database is away) the buffer goes to the durable spool
(``collector/spool.py``, a SQLite file in the data directory, bounded by bytes) and keeps going
there every ``flush_interval`` while the outage lasts, so a kill -9 loses at most the last second.
Every flush first replays the spool, oldest chunk first, and deletes a chunk only after its
transaction committed; a replay after a crash between commit and delete stores nothing twice
(readings skip stored (device, timestamp); alarm transitions skip stored (alarm, transition, at)).
On start-up the spool left by the previous process is replayed the same way. Without a spool (or
when the disk refuses) rows stay in the buffer (bounded by ``buffer_limit``; beyond that the
oldest are dropped, counted exactly and logged). Rows leave the buffer only after their
transaction has committed or their spool chunk has.

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
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from sqlalchemy import Uuid, bindparam, text

from collector.spool import Spool
from ddms import db, metrics
from ddms.bus import Bus
from ddms.models import UTCDateTime
from ddms.schemas.system import WriterHealth
from ddms.services import alarms
from ddms.services.alarm_rules import UPDATED, Change
from ddms.services.live import StatusUpdate, store_statuses

logger = logging.getLogger(__name__)

Row = tuple[int, uuid.UUID, datetime, float]  # (sequence number, device, time, value)
MIN_FLUSH_GAP = 0.5
FAILING_AFTER = 5.0
"""Seconds of failed writes before health says ``failing`` (503): a lock blip is ``degraded``."""
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
        spool_path: Path | None = None,
        spool_max_bytes: int = 1 << 30,
        failing_after: float = FAILING_AFTER,
    ) -> None:
        self.bus = bus
        self.batch_size, self.flush_interval = batch_size, flush_interval
        self.buffer_limit, self.timeout = max(buffer_limit, batch_size), timeout
        self.spool_path, self.spool_max_bytes = spool_path, spool_max_bytes
        self.failing_after = failing_after
        self.spool: Spool | None = None
        self.rows: deque[Row] = deque()
        self.statuses: dict[uuid.UUID, StatusUpdate] = {}
        self.changes: list[Change] = []
        self.changes_dropped = 0
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self.last_write_at: datetime | None = None
        self.failing_since: datetime | None = None
        self._seq = 0
        self._inflight = 0  # the last sequence number of the batch being written or spooled
        self._dropped_inflight = 0  # popped from a full buffer while in flight: lost only if it fails
        self._spool_dropped = (0, 0)
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
            seq = self.rows.popleft()[0]
            if seq <= self._inflight:
                self._dropped_inflight += 1
            else:
                self._count_dropped(1)
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

    def _count_dropped(self, count: int) -> None:
        self.dropped += count
        metrics.READINGS_DROPPED.inc(count)
        metrics.WRITER_DROPPED.labels(what="readings").inc(count)

    def _settle(self, stored: bool) -> None:
        """The batch in flight is stored (or not): rows a full buffer popped meanwhile follow it."""
        if not stored and self._dropped_inflight:
            self._count_dropped(self._dropped_inflight)
        self._dropped_inflight = 0
        self._inflight = 0

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
            metrics.WRITER_DROPPED.labels(what="alarm_changes").inc(excess)
            logger.error("write buffer full: dropped %d alarm changes (oldest first)", excess)
        if any(change.transition != UPDATED for change in changes):
            self._wake.set()  # people wait for transitions: write them soon (a new peak can wait)

    # --- health -----------------------------------------------------------------------------------
    def health(self) -> WriterHealth:
        """What the health check and the banner show; cheap (no I/O)."""
        now = time.monotonic()
        spool_rows = self.spool.rows if self.spool is not None else 0
        spool_bytes = self.spool.bytes if self.spool is not None else 0
        oldest: float | None = None
        if self.spool is not None and self.spool.oldest is not None:
            oldest = self.spool.oldest
        if self.rows:
            first = self.rows[0][2].timestamp()
            oldest = first if oldest is None else min(oldest, first)
        if self._outage_since is not None and now - self._outage_since >= self.failing_after:
            state = "failing"
        elif self._outage_since is not None or spool_rows or spool_bytes:
            state = "degraded"
        else:
            state = "ok"
        return WriterHealth(
            writer=state,
            buffer_rows=len(self.rows),
            spool_rows=spool_rows,
            spool_bytes=spool_bytes,
            dropped=self.dropped,
            oldest_unwritten_seconds=None if oldest is None else max(0.0, time.time() - oldest),
            last_write_at=self.last_write_at,
            failing_since=self.failing_since if state == "failing" else None,
        )

    def _gauges(self) -> None:
        metrics.WRITER_BUFFER.set(len(self.rows))
        if self.spool is not None:
            metrics.WRITER_SPOOL_ROWS.set(self.spool.rows)
            metrics.WRITER_SPOOL_BYTES.set(self.spool.bytes)
            rows, changes = self.spool.dropped_rows, self.spool.dropped_changes
            before_rows, before_changes = self._spool_dropped
            if rows > before_rows:
                self._count_dropped(rows - before_rows)
            if changes > before_changes:
                self.changes_dropped += changes - before_changes
                metrics.WRITER_DROPPED.labels(what="alarm_changes").inc(changes - before_changes)
            if (rows, changes) != self._spool_dropped:
                logger.error(
                    "spool full (%d bytes): dropped the oldest, %d readings and %d alarm changes so far",
                    self.spool_max_bytes,
                    rows,
                    changes,
                )
            self._spool_dropped = (rows, changes)

    # --- the background task ---------------------------------------------------------------------
    async def start(self) -> None:
        await self.open_spool()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="reading writer")

    async def open_spool(self) -> None:
        """Open the spool (what a previous process left is written first); memory only if unusable."""
        if self.spool_path is None or self.spool is not None:
            return
        try:
            self.spool = await asyncio.to_thread(Spool, self.spool_path, self.spool_max_bytes)
        except Exception:
            logger.exception("spool %s unusable: outages are buffered in memory only", self.spool_path)
            return
        if self.spool.bytes:
            logger.warning(
                "spool holds %d readings from before the restart: writing them first", self.spool.rows
            )
            self._full = True
            self._wake.set()
        self._gauges()

    async def stop(self, final_flush_timeout: float = 10.0) -> None:
        """Stop the task, then try once more (bounded) to write what is left; spool what is not.

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
        except Exception as exc:  # the process is stopping: keep on disk what the database refused
            spooled = await self.spill()
            if spooled:
                logger.warning(
                    "writer stopped during a database outage (%s): %d readings wait in the spool",
                    type(exc).__name__,
                    self.spool.rows if self.spool is not None else 0,
                )
            else:
                logger.error(
                    "writer stopped with %d unwritten readings and %d alarm changes: %s",
                    len(self.rows),
                    len(self.changes),
                    type(exc).__name__,
                )
        if self.spool is not None:
            spool, self.spool = self.spool, None
            self._gauges()
            await asyncio.to_thread(spool.close)

    async def _run(self) -> None:
        backoff = 0.0
        next_attempt = 0.0
        next_full = time.monotonic() + self.flush_interval
        while True:
            if backoff:  # outage: spool the buffer every interval, retry the database on a timer
                await asyncio.sleep(max(0.0, min(self.flush_interval, next_attempt - time.monotonic())))
                if self._stopping:
                    return
                if time.monotonic() < next_attempt:
                    await self.spill()
                    self._gauges()
                    continue
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
            self._gauges()
            if not full:  # woken by alarm transitions: those now, the readings on their schedule
                try:
                    await self._flush_changes()
                except Exception as exc:
                    self._failed(exc)
                    await self.spill()
                    backoff = 0.5
                    next_attempt = time.monotonic() + backoff
                continue
            next_full = time.monotonic() + self.flush_interval
            try:
                await self.flush()
                backoff = 0.0
            except Exception as exc:
                self._failed(exc)
                await self.spill()
                backoff = min(5.0, max(0.5, backoff * 2))
                next_attempt = time.monotonic() + backoff
            self._gauges()

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        metrics.WRITER_FAILURES.inc()
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            self.failing_since = datetime.now(UTC)
            kind = "unavailable" if db.is_outage(exc) else "failing"
            # Nothing is lost while the spool takes the rows (a warning); in memory only, it will be.
            logger.log(
                logging.WARNING if self.spool is not None else logging.ERROR,
                "database %s (%s): keeping readings %s (%d buffered)",
                kind,
                type(exc).__name__,
                f"in the spool {self.spool.path}" if self.spool is not None else "in memory",
                len(self.rows),
            )
            if not db.is_outage(exc):
                logger.error("write failure detail", exc_info=exc)

    async def spill(self) -> bool:
        """Move the buffered alarm changes and readings to the spool; False if there is none or it fails.

        Rows leave the buffer only after their chunk committed; rows added meanwhile stay.
        """
        spool = self.spool
        if spool is None:
            return False
        changes, self.changes = self.changes, []
        try:
            if changes:
                await asyncio.to_thread(spool.append_changes, changes)
        except BaseException as exc:
            self.changes = changes + self.changes
            if isinstance(exc, Exception):
                logger.exception("spool write failed: alarm changes stay in memory")
                return False
            raise
        while self.rows:
            batch = list(islice(self.rows, self.batch_size))
            self._inflight = batch[-1][0]
            try:
                await asyncio.to_thread(spool.append_rows, [(d, ts, v) for _, d, ts, v in batch])
            except BaseException as exc:
                self._settle(stored=False)
                if isinstance(exc, Exception):
                    logger.exception("spool write failed: readings stay in memory")
                    return False
                raise
            self._settle(stored=True)
            while self.rows and self.rows[0][0] <= batch[-1][0]:
                self.rows.popleft()
        self._gauges()
        return True

    async def flush(self) -> int:
        """Write the spool, then every buffered row and status now; returns the rows written.

        Raises on failure (what is not written stays where it was: spool or buffer).
        """
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
        written = await self._drain_spool()
        await self._flush_changes()
        while self.rows:
            batch = list(islice(self.rows, self.batch_size))
            started = time.perf_counter()
            self._inflight = batch[-1][0]
            try:
                async with asyncio.timeout(self.timeout):
                    await insert_readings(db.current(), batch)
            except BaseException:
                self._settle(stored=False)
                raise
            self._settle(stored=True)
            metrics.WRITER_FLUSH_SECONDS.observe(time.perf_counter() - started)
            last = batch[-1][0]
            while self.rows and self.rows[0][0] <= last:  # rows dropped meanwhile are already gone
                self.rows.popleft()
            written += len(batch)
            self.written += len(batch)
            metrics.READINGS_WRITTEN.inc(len(batch))
        self.last_write_at = datetime.now(UTC)
        metrics.WRITER_BUFFER.set(len(self.rows))
        if self._outage_since is not None:
            logger.warning(
                "database writes work again after %.1f s; buffered readings written",
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None
            self.failing_since = None
        self._flushed.set()
        self._flushed = asyncio.Event()
        return written

    async def _drain_spool(self) -> int:
        """Replay the spool oldest chunk first; a chunk is deleted only after its commit."""
        spool, written = self.spool, 0
        while spool is not None and spool.bytes:
            chunk = await asyncio.to_thread(spool.first)
            if chunk is None:
                break
            if chunk.rows is not None:
                started = time.perf_counter()
                async with asyncio.timeout(self.timeout):
                    await insert_readings(db.current(), [(0, d, ts, v) for d, ts, v in chunk.rows])
                metrics.WRITER_FLUSH_SECONDS.observe(time.perf_counter() - started)
                written += len(chunk.rows)
                self.written += len(chunk.rows)
                metrics.READINGS_WRITTEN.inc(len(chunk.rows))
            elif chunk.changes:
                await self._store_changes(chunk.changes, replay=True)
            await asyncio.to_thread(spool.remove, chunk.id)
            self.last_write_at = datetime.now(UTC)
            if len(self.rows) >= self.buffer_limit // 2:  # a long drain: newer rows queue behind it
                await self.spill()
            self._gauges()
        return written

    async def _flush_changes(self) -> None:
        """Store the queued alarm changes in one transaction, then publish them."""
        changes = self.changes
        if not changes:
            return
        self.changes = []
        try:
            await self._store_changes(changes)
        except BaseException:
            self.changes = changes + self.changes  # back in front, in order
            raise

    async def _store_changes(self, changes: list[Change], *, replay: bool = False) -> None:
        """One transaction for ``changes``; raises on an outage, drops a batch refused for good.

        ``replay``: the batch comes from the spool and may have been committed before a crash;
        transitions already stored are skipped (alarm rows are upserts anyway).
        """
        try:
            async with asyncio.timeout(self.timeout), db.session_scope() as session:
                notices, items = await alarms.store_changes(session=session, changes=changes, replay=replay)
                await session.commit()
        except Exception as exc:
            if not db.is_outage(exc) and not isinstance(exc, TimeoutError):
                # A batch the database refuses for good must not block the readings behind it.
                self.changes_dropped += len(changes)
                metrics.WRITER_DROPPED.labels(what="alarm_changes").inc(len(changes))
                logger.exception("alarm changes refused by the database: %d dropped", len(changes))
                return
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
