"""REST API benchmark: ``ddms serve`` beside a bare FastAPI app returning the same bytes, same run.

    .venv/bin/python benchmarks/api.py [--backend postgresql|sqlite] [--seconds 3] [--client auto]

A real ``ddms serve`` (subprocess, collector and history jobs off, so the figures are the API's)
gets a fresh database (PostgreSQL: a scratch database made and dropped through
DDMS_BENCH_POSTGRES_URL; SQLite: a temporary file) and --devices devices created through
``POST /api/devices``. The bytes it answers are captured and loaded into the baseline: a bare
FastAPI app on uvicorn in its own process, with the same routes returning those bytes (no
database, no auth). Then, each beside its baseline:

* ``GET /api/devices`` and ``GET /api/devices/{id}`` at each --concurrency: req/s, p50/p95/p99 and
  the server's CPU per request (psutil), keep-alive connections, after a short warm-up;
* the same on a second ``ddms serve`` with PROMETHEUS_ENABLED=false: the cost of the HTTP metrics;
* the list of --large devices (created after the first phase), sequential requests;
* the SSE first frame of ``/api/devices/stream?token=...`` (PUBLIC_STREAM=false, so the token is
  checked) on fresh connections, idle and under load, vs a bare SSE endpoint.

The load generator is wrk when it is on PATH (``apt-get install wrk``) and ``--client auto``;
otherwise raw asyncio sockets on uvloop with keep-alive (a few tens of µs per request, so the client
is not what is measured). Every point runs --seconds; the whole run takes one to two minutes.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file: this script's folder would shadow the ddms package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

import asyncpg
import httpx
import psutil
import uvloop
from sqlalchemy.engine.url import make_url

from benchmarks.api_load import Result, load, request_bytes, sse_first_frame, wrk_load
from ddms.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("DDMS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")  # noqa: TID251
PG_BENCH_DB = "ddms_bench_api"
PASSWORD = "bench-password-1"  # noqa: S105
SECRET = "bench-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A server subprocess on a local port."""

    name: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    async def wait(self) -> None:
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
                try:
                    if (await http.get(self.base + "/api/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within 120 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_ddms(name: str, url: str, data_dir: Path, *, metrics: bool) -> Server:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}  # noqa: TID251
    env |= {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": url,
        "DDMS_DATA_DIR": str(data_dir),
        "COLLECTOR_ENABLED": "false",
        "HISTORY_JOBS_ENABLED": "false",
        "COOKIE_SECURE": "false",
        "DDMS_OWNER_PASSWORD": PASSWORD,
        "JWT_SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_ENABLED": str(metrics).lower(),
        "PUBLIC_STREAM": "false",
    }
    command = [sys.executable, "-m", "ddms", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    return Server(name, process, port)


def start_bare() -> Server:
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.api_bare", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)})  # noqa: TID251
    return Server("bare", process, port)


async def create_pg() -> str:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{PG_BENCH_DB}"')
    finally:
        await conn.close()
    url = make_url(PG_ADMIN).set(drivername="postgresql+asyncpg", database=PG_BENCH_DB)
    return url.render_as_string(hide_password=False)


async def drop_pg() -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)')
    finally:
        await conn.close()


def device_body(index: int) -> dict[str, object]:
    """A realistic device: float32 sensor with all four thresholds and a description."""
    return {
        "name": f"Line {index // 20 + 1} sensor {index:04d}",
        "description": "Bench device on the simulator",
        "modbus_ip": "127.0.0.1",
        "modbus_port": 5020,
        "modbus_slave_id": 1 + index % 247,
        "modbus_register": (2 * index) % 65000,
        "data_type": "float32",
        "unit": "°C",
        "sampling_interval": 5,
        "threshold_critical_lower": 0.0,
        "threshold_warning_lower": 10.0,
        "threshold_warning_upper": 80.0,
        "threshold_critical_upper": 95.0,
        "hysteresis": 0.5,
    }


async def add_devices(base: str, token: str, first: int, count: int) -> None:
    limit = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=base, headers=auth(token), timeout=30) as http:

        async def one(index: int) -> None:
            async with limit:
                answer = await http.post("/api/devices", json=device_body(index))
                answer.raise_for_status()

        await asyncio.gather(*(one(index) for index in range(first, first + count)))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(base: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        answer = await http.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
        answer.raise_for_status()
        return str(answer.json()["access_token"])


async def capture(base: str, token: str, path: str) -> bytes:
    async with httpx.AsyncClient(base_url=base, headers=auth(token), timeout=30) as http:
        answer = await http.get(path)
        answer.raise_for_status()
        return answer.content


async def put_bytes(bare: Server, name: str, content: bytes) -> None:
    async with httpx.AsyncClient(base_url=bare.base, timeout=30) as http:
        (await http.put(f"/_bench/{name}", content=content)).raise_for_status()


async def measure(
    server: Server,
    path: str,
    token: str,
    concurrency: int,
    seconds: float,
    client: str,
) -> Result:
    cpu0 = server.cpu()
    if client == "wrk":
        result = await wrk_load(server.base + path, token, concurrency, seconds)
    else:
        result = await load(server.port, path, token, concurrency, seconds)
    result.cpu_seconds = server.cpu() - cpu0
    return result


async def sequential(server: Server, path: str, token: str, count: int) -> list[float]:
    """Latency (ms) of ``count`` one-at-a-time requests on one keep-alive connection."""
    result = await load(server.port, path, token, 1, 0.0, requests=count)
    return sorted(1000 * latency for latency in result.latencies)


def fmt_point(result: Result) -> str:
    ms = result.percentiles()
    cpu = 1000 * result.cpu_seconds / max(1, result.count)
    return f"{result.rate:8.0f} {ms[0]:7.1f} {ms[1]:7.1f} {ms[2]:7.1f} {cpu:7.2f}"


def print_point(label: str, ddms: Result, bare: Result) -> None:
    p95 = ddms.percentiles()[1] / max(1e-9, bare.percentiles()[1])
    errors = f"  errors {ddms.errors}" if ddms.errors else ""
    ratio = ddms.rate / bare.rate
    print(f"{label:<34} {fmt_point(ddms)} | {fmt_point(bare)} | {ratio:6.2f} {p95:7.1f}{errors}")


def header(title: str) -> None:
    print(f"\n{title}")
    cols = "   req/s     p50     p95     p99 ms CPU"
    print(f"{'point (ms; CPU in ms per request)':<34} {cols} | {cols} | rate÷b p95÷b")


async def phase_small(
    args: argparse.Namespace, ddms: Server, plain: Server | None, bare: Server, token: str, device_path: str
) -> None:
    header(f"DDMS {args.devices} devices | bare FastAPI, same bytes | ratios to bare")
    for path, label in (("/api/devices", "GET /api/devices"), (device_path, "GET /api/devices/{id}")):
        for concurrency in args.concurrency:
            base = await measure(bare, path, token, concurrency, args.seconds, args.client)
            ours = await measure(ddms, path, token, concurrency, args.seconds, args.client)
            print_point(f"{label} c={concurrency}", ours, base)
            if plain is not None and concurrency == max(args.concurrency):
                off = await measure(plain, path, token, concurrency, args.seconds, args.client)
                print_point("  same, PROMETHEUS_ENABLED=false", off, base)
                cost = 1000 * (ours.cpu_seconds / max(1, ours.count) - off.cpu_seconds / max(1, off.count))
                print(
                    f"  HTTP metrics: {cost:+.3f} ms CPU per request, "
                    f"req/s on ÷ off {ours.rate / off.rate:.2f}"
                )


async def sse_under_load(args: argparse.Namespace, server: Server, token: str) -> list[float]:
    """First-frame times while GET /api/devices runs at the highest concurrency on the same server."""
    concurrency, seconds = max(args.concurrency), args.sse_repeat * 0.5 + 3.0
    if args.client == "wrk":
        work = wrk_load(server.base + "/api/devices", token, concurrency, seconds)
    else:
        work = load(server.port, "/api/devices", token, concurrency, seconds)
    background = asyncio.ensure_future(work)
    await asyncio.sleep(1.0 + (1.0 if args.client == "wrk" else 0.5))  # past the load's warm-up
    times = await sse_first_frame(server.port, f"/api/devices/stream?token={token}", args.sse_repeat)
    if background.done():
        print(f"  ({server.name}: the load ended before the last SSE connection)")
    await background
    return times


def print_sse(label: str, ours: list[float], base: list[float]) -> None:
    gap = statistics.median(ours) - statistics.median(base)
    print(
        f"{label:<44} DDMS median {statistics.median(ours):7.1f} ms (max {max(ours):7.1f}) | "
        f"bare {statistics.median(base):6.1f} ms (max {max(base):6.1f}) | DDMS − bare {gap:+7.1f} ms"
    )


async def phase_sse(args: argparse.Namespace, ddms: Server, bare: Server, token: str) -> None:
    print(
        f"\nSSE first frame of /api/devices/stream, {args.sse_repeat} fresh connections (target: "
        "DDMS − bare ≤ 50 ms)"
    )
    path = f"/api/devices/stream?token={token}"
    ours = await sse_first_frame(ddms.port, path, args.sse_repeat)
    base = await sse_first_frame(bare.port, path, args.sse_repeat)
    print_sse("idle server", ours, base)
    ours = await sse_under_load(args, ddms, token)
    base = await sse_under_load(args, bare, token)
    print_sse(f"while GET /api/devices runs at c={max(args.concurrency)}", ours, base)


async def rebuilt(server: Server, token: str, device_id: str, count: int) -> list[float]:
    """GET /api/devices right after a write to one device, ``count`` times: the list is never cached."""
    times = []
    async with httpx.AsyncClient(base_url=server.base, headers=auth(token), timeout=30) as http:
        for index in range(count):
            answer = await http.put(f"/api/devices/{device_id}", json={"description": f"change {index}"})
            answer.raise_for_status()
            started = time.perf_counter()
            (await http.get("/api/devices")).raise_for_status()
            times.append(1000 * (time.perf_counter() - started))
    return sorted(times)


def p50_p95(values: list[float]) -> str:
    return f"p50 {statistics.median(values):6.1f} ms, p95 {values[int(0.95 * (len(values) - 1))]:6.1f} ms"


async def phase_lists(
    args: argparse.Namespace,
    ddms: Server,
    bare: Server,
    token: str,
    device_id: str,
    devices: int,
    bare_path: str,
) -> None:
    """The list of ``devices`` one request at a time: repeated, and rebuilt after every write."""
    ours = await sequential(ddms, "/api/devices", token, args.large_repeat)
    again = await rebuilt(ddms, token, device_id, args.large_repeat)
    base = await sequential(bare, bare_path, token, args.large_repeat)
    print(
        f"{devices:>5} devices, repeated      DDMS {p50_p95(ours)} | bare {p50_p95(base)} | "
        f"p50 ÷ bare {statistics.median(ours) / statistics.median(base):5.1f}"
    )
    print(
        f"{devices:>5} devices, after a write DDMS {p50_p95(again)} | (HTTP client included; "
        "target for 1000: < 100 ms)"
    )


async def phase_large(
    args: argparse.Namespace,
    ddms: Server,
    bare: Server,
    token: str,
    device_id: str,
) -> None:
    started = time.perf_counter()
    await add_devices(ddms.base, token, args.devices, args.large - args.devices)
    content = await capture(ddms.base, token, "/api/devices")
    await put_bytes(bare, "large", content)
    print(
        f"\n(added {args.large - args.devices} devices through POST /api/devices in "
        f"{time.perf_counter() - started:.1f} s; list of {args.large}: {len(content) / 1024:.0f} KB)"
    )
    await phase_lists(args, ddms, bare, token, device_id, args.large, "/api/devices-large")


async def run(args: argparse.Namespace) -> None:
    postgres = args.backend == "postgresql"
    tmp = Path(tempfile.mkdtemp(prefix="ddms-bench-api-"))
    servers: list[Server] = []
    try:
        url = await create_pg() if postgres else f"sqlite+aiosqlite:///{tmp / 'ddms.db'}"
        ddms = start_ddms("ddms", url, tmp / "data", metrics=True)
        servers.append(ddms)
        await ddms.wait()  # migrated and owner created before the second server starts
        plain = start_ddms("ddms-plain", url, tmp / "data", metrics=False) if args.metrics_off else None
        bare = start_bare()
        servers += [server for server in (plain, bare) if server is not None]
        for server in servers:
            await server.wait()
        token = await login(ddms.base)
        await add_devices(ddms.base, token, 0, args.devices)
        listing = await capture(ddms.base, token, "/api/devices")
        device_id = json.loads(listing)[0]["id"]
        await put_bytes(bare, "list", listing)
        await put_bytes(bare, "one", await capture(ddms.base, token, f"/api/devices/{device_id}"))
        await put_bytes(bare, "stream", await sse_frame_of(ddms.port, token))
        load1 = os.getloadavg()
        print(
            f"backend {'PostgreSQL' if postgres else 'SQLite'}; list of {args.devices} devices "
            f"{len(listing) / 1024:.1f} KB; {args.seconds:g} s per point; client {args.client}; "
            f"{os.cpu_count()} CPUs, load average {load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f} "
            "at start"
        )
        await phase_small(args, ddms, plain, bare, token, f"/api/devices/{device_id}")
        await phase_sse(args, ddms, bare, token)
        print(f"\nGET /api/devices one request at a time ({args.large_repeat}×), keep-alive")
        await phase_lists(args, ddms, bare, token, device_id, args.devices, "/api/devices")
        await phase_large(args, ddms, bare, token, device_id)
        load2 = os.getloadavg()
        print(f"load average {load2[0]:.2f} / {load2[1]:.2f} / {load2[2]:.2f} at the end")
    finally:
        for server in reversed(servers):
            server.stop()
        if postgres:
            await drop_pg()
        shutil.rmtree(tmp, ignore_errors=True)


async def sse_frame_of(port: int, token: str) -> bytes:
    """DDMS's first SSE frame, so the bare stream sends the same bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes(f"/api/devices/stream?token={token}", None, accept="text/event-stream"))
    data = b""
    while b"\n\n" not in data.partition(b"data: ")[2]:
        data += await reader.read(65536)
    writer.close()
    body = data.partition(b"\r\n\r\n")[2]
    return b"data: " + body.partition(b"data: ")[2].partition(b"\n\n")[0] + b"\n\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--large", type=int, default=1000, help="devices in the large-list phase")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per point")
    parser.add_argument(
        "--concurrency", type=lambda text: [int(c) for c in text.split(",")], default=[10, 50]
    )
    parser.add_argument("--client", choices=["auto", "asyncio", "wrk"], default="auto")
    parser.add_argument("--sse-repeat", type=int, default=10)
    parser.add_argument("--large-repeat", type=int, default=30)
    parser.add_argument(
        "--no-metrics-off",
        dest="metrics_off",
        action="store_false",
        help="skip the second server without HTTP metrics",
    )
    args = parser.parse_args()
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "asyncio"
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
