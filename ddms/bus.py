"""The in-process event bus: the latest value and status of every device, and publish/subscribe.

Pages and the SSE stream read from here instead of querying the database per client; the collector
publishes here and listens here for configuration changes made through REST or the pages.

What is published (all immutable dataclasses):

- ``LatestValue``  a new reading of a device (value, alarm level, connection status, name, unit)
- ``StatusChange`` a device went online/offline/error (published once per change, not per poll)
- ``DeviceChange`` a device was created, updated or deleted (the collector reloads it)
- ``Revocation``   an account's sessions or a display link stopped being valid (open streams end)

How to consume it:

- ``bus.latest(device_id)`` / ``bus.latest_all()`` / ``bus.status(device_id)``: current state, no waiting.
- ``bus.listen(callback, device_ids=None)``: a synchronous callback per event, called in the event
  loop right after publication. It must be quick and must not block (NiceGUI pages use this:
  ``unsubscribe = get_bus().listen(on_event)`` and call ``unsubscribe()`` when the client leaves).
- ``async with bus.subscribe(device_ids=None) as events: async for event in events: ...``: an async
  iterator with a bounded queue; a consumer that falls behind loses the oldest events (counted in
  ``events.dropped``) rather than making the publisher wait.
- ``bus.on_device_change(listener)``: configuration changes only (the collector).
- ``bus.on_revocation(listener)``: credentials revoked (a user deleted, their password or role changed,
  a display link revoked); open SSE streams and wall displays re-check their caller at once.
- ``bus.poll_stats(device_id)``: the collector's poll accounting for one device (on time, late,
  missed, deferred, failed), for the device page.
- ``bus.on_alarm_notices(listener)``: ``listener(list[AlarmNotice])`` after alarm transitions (raised,
  escalated, deescalated, cleared, acknowledged) are committed to the database (channels, pages).
- ``bus.on_notifications(listener)``: ``listener(list[NotificationOut])`` after per-user notifications
  are committed (each carries its ``user_id``): the notification stream and the pages' bell.
- ``bus.on_user_revoked(listener)``: ``listener(user_id)`` when an account's sessions end (deleted,
  role or password changed; published by ``ddms.services.users``), so open pages and streams of that
  user re-check their session at once instead of at their next periodic check.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ddms.schemas.alarms import AlarmOut, NotificationOut

logger = logging.getLogger(__name__)


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class DeviceChange:
    """A device's configuration changed; the collector reloads it."""

    kind: ChangeKind
    device_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The newest reading of a device with its alarm level and connection status."""

    device_id: uuid.UUID
    timestamp: datetime
    value: float
    level: str
    device_status: str
    device_name: str = ""
    unit: str = ""


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A device's connection status changed (``error`` holds the reason when not online)."""

    device_id: uuid.UUID
    status: str
    error: str | None
    at: datetime
    previous: str | None = None


@dataclass(frozen=True, slots=True)
class Revocation:
    """Credentials stopped being valid: every session of ``user_id``, or one display link.

    Published after the change is committed, so a listener re-checking the database sees it.
    """

    user_id: uuid.UUID | None = None
    display_token_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class AlarmNotice:
    """An alarm transition, published after it is committed; ``alarm`` is the alarm after it."""

    transition: str  # raised | escalated | deescalated | cleared | acknowledged
    alarm: AlarmOut
    at: datetime


@dataclass(slots=True)
class PollStats:
    """Poll accounting of one device, kept by the collector (mutable; read, do not write).

    ``on_time``: started within 10 % of the interval after its due time; ``late``: started later than
    that; ``missed``: skipped because the previous poll was still running; ``deferred``: skipped on
    purpose while an unreachable device backs off; ``failed``: polls that ended without a reading.
    """

    on_time: int = 0
    late: int = 0
    missed: int = 0
    deferred: int = 0
    failed: int = 0
    last_lag: float = 0.0
    last_duration: float = 0.0

    @property
    def polls(self) -> int:
        return self.on_time + self.late


Event = LatestValue | StatusChange | DeviceChange
Listener = Callable[[DeviceChange], None]
EventCallback = Callable[[Event], None]
RevocationListener = Callable[[Revocation], None]
AlarmNoticeListener = Callable[[list[AlarmNotice]], None]
NotificationListener = Callable[[list["NotificationOut"]], None]


class Subscription:
    """Bus events as an async iterator, from a bounded queue (oldest dropped when full)."""

    def __init__(self, bus: Bus, device_ids: Collection[uuid.UUID] | None, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self._unsubscribe = bus.listen(self._put, device_ids=device_ids)
        self.dropped = 0

    def _put(self, event: Event) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self._queue.get()

    async def get(self, within: float | None = None) -> Event:
        """The next event; TimeoutError after ``within`` seconds."""
        async with asyncio.timeout(within):
            return await self._queue.get()

    def close(self) -> None:
        self._unsubscribe()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class Bus:
    """Latest state in memory and synchronous fan-out (listeners must not block)."""

    def __init__(self) -> None:
        self._change_listeners: list[Listener] = []
        self._callbacks: list[tuple[EventCallback, frozenset[uuid.UUID] | None]] = []
        self._revocation_listeners: list[RevocationListener] = []
        self._alarm_listeners: list[AlarmNoticeListener] = []
        self._notification_listeners: list[NotificationListener] = []
        self._latest: dict[uuid.UUID, LatestValue] = {}
        self._status: dict[uuid.UUID, StatusChange] = {}
        self._poll_stats: dict[uuid.UUID, PollStats] = {}

    # --- current state -------------------------------------------------------------------------
    def latest(self, device_id: uuid.UUID) -> LatestValue | None:
        return self._latest.get(device_id)

    def latest_all(self) -> dict[uuid.UUID, LatestValue]:
        """A snapshot (copy) of every device's latest value."""
        return dict(self._latest)

    def status(self, device_id: uuid.UUID) -> StatusChange | None:
        """The last status the collector published for the device (None before its first poll)."""
        return self._status.get(device_id)

    def set_latest(self, latest: LatestValue) -> None:
        self._latest[latest.device_id] = latest

    def forget(self, device_id: uuid.UUID) -> None:
        self._latest.pop(device_id, None)
        self._status.pop(device_id, None)
        self._poll_stats.pop(device_id, None)

    def rename(self, device_id: uuid.UUID, name: str, unit: str) -> None:
        """Keep the name and unit of the latest value in step with the device's configuration."""
        latest = self._latest.get(device_id)
        if latest is not None and (latest.device_name, latest.unit) != (name, unit):
            self._latest[device_id] = replace(latest, device_name=name, unit=unit)

    # --- publishing ----------------------------------------------------------------------------
    def publish_reading(self, latest: LatestValue) -> None:
        self._latest[latest.device_id] = latest
        self._emit(latest)

    def publish_status(self, change: StatusChange) -> None:
        self._status[change.device_id] = change
        latest = self._latest.get(change.device_id)
        if latest is not None and latest.device_status != change.status:
            self._latest[change.device_id] = replace(latest, device_status=change.status)
        self._emit(change)

    def device_changed(self, kind: ChangeKind, device_id: uuid.UUID) -> None:
        change = DeviceChange(kind, device_id)
        if kind is ChangeKind.DELETED:
            self.forget(device_id)
        for listener in list(self._change_listeners):
            try:
                listener(change)
            except Exception:
                logger.exception("device-change listener failed")
        self._emit(change)

    def revoked(self, revocation: Revocation) -> None:
        """Tell every open stream and display that ``revocation`` happened (they re-check at once)."""
        for listener in list(self._revocation_listeners):
            try:
                listener(revocation)
            except Exception:
                logger.exception("revocation listener failed")

    def alarm_notices(self, notices: list[AlarmNotice]) -> None:
        """Tell listeners about committed alarm transitions (in the order they happened)."""
        for listener in list(self._alarm_listeners):
            try:
                listener(notices)
            except Exception:
                logger.exception("alarm-notice listener failed")

    def notifications(self, items: list[NotificationOut]) -> None:
        """Tell listeners about committed per-user notifications."""
        for listener in list(self._notification_listeners):
            try:
                listener(items)
            except Exception:
                logger.exception("notification listener failed")

    def _emit(self, event: Event) -> None:
        for callback, device_ids in list(self._callbacks):
            if device_ids is not None and event.device_id not in device_ids:
                continue
            try:
                callback(event)
            except Exception:
                logger.exception("bus listener failed")

    # --- subscribing ---------------------------------------------------------------------------
    def listen(
        self, callback: EventCallback, *, device_ids: Collection[uuid.UUID] | None = None
    ) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (of ``device_ids`` only, when given).

        Returns a function that unsubscribes (safe to call twice).
        """
        entry = (callback, frozenset(device_ids) if device_ids is not None else None)
        self._callbacks.append(entry)

        def unsubscribe() -> None:
            if entry in self._callbacks:
                self._callbacks.remove(entry)

        return unsubscribe

    def subscribe(
        self, *, device_ids: Collection[uuid.UUID] | None = None, maxsize: int = 1000
    ) -> Subscription:
        """An async iterator of events; use ``async with`` (or call ``close()``) to unsubscribe."""
        return Subscription(self, device_ids, maxsize)

    def on_device_change(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener``; returns a function that unregisters it."""
        self._change_listeners.append(listener)
        return lambda: self._change_listeners.remove(listener) if listener in self._change_listeners else None

    def on_revocation(self, listener: RevocationListener) -> Callable[[], None]:
        """Register ``listener`` for revoked credentials; returns an unregister function (safe twice)."""
        self._revocation_listeners.append(listener)

        def unregister() -> None:
            if listener in self._revocation_listeners:
                self._revocation_listeners.remove(listener)

        return unregister

    def on_alarm_notices(self, listener: AlarmNoticeListener) -> Callable[[], None]:
        """Register ``listener`` for committed alarm transitions; returns an unregister function."""
        return _register(self._alarm_listeners, listener)

    def on_notifications(self, listener: NotificationListener) -> Callable[[], None]:
        """Register ``listener`` for committed notifications (of every user); returns an unregister."""
        return _register(self._notification_listeners, listener)

    # --- poll accounting -----------------------------------------------------------------------
    def track_poll_stats(self, device_id: uuid.UUID, stats: PollStats) -> None:
        self._poll_stats[device_id] = stats

    def poll_stats(self, device_id: uuid.UUID) -> PollStats | None:
        return self._poll_stats.get(device_id)

    def poll_stats_all(self) -> dict[uuid.UUID, PollStats]:
        return dict(self._poll_stats)

    @property
    def subscriber_count(self) -> int:
        return len(self._callbacks)


def _register(listeners: list[Any], listener: Any) -> Callable[[], None]:
    listeners.append(listener)

    def unregister() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return unregister


_bus = Bus()


def get_bus() -> Bus:
    """The process-wide bus."""
    return _bus


def reset_bus() -> Bus:
    """A fresh bus (tests and app restarts within one process)."""
    global _bus
    _bus = Bus()
    return _bus


__all__ = [
    "AlarmNotice",
    "Bus",
    "ChangeKind",
    "DeviceChange",
    "Event",
    "LatestValue",
    "PollStats",
    "Revocation",
    "StatusChange",
    "Subscription",
    "get_bus",
    "reset_bus",
]
