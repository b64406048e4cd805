"""Two apps in one process share nothing: each lifespan builds its own ``Runtime``.

With module globals (one bus, one throttle, one set of caches and revisions per process) the second
app took over the first one's state; now each request of an app runs with its own app's runtime,
even while the other app was started last.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from ddms import runtime
from ddms.bus import DeviceChange, Event
from ddms.config import load_settings
from ddms.main import create_api
from ddms.services.login_throttle import LoginThrottle
from tests.api.helpers import OWNER_PASSWORD, bearer
from tests.conftest import TEST_SECRET

DEVICE = {"name": "only-in-a", "modbus_ip": "10.0.0.1", "modbus_slave_id": 1, "modbus_register": 0}


def app_on(directory: Path) -> FastAPI:
    return create_api(
        load_settings(
            database_url=f"sqlite+aiosqlite:///{directory / 'ddms.db'}",
            ddms_data_dir=directory,
            jwt_secret_key=TEST_SECRET,
            cookie_secure=False,
            collector_enabled=False,
            auto_migrate=True,
            ddms_owner_password=OWNER_PASSWORD,
        )
    )


@asynccontextmanager
async def serving(*apps: FastAPI) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        clients = []
        for app in apps:
            await stack.enter_async_context(LifespanManager(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://t"))
            )
        yield clients


async def login(client: httpx.AsyncClient, password: str = OWNER_PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"username": "admin", "password": password})


async def test_two_apps_in_one_process_share_no_state(tmp_path: Path) -> None:
    before = runtime.current()
    app_a, app_b = app_on(tmp_path / "a"), app_on(tmp_path / "b")
    async with serving(app_a, app_b) as (client_a, client_b):
        runtime_a, runtime_b = app_a.state.runtime, app_b.state.runtime
        assert runtime.current() is runtime_b  # B started last: test code outside requests sees B
        events_a: list[Event] = []
        events_b: list[Event] = []
        runtime_a.bus.listen(events_a.append)
        runtime_b.bus.listen(events_b.append)
        runtime_a.throttle = LoginThrottle(limit=1)  # one failure locks "admin" out on A only

        token_a = (await login(client_a)).json()["access_token"]
        created = await client_a.post("/api/devices", headers=bearer(token_a), json=DEVICE)
        assert created.status_code == 201, created.text
        assert [type(event) for event in events_a] == [DeviceChange]  # on A's bus
        assert events_b == []  # not on B's, though B's runtime is the one installed last
        assert [
            device["name"] for device in (await client_a.get("/api/devices", headers=bearer(token_a))).json()
        ] == ["only-in-a"]
        assert runtime_a.revisions.get("devices", 0) > 0
        assert "devices" not in runtime_b.revisions  # B's caches were not invalidated by A's write

        token_b = (await login(client_b)).json()["access_token"]
        assert (await client_b.get("/api/devices", headers=bearer(token_b))).json() == []
        changed = await client_a.put("/api/config", headers=bearer(token_a), json={"app_title": "Plant A"})
        assert changed.status_code == 200, changed.text
        assert runtime_a.live_config["app_title"] == "Plant A"
        assert runtime_b.live_config["app_title"] == "DDMS"
        assert (await client_b.get("/api/config", headers=bearer(token_b))).json()["app_title"] == "DDMS"

        assert (await login(client_a, "wrong-password-1")).status_code == 401
        assert (await login(client_a)).status_code == 429  # A's throttle: locked after one failure
        assert (await login(client_b, "wrong-password-1")).status_code == 401
        assert (await login(client_b)).status_code == 200  # B's throttle allows five
    assert runtime.current() is before  # both runtimes closed and gone
    assert runtime_a.database is not runtime_b.database
