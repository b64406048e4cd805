"""Several instances on one PostgreSQL database: membership, device shares, leadership, relayed changes.

Why session advisory locks (and not leases in a table): PostgreSQL itself releases them when the
connection that holds them goes, so a killed instance (kill -9, a crash, the host gone) gives up its
devices the moment its socket closes, with no lease to run out; and taking one is a single
statement that cannot succeed twice. Each instance (a ``Node``) therefore keeps one dedicated
connection (``ddms.db.DedicatedConnection``) for its whole life and holds on it:

- its membership lock ``(NS_INSTANCE, backend pid)``: an ``instances`` row whose lock is held is a
  live instance, any other row is a dead one (removed by the next instance that starts);
- one lock per device it polls (``device_key``), so a device is polled by one instance at a time;
- the leader lock ``(NS_LEADER, 0)`` on the one instance that runs the singleton jobs.

Fencing. A lock is only as good as the instance's knowledge that it still holds it: a process that
was paused (SIGSTOP, a stalled VM) or cut off from the database must stop polling before another
instance can take its devices. The node heartbeats every ``heartbeat`` seconds on its connection
and trusts its locks for ``2 * heartbeat`` after the *start* of the last heartbeat that succeeded
(``valid()``; pollers ask before every poll). The server side ends a session that stays idle for
``3 * heartbeat`` (``idle_session_timeout``), and only then releases its locks; so by the time
another instance can take a device, its previous owner has stopped trusting its lock for at least
one heartbeat. A node whose heartbeat fails drops its connection and tells its listeners at
once (``on_lost``), then connects again as a new member.

Shares. Every node computes the same assignment from the same inputs (the live instances and the
devices): ``assign`` is rendezvous hashing with bounded loads (each device goes to its highest
scoring instance that still has room, the rooms being the fair share rounded), so shares are
even at 10 devices as at 1000, and a joining or leaving instance moves only a part of the devices.
Ownership follows the locks, not the assignment: a device changes hands only after the old owner
stopped its poller at a poll boundary and unlocked it, and the new one locked it.

Changes. Device configuration changes are published on the local bus; the node relays them to the
other instances with ``NOTIFY`` on ``CHANGES_CHANNEL`` and replays theirs on its own bus; so do
revocations (a user's sessions or a display link ended: open streams everywhere re-check at once).

Live values. Readings and status changes of the devices polled here go to the others every
``LIVE_FLUSH_SECONDS`` as batches of the newest value per device (``NOTIFY`` on ``LIVE_CHANNEL``,
each payload under 8000 bytes), and are published on their buses: their pages and SSE streams show
every device. (Alarms are evaluated once, by the polling instance.) While an instance is the only
live one it sends nothing; whenever an instance joins, the others send it the newest value and
status of every device they hold, so its pages do not wait for the next poll.

Dialects: none here. This module is only used on PostgreSQL (``ddms.main`` and the CLI decide).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from ddms import cache, db, metrics, runtime
from ddms.bus import Bus, ChangeKind, DeviceChange, Event, LatestValue, Revocation, StatusChange, get_bus
from ddms.models import utcnow

logger = logging.getLogger(__name__)
_BRIDGE_SEND = metrics.CLUSTER_BRIDGE_SECONDS.labels("send")
_BRIDGE_RECEIVE = metrics.CLUSTER_BRIDGE_SECONDS.labels("receive")
# Timed with time.thread_time(): the event loop thread's own CPU (process_time would add whatever the
# executor's threads ran meanwhile).

NS_INSTANCE = 0x44_4D_53_01  # two-key advisory locks: (namespace, id); device locks are one bigint key
NS_LEADER = 0x44_4D_53_02
CHANGES_CHANNEL = "ddms_changes"
LIVE_CHANNEL = "ddms_live"
REVOKED_USER, REVOKED_DISPLAY = "revoked-user", "revoked-display"  # on CHANGES_CHANNEL beside device changes
LIVE_FLUSH_SECONDS = 0.2
"""Readings and statuses polled here are sent to the other instances in batches this often."""
PAYLOAD_LIMIT = 7900
"""Bytes of one NOTIFY payload at most (PostgreSQL refuses 8000 and more)."""
IDLE_HEARTBEATS = 3
"""The server ends this node's session after this many heartbeats of silence (it trusts its locks for 2)."""
STALE_ROW_SECONDS = 60.0
"""Rows of instances whose lock is gone are deleted by a starting node (kept a while for ``status``)."""

# NS_INSTANCE is 1145918209, NS_LEADER 1145918210 (asserted in tests/collector/test_cluster.py).
_LIVE = (
    "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.classid = 1145918209 AND l.objsubid = 2 "
    "AND l.objid::bigint = i.backend_pid AND l.pid = i.backend_pid)"
)
_LIST = (
    "SELECT i.id, i.host, i.pid, i.started_at, i.heartbeat_at, "  # noqa: S608 (constants only)
    + _LIVE
    + " AS live, "
    "(SELECT count(*) FROM pg_locks d WHERE d.locktype = 'advisory' AND d.granted "
    "AND d.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND d.objsubid = 1 AND d.pid = i.backend_pid) AS devices "
    "FROM instances i ORDER BY live DESC, i.started_at"
)
_LIVE_IDS = "SELECT i.id FROM instances i WHERE " + _LIVE  # noqa: S608 (constants only)
_PURGE = (
    "DELETE FROM instances i WHERE i.backend_pid = $1 OR (NOT "  # noqa: S608 (constants only)
    + _LIVE
    + " AND i.heartbeat_at < $2::timestamptz - make_interval(secs => $3))"
)
_REGISTER = (
    "INSERT INTO instances (id, host, pid, backend_pid, started_at, heartbeat_at) "
    "VALUES ($1, $2, $3, $4, $5, $5) "
    "ON CONFLICT (id) DO UPDATE SET backend_pid = $4, heartbeat_at = $5"
)


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def device_key(device_id: uuid.UUID) -> int:
    """The device's advisory lock key: a signed 64-bit hash (the one-key form of pg_advisory_lock)."""
    return _hash64(b"ddms-device:" + device_id.bytes) - (1 << 63)


def score(instance_id: uuid.UUID, device_id: uuid.UUID) -> int:
    """Rendezvous score of an instance for a device: the highest scoring instance with room gets it."""
    return _hash64(instance_id.bytes + device_id.bytes)


def assign(devices: Iterable[uuid.UUID], instances: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Which instance polls each device: rendezvous hashing with bounded loads.

    Deterministic in its inputs (every node computes the same answer), each instance gets
    ``floor(devices / instances)`` or one more, and with one instance more or less most devices stay
    where they were.
    """
    members = sorted(instances)
    ordered = sorted(devices)
    if not members:
        return {}
    share, extra = divmod(len(ordered), len(members))
    # Rooms add up to the device count, so every instance ends with its share or one more.
    room = {member: share + (1 if index < extra else 0) for index, member in enumerate(members)}
    owners: dict[uuid.UUID, uuid.UUID] = {}
    for device in ordered:
        for member in sorted(members, key=lambda m: score(m, device), reverse=True):
            if room[member] > 0:
                room[member] -= 1
                owners[device] = member
                break
    return owners


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """One row of ``ddms status``: an instance, whether its lock is held, how many devices it polls."""

    id: uuid.UUID
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    live: bool
    devices: int


async def list_instances(session: db.AsyncSession) -> list[InstanceInfo]:
    """The registered instances, live ones first (PostgreSQL only)."""
    query = text(_LIST)
    rows = (await session.exec(query)).all()  # type: ignore[call-overload]
    return [
        InstanceInfo(
            id=uuid.UUID(str(row.id)),
            host=row.host,
            pid=row.pid,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            live=bool(row.live),
            devices=int(row.devices) if row.live else 0,
        )
        for row in rows
    ]


# Who holds each device lock (one-key advisory locks: the key's high and low halves in classid/objid).
_HELD = (
    "SELECT i.id, ((l.classid::bigint << 32) | l.objid::bigint) AS k FROM instances i "
    "JOIN pg_locks l ON l.pid = i.backend_pid AND l.locktype = 'advisory' AND l.granted "
    "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def device_holders(
    session: db.AsyncSession, device_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Which instance polls each of ``device_ids`` now (the holder of its lock); unpolled ones are
    missing (PostgreSQL only)."""
    keys = {device_key(device): device for device in device_ids}
    rows = (await session.exec(text(_HELD))).all()  # type: ignore[call-overload]
    return {keys[int(row.k)]: uuid.UUID(str(row.id)) for row in rows if int(row.k) in keys}


async def live_count(url: str) -> int:
    """How many instances run on the database at ``url`` now (0 when the table does not exist yet)."""
    database = db.Database(url)
    try:
        async with database.sessions() as session:
            try:
                return sum(1 for info in await list_instances(session) if info.live)
            except Exception as exc:
                if db.is_outage(exc):
                    raise
                return 0
    finally:
        await database.dispose()


class Node:
    """This instance's membership in the cluster, on its one dedicated connection."""

    def __init__(
        self,
        url: str,
        *,
        heartbeat: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        bus: Bus | None = None,
    ) -> None:
        self.url = url
        self.heartbeat = heartbeat
        self.id = uuid.uuid4()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.clock = clock
        self.bus = bus
        self.live: tuple[uuid.UUID, ...] = ()
        """The live instances (sorted ids) as of the last heartbeat; this one included while valid."""
        self.leading = False
        self.solo = False
        """Lost the connection while it was the only live instance: it may go on polling (see may_poll)."""
        self._conn: db.DedicatedConnection | None = None
        self._sql = asyncio.Lock()  # one statement at a time on the connection (asyncpg requires it)
        self._valid_until = -math.inf
        self._task: asyncio.Task[None] | None = None
        self._tick_listeners: list[Callable[[], None]] = []
        self._lost_listeners: list[Callable[[], None]] = []
        self._unlisten: Callable[[], None] | None = None
        self._relaying = False
        self._sends: set[asyncio.Task[None]] = set()
        self._unlisten_live: Callable[[], None] | None = None
        self._unlisten_revocations: Callable[[], None] | None = None
        self._live_values: dict[uuid.UUID, LatestValue] = {}
        self._live_statuses: list[StatusChange] = []
        self._runtime: runtime.Runtime | None = None  # the app's, set at start (its cached reads)
        self._held: set[uuid.UUID] = set()
        """The devices locked on the current connection (their values go to an instance that joins)."""
        self._sender = self.id.hex
        self._own_prefix = self._sender + "|"
        self._live_timer: asyncio.Handle | None = None
        self._collect_seconds = 0.0
        """Time spent keeping values for the next batch since the last one (counted with it)."""
        self._assigned: (
            tuple[tuple[uuid.UUID, ...], frozenset[uuid.UUID], dict[uuid.UUID, uuid.UUID]] | None
        ) = None
        self.generation = 0
        """Counts connections: locks taken under an older generation are gone."""

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Join (register, lock, first heartbeat) before returning, then heartbeat in the background."""
        if self.bus is None:
            self.bus = get_bus()
        await self._join()
        self._unlisten = self.bus.on_device_change(self._relay)
        self._unlisten_live = self.bus.listen(self._on_local_event)
        self._unlisten_revocations = self.bus.on_revocation(self._relay_revocation)
        self._task = asyncio.create_task(self._run(), name="ddms-cluster-heartbeat")
        self._runtime = runtime.current()
        self._runtime.cluster = self
        logger.info("cluster: instance %s joined (%d live)", self.id, len(self.live))

    async def stop(self) -> None:
        """Leave cleanly: the row goes, and with the connection every lock this instance held."""
        if runtime.current().cluster is self:
            runtime.current().cluster = None
        if self._unlisten is not None:
            self._unlisten()
        for unlisten in (self._unlisten_live, self._unlisten_revocations):
            if unlisten is not None:
                unlisten()
        if self._live_timer is not None:
            self._live_timer.cancel()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for send in list(self._sends):
            with contextlib.suppress(Exception):
                await send
        self._valid_until = -math.inf
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                async with self._sql, asyncio.timeout(2):
                    await conn.driver.execute("DELETE FROM instances WHERE id = $1", self.id)
            await conn.close()
        logger.info("cluster: instance %s left", self.id)

    def valid(self) -> bool:
        """May this instance act on its locks now (see the module docstring on fencing)?"""
        return self._conn is not None and self.clock() < self._valid_until

    def may_poll(self) -> bool:
        """May its pollers poll now? While its locks are valid; and through a database outage when it
        was the only live instance (``solo``): then nobody can take its devices over (an instance
        that starts meanwhile cannot reach the database either), and what it reads is spooled, not
        lost. With other instances live it stops at once: one of them may take over."""
        return self.valid() or (self._conn is None and self.solo)

    def on_tick(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after each successful heartbeat (the membership may have changed)."""
        self._tick_listeners.append(listener)
        return lambda: self._tick_listeners.remove(listener) if listener in self._tick_listeners else None

    def on_lost(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` the moment this instance stops trusting its locks (connection lost)."""
        self._lost_listeners.append(listener)
        return lambda: self._lost_listeners.remove(listener) if listener in self._lost_listeners else None

    def owners(self, devices: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """Who polls each device, as every node computes it; cached while members and devices stay
        (3000 devices take ~40 ms to assign: not on every heartbeat)."""
        wanted = frozenset(devices)
        cached = self._assigned
        if cached is not None and cached[0] == self.live and cached[1] == wanted:
            return cached[2]
        owners = assign(wanted, self.live)
        self._assigned = (self.live, wanted, owners)
        return owners

    # --- device locks --------------------------------------------------------------------------
    async def lock_devices(self, device_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Take the locks that are free, in one statement; returns the devices now held."""
        if not device_ids or not self.valid():
            return set()
        keys = {device_key(device): device for device in device_ids}
        generation = self.generation
        rows = await self._fetch(
            "SELECT k FROM unnest($1::bigint[]) AS k WHERE pg_try_advisory_lock(k)", list(keys)
        )
        locked = {keys[row["k"]] for row in rows}
        if self.generation == generation:  # else they went with the connection they were taken on
            self._held |= locked
        return locked

    async def unlock_devices(self, device_ids: Sequence[uuid.UUID]) -> None:
        self._held.difference_update(device_ids)
        if device_ids and self._conn is not None:
            keys = [device_key(device) for device in device_ids]
            with contextlib.suppress(Exception):  # a lost connection has released them anyway
                await self._fetch("SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k", keys)

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        conn = self._conn
        if conn is None:
            raise ConnectionError("not connected")
        async with self._sql:
            rows: list[Any] = await conn.driver.fetch(query, *args, timeout=max(2.0, 4 * self.heartbeat))
            return rows

    # --- connection and heartbeat --------------------------------------------------------------
    async def _join(self) -> None:
        conn = await db.DedicatedConnection.open(self.url)
        driver = conn.driver
        try:
            idle_ms = int(IDLE_HEARTBEATS * self.heartbeat * 1000)
            await driver.execute(f"SET idle_session_timeout = {idle_ms}")
            backend = await driver.fetchval("SELECT pg_backend_pid()")
            await driver.execute("SELECT pg_advisory_lock($1, $2)", NS_INSTANCE, backend)
            now = utcnow()
            await driver.execute(_PURGE, backend, now, STALE_ROW_SECONDS)
            await driver.execute(_REGISTER, self.id, self.host[:255], self.pid, backend, now)
            await driver.add_listener(CHANGES_CHANNEL, self._received)
            await driver.add_listener(LIVE_CHANNEL, self._received_live)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self.generation += 1
        self.leading = False
        await self._beat()
        self.solo = False

    async def _beat(self) -> None:
        """One heartbeat: stamp the row, read who is live, try for the lead; raises when it fails."""
        started = self.clock()
        conn = self._conn
        if conn is None:
            raise ConnectionError("not connected")
        # A slow answer is not a lost lock (valid() already stops polls at 2 heartbeats): give it 3.
        async with self._sql, asyncio.timeout(self.heartbeat * IDLE_HEARTBEATS):
            driver = conn.driver
            await driver.execute("UPDATE instances SET heartbeat_at = $2 WHERE id = $1", self.id, utcnow())
            rows = await driver.fetch(_LIVE_IDS)
            if not self.leading:
                self.leading = bool(await driver.fetchval("SELECT pg_try_advisory_lock($1, 0)", NS_LEADER))
                if self.leading:
                    logger.info("cluster: instance %s leads the singleton jobs", self.id)
        self._valid_until = started + 2 * self.heartbeat
        live = tuple(sorted(uuid.UUID(str(row["id"])) for row in rows))
        joined = set(live).difference(self.live, (self.id,))
        self.live = live
        if joined and self._held:
            self._snapshot_live()

    async def _run(self) -> None:
        pause = 0.0
        while True:
            await asyncio.sleep(pause or self.heartbeat)
            pause = 0.0
            try:
                if self._conn is None:
                    await self._join()
                    logger.info("cluster: instance %s joined again", self.id)
                else:
                    await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lose(exc)
                pause = max(self.heartbeat, 1.0)
                continue
            for listener in list(self._tick_listeners):
                try:
                    listener()
                except Exception:
                    logger.exception("cluster tick listener failed")

    def _lose(self, exc: BaseException) -> None:
        """The heartbeat failed: stop trusting every lock at once, drop the connection, tell listeners."""
        was = self._conn is not None
        if was:
            self.solo = self.live == (self.id,)
        self._valid_until = -math.inf
        self.leading = False
        self.live = ()
        self._held.clear()  # the locks went with the connection
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()  # at once; what SQLAlchemy keeps of it is given back below
            task = asyncio.get_running_loop().create_task(conn.close())
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        if was:
            logger.warning(
                "cluster: lost the coordination connection (%s); %s",
                exc or "timeout",
                "the only instance: polling goes on, readings are spooled"
                if self.solo
                else "polling stops until it is back",
            )
            for listener in list(self._lost_listeners):
                try:
                    listener()
                except Exception:
                    logger.exception("cluster lost listener failed")

    # --- configuration changes between instances -----------------------------------------------
    def _relay(self, change: DeviceChange) -> None:
        """A change published on this instance's bus goes to the others (not one replayed from them)."""
        if self._relaying or self._conn is None:
            return
        self._send_change(f"{self.id}:{change.kind.value}:{change.device_id}")

    def _relay_revocation(self, revocation: Revocation) -> None:
        """A user's sessions or a display link ended here: open streams on the others re-check too."""
        if self._relaying or self._conn is None:
            return
        if revocation.user_id is not None:
            self._send_change(f"{self.id}:{REVOKED_USER}:{revocation.user_id}")
        if revocation.display_token_id is not None:
            self._send_change(f"{self.id}:{REVOKED_DISPLAY}:{revocation.display_token_id}")

    def _send_change(self, payload: str) -> None:
        task = asyncio.get_running_loop().create_task(self._notify(payload))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _notify(self, payload: str) -> None:
        try:
            await self._fetch("SELECT pg_notify($1, $2)", CHANGES_CHANNEL, payload)
        except Exception:
            logger.warning("cluster: a device change was not relayed (the periodic reconcile will)")

    def _received(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            sender, kind, subject = payload.split(":")
            target = uuid.UUID(subject)
            if kind == REVOKED_USER:
                event: DeviceChange | Revocation = Revocation(user_id=target)
            elif kind == REVOKED_DISPLAY:
                event = Revocation(display_token_id=target)
            else:
                event = DeviceChange(ChangeKind(kind), target)
        except ValueError:
            logger.warning("cluster: ignored a malformed change notice")
            return
        if sender == str(self.id) or self.bus is None:
            return
        # What another instance changed is not in this one's cached reads (principals, device lists,
        # display links): they are read again now, not after their time to live.
        if isinstance(event, Revocation):
            tables = ("users",) if event.user_id is not None else ("display_tokens",)
        else:
            tables = ("devices",)
        cache.bump(tables, self._runtime)
        self._relaying = True
        try:
            if isinstance(event, Revocation):
                self.bus.revoked(event)
            else:
                self.bus.device_changed(event.kind, event.device_id)
        finally:
            self._relaying = False

    # --- the live bus between instances --------------------------------------------------------
    def _on_local_event(self, event: Event) -> None:
        """A reading or status polled here: kept for the next batch (the newest value per device).

        Nothing is kept while this is the only live instance: nobody listens, and one that joins
        gets the newest value of every device polled here at once (``_snapshot_live``). Timed with
        ``perf_counter`` and counted at the flush: the call is a dict store, which ``thread_time``
        (a system call, ~0.4 µs) and the counter's lock would cost more than."""
        if self._relaying or self._conn is None or len(self.live) < 2:
            return
        started = time.perf_counter()
        if isinstance(event, LatestValue):
            self._live_values[event.device_id] = event
        elif isinstance(event, StatusChange):
            self._live_statuses.append(event)
        else:
            return
        if self._live_timer is None:
            self._live_timer = asyncio.get_running_loop().call_later(LIVE_FLUSH_SECONDS, self._flush_live)
        self._collect_seconds += time.perf_counter() - started

    def _snapshot_live(self) -> None:
        """An instance joined: send it the newest value and status of every device locked here now
        (it would otherwise show them only after their next poll, or not while this one was alone)."""
        bus = self.bus
        if bus is None or self._conn is None:
            return
        started = time.thread_time()
        for device in self._held:
            latest = bus.latest(device)
            if latest is not None:
                self._live_values[device] = latest
            status = bus.status(device)
            if status is not None:
                self._live_statuses.append(status)
        if self._live_timer is not None:
            self._live_timer.cancel()
        self._live_timer = asyncio.get_running_loop().call_soon(self._flush_live)
        _BRIDGE_SEND.inc(time.thread_time() - started)

    def _flush_live(self) -> None:
        started = time.thread_time()
        try:
            self._flush_live_now()
        finally:
            collected, self._collect_seconds = self._collect_seconds, 0.0
            _BRIDGE_SEND.inc(time.thread_time() - started + collected)

    def _flush_live_now(self) -> None:
        self._live_timer = None
        # Values first, then the status changes in their order: a device that went offline after
        # its last reading ends offline on the other instances too.
        entries = [_value_entry(event) for event in self._live_values.values()]
        entries += [_status_entry(event) for event in self._live_statuses]
        self._live_values, self._live_statuses = {}, []
        payloads = live_payloads(self._sender, entries)
        if not payloads or self._conn is None:
            return
        task = asyncio.get_running_loop().create_task(self._send_live(payloads))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send_live(self, payloads: list[str]) -> None:
        try:
            await self._fetch("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", LIVE_CHANNEL, payloads)
        except Exception:
            logger.debug("cluster: live values not sent (they are sent again at the next poll)")

    def _received_live(self, connection: object, pid: int, channel: str, payload: str) -> None:
        if payload.startswith(self._own_prefix):  # every listener gets its own notices back
            return
        started = time.thread_time()
        try:
            self._publish_live(payload)
        finally:
            _BRIDGE_RECEIVE.inc(time.thread_time() - started)

    def _publish_live(self, payload: str) -> None:
        if self.bus is None or payload.startswith(self._own_prefix):
            return
        _sender, _, body = payload.partition("|")
        try:
            events = [_event_of(entry) for entry in json.loads(body)]
        except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError, OSError):
            logger.warning("cluster: ignored a malformed live notice")
            return
        publish_reading, publish_status = self.bus.publish_reading, self.bus.publish_status
        self._relaying = True
        try:
            for event in events:
                if isinstance(event, LatestValue):
                    publish_reading(event)
                else:
                    publish_status(event)
        finally:
            self._relaying = False


# --- the live notices' encoding -----------------------------------------------------------------
# One notice is ``sender|[entry, ...]``, the sender and device ids in hex, times as epoch seconds
# (a float keeps the microseconds of a current time exactly), in ASCII-only JSON (``ensure_ascii``:
# its length is its size in bytes, no encoding to count them):
#   ["v", device, timestamp, value, level, device status, device name, unit]   a reading
#   ["s", device, status, error, at, previous status]                          a status change
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=True).encode
_ids: dict[str, uuid.UUID] = {}
"""Device ids parsed from notices (a few thousand devices: parsing each one again costs ~1 µs)."""


def _value_entry(event: LatestValue) -> list[Any]:
    return [
        "v",
        event.device_id.hex,
        event.timestamp.timestamp(),
        event.value,
        event.level,
        event.device_status,
        event.device_name,
        event.unit,
    ]


def _status_entry(event: StatusChange) -> list[Any]:
    return ["s", event.device_id.hex, event.status, event.error, event.at.timestamp(), event.previous]


def live_payloads(sender: str, entries: Sequence[list[Any]]) -> list[str]:
    """``sender|[entry, ...]`` strings, each under PAYLOAD_LIMIT bytes (an entry is ~130 bytes).

    One JSON encoding per notice: each chunk holds as many entries as the last one's average size
    lets fit, and is halved when it does not fit after all. An entry that alone does not fit (which
    a 100-character name cannot make) is never sent.
    """
    room = PAYLOAD_LIMIT - len(sender) - 1
    payloads: list[str] = []
    start, step = 0, 32
    while start < len(entries):
        chunk = entries[start : start + step]
        body = _dumps(chunk)
        if len(body) > room:
            if len(chunk) == 1:
                start += 1
            step = max(1, len(chunk) // 2)
            continue
        payloads.append(f"{sender}|{body}")
        start += len(chunk)
        step = max(1, int(0.9 * room * len(chunk) / len(body)))
    return payloads


def _device_id(text: str) -> uuid.UUID:
    device = _ids.get(text)
    if device is None:
        if len(_ids) >= 100_000:  # devices come and go: never grow without bound
            _ids.clear()
        device = _ids[text] = uuid.UUID(hex=text)
    return device


def _event_of(entry: list[Any]) -> LatestValue | StatusChange:
    kind = entry[0]
    if kind == "v":
        return LatestValue(
            _device_id(entry[1]),
            datetime.fromtimestamp(entry[2], UTC),
            float(entry[3]),
            str(entry[4]),
            str(entry[5]),
            str(entry[6]),
            str(entry[7]),
        )
    if kind == "s":
        return StatusChange(
            _device_id(entry[1]),
            str(entry[2]),
            entry[3],
            datetime.fromtimestamp(entry[4], UTC),
            previous=entry[5],
        )
    raise ValueError("unknown live entry")


def current() -> Node | None:
    """This app's node (None on SQLite, or with CLUSTER_ENABLED off)."""
    node: Node | None = runtime.current().cluster
    return node


def leading() -> bool:
    """Should this instance run the singleton jobs now? Always, when it is the only one possible."""
    node = current()
    return node is None or (node.leading and node.valid())
