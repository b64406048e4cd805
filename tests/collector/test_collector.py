"""The running collector on both databases: statuses, readings stored, live configuration changes."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import func, select

from collector.hub import DEAD_LINK_TIMEOUTS, RECONNECT_BACKOFF_CAP
from collector.runner import Collector
from collector.simulator import FaultKind, Simulator
from ddms import db
from ddms.bus import LatestValue, StatusChange, get_bus
from ddms.config import Settings, load_settings
from ddms.models import Reading
from ddms.schemas.devices import DeviceUpdate
from ddms.services import devices
from tests.bus_events import subscribe
from tests.collector.conftest import StockServer, add_device, device_row, eventually
from tests.collector.modbus_server import RawModbusServer, Unit
from tests.collector.test_hub import free_port


async def stored_count(device_id: object) -> int:
    async with db.session_scope() as session:
        result = await session.exec(
            select(func.count()).select_from(Reading).where(Reading.device_id == device_id)
        )
        return int(result.one()[0])


async def next_status(device_id: object, status: str, within: float = 8.0) -> StatusChange:
    async with subscribe(get_bus(), device_ids={device_id}) as events:
        current = get_bus().status(device_id)
        if current is not None and current.status == status:
            return current
        async with asyncio.timeout(within):
            async for event in events:
                if isinstance(event, StatusChange) and event.status == status:
                    return event
    raise AssertionError("unreachable")


async def test_statuses_online_offline_error_and_recovery(collector: Collector, sim: Simulator) -> None:
    boiler = await add_device(name="boiler", modbus_port=sim.port, modbus_slave_id=1, data_type="float32")
    closed = await add_device(name="closed", modbus_port=free_port(), modbus_slave_id=1)
    faulty = await add_device(
        name="faulty", modbus_port=sim.port, modbus_slave_id=3, data_type="int16", scale=0.1
    )
    sim.set_fault(3, FaultKind.EXCEPTION, 4)

    online = await next_status(boiler.id, "online")
    assert online.error is None
    offline = await next_status(closed.id, "offline")
    assert "refused" in (offline.error or "")
    error = await next_status(faulty.id, "error")
    assert "exception 4" in (error.error or "")

    sim.clear_faults()
    await next_status(faulty.id, "online")
    latest = get_bus().latest(faulty.id)
    assert latest is not None
    assert 15 < latest.value < 30

    await collector.writer.wait_flushed(within=6)
    await eventually(lambda: _row_status(boiler.id, "online"))
    await eventually(lambda: _row_status(closed.id, "offline"))
    row = await device_row(boiler.id)
    assert row.last_reading_at is not None
    assert row.last_error is None
    assert "refused" in ((await device_row(closed.id)).last_error or "")
    assert await stored_count(boiler.id) >= 1


async def _row_status(device_id: object, status: str) -> bool:
    return (await device_row(device_id)).status == status


async def test_readings_are_stored_once_each(collector: Collector, sim: Simulator) -> None:
    device = await add_device(
        name="pressure",
        modbus_port=sim.port,
        modbus_slave_id=1,
        modbus_register=2,
        data_type="float32",
        byte_order="CDAB",
    )
    seen: list[LatestValue] = []
    unsubscribe = get_bus().listen(
        lambda e: seen.append(e) if isinstance(e, LatestValue) else None, device_ids={device.id}
    )
    await eventually(lambda: len(seen) >= 2, within=8)
    unsubscribe()
    await collector.writer.wait_flushed(within=6)
    assert await stored_count(device.id) >= 2
    assert all(3.3 < item.value < 5.1 for item in seen)  # 4.2 ± 0.6 bar, word-swapped float32


def requests_for(server: RawModbusServer, unit_id: int) -> int:
    return sum(1 for unit, _address, _count in server.requests if unit == unit_id)


def readings_of(device_id: object) -> list[LatestValue]:
    """Every reading the collector publishes for the device from now on (the list grows)."""
    seen: list[LatestValue] = []
    get_bus().listen(lambda e: seen.append(e) if isinstance(e, LatestValue) else None, device_ids={device_id})
    return seen


async def test_interval_change_and_delete_apply_live(
    collector: Collector, raw_server: RawModbusServer
) -> None:
    raw_server.units = {1: Unit(registers={0: 7}), 2: Unit(registers={0: 5})}
    witness = await add_device(name="witness", modbus_port=raw_server.port, modbus_slave_id=1)
    device = await add_device(
        name="flow", modbus_port=raw_server.port, modbus_slave_id=2, data_type="int16", sampling_interval=3600
    )
    await collector.wait_idle()
    assert collector.pollers[device.id].config.interval == 3600
    async with db.session_scope() as session:
        await devices.update_device(
            session=session, device_id=device.id, data=DeviceUpdate(sampling_interval=1)
        )
    await collector.wait_idle()
    assert collector.pollers[device.id].config.interval == 1
    before = collector.pollers[device.id].stats.polls
    await eventually(lambda: collector.pollers[device.id].stats.polls >= before + 2, within=30)

    async with db.session_scope() as session:
        await devices.delete_device(session=session, device_id=device.id)
    await collector.wait_idle()  # the reload has awaited the poller's task: it cannot ask again
    assert device.id not in collector.pollers
    assert get_bus().latest(device.id) is None
    # Whatever the stopped poller sent is on the one connection before anything sent from now on.
    # The witness polls one at a time: its second reading from here on was asked after the stop, so
    # when it is in, every request of the deleted poller is in the server's log.
    witnessed = readings_of(witness.id)
    await eventually(lambda: len(witnessed) >= 2, within=30)
    requests = requests_for(raw_server, 2)
    # Two more witness polls span two intervals: a poller still running would have asked again.
    await eventually(lambda: len(witnessed) >= 4, within=30)
    assert requests_for(raw_server, 2) == requests


async def test_silent_unit_beside_healthy_one_keeps_the_healthy_schedule(
    database: db.Database, collector_settings: Settings, raw_server: RawModbusServer
) -> None:
    """The healthy unit is answered, poll after poll, while the silent unit's request is still waiting.

    The timeout is a minute: "while it is waiting" is read from the request log, not raced against a
    clock (a hub that sent one request at a time would answer nothing until the minute was over).
    """
    raw_server.units = {1: Unit(silent=True), 2: Unit(registers={0: 0x4049, 1: 0x0FDB})}
    running = Collector(load_settings(**(collector_settings.model_dump() | {"modbus_timeout": 60.0})))
    await running.start()
    try:
        silent = await add_device(name="silent", modbus_port=raw_server.port, modbus_slave_id=1)
        healthy = await add_device(
            name="healthy", modbus_port=raw_server.port, modbus_slave_id=2, data_type="float32"
        )
        await eventually(lambda: requests_for(raw_server, 1) == 1, within=10)
        answered = readings_of(healthy.id)  # from the moment unit 1 has its request
        await eventually(lambda: len(answered) >= 3, within=20)
        assert requests_for(raw_server, 1) == 1  # all three answered while unit 1 still had the first
        assert running.pollers[silent.id].stats.failed == 0  # ... and it had not timed out
        assert running.pollers[healthy.id].stats.failed == 0
        assert all(abs(reading.value - 3.14159274) < 1e-6 for reading in answered)
        assert raw_server.connections == 1
    finally:
        await running.stop()


async def test_silent_unit_goes_offline_and_keeps_the_shared_link(
    collector: Collector, raw_server: RawModbusServer
) -> None:
    raw_server.units = {1: Unit(silent=True), 2: Unit(registers={0: 0x4049, 1: 0x0FDB})}
    silent = await add_device(name="silent", modbus_port=raw_server.port, modbus_slave_id=1)
    healthy = await add_device(
        name="healthy", modbus_port=raw_server.port, modbus_slave_id=2, data_type="float32"
    )
    offline = await next_status(silent.id, "offline")
    assert "no answer" in (offline.error or ""), offline.error
    # More timeouts than a dead link takes; the healthy unit's answers in between keep the link up.
    await eventually(lambda: collector.pollers[silent.id].stats.failed > DEAD_LINK_TIMEOUTS, within=20)
    assert raw_server.connections == 1
    latest = get_bus().latest(healthy.id)
    assert latest is not None
    assert abs(latest.value - 3.14159274) < 1e-6


async def test_offline_device_comes_back_online_when_its_server_appears(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="collector.poller")
    port = free_port()
    device = await add_device(name="late riser", modbus_port=port, modbus_slave_id=1)
    await next_status(device.id, "offline")
    await eventually(lambda: collector.pollers[device.id].stats.failed >= 3, within=10)
    logged = [r for r in caplog.records if r.name == "collector.poller" and "late riser" in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.WARNING]  # once, not once per failed poll
    assert "refused" in logged[0].getMessage()
    server = RawModbusServer()
    server.units = {1: Unit(registers={0: 1234})}
    server._server = await asyncio.start_server(server._serve, "127.0.0.1", port)
    try:
        # However far the reconnect backoff has grown by now, the next attempt is at most its cap away.
        await next_status(device.id, "online", within=RECONNECT_BACKOFF_CAP + 10)
        latest = get_bus().latest(device.id)
        assert latest is not None
        assert latest.value == 1234
        logged = [
            r for r in caplog.records if r.name == "collector.poller" and "late riser" in r.getMessage()
        ]
        assert [r.levelno for r in logged] == [logging.WARNING, logging.INFO]
        assert logged[1].getMessage().endswith("online")
    finally:
        await server.stop()


async def test_poll_counters_are_prometheus_metrics(collector: Collector, sim: Simulator) -> None:
    from ddms.metrics import REGISTRY

    device = await add_device(name="speed", modbus_port=sim.port, modbus_slave_id=4)
    await next_status(device.id, "online")
    outcomes = ("on_time", "late", "missed", "deferred", "failed")
    key = str(device.id)
    samples = {
        outcome: REGISTRY.get_sample_value("ddms_polls_total", {"device_id": key, "outcome": outcome})
        for outcome in outcomes
    }
    stats = collector.pollers[device.id].stats
    assert samples == {outcome: getattr(stats, outcome) for outcome in outcomes}
    assert stats.polls >= 1  # the poll that brought it online (on time or late: the machine's speed decides)


async def test_configuration_change_applies_to_the_running_collector(
    collector: Collector, sim: Simulator
) -> None:
    device = await add_device(
        name="level",
        modbus_port=sim.port,
        modbus_slave_id=3,
        modbus_register=4,
        data_type="float32",
        byte_order="DCBA",
        sampling_interval=3600,
    )
    await collector.wait_idle()
    async with db.session_scope() as session:
        await devices.update_device(
            session=session, device_id=device.id, data=DeviceUpdate(sampling_interval=1, unit="percent")
        )
    await collector.wait_idle()  # the change event's reload (the collector reloads on nothing else)
    assert collector.pollers[device.id].config.interval == 1
    await next_status(device.id, "online", within=10)  # polled on the new interval, not in an hour
    assert collector.pollers[device.id].config.unit == "percent"
    latest = get_bus().latest(device.id)
    assert latest is not None
    assert latest.unit == "percent"
    assert 19 <= latest.value <= 91  # the tank ramp, 20 -> 90 %, little-endian float32


async def test_stock_pymodbus_server_without_pipelining_decodes_exactly(
    database: db.Database, collector_settings: Settings, stock_server: StockServer
) -> None:
    """An unmodified pymodbus server, read one request at a time (MODBUS_PIPELINE_DEPTH=1)."""
    registers = [
        0x0000,
        0x3FC0,  # 0: float32 1.5, CDAB
        0xFEFF,  # 2: int16 -2, BADC
        0x7856,
        0x3412,  # 3: uint32 0x12345678, DCBA
        0xFFFF,
        0xFFFF,
        0xFFFF,
        0xFFFF,  # 5: int64 -1, ABCD
        0xC004,
        0x0000,
        0x0000,
        0x0000,  # 9: float64 -2.5, ABCD
    ]
    port = await stock_server({7: registers})
    cases = [
        (
            "f32",
            {"modbus_register": 0, "data_type": "float32", "byte_order": "CDAB", "scale": 2, "offset": 1},
            4.0,
        ),
        (
            "i16",
            {"modbus_register": 2, "data_type": "int16", "byte_order": "BADC", "scale": 0.5, "offset": -3},
            -4.0,
        ),
        ("u32", {"modbus_register": 3, "data_type": "uint32", "byte_order": "DCBA"}, float(0x12345678)),
        ("i64", {"modbus_register": 5, "data_type": "int64", "byte_order": "ABCD", "offset": 10}, 9.0),
        ("f64", {"modbus_register": 9, "data_type": "float64", "byte_order": "ABCD", "scale": -4}, 10.0),
    ]
    ids = {}
    for name, fields, expected in cases:
        device = await add_device(name=name, modbus_port=port, modbus_slave_id=7, **fields)
        ids[device.id] = expected
    # One request at a time for five devices: a generous timeout, so that a slow moment of the machine
    # cannot turn a queued request into a timeout (and the last status into "offline").
    settings = load_settings(
        **(collector_settings.model_dump() | {"modbus_pipeline_depth": 1, "modbus_timeout": 5.0})
    )
    running = Collector(settings, backoff_cap=1.0)
    await running.start()
    try:
        await eventually(lambda: all(get_bus().latest(device_id) is not None for device_id in ids), within=20)
    finally:
        await running.stop()
    for device_id, expected in ids.items():
        latest = get_bus().latest(device_id)
        assert latest is not None
        assert latest.value == expected
        assert (await device_row(device_id)).status == "online"
