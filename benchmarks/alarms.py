"""Alarm benchmark: 1000 devices at 1 s with thresholds, 10 % of them crossing limits all the time.

    .venv/bin/python -m benchmarks.alarms [--devices 1000] [--seconds 20] [--rounds 2]

One simulator process (``collector.simulator``), one SQLite database; in this process the collector
runs alternately without and with alarm evaluation (ALARMS_ENABLED), ``--rounds`` times each, the same
devices and the same load, so each figure stands beside its baseline from the same run:

- collector CPU per poll with alarms ÷ without (target ≤ 1.10),
- polls on schedule with and without (target ≥ 99.9 %),
- reading → notification on ``GET /api/notifications/stream`` p50/p99 (target p99 < 1 s), beside
  reading → the committed transition on the bus (the durable write it waits for).

Every device has limits; for 10 % of them the warning and critical limits sit inside the simulator's
sine (40 ± 10, periods 60-110 s), so they raise, escalate, de-escalate and clear continuously.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file: this script's folder would shadow the collector package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import tempfile
import time
from datetime import datetime

import httpx
import uvicorn

from benchmarks.collector import free_port, wait_port
from collector.runner import Collector
from collector.simulator import catalog
from ddms import db
from ddms.bus import AlarmNotice, get_bus, reset_bus
from ddms.config import Settings, load_settings
from ddms.main import create_api
from ddms.migrate import upgrade
from ddms.models import Device, Role, User, utcnow
from ddms.security import hash_password
from ddms.services import auth

CROSSING_SHARE = 10  # every 10th device crosses its limits


async def seed(port: int, devices: int) -> None:
    signals = catalog(devices + 8)[8:]  # the float32 sensors
    async with db.session_scope() as session:
        for index, signal in enumerate(signals):
            crossing = index % CROSSING_SHARE == 0
            session.add(
                Device(
                    name=signal.name,
                    modbus_ip="127.0.0.1",
                    modbus_port=port,
                    modbus_slave_id=signal.unit_id,
                    modbus_register=signal.address,
                    modbus_register_count=2,
                    data_type="float32",
                    sampling_interval=1,
                    threshold_warning_upper=44.0 if crossing else 100.0,
                    threshold_critical_upper=48.0 if crossing else 120.0,
                    threshold_warning_lower=32.0 if crossing else -100.0,
                    hysteresis=0.5,
                )
            )
        digest = await hash_password("bench-password-1")
        session.add(User(username="admin", password_hash=digest, role=Role.OWNER))
        session.add(User(username="shift", password_hash=digest, role=Role.ADMIN))
        await session.commit()


async def phase(settings: Settings, seconds: float) -> dict[str, float]:
    """One collector run: CPU per poll and the schedule, after a warm-up."""
    collector = Collector(settings)
    await collector.start()
    try:
        await asyncio.sleep(4)  # warm-up: connections, first polls, restored alarms
        for poller in collector.pollers.values():
            poller.stats.on_time = poller.stats.late = poller.stats.missed = poller.stats.failed = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        stats = [poller.stats for poller in collector.pollers.values()]
    finally:
        await collector.stop()
    on_time, late, missed = (sum(getattr(s, name) for s in stats) for name in ("on_time", "late", "missed"))
    polls = on_time + late
    return {
        "cpu_us": 1e6 * cpu / max(1, polls),
        "on_schedule": 100 * on_time / max(1, on_time + late + missed),
        "polls_per_s": polls / wall,
    }


async def latency(settings: Settings, seconds: float) -> tuple[list[float], list[float]]:
    """Reading → notification on the SSE stream, and reading → committed transition on the bus (s)."""
    committed: list[float] = []

    def on_notices(notices: list[AlarmNotice]) -> None:
        now = utcnow()
        committed.extend((now - n.at).total_seconds() for n in notices if n.transition != "acknowledged")

    get_bus().on_alarm_notices(on_notices)
    app = create_api(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    async with db.session_scope() as session:
        issued = await auth.login(
            session=session,
            settings=settings,
            username="admin",
            password="bench-password-1",  # noqa: S106
        )
        token = issued.access_token
    received: list[float] = []
    collector = Collector(settings)

    async def listen() -> None:
        async with (
            httpx.AsyncClient(timeout=None) as http,  # noqa: S113  (a stream that stays open),
            http.stream("GET", f"http://127.0.0.1:{port}/api/notifications/stream?token={token}") as answer,
        ):
            lines = answer.aiter_lines()
            async for line in lines:
                if line.startswith("data: "):
                    item = json.loads(line.removeprefix("data: "))
                    created = datetime.fromisoformat(item["created_at"])
                    received.append((utcnow() - created).total_seconds())

    listener = asyncio.get_running_loop().create_task(listen())
    await collector.start()
    try:
        await asyncio.sleep(4)
        received.clear()
        committed.clear()
        await asyncio.sleep(seconds)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await collector.stop()
        server.should_exit = True
        await serving
    return received, committed


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def main(devices: int, seconds: float, rounds: int) -> None:
    port = free_port()
    code = (
        "import asyncio, logging; logging.basicConfig(level=logging.WARNING); "
        "from collector.simulator import run; "
        f"asyncio.run(run('127.0.0.1', {port}, {devices + 8}, False))"
    )
    simulator = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)  # noqa: ASYNC220
    try:
        await wait_port(port)
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            await upgrade(url)
            database = db.configure(url)
            reset_bus()
            await seed(port, devices)
            common = {
                "database_url": url,
                "modbus_timeout": 2.0,
                "ddms_data_dir": Path(tmp),
                "jwt_secret_key": "bench-" + "x" * 40,
                "collector_enabled": False,
                "history_jobs_enabled": False,
            }
            off = load_settings(**common, alarms_enabled=False)
            on = load_settings(**common, alarms_enabled=True)
            results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
            for _ in range(rounds):
                for enabled, settings in ((False, off), (True, on)):
                    results[enabled].append(await phase(settings, seconds))
            sse, committed = await latency(on, seconds)
            await database.dispose()
    finally:
        simulator.terminate()
        simulator.wait(5)

    def mean(enabled: bool, key: str) -> float:
        return statistics.fmean(r[key] for r in results[enabled])

    ratio = mean(True, "cpu_us") / mean(False, "cpu_us")
    rate0, rate1 = mean(False, "polls_per_s"), mean(True, "polls_per_s")
    cpu0, cpu1 = mean(False, "cpu_us"), mean(True, "cpu_us")
    sched0, sched1 = mean(False, "on_schedule"), mean(True, "on_schedule")
    lines = [
        f"devices {devices} at 1 s, {devices // CROSSING_SHARE} crossing limits; "
        f"{rounds} x {seconds:g} s each way",
        f"polls per second        without {rate0:9.1f}     with {rate1:9.1f}",
        f"CPU per poll            without {cpu0:9.1f} us  with {cpu1:9.1f} us",
        f"CPU with / without      {ratio:9.3f}  (target <= 1.10)",
        f"on schedule             without {sched0:9.3f} %   with {sched1:9.3f} %  (target >= 99.9 %)",
        f"reading -> committed    p50 {quantile(committed, 0.5) * 1000:7.1f} ms  "
        f"p99 {quantile(committed, 0.99) * 1000:7.1f} ms  ({len(committed)} transitions)",
        f"reading -> SSE notified p50 {quantile(sse, 0.5) * 1000:7.1f} ms  "
        f"p99 {quantile(sse, 0.99) * 1000:7.1f} ms  ({len(sse)} notifications, target p99 < 1 s)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.devices, args.seconds, args.rounds))
