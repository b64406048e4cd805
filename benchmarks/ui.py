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

Case ``dashboard`` (``--case dashboard [--sizes 200,1000] [--runs 5]``): the dashboard's first render in
Chromium with 200 and with 1000 devices (a server per size, injector paused): time from navigation to the
first page of cards or rows drawn, the DOM's element count, and the time from typing a search to the
list redrawn. The dashboard draws one page (24 cards or 100 list rows), so 1000 devices should cost
about what 200 do.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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


def dashboard_drawn(count: int) -> int:
    """How many of ``count`` devices the dashboard draws at first (one page of its default view);
    only their readings reach the browser, so only they are expected."""
    from pages.dashboard import LIST_FROM, PAGE_SIZE

    return min(count, PAGE_SIZE["list" if count > LIST_FROM else "cards"])


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


async def drive(args: argparse.Namespace) -> list[Result]:
    import psutil
    from playwright.async_api import async_playwright

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
            str(args.devices),
        ]
        process = subprocess.Popen(command, cwd=REPO)  # noqa: ASYNC220 - started once, before measuring
        try:
            await wait_ready(url, args.devices, process)
            server = psutil.Process(process.pid)
            await inject(url, on=True)
            cpu_before, wall_before = cpu_seconds(server), time.monotonic()
            await asyncio.sleep(args.seconds)
            idle = (cpu_seconds(server) - cpu_before) / (time.monotonic() - wall_before)
            await inject(url, on=False)
            print(f"server CPU with the injector and no browser: {idle * 100:.1f} % of one core")
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                ctx = await browser.new_context()
                page = await ctx.new_page()
                await page.goto(url + "/login")
                await page.get_by_label("Username").fill("admin")
                await page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
                await page.get_by_role("button", name="Log in").click()
                await page.wait_for_url(lambda u: "/login" not in u)
                state = await ctx.storage_state()
                await ctx.close()
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
        finally:
            process.terminate()
            process.wait(timeout=30)


@dataclass
class Render:
    devices: int
    first_ms: list[float]
    elements: int
    drawn: int
    search_ms: list[float]
    profile_ms: list[float]


ITEMS = "[data-testid^=device-card-], [data-testid^=list-row-]"


async def start_server(count: int, tmp: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        __file__,
        "--serve",
        "--port",
        str(port),
        "--data-dir",
        tmp,
        "--devices",
        str(count),
    ]
    process = subprocess.Popen(command, cwd=REPO)  # noqa: ASYNC220 - started once per size, before measuring
    try:
        await wait_ready(url, count, process)
    except BaseException:
        process.terminate()
        raise
    return url, process


async def sign_in_state(browser: object, url: str) -> dict:
    ctx = await browser.new_context()  # type: ignore[attr-defined]
    page = await ctx.new_page()
    await page.goto(url + "/login")
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(lambda u: "/login" not in u)
    state = await ctx.storage_state()
    await ctx.close()
    return dict(state)


async def render_once(
    browser: object, url: str, state: dict, count: int
) -> tuple[float, int, int, float, float]:
    """One fresh tab: navigation → first page drawn (ms), elements, items drawn, search → redrawn (ms),
    and the same tab's /profile render (ms): the frame's own cost on this machine right now."""
    ctx = await browser.new_context(storage_state=state, viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    page = await ctx.new_page()
    started = time.perf_counter()
    await page.goto(url + "/", wait_until="commit", timeout=180_000)
    await page.wait_for_selector(ITEMS, timeout=180_000)
    first = (time.perf_counter() - started) * 1000
    await page.wait_for_load_state("networkidle")
    elements = await page.evaluate("document.querySelectorAll('*').length")
    drawn = await page.evaluate(f"document.querySelectorAll({json.dumps(ITEMS)}).length")
    search = float("nan")  # a dashboard without search (an older build run for comparison)
    if await page.get_by_label("Search by name").count():
        started = time.perf_counter()
        await page.get_by_label("Search by name").fill("Bench 001")  # one device left (both sizes)
        await page.wait_for_function(f"document.querySelectorAll({json.dumps(ITEMS)}).length === 1")
        search = (time.perf_counter() - started) * 1000
    started = time.perf_counter()  # the reference: a signed-in page with the same frame, no devices
    await page.goto(url + "/profile", wait_until="commit", timeout=180_000)
    await page.wait_for_selector("[data-testid=page-title]", timeout=180_000)
    reference = (time.perf_counter() - started) * 1000
    await ctx.close()
    return first, int(elements), int(drawn), search, reference


async def dashboard_case(args: argparse.Namespace) -> list[Render]:
    from playwright.async_api import async_playwright

    results = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for count in args.sizes:
            with tempfile.TemporaryDirectory() as tmp:
                url, process = await start_server(count, tmp)
                try:
                    state = await sign_in_state(browser, url)
                    await render_once(browser, url, state, count)  # warm-up: imports, caches
                    runs = [await render_once(browser, url, state, count) for _ in range(args.runs)]
                finally:
                    process.terminate()
                    process.wait(timeout=30)
            firsts, searches, profiles = ([r[i] for r in runs] for i in (0, 3, 4))
            result = Render(count, firsts, runs[-1][1], runs[-1][2], searches, profiles)
            print(json.dumps(result.__dict__))
            results.append(result)
        await browser.close()
    return results


def report_dashboard(results: list[Render]) -> None:
    print("\nDashboard first render in Chromium (fresh tab, signed in; median and worst of the runs)")
    head = f"{'devices':>8}{'first p50 ms':>14}{'first max ms':>14}{'elements':>10}{'drawn':>7}"
    print(head + f"{'search p50 ms':>15}{'/profile p50 ms':>17}")
    for r in results:
        print(
            f"{r.devices:>8}{statistics.median(r.first_ms):>14.0f}{max(r.first_ms):>14.0f}{r.elements:>10}"
            f"{r.drawn:>7}{statistics.median(r.search_ms):>15.0f}{statistics.median(r.profile_ms):>17.0f}"
        )
    if len(results) > 1:
        small, large = results[0], results[-1]
        ratio = statistics.median(large.first_ms) / statistics.median(small.first_ms)
        print(f"first render, {small.devices} -> {large.devices} devices: {ratio:.2f}x")
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 5, 20])
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement window per case")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--case", choices=("latency", "dashboard"), default="latency")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[200, 1000])
    parser.add_argument("--runs", type=int, default=5, help="dashboard case: fresh tabs per size")
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.data_dir, args.devices)
        return
    if args.case == "dashboard":
        report_dashboard(asyncio.run(dashboard_case(args)))
        return
    report(asyncio.run(drive(args)), args.devices)


if __name__ == "__main__":
    main()
