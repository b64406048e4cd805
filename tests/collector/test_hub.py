"""The shared connection against a stock pymodbus server and a hand-written Modbus server.

No outcome here depends on how fast the machine is: answers the tests wait for are held on events,
"not retried" is counted in the server's request log, and the reconnect backoff runs on a clock the
test moves by hand.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from collector.decode import decode
from collector.hub import BadResponse, DeviceError, DeviceOffline, Hub, RequestTimeout
from tests.collector.conftest import StockServer, eventually
from tests.collector.modbus_server import RawModbusServer, Unit
from tests.collector.test_decode import VECTORS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_every_type_and_byte_order_over_the_wire_from_stock_pymodbus(stock_server: StockServer) -> None:
    registers: list[int] = []
    layout = []
    for data_type, order, words, expected in VECTORS:
        layout.append((len(registers), len(words), data_type, order, expected))
        registers.extend(words)
    port = await stock_server({1: registers})
    hub = Hub("127.0.0.1", port, timeout=1.0)
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
    hub = Hub("127.0.0.1", raw_server.port, timeout=30.0, retries=3)
    try:
        waiting = asyncio.ensure_future(hub.read_holding(1, 0, 1))
        await eventually(lambda: (1, 0, 1) in raw_server.requests)
        for _ in range(20):
            assert await hub.read_holding(2, 0, 1) == [42]
        assert not waiting.done()  # all twenty answered while unit 1's answer was still held back
        held.set()
        assert await waiting == [9]
    finally:
        await hub.close()
    hub = Hub("127.0.0.1", raw_server.port, timeout=0.3, retries=3)
    try:
        with pytest.raises(RequestTimeout):
            await hub.read_holding(3, 0, 1)
        assert await hub.read_holding(2, 0, 1) == [42]  # answered after anything sent before it
        assert [request for request in raw_server.requests if request[0] == 3] == [(3, 0, 1)]  # no retry
        assert raw_server.connections == 2  # one shared connection per hub
    finally:
        await hub.close()


async def test_exception_short_frame_and_garbage(raw_server: RawModbusServer) -> None:
    raw_server.units = {
        1: Unit(exception=2),
        2: Unit(short=True, registers={0: 1, 1: 2}),
        3: Unit(garbage=True),
        4: Unit(registers={0: 7}),
    }
    hub = Hub("127.0.0.1", raw_server.port, timeout=0.5, retries=1)
    try:
        with pytest.raises(DeviceError, match="exception 2"):
            await hub.read_holding(1, 0, 1)
        with pytest.raises(BadResponse, match="wrong response length"):
            await hub.read_holding(2, 0, 2)
        with pytest.raises(BadResponse, match="malformed"):
            await hub.read_holding(3, 0, 1)
        assert await hub.read_holding(4, 0, 1) == [7]  # reconnected after the garbage
        assert raw_server.connections >= 2
    finally:
        await hub.close()


async def test_closed_port_is_offline_and_backs_off() -> None:
    now = [1000.0]
    hub = Hub("127.0.0.1", free_port(), timeout=0.5, clock=lambda: now[0])
    attempted = r"refused by 127\.0\.0\.1:\d+$"
    try:
        with pytest.raises(DeviceOffline, match=attempted):
            await hub.read_holding(1, 0, 1)
        with pytest.raises(DeviceOffline, match=r"refused .*waiting before reconnecting"):
            await hub.read_holding(1, 0, 1)  # no new attempt while the backoff (0.5 s) runs
        now[0] += 0.5
        with pytest.raises(DeviceOffline, match=attempted):
            await hub.read_holding(1, 0, 1)
        now[0] += 0.5
        with pytest.raises(DeviceOffline, match="waiting before reconnecting"):
            await hub.read_holding(1, 0, 1)  # the backoff doubled to 1 s
        now[0] += 0.5
        with pytest.raises(DeviceOffline, match=attempted):
            await hub.read_holding(1, 0, 1)
    finally:
        await hub.close()


async def test_dropped_connection_is_retried_on_a_new_one(raw_server: RawModbusServer) -> None:
    held = asyncio.Event()
    held.set()
    raw_server.units = {1: Unit(registers={0: 5}, hold=held)}
    hub = Hub("127.0.0.1", raw_server.port, timeout=30.0, retries=1)
    try:
        assert await hub.read_holding(1, 0, 1) == [5]
        held.clear()
        pending = asyncio.ensure_future(hub.read_holding(1, 0, 1))
        await eventually(lambda: len(raw_server.requests) == 2)  # in flight, its answer held back
        raw_server.drop_connections()
        await eventually(lambda: len(raw_server.requests) == 3)  # asked again on a new connection
        held.set()
        assert await pending == [5]
        assert raw_server.connections == 2
    finally:
        await hub.close()


async def test_simulator_faults_slow_answers_and_dropped_connections() -> None:
    from collector.simulator import FaultKind, Simulator, catalog

    sim = Simulator("127.0.0.1", 0, catalog(8))
    await sim.start()
    hub = Hub("127.0.0.1", sim.port, timeout=1.0, retries=1)
    try:
        assert len(await hub.read_holding(1, 0, 2)) == 2
        sim.set_fault(4, FaultKind.SLOW, 3.0)
        with pytest.raises(RequestTimeout):
            await hub.read_holding(4, 0, 1)
        sim.set_fault(4, FaultKind.SLOW, 0.05)
        assert len(await hub.read_holding(4, 0, 1)) == 1  # slow, but within the timeout
        sim.clear_faults()
        assert sim.drop_connections() == 1
        assert len(await hub.read_holding(2, 10, 2)) == 2  # a new connection
    finally:
        await hub.close()
        await sim.stop()
