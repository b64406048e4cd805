"""One asyncio task per device: a drift-free schedule, the read, the status, the accounting.

The schedule is ``origin + k * interval`` on the loop's monotonic clock, never "sleep after the
work", so a poll that takes 30 ms does not push every later poll back by 30 ms. Each device's
origin has a fixed phase inside the interval (from its id), so a thousand devices with the same
interval spread over the second instead of firing together.

Accounting per due time: ``on_time`` (started within 10 % of the interval), ``late`` (later than
that), ``missed`` (skipped because the previous poll was still running), ``deferred`` (skipped while
an unreachable device backs off: after n failures in a row the next attempt waits
``min(interval * 2**(n-1), max(interval, backoff cap))``, the cap 5 s by default, so a device that
comes back is read again within a few seconds).

A "busy" answer (Modbus exception 5 acknowledge, 6 server device busy) is the device saying "not
now": the poll has no reading, but the next one is made at its due time, without backing off.

The schedule runs on ``clock`` (the loop's by default), so a test can run hours of polling on a
clock it moves by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from collector.decode import DecodeError, decode
from collector.hub import BadResponse, DeviceError, DeviceOffline, Hub
from collector.writer import Writer
from ddms import metrics
from ddms.bus import Bus, LatestValue, PollStats, StatusChange
from ddms.clock import LOOP_CLOCK, Clock
from ddms.models import Device, DeviceStatus, utcnow
from ddms.services.alarm_rules import AlarmEngine
from ddms.services.live import level_of

logger = logging.getLogger(__name__)

LATE_SHARE = 0.10
LAST_READING_REFRESH = 5.0  # seconds between last_reading_at updates of an online device
PHASE_STEPS = 1_000_003
BACKOFF_CAP = 5.0  # seconds; the wait after failures is at most max(interval, this)
EXTRA_POLL_ROOM = 0.6  # an extra poll at start (``at_once``) only this share of an interval before the next
BUSY_CODES = frozenset({5, 6})  # acknowledge, server device busy: retried at the next poll


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """What the poller needs of a device, copied out of the ORM object once per change."""

    id: uuid.UUID
    name: str
    unit: str
    host: str
    port: int
    unit_id: int
    address: int
    count: int
    data_type: str
    byte_order: str
    scale: float
    offset: float
    interval: float
    threshold_warning_lower: float | None
    threshold_warning_upper: float | None
    threshold_critical_lower: float | None
    threshold_critical_upper: float | None
    hysteresis: float
    status: str
    last_error: str | None

    @classmethod
    def from_device(cls, device: Device) -> DeviceConfig:
        return cls(
            id=device.id,
            name=device.name,
            unit=device.unit,
            host=device.modbus_ip,
            port=device.modbus_port,
            unit_id=device.modbus_slave_id,
            address=device.modbus_register,
            count=device.modbus_register_count,
            data_type=device.data_type,
            byte_order=device.byte_order,
            scale=device.scale,
            offset=device.offset,
            interval=float(device.sampling_interval),
            threshold_warning_lower=device.threshold_warning_lower,
            threshold_warning_upper=device.threshold_warning_upper,
            threshold_critical_lower=device.threshold_critical_lower,
            threshold_critical_upper=device.threshold_critical_upper,
            hysteresis=device.hysteresis,
            status=device.status,
            last_error=device.last_error,
        )

    @property
    def poll_key(self) -> tuple[object, ...]:
        """The fields that change how the device is read; other changes apply without a restart."""
        return (
            self.host,
            self.port,
            self.unit_id,
            self.address,
            self.count,
            self.data_type,
            self.byte_order,
            self.scale,
            self.offset,
            self.interval,
        )


class Poller:
    """Polls one device until stopped; publishes readings and status changes."""

    def __init__(
        self,
        config: DeviceConfig,
        hub: Hub,
        writer: Writer,
        bus: Bus,
        *,
        stats: PollStats | None = None,
        status: str | None = None,
        error: str | None = None,
        backoff_cap: float = BACKOFF_CAP,
        alarms: AlarmEngine | None = None,
        clock: Clock = LOOP_CLOCK,
        guard: Callable[[], bool] | None = None,
    ) -> None:
        self.config = config
        self.guard = guard  # asked before every poll: may this instance poll the device now?
        self._in_poll = False
        self._finishing = False
        self._at_once = False
        self.alarms = alarms
        self.hub, self.writer, self.bus = hub, writer, bus
        self.stats = stats or PollStats()
        self.status = status or config.status
        self.error = error if status else config.last_error
        self.backoff_cap = backoff_cap
        self.failures = 0
        self.clock = clock
        self._busy = False  # the last poll met a busy answer: no back-off for it
        latest = bus.latest(config.id)
        self._level: str | None = latest.level if latest is not None else None
        self._task: asyncio.Task[None] | None = None
        self._published = False
        self._reading_stamped = -math.inf
        bus.track_poll_stats(config.id, self.stats)

    def start(self, *, at_once: bool = False) -> None:
        """Start polling on the device's schedule; ``at_once``: poll first now, when the next due
        time is more than EXTRA_POLL_ROOM of an interval away (a device taken over from a dead
        instance is late)."""
        self._at_once = at_once
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"poll {self.config.name}")

    async def stop(self, *, at_boundary: bool = False) -> None:
        """Stop polling; ``at_boundary``: let a poll in flight end first (a hand-over to another
        instance loses no reading the device was already asked for)."""
        task, self._task = self._task, None
        if task is None:
            return
        if at_boundary and self._in_poll:
            self._finishing = True
        else:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        clock = self.clock
        interval = self.config.interval
        phase = (self.config.id.int % PHASE_STEPS) / PHASE_STEPS * interval
        now = clock.time()
        origin = math.floor(now / interval) * interval + phase
        step = max(0, math.ceil((now - origin) / interval))
        retry_at = 0.0
        stats = self.stats
        extra = self._at_once
        while True:
            if extra and origin + step * interval - clock.time() < EXTRA_POLL_ROOM * interval:
                extra = False  # the schedule's own poll comes soon enough
            due = clock.time() if extra else origin + step * interval
            delay = due - clock.time()
            if delay > 0:
                await clock.sleep(delay)
            if due < retry_at:
                stats.deferred += 1
                step += 1
                continue
            if self.guard is not None and not self.guard():
                stats.deferred += 1  # fenced: another instance may own the device by now
                step += 1
                continue
            started = clock.time()
            lag = started - due
            if lag > LATE_SHARE * interval:
                stats.late += 1
            else:
                stats.on_time += 1
            stats.last_lag = lag
            metrics.POLL_LAG_SECONDS.observe(lag)
            self._in_poll = True
            try:
                ok = await self.poll_once()
            finally:
                self._in_poll = False
            if self._finishing:
                return
            if extra:  # an extra poll before the schedule: the schedule goes on at ``step``
                extra = False
                continue
            ended = clock.time()
            stats.last_duration = ended - started
            if ok:
                self.failures, retry_at = 0, 0.0
            elif self._busy:
                stats.failed += 1  # "not now": asked again at the next due time
            else:
                stats.failed += 1
                self.failures += 1
                wait = min(interval * 2 ** min(self.failures - 1, 30), max(interval, self.backoff_cap))
                retry_at = ended + wait - interval
            passed = math.floor((ended - origin) / interval) - step  # due times that came while polling
            if passed > 0:
                stats.missed += passed
            step += 1 + max(0, passed)

    async def poll_once(self) -> bool:
        """Read, decode, publish; False when the poll produced no reading."""
        config = self.config
        self._busy = False
        try:
            registers = await self.hub.read_holding(
                config.unit_id, config.address, config.count, probe_timeout=config.interval
            )
            value = decode(registers, config.data_type, config.byte_order, config.scale, config.offset)
        except DeviceOffline as exc:
            self._failed(DeviceStatus.OFFLINE, str(exc))
            return False
        except DeviceError as exc:
            self._busy = exc.code in BUSY_CODES
            self._failed(DeviceStatus.ERROR, str(exc))
            return False
        except (BadResponse, DecodeError) as exc:
            self._failed(DeviceStatus.ERROR, str(exc))
            return False
        except Exception as exc:  # a bug must cost one poll, not the device's task
            logger.exception("device %s: unexpected error while polling", config.name)
            self._failed(DeviceStatus.ERROR, f"internal error: {type(exc).__name__}")
            return False
        now = utcnow()
        if self.alarms is not None:
            level, changes = self.alarms.reading(config, value, now)
            if changes:
                self.writer.alarm_changes(changes)
        else:
            level = level_of(value, config, self._level)
        self._level = level
        self._set_status(DeviceStatus.ONLINE, None, now)
        self.writer.add(config.id, now, value)
        self.bus.publish_reading(
            LatestValue(
                device_id=config.id,
                timestamp=now,
                value=value,
                level=level,
                device_status=DeviceStatus.ONLINE,
                device_name=config.name,
                unit=config.unit,
            )
        )
        return True

    def _failed(self, status: str, error: str) -> None:
        """A poll without a reading: the status, and the alarm rules' count of failures in a row."""
        self._set_status(status, error)
        if self.alarms is not None:
            changes = self.alarms.failure(
                self.config, offline=status == DeviceStatus.OFFLINE, at=utcnow(), error=error
            )
            if changes:
                self.writer.alarm_changes(changes)

    def _set_status(self, status: str, error: str | None, reading_at: object = None) -> None:
        config = self.config
        changed = status != self.status
        if changed or (not self._published and status != DeviceStatus.ONLINE):
            if status == DeviceStatus.ONLINE:
                logger.info("device %s (%s unit %d): online", config.name, self.hub.name, config.unit_id)
            else:
                logger.warning(
                    "device %s (%s unit %d): %s: %s",
                    config.name,
                    self.hub.name,
                    config.unit_id,
                    status,
                    error,
                )
        if changed or not self._published:
            # The bus learns the first status of every run too (it may equal the stored one).
            self._published = True
            self.bus.publish_status(StatusChange(config.id, status, error, utcnow(), previous=self.status))
        stamp = reading_at is not None and time.monotonic() - self._reading_stamped >= LAST_READING_REFRESH
        if changed or error != self.error or stamp:
            if stamp:
                self._reading_stamped = time.monotonic()
            # last_reading_at goes to the database at most every few seconds per device: the live
            # value is on the bus, and 1000 devices at 1 s would otherwise mean 1000 updates a second.
            self.writer.status(config.id, status, error, reading_at if stamp else None)  # type: ignore[arg-type]
        self.status, self.error = status, error
