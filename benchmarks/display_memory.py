"""Server memory while wall-display tabs come and go (issue 11: "4.6 MB/min, not returned").

What runs:
  * ``ddms serve --simulator`` as a subprocess: a fresh data directory (embedded SQLite), free ports,
    ``SIMULATOR_DEVICES`` devices (64) polled every second, PUBLIC_STREAM left at its default (true),
    so ``/display`` needs no sign-in. It is started through this file (``--serve``), which runs the
    very same ``ddms.cli.main(["serve", ...])`` plus a probe thread: every few seconds it writes how
    many NiceGUI clients the server holds (``Client.instances``) to a file the driver reads. With
    ``--trace`` the probe starts tracemalloc at "start" and, at the end, writes where the memory
    allocated since then and still alive was allocated (diagnosis only: tracing costs memory and
    CPU, so those runs' figures are not comparable to untraced ones);
  * headless Chromium (Debian's) with two ``/display`` tabs open all the time, each in its own
    browser context; every ``--rotate`` seconds (60) the older one is closed and a new one opened,
    so tabs keep coming and going; ``--dashboard`` adds one signed-in dashboard tab that stays open.

Every ``--sample`` seconds (30) the server process's memory is read with psutil (USS, the memory
only this process holds, when the platform gives it; RSS otherwise) with the number of NiceGUI
clients. "Start" is the sample after ``--warmup`` minutes (2) with the tabs open: first imports,
compiled templates and caches fill then, and are not a leak. Reported: start, end, peak, growth per
minute over the last half of the run (a least-squares slope), and end minus start against the
target (within 10 MB after 30 minutes).

Run: ``.venv/bin/python benchmarks/display_memory.py [--minutes 30] [--devices 64] [--dashboard]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == REPO / "benchmarks":
    sys.path[0] = str(REPO)  # `collector` is the package, not the benchmarks/collector.py script
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
OWNER_PASSWORD = "bench-owner-password"  # noqa: S105 - a throwaway data directory
JWT_SECRET = "bench-secret-" + "z" * 40
TARGET_MB = 10.0
PROBE_SECONDS = 5.0
TRACE_FRAMES = 8
MB = 1024 * 1024


# ------------------------------------------------------------------------------------------------
# server side (``--serve``): ddms serve plus the probe thread
# ------------------------------------------------------------------------------------------------
def _probe(out: Path, requests: Path) -> None:
    """Write the NiceGUI client count every few seconds; pass the driver's tracing requests on.

    A thread, so it needs no hook in the app: ``len()`` of a dict is safe under the GIL. The requests
    are files in ``requests``: ``start.req`` starts tracemalloc (so only what is allocated from then
    on is traced, and start-up is not slowed), ``end.req`` has ``_dump`` write ``end.txt``. The dump
    runs on the server's event loop (it stops the loop for its duration: diagnosis only), because
    a ``gc.collect()`` in this thread would run the finalizers of loop-bound objects here.
    """
    import tracemalloc

    from nicegui import Client, core

    while True:
        line = {"t": time.time(), "clients": len(Client.instances)}
        out.write_text(json.dumps(line), encoding="utf-8")
        if (requests / "start.req").exists():
            (requests / "start.req").unlink()
            tracemalloc.start(TRACE_FRAMES)
        if (requests / "end.req").exists() and tracemalloc.is_tracing():
            (requests / "end.req").unlink()
            core.loop.call_soon_threadsafe(_dump, requests)  # type: ignore[union-attr]
        time.sleep(PROBE_SECONDS)


def _dump(requests: Path) -> None:
    """``end.txt``: what was allocated since "start" and is still alive, by traceback, largest first."""
    import tracemalloc

    unreachable = gc.collect()  # cycles not collected yet are garbage, not left behind
    kinds = Counter(type(obj).__qualname__ for obj in gc.get_objects() if _is_nicegui(obj))
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    )
    tracemalloc.stop()
    stats = snapshot.statistics("traceback")
    text = [
        f"gc.collect() freed {unreachable} objects first",
        f"NiceGUI objects alive by type: {dict(kinds.most_common(8))}",
        f"alive since start: {sum(s.size for s in stats) / 1024:.0f} KiB in {len(stats)} places",
    ]
    for stat in stats[:20]:
        text.append(f"{stat.size / 1024:.0f} KiB, {stat.count} blocks")
        text.extend(f"    {frame}" for frame in stat.traceback.format(limit=TRACE_FRAMES))
    (requests / "end.part").write_text("\n".join(text), encoding="utf-8")
    (requests / "end.part").replace(requests / "end.txt")  # the driver never reads half of it


def _is_nicegui(obj: object) -> bool:
    module = vars(type(obj)).get("__module__")  # classes' own attribute, never a descriptor
    return isinstance(module, str) and module.startswith("nicegui.")


def serve(port: int, probe_dir: Path) -> None:
    from ddms.cli import main as ddms_main

    requests = probe_dir / "requests"
    requests.mkdir(parents=True, exist_ok=True)
    thread = threading.Thread(target=_probe, args=(probe_dir / "clients.json", requests), daemon=True)
    thread.start()
    sys.exit(ddms_main(["serve", "--simulator", "--host", "127.0.0.1", "--port", str(port)]))


# ------------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    minute: float
    mb: float
    clients: int
    tabs: int


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_mb(process: Any) -> tuple[float, str]:
    """USS when psutil can read it (Linux), else RSS."""
    try:
        return process.memory_full_info().uss / MB, "USS"
    except (AttributeError, OSError):
        return process.memory_info().rss / MB, "RSS"


def clients_now(probe_dir: Path) -> int:
    try:
        return int(json.loads((probe_dir / "clients.json").read_text(encoding="utf-8"))["clients"])
    except (OSError, ValueError, KeyError):
        return -1


async def wait_ready(url: str, devices: int, process: subprocess.Popen[bytes]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for _ in range(600):
            if process.poll() is not None:
                raise SystemExit(f"the benchmark server exited with {process.returncode}")
            with contextlib.suppress(httpx.TransportError, ValueError, KeyError):
                login = {"username": "admin", "password": OWNER_PASSWORD}
                token = (await http.post("/api/auth/login", json=login)).json()["access_token"]
                listed = await http.get("/api/devices", headers={"Authorization": f"Bearer {token}"})
                if len(listed.json()) >= devices:
                    return
            await asyncio.sleep(0.5)
    raise SystemExit("server did not become ready")


@contextlib.asynccontextmanager
async def bench_server(args: argparse.Namespace, tmp: Path) -> Any:
    import psutil

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp / "data"
    data_dir.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()  # noqa: TID251 - the server child inherits it
        if key.upper() not in ("DATABASE_URL", "DDMS_ENV", "HOST", "PORT", "PUBLIC_STREAM")
    }
    env |= {
        "DDMS_DATA_DIR": str(data_dir),
        "COOKIE_SECURE": "false",
        "DDMS_OWNER_PASSWORD": OWNER_PASSWORD,
        "JWT_SECRET_KEY": JWT_SECRET,
        "SIMULATOR_PORT": str(free_port()),
        "SIMULATOR_DEVICES": str(args.devices),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, __file__, "--serve", "--port", str(port), "--probe-dir", str(tmp)]
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
    try:
        await wait_ready(url, args.devices, process)
        yield url, psutil.Process(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        errors = [line for line in log_path.read_text(errors="replace").splitlines() if "Traceback" in line]
        if errors:
            print(f"server log has {len(errors)} tracebacks; last lines:")
            print("\n".join(log_path.read_text(errors="replace").splitlines()[-20:]))


async def signed_in_state(browser: Any, url: str) -> dict[str, Any]:
    ctx = await browser.new_context()
    page = await ctx.new_page()
    await page.goto(url + "/login")
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(lambda u: "/login" not in u, wait_until="commit")
    state = await ctx.storage_state()
    await ctx.close()
    return dict(state)


async def open_tab(browser: Any, url: str, path: str, state: dict[str, Any] | None = None) -> Any:
    from playwright.async_api import Error as PlaywrightError

    """One tab in its own context (its own cookies and socket), loaded until its tiles show."""
    ctx = await browser.new_context(storage_state=state, viewport={"width": 1920, "height": 1080})
    page = await ctx.new_page()
    try:
        await page.goto(url + path, timeout=120_000)
        await page.wait_for_selector(".ddms-numeral", timeout=120_000)
    except PlaywrightError as exc:  # a loaded machine: the tab stays (it may still come up), counted
        print(f"  a {path} tab did not show values in time: {exc.__class__.__name__}", flush=True)
    return ctx


async def request_snapshot(probe_dir: Path, name: str) -> None:
    (probe_dir / "requests" / f"{name}.req").write_text("", encoding="utf-8")


def slope_per_minute(samples: list[Sample]) -> float:
    """Least-squares MB/min of ``samples`` (0 with fewer than two)."""
    if len(samples) < 2:
        return 0.0
    xs = [s.minute for s in samples]
    ys = [s.mb for s in samples]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


async def drive(args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        async with bench_server(args, tmp) as (url, server), async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            fixed = []
            if args.dashboard:
                fixed.append(await open_tab(browser, url, "/", await signed_in_state(browser, url)))
            tabs = [await open_tab(browser, url, "/display") for _ in range(args.tabs)]
            began = time.monotonic()
            warm_until = began + args.warmup * 60
            end = warm_until + args.minutes * 60
            next_rotate = began + args.rotate if args.tabs else float("inf")
            next_sample = began
            samples: list[Sample] = []
            kind = "RSS"
            opened = closed = 0
            print(f"warm-up {args.warmup:g} min with the tabs open (not counted), then {args.minutes:g} min")
            print(f"{'min':>6}{'MB':>9}{'clients':>9}{'tabs':>6}")
            while True:
                now = time.monotonic()
                if now >= next_sample:
                    mb, kind = memory_mb(server)
                    minute = (now - warm_until) / 60
                    sample = Sample(minute, mb, clients_now(tmp), len(tabs) + len(fixed))
                    samples.append(sample)
                    mark = " (warm-up)" if minute < 0 else ""
                    print(f"{minute:>6.1f}{mb:>9.1f}{sample.clients:>9}{sample.tabs:>6}{mark}", flush=True)
                    next_sample += args.sample
                    if args.trace and minute >= 0 and len([s for s in samples if s.minute >= 0]) == 1:
                        await request_snapshot(tmp, "start")
                if now >= end:
                    break
                if now >= next_rotate and tabs:
                    await tabs.pop(0).close()
                    closed += 1
                    tabs.append(await open_tab(browser, url, "/display"))
                    opened += 1
                    next_rotate += args.rotate
                await asyncio.sleep(max(0.1, min(next_sample, next_rotate, end) - time.monotonic()))
            for ctx in tabs + fixed:
                await ctx.close()
            await browser.close()
            # NiceGUI deletes a closed tab's client after its reconnect timeout (10 s).
            await asyncio.sleep(PROBE_SECONDS * 2 + 12)
            after_mb, _kind = memory_mb(server)
            after_clients = clients_now(tmp)
            trace = tmp / "requests" / "end.txt"
            if args.trace:  # after the tabs are gone: what is traced now was left behind
                await request_snapshot(tmp, "end")
                for _ in range(900):  # snapshotting a traced heap takes minutes on a busy machine
                    if trace.exists():
                        break
                    await asyncio.sleep(1)
            trace_text = trace.read_text(encoding="utf-8") if trace.exists() else ""
        report(samples, kind, opened, closed, after_mb, after_clients, args)
        if trace_text:
            print("\ntracemalloc, allocated since start and alive at the end:\n" + trace_text)


def report(
    samples: list[Sample],
    kind: str,
    opened: int,
    closed: int,
    after_mb: float,
    after_clients: int,
    args: argparse.Namespace,
) -> None:
    measured = [s for s in samples if s.minute >= 0]
    if not measured:
        print("no sample after the warm-up")
        return
    start, last = measured[0], measured[-1]
    peak = max(measured, key=lambda s: s.mb)
    half = [s for s in measured if s.minute >= last.minute / 2]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nserver memory ({kind}), {args.devices} simulated devices, {args.tabs} /display tabs", end="")
    print(" + a dashboard tab" if args.dashboard else "", end="")
    print(f", one replaced every {args.rotate:g} s ({opened} opened and {closed} closed after the first two)")
    print(
        f"'start' is after a {args.warmup:g}-minute warm-up with the tabs open (imports, caches: not a leak)"
    )
    print(f"start {start.mb:.1f} MB, end {last.mb:.1f} MB (minute {last.minute:.1f}), peak {peak.mb:.1f} MB")
    print(f"growth over the last half: {slope_per_minute(half):+.3f} MB/min")
    print(f"all tabs closed: {after_mb:.1f} MB, NiceGUI clients left {after_clients}")
    diff = last.mb - start.mb
    verdict = "met" if diff <= TARGET_MB else "NOT met"
    print(f"end - start {diff:+.1f} MB against the target of {TARGET_MB:g} MB: {verdict}")
    if args.trace:
        print("(tracemalloc was on: figures inflated by tracing, for diagnosis only)")
    print(f"machine: {os.cpu_count()} CPUs, load average at the end {load} (all processes)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--probe-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--minutes", type=float, default=30.0, help="measured minutes after the warm-up")
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes with the tabs open before 'start'")
    parser.add_argument("--devices", type=int, default=64, help="SIMULATOR_DEVICES")
    parser.add_argument("--tabs", type=int, default=2, help="/display tabs kept open (0: the server alone)")
    parser.add_argument("--rotate", type=float, default=60.0, help="seconds between replacing a tab")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between memory samples")
    parser.add_argument("--dashboard", action="store_true", help="also keep a signed-in dashboard tab open")
    parser.add_argument(
        "--trace", action="store_true", help="tracemalloc from start to end: what is still alive"
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.probe_dir)
        return
    asyncio.run(drive(args))


if __name__ == "__main__":
    main()
