"""Screenshots of every main page, taken in the real browser against the live server.

Every run takes them (so a page that fails to render fails here) into the run's temporary directory;
``DDMS_UPDATE_SCREENSHOTS=1 make e2e`` also writes them to ``docs/screenshots/`` for the README.
Each must be a real PNG under 300 KB.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import REPO, VIEWPORT, LiveServer, logged_in_page

DOCS = REPO / "docs" / "screenshots"
MAX_BYTES = 300 * 1024
HISTORY_SECONDS = 150.0
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
    await snap(page, shots, "dashboard")

    await page.goto(live_server.url + "/devices")
    await expect(page.get_by_role("button", name="Add device")).to_be_visible()
    await snap(page, shots, "devices")
    await page.get_by_role("button", name="Add device").click()
    await expect(page.locator(".q-dialog").get_by_text("Modbus connection")).to_be_visible()
    await snap(page, shots, "device-form")
    await page.keyboard.press("Escape")

    if UPDATE:  # for the README: a couple of minutes of history (the boiler's sine has a 120 s period)
        await asyncio.sleep(max(0.0, HISTORY_SECONDS - (time.monotonic() - live_server.started_at)))
    boiler = next(d for d in (await rest.get("/api/devices")).json() if d["name"] == "Sim boiler temperature")
    await page.goto(f"{live_server.url}/devices/{boiler['id']}")
    await page.get_by_role("button", name="1 h").click()
    await expect(page.locator(".nicegui-echart").last).to_be_visible()
    await page.mouse.wheel(0, 360)
    await snap(page, shots, "device-history")

    await page.goto(f"{live_server.url}/groups/{plant_group['id']}")
    await expect(page.get_by_text("Boiler house").first).to_be_visible()
    await snap(page, shots, "group")

    await page.goto(live_server.url + "/users")
    await snap(page, shots, "users")
    await page.goto(live_server.url + "/settings")
    await snap(page, shots, "settings")


async def test_screenshots_of_the_wall_display_and_the_chinese_dashboard(
    browser: Browser, live_server: LiveServer, shots: Path, rest: httpx.AsyncClient
) -> None:
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        wall = await context.new_page()
        await wall.goto(live_server.url + "/display")
        await expect(wall.locator(".ddms-tile").first).to_be_visible()
        await snap(wall, shots, "wall-display")
    finally:
        await context.close()

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
