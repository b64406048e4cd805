"""Time as a parameter: the monotonic clock a service reads and sleeps on.

A service that keeps a schedule takes a ``Clock`` (default: the running loop's), so a test can pass
one that moves only when the test says so and prove "one per interval" without measuring seconds.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds and a sleep on the same time line."""

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock: what ``asyncio.sleep`` and ``asyncio.timeout`` wait on."""

    def time(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


LOOP_CLOCK = LoopClock()
