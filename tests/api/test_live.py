"""/api/devices/{id}/latest, test-connection (one real Modbus read) and /metrics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from collector.simulator import Simulator, catalog
from ddms.bus import LatestValue, get_bus
from ddms.models import utcnow
from tests.api.conftest import Account
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

    from ddms import db
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

    from ddms import db
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
