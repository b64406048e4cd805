"""Slow and oversized request heads against a real ``ddms serve``: closed by the server, in time.

The server runs as in tests/e2e (``start_server``) with a short ``HTTP_HEADER_TIMEOUT``. Clients
here are raw asyncio sockets on 127.0.0.1, bounded in number and time. Lower bounds are exact (the
server cannot close before its timer started, which is after the client began to connect); upper
bounds are generous deadlines, since the machine may be busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.collector.conftest import eventually
from tests.e2e.conftest import LiveServer, start_server

HEADER_TIMEOUT = 4.0
MAX_HEAD = 8192
SLOW_CLIENTS = 200
PATIENCE = 40.0  # how long past the header timeout a client waits before calling it a failure
TRICKLE_EVERY = 0.5
TIMER_SLACK = 0.05  # an event loop may run a timer up to its clock resolution early
HEAD_START = b"GET /api/health HTTP/1.1\r\nHost: ddms\r\n"


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(
        tmp_path_factory.mktemp("slowloris"),
        extra_env={
            "HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
            "HTTP_MAX_HEADER_BYTES": str(MAX_HEAD),
            "HTTP_KEEP_ALIVE_TIMEOUT": "30",  # longer than the head deadline: the deadline must close it
            "PUBLIC_STREAM": "true",
            "SSE_INTERVAL": "1",
            "LOG_LEVEL": "WARNING",
        },
    )
    try:
        yield server
    finally:
        server.stop()


@dataclass
class SlowClient:
    """One connection; ``kind`` is what it does: ``silent`` sends nothing, ``slow`` trickles a head
    one header line at a time, ``second`` sends a whole request first, then trickles the next head."""

    kind: str
    opened: float = 0.0
    ready: bool = False  # connected and its (partial) head sent
    closed: float | None = None
    answered_first: bool = False


async def _read_response_head(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:")), 0)
    await reader.readexactly(length)
    return head


async def _run(client: SlowClient, port: int) -> None:
    client.opened = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if client.kind == "second":
            writer.write(HEAD_START + b"\r\n")
            client.answered_first = (await _read_response_head(reader)).startswith(b"HTTP/1.1 200")
        if client.kind != "silent":
            writer.write(HEAD_START)
        client.ready = True

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                for number in range(int((HEADER_TIMEOUT + PATIENCE) / TRICKLE_EVERY)):
                    await asyncio.sleep(TRICKLE_EVERY)
                    writer.write(b"X-Slow-%d: 1\r\n" % number)

        sender = asyncio.create_task(trickle()) if client.kind != "silent" else None
        try:
            async with asyncio.timeout(HEADER_TIMEOUT + PATIENCE):
                while await reader.read(1024):
                    pass
            client.closed = time.monotonic()
        except ConnectionError:
            client.closed = time.monotonic()
        except TimeoutError:
            pass  # still open: the assertions report it
        if sender is not None:
            sender.cancel()
    finally:
        writer.transport.abort()


async def test_slow_heads_are_closed_within_the_header_timeout_while_health_answers(
    guarded_server: LiveServer,
) -> None:
    kinds = ["slow"] * (SLOW_CLIENTS - 40) + ["silent"] * 20 + ["second"] * 20
    clients = [SlowClient(kind) for kind in kinds]
    tasks = [asyncio.create_task(_run(client, guarded_server.port)) for client in clients]
    await eventually(lambda: all(client.ready for client in clients), within=PATIENCE)
    async with httpx.AsyncClient(base_url=guarded_server.url, timeout=30) as http:
        health = await http.get("/api/health")
    still_open = sum(client.closed is None for client in clients)
    await asyncio.gather(*tasks)

    assert health.status_code == 200
    assert still_open > 0  # the answer came while slow heads were holding their connections
    assert all(client.answered_first for client in clients if client.kind == "second")
    unclosed = [client.kind for client in clients if client.closed is None]
    assert unclosed == []  # every one of them was closed by the server
    for client in clients:
        assert client.closed is not None
        assert client.closed - client.opened >= HEADER_TIMEOUT - TIMER_SLACK  # not before the deadline
        assert client.closed - client.opened < HEADER_TIMEOUT + PATIENCE


async def test_oversized_head_is_refused_with_431(guarded_server: LiveServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded_server.port)
    try:
        writer.write(HEAD_START + b"X-Big: " + b"a" * (2 * MAX_HEAD))  # never finished
        async with asyncio.timeout(30):
            answer = await reader.read()  # to the end: the server closes after answering
    finally:
        writer.transport.abort()
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_streams_outlive_the_header_deadline(guarded_server: LiveServer) -> None:
    """The deadline covers the head only: an SSE response keeps streaming past it."""
    opened = time.monotonic()
    late_chunks = 0
    async with (
        httpx.AsyncClient(base_url=guarded_server.url, timeout=30) as http,
        http.stream("GET", "/api/devices/stream") as stream,
    ):
        assert stream.status_code == 200
        async with asyncio.timeout(HEADER_TIMEOUT + PATIENCE):
            async for _chunk in stream.aiter_bytes():
                if time.monotonic() - opened > HEADER_TIMEOUT + 1.0:
                    late_chunks += 1
                    if late_chunks >= 2:
                        break
    assert late_chunks >= 2


def test_settings_reach_uvicorn(tmp_path: Path) -> None:
    """``ddms serve`` hands the limits to uvicorn (its own defaults would apply otherwise)."""
    from ddms.config import load_settings
    from ddms.http_server import uvicorn_options

    settings = load_settings(
        ddms_data_dir=tmp_path,
        http_header_timeout=3,
        http_keep_alive_timeout=7,
        http_max_header_bytes=10_000,
        http_limit_concurrency=321,
        forwarded_allow_ips="10.0.0.5",
    )
    options = uvicorn_options(settings)
    assert options["timeout_keep_alive"] == 7
    assert options["h11_max_incomplete_event_size"] == 10_000
    assert options["limit_concurrency"] == 321
    assert options["forwarded_allow_ips"] == "10.0.0.5"
    assert options["proxy_headers"] is True
    assert options["http"].__name__.startswith("HeadDeadline")


async def test_websockets_outlive_the_header_deadline(guarded_server: LiveServer) -> None:
    """An upgraded connection (NiceGUI's socket) is no longer HTTP: the head deadline leaves it alone."""
    import websockets

    url = f"ws://127.0.0.1:{guarded_server.port}/_nicegui_ws/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(url, open_timeout=30) as socket:
        opened = await asyncio.wait_for(socket.recv(), 30)
        assert str(opened).startswith("0{")  # engine.io's open packet
        await asyncio.sleep(HEADER_TIMEOUT + 1.0)
        pong = await socket.ping()
        await asyncio.wait_for(pong, 30)  # still open: answered after the deadline has passed
