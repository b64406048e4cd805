"""SIGTERM on a real ``ddms serve --simulator``: bounded, clean, and nothing buffered is lost.

Before, an open ``/api/devices/stream`` kept the process alive for ever after SIGTERM (docker stop
and systemd then SIGKILL it and the writer's buffer is gone), and uvicorn re-raised the signal so
even a clean stop ended "killed". Here the app runs with a long writer flush interval, so readings
sit in the writer's buffer; the test waits until the stream has shown a reading that the database
does not hold yet (it is buffered at that moment), opens a NiceGUI WebSocket and an upload that
never finishes, and sends SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import websockets

from ddms.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SHUTDOWN_TIMEOUT = 6.0
START_TIMEOUT = 120.0  # a loaded 2-core machine imports NiceGUI slowly


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """A ``ddms serve --simulator`` subprocess and its log lines."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, db_path: Path) -> None:
        self.process, self.port, self.db_path = process, port, db_path
        self.lines: list[str] = []
        self.changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip())
            self.changed.set()

    async def wait_for_line(self, fragment: str, within: float = 30.0) -> str:
        async with asyncio.timeout(within):
            while True:
                found = next((line for line in self.lines if fragment in line), None)
                if found is not None:
                    return found
                self.changed.clear()
                await self.changed.wait()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stored(self) -> set[tuple[uuid.UUID, datetime]]:
        """(device, timestamp) of every reading in the database, read with plain sqlite3."""
        with contextlib.closing(
            sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        ) as conn:
            rows = conn.execute("SELECT device_id, timestamp FROM readings").fetchall()
        return {
            (uuid.UUID(hex=device), datetime.fromisoformat(at).replace(tzinfo=UTC)) for device, at in rows
        }


@contextlib.asynccontextmanager
async def serve(tmp_path: Path) -> AsyncIterator[Served]:
    port = free_port()
    db_path = tmp_path / "ddms.db"
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}  # noqa: TID251
    env |= {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
        "DDMS_DATA_DIR": str(tmp_path / "data"),
        "PORT": str(port),
        "SIMULATOR_PORT": str(free_port()),
        "SIMULATOR_DEVICES": "3",
        "WRITER_FLUSH_INTERVAL": "60",  # readings stay in the buffer until the final flush
        "WRITER_BATCH_SIZE": "100000",
        "SSE_INTERVAL": "0.5",
        "SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        "HISTORY_JOBS_ENABLED": "false",
        "DDMS_OWNER_PASSWORD": "owner-password-1",
        "LOG_LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ddms",
        "serve",
        "--simulator",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    served = Served(process, port, db_path)
    try:
        async with asyncio.timeout(START_TIMEOUT), httpx.AsyncClient(base_url=served.base) as client:
            while True:  # the condition "it answers", polled; not a guess at how long start-up takes
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/api/health")).status_code == 200:
                        break
                assert process.returncode is None, "\n".join(served.lines)
                await asyncio.sleep(0.2)
        yield served
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        served._reader.cancel()


class Stream:
    """An SSE client of /api/devices/stream that remembers every reading it was shown."""

    def __init__(self, base: str) -> None:
        self.seen: set[tuple[uuid.UUID, datetime]] = set()
        self.new = asyncio.Event()
        self.ended_cleanly: bool | None = None
        self._task = asyncio.ensure_future(self._run(base))

    async def _run(self, base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=None)) as client:
            try:
                async with client.stream("GET", "/api/devices/stream") as response:
                    async for line in response.aiter_lines():
                        if line.startswith("data: "):
                            for item in json.loads(line.removeprefix("data: ")):
                                if item["timestamp"]:
                                    at = datetime.fromisoformat(item["timestamp"])
                                    self.seen.add((uuid.UUID(item["device_id"]), at))
                            self.new.set()
                self.ended_cleanly = True  # the server ended the body (the last chunk arrived)
            except httpx.HTTPError:
                self.ended_cleanly = False

    async def ended(self, within: float) -> bool | None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await asyncio.shield(self._task)
        return self.ended_cleanly


async def buffered_reading(
    served: Served, stream: Stream, within: float = 60.0
) -> tuple[uuid.UUID, datetime]:
    """A reading the stream has shown and the database does not hold: it is in the writer's buffer."""
    async with asyncio.timeout(within):
        while True:
            stream.new.clear()
            waiting = stream.seen - await asyncio.to_thread(served.stored)
            if waiting:
                return max(waiting, key=lambda reading: reading[1])
            await stream.new.wait()


async def stuck_upload(port: int) -> asyncio.StreamWriter:
    """A request whose body never arrives: uvicorn waits for it until its graceful timeout."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    await writer.drain()
    return writer


async def test_sigterm_with_stream_socket_and_upload_open_exits_in_time_and_flushes(tmp_path: Path) -> None:
    async with serve(tmp_path) as served:
        stream = Stream(served.base)
        page_socket = await websockets.connect(
            f"ws://127.0.0.1:{served.port}/_nicegui_ws/socket.io/?EIO=4&transport=websocket"
        )
        assert (await asyncio.wait_for(page_socket.recv(), 30)).startswith("0")  # engine.io "open"
        upload = await stuck_upload(served.port)
        buffered = await buffered_reading(served, stream)

        sent = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(SHUTDOWN_TIMEOUT + 30):
            returncode = await served.process.wait()
        took = time.monotonic() - sent

        log = "\n".join(served.lines)
        assert returncode == 0, log
        assert took < SHUTDOWN_TIMEOUT, f"{took:.1f} s\n{log}"
        assert await stream.ended(within=10) is True  # ended by the server, not cut
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(page_socket.recv(), 10)
        upload.close()
        stored = await asyncio.to_thread(served.stored)
        assert buffered in stored, "a reading buffered at SIGTERM was not written"
        assert stream.seen <= stored, f"shown but never stored: {sorted(stream.seen - stored)[:5]}"
        assert "SIGTERM: shutting down" in log
        assert "exiting now" not in log


async def test_second_signal_exits_at_once(tmp_path: Path) -> None:
    async with serve(tmp_path) as served:
        upload = await stuck_upload(served.port)  # holds the first shutdown for its graceful timeout
        served.process.send_signal(signal.SIGTERM)
        await served.wait_for_line("SIGTERM: shutting down")
        sent = time.monotonic()
        served.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            returncode = await served.process.wait()
        took = time.monotonic() - sent
        upload.close()
        assert returncode == 128 + signal.SIGINT, "\n".join(served.lines)
        assert took < SHUTDOWN_TIMEOUT / 2, f"{took:.1f} s: the second signal waited for the graceful timeout"
        await served.wait_for_line("SIGINT again: exiting now")


async def test_a_shutdown_that_cannot_finish_is_cut_at_the_timeout(tmp_path: Path) -> None:
    """The final flush blocked (the test holds SQLite's write lock): the process still ends at
    SHUTDOWN_TIMEOUT, says so, and exits 1 rather than hanging until docker's SIGKILL."""
    async with serve(tmp_path) as served:
        stream = Stream(served.base)
        await buffered_reading(served, stream)  # the writer holds something to flush
        blocker = sqlite3.connect(served.db_path, timeout=30, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            sent = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(SHUTDOWN_TIMEOUT + 30):
                returncode = await served.process.wait()
            took = time.monotonic() - sent
        finally:
            blocker.close()
        log = "\n".join(served.lines)
        assert returncode == 1, log
        assert SHUTDOWN_TIMEOUT - 0.5 < took < SHUTDOWN_TIMEOUT + 5, f"{took:.1f} s"
        await served.wait_for_line(f"shutdown still running after SHUTDOWN_TIMEOUT={SHUTDOWN_TIMEOUT:g} s")
