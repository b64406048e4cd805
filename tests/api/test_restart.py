"""A restart keeps data and tokens; the owner is created once; the JWT secret is generated once (0600)."""

from __future__ import annotations

import logging
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

import ddms.db
from ddms.config import SECRET_FILE_NAME, Settings, load_settings
from ddms.main import create_api
from tests.api.helpers import bearer

DEVICE = {"name": "survivor", "modbus_ip": "10.0.0.1", "modbus_slave_id": 1, "modbus_register": 0}


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_api(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield app, client


async def test_restart_on_embedded_sqlite_keeps_data_tokens_and_owner(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = load_settings(
        ddms_data_dir=data_dir,
        database_url="",
        jwt_secret_key="",
        cookie_secure=False,
        collector_enabled=False,
        auto_migrate=True,
        ddms_owner_password="",
    )
    async with running(settings) as (app, client):
        generated = app.state.runtime.owner_password_generated
        assert generated
        assert len(generated) >= 12
        login = await client.post("/api/auth/login", json={"username": "admin", "password": generated})
        assert login.status_code == 200, login.text
        tokens = login.json()
        created = await client.post("/api/devices", headers=bearer(tokens["access_token"]), json=DEVICE)
        assert created.status_code == 201
    secret_file = data_dir / SECRET_FILE_NAME
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text()
    assert len(secret) >= 32
    assert (data_dir / "ddms.db").exists()

    again = load_settings(
        ddms_data_dir=data_dir,
        database_url="",
        jwt_secret_key="",
        cookie_secure=False,
        collector_enabled=False,
        auto_migrate=True,
        ddms_owner_password="",
    )
    async with running(again) as (app, client):
        assert app.state.runtime.owner_password_generated is None  # not created (nor shown) again
        listed = await client.get("/api/devices", headers=bearer(tokens["access_token"]))
        assert listed.status_code == 200
        assert [device["id"] for device in listed.json()] == [created.json()["id"]]
        refreshed = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200
        users = (await client.get("/api/users", headers=bearer(refreshed.json()["access_token"]))).json()
        assert [user["username"] for user in users] == ["admin"]
    assert secret_file.read_text() == secret


async def test_restart_keeps_tokens_on_each_backend(
    database: ddms.db.Database, db_url: str, tmp_path: Path
) -> None:
    """Same on both backends, with DDMS_OWNER_PASSWORD set (the owner is created with it)."""

    def make() -> Settings:
        return load_settings(
            ddms_data_dir=tmp_path,
            database_url=db_url,
            jwt_secret_key="",
            cookie_secure=False,
            collector_enabled=False,
            auto_migrate=False,
            ddms_owner_password="chosen-password-1",
        )

    async with running(make()) as (app, client):
        assert app.state.runtime.owner_password_generated is None
        login = await client.post(
            "/api/auth/login", json={"username": "admin", "password": "chosen-password-1"}
        )
        assert login.status_code == 200, login.text
        tokens = login.json()
        assert (
            await client.post("/api/devices", headers=bearer(tokens["access_token"]), json=DEVICE)
        ).status_code == 201
    assert ddms.db.current() is database  # the app closed its own runtime; the test's is current again
    async with running(make()) as (_app, client):
        assert (await client.get("/api/auth/me", headers=bearer(tokens["access_token"]))).status_code == 200
        names = [
            device["name"]
            for device in (await client.get("/api/devices", headers=bearer(tokens["access_token"]))).json()
        ]
        assert names == ["survivor"]
        assert (
            await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        ).status_code == 200
    # A different secret (e.g. a lost data directory) invalidates the old tokens instead of crashing.
    other = make().model_copy(update={"ddms_data_dir": tmp_path / "elsewhere"})
    async with running(other) as (_app, client):
        assert (await client.get("/api/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401


async def test_generated_owner_password_is_printed_once_and_never_logged(
    database: ddms.db.Database,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ddms.main import _announce

    hooks = [_announce]
    first = settings.model_copy(update={"ddms_owner_password": ""})
    with caplog.at_level(logging.DEBUG):
        app = create_api(first, startup_hooks=hooks)
        async with LifespanManager(app):
            generated = app.state.runtime.owner_password_generated
        again = create_api(first, startup_hooks=hooks)
        async with LifespanManager(again):
            assert again.state.runtime.owner_password_generated is None
    assert generated
    assert capsys.readouterr().out.count(generated) == 1
    assert all(generated not in f"{record.getMessage()} {vars(record)}" for record in caplog.records)
