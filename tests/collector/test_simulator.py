"""The built-in simulator: registered on a fresh database, and every device reads a live value."""

from __future__ import annotations

import logging

import pytest

from collector.decode import decode
from collector.hub import DeviceError, Hub
from collector.simulator import Simulator, catalog, register_devices
from ddms import db
from ddms.modbus_types import registers_of
from ddms.services import devices
from tests.clock import FakeClock


async def test_fresh_database_gets_the_simulator_devices_once(database: db.Database, sim: Simulator) -> None:
    assert await register_devices("127.0.0.1", sim.port, 8) == 8
    assert await register_devices("127.0.0.1", sim.port, 8) == 0  # not on a database with devices
    async with db.session_scope() as session:
        rows = await devices.list_devices(session=session)
    assert sorted(row.name for row in rows) == sorted(signal.name for signal in catalog(8))
    hub = Hub("127.0.0.1", sim.port, timeout=1.0, clock=FakeClock())
    try:
        for row in rows:
            registers = await hub.read_holding(
                row.modbus_slave_id, row.modbus_register, row.modbus_register_count
            )
            value = decode(registers, row.data_type, row.byte_order, row.scale, row.offset)
            assert value > 0, row.name  # every documented signal is positive and finite
    finally:
        await hub.close()


@pytest.mark.parametrize("count", [8, 250])
def test_catalog_addresses_do_not_overlap(count: int) -> None:
    taken: set[tuple[int, int]] = set()
    for signal in catalog(count):
        width = registers_of(signal.data_type)
        cells = {(signal.unit_id, signal.address + i) for i in range(width)}
        assert not cells & taken, signal.name
        taken |= cells
    assert len({signal.name for signal in catalog(count)}) == count


async def test_unknown_unit_id_is_answered_like_a_gateway_with_exception_0x0b(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hub = Hub("127.0.0.1", sim.port, timeout=5.0, clock=FakeClock())
    try:
        with pytest.raises(
            DeviceError, match="exception 11 \\(gateway target failed to respond\\)"
        ) as failed:
            await hub.read_holding(99, 0, 1)
        assert failed.value.code == 0x0B
        assert len(await hub.read_holding(1, 0, 2)) == 2  # the units it has still answer, same connection
    finally:
        await hub.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text  # no KeyError trace
