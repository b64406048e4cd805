"""Several ``ddms serve`` on one PostgreSQL: polls on schedule, CPU per poll, the live bridge, take-over.

    .venv/bin/python benchmarks/cluster.py [--devices 3000] [--interval 1] [--seconds 30]
        [--sizes 1,2,3] [--kills 10] [--simulators 3] [--postgres ADMIN_URL]

For each size (1, 2, 3 instances) a fresh database gets ``--devices`` float32 sensors spread over
``--simulators`` simulator processes (``collector.simulator``), then that many real ``ddms serve``
processes start on it (collector and cluster on, history jobs off). Once every device is polled, the
instances' own counters are read twice, ``--seconds`` apart, from their ``/metrics``:

* polls on schedule: on-time polls over all polls due (on time + late + missed), all instances;
* CPU per poll per instance: the process's user+system time (``/proc``) over its polls, beside the
  baseline of the same run, one instance polling every device;
* the live bridge (LISTEN/NOTIFY of the newest values, ``ddms_cluster_bridge_cpu_seconds``): its
  CPU as a share of the instance's CPU;
* take-over after ``kill -9`` (largest size only): the seconds until every device of the killed
  instance is locked by another one again (``pg_locks``), p50 and max over ``--kills`` kills; the
  killed instance is started again between kills.

Every figure is measured in the same run as its baseline, on this machine: with 3000 devices at 1 s
on 2 cores the simulators, PostgreSQL and the instances compete for the same CPU; the output says
where the schedule stops holding.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file: this script's folder would shadow the collector package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

import asyncpg
import httpx
from sqlalchemy.engine.url import make_url

from benchmarks.collector import create_pg, drop_pg, free_port, wait_port
from collector.simulator import catalog
from ddms import db
from ddms.migrate import upgrade
from ddms.models import Device

SECRET = "bench-cluster-" + "x" * 40
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
POLL_LINE = re.compile(r'^ddms_polls_total\{device_id="[^"]+",outcome="(\w+)"\} ([0-9.e+]+)$', re.M)
BRIDGE_LINE = re.compile(r'^ddms_cluster_bridge_cpu_seconds_total\{direction="(\w+)"\} ([0-9.e+-]+)$', re.M)


@dataclass
class Instance:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def cpu(self) -> float:
        """User + system seconds of the process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Sample:
    polls: dict[str, float]
    bridge: float
    cpu: float


def start_instance(url: str, work: Path, name: str) -> Instance:
    port = free_port()
    log = work / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if k.upper() not in ("DATABASE_URL", "PORT", "HOST")}  # noqa: TID251
    env |= {
        "DATABASE_URL": url,
        "DDMS_DATA_DIR": str(work / name),
        "JWT_SECRET_KEY": SECRET,
        "DDMS_OWNER_PASSWORD": "bench-owner-password",
        "HISTORY_JOBS_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "MODBUS_TIMEOUT": "2",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ddms", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Instance(port, process, log)


async def wait_healthy(instance: Instance) -> None:
    async with asyncio.timeout(120), httpx.AsyncClient(timeout=5) as http:
        while True:
            if instance.process.poll() is not None:
                raise RuntimeError(f"ddms serve exited:\n{instance.log.read_text()[-2000:]}")
            try:
                if (await http.get(f"http://127.0.0.1:{instance.port}/api/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def sample(instance: Instance) -> Sample:
    async with httpx.AsyncClient(timeout=30) as http:
        text = (await http.get(f"http://127.0.0.1:{instance.port}/metrics")).text
    polls: dict[str, float] = {}
    for outcome, value in POLL_LINE.findall(text):
        polls[outcome] = polls.get(outcome, 0.0) + float(value)
    bridge = sum(float(value) for _direction, value in BRIDGE_LINE.findall(text))
    return Sample(polls, bridge, instance.cpu())


async def locked_devices(admin: asyncpg.Connection) -> int:
    value = await admin.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return int(value)


async def wait_locked(admin: asyncpg.Connection, devices: int, *, below: bool = False) -> float:
    """Seconds until every device is locked by some instance (``below``: until one lock is gone)."""
    started = time.monotonic()
    async with asyncio.timeout(120):
        while True:
            if (await locked_devices(admin) < devices) == below:
                break
            await asyncio.sleep(0.005)
    return time.monotonic() - started


async def add_devices(url: str, ports: list[int], devices: int, interval: int) -> None:
    database = db.configure(url)
    try:
        signals = catalog(devices + 8)[8:]
        async with db.session_scope() as session:
            session.add_all(
                Device(
                    name=s.name,
                    modbus_ip="127.0.0.1",
                    modbus_port=ports[index % len(ports)],
                    modbus_slave_id=s.unit_id,
                    modbus_register=s.address,
                    modbus_register_count=2,
                    data_type="float32",
                    sampling_interval=interval,
                )
                for index, s in enumerate(signals)
            )
            await session.commit()
    finally:
        await database.dispose()


async def one_size(
    size: int, args: argparse.Namespace, ports: list[int], work: Path, kills: int
) -> dict[str, object]:
    admin_url = args.postgres
    url = await create_pg(admin_url)
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    instances: list[Instance] = []
    admin = await asyncpg.connect(plain)
    try:
        await upgrade(url)
        await add_devices(url, ports, args.devices, args.interval)
        for number in range(size):  # in turn: each joins a running cluster
            instances.append(start_instance(url, work, f"size{size}-{number}"))
            await wait_healthy(instances[-1])
        await wait_locked(admin, args.devices)
        await asyncio.sleep(2 * args.interval + 2)  # warm-up: first polls, first batches
        before = [await sample(instance) for instance in instances]
        wall0 = time.perf_counter()
        await asyncio.sleep(args.seconds)
        after = [await sample(instance) for instance in instances]
        wall = time.perf_counter() - wall0
        result: dict[str, object] = {"size": size, "wall": wall, "per_instance": []}
        on_time = due = 0.0
        for first, last in zip(before, after, strict=True):
            delta = {k: last.polls.get(k, 0.0) - first.polls.get(k, 0.0) for k in last.polls}
            polls = delta.get("on_time", 0.0) + delta.get("late", 0.0)
            cpu = last.cpu - first.cpu
            bridge = last.bridge - first.bridge
            on_time += delta.get("on_time", 0.0)
            due += polls + delta.get("missed", 0.0)
            result["per_instance"].append(  # type: ignore[attr-defined]
                {"polls": polls, "cpu": cpu, "bridge": bridge, "failed": delta.get("failed", 0.0)}
            )
        result["on_schedule"] = on_time / due if due else 0.0
        result["due_per_s"] = args.devices / args.interval
        result["polled_per_s"] = due / wall
        takeovers: list[float] = []
        for kill in range(kills):
            victim = instances[kill % size]
            held = await admin.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN instances i ON l.pid = i.backend_pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND i.pid = $1",
                victim.process.pid,
            )
            victim.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            victim.process.wait(10)
            await wait_locked(admin, args.devices, below=True)  # its locks go with its connection
            await wait_locked(admin, args.devices)
            takeovers.append(time.monotonic() - killed)
            print(f"  kill {kill + 1}: {held} devices taken over in {takeovers[-1]:.2f} s", flush=True)
            replacement = start_instance(url, work, f"size{size}-{kill % size}-again{kill}")
            instances[kill % size] = replacement
            await wait_healthy(replacement)
            await asyncio.sleep(3 * args.interval + 2)  # its share handed over at poll boundaries
        result["takeovers"] = takeovers
        return result
    finally:
        for instance in instances:
            if instance.process.poll() is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in instances:
            try:
                instance.process.wait(30)
            except subprocess.TimeoutExpired:
                instance.process.kill()
        await admin.close()
        await drop_pg(admin_url)


def report(results: list[dict[str, object]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.devices} devices at {args.interval} s, {args.simulators} simulator(s), {args.seconds:g} s"
    )
    baseline = None
    print(
        f"  {'instances':>9} {'on schedule':>12} {'polled/s':>9} {'CPU/poll us (each)':>28} {'bridge %':>9}"
    )
    for result in results:
        each = result["per_instance"]
        per_poll = [1e6 * p["cpu"] / p["polls"] if p["polls"] else 0.0 for p in each]  # type: ignore[index, union-attr, attr-defined]
        mean = statistics.fmean(per_poll) if per_poll else 0.0
        if result["size"] == 1:
            baseline = mean
        bridge = [100 * p["bridge"] / p["cpu"] if p["cpu"] else 0.0 for p in each]  # type: ignore[index, union-attr, attr-defined]
        print(
            f"  {result['size']:>9} {100 * float(result['on_schedule']):>11.2f}% "  # type: ignore[arg-type]
            f"{float(result['polled_per_s']):>9.0f} "  # type: ignore[arg-type]
            f"{' / '.join(f'{v:.0f}' for v in per_poll):>28} "
            f"{max(bridge, default=0.0):>8.1f}%"
        )
        if baseline and result["size"] != 1:
            print(f"  {'':>9} CPU per poll vs one instance: {mean / baseline:.2f}x")
    for result in results:
        takeovers = result["takeovers"]
        if takeovers:
            print(
                f"  take-over after kill -9 ({result['size']} instances, {len(takeovers)} kills): "  # type: ignore[arg-type]
                f"p50 {statistics.median(takeovers):.2f} s, max {max(takeovers):.2f} s "  # type: ignore[arg-type]
                f"(target <= 2 s + {args.interval} s)"
            )


async def main(args: argparse.Namespace) -> None:
    sizes = [int(part) for part in args.sizes.split(",")]
    ports = [free_port() for _ in range(args.simulators)]
    simulators = []
    for port in ports:
        code = (
            "import asyncio, logging; logging.basicConfig(level=logging.WARNING); "
            "from collector.simulator import run; "
            f"asyncio.run(run('127.0.0.1', {port}, {args.devices + 8}, False))"
        )
        simulators.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL))  # noqa: ASYNC220
    try:
        for port in ports:
            await wait_port(port)
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            for size in sizes:
                print(f"== {size} instance(s)", flush=True)
                kills = args.kills if size == max(sizes) and size > 1 else 0
                results.append(await one_size(size, args, ports, Path(tmp), kills))
        report(results, args)
    finally:
        for simulator in simulators:
            simulator.terminate()
            simulator.wait(5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=3000)
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--sizes", default="1,2,3")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--simulators", type=int, default=3)
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", metavar="ADMIN_URL"
    )
    asyncio.run(main(parser.parse_args()))
