"""Collector fixtures: Modbus servers on 127.0.0.1 free ports, devices, a running collector."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from collector.runner import Collector
from collector.simulator import Simulator, catalog
from ddms import db
from ddms.config import Settings, load_settings
from ddms.models import Device
from ddms.schemas.devices import DeviceCreate
from ddms.services import devices
from tests.collector.modbus_server import RawModbusServer


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The built-in simulator (pymodbus) with its eight documented devices."""
    simulator = Simulator("127.0.0.1", 0, catalog(8))
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def raw_server() -> AsyncIterator[RawModbusServer]:
    server = RawModbusServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


StockServer = Callable[[dict[int, list[int]]], Awaitable[int]]


@pytest.fixture
async def stock_server() -> AsyncIterator[StockServer]:
    """An unmodified pymodbus ModbusTcpServer holding the given registers (unit id -> registers from 0)."""
    servers: list[ModbusTcpServer] = []

    async def start(units: dict[int, list[int]]) -> int:
        server = ModbusTcpServer(
            [
                SimDevice(id=unit, simdata=[SimData(address=0, values=values, datatype=DataType.REGISTERS)])
                for unit, values in units.items()
            ],
            address=("127.0.0.1", 0),
        )
        await server.serve_forever(background=True)
        servers.append(server)
        return int(server.transport.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        await server.shutdown()


@pytest.fixture
def collector_settings(settings: Settings) -> Settings:
    return load_settings(
        **(
            settings.model_dump()
            | {
                "modbus_timeout": 0.4,
                "modbus_retry_attempts": 1,
                "writer_flush_interval": 0.2,
                "collector_enabled": True,
            }
        )
    )


async def add_device(**fields: Any) -> Device:
    body = {"modbus_ip": "127.0.0.1", "sampling_interval": 1, "modbus_register": 0} | fields
    async with db.session_scope() as session:
        return await devices.create_device(session=session, data=DeviceCreate(**body))


async def device_row(device_id: Any) -> Device:
    async with db.session_scope() as session:
        return await devices.get_device(session=session, device_id=device_id)


@pytest.fixture
async def collector(database: db.Database, collector_settings: Settings) -> AsyncIterator[Collector]:
    """A collector over the test database, stopped (and its writer flushed) at the end."""
    running = Collector(collector_settings, backoff_cap=1.0)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], within: float = 5.0, step: float = 0.05
) -> None:
    """Wait until ``check`` holds (polling a condition the test cannot await directly)."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)
