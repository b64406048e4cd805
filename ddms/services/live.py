"""Live data: alarm level of a reading, latest values, the shared stream snapshot, status updates.

Everything here reads the in-memory bus first; the database is touched only for a device's
configuration, the status batch the collector's writer sends, and a latest-value fallback after a
restart (before the first poll).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms import cache, db, metrics, runtime
from ddms.bus import Bus, LatestValue, get_bus
from ddms.clock import LOOP_CLOCK, Clock
from ddms.errors import NotFound
from ddms.modbus_types import ModbusTarget
from ddms.models import Device, DeviceStatus, UTCDateTime
from ddms.schemas.devices import DeviceTest
from ddms.services import readings, system
from ddms.services.devices import connection_target, get_device
from ddms.services.thresholds import HasThresholds, Level, classify

logger = logging.getLogger(__name__)

PING_SECONDS = 15.0


def level_of(value: float, device: HasThresholds, previous: str | None = None) -> Level:
    """THE alarm level of a reading: normal, warning or critical (with the device's hysteresis)."""
    return classify(value, device, Level(previous) if previous else None)


def iso(moment: datetime) -> str:
    return moment.isoformat()


# --- latest value ---------------------------------------------------------------------------------
async def latest_for_device(*, session: AsyncSession, device_id: uuid.UUID) -> dict[str, Any]:
    """``{device_id, device_name, unit, timestamp, value, status}``; NotFound without a reading."""
    device = await get_device(session=session, device_id=device_id)
    latest = get_bus().latest(device_id)
    if latest is not None:
        timestamp, value, level = latest.timestamp, latest.value, latest.level
    else:  # after a restart, before the first poll: the newest stored reading
        stored = await readings.latest_stored(session, device_id)
        if stored is None:
            raise NotFound("no_readings")
        timestamp, value, level = stored.timestamp, stored.value, level_of(stored.value, device)
    return {
        "device_id": str(device.id),
        "device_name": device.name,
        "unit": device.unit,
        "timestamp": iso(timestamp),
        "value": value,
        "status": str(level),
    }


def snapshot_items(bus: Bus | None = None) -> list[dict[str, Any]]:
    """One item per device with a reading, by name: what the stream sends each interval."""
    return [_item(latest) for latest in _sorted_latest(bus)]


def _sorted_latest(bus: Bus | None = None) -> list[LatestValue]:
    return sorted(
        (bus or get_bus()).latest_all().values(), key=lambda item: (item.device_name, str(item.device_id))
    )


def _encode(values: list[LatestValue]) -> bytes:
    return b"data: " + json.dumps([_item(v) for v in values], separators=(",", ":")).encode() + b"\n\n"


def _item(latest: LatestValue) -> dict[str, Any]:
    return {
        "device_id": str(latest.device_id),
        "device_name": latest.device_name,
        "unit": latest.unit,
        "timestamp": iso(latest.timestamp),
        "value": latest.value,
        "status": latest.level,
        "device_status": latest.device_status,
    }


class SnapshotFeed:
    """One snapshot per interval, built once and shared by every subscriber of the stream.

    The builder task runs only while someone listens. A new subscriber gets the current snapshot at
    once (building one if none is fresh), then every snapshot the builder publishes. A subscriber
    limited to some devices (a display link bound to a group) gets the snapshot cut to those.
    ``clock`` is the time line of the schedule (tests pass one they move by hand).
    """

    def __init__(self, interval: float, clock: Clock = LOOP_CLOCK) -> None:
        self.default_interval = interval
        self.clock = clock
        self.payload: bytes | None = None
        self.values: list[LatestValue] = []
        self.built_at = 0.0
        self.builds = 0
        self.subscribers = 0
        self._tick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _build(self) -> bytes:
        self.values = _sorted_latest()
        self.payload = _encode(self.values)
        self.built_at = self.clock.time()
        self.builds += 1
        metrics.SSE_SNAPSHOTS.inc()
        return self.payload

    @property
    def interval(self) -> float:
        """The owner's configured stream interval (PUT /api/config), SSE_INTERVAL until it is read."""
        return float(system.live_setting("sse_interval", self.default_interval))

    async def _run(self) -> None:
        clock = self.clock
        due = clock.time() + self.interval
        while True:
            await clock.sleep(max(0.0, due - clock.time()))
            # Next tick on the grid (no drift); after a stall, skip missed ticks instead of bursting.
            due += self.interval
            if due < clock.time():
                due = clock.time() + self.interval
            self._build()
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()

    def _for(self, allowed: Callable[[], frozenset[uuid.UUID] | None] | None) -> bytes:
        assert self.payload is not None
        devices = allowed() if allowed is not None else None
        if devices is None:
            return self.payload
        return _encode([value for value in self.values if value.device_id in devices])

    async def events(
        self, allowed: Callable[[], frozenset[uuid.UUID] | None] | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Encoded SSE chunks: the snapshot now, then one per interval, comment pings when idle.

        ``allowed()`` (asked at every snapshot) names the devices this subscriber may see; None: all.
        """
        self.subscribers += 1
        metrics.SSE_SUBSCRIBERS.inc()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            fresh = self.payload is not None and self.clock.time() - self.built_at < self.interval
            # The next tick is taken before each yield: one published while this subscriber's
            # previous chunk was still on its way is sent next, not skipped.
            tick = self._tick
            if not fresh:
                self._build()
            yield self._for(allowed)
            while True:
                try:
                    async with asyncio.timeout(PING_SECONDS):
                        await tick.wait()
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                tick = self._tick
                yield self._for(allowed)
        finally:
            self.subscribers -= 1
            metrics.SSE_SUBSCRIBERS.dec()
            if self.subscribers == 0 and self._task is not None:
                self._task.cancel()
                self._task = None


async def device_status_counts(*, session: AsyncSession) -> dict[str, int]:
    """Devices per connection status (every status present, zero included).

    The collector's live status from the bus where it has polled the device, the stored status
    otherwise (before its first poll, or with the collector off). One small query per call.
    """
    query = select(Device.id, Device.status).where(Device.deleted_at.is_(None))  # type: ignore[union-attr]
    bus = get_bus()
    counts = {status.value: 0 for status in DeviceStatus}
    for device_id, stored in (await session.exec(query)).all():
        live = bus.status(device_id)
        status = live.status if live is not None else stored
        counts[status] = counts.get(status, 0) + 1
    return counts


# --- status batch (written by the collector's writer) -------------------------------------------
@dataclass(slots=True)
class StatusUpdate:
    """The newest status of a device; ``last_reading_at`` None leaves the stored value."""

    device_id: uuid.UUID
    status: str
    error: str | None
    last_reading_at: datetime | None


_STATUS_SQL = text(
    "UPDATE devices SET status = :status, last_error = :error, "
    "last_reading_at = COALESCE(:last_reading_at, last_reading_at) "
    "WHERE id = :device_id AND deleted_at IS NULL"
).bindparams(
    bindparam("last_reading_at", type_=UTCDateTime()),
    bindparam("device_id", type_=Device.__table__.c.id.type),  # type: ignore[attr-defined]
)


_STATUS_SQL_PG = text(
    "UPDATE devices AS d SET status = v.status, last_error = v.error, "
    "last_reading_at = COALESCE(v.at, d.last_reading_at) "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:errors AS text[]), "
    "CAST(:ats AS timestamptz[])) AS v(id, status, error, at) "
    "WHERE d.id = v.id AND d.deleted_at IS NULL"
)


async def store_statuses(*, session: AsyncSession, updates: list[StatusUpdate]) -> None:
    """Write many device statuses at once; deleted devices are skipped.

    PostgreSQL: one UPDATE joined to unnest()ed arrays (an executemany of 1000 updates takes ~0.5 s
    there); SQLite: one executemany.
    """
    if not updates:
        return
    if db.is_postgres(session):
        await session.exec(
            _STATUS_SQL_PG,
            params={  # type: ignore[call-overload]
                "ids": [u.device_id for u in updates],
                "statuses": [u.status for u in updates],
                "errors": [u.error for u in updates],
                "ats": [u.last_reading_at for u in updates],
            },
        )
        cache.wrote(session, "devices")  # SQL text: the session events cannot see the table
        await session.commit()
        return
    await session.exec(
        _STATUS_SQL,
        params=[  # type: ignore[call-overload]
            {
                "status": u.status,
                "error": u.error,
                "last_reading_at": u.last_reading_at,
                "device_id": u.device_id,
            }
            for u in updates
        ],
    )
    cache.wrote(session, "devices")
    await session.commit()


# --- test connection ------------------------------------------------------------------------------
Probe = runtime.Probe


def set_probe(probe: Probe | None) -> None:
    """Install the current app's Modbus reader (the composition root passes the collector's)."""
    runtime.current().probe = probe


def get_probe() -> Probe | None:
    return runtime.current().probe


async def probe_connection(
    *, session: AsyncSession, device_id: uuid.UUID, probe: Probe | None = None
) -> dict[str, Any]:
    """One real Modbus read of a saved device (``run_probe``'s answer).

    ``probe`` defaults to the one installed with ``set_probe``.
    """
    device = await get_device(session=session, device_id=device_id)
    return await run_probe(device, {"device_id": str(device.id), "device_name": device.name}, probe)


async def probe_settings(*, data: DeviceTest, probe: Probe | None = None) -> dict[str, Any]:
    """One real Modbus read with values not saved yet (a form before Save, a script before it creates
    the device); Invalid when the connection fields break a rule (data type against register count)."""
    target = connection_target(data)
    return await run_probe(target, {"device_id": None, "device_name": data.name}, probe)


async def run_probe(target: ModbusTarget, names: dict[str, Any], probe: Probe | None) -> dict[str, Any]:
    """``{success, error, device_id, device_name, value?, latency_ms?, registers?, registers_hex?,
    decodings?}``: ``names`` give the device's id and name, ``probe`` the reader (None: the installed one).

    Once registers were read they are in the answer with every decoding, also when the configured
    one is not a number: the engineer then sees which data type and byte order give a sensible value.
    """
    probe = probe or get_probe()
    result: dict[str, Any] = {"success": False, "error": None, **names}
    if probe is None:
        result["error"] = "Modbus access is not available in this process"
        return result
    started = time.perf_counter()
    try:
        reading = await probe(target)
    except Exception as exc:
        result["error"] = str(exc) or type(exc).__name__
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return result
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    result |= {
        "registers": list(reading.registers),
        "registers_hex": [f"{register:04X}" for register in reading.registers],
        "decodings": [
            {"data_type": str(d.data_type), "byte_order": str(d.byte_order), "value": d.value}
            for d in reading.decodings
        ],
    }
    if reading.value is None:
        result["error"] = reading.error or "the registers do not decode"
    else:
        result |= {"success": True, "value": reading.value}
    return result
