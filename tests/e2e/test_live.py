"""Live data in a real browser, fed by the built-in Modbus simulator through the real collector:
dashboard values change without a reload, and a device added through the form comes online."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import LiveServer, logged_in_page
from tests.e2e.test_devices import add_device_through_the_form

NUMBER = re.compile(r"^-?[\d,.]+$")


@pytest.fixture
def simulated(live_server: LiveServer) -> LiveServer:
    assert live_server.simulator, "ddms serve has --simulator, so the live server runs with it"
    return live_server


async def test_dashboard_values_change_without_a_reload(page: Page, simulated: LiveServer) -> None:
    await logged_in_page(page, simulated)
    await page.goto(simulated.url + "/")
    card = page.locator(".ddms-card").filter(has_text="Sim energy meter")  # +5 kWh per second
    value = card.locator(".ddms-numeral")
    await expect(value).to_have_text(NUMBER, timeout=20_000)
    first = await value.inner_text()
    await expect(value).not_to_have_text(first, timeout=15_000)
    second = await value.inner_text()
    assert float(second.replace(",", "")) > float(first.replace(",", "")), "a counter only grows"
    await expect(card.get_by_text("Online")).to_be_visible()
    url_before = page.url
    await expect(page.locator(".ddms-card").filter(has_text="Sim boiler temperature")).to_be_visible()
    assert page.url == url_before


async def test_device_made_in_the_form_comes_online(
    page: Page, simulated: LiveServer, rest: httpx.AsyncClient
) -> None:
    await logged_in_page(page, simulated)
    await page.goto(simulated.url + "/devices")
    assert simulated.simulator_port is not None
    # unit 4, register 0: the simulator's motor speed (uint16, rpm)
    await add_device_through_the_form(
        page, "Motor via form", simulated.simulator_port, 0, slave_id=4, unit="rpm"
    )
    made = next(d for d in (await rest.get("/api/devices")).json() if d["name"] == "Motor via form")

    await page.goto(f"{simulated.url}/devices/{made['id']}")
    card = page.locator(".ddms-card")
    await expect(card.get_by_text("Online")).to_be_visible(timeout=20_000)
    await expect(card.locator(".ddms-numeral")).to_have_text(NUMBER)
    latest = await rest.get(f"/api/devices/{made['id']}/latest")
    assert latest.status_code == 200, latest.text
    assert latest.json()["status"] == "normal"
    assert 1350 <= latest.json()["value"] <= 1550, "the simulated motor turns at 1450 ± 30 rpm"
