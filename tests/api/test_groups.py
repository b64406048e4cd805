"""Groups over REST: membership, counts, the alert summary, and deletion that keeps devices."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from ddms import db
from ddms.bus import LatestValue, get_bus
from ddms.models import Device, DeviceGroup, Group, utcnow
from tests.api.conftest import Account
from tests.api.helpers import count_rows

GROUP_FIELDS = {"id", "name", "description", "device_count", "created_at", "updated_at"}


async def make_devices(client: httpx.AsyncClient, account: Account, *names: str) -> list[str]:
    ids = []
    for index, name in enumerate(names):
        answer = await client.post(
            "/api/devices",
            headers=account.headers,
            json={
                "name": name,
                "modbus_ip": "10.1.1.1",
                "modbus_slave_id": 1,
                "modbus_register": index,
                "unit": "V",
            },
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


async def test_create_list_and_detail(client: httpx.AsyncClient, admin: Account, reader: Account) -> None:
    a, b = await make_devices(client, admin, "b-dev", "a-dev")
    created = await client.post(
        "/api/groups",
        headers=admin.headers,
        json={"name": "Hall", "description": "north", "device_ids": [a, b, a]},
    )
    assert created.status_code == 201, created.text
    detail = created.json()
    assert set(detail) == GROUP_FIELDS | {"devices", "alert_summary"}
    assert detail["device_count"] == 2
    assert [member["name"] for member in detail["devices"]] == ["a-dev", "b-dev"]
    assert detail["devices"][0] == {"id": b, "name": "a-dev", "unit": "V", "status": "offline"}
    assert detail["alert_summary"] == {"normal": 0, "warning": 0, "critical": 0, "offline": 2}
    empty = await client.post("/api/groups", headers=admin.headers, json={"name": "Empty"})
    assert empty.status_code == 201
    assert empty.json()["device_count"] == 0
    assert empty.json()["description"] is None
    listed = (await client.get("/api/groups", headers=reader.headers)).json()
    assert [(group["name"], group["device_count"]) for group in listed] == [("Empty", 0), ("Hall", 2)]
    assert all(set(group) == GROUP_FIELDS for group in listed)
    assert (await client.get(f"/api/groups/{detail['id']}", headers=reader.headers)).json() == detail


INVALID_GROUPS = [
    ({"name": ""}, 422),
    ({"name": "g" * 101}, 422),
    ({"name": "g", "description": "d" * 501}, 422),
    ({"name": "g", "device_ids": ["not-a-uuid"]}, 422),
    ({"name": "g", "device_ids": "all"}, 422),
    ({"name": "g", "device_ids": [str(uuid.uuid4())]}, 400),
    ({"name": "g", "members": []}, 422),
    ({"description": "no name"}, 422),
    ({"name": ["g"]}, 422),
]


async def test_invalid_group_is_refused(client: httpx.AsyncClient, admin: Account) -> None:
    for body, status in INVALID_GROUPS:
        answer = await client.post("/api/groups", headers=admin.headers, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["detail"]
    assert await count_rows(Group) == 0


async def test_unknown_device_names_the_id(client: httpx.AsyncClient, admin: Account) -> None:
    (known,) = await make_devices(client, admin, "known")
    missing = str(uuid.uuid4())
    answer = await client.post(
        "/api/groups", headers=admin.headers, json={"name": "g", "device_ids": [known, missing]}
    )
    assert answer.status_code == 400
    assert answer.json() == {"detail": f"Unknown device id(s): {missing}"}
    assert await count_rows(DeviceGroup) == 0


async def test_duplicate_name(client: httpx.AsyncClient, admin: Account) -> None:
    first = await client.post("/api/groups", headers=admin.headers, json={"name": "Hall"})
    second = await client.post("/api/groups", headers=admin.headers, json={"name": "Yard"})
    assert (await client.post("/api/groups", headers=admin.headers, json={"name": "Hall"})).status_code == 409
    rename = await client.put(
        f"/api/groups/{second.json()['id']}", headers=admin.headers, json={"name": "Hall"}
    )
    assert rename.status_code == 409
    assert "Hall" in rename.json()["detail"]
    same = await client.put(f"/api/groups/{first.json()['id']}", headers=admin.headers, json={"name": "Hall"})
    assert same.status_code == 200
    assert await count_rows(Group) == 2


async def test_update_replaces_membership(client: httpx.AsyncClient, admin: Account) -> None:
    a, b, c = await make_devices(client, admin, "a", "b", "c")
    group = (
        await client.post("/api/groups", headers=admin.headers, json={"name": "g", "device_ids": [a, b]})
    ).json()
    path = f"/api/groups/{group['id']}"
    renamed = await client.put(path, headers=admin.headers, json={"name": "g2", "description": "new"})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["description"], renamed.json()["device_count"]) == (
        "g2",
        "new",
        2,
    )
    replaced = await client.put(path, headers=admin.headers, json={"device_ids": [c]})
    assert [member["id"] for member in replaced.json()["devices"]] == [c]
    assert replaced.json()["name"] == "g2"
    refused = await client.put(path, headers=admin.headers, json={"device_ids": [a, str(uuid.uuid4())]})
    assert refused.status_code == 400
    for body in ({"name": None}, {"name": ""}, {"description": "x" * 501}, {"extra": 1}):
        bad = await client.put(path, headers=admin.headers, json=body)
        assert 400 <= bad.status_code < 500, (body, bad.text)
    unchanged = (await client.get(path, headers=admin.headers)).json()
    assert ([member["id"] for member in unchanged["devices"]], unchanged["name"]) == ([c], "g2")
    emptied = await client.put(path, headers=admin.headers, json={"device_ids": []})
    assert emptied.json()["device_count"] == 0
    assert await count_rows(Device) == 3


async def test_delete_keeps_devices(client: httpx.AsyncClient, admin: Account) -> None:
    ids = await make_devices(client, admin, "a", "b")
    group = (
        await client.post("/api/groups", headers=admin.headers, json={"name": "g", "device_ids": ids})
    ).json()
    assert (await client.delete(f"/api/groups/{group['id']}", headers=admin.headers)).status_code == 204
    assert (await client.get(f"/api/groups/{group['id']}", headers=admin.headers)).status_code == 404
    assert (await client.delete(f"/api/groups/{group['id']}", headers=admin.headers)).status_code == 404
    assert await count_rows(Device) == 2
    assert await count_rows(DeviceGroup) == 0


async def test_alert_summary_counts_levels_and_offline(client: httpx.AsyncClient, admin: Account) -> None:
    ids = await make_devices(client, admin, "normal", "warn", "crit", "quiet", "down", "broken")
    statuses = {
        "normal": "online",
        "warn": "online",
        "crit": "online",
        "quiet": "online",
        "down": "offline",
        "broken": "error",
    }
    async with db.session_scope() as session:
        for device_id in ids:
            row = await session.get(Device, uuid.UUID(device_id))
            assert row is not None
            row.status = statuses[row.name]
            session.add(row)
        await session.commit()
    bus = get_bus()
    levels = {ids[0]: "normal", ids[1]: "warning", ids[2]: "critical", ids[4]: "critical"}
    for device_id, level in levels.items():
        # The bus marks the latest value of a device that went offline as offline (publish_status).
        live = "offline" if device_id == ids[4] else "online"
        bus.set_latest(LatestValue(uuid.UUID(device_id), utcnow(), 1.0, level, live))
    group = (
        await client.post("/api/groups", headers=admin.headers, json={"name": "g", "device_ids": ids})
    ).json()
    # "down" had a critical value before it went offline: it counts as offline; "quiet" has no value yet.
    assert group["alert_summary"] == {"normal": 2, "warning": 1, "critical": 1, "offline": 2}
    statuses_by_name: dict[str, Any] = {member["name"]: member["status"] for member in group["devices"]}
    assert statuses_by_name == statuses


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_unknown_and_malformed_group_ids(
    client: httpx.AsyncClient, admin: Account, method: str
) -> None:
    body = {"description": "x"} if method == "PUT" else None
    unknown = await client.request(method, f"/api/groups/{uuid.uuid4()}", headers=admin.headers, json=body)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Group not found"}
    malformed = await client.request(method, "/api/groups/xyz", headers=admin.headers, json=body)
    assert malformed.status_code == 422
