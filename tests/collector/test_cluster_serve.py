"""Three real ``ddms serve`` processes on one PostgreSQL database and one Modbus server.

The server's register of unit u answers 1, 2, 3, ... (one more per read), and it stamps every
request, so the test sees from outside what the instances did: a device read by two instances at
once shows as two requests closer together than its interval, a gap in polling as a wide one, a
reading lost or stored twice as a counter value missing from the readings table or present twice.

One scenario (each step waits on what the database or the server shows, with generous bounds):
instance A alone polls 12 devices; B joins and takes half at a poll boundary, and B's SSE stream
shows fresh values of every device (A sent none while it was alone); C joins (4 each);
A's SSE stream shows fresh values of every device (relayed by NOTIFY); a fourth instance without
JWT_SECRET_KEY is refused; an interval changed through A reaches the
device's poller on another instance; C is paused (SIGSTOP) until its devices are taken over, then
resumed (it joins again and gets its third back); C is killed (-9) and its devices are taken over; A stops
gracefully and leaves ``instances``; B polls all. Then the whole record is checked.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import struct
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine.url import make_url

from ddms.config import Settings
from ddms.migrate import upgrade
from ddms.services import cluster
from tests.conftest import create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[2]
SECRET = "cluster-secret-" + "k" * 40
PASSWORD = "cluster-password-1"
DEVICES = 12
INTERVAL = 1.0
TAKE_OVER_BOUND = 2 * INTERVAL + 2.0  # the longest a device may go unpolled (issue 14)


class SequenceServer:
    """Modbus TCP (FC 0x03) on loopback; each read of unit u answers u's next number, stamped."""

    def __init__(self) -> None:
        self.stamps: dict[int, list[float]] = defaultdict(list)
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def served(self, unit: int) -> int:
        return len(self.stamps[unit])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                tid, _proto, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
                _function, _address, count = struct.unpack(">BHH", (await reader.readexactly(length - 1))[:5])
                self.stamps[unit].append(time.monotonic())
                registers = [len(self.stamps[unit]) & 0xFFFF] + [0] * (count - 1)
                body = struct.pack(">BB", 3, 2 * count) + b"".join(struct.pack(">H", r) for r in registers)
                writer.write(struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Instance:
    name: str
    process: asyncio.subprocess.Process
    base: str
    log: Path
    stopped: bool = field(default=False)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    """Wait until ``check()`` holds; returns how long it took (a condition, never a fixed sleep)."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    url = await create_pg_database()
    try:
        await upgrade(url)
        yield url
    finally:
        await drop_pg_database(url)


class Cluster:
    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp = url, tmp
        self.instances: list[Instance] = []
        self.plain_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def env(self, name: str, **extra: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}  # noqa: TID251
        env |= {
            "DATABASE_URL": self.url,
            "DDMS_DATA_DIR": str(self.tmp / name),
            "JWT_SECRET_KEY": SECRET,
            "COOKIE_SECURE": "false",
            "DDMS_OWNER_PASSWORD": PASSWORD,
            "MODBUS_TIMEOUT": "2",
            "PROMETHEUS_ENABLED": "false",
            "SSE_INTERVAL": "0.5",
        }
        return env | extra

    async def spawn(self, name: str, **extra: str) -> Instance:
        port = free_port()
        log = self.tmp / f"{name}.log"
        with log.open("w") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ddms",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                env=self.env(name, **extra),
                cwd=ROOT,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        instance = Instance(name, process, f"http://127.0.0.1:{port}", log)
        self.instances.append(instance)
        return instance

    async def start(self, name: str) -> Instance:
        instance = await self.spawn(name)

        async def healthy() -> bool:
            if instance.process.returncode is not None:
                raise AssertionError(f"{name} exited:\n{instance.output()}")
            try:
                async with httpx.AsyncClient(timeout=1) as client:
                    return (await client.get(f"{instance.base}/api/health")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(healthy, 60, f"{name} answering")
        return instance

    async def owners(self) -> dict[int, int]:
        """Device lock holders now: modbus unit id -> OS pid of the instance holding the lock."""
        conn = await asyncpg.connect(self.plain_url)
        try:
            devices = await conn.fetch("SELECT id, modbus_slave_id FROM devices")
            held = await conn.fetch(
                "SELECT (l.classid::bigint << 32) | l.objid::bigint AS key, i.pid FROM pg_locks l "
                "JOIN instances i ON i.backend_pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted"
            )
        finally:
            await conn.close()
        by_key = {row["key"] & ((1 << 64) - 1): row["pid"] for row in held}
        owners: dict[int, int] = {}
        for row in devices:
            pid = by_key.get(cluster.device_key(row["id"]) & ((1 << 64) - 1))
            if pid is not None:
                owners[row["modbus_slave_id"]] = pid
        return owners

    async def shares(self) -> dict[int, int]:
        counts: dict[int, int] = defaultdict(int)
        for pid in (await self.owners()).values():
            counts[pid] += 1
        return dict(counts)

    async def rows(self, query: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.plain_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def close(self) -> None:
        for instance in self.instances:
            if instance.process.returncode is None:
                instance.process.kill()
                await instance.process.wait()


async def test_three_instances_share_take_over_and_hand_over(pg_url: str, tmp_path: Path) -> None:
    modbus = SequenceServer()
    modbus_port = await modbus.start()
    group = Cluster(pg_url, tmp_path)
    try:
        await _scenario(group, modbus, modbus_port)
    except BaseException:
        for instance in group.instances:
            sys.stderr.write(f"----- {instance.name}\n{instance.output()[-6000:]}\n")
        raise
    finally:
        await group.close()
        await modbus.stop()


async def _sessions_hold_across_instances(
    a: Instance, b: Instance, c: Instance, headers: dict[str, str]
) -> None:
    """Across instances: a token signed by one works on all; a logout on one ends that login's
    refresh on all; a revocation (a role change) made on one ends the access token on another within
    a second; failed logins spread over the three count against one limit (kept in PostgreSQL)."""
    clients = [httpx.AsyncClient(base_url=instance.base, timeout=10) for instance in (a, b, c)]
    try:
        for client in clients[1:]:
            assert (await client.get("/api/devices", headers=headers)).status_code == 200

        second = await clients[1].post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
        assert second.status_code == 200, second.text
        refresh = {"refresh_token": second.json()["refresh_token"]}
        bearer = {"Authorization": f"Bearer {second.json()['access_token']}"}
        assert (await clients[1].post("/api/auth/logout", headers=bearer, json=refresh)).status_code == 200
        assert (await clients[2].post("/api/auth/refresh", json=refresh)).status_code == 401

        account = {"username": "operator", "password": "operator-password-1", "role": "admin"}
        made = await clients[0].post("/api/users", headers=headers, json=account)
        assert made.status_code == 201, made.text
        signed_in = await clients[2].post(
            "/api/auth/login", json={"username": "operator", "password": "operator-password-1"}
        )
        assert signed_in.status_code == 200, signed_in.text
        operator = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        assert (await clients[2].get("/api/devices", headers=operator)).status_code == 200
        demoted = await clients[0].put(
            f"/api/users/{made.json()['id']}", headers=headers, json={"role": "read_only"}
        )
        assert demoted.status_code == 200, demoted.text

        async def refused_on_c() -> bool:
            return (await clients[2].get("/api/devices", headers=operator)).status_code == 401

        await eventually(refused_on_c, 1.0, "a role change on A ends the user's token on C")

        wrong = {"username": "intruder", "password": "not-the-password"}
        answers = [(await clients[n % 3].post("/api/auth/login", json=wrong)).status_code for n in range(6)]
        assert answers == [401] * 5 + [429], answers  # five failures over three instances, then locked
    finally:
        for client in clients:
            await client.aclose()


async def _scenario(group: Cluster, modbus: SequenceServer, modbus_port: int) -> None:
    a = await group.start("a")
    a_pid = a.process.pid
    async with httpx.AsyncClient(base_url=a.base, timeout=10) as client:
        login = await client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        ids: dict[int, str] = {}
        for unit in range(1, DEVICES + 1):
            created = await client.post(
                "/api/devices",
                headers=headers,
                json={
                    "name": f"seq-{unit}",
                    "modbus_ip": "127.0.0.1",
                    "modbus_port": modbus_port,
                    "modbus_slave_id": unit,
                    "modbus_register": 0,
                    "sampling_interval": int(INTERVAL),
                },
            )
            assert created.status_code == 201, created.text
            ids[unit] = created.json()["id"]

        async def alone() -> bool:
            return await group.shares() == {a_pid: DEVICES}

        await eventually(alone, 10, "A polls every device")

        b = await group.start("b")
        b_pid = b.process.pid

        async def halves() -> bool:
            return await group.shares() == {a_pid: DEVICES // 2, b_pid: DEVICES // 2}

        await eventually(halves, 15, "A and B poll half each")
        # A sent nothing while it was alone: B's stream shows A's half all the same.
        await _stream_shows_every_device(b, modbus)

        c = await group.start("c")
        c_pid = c.process.pid

        async def thirds() -> bool:
            return await group.shares() == {a_pid: DEVICES // 3, b_pid: DEVICES // 3, c_pid: DEVICES // 3}

        await eventually(thirds, 15, "A, B and C poll a third each")
        await _stream_shows_every_device(a, modbus)
        await _sessions_hold_across_instances(a, b, c, headers)
        status = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ddms",
            "status",
            env=group.env("status"),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        listing = (await status.communicate())[0].decode()
        assert status.returncode == 0, listing
        assert "3 live instance(s)" in listing, listing
        assert listing.count(f"{DEVICES // 3} device(s)") == 3, listing

        # Without JWT_SECRET_KEY a fourth instance would sign tokens no other instance accepts.
        refused = await group.spawn("d", JWT_SECRET_KEY="")
        assert await asyncio.wait_for(refused.process.wait(), 60) == 1
        lines = [line for line in refused.output().splitlines() if line.startswith("error:")]
        assert len(lines) == 1, refused.output()
        assert "JWT_SECRET_KEY" in lines[0]

        # An interval changed through A reaches the device's poller on B within a second.
        owners = await group.owners()
        changed = next(unit for unit, pid in sorted(owners.items()) if pid == b_pid)
        answer = await client.put(
            f"/api/devices/{ids[changed]}", headers=headers, json={"sampling_interval": 2}
        )
        assert answer.status_code == 200, answer.text
        changed_at = time.monotonic()

        async def slower() -> bool:
            after = [stamp for stamp in modbus.stamps[changed] if stamp > changed_at + 1.0]
            return len(after) >= 3

        await eventually(slower, 15, "the changed device polled three times more")
        after = [stamp for stamp in modbus.stamps[changed] if stamp > changed_at + 1.0]
        gaps = [later - earlier for earlier, later in itertools.pairwise(after)]
        assert min(gaps) > 1.5, gaps  # every 2 s now, not every second
        assert (await group.owners())[changed] == b_pid  # B applied it, nobody else polls it

    async def taken_over() -> bool:
        owners = await group.owners()
        return len(owners) == DEVICES and c_pid not in owners.values()

    # SIGSTOP: C's session goes idle, the server ends it after 3 heartbeats and A and B take C's
    # devices; C, resumed, distrusts its locks (the record below shows no device read twice), joins
    # again and gets its third back at poll boundaries.
    c.process.send_signal(signal.SIGSTOP)
    paused = await eventually(taken_over, 15, "paused C's devices taken over")
    sys.stderr.write(f"take-over after SIGSTOP: {paused:.2f} s\n")
    c.process.send_signal(signal.SIGCONT)
    await eventually(thirds, 20, "C resumed and polls a third again")

    # kill -9: C's locks go with its connection, A and B take its devices over.
    on_c = sorted(unit for unit, pid in (await group.owners()).items() if pid == c_pid)
    assert len(on_c) == DEVICES // 3
    c.process.send_signal(signal.SIGKILL)
    await c.process.wait()

    took = await eventually(taken_over, 10, "C's devices taken over")
    sys.stderr.write(f"take-over after kill -9: {took:.2f} s\n")
    assert took <= 2.0 + 1.0  # 2 s (issue 14), with a second of slack for a loaded machine

    # A graceful stop hands everything to B and removes A from the instances.
    a.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(a.process.wait(), 30) == 0
    remaining = await group.rows("SELECT pid FROM instances")
    assert a_pid not in [row["pid"] for row in remaining]

    async def all_on_b() -> bool:
        return await group.shares() == {b_pid: DEVICES}

    await eventually(all_on_b, 10, "B polls every device")
    mark = {unit: modbus.served(unit) for unit in range(1, DEVICES + 1)}

    async def polled_again() -> bool:
        return all(modbus.served(unit) >= mark[unit] + 2 for unit in range(1, DEVICES + 1))

    await eventually(polled_again, 15, "B polls every device twice more")
    b.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(b.process.wait(), 30) == 0
    # Both left cleanly; the row of C (killed) stays until a starting instance clears it.
    assert [row["pid"] for row in await group.rows("SELECT pid FROM instances")] == [c_pid]

    await _check_record(group, modbus, ids, changed, on_c)


async def _stream_shows_every_device(instance: Instance, modbus: SequenceServer) -> None:
    """The instance's SSE stream carries fresh values of all 12 devices, those polled elsewhere too:
    each value in an event is one the server gave out less than a second and a half before."""
    async with (
        httpx.AsyncClient(base_url=instance.base, timeout=10) as client,
        client.stream("GET", "/api/devices/stream") as answer,
    ):
        assert answer.status_code == 200
        started = time.monotonic()
        async for line in answer.aiter_lines():
            assert time.monotonic() - started < 20, "no event with every device fresh"
            if not line.startswith("data:"):
                continue
            items = {int(item["device_name"].removeprefix("seq-")): item for item in json.loads(line[5:])}
            if len(items) < DEVICES:
                continue
            at = time.monotonic()
            # The server's count when the event was read; a value at most ~1.5 intervals older.
            if all(modbus.served(unit) - int(items[unit]["value"]) <= 1 for unit in items):
                sys.stderr.write(f"stream fresh for every device after {at - started:.2f} s\n")
                return
        raise AssertionError("the stream ended")


async def _check_record(
    group: Cluster, modbus: SequenceServer, ids: dict[int, str], changed: int, on_c: list[int]
) -> None:
    widest = max(
        later - earlier
        for unit in range(1, DEVICES + 1)
        if unit != changed
        for earlier, later in itertools.pairwise(modbus.stamps[unit])
    )
    sys.stderr.write(f"longest time a 1 s device went unpolled: {widest:.2f} s\n")
    for unit in range(1, DEVICES + 1):
        stamps = modbus.stamps[unit]
        gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
        if unit != changed:  # its reschedule may poll soon after its last poll on the old interval
            assert min(gaps) >= 0.5 * INTERVAL, (unit, min(gaps))  # never two pollers at once
        bound = TAKE_OVER_BOUND if unit != changed else 2 * 2 + 2.0
        assert max(gaps) <= bound, (unit, max(gaps))  # never unpolled beyond the take-over bound
        rows = await group.rows(
            "SELECT value FROM readings WHERE device_id = $1 ORDER BY timestamp", uuid.UUID(ids[unit])
        )
        values = [int(row["value"]) for row in rows]
        assert len(values) == len(set(values)), unit  # no reading stored twice
        assert values == sorted(values), unit  # stored in the order they were read
        missing = len(stamps) - len(values)
        # kill -9 loses what C had not flushed yet (it waits in C's spool); a stop may cancel the
        # one poll in flight.
        assert 0 <= missing <= (4 if unit in on_c else 1), (unit, missing, len(stamps))
