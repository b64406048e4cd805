"""Test connection from the device list: one real Modbus read against the built-in simulator."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from functools import partial

import pytest
from nicegui.testing import User

from collector.probe import probe_device
from collector.simulator import Simulator, catalog
from ddms.db import Database
from ddms.models import User as Account
from ddms.services import live
from tests.collector.modbus_server import RawModbusServer, Unit
from tests.pages.helpers import eventually, make_device


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator("127.0.0.1", 0, catalog(8))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
def probe(ui_database: Database) -> None:
    """What the composition root installs: the collector's one-shot read (in the test's runtime)."""
    live.set_probe(partial(probe_device, modbus_timeout=2.0))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_shows_the_value_read_and_the_latency(
    user: User, admin: Account, sign_in, simulator: Simulator, probe: None
) -> None:
    # "Sim motor speed": unit 4, register 0, uint16, about 1450 rpm
    await make_device("Motor", modbus_port=simulator.port, modbus_slave_id=4, modbus_register=0, unit="rpm")
    await sign_in(admin)
    await user.open("/devices")
    user.find("Test connection").click()
    pattern = re.compile(r"Connection OK: value ([\d,.]+) read in ([\d,.]+) ms")
    await eventually(lambda: any(pattern.match(m) for m in user.notify.messages))
    match = next(pattern.match(m) for m in user.notify.messages if pattern.match(m))
    assert 1400 <= float(match.group(1).replace(",", "")) <= 1500


async def test_shows_why_the_connection_failed(user: User, admin: Account, sign_in, probe: None) -> None:
    await make_device("Nowhere", modbus_port=closed_port())
    await sign_in(admin)
    await user.open("/devices")
    user.find("Test connection").click()
    await eventually(lambda: any(m.startswith("Connection failed: ") for m in user.notify.messages))


async def test_a_word_swapped_float_shows_as_tiny_with_its_registers(
    user: User, admin: Account, sign_in, probe: None
) -> None:
    """A CDAB float saved as ABCD: the toast no longer says "value -0", and the raw words are there."""
    server = RawModbusServer()
    await server.start()
    try:
        server.units[1] = Unit(registers={0: 0xA6C1, 1: 0x4296})  # 75.32569 as C D | A B
        await make_device("Flow", modbus_port=server.port, data_type="float32", byte_order="ABCD")
        await sign_in(admin)
        await user.open("/devices")
        user.find("Test connection").click()
        pattern = re.compile(
            r"Connection OK: value -1\.3\d{3}e-15 read in [\d,.]+ ms\nRegisters read: 0xA6C1 0x4296"
        )
        await eventually(lambda: any(pattern.fullmatch(m) for m in user.notify.messages))
    finally:
        await server.stop()
