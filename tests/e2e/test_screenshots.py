"""Screenshots of every main page, taken in the real browser against the live server.

Every run takes them (so a page that fails to render fails here) into the run's temporary directory;
``make screenshots`` (``DDMS_UPDATE_SCREENSHOTS=1``) also writes them to ``docs/screenshots/`` for the README.
Each must be a real PNG under 300 KB.
"""

from __future__ import annotations

import math
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import insert

import ddms.db
from ddms.models import Reading
from tests.e2e.conftest import (
    PLANT_DEVICES,
    REPO,
    VIEWPORT,
    LiveServer,
    logged_in_page,
)

pytestmark = pytest.mark.xdist_group("plant")  # one 64-device plant server per run: its tests share a worker

DOCS = REPO / "docs" / "screenshots"
MAX_BYTES = 300 * 1024
WALL = {"width": 1920, "height": 1080}
UPDATE = os.environ.get("DDMS_UPDATE_SCREENSHOTS", "") in ("1", "true", "yes")  # noqa: TID251


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


async def snap(page: Page, shots: Path, name: str) -> None:
    """Let live values and charts settle, take the viewport, check it, keep it."""
    await page.wait_for_load_state("networkidle")
    await page.wait_for_timeout(1200)
    path = shots / f"{name}.png"
    data = await page.screenshot(path=str(path), animations="disabled")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < len(data) < MAX_BYTES, f"{name}.png is {len(data)} bytes"
    if UPDATE:
        DOCS.mkdir(parents=True, exist_ok=True)
        (DOCS / path.name).write_bytes(data)


@pytest.fixture(scope="module")
def plant_group(api: httpx.Client) -> dict[str, object]:
    sim = [d["id"] for d in api.get("/api/devices").json() if d["name"].startswith("Sim ")]
    made = api.post(
        "/api/groups",
        json={"name": "Boiler house", "description": "Boiler, pumps and tank", "device_ids": sim[:5]},
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


async def test_screenshots_of_the_signed_in_pages(
    page: Page, live_server: LiveServer, shots: Path, plant_group: dict[str, object], rest: httpx.AsyncClient
) -> None:
    await page.goto(live_server.url + "/login")
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    await snap(page, shots, "login")

    await logged_in_page(page, live_server)
    await page.goto(live_server.url + "/")
    await expect(page.locator(".ddms-card").filter(has_text="Sim boiler temperature")).to_be_visible()

    await page.goto(live_server.url + "/devices")
    await expect(page.get_by_role("button", name="Add device")).to_be_visible()
    await snap(page, shots, "devices")
    await page.get_by_role("button", name="Add device").click()
    await expect(page.locator(".q-dialog").get_by_text("Modbus connection")).to_be_visible()
    await snap(page, shots, "device-form")
    await page.keyboard.press("Escape")

    await page.goto(f"{live_server.url}/groups/{plant_group['id']}")
    await expect(page.get_by_text("Boiler house").first).to_be_visible()
    await snap(page, shots, "group")

    await page.goto(live_server.url + "/users")
    await snap(page, shots, "users")
    await page.goto(live_server.url + "/settings")
    await snap(page, shots, "settings")


async def test_screenshot_of_the_chinese_dashboard(
    browser: Browser, live_server: LiveServer, shots: Path, rest: httpx.AsyncClient
) -> None:
    made = await rest.post(
        "/api/users",
        json={
            "username": "zhang_wei",
            "password": "zhang-password-1",
            "role": "read_only",
            "language_preference": "zh",
        },
    )
    assert made.status_code == 201, made.text
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        await page.goto(live_server.url + "/login")
        await page.get_by_role("button", name="中文").click()
        await page.get_by_label("用户名").fill("zhang_wei")
        await page.get_by_label("密码", exact=True).fill("zhang-password-1")
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url(lambda url: "/login" not in url)
        await expect(page.get_by_text("仪表盘", exact=True).first).to_be_visible()
        await snap(page, shots, "dashboard-zh")
    finally:
        await context.close()


async def seed_history(plant: LiveServer, devices: dict[str, str]) -> None:
    """Six hours before the server started, as a plant has them: a reading every 10 s, a one-sample
    spike on the boiler, and 70 minutes in which nothing arrived (written as the collector writes)."""
    now = datetime.now(UTC).replace(microsecond=0)
    spike, gap = (
        now - timedelta(hours=2, minutes=20),
        (now - timedelta(hours=4), now - timedelta(hours=2, minutes=50)),
    )
    database = ddms.db.Database(f"sqlite+aiosqlite:///{plant.data_dir / 'ddms.db'}")
    rows = []
    for name, (base, swing) in {
        "Sim boiler temperature": (65.0, 6.0),
        "Sim line pressure": (4.2, 0.4),
    }.items():
        for step in range(1, 6 * 360):
            moment = now - timedelta(seconds=10 * step)
            if gap[0] <= moment < gap[1] or moment > now - timedelta(seconds=20):
                continue
            value = base + swing * math.sin(step / 90)
            if name == "Sim boiler temperature" and moment == spike:
                value = 93.5
            rows.append({"device_id": uuid.UUID(devices[name]), "timestamp": moment, "value": value})
    try:
        async with database.engine.begin() as conn:
            await conn.execute(insert(Reading), rows)
    finally:
        await database.dispose()


async def test_screenshots_at_plant_scale(
    browser: Browser, plant_server: LiveServer, plant_token: str, shots: Path
) -> None:
    """For the README: 64 devices on the dashboard and the wall display, a history chart with its
    min/max envelope, a one-sample spike and a gap, two devices compared, the decode assistant."""
    plant = plant_server
    headers = {"Authorization": f"Bearer {plant_token}"}
    async with httpx.AsyncClient(base_url=plant.url, timeout=30, headers=headers) as rest:
        listed = (await rest.get("/api/devices")).json()
    devices = {d["name"]: d["id"] for d in listed}
    assert len(devices) == PLANT_DEVICES, sorted(devices)
    await seed_history(plant, devices)
    moment = datetime.now(UTC).replace(microsecond=0)
    seeded_from = (moment - timedelta(hours=6, minutes=10)).isoformat().replace("+00:00", "Z")
    seeded_to = moment.isoformat().replace("+00:00", "Z")

    context = await browser.new_context(viewport=WALL)  # type: ignore[arg-type]
    try:
        wall = await context.new_page()
        await wall.goto(plant.url + "/display")
        await expect(wall.locator(".ddms-tile").first).to_be_visible()
        await expect(wall.get_by_text("Page 1 of", exact=False)).to_be_visible()
        await snap(wall, shots, "wall-display")
    finally:
        await context.close()

    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page = await logged_in_page(await context.new_page(), plant)
        await page.goto(plant.url + "/")
        await expect(page.get_by_text(f"of {PLANT_DEVICES} devices")).to_be_visible()
        await snap(page, shots, "dashboard")

        boiler, pressure = devices["Sim boiler temperature"], devices["Sim line pressure"]
        window = f"from={seeded_from}&to={seeded_to}"
        await page.goto(f"{plant.url}/devices/{boiler}?{window}")
        chart = page.get_by_test_id("history-chart")
        await expect(chart).to_be_visible()
        await chart.scroll_into_view_if_needed()
        await snap(page, shots, "device-history")

        await page.goto(f"{plant.url}/compare?devices={boiler},{pressure}&{window}")
        await expect(page.locator(".nicegui-echart")).to_be_visible()
        await snap(page, shots, "compare")

        await page.goto(plant.url + "/devices")
        await page.get_by_role("button", name="Add device").click()
        dialog = page.locator(".q-dialog")
        await dialog.get_by_label("IP address or host").fill("127.0.0.1")
        await dialog.get_by_label("Port", exact=True).fill(str(plant.simulator_port))
        await dialog.get_by_label("Register", exact=True).fill("2")  # the line pressure, float32 CDAB
        await dialog.get_by_label("Register count").fill("2")
        await dialog.get_by_role("button", name="Test connection").click()
        assistant = dialog.get_by_test_id("decode-assistant")
        await expect(dialog.get_by_text("Connection OK", exact=False)).to_be_visible()
        await assistant.scroll_into_view_if_needed()
        await snap(page, shots, "decode-assistant")
    finally:
        await context.close()
