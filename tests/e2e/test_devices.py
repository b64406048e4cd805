"""The device form in a real browser: an engineer adds a device and sees it listed (and, with the
built-in simulator running, sees it come online)."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect

from tests.e2e.conftest import LiveServer, logged_in_page


async def fill(page: Page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    await field.fill(value)
    await field.blur()


async def add_device_through_the_form(
    page: Page,
    name: str,
    port: int,
    register: int,
    *,
    slave_id: int = 1,
    unit: str = "°C",
    scale: str | None = None,
    warning_high: str | None = None,
    critical_high: str | None = None,
) -> None:
    """Fill the add-device dialog field by field (labels as a person reads them) and save it."""
    await page.get_by_role("button", name="Add device").click()
    dialog = page.locator(".q-dialog")
    await expect(dialog.get_by_text("Add device")).to_be_visible()
    await fill(page, "Name", name)
    await fill(page, "Unit", unit)
    await fill(page, "IP address or host", "127.0.0.1")
    await fill(page, "Port", str(port))
    await fill(page, "Slave ID", str(slave_id))
    await fill(page, "Register", str(register))
    await fill(page, "Sampling interval (s)", "1")
    for label, value in (("Scale", scale), ("Warning high", warning_high), ("Critical high", critical_high)):
        if value is not None:
            await fill(page, label, value)
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_have_count(0)


async def test_engineer_adds_a_device_through_the_form(
    page: Page, live_server: LiveServer, rest: httpx.AsyncClient
) -> None:
    await logged_in_page(page, live_server)
    await page.goto(live_server.url + "/devices")
    port = live_server.simulator_port or 1  # port 1: nothing listens, the device stays offline
    # the simulator's unit 3, register 0: ambient temperature in tenths of a degree
    await add_device_through_the_form(
        page, "Form-made sensor", port, 0, slave_id=3, scale="0.1", warning_high="80", critical_high="95"
    )

    await expect(page.get_by_text("Device 'Form-made sensor' saved")).to_be_visible()
    await expect(page.get_by_role("link", name="Form-made sensor")).to_be_visible()
    stored = {d["name"]: d for d in (await rest.get("/api/devices")).json()}
    assert "Form-made sensor" in stored
    made = stored["Form-made sensor"]
    assert (made["modbus_ip"], made["modbus_port"], made["sampling_interval"]) == ("127.0.0.1", port, 1)
    assert (made["modbus_slave_id"], made["modbus_register"], made["scale"]) == (3, 0, 0.1)
    assert (made["threshold_warning_upper"], made["threshold_critical_upper"], made["unit"]) == (80, 95, "°C")


async def test_the_form_refuses_a_warning_above_the_critical_threshold(
    page: Page, live_server: LiveServer, rest: httpx.AsyncClient
) -> None:
    await logged_in_page(page, live_server)
    await page.goto(live_server.url + "/devices")
    await page.get_by_role("button", name="Add device").click()
    dialog = page.locator(".q-dialog")
    await fill(page, "Name", "Upside-down thresholds")
    await fill(page, "IP address or host", "127.0.0.1")
    await fill(page, "Warning high", "99")
    await fill(page, "Critical high", "10")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.locator(".q-field__messages").filter(has_text=re.compile(r"99.*10"))).to_be_visible()
    await expect(dialog).to_be_visible()
    assert "Upside-down thresholds" not in [d["name"] for d in (await rest.get("/api/devices")).json()]
