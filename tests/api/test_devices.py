"""Devices over REST: every field of the contract, its default and its rule, updates and deletion."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from ddms import db
from ddms.bus import ChangeKind, get_bus
from ddms.models import Device, DeviceGroup, Reading
from tests.api.conftest import Account
from tests.api.helpers import add_readings, count_rows, device_row

MINIMAL = {"name": "boiler", "modbus_ip": "192.168.1.10", "modbus_slave_id": 3, "modbus_register": 100}
DEFAULTS = {
    "description": None,
    "modbus_port": 502,
    "modbus_register_count": 1,
    "unit": "",
    "sampling_interval": 10,
    "threshold_warning_lower": None,
    "threshold_warning_upper": None,
    "threshold_critical_lower": None,
    "threshold_critical_upper": None,
    "hysteresis": 0.0,
    "retention_days": 90,
    "data_type": "uint16",
    "byte_order": "ABCD",
    "scale": 1.0,
    "offset": 0.0,
    "status": "offline",
    "last_reading_at": None,
    "last_error": None,
}
FULL = {
    "name": "Kessel 2 ☃",
    "description": "basement",
    "modbus_ip": "plc-01.plant.local",
    "modbus_port": 5020,
    "modbus_slave_id": 247,
    "modbus_register": 65535,
    "modbus_register_count": 4,
    "unit": "°C",
    "sampling_interval": 3600,
    "threshold_critical_lower": -10.0,
    "threshold_warning_lower": 0.0,
    "threshold_warning_upper": 80.0,
    "threshold_critical_upper": 95.5,
    "hysteresis": 1.5,
    "retention_days": 3650,
    "data_type": "float64",
    "byte_order": "CDAB",
    "scale": 0.1,
    "offset": -273.15,
}


def device(**changes: Any) -> dict[str, Any]:
    return {**MINIMAL, **changes}


async def create(client: httpx.AsyncClient, account: Account, **changes: Any) -> dict[str, Any]:
    answer = await client.post("/api/devices", headers=account.headers, json=device(**changes))
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_create_with_defaults(client: httpx.AsyncClient, admin: Account) -> None:
    changes: list[Any] = []
    get_bus().on_device_change(changes.append)
    body = await create(client, admin)
    assert {key: body[key] for key in DEFAULTS} == DEFAULTS
    assert {key: body[key] for key in MINIMAL} == MINIMAL
    uuid.UUID(body["id"])
    assert body["created_at"].endswith("+00:00")
    assert body["updated_at"].endswith("+00:00")
    assert [(change.kind, str(change.device_id)) for change in changes] == [(ChangeKind.CREATED, body["id"])]
    assert (await client.get(f"/api/devices/{body['id']}", headers=admin.headers)).json() == body


async def test_default_retention_comes_from_the_system_settings(
    client: httpx.AsyncClient, owner: Account
) -> None:
    """REST and the pages share the rule: a device created without retention_days gets the setting."""
    changed = await client.put("/api/config", headers=owner.headers, json={"default_retention_days": 30})
    assert changed.status_code == 200, changed.text
    assert (await create(client, owner))["retention_days"] == 30
    explicit = await client.post(
        "/api/devices", headers=owner.headers, json=MINIMAL | {"name": "b2", "retention_days": 7}
    )
    assert explicit.json()["retention_days"] == 7


async def test_create_with_every_field(client: httpx.AsyncClient, owner: Account) -> None:
    body = await create(client, owner, **FULL)
    assert {key: body[key] for key in FULL} == FULL


@pytest.mark.parametrize(("count", "expected"), [(1, "uint16"), (2, "float32")])
async def test_data_type_default_follows_register_count(
    client: httpx.AsyncClient,
    admin: Account,
    count: int,
    expected: str,
) -> None:
    body = await create(client, admin, modbus_register_count=count)
    assert (body["data_type"], body["modbus_register_count"]) == (expected, count)


REGISTERS = {
    "uint16": 1,
    "int16": 1,
    "uint32": 2,
    "int32": 2,
    "float32": 2,
    "uint64": 4,
    "int64": 4,
    "float64": 4,
}


async def test_register_count_follows_data_type(client: httpx.AsyncClient, admin: Account) -> None:
    for data_type, count in REGISTERS.items():
        body = await create(client, admin, name=f"dev-{data_type}", data_type=data_type)
        assert body["modbus_register_count"] == count, data_type
        explicit = await create(
            client, admin, name=f"explicit-{data_type}", data_type=data_type, modbus_register_count=count
        )
        assert (explicit["data_type"], explicit["modbus_register_count"]) == (data_type, count)


async def test_required_fields(client: httpx.AsyncClient, admin: Account) -> None:
    for field in ("name", "modbus_ip", "modbus_slave_id", "modbus_register"):
        body = device()
        del body[field]
        answer = await client.post("/api/devices", headers=admin.headers, json=body)
        assert answer.status_code == 422, field
        assert f"{field}: Field required" in answer.json()["detail"]
    assert await count_rows(Device) == 0


BAD_FIELDS = [
    {"name": ""},
    {"name": "   "},
    {"name": "n" * 101},
    {"name": 7},
    {"modbus_ip": "999.1.1.1"},
    {"modbus_ip": "bad host"},
    {"modbus_ip": "-lead.example"},
    {"modbus_ip": ""},
    {"modbus_ip": "a" * 256},
    {"modbus_ip": "1.2.3"},
    {"modbus_port": 0},
    {"modbus_port": 65536},
    {"modbus_port": "http"},
    {"modbus_slave_id": 0},
    {"modbus_slave_id": 248},
    {"modbus_register": -1},
    {"modbus_register": 65536},
    {"modbus_register": 1.5},
    {"modbus_register_count": 0},
    {"modbus_register_count": 126},
    {"unit": "u" * 21},
    {"sampling_interval": 0},
    {"sampling_interval": 3601},
    {"hysteresis": -0.1},
    {"retention_days": 0},
    {"retention_days": 3651},
    {"data_type": "float16"},
    {"byte_order": "ABDC"},
    {"byte_order": "abcd"},
    {"description": "d" * 1001},
    {"scale": "big"},
    {"name": "nul\x00byte"},
    {"unit": "\x00"},
    {"id": str(uuid.uuid4())},
    {"status": "online"},
    {"colour": "red"},
]
BAD_RULES = [
    {"modbus_register_count": 3},  # no default type for 3 registers
    {"modbus_register_count": 1, "data_type": "float32"},
    {"modbus_register_count": 2, "data_type": "uint16"},
    {"modbus_register_count": 2, "data_type": "float64"},
    {"threshold_warning_lower": 10, "threshold_warning_upper": 10},
    {"threshold_warning_lower": 11, "threshold_warning_upper": 10},
    {"threshold_critical_lower": 5, "threshold_warning_lower": 4},
    {"threshold_warning_upper": 50, "threshold_critical_upper": 49},
    {"threshold_critical_lower": 100, "threshold_critical_upper": 0},
    {"threshold_critical_lower": 10, "threshold_warning_upper": 5},
]


async def test_invalid_device_is_refused(client: httpx.AsyncClient, admin: Account) -> None:
    failures = []
    for changes in BAD_FIELDS + BAD_RULES:
        answer = await client.post("/api/devices", headers=admin.headers, json=device(**changes))
        expected = (400,) if changes in BAD_RULES else (400, 422)
        detail = answer.json().get("detail")
        if answer.status_code not in expected or not isinstance(detail, str) or not detail:
            failures.append(f"{changes!r:.80} -> {answer.status_code} {answer.text[:120]}")
    assert not failures, "\n".join(failures)
    assert await count_rows(Device) == 0


async def test_every_broken_rule_is_named_in_one_answer(client: httpx.AsyncClient, admin: Account) -> None:
    """Three thresholds out of order and a register count that does not fit: one 400 names all four,
    so a script (and the form) can fix them in one go instead of one per attempt."""
    body = device(
        modbus_register_count=1,
        data_type="float32",
        threshold_critical_lower=50,
        threshold_warning_lower=40,
        threshold_warning_upper=30,
        threshold_critical_upper=20,
    )
    answer = await client.post("/api/devices", headers=admin.headers, json=body)
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "modbus_register_count 1 does not match data_type float32 (2 register(s)); "
        "threshold_critical_lower (50) must be at most threshold_warning_lower (40); "
        "threshold_warning_lower (40) must be below threshold_warning_upper (30); "
        "threshold_warning_upper (30) must be at most threshold_critical_upper (20)"
    }
    created = await create(client, admin, name="ok")
    changes = {"threshold_warning_lower": 10, "threshold_warning_upper": 10, "threshold_critical_upper": 5}
    update = await client.put(f"/api/devices/{created['id']}", headers=admin.headers, json=changes)
    assert update.status_code == 400
    assert update.json()["detail"] == (
        "threshold_warning_lower (10) must be below threshold_warning_upper (10); "
        "threshold_warning_upper (10) must be at most threshold_critical_upper (5)"
    )
    assert await count_rows(Device) == 1


async def test_non_finite_numbers_are_refused(client: httpx.AsyncClient, admin: Account) -> None:
    for field in ("threshold_warning_upper", "hysteresis", "scale", "offset"):
        raw = '{"name": "n", "modbus_ip": "1.1.1.1", "modbus_slave_id": 1, "modbus_register": 0, "%s": %s}'
        for literal in ("NaN", "Infinity", "1e400"):
            answer = await client.post(
                "/api/devices",
                headers={**admin.headers, "content-type": "application/json"},
                content=raw % (field, literal),
            )
            assert 400 <= answer.status_code < 500, (field, literal, answer.text)
    assert await count_rows(Device) == 0


ACCEPTED_EDGES = [
    {
        "threshold_critical_lower": 0,
        "threshold_warning_lower": 0,
        "threshold_warning_upper": 1,
        "threshold_critical_upper": 1,
    },
    {"threshold_warning_upper": 5},
    {"threshold_critical_lower": -5, "threshold_critical_upper": -5},
    {"modbus_ip": "::1"},
    {"modbus_ip": "[fe80::1]"},
    {"modbus_ip": "localhost"},
    {"modbus_ip": "plc."},
    {
        "modbus_port": 1,
        "modbus_slave_id": 1,
        "modbus_register": 0,
        "sampling_interval": 1,
        "retention_days": 1,
        "hysteresis": 0,
        "unit": "u" * 20,
        "name": "n" * 100,
        "description": "d" * 1000,
    },
]


async def test_edge_values_are_accepted(client: httpx.AsyncClient, admin: Account) -> None:
    for index, changes in enumerate(ACCEPTED_EDGES):
        await create(client, admin, **{"name": f"edge-{index}", **changes})
    # 125 registers is in range, but no data type is that wide: an explicit type must match.
    wide = await client.post("/api/devices", headers=admin.headers, json=device(modbus_register_count=125))
    assert wide.status_code == 400


async def test_duplicate_name(client: httpx.AsyncClient, admin: Account) -> None:
    first = await create(client, admin)
    answer = await client.post("/api/devices", headers=admin.headers, json=device(modbus_register=5))
    assert answer.status_code == 409
    assert "boiler" in answer.json()["detail"]
    other = await create(client, admin, name="other")
    rename = await client.put(f"/api/devices/{other['id']}", headers=admin.headers, json={"name": "boiler"})
    assert rename.status_code == 409
    same = await client.put(f"/api/devices/{first['id']}", headers=admin.headers, json={"name": "boiler"})
    assert same.status_code == 200
    assert await count_rows(Device) == 2


async def test_partial_update_keeps_rules_on_the_merged_result(
    client: httpx.AsyncClient, admin: Account
) -> None:
    body = await create(client, admin, threshold_warning_lower=10, threshold_warning_upper=20, unit="bar")
    path = f"/api/devices/{body['id']}"
    changes: list[Any] = []
    get_bus().on_device_change(changes.append)
    for update in (
        {"threshold_warning_lower": 25},
        {"threshold_warning_upper": 5},
        {"threshold_critical_upper": 15},
        {"data_type": "float32", "modbus_register_count": 1},
        {"modbus_register_count": 4},
        {"name": None},
        {"modbus_ip": None},
        {"modbus_ip": "no such"},
        {"sampling_interval": 0},
        {"unit": None},
        {"modbus_port": None},
        {"retention_days": None},
        {"scale": None},
        {"hysteresis": None},
        {"sampling_interval": None},
        {"byte_order": None},
    ):
        answer = await client.put(path, headers=admin.headers, json=update)
        assert 400 <= answer.status_code < 500, (update, answer.text)
        assert answer.json()["detail"]
        if None in update.values():
            assert answer.json() == {"detail": f"{next(iter(update))} cannot be null"}
    assert (await client.get(path, headers=admin.headers)).json() == body
    assert changes == []

    updated = await client.put(
        path, headers=admin.headers, json={"unit": "kPa", "threshold_warning_upper": 30}
    )
    assert updated.status_code == 200, updated.text
    after = updated.json()
    assert (after["unit"], after["threshold_warning_upper"], after["threshold_warning_lower"]) == (
        "kPa",
        30,
        10,
    )
    assert after["name"] == body["name"]
    assert after["updated_at"] > body["updated_at"]
    cleared = (await client.put(path, headers=admin.headers, json={"threshold_warning_lower": None})).json()
    assert cleared["threshold_warning_lower"] is None
    assert cleared["threshold_warning_upper"] == 30
    two = (await client.put(path, headers=admin.headers, json={"modbus_register_count": 2})).json()
    assert (two["data_type"], two["modbus_register_count"]) == ("float32", 2)
    wide = (await client.put(path, headers=admin.headers, json={"data_type": "int64"})).json()
    assert (wide["data_type"], wide["modbus_register_count"]) == ("int64", 4)
    assert [change.kind for change in changes] == [ChangeKind.UPDATED] * 4
    assert (await client.put(path, headers=admin.headers, json={})).status_code == 200


async def test_register_count_change_keeps_a_type_that_still_fits(
    client: httpx.AsyncClient, admin: Account
) -> None:
    body = await create(client, admin, data_type="int32")
    path = f"/api/devices/{body['id']}"
    same = (await client.put(path, headers=admin.headers, json={"modbus_register_count": 2})).json()
    assert (same["data_type"], same["modbus_register_count"]) == ("int32", 2)
    one = (await client.put(path, headers=admin.headers, json={"modbus_register_count": 1})).json()
    assert (one["data_type"], one["modbus_register_count"]) == ("uint16", 1)
    signed = (await client.put(path, headers=admin.headers, json={"data_type": "int16"})).json()
    kept = (await client.put(path, headers=admin.headers, json={"modbus_register_count": 1})).json()
    assert (signed["data_type"], kept["data_type"]) == ("int16", "int16")
    wide = await client.put(path, headers=admin.headers, json={"modbus_register_count": 4})
    assert wide.status_code == 400  # int16 does not fill 4 registers; no default for 4
    derived = (await client.put(path, headers=admin.headers, json={"modbus_register_count": None})).json()
    assert (derived["data_type"], derived["modbus_register_count"]) == ("int16", 1)


async def test_status_filter(client: httpx.AsyncClient, reader: Account, admin: Account) -> None:
    online = await create(client, admin, name="a-online")
    await create(client, admin, name="b-offline")
    async with db.session_scope() as session:
        row = await session.get(Device, uuid.UUID(online["id"]))
        assert row is not None
        row.status = "online"
        session.add(row)
        await session.commit()

    async def names(query: str) -> list[str]:
        answer = await client.get(f"/api/devices{query}", headers=reader.headers)
        assert answer.status_code == 200, answer.text
        return [item["name"] for item in answer.json()]

    assert await names("") == ["a-online", "b-offline"]
    assert await names("?status=online") == ["a-online"]
    assert await names("?status=connected") == ["a-online"]
    assert await names("?status=offline") == ["b-offline"]
    assert await names("?status=disconnected") == ["b-offline"]
    assert await names("?status=error") == []
    for bad in ("?status=up", "?status=1", "?status=%00"):
        answer = await client.get(f"/api/devices{bad}", headers=reader.headers)
        assert answer.status_code == 400, answer.text
        assert "Invalid status" in answer.json()["detail"]


async def test_delete_removes_readings_by_default(client: httpx.AsyncClient, admin: Account) -> None:
    body = await create(client, admin)
    group = await client.post(
        "/api/groups", headers=admin.headers, json={"name": "g", "device_ids": [body["id"]]}
    )
    assert group.status_code == 201
    await add_readings(body["id"], 5)
    changes: list[Any] = []
    get_bus().on_device_change(changes.append)
    answer = await client.delete(f"/api/devices/{body['id']}", headers=admin.headers)
    assert answer.status_code == 204
    assert answer.content == b""
    assert await count_rows(Reading) == 0
    assert await device_row(body["id"]) is None
    assert await count_rows(DeviceGroup) == 0
    assert [change.kind for change in changes] == [ChangeKind.DELETED]
    assert (await client.get(f"/api/devices/{body['id']}", headers=admin.headers)).status_code == 404
    assert (await client.delete(f"/api/devices/{body['id']}", headers=admin.headers)).status_code == 404


async def test_delete_keep_data_keeps_readings_and_frees_the_name(
    client: httpx.AsyncClient, admin: Account
) -> None:
    body = await create(client, admin)
    other = await create(client, admin, name="other")
    await add_readings(body["id"], 5)
    await add_readings(other["id"], 2)
    group = await client.post(
        "/api/groups", headers=admin.headers, json={"name": "g", "device_ids": [body["id"]]}
    )
    answer = await client.delete(f"/api/devices/{body['id']}?keep_data=true", headers=admin.headers)
    assert answer.status_code == 204
    assert await count_rows(Reading, device_id=uuid.UUID(body["id"])) == 5
    assert (await client.get(f"/api/devices/{body['id']}", headers=admin.headers)).status_code == 404
    assert [item["name"] for item in (await client.get("/api/devices", headers=admin.headers)).json()] == [
        "other"
    ]
    detail = (await client.get(f"/api/groups/{group.json()['id']}", headers=admin.headers)).json()
    assert detail["device_count"] == 0
    assert detail["devices"] == []
    again = await create(client, admin)  # the name is free again
    assert again["id"] != body["id"]
    assert (
        await client.put(f"/api/devices/{body['id']}", headers=admin.headers, json={"unit": "x"})
    ).status_code == 404
    bad = await client.delete(f"/api/devices/{other['id']}?keep_data=maybe", headers=admin.headers)
    assert bad.status_code == 422
    assert await count_rows(Reading, device_id=uuid.UUID(other["id"])) == 2


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_unknown_and_malformed_device_ids(
    client: httpx.AsyncClient, admin: Account, method: str
) -> None:
    body = {"unit": "x"} if method == "PUT" else None
    unknown = await client.request(method, f"/api/devices/{uuid.uuid4()}", headers=admin.headers, json=body)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Device not found"}
    for bad in ("nope", "1", "00000000-0000-0000-0000-00000000000g"):
        answer = await client.request(method, f"/api/devices/{bad}", headers=admin.headers, json=body)
        assert answer.status_code == 422, answer.text
        assert "device_id" in answer.json()["detail"]
