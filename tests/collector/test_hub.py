"""The shared connection against a stock pymodbus server and a hand-written Modbus server.

No outcome here depends on how fast the machine is: every hub runs on a clock the test moves by
hand, so a request times out when the test says so and never because the machine was slow;
answers the tests wait for are held on events, and the tests wait on what the server has received
(its request log), not on time.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from collector.decode import decode
from collector.hub import (
    DEAD_LINK_TIMEOUTS,
    BadResponse,
    DeviceError,
    DeviceOffline,
    Hub,
    RequestTimeout,
)
from tests.clock import FakeClock
from tests.collector.conftest import StockServer, eventually
from tests.collector.modbus_server import RawModbusServer, Unit
from tests.collector.test_decode import VECTORS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def time_out(clock: FakeClock) -> None:
    """Move the clock to the earliest deadline a request waits on (waiting for it to be set)."""
    deadline = await clock.next_wakeup()
    clock.advance(deadline - clock.now)


async def asked(server: RawModbusServer, unit_id: int, times: int) -> None:
    await server.wait_until(lambda: sum(1 for unit, _a, _c in server.requests if unit == unit_id) >= times)


async def test_every_type_and_byte_order_over_the_wire_from_stock_pymodbus(stock_server: StockServer) -> None:
    registers: list[int] = []
    layout = []
    for data_type, order, words, expected in VECTORS:
        layout.append((len(registers), len(words), data_type, order, expected))
        registers.extend(words)
    port = await stock_server({1: registers})
    hub = Hub("127.0.0.1", port, timeout=1.0, clock=FakeClock())
    try:
        for address, count, data_type, order, expected in layout:
            read = await hub.read_holding(1, address, count)
            assert decode(read, data_type, order) == expected, (data_type, order)
    finally:
        await hub.close()


async def test_silent_unit_costs_one_timeout_and_does_not_stall_its_neighbour(
    raw_server: RawModbusServer,
) -> None:
    held = asyncio.Event()
    raw_server.units = {
        1: Unit(registers={0: 9}, hold=held),
        2: Unit(registers={0: 42}),
        3: Unit(silent=True),
    }
    hub = Hub("127.0.0.1", raw_server.port, timeout=30.0, retries=3, clock=FakeClock())
    try:
        waiting = asyncio.ensure_future(hub.read_holding(1, 0, 1))
        await asked(raw_server, 1, 1)
        for _ in range(20):
            assert await hub.read_holding(2, 0, 1) == [42]
        assert not waiting.done()  # all twenty answered while unit 1's answer was still held back
        held.set()
        assert await waiting == [9]
    finally:
        await hub.close()
    clock = FakeClock()
    hub = Hub("127.0.0.1", raw_server.port, timeout=0.3, retries=3, clock=clock)
    try:
        silent = asyncio.ensure_future(hub.read_holding(3, 0, 1))
        await asked(raw_server, 3, 1)
        await time_out(clock)
        with pytest.raises(RequestTimeout):
            await silent
        assert await hub.read_holding(2, 0, 1) == [42]  # answered after anything sent before it
        assert [request for request in raw_server.requests if request[0] == 3] == [(3, 0, 1)]  # no retry
        assert raw_server.connections == 2  # one shared connection per hub
    finally:
        await hub.close()


async def test_exception_short_frame_wrong_unit_and_garbage(raw_server: RawModbusServer) -> None:
    raw_server.units = {
        1: Unit(exception=2),
        2: Unit(short=True, registers={0: 1, 1: 2}),
        3: Unit(wrong_unit=True, registers={0: 3}),
        4: Unit(garbage=True),
        5: Unit(registers={0: 7}),
    }
    hub = Hub("127.0.0.1", raw_server.port, timeout=0.5, retries=1, clock=FakeClock())
    try:
        with pytest.raises(DeviceError, match="exception 2"):
            await hub.read_holding(1, 0, 1)
        with pytest.raises(BadResponse, match="wrong response length"):
            await hub.read_holding(2, 0, 2)
        with pytest.raises(BadResponse, match="answer from unit 4, expected unit 3"):
            await hub.read_holding(3, 0, 1)
        assert raw_server.connections == 1  # well-framed wrong answers keep the connection
        with pytest.raises(BadResponse, match="malformed"):
            await hub.read_holding(4, 0, 1)
        # the garbage header closed the connection; its one retry met garbage again on a second one
        assert raw_server.connections == 2
        assert await hub.read_holding(5, 0, 1) == [7]  # reconnected at once after the garbage
        assert raw_server.connections == 3
        assert hub.stats.resets == 2
    finally:
        await hub.close()


async def test_answer_split_into_one_byte_segments_is_reassembled(raw_server: RawModbusServer) -> None:
    hub = Hub("127.0.0.1", raw_server.port, timeout=5.0, clock=FakeClock())

    async def received(sent: int) -> None:  # the next byte goes out once the hub has this one
        await eventually(lambda: hub.stats.received >= sent, within=30, step=0.002)

    raw_server.units = {1: Unit(registers={0: 0x4049, 1: 0x0FDB}, split=received)}
    try:
        assert await hub.read_holding(1, 0, 2) == [0x4049, 0x0FDB]
        assert hub.stats.received == 13  # MBAP 7 + function, byte count, two registers
        assert hub.stats.reads == 13  # ... each byte in a read of its own
        assert hub.stats.frames == 1
    finally:
        await hub.close()


async def test_cancelled_reads_leave_nothing_pending(raw_server: RawModbusServer) -> None:
    held = asyncio.Event()
    raw_server.units = {1: Unit(registers={0: 9}, hold=held), 2: Unit(registers={0: 42})}
    hub = Hub("127.0.0.1", raw_server.port, timeout=30.0, clock=FakeClock())
    try:
        reads = [asyncio.ensure_future(hub.read_holding(1, 0, 1)) for _ in range(5)]
        await asked(raw_server, 1, 5)
        assert hub.in_flight == 5
        for read in reads:
            read.cancel()
        await asyncio.gather(*reads, return_exceptions=True)
        assert hub.in_flight == 0  # was 5: each cancelled read left its future behind
        held.set()  # the five answers now come to requests nobody waits for
        await eventually(lambda: hub.stats.unsolicited == 5, within=30)
        assert await hub.read_holding(2, 0, 1) == [42]
        assert hub.in_flight == 0
        assert raw_server.connections == 1
    finally:
        await hub.close()


async def test_late_answer_is_discarded_and_the_next_request_gets_its_own(
    raw_server: RawModbusServer,
) -> None:
    held = asyncio.Event()
    raw_server.units = {1: Unit(registers={0: 9, 1: 10}, hold=held)}
    clock = FakeClock()
    hub = Hub("127.0.0.1", raw_server.port, timeout=2.0, clock=clock)
    try:
        first = asyncio.ensure_future(hub.read_holding(1, 0, 1))
        await asked(raw_server, 1, 1)
        await time_out(clock)
        with pytest.raises(RequestTimeout):
            await first
        second = asyncio.ensure_future(hub.read_holding(1, 1, 1))
        await asked(raw_server, 1, 2)
        held.set()  # the late answer (9) and the second one (10) arrive together
        assert await second == [10]
        await eventually(lambda: hub.stats.unsolicited == 1, within=30)
        assert await hub.read_holding(1, 0, 1) == [9]
        assert raw_server.connections == 1
        assert hub.stats.dead == 0
    finally:
        await hub.close()


async def test_more_requests_than_the_pipeline_depth_queue_and_all_complete(
    raw_server: RawModbusServer,
) -> None:
    held = asyncio.Event()
    raw_server.units = {1: Unit(registers={i: 100 + i for i in range(10)}, hold=held)}
    hub = Hub("127.0.0.1", raw_server.port, timeout=5.0, pipeline_depth=3, clock=FakeClock())
    try:
        reads = [asyncio.ensure_future(hub.read_holding(1, i, 1)) for i in range(10)]
        await raw_server.wait_until(lambda: raw_server.outstanding == 3)
        assert len(raw_server.requests) == 3  # the other seven wait for a place
        assert hub.in_flight == 3
        held.set()
        assert await asyncio.gather(*reads) == [[100 + i] for i in range(10)]
        assert raw_server.most_outstanding == 3
        assert len(raw_server.requests) == 10
        assert hub.in_flight == 0
    finally:
        await hub.close()


async def test_dead_link_is_reconnected_after_timeouts_in_a_row(raw_server: RawModbusServer) -> None:
    raw_server.units = {2: Unit(registers={0: 42}), 3: Unit(silent=True)}
    clock = FakeClock()
    hub = Hub("127.0.0.1", raw_server.port, timeout=1.0, clock=clock)

    async def silent_read(times: int) -> None:
        for _ in range(times):
            before = sum(1 for unit, _a, _c in raw_server.requests if unit == 3)
            read = asyncio.ensure_future(hub.read_holding(3, 0, 1))
            await asked(raw_server, 3, before + 1)
            await time_out(clock)
            with pytest.raises(RequestTimeout):
                await read

    try:
        await silent_read(DEAD_LINK_TIMEOUTS - 1)
        assert await hub.read_holding(2, 0, 1) == [42]  # an answer: the link is alive, count again
        await silent_read(DEAD_LINK_TIMEOUTS - 1)
        assert hub.stats.dead == 0
        assert raw_server.connections == 1
        await silent_read(1)
        assert hub.stats.dead == 1  # DEAD_LINK_TIMEOUTS in a row with no answer at all
        assert await hub.read_holding(2, 0, 1) == [42]
        assert raw_server.connections == 2
    finally:
        await hub.close()


async def test_closed_port_is_offline_and_backs_off() -> None:
    clock = FakeClock()
    hub = Hub("127.0.0.1", free_port(), timeout=0.5, clock=clock)
    attempted = r"refused by 127\.0\.0\.1:\d+$"
    try:
        with pytest.raises(DeviceOffline, match=attempted):
            await hub.read_holding(1, 0, 1)
        with pytest.raises(DeviceOffline, match=r"refused .*waiting before reconnecting"):
            await hub.read_holding(1, 0, 1)  # no new attempt while the backoff (0.5 s) runs
        clock.advance(0.5)
        with pytest.raises(DeviceOffline, match=attempted):
            await hub.read_holding(1, 0, 1)
        clock.advance(0.5)
        with pytest.raises(DeviceOffline, match="waiting before reconnecting"):
            await hub.read_holding(1, 0, 1)  # the backoff doubled to 1 s
        clock.advance(0.5)
        with pytest.raises(DeviceOffline, match=attempted):
            await hub.read_holding(1, 0, 1)
    finally:
        await hub.close()


async def test_dropped_connection_is_retried_on_a_new_one(raw_server: RawModbusServer) -> None:
    held = asyncio.Event()
    held.set()
    raw_server.units = {1: Unit(registers={0: 5}, hold=held)}
    hub = Hub("127.0.0.1", raw_server.port, timeout=30.0, retries=1, clock=FakeClock())
    try:
        assert await hub.read_holding(1, 0, 1) == [5]
        held.clear()
        pending = asyncio.ensure_future(hub.read_holding(1, 0, 1))
        await asked(raw_server, 1, 2)  # in flight, its answer held back
        raw_server.drop_connections()
        await asked(raw_server, 1, 3)  # asked again on a new connection
        held.set()
        assert await pending == [5]
        assert raw_server.connections == 2
    finally:
        await hub.close()


async def test_simulator_faults_slow_answers_and_dropped_connections() -> None:
    from collector.simulator import FaultKind, Simulator, catalog

    sim = Simulator("127.0.0.1", 0, catalog(8))
    await sim.start()
    clock = FakeClock()
    hub = Hub("127.0.0.1", sim.port, timeout=1.0, retries=1, clock=clock)
    try:
        assert len(await hub.read_holding(1, 0, 2)) == 2
        sim.set_fault(4, FaultKind.SLOW, 3.0)
        slow = asyncio.ensure_future(hub.read_holding(4, 0, 1))
        await eventually(lambda: sim.requests == 2, within=30)
        await time_out(clock)  # the hub's second passes before the simulator's three
        with pytest.raises(RequestTimeout):
            await slow
        sim.set_fault(4, FaultKind.SLOW, 0.05)
        assert len(await hub.read_holding(4, 0, 1)) == 1  # slow, but within the timeout
        sim.clear_faults()
        assert sim.drop_connections() == 1
        assert len(await hub.read_holding(2, 10, 2)) == 2  # a new connection
    finally:
        await hub.close()
        await sim.stop()
