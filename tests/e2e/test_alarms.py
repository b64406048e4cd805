"""An alarm in a real browser, end to end: a Modbus device crosses its critical limit, the real
collector's engine raises the alarm, the bell in the frame counts it (and the tab title), an operator
acknowledges it on /alarms, and the count drops.

The server is a ``ddms serve`` of its own, without the simulator (whose signals cross their limits
on their own schedule, so the count would not be ours alone). The device is a Modbus TCP server on
loopback whose register the test sets; every wait is on a condition in the page.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.collector.modbus_server import RawModbusServer, Unit
from tests.e2e.conftest import OWNER, OWNER_PASSWORD, VIEWPORT, LiveServer, logged_in_page, start_server

WAIT = 30_000  # ms: a few polls and writer flushes on a loaded machine


@pytest.fixture
async def device_server() -> AsyncIterator[RawModbusServer]:
    server = RawModbusServer()
    server.units[1] = Unit(registers={0: 20})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def alarm_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    server = await asyncio.to_thread(start_server, tmp_path)
    try:
        yield server
    finally:
        assert await asyncio.to_thread(server.stop) == 0, server.log()[-3000:]


async def owner_client(server: LiveServer) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        reply = await http.post("/api/auth/login", json={"username": OWNER, "password": OWNER_PASSWORD})
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    return httpx.AsyncClient(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"})


async def test_a_crossed_limit_rings_the_bell_until_acknowledged(
    browser: Browser, alarm_server: LiveServer, device_server: RawModbusServer
) -> None:
    async with await owner_client(alarm_server) as rest:
        made = await rest.post(
            "/api/devices",
            json={
                "name": "E2E boiler",
                "modbus_ip": "127.0.0.1",
                "modbus_port": device_server.port,
                "modbus_slave_id": 1,
                "modbus_register": 0,
                "data_type": "uint16",
                "unit": "°C",
                "sampling_interval": 1,
                "threshold_warning_upper": 70,
                "threshold_critical_upper": 90,
                "hysteresis": 1,
            },
        )
        assert made.status_code == 201, made.text
        device_id = made.json()["id"]

    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page: Page = await context.new_page()
        await logged_in_page(page, alarm_server)
        await page.goto(f"{alarm_server.url}/devices/{device_id}")
        card = page.locator(".ddms-card")
        await expect(card.get_by_test_id("value")).to_have_text("20", timeout=WAIT)  # polled, normal
        bell = page.get_by_test_id("alarm-count")
        await expect(bell).to_be_hidden()

        device_server.units[1].registers[0] = 95  # the device crosses its critical limit
        await expect(bell).to_have_text("1", timeout=WAIT)
        await expect(page).to_have_title(re.compile(r"^\(1\) "))
        await expect(card.get_by_test_id("alarm-look")).to_have_text("Critical alarm, not acknowledged")

        device_server.units[1].registers[0] = 20  # back to normal: the alarm clears, the card stays latched
        await expect(card.get_by_test_id("value")).to_have_text("20", timeout=WAIT)
        await expect(card.get_by_test_id("alarm-look")).to_have_text(
            "Critical alarm cleared, not acknowledged", timeout=WAIT
        )
        device_server.units[1].registers[0] = 96  # and again: a new alarm, still one to acknowledge
        await expect(card.get_by_test_id("alarm-look")).to_have_text(
            "Critical alarm, not acknowledged", timeout=WAIT
        )
        await expect(bell).to_have_text("1")

        await page.get_by_test_id("alarm-bell").click()
        drawer = page.get_by_test_id("notification-drawer")
        await expect(drawer.get_by_text("Critical limit crossed").first).to_be_visible()
        await drawer.get_by_role("link", name="All alarms").click()
        await page.wait_for_url(re.compile(r"/alarms$"))

        row = (
            page.get_by_test_id(re.compile(r"^alarm-"))
            .filter(has_text="E2E boiler")
            .filter(has_text="Active")
        )
        await expect(row).to_have_count(1)
        await row.get_by_role("button", name="Acknowledge").click()
        await page.get_by_label("Comment (optional)").fill("valve checked")
        await page.get_by_test_id("confirm-ack").click()
        await expect(row.get_by_text(f"Acknowledged by {OWNER}")).to_be_visible()
        await expect(bell).to_be_hidden()
        await expect(page).to_have_title(re.compile(r"^Alarms · "))
    finally:
        await context.close()

    async with await owner_client(alarm_server) as rest:
        listed = await rest.get("/api/alarms", params={"state": "active", "device_id": device_id})
    assert listed.status_code == 200, listed.text
    (alarm,) = listed.json()["alarms"]
    assert (alarm["acknowledged_by"], alarm["comment"], alarm["severity"]) == (
        OWNER,
        "valve checked",
        "critical",
    )
