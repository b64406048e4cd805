"""The API's hot paths: the cached device list and token check, and what keeps them correct.

A repeated ``GET /api/devices`` runs no SQL and an authenticated read loads no user row; every
write this process makes (REST, the collector's status batch, any ORM session) is visible to the
next request, a revoked token is refused at once, and a write from another process is seen once
the cache lifetime passes (an injected clock stands for the time).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text

from ddms import db
from ddms.api.routes import devices as device_routes
from ddms.models import Device, User, utcnow
from ddms.security import decode_token
from ddms.services import live, principals
from tests.api.conftest import Account
from tests.conftest import TEST_SECRET

DEVICE = {"modbus_ip": "10.0.0.1", "modbus_slave_id": 1, "modbus_register": 1}


async def _create(client: httpx.AsyncClient, admin: Account, name: str) -> dict[str, Any]:
    answer = await client.post("/api/devices", headers=admin.headers, json=DEVICE | {"name": name})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def _names(client: httpx.AsyncClient, account: Account, query: str = "") -> list[str]:
    answer = await client.get(f"/api/devices{query}", headers=account.headers)
    assert answer.status_code == 200, answer.text
    return [item["name"] for item in answer.json()]


@pytest.fixture
def statements(app: FastAPI) -> Iterator[list[str]]:
    """Every SQL statement the app sends (through its runtime's database), in order."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = app.state.runtime.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The running app's caches' time, moved by the test."""
    fake = FakeClock()
    monkeypatch.setattr(device_routes.cache("listings"), "clock", fake)
    monkeypatch.setattr(principals.cache(), "clock", fake)
    return fake


async def test_a_repeated_list_runs_no_sql_and_reads_load_no_user_row(
    client: httpx.AsyncClient, admin: Account, reader: Account, statements: list[str]
) -> None:
    created = await _create(client, admin, "boiler")
    assert await _names(client, reader) == ["boiler"]
    statements.clear()
    assert await _names(client, reader) == ["boiler"]
    assert statements == []
    answer = await client.get(f"/api/devices/{created['id']}", headers=reader.headers)
    assert answer.status_code == 200
    assert answer.json() == created
    assert len(statements) == 1
    assert "users" not in statements[0]
    statements.clear()
    again = await client.get(f"/api/devices/{created['id']}", headers=reader.headers)
    assert again.content == answer.content
    assert statements == []


async def test_every_write_of_this_process_shows_in_the_next_list(
    client: httpx.AsyncClient, admin: Account, reader: Account
) -> None:
    boiler = await _create(client, admin, "boiler")
    pump = await _create(client, admin, "pump")
    assert await _names(client, reader) == ["boiler", "pump"]
    rename = await client.put(f"/api/devices/{pump['id']}", headers=admin.headers, json={"name": "a-pump"})
    assert rename.status_code == 200
    assert await _names(client, reader) == ["a-pump", "boiler"]

    async with db.session_scope() as session:  # the collector's status batch (SQL text)
        update = live.StatusUpdate(uuid.UUID(boiler["id"]), "online", None, utcnow())
        await live.store_statuses(session=session, updates=[update])
    assert await _names(client, reader, "?status=online") == ["boiler"]

    async with db.session_scope() as session:  # any ORM write, whoever makes it
        row = await session.get(Device, uuid.UUID(pump["id"]))
        assert row is not None
        row.status = "error"
        session.add(row)
        await session.commit()
    assert await _names(client, reader, "?status=error") == ["a-pump"]

    assert (await client.delete(f"/api/devices/{pump['id']}", headers=admin.headers)).status_code == 204
    assert await _names(client, reader) == ["boiler"]


async def test_a_list_read_between_flush_and_commit_is_not_kept(
    client: httpx.AsyncClient, admin: Account, reader: Account
) -> None:
    """Another transaction sees the old row until the commit; the list built then must not outlive it."""
    pump = await _create(client, admin, "pump")
    async with db.session_scope() as session:
        row = await session.get(Device, uuid.UUID(pump["id"]))
        assert row is not None
        row.name = "renamed"
        session.add(row)
        await session.flush()
        assert await _names(client, reader) == ["pump"]  # not committed yet
        await session.commit()
    assert await _names(client, reader) == ["renamed"]


async def test_concurrent_readers_of_a_changed_list_build_it_once(
    client: httpx.AsyncClient, admin: Account, reader: Account
) -> None:
    await _create(client, admin, "boiler")
    builds = device_routes.cache("listings").builds
    lists = await asyncio.gather(*(_names(client, reader) for _ in range(20)))
    assert lists == [["boiler"]] * 20
    assert device_routes.cache("listings").builds == builds + 1


async def test_a_write_by_another_process_shows_once_the_cache_lifetime_passes(
    client: httpx.AsyncClient, admin: Account, reader: Account, database: db.Database, clock: FakeClock
) -> None:
    pump = await _create(client, admin, "pump")
    assert await _names(client, reader) == ["pump"]
    async with database.engine.begin() as conn:  # not through this process's sessions
        await conn.execute(text("UPDATE devices SET name = 'renamed'"))
    assert await _names(client, reader) == ["pump"]
    clock.now += device_routes.LIST_CACHE_SECONDS
    assert await _names(client, reader) == ["pump"]  # answered while it is read again
    await device_routes.cache("listings").settle()
    assert await _names(client, reader) == ["renamed"]
    assert pump["name"] == "pump"


async def test_a_revoked_token_is_refused_at_once(
    client: httpx.AsyncClient, owner: Account, admin: Account, reader: Account, clock: FakeClock
) -> None:
    """Password reset, role change and a direct ORM bump of token_version, each after a cached check."""
    for account in (reader, admin):
        assert (await client.get("/api/devices", headers=account.headers)).status_code == 200
    reset = await client.put(
        f"/api/users/{reader.user.id}", headers=owner.headers, json={"password": "another-password-1"}
    )
    assert reset.status_code == 200
    assert (await client.get("/api/devices", headers=reader.headers)).status_code == 401
    demote = await client.put(
        f"/api/users/{admin.user.id}", headers=owner.headers, json={"role": "read_only"}
    )
    assert demote.status_code == 200
    create = await client.post("/api/devices", headers=admin.headers, json=DEVICE | {"name": "x"})
    assert create.status_code == 401

    assert (await client.get("/api/groups", headers=owner.headers)).status_code == 200
    async with db.session_scope() as session:
        user = await session.get(User, owner.user.id)
        assert user is not None
        user.token_version += 1
        session.add(user)
        await session.commit()
    assert (await client.get("/api/groups", headers=owner.headers)).status_code == 401
    assert clock.now == 1000.0  # all of it without the cache lifetime passing


async def test_a_revocation_by_another_process_is_seen_within_the_cache_lifetime(
    client: httpx.AsyncClient, reader: Account, database: db.Database, clock: FakeClock
) -> None:
    """``ddms user reset-password`` on the console: refused once the principal is read again."""
    assert (await client.get("/api/devices", headers=reader.headers)).status_code == 200
    async with database.engine.begin() as conn:
        await conn.execute(text("UPDATE users SET token_version = token_version + 1"))
    clock.now += principals.PRINCIPAL_CACHE_SECONDS
    assert (await client.get("/api/devices", headers=reader.headers)).status_code == 200
    await principals.cache().settle()
    answer = await client.get("/api/devices", headers=reader.headers)
    assert answer.status_code == 401
    assert answer.json() == {"detail": "Token has been revoked"}


async def test_a_token_verified_once_still_expires(
    client: httpx.AsyncClient, reader: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await client.get("/api/devices", headers=reader.headers)).status_code == 200
    claims = decode_token(reader.access_token, secret=TEST_SECRET, algorithm="HS256", expected_type="access")
    monkeypatch.setattr(principals, "wall_clock", lambda: claims.expires_at.timestamp())
    answer = await client.get("/api/devices", headers=reader.headers)
    assert answer.status_code == 401
    assert answer.json() == {"detail": "Token has expired"}
