"""/metrics: HTTP requests per route template and status, and devices per connection status."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ddms.bus import StatusChange, get_bus
from ddms.models import utcnow
from tests.api.conftest import Account

DEVICE = {"modbus_ip": "10.0.0.1", "modbus_slave_id": 1, "modbus_register": 1}


async def _samples(client: httpx.AsyncClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if sample.name == name
    }


def _key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


async def test_requests_are_counted_under_their_route_template(
    client: httpx.AsyncClient, admin: Account
) -> None:
    created = await client.post("/api/devices", headers=admin.headers, json=DEVICE | {"name": "boiler"})
    device_id = created.json()["id"]
    before = await _samples(client, "ddms_http_requests_total")
    assert (await client.get(f"/api/devices/{device_id}", headers=admin.headers)).status_code == 200
    assert (await client.get(f"/api/devices/{device_id}/", headers=admin.headers)).status_code == 200
    assert (await client.get(f"/api/devices/{uuid.uuid4()}", headers=admin.headers)).status_code == 404
    assert (await client.get("/api/devices/not-a-uuid", headers=admin.headers)).status_code == 422
    for probe in ("/wp-login.php", f"/api/{uuid.uuid4()}", "/api/devices/x/y/z"):
        assert (await client.get(probe)).status_code == 404
    assert (await client.get("/api/docs-static/swagger-ui.css")).status_code == 200  # a mount
    assert (await client.get(f"/api/docs-static/{uuid.uuid4()}.js")).status_code == 404
    after = await _samples(client, "ddms_http_requests_total")

    def grew(route: str, status: str) -> float:
        key = _key(method="GET", route=route, status=status)
        return after.get(key, 0.0) - before.get(key, 0.0)

    template = "/api/devices/{device_id}"
    assert (grew(template, "200"), grew(template, "404"), grew(template, "422")) == (2, 1, 1)
    assert grew("unmatched", "404") == 3
    assert (grew("/api/docs-static/{path}", "200"), grew("/api/docs-static/{path}", "404")) == (1, 1)
    routes = {dict(key)["route"] for key in after}
    assert all(device_id not in route and "wp-login" not in route for route in routes)
    durations = await _samples(client, "ddms_http_request_duration_seconds_count")
    assert durations[_key(method="GET", route=template, status="200")] >= 2


async def test_devices_gauge_counts_live_status_else_the_stored_one(
    client: httpx.AsyncClient, admin: Account
) -> None:
    ids = []
    for name in ("boiler", "pump", "fan", "archived"):
        answer = await client.post("/api/devices", headers=admin.headers, json=DEVICE | {"name": name})
        ids.append(uuid.UUID(answer.json()["id"]))
    bus = get_bus()
    bus.publish_status(StatusChange(ids[0], "online", None, utcnow()))
    bus.publish_status(StatusChange(ids[1], "error", "timeout", utcnow()))
    archived = await client.delete(f"/api/devices/{ids[3]}?keep_data=true", headers=admin.headers)
    assert archived.status_code == 204
    devices = await _samples(client, "ddms_devices")
    assert devices == {
        _key(status="online"): 1,
        _key(status="error"): 1,
        _key(status="offline"): 1,  # fan: stored
    }
    bus.publish_status(StatusChange(ids[2], "online", None, utcnow()))
    devices = await _samples(client, "ddms_devices")
    assert devices[_key(status="online")] == 2
    assert devices[_key(status="offline")] == 0
