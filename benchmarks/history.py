"""History at scale: DDMS's read paths against a direct-SQL baseline measured in the same run.

    .venv/bin/python benchmarks/history.py --backend both --devices 100 --per-device 100000

Loads devices x per-device readings (one every --step seconds, ending now) into a fresh, migrated
database of each backend, rolls them up, then reports, each beside its baseline:

* ingest rows/s: bulk insert into ``readings`` (trigger included) vs the same into a plain copy
  of the table (SQLite executemany; PostgreSQL COPY)
* one device's 1-day raw page (limit 1000, total) vs the bare SELECT
* one device's 1-month chart series (<= 1000 points) vs aggregating the raw rows directly
* a group of 20 devices' 1-week series vs aggregating their raw rows directly
* export rows/s and peak RSS growth for --export-rows rows vs COPY ... TO STDOUT (PostgreSQL) or a
  cursor fed to csv.writer (SQLite)

Timings are medians of --repeat runs on a warm cache. PostgreSQL comes from DDMS_BENCH_POSTGRES_URL
(default postgresql://postgres@127.0.0.1:5432/postgres); a temporary database is created and dropped.

    .venv/bin/python benchmarks/history.py --loaded --backend both

measures instead the chart series right after a bulk load (benchmarks/history_loaded.py): one
device, --loaded-rows readings every --loaded-step seconds (default: 1 000 000 at 1 s on
PostgreSQL, 7 days at 1 s = 604 800 on SQLite), before any rollup run, while the rollup job
catches up, and once it is current; each view beside the direct raw aggregate, and the zoom
refetch latency.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import psutil
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import history_loaded
from ddms import db
from ddms.migrate import upgrade
from ddms.models import Device, Reading
from ddms.services import export, readings, rollups, timescale

PG_ADMIN = os.environ.get("DDMS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")  # noqa: TID251
TSDB_ADMIN = os.environ.get(  # noqa: TID251
    "DDMS_BENCH_TIMESCALEDB_URL", "postgresql://postgres@127.0.0.1:5433/postgres"
)
INGEST_SAMPLE = 200_000
TS = '"timestamp"'


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def timed(repeat: int, work: Callable[[], Awaitable[object]]) -> float:
    await work()  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - start)
    return median_ms(samples)


class Backend:
    """A fresh database of one kind, with a raw driver connection for the baselines."""

    name: str
    url: str

    async def setup(self) -> None: ...
    async def teardown(self) -> None: ...
    async def fetch(self, sql: str, *args: object) -> list[tuple[object, ...]]: ...
    async def generate(
        self, device_ids: list[uuid.UUID], per_device: int, step: int, end: datetime
    ) -> None: ...
    async def ingest(self, table: str, rows: list[tuple[datetime, uuid.UUID, float]]) -> None: ...
    async def baseline_export(self, device_ids: list[uuid.UUID]) -> int: ...
    async def create_plain_table(self) -> None:
        """The readings table's columns, keys, index and foreign key, without the rollup trigger."""
        kind = ("TIMESTAMPTZ", "UUID") if self.name != "sqlite" else ("DATETIME", "CHAR(32)")
        await self.fetch(
            f'CREATE TABLE plain_readings ("timestamp" {kind[0]} NOT NULL, device_id {kind[1]} NOT NULL '
            "REFERENCES devices (id) ON DELETE CASCADE, value FLOAT NOT NULL, "
            'PRIMARY KEY ("timestamp", device_id))'
        )
        await self.fetch('CREATE INDEX ix_plain_device_ts ON plain_readings (device_id, "timestamp")')

    def bucket(self, column: str, seconds: int) -> str:
        return db.time_bucket_sql("postgresql" if self.name != "sqlite" else "sqlite", column, seconds)


class SQLiteBackend(Backend):
    name = "sqlite"

    async def setup(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ddms-bench-")
        self.path = Path(self.dir) / "bench.db"
        self.url = f"sqlite+aiosqlite:///{self.path}"
        self.conn = sqlite3.connect(self.path, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")  # as the app's connections

    async def teardown(self) -> None:
        self.conn.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def key(self, device_id: uuid.UUID) -> str:
        return device_id.hex

    @staticmethod
    def stamp(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    async def fetch(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return await asyncio.to_thread(lambda: self.conn.execute(sql, args).fetchall())

    async def generate(self, device_ids: list[uuid.UUID], per_device: int, step: int, end: datetime) -> None:
        first = int(end.timestamp()) - (per_device - 1) * step
        for device_id in device_ids:
            await asyncio.to_thread(self._generate_one, self.key(device_id), per_device, step, first)

    def _generate_one(self, key: str, count: int, step: int, first: int) -> None:
        self.conn.execute(
            "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?) "
            'INSERT INTO readings ("timestamp", device_id, value) '
            "SELECT strftime('%Y-%m-%d %H:%M:%S.000000', ? + i * ?, 'unixepoch'), ?, "
            "50 + 40 * sin(i / 500.0) + (abs(random()) % 1000) / 100.0 FROM seq",
            (count - 1, first, step, key),
        )
        self.conn.commit()

    async def ingest(self, table: str, rows: list[tuple[datetime, uuid.UUID, float]]) -> None:
        data = [(self.stamp(moment), self.key(device), value) for moment, device, value in rows]

        def run() -> None:
            for offset in range(0, len(data), 1000):  # the writer's batch size
                self.conn.executemany(
                    f'INSERT INTO {table} ("timestamp", device_id, value) VALUES (?, ?, ?)',
                    data[offset : offset + 1000],
                )
                self.conn.commit()

        await asyncio.to_thread(run)

    async def baseline_export(self, device_ids: list[uuid.UUID]) -> int:
        def run() -> int:
            marks = ",".join("?" * len(device_ids))
            cursor = self.conn.execute(
                'SELECT r."timestamp", d.name, r.value, d.unit FROM readings r '
                f"JOIN devices d ON d.id = r.device_id "
                f'WHERE r.device_id IN ({marks}) ORDER BY r."timestamp" DESC',
                [self.key(d) for d in device_ids],
            )
            count = 0
            while rows := cursor.fetchmany(5000):
                buffer = io.StringIO()
                csv.writer(buffer).writerows(rows)
                count += len(rows)
            return count

        return await asyncio.to_thread(run)


class PostgresBackend(Backend):
    name = "postgresql"
    admin_url = PG_ADMIN
    timescaledb = "off"  # TIMESCALEDB for this backend's migration

    async def setup(self) -> None:
        self.db_name = f"ddms_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(self.admin_url)
        await admin.execute(f'CREATE DATABASE "{self.db_name}"')
        await admin.close()
        base = self.admin_url.rsplit("/", 1)[0]
        self.dsn = f"{base}/{self.db_name}"
        self.url = self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        self.conn: asyncpg.Connection | None = None

    async def connect(self) -> asyncpg.Connection:
        if self.conn is None:
            self.conn = await asyncpg.connect(self.dsn)
        return self.conn

    async def teardown(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        admin = await asyncpg.connect(self.admin_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        await admin.close()

    async def fetch(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return [tuple(row) for row in await (await self.connect()).fetch(sql, *args)]

    async def generate(self, device_ids: list[uuid.UUID], per_device: int, step: int, end: datetime) -> None:
        conn = await self.connect()
        first = end - timedelta(seconds=(per_device - 1) * step)
        for device_id in device_ids:
            await conn.execute(
                'INSERT INTO readings ("timestamp", device_id, value) '
                "SELECT $1::timestamptz + make_interval(secs => i * $2::float8), $3, "
                "50 + 40 * sin(i / 500.0) + random() * 10 "
                "FROM generate_series(0, $4 - 1) AS i",
                first,
                step,
                device_id,
                per_device,
            )

    async def ingest(self, table: str, rows: list[tuple[datetime, uuid.UUID, float]]) -> None:
        conn = await self.connect()
        for offset in range(0, len(rows), 1000):  # the writer's batch size, one COPY per batch
            await conn.copy_records_to_table(
                table, records=rows[offset : offset + 1000], columns=["timestamp", "device_id", "value"]
            )

    async def baseline_export(self, device_ids: list[uuid.UUID]) -> int:
        conn = await self.connect()
        counter = {"rows": 0}

        async def sink(chunk: bytes) -> None:
            counter["rows"] += chunk.count(b"\n")

        await conn.copy_from_query(
            'SELECT r."timestamp", d.name, r.value, d.unit FROM readings r '
            "JOIN devices d ON d.id = r.device_id "
            'WHERE r.device_id = ANY($1::uuid[]) ORDER BY r."timestamp" DESC',
            device_ids,
            output=sink,
            format="csv",
        )
        return counter["rows"]


class TimescaleBackend(PostgresBackend):
    """PostgreSQL with TimescaleDB (DDMS_BENCH_TIMESCALEDB_URL): readings a compressed hypertable."""

    name = "timescaledb"
    admin_url = TSDB_ADMIN
    timescaledb = "on"


STORAGE_SQL = {
    "postgresql": "SELECT pg_total_relation_size('readings')",
    "timescaledb": "SELECT hypertable_size('readings')",
}
ROLLUP_STORAGE_SQL = (
    "SELECT sum(pg_total_relation_size(t)) FROM unnest(ARRAY['readings_1min', 'readings_1hour', "
    "'readings_1day', 'readings_rollup_dirty']::regclass[]) AS t"
)


class PeakRSS:
    """Samples this process's resident memory every 10 ms while active."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = self.start = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


async def add_devices(count: int) -> list[uuid.UUID]:
    async with db.session_scope() as session:
        devices = [
            Device(
                name=f"bench-{i:03d}", modbus_ip="127.0.0.1", modbus_slave_id=1, modbus_register=i, unit="kPa"
            )
            for i in range(count)
        ]
        session.add_all(devices)
        await session.commit()
        return [device.id for device in devices]


def line(label: str, ddms_value: str, baseline: str, ratio: str) -> None:
    print(f"  {label:<38} {ddms_value:>16} {baseline:>16} {ratio:>10}", flush=True)


async def bench(backend: Backend, args: argparse.Namespace) -> dict[str, float]:
    await backend.setup()
    results: dict[str, float] = {}
    try:
        await upgrade(backend.url, timescaledb=getattr(backend, "timescaledb", "off"))
        database = db.configure(backend.url)
        device_ids = await add_devices(args.devices)
        end = datetime.now(UTC).replace(microsecond=0)
        total = args.devices * args.per_device
        print(
            f"\n== {backend.name}: {args.devices} devices x {args.per_device} readings = {total:,} rows",
            flush=True,
        )
        started = time.perf_counter()
        await backend.generate(device_ids, args.per_device, args.step, end)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        # A chunk is CHUNK_MINUTES of raw rows (1 800 at 1 s): sparser data gets proportionally
        # wider chunks here, so the first full rollup of --step 60 data is not 60x the transactions.
        budget = rollups.CHUNK_MINUTES * max(1, args.step)
        async with db.session_scope() as session:
            await rollups.refresh(session, budget=budget)
        rollup_s = time.perf_counter() - started
        started = time.perf_counter()
        compressed = await timescale.compress_chunks()  # what the retention job does (TimescaleDB only)
        compress_s = time.perf_counter() - started
        print(
            f"  bulk load {load_s:.1f} s ({total / load_s:,.0f} rows/s server-side); "
            f"first full rollup {rollup_s:.1f} s; {compressed} chunks compressed in {compress_s:.1f} s",
            flush=True,
        )
        await backend.fetch("VACUUM ANALYZE")
        if backend.name in STORAGE_SQL:  # the loaded rows only, before the ingest samples add theirs
            raw = int((await backend.fetch(STORAGE_SQL[backend.name]))[0][0] or 0)  # type: ignore[call-overload]
            rolled = int((await backend.fetch(ROLLUP_STORAGE_SQL))[0][0] or 0)  # type: ignore[call-overload]
            results["storage_readings_mb"] = raw / 2**20
            results["storage_rollups_mb"] = rolled / 2**20
        if backend.name == "timescaledb":
            before, after = (
                await backend.fetch(
                    "SELECT sum(before_compression_total_bytes), sum(after_compression_total_bytes) "
                    "FROM chunk_compression_stats('readings')"
                )
            )[0]
            results["compression_ratio"] = float(before or 0) / float(after or 1)  # type: ignore[arg-type]
            print(f"  compressed chunks: {results['compression_ratio']:.1f}x smaller", flush=True)
        line("measure", "DDMS", "direct SQL", "ratio")

        # Ingest: the real readings table (with the rollup trigger) vs a plain copy of it.
        await backend.create_plain_table()
        # Alternating rounds (each into fresh hours); the best round of each side counts, which
        # filters out the noise of a shared machine.
        size = min(INGEST_SAMPLE, total) // 4
        base_best = ddms_best = float("inf")
        for round_no in range(4):
            sample_end = end + timedelta(days=400 + round_no)
            sample = [
                (sample_end + timedelta(seconds=i // args.devices), device_ids[i % args.devices], i % 977.0)
                for i in range(size)
            ]
            base_s = await _seconds(lambda rows=sample: backend.ingest("plain_readings", rows))
            ddms_s = await _seconds(lambda rows=sample: backend.ingest("readings", rows))
            base_best, ddms_best = min(base_best, base_s), min(ddms_best, ddms_s)
        results["ingest_rows_s"] = size / ddms_best
        line(
            "ingest (rows/s, batches of 1000)",
            f"{size / ddms_best:,.0f}",
            f"{size / base_best:,.0f}",
            f"{base_best / ddms_best:.2f}x",
        )
        async with db.session_scope() as session:
            await rollups.refresh(session, budget=budget)

        one = device_ids[0]
        dev = backend.key(one) if isinstance(backend, SQLiteBackend) else one
        day_lo, day_hi = end - timedelta(days=1), end
        stamp: Callable[[datetime], object] = (
            SQLiteBackend.stamp if isinstance(backend, SQLiteBackend) else (lambda m: m)
        )
        mark = "?" if isinstance(backend, SQLiteBackend) else "$"

        def p(i: int) -> str:
            return "?" if mark == "?" else f"${i}"

        async def ddms_raw() -> None:
            async with db.session_scope() as session:
                await readings.raw_page(session, one, day_lo, day_hi, 1000, 0)

        async def base_raw() -> None:
            await backend.fetch(
                f'SELECT "timestamp", value FROM readings WHERE device_id = {p(1)} AND "timestamp" '
                f'BETWEEN {p(2)} AND {p(3)} ORDER BY "timestamp" DESC LIMIT 1000',
                dev,
                stamp(day_lo),
                stamp(day_hi),
            )
            await backend.fetch(
                f'SELECT count(*) FROM readings WHERE device_id = {p(1)} AND "timestamp" '
                f"BETWEEN {p(2)} AND {p(3)}",
                dev,
                stamp(day_lo),
                stamp(day_hi),
            )

        await _compare(
            results, "raw_1day_ms", "1 device, 1-day raw page (ms)", args.repeat, ddms_raw, base_raw
        )

        async def series_of(ids: list[uuid.UUID], span: timedelta) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                async with db.session_scope() as session:
                    await readings.series_many(session, ids, end - span, end, 1000)

            return run

        async def raw_series(ids: list[uuid.UUID], span: timedelta) -> Callable[[], Awaitable[None]]:
            width = readings.choose_bucket(end - span, end, 1000, len(ids))
            keys = [backend.key(i) if isinstance(backend, SQLiteBackend) else i for i in ids]
            if isinstance(backend, SQLiteBackend):
                where = (
                    f'device_id IN ({",".join("?" * len(keys))}) AND "timestamp" >= ? AND "timestamp" <= ?'
                )
                params: list[object] = [*keys, stamp(end - span), stamp(end)]
            else:
                where = 'device_id = ANY($1::uuid[]) AND "timestamp" >= $2 AND "timestamp" <= $3'
                params = [keys, end - span, end]
            sql = (
                f"SELECT device_id, {backend.bucket(TS, width)} AS b, avg(value), "
                f"min(value), max(value), count(*) FROM readings WHERE {where} GROUP BY 1, 2 ORDER BY 2"
            )

            async def run() -> None:
                await backend.fetch(sql, *params)

            return run

        month, week = timedelta(days=30), timedelta(days=7)
        await _compare(
            results,
            "series_month_ms",
            "1 device, 1-month series (ms)",
            args.repeat,
            await series_of([one], month),
            await raw_series([one], month),
        )
        group = device_ids[:20]
        await _compare(
            results,
            "series_group_ms",
            "20 devices, 1-week series (ms)",
            args.repeat,
            await series_of(group, week),
            await raw_series(group, week),
        )
        for span, label in ((timedelta(hours=1), "1h"), (timedelta(days=365), "1y")):
            ms = await timed(args.repeat, await series_of([one], span))
            results[f"series_{label}_ms"] = ms
            line(f"1 device, {label} series (ms)", f"{ms:.1f}", "", "")

        # Export: enough devices to hold --export-rows rows.
        wanted = max(1, -(-args.export_rows // args.per_device))
        export_ids = device_ids[:wanted]
        async with db.session_scope() as session:
            plan = await export.devices_plan(session, export_ids, None, None)
        with PeakRSS() as memory:
            started = time.perf_counter()
            rows = -1
            async for chunk in export.stream(plan):
                rows += chunk.count(b"\n")
            ddms_s = time.perf_counter() - started
        started = time.perf_counter()
        base_rows = await backend.baseline_export(export_ids)
        base_s = time.perf_counter() - started
        results["export_rows_s"] = rows / ddms_s
        results["export_rss_mb"] = memory.growth_mb
        line(
            f"export {rows:,} rows (rows/s)",
            f"{rows / ddms_s:,.0f}",
            f"{base_rows / base_s:,.0f}",
            f"{base_s / ddms_s:.2f}x",
        )
        line("export peak RSS growth (MB)", f"{memory.growth_mb:.1f}", "", "")
        if backend.name in STORAGE_SQL:
            line("storage: readings (MB, loaded rows)", f"{results['storage_readings_mb']:.1f}", "", "")
            line("storage: rollups + dirty marks (MB)", f"{results['storage_rollups_mb']:.1f}", "", "")
            results["late_reading_ms"] = await _late_reading(one, end)
            line("late reading 10 days back -> series (ms)", f"{results['late_reading_ms']:.1f}", "", "")
        await database.dispose()
    finally:
        await backend.teardown()
    return results


async def _late_reading(device_id: uuid.UUID, end: datetime) -> float:
    """Insert one reading 10 days back (a compressed chunk on TimescaleDB) and read the month series:
    the time until the series holds it. No rollup run in between: a dirty minute is read from raw
    rows until the rollup job (every ROLLUP_INTERVAL) has rebuilt it."""
    moment = end - timedelta(days=10, seconds=7)
    started = time.perf_counter()
    async with db.session_scope() as session:
        await session.exec(  # type: ignore[call-overload]
            insert(Reading).values(device_id=device_id, timestamp=moment, value=1e6)
        )
        await session.commit()
    async with db.session_scope() as session:
        series = await readings.series_many(session, [device_id], end - timedelta(days=30), end, 1000)
    elapsed = (time.perf_counter() - started) * 1000
    peak = max(point.max for point in series[device_id].points)
    assert peak == 1e6, "the late reading is missing from the series"
    return elapsed


async def _seconds(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def _compare(
    results: dict[str, float],
    key: str,
    label: str,
    repeat: int,
    ddms_work: Callable[[], Awaitable[None]],
    base_work: Callable[[], Awaitable[None]],
) -> None:
    ddms_ms = await timed(repeat, ddms_work)
    base_ms = await timed(repeat, base_work)
    results[key] = ddms_ms
    results[key + "_baseline"] = base_ms
    line(label, f"{ddms_ms:.1f}", f"{base_ms:.1f}", f"{base_ms / ddms_ms:.2f}x")


LOADED_ROWS = {"postgresql": 1_000_000, "timescaledb": 1_000_000, "sqlite": 7 * 86400}


async def bench_loaded(backend: Backend, args: argparse.Namespace) -> dict[str, float]:
    """The 'just loaded' case on a fresh database of ``backend`` (see history_loaded.py)."""
    await backend.setup()
    try:
        await upgrade(backend.url, timescaledb=getattr(backend, "timescaledb", "off"))
        database = db.configure(backend.url)
        rows = args.loaded_rows or LOADED_ROWS[backend.name]
        print(f"\n== {backend.name}: just loaded", flush=True)
        results = await history_loaded.bench_loaded(
            backend, rows, args.loaded_step, args.repeat, add_devices, line
        )
        await database.dispose()
        return results
    finally:
        await backend.teardown()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgresql", "both", "timescaledb"],
        default="both",
        help="timescaledb: plain PostgreSQL and TimescaleDB in one run, with their ratios",
    )
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--per-device", type=int, default=100_000)
    parser.add_argument("--step", type=int, default=10, help="seconds between readings")
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--loaded", action="store_true", help="the 'just loaded' case instead")
    parser.add_argument("--loaded-rows", type=int, default=0, help="0: 1 M (PostgreSQL), 7 days (SQLite)")
    parser.add_argument("--loaded-step", type=float, default=1.0, help="seconds between loaded readings")
    args = parser.parse_args()
    if args.devices < 20:
        parser.error("--devices must be at least 20 (the group series uses 20)")
    print("ratio = direct SQL time / DDMS time (above 1: DDMS is faster; ingest: the rollup trigger's cost)")
    backends: list[Backend] = []
    if args.backend in ("sqlite", "both"):
        backends.append(SQLiteBackend())
    if args.backend in ("postgresql", "both", "timescaledb"):
        backends.append(PostgresBackend())
    if args.backend == "timescaledb":
        backends.append(TimescaleBackend())
    if args.loaded:
        for backend in backends:
            asyncio.run(bench_loaded(backend, args))
        return
    summary = {}
    for backend in backends:
        summary[backend.name] = asyncio.run(bench(backend, args))
    if "timescaledb" in summary:
        plain, tsdb = summary["postgresql"], summary["timescaledb"]
        print("\nTimescaleDB / plain PostgreSQL (DDMS paths; time ratios <= 1.2 is the target):")
        for key in ("raw_1day_ms", "series_month_ms", "series_group_ms", "series_1h_ms", "series_1y_ms"):
            print(f"  {key:<24} {tsdb[key] / plain[key]:.2f}")
        for key in ("ingest_rows_s", "export_rows_s"):
            print(f"  {key + ' (TS/PG)':<24} {tsdb[key] / plain[key]:.2f}")
        smaller = plain["storage_readings_mb"] / tsdb["storage_readings_mb"]
        print(f"  {'readings storage PG/TS':<24} {smaller:.1f}x")
        late = f"{tsdb['late_reading_ms']:.0f}, {plain['late_reading_ms']:.0f}"
        print(f"  {'late reading ms (TS, PG)':<24} {late}")
        return
    if len(summary) == 2:
        print("\nSQLite / PostgreSQL (DDMS paths; <= 3 is the target):")
        for key in ("raw_1day_ms", "series_month_ms", "series_group_ms", "series_1h_ms", "series_1y_ms"):
            print(f"  {key:<20} {summary['sqlite'][key] / summary['postgresql'][key]:.2f}")
        print(
            f"  {'export (PG/SQLite)':<20} "
            f"{summary['postgresql']['export_rows_s'] / summary['sqlite']['export_rows_s']:.2f}"
        )


if __name__ == "__main__":
    main()
