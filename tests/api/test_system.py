"""Health, documentation, trailing slashes and the owner's configuration."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

import ddms.db
import ddms.runtime
from ddms import __version__
from tests.api.conftest import Account

DEVICE = {"name": "d", "modbus_ip": "10.0.0.1", "modbus_slave_id": 1, "modbus_register": 0}


async def test_health(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "healthy", "database": "ok", "version": __version__}


async def test_health_is_503_when_the_database_is_unreachable(
    client: httpx.AsyncClient, owner: Account
) -> None:
    app_runtime = ddms.runtime.current()  # the running app's
    working = app_runtime.database
    unreachable = ddms.db.configure("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    try:
        answer = await client.get("/api/health")
        assert answer.status_code == 503
        assert answer.json()["database"] == "unavailable"
        assert answer.json()["status"] != "healthy"
        devices = await client.get("/api/devices", headers=owner.headers)  # handled: not re-raised
        assert devices.status_code == 503, devices.text
        assert devices.json() == {"detail": "Database unavailable, try again shortly"}
    finally:
        await unreachable.dispose()
        app_runtime.database = working
    assert (await client.get("/api/health")).status_code == 200


async def test_openapi_documents_every_contract_route(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    expected = {
        "/api/auth/login": {"post"},
        "/api/auth/refresh": {"post"},
        "/api/auth/logout": {"post"},
        "/api/auth/change-password": {"post"},
        "/api/auth/me": {"get", "put"},
        "/api/users": {"get", "post"},
        "/api/users/{user_id}": {"get", "put", "delete"},
        "/api/devices": {"get", "post"},
        "/api/devices/{device_id}": {"get", "put", "delete"},
        "/api/groups": {"get", "post"},
        "/api/groups/{group_id}": {"get", "put", "delete"},
        "/api/config": {"get", "put"},
        "/api/health": {"get"},
    }
    for path, methods in expected.items():
        assert path in document["paths"], path
        assert methods <= set(document["paths"][path]), path
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "swagger" in docs.text.lower()
    # Served by DDMS itself (offline plant networks): no CDN, and the assets answer.
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', docs.text)
    assert assets, docs.text
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served locally"
        assert (await client.get(asset)).status_code == 200, asset


async def test_trailing_slash_paths_work(client: httpx.AsyncClient, admin: Account) -> None:
    created = await client.post("/api/devices/", headers=admin.headers, json=DEVICE)
    assert created.status_code == 201, created.text
    device_id = created.json()["id"]
    assert [item["id"] for item in (await client.get("/api/devices/", headers=admin.headers)).json()] == [
        device_id
    ]
    assert (await client.get(f"/api/devices/{device_id}/", headers=admin.headers)).status_code == 200
    group = await client.post(
        "/api/groups/", headers=admin.headers, json={"name": "g", "device_ids": [device_id]}
    )
    assert group.status_code == 201
    assert (await client.put(f"/api/devices/{device_id}/", headers=admin.headers, json={"unit": "A"})).json()[
        "unit"
    ] == "A"
    assert (await client.delete(f"/api/devices/{device_id}/", headers=admin.headers)).status_code == 204
    assert (await client.get("/api/health/")).status_code == 200


async def test_unknown_path_is_json_404(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/nothing-here")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not Found"}
    wrong_method = await client.patch("/api/health")
    assert wrong_method.status_code == 405
    assert isinstance(wrong_method.json()["detail"], str)


async def test_config_defaults_and_update(client: httpx.AsyncClient, owner: Account) -> None:
    config = (await client.get("/api/config", headers=owner.headers)).json()
    assert {
        key: config[key]
        for key in (
            "backup_enabled",
            "backup_schedule",
            "backup_retention_count",
            "default_retention_days",
            "sse_interval",
            "app_title",
        )
    } == {
        "backup_enabled": True,
        "backup_schedule": "0 2 * * *",
        "backup_retention_count": 7,
        "default_retention_days": 90,
        "sse_interval": 0.5,  # seeded from the environment's SSE_INTERVAL (the test settings)
        "app_title": "DDMS",
    }
    change = {
        "backup_enabled": False,
        "backup_schedule": "30  3 * * 1-5",
        "backup_retention_count": 365,
        "default_retention_days": 3650,
        "sse_interval": 2.5,
        "app_title": "Plant 监控",
    }
    answer = await client.put("/api/config", headers=owner.headers, json=change)
    assert answer.status_code == 200, answer.text
    updated = answer.json()
    assert updated["backup_schedule"] == "30 3 * * 1-5"
    assert {key: updated[key] for key in change if key != "backup_schedule"} == {
        key: value for key, value in change.items() if key != "backup_schedule"
    }
    assert updated["updated_at"] > config["updated_at"]
    assert (await client.get("/api/config", headers=owner.headers)).json() == updated


INVALID_CONFIG = [
    {"backup_schedule": "every day"},
    {"backup_schedule": "0 2 * * * *"},
    {"backup_schedule": "61 2 * * *"},
    {"backup_schedule": "x" * 101},
    {"backup_retention_count": 0},
    {"backup_retention_count": 366},
    {"default_retention_days": 0},
    {"default_retention_days": 3651},
    {"sse_interval": 0.1},
    {"sse_interval": 3601},
    {"app_title": ""},
    {"app_title": "t" * 101},
    {"app_title": None},
    {"backup_enabled": None},
    {"backup_enabled": "sometimes"},
    {"theme": "dark"},
]


async def test_config_rules(client: httpx.AsyncClient, owner: Account) -> None:
    before = (await client.get("/api/config", headers=owner.headers)).json()
    for body in INVALID_CONFIG:
        answer = await client.put("/api/config", headers=owner.headers, json=body)
        assert answer.status_code in (400, 422), (body, answer.text)
        assert answer.json()["detail"]
    assert (await client.get("/api/config", headers=owner.headers)).json() == before


async def test_root_health_for_scripts_and_api_health_map_status_alike(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """``GET /`` for scripts (``ddms.main``) and ``/api/health`` share one health-to-status mapping."""
    from ddms.main import _JSONRootForScripts

    async def not_reached(scope, receive, send) -> None:
        raise AssertionError("the health answer must not fall through to the UI")

    transport = httpx.ASGITransport(app=_JSONRootForScripts(not_reached))
    runtimes = [app.state.runtime, ddms.runtime.current()]  # the app's requests and the bare root's
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as root:
        working = [each.database for each in runtimes]
        unreachable = ddms.db.Database("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
        for database in (None, unreachable):
            for each, own in zip(runtimes, working, strict=True):
                each.database = database or own
            try:
                scripts = await root.get("/", headers={"Accept": "application/json"})
                api = await client.get("/api/health")
            finally:
                for each, own in zip(runtimes, working, strict=True):
                    each.database = own
            assert (scripts.status_code, scripts.json()) == (api.status_code, api.json())
            assert scripts.status_code == (200 if database is None else 503)
            if database is not None:
                await database.dispose()
