"""Bus events as an async iterator, for tests that wait for what the collector publishes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Collection
from types import TracebackType

from ddms.bus import Bus, Event


class Subscription:
    """Events of ``device_ids`` (all when None) from a bounded queue (oldest dropped when full)."""

    def __init__(
        self, bus: Bus, device_ids: Collection[uuid.UUID] | None = None, maxsize: int = 1000
    ) -> None:
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


def subscribe(bus: Bus, *, device_ids: Collection[uuid.UUID] | None = None) -> Subscription:
    """``async with subscribe(get_bus(), device_ids={...}) as events``."""
    return Subscription(bus, device_ids)
