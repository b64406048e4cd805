"""Collector benchmark: N simulated devices polled for a fixed time, beside raw pymodbus round trips.

    .venv/bin/python -m benchmarks.collector [--devices 1000] [--interval 1] [--seconds 30] [--outage 600]

(``.venv/bin/python benchmarks/collector.py`` works too)

The simulator runs in its own process (``collector.simulator``); the collector, its writer and an
SQLite database run in this one, so the CPU figure is the collector's. The baseline is the ceiling
of the library the simulator is built on: sequential read_holding_registers round trips per second
with pymodbus's own client on one connection, measured against the same simulator in the same run.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file: this script's folder would shadow the collector package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time

import asyncpg
from pymodbus.client import AsyncModbusTcpClient
from sqlalchemy import func, select
from sqlalchemy.engine.url import make_url

from collector.poller import Poller
from collector.runner import Collector
from collector.simulator import catalog
from ddms import db
from ddms.config import load_settings
from ddms.migrate import upgrade
from ddms.models import Device, Reading


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("simulator did not start")


PG_BENCH_DB = "ddms_bench_collector"


async def create_pg(admin_url: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{PG_BENCH_DB}"')
    finally:
        await conn.close()
    return (
        make_url(admin_url)
        .set(drivername="postgresql+asyncpg", database=PG_BENCH_DB)
        .render_as_string(hide_password=False)
    )


async def drop_pg(admin_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)')
    finally:
        await conn.close()


async def watch_loop(stalls: list[float], tick: float = 0.005) -> None:
    """Record how late a 5 ms timer fires: the event loop's stalls, whatever causes them."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + tick
        await asyncio.sleep(tick)
        stalls.append(loop.time() - due)


async def raw_pymodbus(port: int, seconds: float) -> float:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2)
    await client.connect()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        await client.read_holding_registers(0, count=2, device_id=10)
        count += 1
    elapsed = time.perf_counter() - started
    client.close()
    return count / elapsed


async def outage_phase(collector: Collector, url: str, seconds: float) -> dict[str, float]:
    """Lock the SQLite file for ``seconds`` (every write fails; the spool takes them), then release
    it and time the drain. Returns CPU per poll during the outage, peak spool size, drain time."""
    path = url.split("///", 1)[1]
    lock = await asyncio.to_thread(
        sqlite3.connect, path, timeout=30, isolation_level=None, check_same_thread=False
    )
    stats = list(collector.pollers.values())
    polls0 = sum(p.stats.on_time + p.stats.late for p in stats)
    cpu0, wall0, peak = time.process_time(), time.perf_counter(), 0
    await asyncio.to_thread(lock.execute, "BEGIN EXCLUSIVE")
    while time.perf_counter() - wall0 < seconds:
        await asyncio.sleep(0.5)
        spool = collector.writer.spool
        peak = max(peak, spool.bytes if spool is not None else 0)
    cpu = time.process_time() - cpu0
    polls = sum(p.stats.on_time + p.stats.late for p in stats) - polls0
    rows = collector.writer.spool.rows if collector.writer.spool is not None else 0
    await asyncio.to_thread(lock.execute, "ROLLBACK")
    await asyncio.to_thread(lock.close)
    drain0 = time.perf_counter()
    while collector.writer.health().writer != "ok":  # noqa: ASYNC110 (a benchmark samples a state)
        await asyncio.sleep(0.1)
    return {
        "cpu_per_poll": cpu / max(1, polls),
        "peak_bytes": peak,
        "spool_rows": rows,
        "drain": time.perf_counter() - drain0,
    }


async def main(
    devices: int, interval: int, seconds: float, postgres: str | None, outage: float = 0.0
) -> None:
    port = free_port()
    code = (
        "import asyncio, logging; logging.basicConfig(level=logging.WARNING); "
        "from collector.simulator import run; "
        f"asyncio.run(run('127.0.0.1', {port}, {devices + 8}, False))"
    )
    # Started once, before anything is measured.
    simulator = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)  # noqa: ASYNC220
    try:
        await wait_port(port)
        ceiling = await raw_pymodbus(port, 3.0)
        with tempfile.TemporaryDirectory() as tmp:
            url = await create_pg(postgres) if postgres else f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            await upgrade(url)
            database = db.configure(url)  # a process of its own: the default runtime is fresh
            signals = catalog(devices + 8)[8:]  # the float32 sensors
            async with db.session_scope() as session:
                session.add_all(
                    Device(
                        name=s.name,
                        modbus_ip="127.0.0.1",
                        modbus_port=port,
                        modbus_slave_id=s.unit_id,
                        modbus_register=s.address,
                        modbus_register_count=2,
                        data_type="float32",
                        sampling_interval=interval,
                    )
                    for s in signals
                )
                await session.commit()
            lags: list[float] = []
            original = Poller.poll_once

            async def measured(self: Poller) -> bool:
                lags.append(self.stats.last_lag)
                return await original(self)

            Poller.poll_once = measured  # type: ignore[method-assign]
            settings = load_settings(
                database_url=url,
                modbus_timeout=2.0,
                ddms_data_dir=Path(tmp),
                jwt_secret_key="bench-" + "x" * 40,
            )
            collector = Collector(settings)
            await collector.start()
            stalls: list[float] = []
            heartbeat = asyncio.get_running_loop().create_task(watch_loop(stalls))
            await asyncio.sleep(2 * interval + 1)  # warm-up: connection, first polls, first batches
            for poller in collector.pollers.values():
                poller.stats.on_time = poller.stats.late = poller.stats.missed = poller.stats.failed = 0
            lags.clear()
            stalls.clear()
            written0, cpu0, wall0 = collector.writer.written, time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            wall = time.perf_counter() - wall0
            stall_ms = sorted(1000 * s for s in stalls) or [0.0]
            cpu = time.process_time() - cpu0
            written = collector.writer.written - written0
            stats = [poller.stats for poller in collector.pollers.values()]
            on_time = sum(s.on_time for s in stats)
            late = sum(s.late for s in stats)
            missed = sum(s.missed for s in stats)
            failed = sum(s.failed for s in stats)
            polls = on_time + late
            published = sum(1 for _ in lags)
            spilled = await outage_phase(collector, url, outage) if outage else None
            heartbeat.cancel()
            await collector.stop()
            async with db.session_scope() as session:
                stored = (await session.exec(select(func.count()).select_from(Reading))).one()[0]
            total_taken = collector.writer.written
            await database.dispose()
            if postgres:
                await drop_pg(postgres)
    finally:
        simulator.terminate()
        simulator.wait(5)
    lags_ms = sorted(lag * 1000 for lag in lags) or [0.0]
    p99 = lags_ms[min(len(lags_ms) - 1, int(len(lags_ms) * 0.99))]
    rate = polls / wall
    print(
        f"database {'PostgreSQL' if postgres else 'SQLite'}, "
        f"devices {devices}, interval {interval} s, measured {wall:.1f} s on {published} polls"
    )
    print(f"polls per second        {rate:9.1f}  (due: {devices / interval:.1f})")
    print(
        f"on schedule             {100 * on_time / max(1, on_time + late + missed):9.3f} %  "
        f"(late {late}, missed {missed}, failed {failed})"
    )
    print(f"schedule lag p50 / p99  {statistics.median(lags_ms):9.2f} / {p99:.2f} ms")
    share = 100 * cpu / wall
    print(f"collector CPU per poll  {1e6 * cpu / max(1, polls):9.1f} us  ({share:.1f} % of one core)")
    print(
        f"event-loop stalls       max {stall_ms[-1]:.1f} ms, > 50 ms: {sum(s > 50 for s in stall_ms)}, "
        f"> 100 ms: {sum(s > 100 for s in stall_ms)}"
    )
    print(f"readings written / s    {written / wall:9.1f}")
    print(f"every reading stored    {stored == total_taken}  ({stored} stored, {total_taken} written)")
    print(f"raw pymodbus ceiling    {ceiling:9.1f} round trips/s on one connection (sequential)")
    print(f"collector / ceiling     {rate / ceiling:9.2f}")
    if spilled is not None:
        normal = cpu / max(1, polls)
        print(
            f"outage {outage:.0f} s: readings lost {collector.writer.dropped}, spool peak "
            f"{spilled['peak_bytes'] / 1e6:.1f} MB ({spilled['spool_rows']:.0f} rows at the end), "
            f"drain {spilled['drain']:.1f} s, CPU per poll {1e6 * spilled['cpu_per_poll']:.1f} us "
            f"vs {1e6 * normal:.1f} us without the outage ({spilled['cpu_per_poll'] / normal:.2f}x)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        nargs="?",
        const="postgresql://postgres@127.0.0.1:5432/postgres",
        help="write to a scratch PostgreSQL database made through ADMIN_URL (default SQLite)",
    )
    parser.add_argument(
        "--outage",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after the measurement, lock the SQLite file this long (writes fail, the spool takes "
        "them), then report readings lost, spool size, drain time and CPU per poll (SQLite only)",
    )
    args = parser.parse_args()
    if args.outage and args.postgres:
        parser.error("--outage locks the SQLite file: not with --postgres")
    asyncio.run(main(args.devices, args.interval, args.seconds, args.postgres, args.outage))
