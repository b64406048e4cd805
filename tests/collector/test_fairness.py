"""Fairness on a shared connection: a dead or busy unit must not cost its neighbours their schedule.

A depth-1 hub (a serial gateway: one request at a time) in front of the hand-written server, real
pollers and a real (unstarted) writer, all on a clock the test moves by hand: simulated minutes
run in seconds, and "on time" is measured on the test's time line, whatever the machine's speed.
The test advances the clock to the next thing anyone sleeps until, but only once the system is
settled: every request the hub sent has reached the server, every answer the server wrote has
reached the hub, and every poller waits on the clock again.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from datetime import datetime

import pytest

from collector.hub import RECONNECT_BACKOFF_CAP, DeviceOffline, Hub
from collector.poller import BACKOFF_CAP, DeviceConfig, Poller
from collector.writer import Writer
from ddms.bus import Bus
from tests.clock import FakeClock
from tests.collector.modbus_server import RawModbusServer, Unit
from tests.collector.test_hub import free_port

INTERVAL = 1.0
TIMEOUT = 5.0  # MODBUS_TIMEOUT


def config(unit_id: int, port: int) -> DeviceConfig:
    return DeviceConfig(
        id=uuid.uuid4(),
        name=f"unit {unit_id}",
        unit="",
        host="127.0.0.1",
        port=port,
        unit_id=unit_id,
        address=0,
        count=1,
        data_type="uint16",
        byte_order="ABCD",
        scale=1.0,
        offset=0.0,
        interval=INTERVAL,
        threshold_warning_lower=None,
        threshold_warning_upper=None,
        threshold_critical_lower=None,
        threshold_critical_upper=None,
        hysteresis=0.0,
        status="unknown",
        last_error=None,
    )


class CountingWriter(Writer):
    """The writer's poll-path interface, counting readings per device instead of buffering them."""

    def __init__(self) -> None:
        super().__init__(Bus())
        self.readings: Counter[uuid.UUID] = Counter()

    def add(self, device_id: uuid.UUID, timestamp: datetime, value: float) -> None:
        self.readings[device_id] += 1


class Rig:
    """Pollers of the given units behind one depth-1 hub, on one fake clock."""

    def __init__(self, server: RawModbusServer, units: list[int]) -> None:
        self.server = server
        self.clock = FakeClock()
        server.clock = self.clock
        self.hub = Hub("127.0.0.1", server.port, timeout=TIMEOUT, pipeline_depth=1, clock=self.clock)
        self.writer = CountingWriter()
        bus = Bus()
        self.pollers = {
            unit: Poller(config(unit, server.port), self.hub, self.writer, bus, clock=self.clock)
            for unit in units
        }

    def _settled(self) -> bool:
        server, stats = self.server, self.hub.stats
        sleeping = sum(1 for _deadline, woken in self.clock._sleepers if not woken.done())
        return (
            stats.sent == len(server.requests)
            and server.outstanding == 0
            and stats.frames == server.answered
            and sleeping == len(self.pollers)  # each poller waits on the clock (its schedule or a deadline)
        )

    async def settle(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            if self._settled():
                for _ in range(3):  # still so after the loop ran the tasks it just woke
                    await asyncio.sleep(0)
                if self._settled():
                    return
            if time.monotonic() > deadline:
                raise AssertionError("the pollers did not settle")
            await asyncio.sleep(0.001)

    async def run(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward, one wake-up at a time."""
        end = self.clock.now + seconds
        while True:
            await self.settle()
            wakeup = await self.clock.next_wakeup()
            if wakeup > end:
                self.clock.advance(end - self.clock.now)
                return
            self.clock.advance(max(0.0, wakeup - self.clock.now))

    def readings(self, unit: int) -> int:
        return self.writer.readings[self.pollers[unit].config.id]

    def asked(self, unit: int) -> list[float]:
        return [at for asked, at in self.server.stamps if asked == unit]

    async def __aenter__(self) -> Rig:
        for poller in self.pollers.values():
            poller.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(poller.stop() for poller in self.pollers.values()))
        await self.hub.close()


LIVE = [1, 2, 3]
DEAD = 9


async def test_dead_unit_on_a_depth_1_gateway_leaves_its_neighbours_their_schedule(
    raw_server: RawModbusServer,
) -> None:
    raw_server.units = {unit: Unit(registers={0: unit}) for unit in LIVE} | {DEAD: Unit(silent=True)}
    window = 900.0
    async with Rig(raw_server, [*LIVE, DEAD]) as rig:
        await rig.run(window)
        due = window / INTERVAL
        for unit in LIVE:
            stats = rig.pollers[unit].stats
            on_schedule = stats.on_time - stats.failed  # started on time and produced a reading
            assert on_schedule >= 0.99 * due, (unit, on_schedule, stats)
            assert rig.readings(unit) >= 0.99 * due
        assert rig.hub.suspects == {DEAD}
        asked = rig.asked(DEAD)
        gaps = [later - earlier for earlier, later in itertools.pairwise(asked)]
        assert gaps[0] >= TIMEOUT  # its first request had the full timeout (it was not known dead yet)
        # Then probes: never two in flight (each waits for the previous one's shortened timeout),
        # and never more than the back-off cap apart.
        assert all(min(TIMEOUT, INTERVAL) <= gap <= max(INTERVAL, BACKOFF_CAP) + INTERVAL for gap in gaps[1:])
        assert len(asked) >= window / (BACKOFF_CAP + INTERVAL)

        raw_server.units[DEAD] = Unit(registers={0: 99})  # it comes back
        before = rig.readings(DEAD)
        await rig.run(max(INTERVAL, BACKOFF_CAP) + INTERVAL)
        assert rig.readings(DEAD) > before  # read again within the back-off cap
        assert rig.pollers[DEAD].status == "online"
        assert rig.hub.suspects == frozenset()


async def test_busy_answers_are_retried_at_the_next_poll_without_back_off(
    raw_server: RawModbusServer,
) -> None:
    raw_server.units = {1: Unit(registers={0: 1}), 2: Unit(exception=6), 3: Unit(exception=5)}
    async with Rig(raw_server, [1, 2, 3]) as rig:
        await rig.run(10.0)
        for unit in (2, 3):
            asked = rig.asked(unit)
            assert len(asked) >= 10  # asked at every due time ...
            assert all(
                later - earlier == pytest.approx(INTERVAL) for earlier, later in itertools.pairwise(asked)
            )
            assert rig.pollers[unit].stats.deferred == 0  # ... none skipped for a back-off
            assert rig.pollers[unit].status == "error"
        raw_server.units[2] = Unit(registers={0: 2})
        asked_at = len(rig.asked(2))
        await rig.run(INTERVAL)
        assert len(rig.asked(2)) == asked_at + 1
        assert rig.readings(2) == 1
        assert rig.pollers[2].status == "online"


async def test_reconnect_back_off_is_capped() -> None:
    clock = FakeClock()
    hub = Hub("127.0.0.1", free_port(), timeout=0.5, clock=clock)
    try:
        for _ in range(10):  # 0.5, 1, 2, 4, then the cap: each attempt is a real one after the cap
            with pytest.raises(DeviceOffline, match=r"refused by 127\.0\.0\.1:\d+$"):
                await hub.read_holding(1, 0, 1)
            clock.advance(RECONNECT_BACKOFF_CAP)
        assert RECONNECT_BACKOFF_CAP <= 5.0
    finally:
        await hub.close()
