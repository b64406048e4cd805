"""The role matrix: every write endpoint (and the role-restricted reads) for each role and no token.

A refused request (401/403) must change nothing: the owner's view of users, devices, groups and the
configuration is compared before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ddms.models import Role
from tests.api.conftest import Account
from tests.api.helpers import USER_PASSWORD, add_user

OWNER, ADMIN, READ_ONLY = "owner", "admin", "read_only"
ANYONE = (OWNER, ADMIN, READ_ONLY)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {user}, {device}, {group}, {display}, {channel} are filled from the world fixture
    allowed: tuple[str, ...]
    success: int
    body: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


# A closed local port: a test send fails at once (the answer is still 200 with success false).
CHANNEL_BODY = {"type": "webhook", "url": "http://127.0.0.1:1/hook", "secret": "matrix-secret-1"}
DEVICE_BODY = {"name": "pump-2-{tag}", "modbus_ip": "10.0.0.2", "modbus_slave_id": 1, "modbus_register": 0}
ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/users",
        (OWNER,),
        201,
        {"username": "newbie_{tag}", "password": "new-password-1", "role": "admin"},
    ),
    Endpoint("GET", "/api/users", (OWNER, ADMIN), 200),
    Endpoint("GET", "/api/users/{user}", (OWNER, ADMIN), 200),
    Endpoint("PUT", "/api/users/{user}", (OWNER,), 200, {"language_preference": "zh"}),
    Endpoint("DELETE", "/api/users/{user}", (OWNER,), 204),
    Endpoint("POST", "/api/devices", (OWNER, ADMIN), 201, DEVICE_BODY),
    Endpoint("PUT", "/api/devices/{device}", (OWNER, ADMIN), 200, {"unit": "bar"}),
    Endpoint("DELETE", "/api/devices/{device}", (OWNER, ADMIN), 204),
    Endpoint("POST", "/api/devices/{device}/test-connection", (OWNER, ADMIN), 200),
    Endpoint(
        "POST",
        "/api/devices/test",
        (OWNER, ADMIN),
        200,
        {"modbus_ip": "127.0.0.1", "modbus_port": 1, "modbus_slave_id": 1, "modbus_register": 0},
    ),
    Endpoint("POST", "/api/groups", (OWNER, ADMIN), 201, {"name": "hall 2 {tag}"}),
    Endpoint("PUT", "/api/groups/{group}", (OWNER, ADMIN), 200, {"description": "changed"}),
    Endpoint("DELETE", "/api/groups/{group}", (OWNER, ADMIN), 204),
    Endpoint("GET", "/api/config", (OWNER,), 200),
    Endpoint("PUT", "/api/config", (OWNER,), 200, {"backup_retention_count": 3}),
    Endpoint("POST", "/api/display-tokens", (OWNER,), 201, {"name": "screen 2 {tag}"}),
    Endpoint("GET", "/api/display-tokens", (OWNER,), 200),
    Endpoint("DELETE", "/api/display-tokens/{display}", (OWNER,), 204),
    Endpoint("POST", "/api/channels", (OWNER,), 201, {**CHANNEL_BODY, "name": "hook 2 {tag}"}),
    Endpoint("GET", "/api/channels", (OWNER,), 200),
    Endpoint("GET", "/api/channels/{channel}", (OWNER,), 200),
    Endpoint("PUT", "/api/channels/{channel}", (OWNER,), 200, {"min_severity": "critical"}),
    Endpoint("DELETE", "/api/channels/{channel}", (OWNER,), 204),
    Endpoint("POST", "/api/channels/{channel}/test", (OWNER,), 200),
    Endpoint("PUT", "/api/auth/me", ANYONE, 200, {"language_preference": "zh"}),
    Endpoint("POST", "/api/auth/logout", ANYONE, 200),
    Endpoint("GET", "/api/auth/me", ANYONE, 200),
    # Acknowledging is the operator's job: every role (tests/alarms checks each role's own acknowledgement).
    Endpoint("POST", "/api/alarms/acknowledge-all", ANYONE, 200, {"comment": "seen"}),
    Endpoint("PUT", "/api/notifications/read-all", ANYONE, 200),
]
READ_FOR_ANY = [
    "/api/devices",
    "/api/devices/{device}",
    "/api/groups",
    "/api/groups/{group}",
    "/api/alarms",
    "/api/notifications",
]


async def make_world(client: httpx.AsyncClient, owner: Account, tag: str) -> dict[str, str]:
    """One target user, one device in one group, one display link, made by the owner; names carry ``tag``."""
    target = await add_user(f"target_{tag}", Role.READ_ONLY)
    device = await client.post(
        "/api/devices",
        headers=owner.headers,
        json={  # a closed local port: a test-connection fails at once instead of waiting for a timeout
            "name": f"pump-1-{tag}",
            "modbus_ip": "127.0.0.1",
            "modbus_port": 1,
            "modbus_slave_id": 1,
            "modbus_register": 0,
        },
    )
    assert device.status_code == 201, device.text
    group = await client.post(
        "/api/groups",
        headers=owner.headers,
        json={"name": f"hall 1 {tag}", "device_ids": [device.json()["id"]]},
    )
    assert group.status_code == 201, group.text
    display = await client.post(
        "/api/display-tokens", headers=owner.headers, json={"name": f"screen 1 {tag}"}
    )
    assert display.status_code == 201, display.text
    channel = await client.post(
        "/api/channels", headers=owner.headers, json={**CHANNEL_BODY, "name": f"hook 1 {tag}"}
    )
    assert channel.status_code == 201, channel.text
    return {
        "user": str(target.id),
        "device": device.json()["id"],
        "group": group.json()["id"],
        "display": display.json()["id"],
        "channel": channel.json()["id"],
        "tag": tag,
    }


@pytest.fixture
async def world(client: httpx.AsyncClient, owner: Account) -> dict[str, str]:
    return await make_world(client, owner, "main")


async def snapshot(client: httpx.AsyncClient, owner: Account, world: dict[str, str]) -> dict[str, Any]:
    """Everything a write endpoint could touch, as the owner sees it."""
    paths = [
        "/api/users",
        "/api/devices",
        "/api/groups",
        f"/api/groups/{world['group']}",
        "/api/config",
        "/api/display-tokens",
        "/api/channels",
    ]
    state = {}
    for path in paths:
        answer = await client.get(path, headers=owner.headers)
        assert answer.status_code == 200, answer.text
        state[path] = answer.json()
    return state


def _filled(body: dict[str, Any] | None, tag: str) -> dict[str, Any] | None:
    if body is None:
        return None
    return {key: value.format(tag=tag) if isinstance(value, str) else value for key, value in body.items()}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_role_matrix(
    client: httpx.AsyncClient,
    owner: Account,
    admin: Account,
    reader: Account,
    endpoint: Endpoint,
) -> None:
    """Refused callers (no token first) must leave one shared world exactly as it was; each allowed
    role then acts on fresh objects of its own, so one role's success cannot mask another's."""
    callers = {
        "no_token": (None, {}),
        OWNER: (OWNER, owner.headers),
        ADMIN: (ADMIN, admin.headers),
        READ_ONLY: (READ_ONLY, reader.headers),
    }
    shared = await make_world(client, owner, "shared")
    before = await snapshot(client, owner, shared)
    for tag, (role, headers) in callers.items():
        if role in endpoint.allowed:
            continue
        answer = await client.request(
            endpoint.method, endpoint.path.format(**shared), headers=headers, json=_filled(endpoint.body, tag)
        )
        if role is None:
            assert answer.status_code == 401, (tag, answer.text)
            assert answer.json() == {"detail": "Not authenticated"}
            assert answer.headers["www-authenticate"] == "Bearer"
        else:
            assert answer.status_code == 403, (tag, answer.text)
            assert answer.json() == {
                "detail": f"Access forbidden. Required roles: {', '.join(endpoint.allowed)}"
            }
        assert await snapshot(client, owner, shared) == before, tag
    for tag in endpoint.allowed:
        world = await make_world(client, owner, tag)
        answer = await client.request(
            endpoint.method,
            endpoint.path.format(**world),
            headers=callers[tag][1],
            json=_filled(endpoint.body, tag),
        )
        assert answer.status_code == endpoint.success, (tag, answer.text)


@pytest.mark.parametrize("path", READ_FOR_ANY)
async def test_every_role_reads_devices_and_groups(
    client: httpx.AsyncClient,
    world: dict[str, str],
    owner: Account,
    admin: Account,
    reader: Account,
    path: str,
) -> None:
    for account in (owner, admin, reader):
        assert (await client.get(path.format(**world), headers=account.headers)).status_code == 200
    assert (await client.get(path.format(**world))).status_code == 401


@pytest.mark.parametrize("role", ANYONE)
async def test_change_password_is_open_to_every_role(
    client: httpx.AsyncClient,
    owner: Account,
    admin: Account,
    reader: Account,
    role: str,
) -> None:
    account = {OWNER: owner, ADMIN: admin, READ_ONLY: reader}[role]
    old = "owner-password-1" if role == OWNER else USER_PASSWORD
    answer = await client.post(
        "/api/auth/change-password",
        headers=account.headers,
        json={"old_password": old, "new_password": "brand-new-pass-9"},
    )
    assert answer.status_code == 200, answer.text
    unauthenticated = await client.post(
        "/api/auth/change-password", json={"old_password": old, "new_password": "brand-new-pass-9"}
    )
    assert unauthenticated.status_code == 401


async def test_bad_or_foreign_tokens_get_401(client: httpx.AsyncClient, owner: Account, settings) -> None:
    import jwt as pyjwt

    forged = pyjwt.encode(
        {"sub": str(owner.user.id), "jti": "x", "type": "access", "exp": 9999999999},
        "another-secret-" + "y" * 40,
        algorithm="HS256",
    )
    for headers in (
        {"Authorization": "Bearer nonsense"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {owner.refresh_token}"},
        {"Authorization": "Basic abc"},
    ):
        answer = await client.post("/api/devices", headers=headers, json=DEVICE_BODY)
        assert answer.status_code == 401, (headers, answer.text)
    assert (await client.get("/api/devices", headers=owner.headers)).json() == []
