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
