"""The wall display on a 1080p screen in Chromium (issue 12): 64 devices, one in warning.

The plant server (``tests.e2e.conftest``) runs the built-in simulator with 64 devices. The device
listed last, "Sim tank level", gets a warning threshold below its value, so without "alarms first" it
would be on the last page. (The simulated boiler has limits of its own it crosses now and then: it
may come before the tank.) The tile boxes, font sizes and pages are measured in the browser.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("plant")  # one 64-device plant server per run: its tests share a worker

SCREEN = {"width": 1920, "height": 1080}
MIN_VALUE_PX = 64

# One synchronous look at the wall: JavaScript runs between DOM updates, so a page that rotates
# while the test reads it is seen either before or after, never half of each.
MEASURE_JS = """() => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const tiles = [...document.querySelectorAll('.ddms-wall-grid > .ddms-tile')].map((tile) => {
    const value = tile.querySelector('.ddms-numeral');
    const alarm = tile.querySelector('[data-testid="alarm-look"]');
    return {id: tile.dataset.testid, level: tile.dataset.level, box: box(tile), value: box(value),
            font: parseFloat(getComputedStyle(value).fontSize), alarmed: alarm.offsetParent !== null};
  });
  const page = document.querySelector('.ddms-wall-page');
  return {tiles, page: page && page.offsetParent !== null ? page.textContent : '',
          width: innerWidth, height: innerHeight,
          scroll: [document.documentElement.scrollWidth, document.documentElement.scrollHeight]};
}"""


@pytest.fixture
def wall_server(plant_server: LiveServer) -> LiveServer:
    return plant_server


@pytest.fixture
def wall_token(plant_token: str) -> str:
    return plant_token


@pytest.fixture
async def wall_api(wall_server: LiveServer, wall_token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=wall_server.url, timeout=30, headers={"Authorization": f"Bearer {wall_token}"}
    ) as http:
        yield http


async def devices_by_name(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {device["name"]: device for device in (await api.get("/api/devices")).json()}


def inside(box: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        box["left"] >= outer["left"] - 0.5
        and box["top"] >= outer["top"] - 0.5
        and box["right"] <= outer["right"] + 0.5
        and box["bottom"] <= outer["bottom"] + 0.5
    )


def check_page(look: dict[str, Any]) -> None:
    """Every tile of the page on screen is whole inside the viewport, its number inside the tile."""
    screen = {"left": 0, "top": 0, "right": look["width"], "bottom": look["height"]}
    assert (look["width"], look["height"]) == (SCREEN["width"], SCREEN["height"])
    assert look["scroll"] == [SCREEN["width"], SCREEN["height"]], "nothing below the fold"
    assert look["tiles"], "a page shows tiles"
    for tile in look["tiles"]:
        assert inside(tile["box"], screen), tile
        assert inside(tile["value"], tile["box"]), f"the number is clipped: {tile}"
        assert tile["font"] >= MIN_VALUE_PX, tile


async def wall_page(browser: Browser, url: str) -> Page:
    context = await browser.new_context(viewport=SCREEN)  # type: ignore[arg-type]
    context.set_default_timeout(30_000)
    page = await context.new_page()
    await page.goto(url)
    return page


async def test_64_devices_fill_1080p_in_rotating_pages_with_the_warning_one_first(
    browser: Browser, wall_server: LiveServer, wall_api: httpx.AsyncClient
) -> None:
    devices = await devices_by_name(wall_api)
    last = max(devices)
    assert last == "Sim tank level", "the warning device is the one listed last"
    tank = devices[last]
    changed = await wall_api.put(
        f"/api/devices/{tank['id']}",
        json={
            "threshold_warning_upper": 10.0,
            "threshold_critical_upper": 10_000.0,
            "threshold_warning_lower": None,
            "threshold_critical_lower": None,
        },
    )
    assert changed.status_code == 200, changed.text

    steady = await wall_page(browser, wall_server.url + "/display?rotate=3600")
    try:
        tank_tile = steady.locator(f'[data-testid="tile-{tank["id"]}"]')
        await expect(tank_tile).to_have_attribute("data-level", "warning", timeout=45_000)
        await expect(steady.locator(".ddms-wall-page")).to_have_text("Page 1 of 3")
        look = await steady.evaluate(MEASURE_JS)
        check_page(look)
        ids = [tile["id"] for tile in look["tiles"]]
        assert f"tile-{tank['id']}" in ids, "the device in warning is on page 1"
        ahead = look["tiles"][: ids.index(f"tile-{tank['id']}")]
        assert all(t["level"] in ("critical", "warning") or t["alarmed"] for t in ahead), (
            "only alarms come before it (the simulated boiler crosses its limits now and then)"
        )
        assert len(look["tiles"]) == 22, "64 devices: three balanced pages (22, 21, 21)"
        await expect(steady.get_by_text("Connected", exact=True)).to_be_visible()
        clock = steady.locator(".ddms-wall-clock")
        await expect(clock).to_have_text(re.compile(r"\d{1,2}:\d{2}:\d{2}"))
        await expect(clock).not_to_have_text(await clock.inner_text())  # it ticks
    finally:
        await steady.context.close()

    rotating = await wall_page(browser, wall_server.url + "/display?rotate=2")
    try:
        await expect(rotating.locator(f'[data-testid="tile-{tank["id"]}"]')).to_be_visible()
        pages: dict[str, list[str]] = {}
        deadline = time.monotonic() + 60
        while len(pages) < 3:  # poll with a deadline: each page shows for 2 s
            assert time.monotonic() < deadline, f"pages seen: {sorted(pages)}"
            look = await rotating.evaluate(MEASURE_JS)
            if look["page"] and look["page"] not in pages:
                check_page(look)
                pages[look["page"]] = [tile["id"] for tile in look["tiles"]]
            await asyncio.sleep(0.3)
        assert sorted(pages) == ["Page 1 of 3", "Page 2 of 3", "Page 3 of 3"]
        shown = [tile for page in pages.values() for tile in page]
        assert sorted(shown) == sorted(f"tile-{device['id']}" for device in devices.values()), (
            "every device is on exactly one page"
        )
        assert f"tile-{tank['id']}" in pages["Page 1 of 3"]
    finally:
        await rotating.context.close()


async def test_a_group_wall_of_20_devices_is_one_page_with_values_of_64_px_or_more(
    browser: Browser, wall_server: LiveServer, wall_api: httpx.AsyncClient
) -> None:
    members = sorted((await devices_by_name(wall_api)).values(), key=lambda device: device["name"])[:20]
    made = await wall_api.post(
        "/api/groups", json={"name": "Twenty", "device_ids": [device["id"] for device in members]}
    )
    assert made.status_code == 201, made.text
    wall = await wall_page(browser, wall_server.url + f"/display/{made.json()['id']}")
    try:
        await expect(wall.locator(".ddms-wall-grid > .ddms-tile")).to_have_count(20)
        await expect(wall.locator(".ddms-wall-page")).to_be_hidden()
        look = await wall.evaluate(MEASURE_JS)
        check_page(look)
        assert sorted(tile["id"] for tile in look["tiles"]) == sorted(f"tile-{d['id']}" for d in members)
        assert min(tile["font"] for tile in look["tiles"]) >= MIN_VALUE_PX
    finally:
        await wall.context.close()
