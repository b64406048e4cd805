"""The collector service: one poller task per device, hubs per host:port, the writer.

Started and stopped by the app's lifespan. Configuration changes made through REST or the pages
arrive as ``DeviceChange`` events on the bus and are applied at once (the device is re-read from
the database): a deleted device stops, a new one starts, a changed one restarts only when how it is
read changed (address, interval, host, ...); a new name, unit or threshold applies in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from collector.hub import HubPool
from collector.poller import BACKOFF_CAP, DeviceConfig, Poller
from collector.writer import Writer
from ddms import db, runtime
from ddms.bus import Bus, DeviceChange, get_bus
from ddms.config import Settings
from ddms.errors import NotFound
from ddms.models import utcnow
from ddms.services import alarms, devices
from ddms.services.alarm_rules import AlarmEngine

logger = logging.getLogger(__name__)

RELOAD_ATTEMPTS = 30


class Collector:
    def __init__(self, settings: Settings, *, backoff_cap: float = BACKOFF_CAP) -> None:
        self.settings = settings
        self.backoff_cap = backoff_cap
        self.pollers: dict[uuid.UUID, Poller] = {}
        self.bus: Bus = get_bus()
        self.pool = HubPool(
            timeout=settings.modbus_timeout,
            retries=settings.modbus_retry_attempts,
            pipeline_depth=settings.modbus_pipeline_depth,
        )
        self.writer = Writer(
            self.bus,
            batch_size=settings.writer_batch_size,
            flush_interval=settings.writer_flush_interval,
            buffer_limit=settings.writer_buffer_limit,
            spool_path=settings.ddms_data_dir / "spool.db",
            spool_max_bytes=settings.writer_spool_max_bytes,
            spill_after=settings.writer_spill_after_seconds,
        )
        self._changes: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._unlisten: object = None
        self.alarms: AlarmEngine | None = AlarmEngine() if settings.alarms_enabled else None

    async def start(self) -> None:
        self.bus = get_bus()
        self.writer.bus = self.bus
        await self.writer.start()
        async with db.session_scope() as session:
            rows = await devices.list_devices(session=session)
            if self.alarms is not None:  # a restart continues the alarms it left
                self.alarms.restore(await alarms.load_live(session=session))
        if self.alarms is not None:
            alarms.set_engine(self.alarms)
        for device in rows:
            self._start_poller(DeviceConfig.from_device(device))
        self._unlisten = self.bus.on_device_change(self._on_change)
        runtime.current().collectors.append(self)  # test-connection reuses its connections
        logger.info(
            "collector started: %d device(s) on %d connection(s)",
            len(self.pollers),
            len({(p.config.host, p.config.port) for p in self.pollers.values()}),
        )

    async def stop(self) -> None:
        if callable(self._unlisten):
            self._unlisten()
        if self.alarms is not None and alarms.get_engine() is self.alarms:
            alarms.set_engine(None)
        running = runtime.current().collectors
        if self in running:
            running.remove(self)
        for task in list(self._changes):
            task.cancel()
        await asyncio.gather(*self._changes, return_exceptions=True)
        await asyncio.gather(*(poller.stop() for poller in self.pollers.values()))
        self.pollers.clear()
        await self.pool.close()
        await self.writer.stop()
        logger.info("collector stopped")

    def _start_poller(self, config: DeviceConfig, previous: Poller | None = None) -> None:
        hub = self.pool.acquire(config.host, config.port, config.id)
        poller = Poller(
            config,
            hub,
            self.writer,
            self.bus,
            backoff_cap=self.backoff_cap,
            alarms=self.alarms,
            stats=previous.stats if previous else None,
            status=previous.status if previous else None,
            error=previous.error if previous else None,
        )
        self.pollers[config.id] = poller
        poller.start()

    async def _stop_poller(self, device_id: uuid.UUID) -> Poller | None:
        poller = self.pollers.pop(device_id, None)
        if poller is not None:
            await poller.stop()
            await self.pool.release(poller.config.host, poller.config.port, device_id)
        return poller

    # --- live configuration changes -----------------------------------------------------------
    def _on_change(self, change: DeviceChange) -> None:
        task = asyncio.get_running_loop().create_task(self._apply(change.device_id))
        self._changes.add(task)
        task.add_done_callback(self._changes.discard)

    async def _apply(self, device_id: uuid.UUID) -> None:
        for attempt in range(RELOAD_ATTEMPTS):
            try:
                async with self._lock:
                    await self._reload(device_id)
                return
            except Exception as exc:
                if not db.is_outage(exc):
                    logger.exception("collector: applying a change of device %s failed", device_id)
                    return
                logger.warning(
                    "collector: database unavailable while reloading device %s (attempt %d)",
                    device_id,
                    attempt + 1,
                )
                await asyncio.sleep(1.0)

    async def _reload(self, device_id: uuid.UUID) -> None:
        try:
            async with db.session_scope() as session:
                device = await devices.get_device(session=session, device_id=device_id)
            config: DeviceConfig | None = DeviceConfig.from_device(device)
        except NotFound:
            config = None
        current = self.pollers.get(device_id)
        if config is None:
            if self.alarms is not None:  # its alarms clear; the history keeps them
                self.writer.alarm_changes(self.alarms.device_deleted(device_id, utcnow()))
            if current is not None:
                await self._stop_poller(device_id)
                self.bus.forget(device_id)
                logger.info("collector: stopped polling %s (deleted)", current.config.name)
            return
        self.bus.rename(device_id, config.name, config.unit)
        if current is not None and current.config.poll_key == config.poll_key:
            current.config = config  # name, unit, thresholds: no need to restart
            return
        previous = await self._stop_poller(device_id)
        self._start_poller(config, previous)
        logger.info(
            "collector: %s %s (every %g s from %s:%d unit %d)",
            "restarted" if previous else "started",
            config.name,
            config.interval,
            config.host,
            config.port,
            config.unit_id,
        )

    async def wait_idle(self) -> None:
        """Wait until every configuration change received so far has been applied (tests)."""
        while self._changes:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._changes), return_exceptions=True)
