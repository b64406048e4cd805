"""Client input never gets a 500: malformed JSON, wrong types, garbage ids and query strings, everywhere.

The sweep walks ``app.routes``, so endpoints added later are covered without editing this file.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from fastapi import FastAPI

from ddms.config import Settings
from ddms.main import create_api
from ddms.models import Device, Group, User
from tests.api.conftest import Account
from tests.api.helpers import count_rows

GARBAGE_BODIES: list[bytes] = [
    b"{",
    b"{'single': 'quotes'}",
    b"[]",
    b"null",
    b'"text"',
    b"42",
    b"\xff\xfe\x00",
    b"",
    json.dumps(
        {
            "name": {"nested": 1},
            "username": ["a"],
            "password": 5,
            "old_password": None,
            "new_password": 12,
            "refresh_token": 7,
            "device_ids": "all",
            "modbus_ip": 1,
            "role": {"x": 1},
            "backup_schedule": 5,
            "description": [1],
        }
    ).encode(),
    json.dumps(
        {
            "name": "x" * 100_000,
            "username": "u" * 100_000,
            "password": "p" * 100_000,
            "refresh_token": "t" * 100_000,
            "app_title": "a" * 100_000,
        }
    ).encode(),
    json.dumps(
        {
            "name": "n\u0000",
            "username": "a\u0000b",
            "password": "pass\u0000word",
            "old_password": "x\u0000",
            "new_password": "y\u0000" * 5,
            "refresh_token": "\u0000",
        }
    ).encode(),
    json.dumps(
        {
            "modbus_port": 10**30,
            "modbus_slave_id": -(10**30),
            "sampling_interval": 1e308,
            "threshold_warning_upper": 1e308,
            "backup_retention_count": 10**20,
            "sse_interval": -1,
        }
    ).encode(),
]
GARBAGE_QUERIES = [
    "",
    "?status=%00&limit=-1&offset=-5&start_time=yesterday&end_time=1e99&aggregate=1week&keep_data=perhaps"
    "&hours=abc&max_points=0&device_ids=a,,b&token=x&unread_only=2",
    "?start_time=2024-13-45T99:99:99&end_time=2024-01-01&limit=10000000000000000000000&offset=1.5",
    "?start_time=2030-01-02T00:00:00Z&end_time=2020-01-01T00:00:00%2B14:00&aggregate=1min&max_points=1"
    "&limit=1000&hours=0&device_ids=",
]
ID_VALUES = [str(uuid.uuid4()), "not-a-uuid", "0" * 300]


def api_routes() -> list[tuple[str, str]]:
    """(method, path) of every documented /api route except the endless SSE streams."""
    from tests.conftest import TEST_SECRET

    settings = Settings(jwt_secret_key=TEST_SECRET, database_url="sqlite+aiosqlite:///unused.db")
    paths = create_api(settings).openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if path.startswith("/api") and not path.endswith("/stream")
    ]


ROUTES = api_routes()


def fill(path: str, value: str) -> str:
    import re

    return re.sub(r"\{[^}]+\}", value, path)


@pytest.fixture
async def raw_client(app: FastAPI):
    """A client that reports server errors as 500 answers instead of raising them."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def existing(raw_client: httpx.AsyncClient, owner: Account) -> dict[str, str]:
    """Real ids per resource, so garbage queries also reach the code behind an existing object.

    The device points at a closed local port, so a test-connection fails at once instead of waiting.
    """
    from tests.api.helpers import add_readings, add_user

    device = await raw_client.post(
        "/api/devices",
        headers=owner.headers,
        json={
            "name": "real",
            "modbus_ip": "127.0.0.1",
            "modbus_port": 1,
            "modbus_slave_id": 1,
            "modbus_register": 0,
        },
    )
    await add_readings(device.json()["id"], 3)
    group = await raw_client.post(
        "/api/groups", headers=owner.headers, json={"name": "real", "device_ids": [device.json()["id"]]}
    )
    user = await add_user("real_user", "read_only")
    return {
        "devices": device.json()["id"],
        "readings": device.json()["id"],
        "groups": group.json()["id"],
        "users": str(user.id),
        "device": device.json()["id"],
        "group": group.json()["id"],
    }


def real_id(path: str, existing: dict[str, str]) -> str:
    """The existing object a path names: /api/<resource>/{id} or /api/export/<resource>/{id}."""
    parts = [part for part in path.split("/") if part and not part.startswith("{")]
    return existing.get(parts[-1], existing.get(parts[1], str(uuid.uuid4())))


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_no_500_for_any_client_input(
    raw_client: httpx.AsyncClient,
    owner: Account,
    existing: dict[str, str],
    method: str,
    path: str,
) -> None:
    headers = {**owner.headers, "content-type": "application/json"}
    failures = []
    has_body = method in ("POST", "PUT", "PATCH")
    # Bodies are varied with a plain query string, query strings with an empty body.
    cases = [("", body) for body in GARBAGE_BODIES] if has_body else []
    cases += [(query, b"{}" if has_body else b"") for query in GARBAGE_QUERIES[1:]]
    cases += [] if has_body else [("", b"")]
    for value in [real_id(path, existing), *ID_VALUES] if "{" in path else ["-"]:
        for query, body in cases:
            url = fill(path, value) + query
            answer = await raw_client.request(method, url, headers=headers, content=body)
            if answer.status_code >= 500:
                failures.append(f"{method} {url} {body[:60]!r} -> {answer.status_code} {answer.text[:200]}")
            elif answer.status_code >= 400:
                detail = answer.json().get("detail")
                if not isinstance(detail, str) or not detail:
                    failures.append(f"{method} {url} {body[:60]!r} -> no detail: {answer.text[:200]}")
    assert not failures, "\n".join(failures[:10])
    # The owner's session survived every attempt (garbage must not have logged anyone out).
    assert (await raw_client.get("/api/auth/me", headers=owner.headers)).status_code == 200


WRITE_ENDPOINTS = [
    ("POST", "/api/users"),
    ("POST", "/api/devices"),
    ("POST", "/api/groups"),
    ("PUT", "/api/config"),
    ("PUT", "/api/auth/me"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/change-password"),
    ("POST", "/api/auth/refresh"),
    ("PUT", "/api/devices/{id}"),
    ("PUT", "/api/groups/{id}"),
    ("PUT", "/api/users/{id}"),
]


@pytest.mark.parametrize(("method", "path"), WRITE_ENDPOINTS, ids=[f"{m} {p}" for m, p in WRITE_ENDPOINTS])
async def test_malformed_json_is_400_and_changes_nothing(
    client: httpx.AsyncClient,
    owner: Account,
    method: str,
    path: str,
) -> None:
    device = await client.post(
        "/api/devices",
        headers=owner.headers,
        json={"name": "d", "modbus_ip": "10.0.0.1", "modbus_slave_id": 1, "modbus_register": 0},
    )
    group = await client.post("/api/groups", headers=owner.headers, json={"name": "g"})
    target = {
        "/api/devices/{id}": device.json()["id"],
        "/api/groups/{id}": group.json()["id"],
        "/api/users/{id}": str(owner.user.id),
    }.get(path, "")
    url = path.replace("{id}", target)
    before = (
        await count_rows(User),
        await count_rows(Device),
        await count_rows(Group),
        (await client.get("/api/config", headers=owner.headers)).json(),
    )
    for body in (b'{"name": ', b"{'a': 1}", b'{"a": 1,}', b"[1, 2"):
        answer = await client.request(
            method, url, headers={**owner.headers, "content-type": "application/json"}, content=body
        )
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json() == {"detail": "Malformed JSON in request body"}
    wrong_type = await client.request(method, url, headers=owner.headers, json=["a", "list"])
    assert wrong_type.status_code in (400, 422), wrong_type.text
    after = (
        await count_rows(User),
        await count_rows(Device),
        await count_rows(Group),
        (await client.get("/api/config", headers=owner.headers)).json(),
    )
    assert after == before
    assert (await client.get("/api/auth/me", headers=owner.headers)).status_code == 200


async def test_validation_detail_is_readable(client: httpx.AsyncClient, owner: Account) -> None:
    answer = await client.post(
        "/api/devices",
        headers=owner.headers,
        json={"name": "d", "modbus_ip": "10.0.0.1", "modbus_slave_id": "one", "modbus_register": 70000},
    )
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert isinstance(detail, str)
    assert "modbus_slave_id" in detail
    assert "modbus_register" in detail


async def test_oversize_login_fields_are_refused(client: httpx.AsyncClient, app: FastAPI) -> None:
    for body in (
        {"username": "a" * 201, "password": "x"},
        {"username": "admin", "password": "p" * 1025},
        {"username": "admin"},
        {"username": "admin", "password": "owner-password-1", "otp": 1},
    ):
        answer = await client.post("/api/auth/login", json=body)
        assert answer.status_code == 422, answer.text
    too_long = await client.post("/api/auth/login", json={"username": "admin", "password": "p" * 73})
    assert too_long.status_code == 401


# Field by field: a body that is valid except for one field, so the bad value reaches the service and
# the database instead of being stopped by a missing required field.
FIELD_GARBAGE: list[object] = ["\u0000", "x" * 100_000, 10**30, -1e308, None, [], {}, "💥" * 300]
VALID_BASES: dict[str, dict[str, object]] = {
    "DeviceCreate": {"name": "sweep", "modbus_ip": "10.9.9.9", "modbus_slave_id": 1, "modbus_register": 0},
    "GroupCreate": {"name": "sweep"},
    "UserCreate": {"username": "sweeper", "password": "sweep-password"},
}
SKIP_SCHEMAS = {"LoginRequest", "PasswordChange"}  # every attempt costs a bcrypt round; tested apart


def body_fields() -> list[tuple[str, str, str, list[str]]]:
    """(method, path, schema name, property names) of every JSON request body in the OpenAPI document."""
    from tests.conftest import TEST_SECRET

    document = create_api(
        Settings(jwt_secret_key=TEST_SECRET, database_url="sqlite+aiosqlite:///unused.db")
    ).openapi()
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if not content or "$ref" not in content["schema"]:
                continue
            name = content["schema"]["$ref"].rsplit("/", 1)[-1]
            if name in SKIP_SCHEMAS:
                continue
            properties = list(document["components"]["schemas"][name].get("properties", {}))
            found.append((method.upper(), path, name, properties))
    return found


BODY_FIELDS = body_fields()


@pytest.mark.parametrize(
    ("method", "path", "schema", "fields"), BODY_FIELDS, ids=[f"{m} {p}" for m, p, _, _ in BODY_FIELDS]
)
async def test_no_500_for_any_bad_field(
    raw_client: httpx.AsyncClient,
    owner: Account,
    method: str,
    path: str,
    schema: str,
    fields: list[str],
) -> None:
    from tests.api.helpers import add_user

    device = await raw_client.post(
        "/api/devices", headers=owner.headers, json=VALID_BASES["DeviceCreate"] | {"name": "existing"}
    )
    group = await raw_client.post("/api/groups", headers=owner.headers, json={"name": "existing"})
    target = await add_user("target", "read_only")
    ids = {"devices": device.json()["id"], "groups": group.json()["id"], "users": str(target.id)}
    resource = path.split("/")[2]
    url = fill(path, ids.get(resource, str(uuid.uuid4())))
    base = VALID_BASES.get(schema, {})
    failures = []
    for field in fields:
        for value in FIELD_GARBAGE:
            answer = await raw_client.request(method, url, headers=owner.headers, json=base | {field: value})
            if answer.status_code >= 500:
                failures.append(
                    f"{method} {url} {field}={str(value)[:30]!r} -> {answer.status_code} {answer.text[:200]}"
                )
    assert not failures, "\n".join(failures[:10])
    assert (await raw_client.get("/api/auth/me", headers=owner.headers)).status_code == 200
