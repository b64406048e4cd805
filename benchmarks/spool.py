"""Spool benchmark: what the durable spool costs per reading (append with fsync, read back, delete).

    .venv/bin/python -m benchmarks.spool [--readings 200000] [--batch 1000]

Measures ``Spool`` directly (the blocking calls the writer runs in a thread) and ``Writer.spill``
(the writer's path: the buffer in 1000-row chunks through ``asyncio.to_thread``), on the local disk
of a temporary directory. The figures are per reading, so they compare with the poll cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file: this script's folder would shadow the collector package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import ddms.main  # noqa: F401  (imports the services in a working order)
from collector.spool import Spool
from collector.writer import Writer
from ddms.bus import Bus


def bench_spool(path: Path, readings: int, batch: int) -> tuple[float, float]:
    devices = [uuid.uuid4() for _ in range(500)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(devices[i % 500], start + timedelta(microseconds=i), float(i)) for i in range(readings)]
    spool = Spool(path, 1 << 40)
    began = time.perf_counter()
    for i in range(0, readings, batch):
        spool.append_rows(rows[i : i + batch])
    append = time.perf_counter() - began
    began = time.perf_counter()
    while (chunk := spool.first()) is not None:
        spool.remove(chunk.id)
    drain = time.perf_counter() - began
    spool.close()
    return append / readings * 1e6, drain / readings * 1e6


async def bench_spill(path: Path, readings: int, batch: int) -> float:
    writer = Writer(Bus(), batch_size=batch, buffer_limit=readings, spool_path=path)
    await writer.open_spool()
    device = uuid.uuid4()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(readings):
        writer.add(device, start + timedelta(microseconds=i), float(i))
    began = time.perf_counter()
    assert await writer.spill()
    spent = time.perf_counter() - began
    assert writer.spool is not None
    writer.spool.close()
    return spent / readings * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        append, drain = bench_spool(Path(tmp) / "a.db", args.readings, args.batch)
        spill = asyncio.run(bench_spill(Path(tmp) / "b.db", args.readings, args.batch))
    sys.stdout.write(
        f"{args.readings} readings, {args.batch} a chunk: append {append:.2f} µs/reading (fsync per chunk), "
        f"read back + delete {drain:.2f} µs/reading, Writer.spill {spill:.2f} µs/reading\n"
    )


if __name__ == "__main__":
    main()
