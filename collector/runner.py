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
import time
import uuid

from collector.hub import HubPool
from collector.poller import BACKOFF_CAP, DeviceConfig, Poller
from collector.writer import Writer
from ddms import db, runtime
from ddms.bus import Bus, DeviceChange, get_bus
from ddms.config import Settings
from ddms.errors import NotFound
from ddms.models import utcnow
from ddms.services import alarms, cluster, devices
from ddms.services.alarm_rules import AlarmEngine

logger = logging.getLogger(__name__)

RELOAD_ATTEMPTS = 30
RECONCILE_SECONDS = 10.0
"""With several instances: the whole device list is read again this often (a missed NOTIFY)."""


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
        self.node: cluster.Node | None = None
        self.configs: dict[uuid.UUID, DeviceConfig] = {}  # every device, polled here or elsewhere
        self._releasing: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._rebalancing: asyncio.Task[None] | None = None
        self._node_hooks: list[object] = []
        self._reconciled = 0.0
        self._generation = 0  # the node connection whose locks the pollers hold
        self._owners: dict[uuid.UUID, uuid.UUID] = {}  # the assignment of the last rebalance

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
        self.configs = {device.id: DeviceConfig.from_device(device) for device in rows}
        self.node = cluster.current()
        if self.node is None:
            for config in self.configs.values():
                self._start_poller(config)
        else:
            self._reconciled = time.monotonic()
            await self._rebalance()  # this instance's share is polled when start() returns
            self._node_hooks = [
                self.node.on_tick(self._schedule_rebalance),
                self.node.on_lost(self._fenced),
            ]
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
        for unhook in self._node_hooks:
            if callable(unhook):
                unhook()
        if self._rebalancing is not None:
            self._rebalancing.cancel()
            await asyncio.gather(self._rebalancing, return_exceptions=True)
        await asyncio.gather(*self._releasing.values(), return_exceptions=True)
        if self.alarms is not None and alarms.get_engine() is self.alarms:
            alarms.set_engine(None)
        running = runtime.current().collectors
        if self in running:
            running.remove(self)
        for task in list(self._changes):
            task.cancel()
        await asyncio.gather(*self._changes, return_exceptions=True)
        await asyncio.gather(*(poller.stop() for poller in self.pollers.values()))
        if self.node is not None:
            await self.node.unlock_devices(list(self.pollers))
        self.pollers.clear()
        await self.pool.close()
        await self.writer.stop()
        logger.info("collector stopped")

    def _start_poller(
        self, config: DeviceConfig, previous: Poller | None = None, *, at_once: bool = False
    ) -> None:
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
            guard=self.node.may_poll if self.node is not None else None,
        )
        self.pollers[config.id] = poller
        poller.start(at_once=at_once)

    async def _stop_poller(self, device_id: uuid.UUID, *, at_boundary: bool = False) -> Poller | None:
        poller = self.pollers.pop(device_id, None)
        if poller is not None:
            await poller.stop(at_boundary=at_boundary)
            await self.pool.release(poller.config.host, poller.config.port, device_id)
        return poller

    # --- sharing the devices with other instances (services.cluster) --------------------------
    def _schedule_rebalance(self) -> None:
        """After each heartbeat: claim this instance's share, hand over what another should poll."""
        if self._rebalancing is None or self._rebalancing.done():
            self._rebalancing = asyncio.get_running_loop().create_task(self._rebalance_guarded())

    async def _rebalance_guarded(self) -> None:
        try:
            if time.monotonic() - self._reconciled >= RECONCILE_SECONDS:
                self._reconciled = time.monotonic()
                await self._reconcile()
            await self._rebalance()
        except Exception as exc:
            if not db.is_outage(exc) and not isinstance(exc, ConnectionError):
                logger.exception("collector: sharing the devices failed")

    async def _rebalance(self) -> None:
        node = self.node
        assert node is not None
        async with self._lock:
            if not node.valid():
                return
            if self._generation != node.generation:  # pollers of an older connection hold no lock
                kept = await node.lock_devices(list(self.pollers))  # a solo instance polled on
                for device in [device for device in self.pollers if device not in kept]:
                    await self._stop_poller(device)
                self._generation = node.generation
            generation = node.generation
            owners = node.owners(self.configs)
            previous, self._owners = self._owners, owners
            mine = {device for device, owner in owners.items() if owner == node.id}
            for device in [device for device in self.pollers if device not in mine]:
                self._hand_over(device)
            wanted = [d for d in mine if d not in self.pollers and d not in self._releasing]
            locked = await node.lock_devices(wanted)
            if node.generation != generation or not node.valid():
                return  # the connection went meanwhile, and those locks with it
            try:
                await self._take_over_alarms(locked)
            except BaseException:
                await node.unlock_devices(list(locked))  # session locks count: never hold one twice
                raise
            for device in locked:
                config = self.configs.get(device)
                if config is None:  # deleted while the lock was taken
                    await node.unlock_devices([device])
                    continue
                self._start_poller(config, at_once=self._overdue(config, previous.get(device)))
                logger.debug("collector: now polling %s", config.name)

    def _overdue(self, config: DeviceConfig, previous: uuid.UUID | None) -> bool:
        """Poll a taken-over device at once? Only one left by an instance that is gone (a hand-over
        keeps the schedule), and only when its last reading (relayed by the live bus) is more than
        1.5 intervals old: a device whose owner was killed just after a poll waits for its schedule."""
        node = self.node
        if node is None or previous in (None, node.id, *node.live):
            return False
        latest = self.bus.latest(config.id)
        return latest is not None and (utcnow() - latest.timestamp).total_seconds() >= 1.5 * config.interval

    async def _take_over_alarms(self, device_ids: set[uuid.UUID]) -> None:
        """Devices polled elsewhere until now: their alarms as the previous owner left them (stored),
        so a take-over continues an alarm instead of raising it again."""
        if self.alarms is None or not device_ids:
            return
        async with db.session_scope() as session:
            live = await alarms.load_live(session=session)
        for device in device_ids:
            self.alarms.devices.pop(device, None)
        self.alarms.restore(alarm for alarm in live if alarm.device_id in device_ids)

    def _hand_over(self, device_id: uuid.UUID) -> None:
        """Stop polling at the next poll boundary, then unlock, so another instance may start."""
        poller = self.pollers.pop(device_id)
        node = self.node
        assert node is not None

        async def release() -> None:
            try:
                await poller.stop(at_boundary=True)
                await self.pool.release(poller.config.host, poller.config.port, device_id)
                await node.unlock_devices([device_id])
            finally:
                self._releasing.pop(device_id, None)

        self._releasing[device_id] = asyncio.get_running_loop().create_task(release())

    def _fenced(self) -> None:
        """The node lost its locks: every poller stops now (the guard already stops their polls),
        unless it was the only instance (``Node.solo``): then they go on and the writer spools, and
        its next connection locks their devices again (``_rebalance``)."""
        if self.node is not None and self.node.solo:
            return
        pollers, self.pollers = dict(self.pollers), {}
        for poller in pollers.values():
            task = asyncio.get_running_loop().create_task(poller.stop())
            self._changes.add(task)
            task.add_done_callback(self._changes.discard)
            release = self.pool.release(poller.config.host, poller.config.port, poller.config.id)
            task = asyncio.get_running_loop().create_task(release)
            self._changes.add(task)
            task.add_done_callback(self._changes.discard)
        if pollers:
            logger.warning("collector: stopped polling %d device(s) until the database is back", len(pollers))

    async def _reconcile(self) -> None:
        """Read every device again and apply what differs (a change whose notice never came)."""
        async with db.session_scope() as session:
            rows = await devices.list_devices(session=session)
        stored = {device.id: DeviceConfig.from_device(device) for device in rows}
        differing = [
            device
            for device in stored.keys() | self.configs.keys()
            if stored.get(device) is None
            or self.configs.get(device) is None
            or stored[device].poll_key != self.configs[device].poll_key
            or _settings_of(stored[device]) != _settings_of(self.configs[device])
        ]
        for device in differing:
            async with self._lock:
                await self._reload(device)

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
            self.configs.pop(device_id, None)
            if self.alarms is not None and (current is not None or self.node is None):
                # its alarms clear (once: by its poller's instance); the history keeps them
                self.writer.alarm_changes(self.alarms.device_deleted(device_id, utcnow()))
            if current is not None:
                await self._stop_poller(device_id)
                if self.node is not None:
                    await self.node.unlock_devices([device_id])
                self.bus.forget(device_id)
                logger.info("collector: stopped polling %s (deleted)", current.config.name)
            return
        self.configs[device_id] = config
        self.bus.rename(device_id, config.name, config.unit)
        if current is not None and current.config.poll_key == config.poll_key:
            current.config = config  # name, unit, thresholds: no need to restart
            return
        if current is None and self.node is not None:
            node = self.node
            if device_id in self._releasing or node.owners(self.configs).get(device_id) != node.id:
                return  # another instance polls it (and has just been told)
            generation = node.generation
            if self._generation != generation or not await node.lock_devices([device_id]):
                return  # its previous owner has not let go yet: the next rebalance takes it
            if node.generation != generation:
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


def _settings_of(config: DeviceConfig) -> tuple[object, ...]:
    """What a change may alter without a restart (name, unit, thresholds): compared by the reconcile."""
    return (
        config.name,
        config.unit,
        config.threshold_warning_lower,
        config.threshold_warning_upper,
        config.threshold_critical_lower,
        config.threshold_critical_upper,
        config.hysteresis,
    )
