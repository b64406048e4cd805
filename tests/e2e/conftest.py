"""Browser fixtures: ``ddms serve`` as a real subprocess on a free port, and one headless Chromium.

This directory runs as its own pytest invocation (``make e2e``); it never loads NiceGUI's testing
plugins. The server is the installed command with a fresh data directory (embedded SQLite), plain-HTTP
cookies and a known owner password; when ``ddms serve`` offers ``--simulator`` it is started with the
built-in Modbus simulator so live values flow. Chromium is Debian's (``/usr/bin/chromium``), driven by
the ``playwright`` package's async API (the tests share pytest-asyncio's session loop). A missing
Chromium skips the browser tests locally and fails them in CI (``CI=true``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.conftest import backend_unavailable

# Debian's Chromium; DDMS_CHROMIUM points elsewhere (e.g. /usr/bin/chromium-browser on Ubuntu).
CHROMIUM = Path(os.environ.get("DDMS_CHROMIUM", "/usr/bin/chromium"))  # noqa: TID251
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
OWNER = "admin"
OWNER_PASSWORD = "owner-password-1"
JWT_SECRET = "e2e-secret-" + "y" * 40
REPO = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT = 60.0
VIEWPORT = {"width": 1280, "height": 800}
# The machine running these may be busy (2 shared cores): give assertions the actions' patience.
expect.set_options(timeout=15_000)


def free_port() -> int:
    """A port nobody listens on right now (bind port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_help() -> str:
    """``ddms serve --help``: tells which options this build has (e.g. ``--simulator``)."""
    done = subprocess.run(
        [sys.executable, "-m", "ddms", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    return done.stdout


def simulator_available() -> bool:
    return "--simulator" in serve_help()


@dataclass
class LiveServer:
    """A running ``ddms serve`` process and what a test needs to talk to it."""

    url: str
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    simulator: bool
    simulator_port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def stop(self, timeout: float = 20.0) -> int:
        """SIGINT (what Ctrl-C sends), the way uvicorn shuts down gracefully; kill if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                raise AssertionError(
                    f"ddms serve did not stop within {timeout} s\n{self.log()[-3000:]}"
                ) from None
        return int(self.process.returncode)


def start_server(
    tmp: Path,
    *,
    simulator: bool = False,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
    simulator_port: int | None = None,
) -> LiveServer:
    """Start ``python -m ddms serve`` on a free port (or ``port``) and wait until /api/health answers."""
    port = port or free_port()
    data_dir = tmp / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()  # noqa: TID251
        if key.upper() not in ("DATABASE_URL", "DDMS_ENV", "HOST", "PORT")
    }
    env |= {
        "DDMS_DATA_DIR": str(data_dir),
        "COOKIE_SECURE": "false",
        "DDMS_OWNER_PASSWORD": OWNER_PASSWORD,
        "JWT_SECRET_KEY": JWT_SECRET,
        "SSE_INTERVAL": "1",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    env |= extra_env or {}
    command = [sys.executable, "-m", "ddms", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if simulator:
        simulator_port = simulator_port or free_port()
        command.append("--simulator")
        env["SIMULATOR_PORT"] = str(simulator_port)
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(
        f"http://127.0.0.1:{port}", port, data_dir, log_path, process, simulator, simulator_port, env
    )
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"ddms serve exited with {process.returncode}\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/api/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(
        f"ddms serve did not answer /api/health within {BOOT_TIMEOUT} s\n{server.log()[-3000:]}"
    )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the whole e2e run (with the simulator when the build has it)."""
    server = start_server(tmp_path_factory.mktemp("live"), simulator=simulator_available())
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, f"ddms serve exited with {code}\n{server.log()[-3000:]}"


PLANT_DEVICES = 64  # the wall display and dashboard at plant scale


@pytest.fixture(scope="session")
def plant_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second server, with 64 simulated devices (``SIMULATOR_DEVICES``); the shared one keeps the
    documented eight."""
    server = start_server(
        tmp_path_factory.mktemp("plant"), simulator=True, extra_env={"SIMULATOR_DEVICES": str(PLANT_DEVICES)}
    )
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, f"ddms serve exited with {code}\n{server.log()[-3000:]}"


@pytest.fixture(scope="session")
def plant_token(plant_server: LiveServer) -> str:
    """The owner's token on the plant server, once the simulator's devices are all added."""
    with plant_server.client() as http:
        login = http.post("/api/auth/login", json={"username": OWNER, "password": OWNER_PASSWORD})
        assert login.status_code == 200, login.text
        token = str(login.json()["access_token"])
        deadline = time.monotonic() + 60
        headers = {"Authorization": f"Bearer {token}"}
        while len(http.get("/api/devices", headers=headers).json()) < PLANT_DEVICES:
            assert time.monotonic() < deadline, "the simulator's devices did not appear"
            time.sleep(0.2)
    return token


@pytest.fixture(scope="session")
def owner_token(live_server: LiveServer) -> str:
    """One REST login as the owner for the whole run (bcrypt runs once)."""
    with live_server.client() as http:
        reply = http.post("/api/auth/login", json={"username": OWNER, "password": OWNER_PASSWORD})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


@pytest.fixture(scope="session")
def api(live_server: LiveServer, owner_token: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in as the owner."""
    with live_server.client(headers={"Authorization": f"Bearer {owner_token}"}) as http:
        yield http


@pytest.fixture(scope="session")
async def rest(live_server: LiveServer, owner_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """The owner's HTTP client for async (browser) tests."""
    async with httpx.AsyncClient(
        base_url=live_server.url, timeout=30, headers={"Authorization": f"Bearer {owner_token}"}
    ) as http:
        yield http


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the run; each test gets its own context (cookies, storage)."""
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (once per run, before the loop is busy)
        backend_unavailable(
            f"Chromium not found at {CHROMIUM} (apt-get install chromium, or `make chromium`)"
        )
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport=VIEWPORT, accept_downloads=True)  # type: ignore[arg-type]
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Remember each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
async def page(
    context: BrowserContext, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Page]:
    """A fresh tab; when the test fails, its screenshot is kept under the run's temporary directory."""
    tab = await context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and not tab.is_closed():
        shot = tmp_path_factory.getbasetemp() / "failures" / f"{request.node.name}.png"
        shot.parent.mkdir(exist_ok=True)
        await tab.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot} (page {tab.url})")  # noqa: T201


async def login(
    page: Page,
    server: LiveServer,
    username: str = OWNER,
    password: str = OWNER_PASSWORD,
    path: str = "/login",
) -> None:
    """Fill the login form the way a person does (labels, the button text)."""
    await page.goto(server.url + path)
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Log in").click()


async def logged_in_page(
    page: Page, server: LiveServer, username: str = OWNER, password: str = OWNER_PASSWORD
) -> Page:
    """Log in and wait until the browser has left the login page."""
    await login(page, server, username, password)
    await page.wait_for_url(lambda url: "/login" not in url)
    return page


VIEWER = "viewer"
VIEWER_PASSWORD = "viewer-password-1"


@pytest.fixture(scope="session")
def viewer(api: httpx.Client) -> str:
    """A read-only account (created once through the REST API, as the owner would)."""
    made = api.post(
        "/api/users",
        json={
            "username": VIEWER,
            "password": VIEWER_PASSWORD,
            "role": "read_only",
            "language_preference": "en",
        },
    )
    assert made.status_code == 201, made.text
    return VIEWER


@pytest.fixture(scope="session")
def parked_device(api: httpx.Client) -> dict[str, object]:
    """A device nobody polls (port 1), so there is always a row with edit controls to look for."""
    made = api.post(
        "/api/devices",
        json={
            "name": "Parked gauge",
            "modbus_ip": "127.0.0.1",
            "modbus_port": 1,
            "modbus_slave_id": 1,
            "modbus_register": 7,
            "unit": "kPa",
            "sampling_interval": 3600,
        },
    )
    assert made.status_code == 201, made.text
    return dict(made.json())
