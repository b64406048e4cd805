"""The SSE stream over a real HTTP connection (uvicorn on a free port).

The stream's schedule runs on a ``FakeClock``: the tests advance it by the interval and see one snapshot
each time, so no outcome depends on how fast the machine is. The interval is a minute, far beyond the
client's 10 s read timeout, so a stream that waited on real time for its first event would fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from ddms import db, metrics
from ddms.bus import LatestValue, StatusChange, get_bus
from ddms.config import Settings, load_settings
from ddms.main import create_api
from ddms.models import Role, utcnow
from ddms.services import live
from tests.api.helpers import OWNER_PASSWORD, add_user, bearer, owner_user, tokens_for
from tests.clock import FakeClock

INTERVAL = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _serve(settings: Settings, feed: live.SnapshotFeed | None = None) -> AsyncIterator[str]:
    await add_user("admin", Role.OWNER, OWNER_PASSWORD)
    port = _free_port()
    app = create_api(settings)
    if feed is not None:
        app.state.snapshot_feed = feed  # the one feed the stream route serves
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.get_running_loop().create_task(server.serve())
    async with asyncio.timeout(60):  # a generous bound on a loaded machine, not a measurement
        while not server.started:  # uvicorn offers no start event
            assert not task.done(), "uvicorn stopped before it started"
            await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def stream_settings(settings: Settings) -> Settings:
    return load_settings(**(settings.model_dump() | {"sse_interval": INTERVAL}))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def feed(stream_settings: Settings, clock: FakeClock) -> live.SnapshotFeed:
    return live.SnapshotFeed(stream_settings.sse_interval, clock)


@pytest.fixture
async def base_url(
    database: db.Database, stream_settings: Settings, feed: live.SnapshotFeed
) -> AsyncIterator[str]:
    async for url in _serve(stream_settings, feed):
        yield url


def _publish(name: str, value: float, level: str = "normal") -> uuid.UUID:
    device_id = uuid.uuid4()
    get_bus().publish_reading(LatestValue(device_id, utcnow(), value, level, "online", name, "°C"))
    return device_id


async def _next_event(lines: AsyncIterator[str]) -> Any:
    """The next data event of a stream (comment pings skipped)."""
    async for line in lines:
        if line.startswith("data: "):
            return json.loads(line[6:])
    raise AssertionError("stream ended")


async def test_first_event_at_once_then_one_per_interval(
    base_url: str, feed: live.SnapshotFeed, clock: FakeClock
) -> None:
    first_id = _publish("Boiler", 71.5)
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", base_url + "/api/devices/stream") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        lines = response.aiter_lines()
        first = await _next_event(lines)  # the clock has not moved: at once, not after an interval
        assert [item["device_id"] for item in first] == [str(first_id)]
        assert feed.builds == 1
        second_id = _publish("Alpha pump", 3.0, "warning")
        get_bus().publish_status(StatusChange(first_id, "offline", "timeout", utcnow()))
        start = clock.time()
        for tick in (1, 2, 3):
            # The builder sleeps until the next tick of the grid (not sooner, no drift) ...
            assert await clock.next_wakeup() == pytest.approx(start + tick * INTERVAL)
            clock.advance(INTERVAL)
            items = await _next_event(lines)
            assert feed.builds == 1 + tick  # ... and each interval builds one snapshot, sent at once
    latest = {item["device_id"]: item for item in items}
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
    base_url: str, feed: live.SnapshotFeed, clock: FakeClock
) -> None:
    _publish("Boiler", 70.0)
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=0)
    builds_before = metrics.SSE_SNAPSHOTS._value.get()
    async with httpx.AsyncClient(timeout=30, limits=limits) as http, contextlib.AsyncExitStack() as stack:
        streams = [
            await stack.enter_async_context(http.stream("GET", base_url + "/api/devices/stream"))
            for _ in range(200)
        ]
        assert all(response.status_code == 200 for response in streams)
        lines = [response.aiter_lines() for response in streams]
        received = [await asyncio.gather(*(_next_event(stream) for stream in lines))]
        start = clock.time()
        for tick in (1, 2):
            # Advance only once the builder sleeps until this tick: an advance before it slept would
            # move its first deadline instead of reaching it.
            assert await clock.next_wakeup() == pytest.approx(start + tick * INTERVAL)
            clock.advance(INTERVAL)
            received.append(await asyncio.gather(*(_next_event(stream) for stream in lines)))
    assert all(items[0]["device_name"] == "Boiler" for events in received for items in events)
    # Three snapshots for 200 subscribers x 3 events: the first subscriber's, then one per interval.
    assert feed.builds == 3
    assert metrics.SSE_SNAPSHOTS._value.get() - builds_before == 3


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
                assert await _next_event(ok.aiter_lines()) == []


async def test_owner_changes_the_stream_interval_without_a_restart(
    base_url: str, stream_settings: Settings, clock: FakeClock
) -> None:
    """PUT /api/config sse_interval applies to the running stream (the row wins over SSE_INTERVAL)."""
    _publish("Boiler", 70.0)
    issued = await tokens_for(stream_settings, await owner_user())
    async with httpx.AsyncClient(timeout=10, base_url=base_url) as http:
        changed = await http.put(
            "/api/config", headers=bearer(issued.access_token), json={"sse_interval": 90}
        )
        assert changed.status_code == 200, changed.text
        async with http.stream("GET", "/api/devices/stream") as response:
            lines = response.aiter_lines()
            await _next_event(lines)
            start = clock.time()
            for tick in (1, 2):
                assert await clock.next_wakeup() == pytest.approx(start + tick * 90)  # not INTERVAL
                clock.advance(90)
                assert (await _next_event(lines))[0]["device_name"] == "Boiler"
