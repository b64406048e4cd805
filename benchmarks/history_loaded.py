"""The chart series right after a bulk load, while the rollups catch up, and once they are current.

Used by ``benchmarks/history.py --loaded`` (see its docstring). One device receives --loaded-rows
readings, one every --loaded-step seconds, ending now, the way a bulk load delivers them: COPY in
batches of 1000 on PostgreSQL, executemany batches of 1000 on SQLite (trigger included, no rollup
run). Then, each DDMS figure beside the direct raw aggregate it replaces, measured alternately
(DDMS, direct, DDMS, ...) so that the load of a shared machine falls on both alike:

* just loaded: the 1-day, 7-day and 30-day views (series of <= 1000 points), and zoom refetches
  (random windows of 10 minutes to 2 days inside the data; p50 / p95 of DDMS);
* catching up: the rollup job runs (``rollups.refresh``, as the scheduler does) while the 30-day
  view and its direct aggregate are timed alternately until it finishes; on SQLite the longest
  refresh transaction (the time it holds the single writer lock) is reported too;
* rollups current: the views and the zoom refetches again.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, update
from sqlmodel import col

from ddms import db
from ddms.models import Device
from ddms.services import readings, rollups

VIEWS = (
    ("1-day view", timedelta(days=1)),
    ("7-day view", timedelta(days=7)),
    ("30-day view", timedelta(days=30)),
)
ZOOMS = 30


class WriterHold:
    """BEGIN to COMMIT wall time of each transaction on an engine (how long a refresh holds SQLite's lock)."""

    def __init__(self, engine: Any) -> None:
        self.samples: list[float] = []
        self._begun: dict[int, float] = {}
        self._engine = engine
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)

    def _begin(self, conn: Any) -> None:
        self._begun[id(conn)] = time.perf_counter()

    def _commit(self, conn: Any) -> None:
        begun = self._begun.pop(id(conn), None)
        if begun is not None:
            self.samples.append(time.perf_counter() - begun)

    def close(self) -> None:
        event.remove(self._engine, "begin", self._begin)
        event.remove(self._engine, "commit", self._commit)


async def _seconds(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def alternate(
    repeat: int, ddms: Callable[[], Awaitable[object]], direct: Callable[[], Awaitable[object]]
) -> tuple[float, float]:
    """Median seconds of each, run one after the other ``repeat`` times after one warm-up of each."""
    await ddms()
    await direct()
    ddms_s, direct_s = [], []
    for _ in range(repeat):
        ddms_s.append(await _seconds(ddms))
        direct_s.append(await _seconds(direct))
    return statistics.median(ddms_s), statistics.median(direct_s)


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def p95(samples: list[float]) -> float:
    return percentile(samples, 0.95)


class Loaded:
    """One backend's database with one freshly bulk-loaded device (``backend`` from history.py)."""

    def __init__(self, backend: Any, device: uuid.UUID, first: datetime, end: datetime, step: float) -> None:
        self.backend = backend
        self.device = device
        self.step = step
        self.first = first
        self.end = end

    def ddms(self, start: datetime, end: datetime) -> Callable[[], Awaitable[object]]:
        async def run() -> object:
            async with db.session_scope() as session:
                return await readings.series_many(session, [self.device], start, end, 1000)

        return run

    def direct(self, start: datetime, end: datetime) -> Callable[[], Awaitable[object]]:
        """The same buckets aggregated straight from the raw rows (what a layer without rollups runs)."""
        backend = self.backend
        width = readings.choose_bucket(start, end, 1000, 1, raw_seconds=self.step)  # DDMS's width
        bucket = backend.bucket('"timestamp"', width)
        if backend.name == "sqlite":
            where = 'device_id = ? AND "timestamp" >= ? AND "timestamp" <= ?'
            params: list[object] = [backend.key(self.device), backend.stamp(start), backend.stamp(end)]
        else:
            where = 'device_id = $1 AND "timestamp" >= $2 AND "timestamp" <= $3'
            params = [self.device, start, end]
        sql = (
            f"SELECT device_id, {bucket} AS b, avg(value), min(value), max(value), count(*) "
            f"FROM readings WHERE {where} GROUP BY 1, 2 ORDER BY 2"
        )

        async def run() -> object:
            return await backend.fetch(sql, *params)

        return run

    def zooms(self, seed: int) -> list[tuple[datetime, datetime]]:
        rng = random.Random(seed)
        data = (self.end - self.first).total_seconds()
        windows = []
        for _ in range(ZOOMS):
            span = min(data, rng.uniform(600, 2 * 86400))
            start = self.first + timedelta(seconds=rng.uniform(0, data - span))
            windows.append((start, start + timedelta(seconds=span)))
        return windows


async def load(
    backend: Any, rows: int, step: float, add_devices: Callable[[int], Awaitable[list[uuid.UUID]]]
) -> Loaded:
    device = (await add_devices(1))[0]
    async with db.session_scope() as session:  # configured as a device sending at that rate is
        await session.execute(
            update(Device).where(col(Device.id) == device).values(sampling_interval=max(1, round(step)))
        )
        await session.commit()
    end = datetime.now(UTC).replace(microsecond=0)
    first = end - timedelta(seconds=(rows - 1) * step)
    batch = 100_000
    for offset in range(0, rows, batch):
        await backend.ingest(
            "readings",
            [
                (first + timedelta(seconds=i * step), device, 50.0 + (i * 7919 % 1000) / 10)
                for i in range(offset, min(rows, offset + batch))
            ],
        )
    return Loaded(backend, device, first, end, step)


async def views(loaded: Loaded, repeat: int, label: str, line: Callable[..., None]) -> dict[str, float]:
    results = {}
    for name, span in VIEWS:
        start = loaded.end - span
        ddms_s, direct_s = await alternate(
            repeat, loaded.ddms(start, loaded.end), loaded.direct(start, loaded.end)
        )
        results[f"{label} {name}"] = direct_s / ddms_s
        line(
            f"{label}: {name} (ms)",
            f"{ddms_s * 1000:.1f}",
            f"{direct_s * 1000:.1f}",
            f"{direct_s / ddms_s:.2f}x",
        )
    zoom_s = [await _seconds(loaded.ddms(a, b)) for a, b in loaded.zooms(7)]
    results[f"{label} zoom p95 ms"] = p95(zoom_s) * 1000
    line(
        f"{label}: zoom refetch p50 / p95 (ms)",
        f"{statistics.median(zoom_s) * 1000:.0f} / {p95(zoom_s) * 1000:.0f}",
        "",
        "",
    )
    return results


async def catch_up(loaded: Loaded, line: Callable[..., None]) -> dict[str, float]:
    """Time the 30-day view against its direct aggregate while the rollup job runs to completion."""
    start = loaded.end - timedelta(days=30)
    ddms, direct = loaded.ddms(start, loaded.end), loaded.direct(start, loaded.end)
    hold = WriterHold(db.current().engine.sync_engine) if loaded.backend.name == "sqlite" else None

    async def refresh() -> rollups.RefreshReport:
        async with db.session_scope() as session:
            return await rollups.refresh(session)

    started = time.perf_counter()
    job = asyncio.create_task(refresh())
    ratios: list[float] = []
    ddms_s: list[float] = []
    while not job.done():
        d = await _seconds(ddms)
        b = await _seconds(direct)
        ddms_s.append(d)
        ratios.append(b / d)
    report = await job
    took = time.perf_counter() - started
    if hold is not None:
        hold.close()
    line(
        f"catching up ({took:.0f} s, {report.transactions} chunks): 30-day view",
        f"{statistics.median(ddms_s) * 1000:.0f} ms",
        f"{len(ratios)} pairs",
        f"{min(ratios):.2f}-{max(ratios):.2f}x",
    )
    results = {"catch-up min ratio": min(ratios), "catch-up median ratio": statistics.median(ratios)}
    line("catching up: ratio median (min)", "", "", f"{statistics.median(ratios):.2f} ({min(ratios):.2f})x")
    if hold is not None and hold.samples:
        results["writer hold max ms"] = max(hold.samples) * 1000
        # (Until 2026-12-01 this line was labelled p99 but printed the 95th percentile.)
        line(
            "refresh transactions p50 / p99 / max (ms)",
            f"{statistics.median(hold.samples) * 1000:.0f} / {percentile(hold.samples, 0.99) * 1000:.0f}",
            f"{max(hold.samples) * 1000:.0f}",
            "",
        )
    return results


async def bench_loaded(
    backend: Any,
    rows: int,
    step: float,
    repeat: int,
    add_devices: Callable[[int], Awaitable[list[uuid.UUID]]],
    line: Callable[..., None],
) -> dict[str, float]:
    started = time.perf_counter()
    loaded = await load(backend, rows, step, add_devices)
    took = time.perf_counter() - started
    print(
        f"  loaded {rows:,} rows at {step:g} s in {took:.1f} s ({rows / took:,.0f} rows/s), no rollup run",
        flush=True,
    )
    line("measure", "DDMS", "direct SQL", "ratio")
    results = await views(loaded, repeat, "just loaded", line)
    results |= await catch_up(loaded, line)
    results |= await views(loaded, repeat, "rollups current", line)
    return results
