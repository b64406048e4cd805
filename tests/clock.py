"""A ``ddms.clock.Clock`` that moves only when the test advances it.

A service given this clock keeps its schedule on the test's time line: "one per interval" becomes
"one each time the test advances by the interval", whatever the machine's speed.
"""

from __future__ import annotations

import asyncio


class FakeClock:
    """Monotonic time frozen at ``start``; ``advance`` wakes the sleepers whose deadline it passes."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        entry = (self.now + seconds, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, woken in self._sleepers:
            if deadline <= self.now and not woken.done():
                woken.set_result(None)

    async def next_wakeup(self, within: float = 10.0) -> float:
        """The earliest deadline someone sleeps until (waiting, on real time, for a sleeper to appear)."""
        async with asyncio.timeout(within):
            while True:
                pending = [deadline for deadline, woken in self._sleepers if not woken.done()]
                if pending:
                    return min(pending)
                await asyncio.sleep(0.01)
