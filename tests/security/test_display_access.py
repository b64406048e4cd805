"""PUBLIC_STREAM=false: display links (owner only, secret shown once, hash stored) and SSE streams that
end when their caller stops being valid (user deleted, role or password changed, token expired, link
revoked), at once through the bus and within the re-check interval without it. Both databases.

Streams run over real HTTP (uvicorn serving the ``app`` fixture's application): httpx's ASGI transport
buffers whole bodies. The re-check interval and the expiry clock are injected through
``app.state.stream_policy``, so nothing waits a real minute.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from alembic import command
from fastapi import FastAPI
from sqlalchemy import inspect, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from ddms import db
from ddms.bus import LatestValue, get_bus
from ddms.config import Settings, load_settings
from ddms.migrate import alembic_config, upgrade
from ddms.models import DisplayToken, User, utcnow
from ddms.services.stream_access import RecheckPolicy
from tests.api import conftest as api_fixtures
from tests.api.conftest import Account
from tests.api.helpers import bearer
from tests.conftest import BACKENDS, create_pg_database, drop_pg_database

# The REST fixtures of tests/api (the app with its lifespan, an HTTP client, an account per role).
app = api_fixtures.app
client = api_fixtures.client
owner = api_fixtures.owner
admin = api_fixtures.admin
reader = api_fixtures.reader
_warm_hashes = api_fixtures._warm_hashes

NEVER = 3600.0  # a re-check interval no test outlives: what ends such a stream is the bus
STREAM = "/api/devices/stream"
DEADLINE = 20.0  # generous, for a loaded machine; a stream that does not end fails, it never hangs


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with a private stream and wall display."""
    return load_settings(**(settings.model_dump() | {"public_stream": False}))


@dataclass
class Clock:
    """The expiry clock the streams use: the real time plus whatever the test skips ahead."""

    ahead: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return utcnow() + self.ahead


@dataclass
class Server:
    url: str
    app: FastAPI
    clock: Clock

    def recheck_every(self, seconds: float) -> None:
        self.app.state.stream_policy = RecheckPolicy(interval=seconds, now=self.clock)

    @property
    def subscribers(self) -> int:
        feed = getattr(self.app.state, "snapshot_feed", None)
        return 0 if feed is None else feed.subscribers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def server(app: FastAPI) -> AsyncIterator[Server]:
    """uvicorn on a free port serving the ``app`` fixture (whose lifespan already runs)."""
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=5
    )
    running = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(running.serve())
    while not running.started:  # uvicorn offers no start event  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    served = Server(f"http://127.0.0.1:{port}", app, Clock())
    served.recheck_every(NEVER)
    try:
        yield served
    finally:
        running.should_exit = True
        await task


async def next_data(lines: AsyncIterator[str]) -> Any:
    """The next data event of a stream (comment pings skipped)."""
    async for line in lines:
        if line.startswith("data: "):
            return json.loads(line[6:])
    raise AssertionError("the stream ended before sending an event")


async def ends(lines: AsyncIterator[str]) -> None:
    """The server closes the stream within the deadline (TimeoutError, i.e. a failure, otherwise)."""
    async with asyncio.timeout(DEADLINE):
        async for _line in lines:
            pass


async def until(check: Callable[[], bool]) -> None:
    """Poll ``check`` (a counter in the server, which offers no event) until it holds, within the deadline."""
    async with asyncio.timeout(DEADLINE):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def publish(device_id: uuid.UUID, name: str, value: float = 1.0) -> None:
    get_bus().publish_reading(LatestValue(device_id, utcnow(), value, "normal", "online", name, "bar"))


async def open_then_end(server: Server, token: str, revoke: Callable[[], Awaitable[None]]) -> None:
    """A stream opened with ``token`` sends, then ends after ``revoke()``, and leaves the feed."""
    async with (
        httpx.AsyncClient(timeout=DEADLINE) as http,
        http.stream("GET", server.url + STREAM, params={"token": token}) as response,
    ):
        assert response.status_code == 200, await response.aread()
        lines = response.aiter_lines()
        assert await next_data(lines) == []
        assert server.subscribers == 1
        await revoke()
        await ends(lines)
    await until(lambda: server.subscribers == 0)
    async with httpx.AsyncClient(timeout=DEADLINE) as http:
        again = await http.get(server.url + STREAM, params={"token": token})
    assert again.status_code == 401, again.text


# --- streams end when their caller stops being valid ----------------------------------------------
@pytest.mark.parametrize("change", ["delete", "role", "password"])
async def test_stream_ends_at_once_when_the_account_changes(
    server: Server, client: httpx.AsyncClient, owner: Account, reader: Account, change: str
) -> None:
    """No periodic re-check can fire (interval 1 h): the user service's revocation on the bus ends it."""

    async def revoke() -> None:
        path = f"/api/users/{reader.user.id}"
        if change == "delete":
            answer = await client.delete(path, headers=owner.headers)
        else:
            body = {"role": "admin"} if change == "role" else {"password": "a-new-password-7"}
            answer = await client.put(path, headers=owner.headers, json=body)
        assert answer.status_code in (200, 204), answer.text

    await open_then_end(server, reader.access_token, revoke)


async def test_stream_ends_within_the_interval_without_the_bus(server: Server, reader: Account) -> None:
    """A revocation nobody announced (the row changed behind the services) is caught by the re-check."""
    server.recheck_every(0.2)

    async def bump_behind_the_services() -> None:
        async with db.session_scope() as session:
            await session.exec(
                update(User)
                .where(User.id == reader.user.id)  # type: ignore[call-overload]
                .values(token_version=User.token_version + 1)
            )
            await session.commit()

    await open_then_end(server, reader.access_token, bump_behind_the_services)


async def test_stream_ends_when_its_access_token_expires(
    server: Server, reader: Account, settings: Settings
) -> None:
    server.recheck_every(0.2)

    async def skip_past_expiry() -> None:
        server.clock.ahead = timedelta(minutes=settings.access_token_expire_minutes, seconds=1)

    async with (
        httpx.AsyncClient(timeout=DEADLINE) as http,
        http.stream("GET", server.url + STREAM, headers=bearer(reader.access_token)) as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()
        await next_data(lines)
        await asyncio.sleep(0.5)  # re-checks pass while the token is valid: the stream stays open
        assert server.subscribers == 1
        await skip_past_expiry()
        await ends(lines)
    await until(lambda: server.subscribers == 0)


# --- display links -----------------------------------------------------------------------------------
async def create_link(client: httpx.AsyncClient, owner: Account, **body: Any) -> dict[str, Any]:
    body = {"name": "Lobby screen"} | body
    answer = await client.post("/api/display-tokens", headers=owner.headers, json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def test_display_link_is_shown_once_and_stored_as_a_hash(
    server: Server, client: httpx.AsyncClient, owner: Account
) -> None:
    made = await create_link(client, owner)
    secret = made["token"]
    assert (made["name"], made["group_id"], made["last_used_at"]) == ("Lobby screen", None, None)
    assert made["url"] == f"http://test/display?token={secret}"
    assert len(secret) > 40
    listed = await client.get("/api/display-tokens", headers=owner.headers)
    assert listed.status_code == 200
    assert secret not in listed.text
    assert "token" not in listed.json()[0]
    assert [(row["id"], row["name"], row["path"]) for row in listed.json()] == [
        (made["id"], "Lobby screen", "/display")
    ]
    async with db.session_scope() as session:
        row = (await session.exec(select(DisplayToken))).one()
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(row.model_dump(mode="json"))
    duplicate = await client.post("/api/display-tokens", headers=owner.headers, json={"name": "Lobby screen"})
    assert duplicate.status_code == 409

    async with httpx.AsyncClient(timeout=DEADLINE) as http:  # the link opens the stream and nothing else
        async with http.stream("GET", server.url + STREAM, params={"token": secret}) as opened:
            assert opened.status_code == 200
            assert await next_data(opened.aiter_lines()) == []
        for path in ("/api/devices", "/api/auth/me", "/api/display-tokens"):
            assert (await http.get(server.url + path, headers=bearer(secret))).status_code == 401, path
    used = (await client.get("/api/display-tokens", headers=owner.headers)).json()[0]
    assert used["last_used_at"] is not None


async def test_revoking_a_display_link_ends_its_open_stream(
    server: Server, client: httpx.AsyncClient, owner: Account
) -> None:
    made = await create_link(client, owner)

    async def revoke() -> None:
        answer = await client.delete(f"/api/display-tokens/{made['id']}", headers=owner.headers)
        assert answer.status_code == 204, answer.text

    await open_then_end(server, made["token"], revoke)
    assert (await client.get("/api/display-tokens", headers=owner.headers)).json() == []
    gone = await client.delete(f"/api/display-tokens/{made['id']}", headers=owner.headers)
    assert gone.status_code == 404


async def test_a_link_bound_to_a_group_streams_only_that_group(
    server: Server, client: httpx.AsyncClient, owner: Account
) -> None:
    ids = []
    for name in ("Pump", "Fan"):
        device = await client.post(
            "/api/devices",
            headers=owner.headers,
            json={"name": name, "modbus_ip": "127.0.0.1", "modbus_slave_id": 1, "modbus_register": 0},
        )
        assert device.status_code == 201, device.text
        ids.append(uuid.UUID(device.json()["id"]))
        publish(ids[-1], name)
    group = await client.post(
        "/api/groups", headers=owner.headers, json={"name": "Water", "device_ids": [str(ids[0])]}
    )
    made = await create_link(client, owner, group_id=group.json()["id"])
    assert (made["group_name"], made["path"]) == ("Water", f"/display/{group.json()['id']}")
    async with (
        httpx.AsyncClient(timeout=DEADLINE) as http,
        http.stream("GET", server.url + STREAM, params={"token": made["token"]}) as response,
    ):
        assert [item["device_name"] for item in await next_data(response.aiter_lines())] == ["Pump"]
    everything = await create_link(client, owner, name="Hall")
    async with (
        httpx.AsyncClient(timeout=DEADLINE) as http,
        http.stream("GET", server.url + STREAM, params={"token": everything["token"]}) as whole,
    ):
        assert [item["device_name"] for item in await next_data(whole.aiter_lines())] == ["Fan", "Pump"]


async def test_unknown_group_and_bad_tokens_are_refused(
    server: Server, client: httpx.AsyncClient, owner: Account
) -> None:
    missing = await client.post(
        "/api/display-tokens", headers=owner.headers, json={"name": "Ghost", "group_id": str(uuid.uuid4())}
    )
    assert missing.status_code == 400, missing.text
    assert "Unknown group id" in missing.json()["detail"]
    blank = await client.post("/api/display-tokens", headers=owner.headers, json={"name": "   "})
    assert blank.status_code == 422, blank.text
    async with httpx.AsyncClient(timeout=DEADLINE) as http:
        for token in ("ddms_display_" + "x" * 43, owner.refresh_token, "nonsense", ""):
            answer = await http.get(server.url + STREAM, params={"token": token})
            assert answer.status_code == 401, (token, answer.text)


async def test_only_the_owner_manages_display_links(
    client: httpx.AsyncClient, owner: Account, admin: Account, reader: Account
) -> None:
    made = await create_link(client, owner)
    calls = [
        ("POST", "/api/display-tokens", {"name": "Mine"}),
        ("GET", "/api/display-tokens", None),
        ("DELETE", f"/api/display-tokens/{made['id']}", None),
    ]
    for method, path, body in calls:
        for account in (admin, reader):
            answer = await client.request(method, path, headers=account.headers, json=body)
            assert answer.status_code == 403, (method, path, account.user.role, answer.text)
            assert answer.json() == {"detail": "Access forbidden. Required roles: owner"}
            assert made["token"] not in answer.text
        for headers in ({}, bearer(made["token"])):
            assert (await client.request(method, path, headers=headers, json=body)).status_code == 401
    listed = (await client.get("/api/display-tokens", headers=owner.headers)).json()
    assert [row["name"] for row in listed] == ["Lobby screen"]


# --- the migration ---------------------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
        return
    url = await create_pg_database(request.param)
    try:
        yield url
    finally:
        await drop_pg_database(url)


async def test_migration_003_upgrades_and_downgrades(empty_url: str) -> None:
    async def tables() -> set[str]:
        engine = create_async_engine(empty_url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    await upgrade(empty_url)
    assert "display_tokens" in await tables()
    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), "002_add_continuous_aggregates")
    assert "display_tokens" not in await tables()
    assert "groups" in await tables()
    await upgrade(empty_url)
    assert "display_tokens" in await tables()
