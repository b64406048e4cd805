"""/api/devices/{id}/latest, test-connection (one real Modbus read) and /metrics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from collector.simulator import Simulator, catalog
from ddms import db
from ddms.bus import LatestValue, get_bus
from ddms.models import utcnow
from ddms.services import devices
from tests.api.conftest import Account
from tests.collector.modbus_server import RawModbusServer, Unit
from tests.collector.test_hub import free_port


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator("127.0.0.1", 0, catalog(8))
    await simulator.start()
    yield simulator
    await simulator.stop()


async def _device(client: httpx.AsyncClient, admin: Account, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "boiler",
        "modbus_ip": "127.0.0.1",
        "modbus_slave_id": 1,
        "modbus_register": 0,
        "data_type": "float32",
        "unit": "°C",
        "threshold_warning_upper": 75,
        "threshold_critical_upper": 80,
        "hysteresis": 1,
    } | fields
    response = await client.post("/api/devices", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_latest_comes_from_the_bus_with_its_alarm_level(
    client: httpx.AsyncClient, admin: Account, reader: Account
) -> None:
    device = await _device(client, admin)
    missing = await client.get(f"/api/devices/{device['id']}/latest", headers=reader.headers)
    assert missing.status_code == 404

    get_bus().publish_reading(
        LatestValue(uuid.UUID(device["id"]), utcnow(), 77.25, "warning", "online", "boiler", "°C")
    )
    response = await client.get(f"/api/devices/{device['id']}/latest", headers=reader.headers)
    assert response.status_code == 200
    body = response.json()
    assert body | {"timestamp": None} == {
        "device_id": device["id"],
        "device_name": "boiler",
        "unit": "°C",
        "timestamp": None,
        "value": 77.25,
        "status": "warning",
    }
    unknown = await client.get(
        "/api/devices/00000000-0000-0000-0000-000000000000/latest", headers=reader.headers
    )
    assert unknown.status_code == 404


async def test_test_connection_reads_the_device_for_real(
    client: httpx.AsyncClient, admin: Account, reader: Account, sim: Simulator
) -> None:
    device = await _device(client, admin, modbus_port=sim.port)
    response = await client.post(f"/api/devices/{device['id']}/test-connection", headers=admin.headers)
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True, body
    assert 40 < body["value"] < 90  # the simulated boiler, 65 ± 12 °C
    assert body["latency_ms"] > 0
    assert body["error"] is None
    assert body["device_name"] == "boiler"
    assert sim.requests >= 1

    forbidden = await client.post(f"/api/devices/{device['id']}/test-connection", headers=reader.headers)
    assert forbidden.status_code == 403


async def test_test_connection_reports_a_closed_port(client: httpx.AsyncClient, admin: Account) -> None:
    device = await _device(client, admin, name="nowhere", modbus_port=free_port())
    body = (await client.post(f"/api/devices/{device['id']}/test-connection", headers=admin.headers)).json()
    assert body["success"] is False
    assert "refused" in body["error"]
    assert "value" not in body


@pytest.fixture
async def cdab_server() -> AsyncIterator[RawModbusServer]:
    """A hand-written Modbus server whose unit 2 holds 75.32569 as a float32 in CDAB order at 40."""
    server = RawModbusServer()
    await server.start()
    server.units[2] = Unit(registers={40: 0xA6C1, 41: 0x4296})  # float32 0x4296A6C1, words swapped
    yield server
    await server.stop()


async def test_unsaved_values_are_tested_with_raw_registers_and_every_decoding(
    client: httpx.AsyncClient, admin: Account, reader: Account, cdab_server: RawModbusServer
) -> None:
    body = {
        "name": "not saved",
        "modbus_ip": "127.0.0.1",
        "modbus_port": cdab_server.port,
        "modbus_slave_id": 2,
        "modbus_register": 40,
        "data_type": "float32",
        "threshold_warning_upper": 80,
    }
    answer = await client.post("/api/devices/test", json=body, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["success"] is True
    assert (result["device_id"], result["device_name"]) == (None, "not saved")
    assert abs(result["value"]) < 1e-14  # ABCD (the default) reads the swapped words as nonsense
    assert result["registers"] == [0xA6C1, 0x4296]
    assert result["registers_hex"] == ["A6C1", "4296"]
    floats = {d["byte_order"]: d["value"] for d in result["decodings"] if d["data_type"] == "float32"}
    assert set(floats) == {"ABCD", "CDAB", "BADC", "DCBA"}
    assert floats["CDAB"] == 75.32569
    assert {d["data_type"] for d in result["decodings"]} == {"uint32", "int32", "float32"}

    fixed = await client.post("/api/devices/test", json=body | {"byte_order": "CDAB"}, headers=admin.headers)
    assert fixed.json()["value"] == 75.32569
    async with db.session_scope() as session:
        assert await devices.list_devices(session=session) == []  # a test saves nothing

    forbidden = await client.post("/api/devices/test", json=body, headers=reader.headers)
    assert forbidden.status_code == 403


async def test_a_saved_device_test_carries_the_registers_and_decodings(
    client: httpx.AsyncClient, admin: Account, cdab_server: RawModbusServer
) -> None:
    device = await _device(
        client, admin, modbus_port=cdab_server.port, modbus_slave_id=2, modbus_register=40, byte_order="CDAB"
    )
    result = (await client.post(f"/api/devices/{device['id']}/test-connection", headers=admin.headers)).json()
    assert (result["success"], result["value"], result["device_id"]) == (True, 75.32569, device["id"])
    assert result["registers_hex"] == ["A6C1", "4296"]
    assert len(result["decodings"]) == 12


async def test_unsaved_values_breaking_a_rule_are_refused_before_any_read(
    client: httpx.AsyncClient, admin: Account, cdab_server: RawModbusServer
) -> None:
    body = {
        "modbus_ip": "127.0.0.1",
        "modbus_port": cdab_server.port,
        "modbus_slave_id": 2,
        "modbus_register": 40,
        "data_type": "float32",
        "modbus_register_count": 1,
    }
    answer = await client.post("/api/devices/test", json=body, headers=admin.headers)
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "modbus_register_count 1 does not match data_type float32 (2 register(s))"
    }
    missing = await client.post("/api/devices/test", json={"modbus_ip": "127.0.0.1"}, headers=admin.headers)
    assert missing.status_code == 422
    assert cdab_server.requests == []


async def test_a_value_that_does_not_decode_fails_but_shows_the_registers(
    client: httpx.AsyncClient, admin: Account, cdab_server: RawModbusServer
) -> None:
    cdab_server.units[2] = Unit(registers={40: 0x7FC0, 41: 0x0000})  # ABCD float32: NaN
    body = {
        "modbus_ip": "127.0.0.1",
        "modbus_port": cdab_server.port,
        "modbus_slave_id": 2,
        "modbus_register": 40,
        "data_type": "float32",
    }
    result = (await client.post("/api/devices/test", json=body, headers=admin.headers)).json()
    assert result["success"] is False
    assert "not finite" in result["error"]
    assert "value" not in result
    assert result["registers_hex"] == ["7FC0", "0000"]


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "ddms_readings_written_total" in response.text
    assert "ddms_writer_buffer_rows" in response.text


async def test_latest_falls_back_to_the_newest_stored_reading_after_a_restart(
    client: httpx.AsyncClient, admin: Account, reader: Account
) -> None:
    """Before the first poll of a new process the bus is empty; the stored reading answers."""
    from datetime import timedelta

    from ddms.models import Reading

    device = await _device(client, admin)
    device_id, now = uuid.UUID(device["id"]), utcnow()
    async with db.session_scope() as session:
        session.add(Reading(timestamp=now - timedelta(seconds=10), device_id=device_id, value=70.0))
        session.add(Reading(timestamp=now, device_id=device_id, value=81.0))
        await session.commit()
    body = (await client.get(f"/api/devices/{device['id']}/latest", headers=reader.headers)).json()
    assert body["value"] == 81.0
    assert body["status"] == "critical"  # at or above threshold_critical_upper (80)
    assert body["timestamp"] == now.isoformat()


async def test_live_and_stored_latest_are_one_query_with_one_answer(
    client: httpx.AsyncClient, admin: Account, reader: Account
) -> None:
    """/api/devices/{id}/latest (empty bus) and /api/readings/{id}/latest read the same stored row."""
    from datetime import timedelta

    from ddms.models import Reading

    device = await _device(client, admin)
    live_url, stored_url = f"/api/devices/{device['id']}/latest", f"/api/readings/{device['id']}/latest"
    live_missing = await client.get(live_url, headers=reader.headers)
    stored_missing = await client.get(stored_url, headers=reader.headers)
    assert live_missing.status_code == stored_missing.status_code == 404
    assert live_missing.json() == stored_missing.json() == {"detail": "No readings for this device"}
    now = utcnow()
    async with db.session_scope() as session:
        session.add(
            Reading(timestamp=now - timedelta(seconds=5), device_id=uuid.UUID(device["id"]), value=3.5)
        )
        session.add(Reading(timestamp=now, device_id=uuid.UUID(device["id"]), value=4.5))
        await session.commit()
    live = (await client.get(live_url, headers=reader.headers)).json()
    stored = (await client.get(stored_url, headers=reader.headers)).json()
    assert (
        (live["timestamp"], live["value"]) == (stored["timestamp"], stored["value"]) == (now.isoformat(), 4.5)
    )
