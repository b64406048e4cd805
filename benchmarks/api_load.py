"""Load generators of benchmarks/api.py: raw asyncio keep-alive connections, or wrk when installed.

The asyncio client writes one pre-built request and reads the answer by its Content-Length (or
chunks) on each of ``concurrency`` connections: tens of microseconds per request on uvloop, so on a
2-core machine it takes a small share of a core even at a few thousand requests per second.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

WARM_UP_SECONDS = 0.5


@dataclass
class Result:
    """One measured point; ``cpu_seconds`` is the server's, filled in by the caller."""

    count: int
    elapsed: float
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    given_percentiles: tuple[float, float, float] | None = None
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def percentiles(self) -> tuple[float, float, float]:
        """p50, p95, p99 in milliseconds."""
        if self.given_percentiles is not None:
            return self.given_percentiles
        ordered = sorted(self.latencies) or [0.0]
        cut = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
        return 1000 * cut[49], 1000 * cut[94], 1000 * cut[98]


def request_bytes(path: str, token: str | None, accept: str = "application/json") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: {accept}\r\n{auth}\r\n".encode()


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one whole answer; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        await reader.readexactly(int(lower[at + 17 : end]))
    elif b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return int(head[9:12])


async def load(
    port: int,
    path: str,
    token: str | None,
    concurrency: int,
    seconds: float,
    requests: int | None = None,
) -> Result:
    """``concurrency`` keep-alive connections in a closed loop for ``seconds`` (or ``requests`` in all)."""
    message = request_bytes(path, token)
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0

    async def worker(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, until: float, quota: int, record: bool
    ) -> None:
        nonlocal errors
        done = 0
        while done < quota and time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(message)
            status = await read_response(reader)
            if record:
                latencies.append(time.perf_counter() - started)
                errors += status != 200
            done += 1

    try:
        warm = time.perf_counter() + WARM_UP_SECONDS
        await asyncio.gather(*(worker(r, w, warm, 1 << 30, False) for r, w in connections))
        quota = -(-requests // concurrency) if requests else 1 << 30
        until = time.perf_counter() + seconds if not requests else float("inf")
        started = time.perf_counter()
        await asyncio.gather(*(worker(r, w, until, quota, True) for r, w in connections))
        elapsed = time.perf_counter() - started
    finally:
        for _, writer in connections:
            writer.close()
    return Result(len(latencies), elapsed, errors, latencies)


WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "errors": %d, "status": %d, '
    .. '"p50": %d, "p95": %d, "p99": %d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


async def wrk_load(url: str, token: str | None, concurrency: int, seconds: float) -> Result:
    """The same point measured by wrk (one thread, so it leaves the second core to the server)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "report.lua"
        script.write_text(WRK_SCRIPT)
        headers = ["-H", f"Authorization: Bearer {token}"] if token else []
        base = ["wrk", "-t1", f"-c{concurrency}", "--timeout", "10s", *headers, "-s", str(script), url]
        await _wrk([*base[:3], "-d1s", *base[3:]])  # warm-up
        figures = await _wrk([*base[:3], f"-d{max(1, round(seconds))}s", *base[3:]])  # whole seconds only
    p = (figures["p50"] / 1000, figures["p95"] / 1000, figures["p99"] / 1000)
    return Result(
        figures["requests"],
        figures["duration_us"] / 1e6,
        figures["errors"] + figures["status"],
        given_percentiles=p,
    )


async def _wrk(command: list[str]) -> dict[str, int]:
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    output, _ = await process.communicate()
    for line in output.decode().splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line.removeprefix("RESULT ")))
    raise RuntimeError(f"wrk gave no result: {output.decode()}")


async def sse_first_frame(port: int, path: str, repeat: int) -> list[float]:
    """Milliseconds from opening a connection to the end of the first ``data:`` frame, ``repeat`` times."""
    times = []
    message = request_bytes(path, None, accept="text/event-stream")
    for _ in range(repeat):
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(message)
        data = b""
        while b"\n\n" not in data.partition(b"\r\n\r\n")[2].partition(b"data: ")[2]:
            chunk = await reader.read(65536)
            if not chunk:
                raise RuntimeError("stream closed before its first frame")
            data += chunk
        times.append(1000 * (time.perf_counter() - started))
        writer.close()
        await asyncio.sleep(0.05)
    return times
