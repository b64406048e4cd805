"""Chinese labels after switching the language, and the public wall display (no login)."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import VIEWPORT, LiveServer, logged_in_page

NUMBER = re.compile(r"^-?[\d,.]+$")


async def test_switching_to_chinese_shows_chinese_labels_and_is_remembered(
    page: Page, live_server: LiveServer, rest: httpx.AsyncClient
) -> None:
    made = await rest.post(
        "/api/users",
        json={
            "username": "linguist",
            "password": "linguist-password-1",
            "role": "admin",
            "language_preference": "en",
        },
    )
    assert made.status_code == 201, made.text
    await logged_in_page(page, live_server, "linguist", "linguist-password-1")
    await page.goto(live_server.url + "/devices")
    await expect(page.get_by_role("button", name="Add device")).to_be_visible()

    await page.get_by_role("button", name="English").click()
    # The open menu's item: the phone drawer holds a hidden "中文" item of its own.
    await page.locator(".q-menu").get_by_text("中文", exact=True).click()
    await expect(page.get_by_role("button", name="添加设备")).to_be_visible()
    await expect(page.get_by_text("仪表盘", exact=True)).to_be_visible()
    await expect(page.get_by_text("Dashboard", exact=True)).to_have_count(0)
    await expect(page.get_by_role("button", name="Add device")).to_have_count(0)

    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        login = await http.post(
            "/api/auth/login", json={"username": "linguist", "password": "linguist-password-1"}
        )
        me = (
            await http.get(
                "/api/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
            )
        ).json()
    assert me["language_preference"] == "zh", "the choice is saved on the account"


async def test_login_page_offers_chinese_before_signing_in(page: Page, live_server: LiveServer) -> None:
    await page.goto(live_server.url + "/login")
    await page.get_by_role("button", name="中文").click()
    await expect(page.get_by_role("button", name="登录")).to_be_visible()
    await expect(page.get_by_label("用户名")).to_be_visible()


async def test_wall_display_shows_live_values_without_logging_in(
    browser: Browser, live_server: LiveServer
) -> None:
    assert live_server.simulator
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        wall = await context.new_page()
        await wall.goto(live_server.url + "/display")
        assert "/login" not in wall.url
        tile = wall.locator(".ddms-tile").filter(has_text="Sim energy meter")
        value = tile.locator(".ddms-numeral")
        await expect(value).to_have_text(NUMBER, timeout=20_000)
        first = await value.inner_text()
        await expect(value).not_to_have_text(first, timeout=15_000)
        await expect(wall.locator(".ddms-tile").filter(has_text="Sim boiler temperature")).to_be_visible()
        for control in ("Edit", "Delete", "Add device", "Log out"):
            await expect(wall.get_by_role("button", name=control)).to_have_count(0)
    finally:
        await context.close()
