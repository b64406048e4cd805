"""UI latency and cost: bus → value shown in a real browser, for 1 and 20 connected Chromium clients.

What runs:
  * a DDMS server subprocess (``create_app``, embedded SQLite, collector off) with N devices (200) and
    an injector that publishes one reading per device per second into the bus, spread evenly over
    the second, exactly where the collector publishes (``get_bus().publish_reading``);
  * each reading's value is its publication time in epoch milliseconds modulo 10**6, so a browser can
    compute "shown at minus entered the bus" with the same host clock (no correlation table needed);
  * headless Chromium clients (one browser context each, signed in) open the page and a
    MutationObserver timestamps every change of a value label.

Measured for each page and client count: p50/p99/max latency, the share of readings that reached
each client, and the server process's CPU (psutil) per connected client above the idle injector.

Baseline, measured in the same run and server: ``/_bench/bare``, a page of N plain ``ui.label``s
that a bus listener updates the moment a reading is published (no timer, no cards, no charts).
It is the floor of NiceGUI's push path (bus callback → websocket → Vue → DOM) on this machine; the
dashboard's figures are printed beside it as ratios.

Run: ``.venv/bin/python benchmarks/ui.py [--devices 200] [--clients 1,20] [--seconds 15]``

First render and browser CPU (``--render``): for each device count (200, then 1000, a fresh server
each, the injector on), each page of ``RENDER_PAGES`` is opened ``--repeats`` times in a fresh 1920x1080
tab and timed from navigation start to its first screen of values (the browser's ``performance.now()``;
the server's part is the first byte), then the last tab stays open for the CPU window: all Chromium
processes' CPU and the server's per second of wall time. Ratios are against the 200-device run; the
baseline ``/login`` (a form, no devices) is what any NiceGUI page costs to load on this machine. A
page is added with one function (``render_<page>(page, url, devices) -> ms``) and one entry.

Run: ``.venv/bin/python benchmarks/ui.py --render [--render-devices 200,1000] [--pages login,display]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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
MODULUS = 1_000_000

# Browser side: record (shown_at - published_at) for every value label whose number changes, and
# count the characters the page receives over its websockets (NiceGUI's socket.io messages).
OBSERVER_JS = """(selector) => {
  window.__lat = [];
  window.__received = 0;
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', (e) => {
      const data = e.data;
      window.__received += typeof data === 'string' ? data.length : (data.byteLength || data.size || 0);
    });
    return socket;
  };
  Object.assign(window.WebSocket, Native);
  window.WebSocket.prototype = Native.prototype;
  const last = new WeakMap();
  const seen = (el) => {
    if (!el || !el.matches || !el.matches(selector)) return;
    const digits = (el.textContent || '').replace(/[^0-9]/g, '');
    if (!digits || last.get(el) === digits) return;
    last.set(el, digits);
    const now = Math.round(performance.timeOrigin + performance.now()) % %MOD%;
    window.__lat.push((now - Number(digits) + %MOD%) % %MOD%);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      const node = r.target.nodeType === 3 ? r.target.parentElement : r.target;
      seen(node);
      if (node && node.closest) seen(node.closest(selector));
    }
  }).observe(document, {subtree: true, childList: true, characterData: true});
  for (const el of document.querySelectorAll(selector)) {
    last.set(el, (el.textContent || '').replace(/[^0-9]/g, ''));
  }
}""".replace("%MOD%", str(MODULUS))


# ------------------------------------------------------------------------------------------------
# server side (runs in the subprocess: ``ui.py --serve``)
# ------------------------------------------------------------------------------------------------
def serve(port: int, data_dir: Path, count: int) -> None:
    """DDMS with the collector off, N devices, the injector and the bare baseline page."""
    import uvicorn
    from nicegui import app as nicegui_app
    from nicegui import context, ui

    from ddms import db
    from ddms.bus import LatestValue, get_bus
    from ddms.config import load_settings
    from ddms.i18n import format_number
    from ddms.main import create_app
    from ddms.schemas.devices import DeviceCreate
    from ddms.services import devices

    ids: list = []

    @ui.page("/_bench/bare")
    def bare_page() -> None:
        labels = {}
        with ui.grid(columns=10):
            for device_id in ids:
                labels[device_id] = ui.label("—").classes("bench-value")

        def on_event(event: object) -> None:
            if isinstance(event, LatestValue) and event.device_id in labels:
                labels[event.device_id].set_text(format_number(event.value))

        context.client.on_delete(get_bus().listen(on_event))

    async def inject() -> None:
        while db.current_or_none() is None:  # noqa: ASYNC110 - the app's lifespan configures it
            await asyncio.sleep(0.05)
        async with db.session_scope() as session:
            existing = await devices.list_devices(session=session)
            for i in range(len(existing), count):
                await devices.create_device(
                    session=session,
                    data=DeviceCreate(
                        name=f"Bench {i:03d}",
                        modbus_ip="127.0.0.1",
                        modbus_port=1,
                        modbus_slave_id=1,
                        modbus_register=i,
                        unit="u",
                        sampling_interval=3600,
                    ),
                )
            rows = (await devices.list_devices(session=session))[:count]
        ids.extend(row.id for row in rows)
        names = {row.id: row.name for row in rows}
        bus, start, k = get_bus(), time.monotonic(), 0
        while True:
            if not running.is_set():  # paused while the driver opens or closes browsers
                await running.wait()
                start, k = time.monotonic(), 0
            delay = start + k / len(ids) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            device_id = ids[k % len(ids)]
            stamp = float(int(time.time() * 1000) % MODULUS)
            bus.publish_reading(
                LatestValue(device_id, datetime.now(UTC), stamp, "normal", "online", names[device_id], "u")
            )
            k += 1

    running = asyncio.Event()

    def set_injection(state: str) -> dict[str, bool]:
        running.set() if state == "on" else running.clear()
        return {"running": running.is_set()}

    nicegui_app.add_api_route("/_bench/inject/{state}", set_injection, methods=["POST"])
    tasks: list[asyncio.Task[None]] = []
    nicegui_app.on_startup(lambda: tasks.append(asyncio.create_task(inject())))
    settings = load_settings(
        ddms_data_dir=data_dir,
        collector_enabled=False,
        cookie_secure=False,
        ddms_owner_password=OWNER_PASSWORD,
        jwt_secret_key="bench-" + "z" * 40,
        host="127.0.0.1",
        port=port,
        log_level="WARNING",
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


# ------------------------------------------------------------------------------------------------
# driver side
# ------------------------------------------------------------------------------------------------
@dataclass
class Result:
    page: str
    clients: int
    samples: int
    expected: int
    p50: float
    p99: float
    worst: float
    cpu_cores: float
    per_client: float
    reloads: int = 0  # pages NiceGUI reloaded during the window (socket lost under overload)
    browser_cores: float = 0.0  # CPU of all Chromium processes over the window, in cores
    kib_per_client: float = 0.0  # websocket data each browser received, KiB/s


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def cpu_seconds(process: object) -> float:
    times = process.cpu_times()  # type: ignore[attr-defined]
    return float(times.user + times.system)


def browser_cpu_seconds() -> float:
    """CPU time of every Chromium process this driver started (through playwright's driver)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name():
                total += cpu_seconds(child)
        except psutil.Error:
            continue
    return total


async def wait_ready(url: str, count: int, process: subprocess.Popen[bytes]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for _ in range(600):
            if process.poll() is not None:
                raise SystemExit(f"the benchmark server exited with {process.returncode}")
            try:
                if (await http.get("/api/health")).status_code == 200:
                    token = (
                        await http.post(
                            "/api/auth/login", json={"username": "admin", "password": OWNER_PASSWORD}
                        )
                    ).json()["access_token"]
                    listed = await http.get("/api/devices", headers={"Authorization": f"Bearer {token}"})
                    if len(listed.json()) >= count:
                        return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("server did not become ready")


def dashboard_drawn(count: int) -> int:
    """How many of ``count`` devices the dashboard draws at first (one page of its default view);
    only their readings reach the browser, so only they are expected."""
    from pages.dashboard import LIST_FROM, PAGE_SIZE

    return min(count, PAGE_SIZE["list" if count > LIST_FROM else "cards"])


async def open_client(browser: object, url: str, selector: str, state: dict, count: int) -> tuple:
    """One signed-in browser context with the observer armed before any page script runs."""
    ctx = await browser.new_context(storage_state=state, viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    await ctx.add_init_script(f"({OBSERVER_JS})({json.dumps(selector)})")
    page = await ctx.new_page()
    loads = [0]
    page.on("load", lambda _page: loads.__setitem__(0, loads[0] + 1))
    await page.goto(url, timeout=180_000)
    await page.wait_for_function(
        f"document.querySelectorAll({json.dumps(selector)}).length >= {count}", timeout=180_000
    )
    return ctx, page, loads


async def inject(url: str, on: bool) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        reply = await http.post(f"/_bench/inject/{'on' if on else 'off'}")
        reply.raise_for_status()


async def measure(
    browser: object,
    url: str,
    path: str,
    selector: str,
    state: dict,
    clients: int,
    count: int,
    seconds: float,
    warmup: float,
    server: object,
    idle: float,
) -> Result:
    """Open the clients while the injector is paused, then publish, warm up and measure."""
    drawn = count if path != "/" else dashboard_drawn(count)  # the dashboard draws one page
    opened = [await open_client(browser, url + path, selector, state, drawn) for _ in range(clients)]
    await inject(url, on=True)
    await asyncio.sleep(warmup)
    window_start = time.monotonic()
    for _ctx, page, _loads in opened:
        with contextlib.suppress(Exception):  # a page reloading now starts with an empty list anyway
            await page.evaluate("window.__lat.length = 0; window.__received = 0")
    loads_before = sum(loads[0] for _ctx, _page, loads in opened)
    cpu_before, wall_before, browsers_before = cpu_seconds(server), time.monotonic(), browser_cpu_seconds()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - wall_before
    cpu_cores = (cpu_seconds(server) - cpu_before) / elapsed
    browser_cores = (browser_cpu_seconds() - browsers_before) / elapsed
    reloads = sum(loads[0] for _ctx, _page, loads in opened) - loads_before
    await inject(url, on=False)
    latencies: list[float] = []
    received = 0
    for _ctx, page, _loads in opened:
        try:
            received += await page.evaluate("window.__received")
            latencies += await page.evaluate("window.__lat.splice(0)")
        except Exception as exc:  # a page reloading right now: its samples are lost (and counted)
            print(f"  lost one client's samples: {exc.__class__.__name__}")
    window = time.monotonic() - window_start
    for ctx, _page, _loads in opened:
        await ctx.close()
    return Result(
        path,
        clients,
        len(latencies),
        int(drawn * window * clients),
        statistics.median(latencies) if latencies else float("nan"),
        percentile(latencies, 0.99),
        max(latencies, default=0.0),
        cpu_cores,
        (cpu_cores - idle) / clients,
        reloads,
        browser_cores,
        received / window / clients / 1024,
    )


@contextlib.asynccontextmanager
async def bench_server(devices: int) -> AsyncIterator[tuple[str, Any]]:
    """The benchmark server (``--serve``) with ``devices`` devices, ready: (url, its psutil process)."""
    import psutil

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            __file__,
            "--serve",
            "--port",
            str(port),
            "--data-dir",
            tmp,
            "--devices",
            str(devices),
        ]
        process = subprocess.Popen(command, cwd=REPO)  # noqa: ASYNC220 - started once, before measuring
        try:
            await wait_ready(url, devices, process)
            yield url, psutil.Process(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)


async def idle_cpu(url: str, server: Any, seconds: float) -> float:
    """The server's CPU (cores) with the injector on and no browser."""
    await inject(url, on=True)
    cpu_before, wall_before = cpu_seconds(server), time.monotonic()
    await asyncio.sleep(seconds)
    idle = (cpu_seconds(server) - cpu_before) / (time.monotonic() - wall_before)
    await inject(url, on=False)
    return idle


async def signed_in_state(browser: Any, url: str) -> dict:
    """The storage state (session cookie) of a browser that logged in as the owner."""
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


async def drive(args: argparse.Namespace) -> list[Result]:
    from playwright.async_api import async_playwright

    async with bench_server(args.devices) as (url, server):
        idle = await idle_cpu(url, server, args.seconds)
        print(f"server CPU with the injector and no browser: {idle * 100:.1f} % of one core")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            state = await signed_in_state(browser, url)
            results = []
            for path, selector in (("/_bench/bare", ".bench-value"), ("/", "[data-testid=value]")):
                for clients in args.clients:
                    result = await measure(
                        browser,
                        url,
                        path,
                        selector,
                        state,
                        clients,
                        args.devices,
                        args.seconds,
                        args.warmup,
                        server,
                        idle,
                    )
                    print(json.dumps(result.__dict__))
                    results.append(result)
            await browser.close()
        return results


# ------------------------------------------------------------------------------------------------
# first render and browser CPU (``--render``): one function per page
# ------------------------------------------------------------------------------------------------
RENDER_SCREEN = {"width": 1920, "height": 1080}

# Resolves once every tile of the wall's first page is in the DOM and shows a number; the answer is
# the time since the navigation started (ms, the browser's own clock).
DISPLAY_RENDERED_JS = """(expected) => {
  const values = document.querySelectorAll('.ddms-wall-grid > .ddms-tile .ddms-numeral');
  if (values.length < expected) return false;
  for (const value of values) { if (!/[0-9]/.test(value.textContent || '')) return false; }
  return performance.now();
}"""


async def render_display(page: Any, url: str, devices: int) -> float:
    """``/display`` at 1920x1080: navigation start -> the first page's tiles all showing a value."""
    from pages.components import wall_layout

    shape = wall_layout.fit(devices, *wall_layout.grid_area(RENDER_SCREEN["width"], RENDER_SCREEN["height"]))
    first_page = len(wall_layout.paginate(list(range(devices)), shape.per_page)[0])  # type: ignore[arg-type]
    await page.goto(url + "/display", timeout=180_000)
    done = await page.wait_for_function(DISPLAY_RENDERED_JS, arg=first_page, polling="raf", timeout=180_000)
    return float(await done.json_value())


async def render_login(page: Any, url: str, devices: int) -> float:
    """Baseline: ``/login``, a NiceGUI page of a few inputs, to its form (what any page costs to load)."""
    await page.context.clear_cookies()  # signed in, /login would forward to the dashboard
    await page.goto(url + "/login", timeout=180_000)
    done = await page.wait_for_function(
        "() => document.querySelector('input[type=password]') && performance.now()", polling="raf"
    )
    return float(await done.json_value())


# Resolves once the dashboard's first page (cards or list rows) is drawn and every one shows a number.
DASHBOARD_RENDERED_JS = """(expected) => {
  const values = document.querySelectorAll('[data-testid=value]');
  if (values.length < expected) return false;
  for (const value of values) { if (!/[0-9]/.test(value.textContent || '')) return false; }
  return performance.now();
}"""


async def render_dashboard(page: Any, url: str, devices: int) -> float:
    """``/`` signed in: navigation start -> its first page (24 cards or 100 rows) showing values."""
    await page.goto(url + "/", timeout=180_000)
    done = await page.wait_for_function(
        DASHBOARD_RENDERED_JS, arg=dashboard_drawn(devices), polling="raf", timeout=180_000
    )
    return float(await done.json_value())


# name -> (what the report calls it, the function); a page is added with one function and one line.
RENDER_PAGES: dict[str, tuple[str, Callable[[Any, str, int], Awaitable[float]]]] = {
    "login": ("baseline: /login", render_login),
    "display": ("wall display (/display)", render_display),
    "dashboard": ("dashboard (/)", render_dashboard),
}
FIRST_BYTE_JS = "() => performance.getEntriesByType('navigation')[0].responseStart"


@dataclass
class RenderResult:
    page: str
    devices: int
    first_render_ms: float  # median over the repeats
    renders_ms: list[float]
    first_byte_ms: float  # the server's answer to the page request (median): its share of the render
    browser_cores: float  # CPU of all Chromium processes per second of wall time, page open and idle
    server_cores: float  # the server process over the same window (injector on)
    idle_server_cores: float  # the server with the injector on and no browser


async def measure_render(
    browser: Any, url: str, name: str, state: dict, devices: int, args: argparse.Namespace
) -> tuple[list[float], float, float]:
    """``repeats`` fresh tabs timed to their first render; the last one stays open for the CPU window."""
    _label, render = RENDER_PAGES[name]
    renders, first_bytes = [], []
    for attempt in range(args.repeats):
        ctx = await browser.new_context(storage_state=state, viewport=RENDER_SCREEN)
        page = await ctx.new_page()
        renders.append(await render(page, url, devices))
        first_bytes.append(float(await page.evaluate(FIRST_BYTE_JS)))
        if attempt < args.repeats - 1:
            await ctx.close()
    await asyncio.sleep(args.warmup)
    before, wall_before = browser_cpu_seconds(), time.monotonic()
    await asyncio.sleep(args.seconds)
    browser_cores = (browser_cpu_seconds() - before) / (time.monotonic() - wall_before)
    await ctx.close()
    return renders, statistics.median(first_bytes), browser_cores


async def drive_render(args: argparse.Namespace) -> list[RenderResult]:
    from playwright.async_api import async_playwright

    results = []
    for devices in args.render_devices:
        async with bench_server(devices) as (url, server):
            idle = await idle_cpu(url, server, args.seconds)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                state = await signed_in_state(browser, url)
                await inject(url, on=True)  # readings flow during the renders and the CPU windows
                for name in args.pages:
                    cpu_before, wall_before = cpu_seconds(server), time.monotonic()
                    renders, first_byte, browser_cores = await measure_render(
                        browser, url, name, state, devices, args
                    )
                    server_cores = (cpu_seconds(server) - cpu_before) / (time.monotonic() - wall_before)
                    result = RenderResult(
                        name,
                        devices,
                        statistics.median(renders),
                        renders,
                        first_byte,
                        browser_cores,
                        server_cores,
                        idle,
                    )
                    print(json.dumps(result.__dict__))
                    results.append(result)
                await browser.close()
            await inject(url, on=False)
    return results


def report_render(results: list[RenderResult]) -> None:
    base_count = min(r.devices for r in results)
    base = {r.page: r for r in results if r.devices == base_count}
    print(
        f"\nFirst render (navigation -> first screen of values, median) and CPU per second of wall time"
        f"\nwith the page open, 1 reading/device/s; ratios against the {base_count}-device run"
    )
    print(
        f"{'page':<26}{'devices':>8}{'render ms':>11}{'1st byte':>10}{'browser CPU':>13}{'server CPU':>12}"
        f"{'idle server':>13}{'render x':>10}{'browser x':>11}"
    )
    for r in results:
        b = base[r.page]
        render_x = r.first_render_ms / b.first_render_ms
        browser_x = r.browser_cores / max(b.browser_cores, 1e-9)
        print(
            f"{RENDER_PAGES[r.page][0]:<26}{r.devices:>8}{r.first_render_ms:>11.0f}{r.first_byte_ms:>10.0f}"
            f"{r.browser_cores * 100:>11.1f} %{r.server_cores * 100:>10.1f} %"
            f"{r.idle_server_cores * 100:>11.1f} %{render_x:>9.2f}x{browser_x:>10.2f}x"
        )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average at the end {load} (all processes)")


def report(results: list[Result], devices: int) -> None:
    base = {r.clients: r for r in results if r.page == "/_bench/bare"}
    print(f"\nUI latency, {devices} devices x 1 reading/s, bus publish -> value in the browser DOM")
    print(
        f"{'page':<22}{'clients':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'delivered':>11}"
        f"{'CPU/client':>12}{'p99 vs base':>13}{'CPU vs base':>13}{'reloads':>9}{'browsers':>10}"
        f"{'KiB/s/client':>14}"
    )
    for r in results:
        b = base.get(r.clients)
        name = "baseline: bare labels" if r.page == "/_bench/bare" else "dashboard (/)"
        ratio_p99 = f"{r.p99 / b.p99:.2f}x" if b and b.p99 else "-"
        ratio_cpu = f"{r.per_client / b.per_client:.2f}x" if b and b.per_client > 0 else "-"
        delivered = r.samples / max(r.expected, 1)
        print(
            f"{name:<22}{r.clients:>8}{r.p50:>9.0f}{r.p99:>9.0f}{r.worst:>9.0f}{delivered:>10.0%}"
            f"{r.per_client * 100:>10.1f} %{ratio_p99:>13}{ratio_cpu:>13}{r.reloads:>9}"
            f"{r.browser_cores * 100:>8.0f} %{r.kib_per_client:>14.0f}"
        )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average at the end {load} (all processes)")
    dash = [r for r in results if r.page == "/"]
    if dash:
        worst = max(r.p99 for r in dash)
        verdict = "met" if worst < 500 else "NOT met"
        print(f"\ntarget p99 < 500 ms: {verdict} (worst dashboard p99 {worst:.0f} ms)")
        if len(dash) > 1:
            print(
                f"per-client CPU, {dash[0].clients} -> {dash[-1].clients} clients: "
                f"{dash[0].per_client * 100:.1f} % -> {dash[-1].per_client * 100:.1f} % of one core"
            )


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--clients", type=_ints, default=[1, 5, 20])
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement window per case")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--render", action="store_true", help="first render and browser CPU per page")
    parser.add_argument("--render-devices", type=_ints, default=[200, 1000], help="with --render")
    parser.add_argument(
        "--pages", type=lambda s: s.split(","), default=list(RENDER_PAGES), help="with --render"
    )
    parser.add_argument("--repeats", type=int, default=3, help="with --render: first renders timed per page")
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.data_dir, args.devices)
        return
    if args.render:
        report_render(asyncio.run(drive_render(args)))
        return
    report(asyncio.run(drive(args)), args.devices)


if __name__ == "__main__":
    main()
