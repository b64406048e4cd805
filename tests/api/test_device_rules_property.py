"""Whatever sequence of creates and partial updates arrives, a stored device never breaks a rule.

Seeded random bodies over the fields that interact (register count, data type, the four thresholds,
the name): every accepted answer, and every device at the end, satisfies the contract's rules.

The oracle is written here from the definitions, not taken from DDMS's type table: a Modbus
register holds 16 bits, and each type's name states its width in bits (two's-complement or unsigned
integers; IEEE 754 binary32 and binary64 for the floats).
"""

from __future__ import annotations

import random
from itertools import pairwise
from typing import Any

import httpx

from tests.api.conftest import Account

CHOICES: dict[str, list[Any]] = {
    "modbus_register_count": [None, 1, 2, 3, 4, 125],
    "data_type": [None, "uint16", "int16", "uint32", "int32", "float32", "uint64", "int64", "float64"],
    "threshold_warning_lower": [None, -10, 0, 10, 50],
    "threshold_warning_upper": [None, 0, 10, 50, 100],
    "threshold_critical_lower": [None, -20, 0, 10],
    "threshold_critical_upper": [None, 10, 50, 200],
    "name": ["a", "b", "c"],
}
ORDER = (
    "threshold_critical_lower",
    "threshold_warning_lower",
    "threshold_warning_upper",
    "threshold_critical_upper",
)
MODBUS_REGISTER_BITS = 16
BITS = {
    "uint16": 16,
    "int16": 16,
    "uint32": 32,
    "int32": 32,
    "float32": 32,
    "uint64": 64,
    "int64": 64,
    "float64": 64,
}
BASE = {"modbus_ip": "10.0.0.1", "modbus_slave_id": 1, "modbus_register": 0}


def broken_rule(device: dict[str, Any]) -> str | None:
    if device["modbus_register_count"] * MODBUS_REGISTER_BITS != BITS[device["data_type"]]:
        return "register count does not match the data type"
    present = [(name, device[name]) for name in ORDER if device[name] is not None]
    for (low_name, low), (high_name, high) in pairwise(present):
        strict = (low_name, high_name) == ("threshold_warning_lower", "threshold_warning_upper")
        if low > high or (strict and low == high):
            return f"{low_name} {low} vs {high_name} {high}"
    return None


async def test_random_creates_and_updates_never_store_a_broken_device(
    client: httpx.AsyncClient, admin: Account
) -> None:
    rng = random.Random(20261127)
    ids = []
    for name in "abc":
        answer = await client.post("/api/devices", headers=admin.headers, json={**BASE, "name": name})
        ids.append(answer.json()["id"])
    problems = []
    for step in range(200):
        body = {key: rng.choice(values) for key, values in CHOICES.items() if rng.random() < 0.3}
        if rng.random() < 0.3:
            answer = await client.post(
                "/api/devices", headers=admin.headers, json={**BASE, **body, "name": f"n{step}"}
            )
        else:
            answer = await client.put(f"/api/devices/{rng.choice(ids)}", headers=admin.headers, json=body)
        assert answer.status_code < 500, answer.text
        if answer.status_code < 300 and (problem := broken_rule(answer.json())):
            problems.append(f"{body} -> {problem}")
        elif answer.status_code >= 400:
            assert answer.status_code in (400, 409, 422), answer.text
    for device_id in ids:
        stored = (await client.get(f"/api/devices/{device_id}", headers=admin.headers)).json()
        if problem := broken_rule(stored):
            problems.append(f"stored {device_id}: {problem}")
    assert not problems, problems[:5]


async def test_every_modbus_type_gets_its_width_and_no_other(
    client: httpx.AsyncClient, admin: Account
) -> None:
    """Each type the definitions name is accepted, with the register count its bits need."""
    for data_type, bits in BITS.items():
        created = await client.post(
            "/api/devices", headers=admin.headers, json={**BASE, "name": data_type, "data_type": data_type}
        )
        assert created.status_code == 201, created.text
        assert created.json()["modbus_register_count"] == bits // MODBUS_REGISTER_BITS
        wrong = await client.post(
            "/api/devices",
            headers=admin.headers,
            json={**BASE, "name": f"{data_type}-x", "data_type": data_type, "modbus_register_count": 3},
        )
        assert wrong.status_code in (400, 422), wrong.text
    unknown = await client.post(
        "/api/devices", headers=admin.headers, json={**BASE, "name": "u", "data_type": "int8"}
    )
    assert unknown.status_code in (400, 422), unknown.text
