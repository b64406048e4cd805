"""The SSE stream over a real HTTP connection (uvicorn on a free port)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

import httpx
import pytest
import uvicorn

from ddms import db, metrics
from ddms.bus import LatestValue, StatusChange, get_bus
from ddms.config import Settings, load_settings
from ddms.main import create_api
from ddms.models import Role, utcnow
from tests.api.helpers import OWNER_PASSWORD, add_user, bearer, owner_user, tokens_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _serve(settings: Settings) -> AsyncIterator[str]:
    await add_user("admin", Role.OWNER, OWNER_PASSWORD)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_api(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:  # uvicorn offers no start event  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def base_url(database: db.Database, settings: Settings) -> AsyncIterator[str]:
    async for url in _serve(settings):
        yield url


def _publish(name: str, value: float, level: str = "normal") -> uuid.UUID:
    device_id = uuid.uuid4()
    get_bus().publish_reading(LatestValue(device_id, utcnow(), value, level, "online", name, "°C"))
    return device_id


async def _events(response: httpx.Response, count: int) -> list[tuple[float, Any]]:
    """The next ``count`` data events with their arrival times (comment pings skipped)."""
    events: list[tuple[float, Any]] = []
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            events.append((time.monotonic(), json.loads(line[6:])))
            if len(events) == count:
                return events
    raise AssertionError("stream ended")


async def test_first_event_at_once_then_one_per_interval(base_url: str, settings: Settings) -> None:
    first_id = _publish("Boiler", 71.5)
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", base_url + "/api/devices/stream") as response,
    ):
        connected = time.monotonic()
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        events = []
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append((time.monotonic(), json.loads(line[6:])))
                if len(events) == 1:
                    second_id = _publish("Alpha pump", 3.0, "warning")
                    get_bus().publish_status(StatusChange(first_id, "offline", "timeout", utcnow()))
                if len(events) == 4:
                    break
    assert events[0][0] - connected < 0.3  # at once, not after an interval
    assert [item["device_id"] for item in events[0][1]] == [str(first_id)]
    gaps = [later[0] - earlier[0] for earlier, later in pairwise(events[1:])]
    assert all(abs(gap - settings.sse_interval) < 0.2 for gap in gaps), gaps
    latest = {item["device_id"]: item for item in events[-1][1]}
    assert latest[str(second_id)] == {
        "device_id": str(second_id),
        "device_name": "Alpha pump",
        "unit": "°C",
        "timestamp": latest[str(second_id)]["timestamp"],
        "value": 3.0,
        "status": "warning",
        "device_status": "online",
    }
    assert latest[str(first_id)]["device_status"] == "offline"
    assert latest[str(first_id)]["value"] == 71.5
    assert "+00:00" in latest[str(first_id)]["timestamp"]


async def test_two_hundred_subscribers_share_one_snapshot_per_interval(
    base_url: str, settings: Settings
) -> None:
    _publish("Boiler", 70.0)
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=0)
    builds_before = metrics.SSE_SNAPSHOTS._value.get()

    async def listen(http: httpx.AsyncClient) -> list[tuple[float, Any]]:
        async with http.stream("GET", base_url + "/api/devices/stream") as response:
            assert response.status_code == 200
            return await _events(response, 3)

    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        started = time.monotonic()
        results = await asyncio.gather(*(listen(http) for _ in range(200)))
        elapsed = time.monotonic() - started
    assert len(results) == 200
    assert all(events[-1][1][0]["device_name"] == "Boiler" for events in results)
    builds = metrics.SSE_SNAPSHOTS._value.get() - builds_before
    intervals = elapsed / settings.sse_interval
    assert builds <= intervals + 3, (builds, intervals)  # one per interval, not one per subscriber


async def test_private_stream_needs_a_token(database: db.Database, settings: Settings) -> None:
    private = load_settings(**(settings.model_dump() | {"public_stream": False}))
    async for url in _serve(private):
        issued = await tokens_for(private, await owner_user())
        async with httpx.AsyncClient(timeout=5) as http:
            refused = await http.get(url + "/api/devices/stream")
            assert refused.status_code == 401
            async with http.stream(
                "GET", url + "/api/devices/stream", params={"token": issued.access_token}
            ) as ok:
                assert ok.status_code == 200
                assert (await _events(ok, 1))[0][1] == []


async def test_owner_changes_the_stream_interval_without_a_restart(base_url: str, settings: Settings) -> None:
    """PUT /api/config sse_interval applies to the running stream (the row wins over SSE_INTERVAL)."""
    _publish("Boiler", 70.0)
    issued = await tokens_for(settings, await owner_user())
    async with httpx.AsyncClient(timeout=10, base_url=base_url) as http:
        changed = await http.put(
            "/api/config", headers=bearer(issued.access_token), json={"sse_interval": 1.5}
        )
        assert changed.status_code == 200, changed.text
        async with http.stream("GET", "/api/devices/stream") as response:
            events = await _events(response, 3)
    gaps = [later[0] - earlier[0] for earlier, later in pairwise(events[1:])]
    assert all(abs(gap - 1.5) < 0.3 for gap in gaps), gaps
