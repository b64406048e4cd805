"""The batched writer: readings and device statuses go to the database in bulk, off the poll path.

Pollers only append to an in-memory buffer (O(1), no await). A background task writes the buffer
at least once a second, or as soon as ``batch_size`` rows wait: one ``executemany`` on SQLite, one
``COPY`` into a per-connection staging table plus one ``INSERT ... SELECT`` on PostgreSQL. The
insert skips rows that are already stored and rows of devices deleted meanwhile, so a batch that
is retried after a failure can never store a reading twice nor be rejected forever.

When a flush fails (the database is away) the buffer goes to the durable spool
(``collector/spool.py``, a SQLite file in the data directory, bounded by bytes) and keeps going
there every ``flush_interval`` while the outage lasts, so a kill -9 loses at most the last second.
A database that hangs instead of refusing (a held lock, a black-holed connection) fails a flush
only after its timeout (10-15 s); so while a flush runs longer than ``spill_after`` (1 s), what
memory holds goes to the spool every ``spill_after``, including a copy of the batch the flush is
writing (see ``Flight``). At any moment a kill -9 loses at most the readings of the last
``flush_interval`` + ``spill_after`` (waiting for a flush, then for the spill). Fast flushes never
touch the spool.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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
"""Seconds between two flushes at least: a burst of alarm transitions is one batch, not one each."""
FAILING_AFTER = 5.0
"""Seconds of failed writes before health says ``failing`` (503): a lock blip is ``degraded``."""
SPILL_AFTER = 1.0
"""Seconds a flush may run before what memory holds is spooled (a hanging database)."""

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


@dataclass(eq=False, slots=True)
class Flight:
    """One batch on its way to the database or the spool; where it ends decides what memory keeps.

    A flush's batch of readings stays in the buffer until it commits; its alarm changes left the
    queue. While the flush hangs, ``spill`` writes a copy to the spool (``chunk``) and takes the
    readings out of the buffer, so the batch is safe whichever comes first. If the commit comes
    too, the copy is removed; a kill -9 between the commit and that removal leaves a copy whose
    replay stores nothing twice (readings: ON CONFLICT DO NOTHING on (device, timestamp); alarm
    transitions: skipped when already in the history). ``popped`` counts its readings a full buffer
    dropped meanwhile: lost only if the batch reaches neither the database nor the spool.
    """

    rows: list[Row] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    stored: bool | None = None  # None while the write runs; then whether it committed
    spooling: bool = False
    chunk: int | None = None
    popped: int = 0

    def holds(self, seq: int) -> bool:
        return bool(self.rows) and self.rows[0][0] <= seq <= self.rows[-1][0]

    def decided(self) -> bool:
        return not self.spooling and (self.stored is not None or self.chunk is not None)

    def safe(self) -> bool:
        return self.committed() or self.chunk is not None

    def committed(self) -> bool:
        return self.stored is True

    def failed(self) -> bool:
        return self.stored is False


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
        spill_after: float = SPILL_AFTER,
    ) -> None:
        self.bus = bus
        self.batch_size, self.flush_interval = batch_size, flush_interval
        self.buffer_limit, self.timeout = max(buffer_limit, batch_size), timeout
        self.spool_path, self.spool_max_bytes = spool_path, spool_max_bytes
        self.failing_after, self.spill_after = failing_after, spill_after
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
        self._flight: Flight | None = None  # the flush's batch being written
        self._spilling: Flight | None = None  # spill's batch being appended to the spool
        self._spill_lock = asyncio.Lock()
        self._slow = False  # the last flush outlasted spill_after (logged once)
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
            holder = next((f for f in (self._flight, self._spilling) if f and f.holds(seq)), None)
            if holder is not None:
                holder.popped += 1  # still in a batch on its way: lost only if that fails
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

    def _resolve(self, flight: Flight) -> None:
        """Once a batch's fate is known, the rows a full buffer popped from it are saved or lost."""
        if flight.popped and flight.decided():
            if not flight.safe():
                self._count_dropped(flight.popped)
            flight.popped = 0

    def _land(self, flight: Flight, *, stored: bool) -> None:
        """The flush's write of ``flight`` ended (committed or not)."""
        flight.stored = stored
        if self._flight is flight:
            self._flight = None
        self._resolve(flight)

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
                await self._guarded(self.flush)
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
                    await self._guarded(self._flush_changes)
                except Exception as exc:
                    self._failed(exc)
                    await self.spill()
                    backoff = 0.5
                    next_attempt = time.monotonic() + backoff
                continue
            next_full = time.monotonic() + self.flush_interval
            try:
                await self._guarded(self.flush)
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

    async def _guarded(self, write: Callable[[], Awaitable[object]]) -> None:
        """Run one flush; every ``spill_after`` it is still running, spool what memory holds.

        A database that hangs rather than refuses keeps a flush waiting for its timeout; a kill -9
        meanwhile would lose everything buffered. A flush that ends within ``spill_after`` costs a
        timer, no spool write. When the flush ends, a spill under way ends first.
        """
        if self.spool is None:
            await write()
            return
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        watchdog: list[asyncio.Task[None]] = []

        def slow() -> None:
            if not self._slow and self._outage_since is None:  # once, and not in a known outage
                logger.warning(
                    "database write running for %.1f s: keeping readings in the spool meanwhile",
                    time.monotonic() - started,
                )
            self._slow = True
            watchdog.append(loop.create_task(self._watch()))

        timer = loop.call_later(self.spill_after, slow)
        try:
            await write()
        finally:
            timer.cancel()
            for task in watchdog:
                task.cancel()  # (a spill under way is not cut short: ``spill`` waits for it)
                await asyncio.wait({task})
        if self._slow and not watchdog:
            self._slow = False
            logger.info("database writes take less than %.1f s again", self.spill_after)

    async def _watch(self) -> None:
        """Spool what memory holds, every ``spill_after``, while a flush hangs (until cancelled)."""
        while True:
            await self.spill()
            self._gauges()
            await asyncio.sleep(self.spill_after)

    async def spill(self) -> bool:
        """Move the buffered alarm changes and readings to the spool; False if there is none or it fails.

        Also a copy of the batch a flush is writing (``Flight``). Rows leave the buffer only after
        their chunk committed; rows added meanwhile stay. A cancelled caller waits for the spill to
        end: an append cut short would leave unknown whether its chunk exists.
        """
        spool = self.spool
        if spool is None:
            return False
        task = asyncio.ensure_future(self._spill(spool))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait({task})
            raise

    async def _spill(self, spool: Spool) -> bool:
        async with self._spill_lock:  # the watchdog and a long drain may both spill
            if not await self._spill_flight(spool, self._flight):
                return False
            return await self._spill_buffer(spool)

    async def _spill_flight(self, spool: Spool, flight: Flight | None) -> bool:
        """Copy the batch a hanging flush holds to the spool; its rows then leave the buffer."""
        if flight is None or flight.stored is not None or flight.chunk is not None:
            return True  # no flush running, or its batch has a copy already
        flight.spooling = True
        try:
            if flight.changes:
                chunk = await asyncio.to_thread(spool.append_changes, flight.changes)
            else:
                rows = [(d, ts, v) for _, d, ts, v in flight.rows]
                chunk = await asyncio.to_thread(spool.append_rows, rows)
        except BaseException as exc:
            flight.spooling = False
            if flight.failed() and flight.changes:  # the flush failed meanwhile and left them to us
                self.changes = flight.changes + self.changes
            self._resolve(flight)
            if isinstance(exc, Exception):
                logger.exception("spool write failed: the batch being written stays in memory")
                return False
            raise
        flight.spooling, flight.chunk = False, chunk
        self._resolve(flight)
        if flight.rows:
            last = flight.rows[-1][0]
            while self.rows and self.rows[0][0] <= last:
                self.rows.popleft()
        if flight.committed() and chunk is not None:  # committed while the copy was written
            await asyncio.to_thread(spool.remove, chunk)
        return True

    async def _spill_buffer(self, spool: Spool) -> bool:
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
            held = self._spilling = Flight(rows=batch)
            try:
                held.chunk = await asyncio.to_thread(spool.append_rows, [(d, ts, v) for _, d, ts, v in batch])
            except BaseException as exc:
                held.stored = False
                if isinstance(exc, Exception):
                    logger.exception("spool write failed: readings stay in memory")
                    return False
                raise
            finally:
                self._spilling = None
                self._resolve(held)
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
            flight = self._flight = Flight(rows=batch)
            try:
                async with asyncio.timeout(self.timeout):
                    await insert_readings(db.current(), batch)
            except BaseException:
                self._land(flight, stored=False)
                raise
            self._land(flight, stored=True)
            await self._forget_copy(flight)
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
        flight = self._flight = Flight(changes=changes)
        try:
            await self._store_changes(changes)
        except BaseException:
            self._land(flight, stored=False)
            if not flight.spooling and flight.chunk is None:  # (a copy in the spool is replayed)
                self.changes = changes + self.changes  # back in front, in order
            raise
        self._land(flight, stored=True)
        await self._forget_copy(flight)

    async def _forget_copy(self, flight: Flight) -> None:
        """The database committed ``flight``: remove its spool copy, if a spill made one."""
        if flight.chunk is not None and self.spool is not None:
            await asyncio.to_thread(self.spool.remove, flight.chunk)

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
