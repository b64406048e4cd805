"""Start-up waits for the database (DATABASE_WAIT_SECONDS) instead of exiting at once.

"Not reachable" is real: a loopback port nothing listens on, or a TCP proxy in front of the test
PostgreSQL that resets its first N connections and forwards the rest, so PostgreSQL "comes up" at
an exact attempt, whatever the machine's speed. Back-off sleeps run on a clock the test steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import struct
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import DBAPIError

from ddms.config import Settings
from ddms.startup import DatabaseUnavailable, wait_for_database
from tests.conftest import PG_ADMIN_URL, backend_unavailable, create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[2]


def child_env() -> dict[str, str]:
    """This environment without any DDMS setting (the test sets those it means)."""
    return {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}  # noqa: TID251


class SteppingClock:
    """Time that moves only by the sleeps asked of it (each sleep returns at once)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again on return: nothing listens there


class ComingUpProxy:
    """127.0.0.1:<port> → the test PostgreSQL; the first ``refuse`` connections are reset at once."""

    def __init__(self, refuse: int) -> None:
        self.refuse = refuse
        self.connections = 0
        self.server: asyncio.Server | None = None
        target = make_url(PG_ADMIN_URL)
        self.target = (target.host or "127.0.0.1", target.port or 5432)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.connections <= self.refuse:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def __aenter__(self) -> ComingUpProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.close()

    def url(self, database: str) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        admin = make_url(PG_ADMIN_URL)
        return admin.set(
            drivername="postgresql+asyncpg", host="127.0.0.1", port=port, database=database
        ).render_as_string(hide_password=False)


async def test_gives_up_after_the_wait_with_each_attempt_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = SteppingClock()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/ddms"
    with pytest.raises(DatabaseUnavailable) as raised:
        await wait_for_database(url, 10, clock=clock)
    # 0.5 s doubling to 5 s, the last pause cut to the deadline: attempts at 0, .5, 1.5, 3.5, 7.5, 10
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 2.5]
    assert clock.now == 10
    assert "database unreachable at postgresql+asyncpg://postgres@127.0.0.1" in raised.value.detail
    assert "after 6 attempt(s) in 10 s" in raised.value.detail
    attempts = [record.getMessage() for record in caplog.records if "not reachable" in record.getMessage()]
    assert [f"attempt {n}:" in line for n, line in enumerate(attempts, start=1)] == [True] * 5


async def test_returns_when_postgresql_comes_up() -> None:
    clock = SteppingClock()
    async with ComingUpProxy(refuse=3) as proxy:
        attempts = await wait_for_database(proxy.url("postgres"), 60, clock=clock)
    assert attempts == 4
    assert proxy.connections == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


async def test_a_wrong_database_name_fails_at_once() -> None:
    """Waiting cannot fix a typo: no retry, the driver's own error."""
    clock = SteppingClock()
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+asyncpg", database="ddms_no_such_database")
    try:
        with pytest.raises(DBAPIError, match="does not exist"):
            await wait_for_database(url.render_as_string(hide_password=False), 60, clock=clock)
    except (OSError, DatabaseUnavailable):  # pragma: no cover - no PostgreSQL here
        backend_unavailable("PostgreSQL not reachable")
    assert clock.sleeps == []


async def test_serve_waits_for_postgresql_then_serves(tmp_path: Path) -> None:
    """``ddms serve`` started while PostgreSQL refuses: it keeps trying, logs each attempt, then
    migrates and serves; SIGTERM ends it with exit code 0."""
    database_url = await create_pg_database()
    try:
        async with ComingUpProxy(refuse=2) as proxy:
            port = closed_port()
            env = child_env()
            env |= {
                "PYTHONPATH": str(ROOT),
                "DATABASE_URL": proxy.url(str(make_url(database_url).database)),
                "DDMS_DATA_DIR": str(tmp_path / "data"),
                "PORT": str(port),
                "COLLECTOR_ENABLED": "false",
                "HISTORY_JOBS_ENABLED": "false",
                "DDMS_OWNER_PASSWORD": "owner-password-1",
                "DATABASE_WAIT_SECONDS": "60",
            }
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ddms",
                "serve",
                env=env,
                cwd=ROOT,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                async with (
                    asyncio.timeout(120),
                    httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
                ):
                    while True:
                        with contextlib.suppress(httpx.TransportError):
                            if (await client.get("/api/health")).status_code == 200:
                                break
                        assert process.returncode is None, "ddms serve exited instead of waiting"
                        await asyncio.sleep(0.2)
                process.send_signal(signal.SIGTERM)
                async with asyncio.timeout(60):
                    assert await process.wait() == 0
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            assert process.stderr is not None
            log = (await process.stderr.read()).decode()
        assert "attempt 1:" in log
        assert "attempt 2:" in log
        assert "database reachable at" in log
        assert "(attempt 3)" in log
    finally:
        await drop_pg_database(database_url)


async def test_migrate_gives_up_with_one_line(tmp_path: Path) -> None:
    env = child_env()
    env |= {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"postgresql+asyncpg://ddms:secret-pw@127.0.0.1:{closed_port()}/ddms",
        "DDMS_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_WAIT_SECONDS": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ddms", "migrate", env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    log = err.decode()
    assert process.returncode == 1
    assert "attempt 1:" in log
    last = log.strip().splitlines()[-1]
    assert last.startswith("error: database unreachable at postgresql+asyncpg://ddms:***@127.0.0.1:")
    assert "secret-pw" not in log
