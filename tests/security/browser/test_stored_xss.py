"""Stored XSS (issue 8, critical): hostile device names, units, descriptions, group names and app
title are shown as text on every page, to the owner and to anonymous wall displays, and never run.

The payloads aim at every way NiceGUI pages could turn data into code: a quote that closes a props
string so a ``:prop`` is evaluated (the device card's test id did this), markup reaching ``innerHTML``
(the history chart's tooltip did this), a JavaScript string break-out, a Vue ``{{ }}`` template,
a template literal and ``</script>`` inside the page's embedded element JSON. Each payload calls
``__pwn()`` (defined by an init script) or ``alert``. The tests check that each hostile string is on
screen literally (deterministic: parsed markup or an evaluated template would not read the same), and
that nothing ran: ``window.__pwned``, dialogs, uncaught errors, console errors, requests for the bogus
image ``x`` and elements the payloads would create. Usernames cannot carry markup (the schema allows
letters, digits and ``_``); the fixture checks that the API refuses hostile ones.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Dialog, Locator, Page, Request, expect

from tests.e2e.conftest import OWNER, OWNER_PASSWORD, VIEWPORT, LiveServer, logged_in_page, start_server

PWN_JS = "window.__pwn = () => { window.__pwned = (window.__pwned || 0) + 1; };"
NAMES = [
    'pwn" :title="__pwn()" x="',  # closes a props string: ":title" would be evaluated
    '<img src=x onerror="__pwn()">',  # markup into innerHTML (the chart tooltip)
    "'; __pwn(); '",  # a JavaScript string break-out
    "{{ constructor.constructor('__pwn()')() }}",  # Vue template injection
    "`${__pwn()}` </script><script>__pwn()</script>",  # the page's embedded element JSON
    'alert" :title="alert(1)" y="',  # a dialog, in case __pwn is ever shadowed
]
UNITS = ["<svg onload=__pwn()>", "{{ __pwn() }}", '" :a="__pwn()" b="']
DESCRIPTION = " | ".join(NAMES)
GROUP_NAME = '<img src=x onerror="__pwn()"> g" :title="__pwn()" x="'
GROUP_DESCRIPTION = "{{ constructor.constructor('__pwn()')() }} <svg onload=__pwn()>"
APP_TITLE = '<img src=x onerror="__pwn()"> {{ __pwn() }} t" :title="__pwn()" x="'


def without_alarm_count(title: str) -> str:
    """The tab title without the bell's "(3) " prefix (the hostile devices cross their limits)."""
    return re.sub(r"^\(\d+\) ", "", title)


READINGS_NEEDED = 3
DATA_DEADLINE = 90.0

# True once every chart on the page has drawn at least ``min`` points of each series.
CHARTS_READY_JS = """(min) => {
  const charts = [...document.querySelectorAll('.nicegui-echart')]
    .map(el => getElement(el) && getElement(el).chart).filter(Boolean);
  return charts.length > 0 && charts.every(chart => {
    const series = chart.getOption().series || [];
    return series.length > 0 && series.every(s => (s.data || []).length >= min);
  });
}"""
# Elements the payloads would create if any of their markup were parsed.
FOREIGN_MARKUP_JS = """() => document.querySelectorAll('img[src="x"], [onerror], [onload]').length
  + [...document.scripts].filter(s => s.text.trim() === '__pwn()').length"""


@dataclass
class Hostile:
    """What the owner stored through REST: devices, one group with all of them, the app title."""

    server: LiveServer
    devices: list[dict[str, Any]]
    group: dict[str, Any]


@dataclass
class Watch:
    """Everything a page did that script injection would cause."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    image_requests: list[str] = field(default_factory=list)


def store_hostile_data(server: LiveServer) -> Hostile:
    """Create the hostile records as the owner (REST), polled by the simulator so charts have data."""
    with server.client() as http:
        login = http.post("/api/auth/login", json={"username": OWNER, "password": OWNER_PASSWORD})
        assert login.status_code == 200, login.text
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        made = []
        for index, name in enumerate(NAMES):
            body = {
                "name": name,
                "description": DESCRIPTION,
                "unit": UNITS[index % len(UNITS)],
                "modbus_ip": "127.0.0.1",
                "modbus_port": server.simulator_port,
                "modbus_slave_id": 1,
                "modbus_register": 0,
                "data_type": "float32",
                "sampling_interval": 1,
                "threshold_warning_upper": 75,
                "threshold_critical_upper": 80,
            }
            reply = http.post("/api/devices", json=body)
            assert reply.status_code == 201, reply.text
            made.append(reply.json())
        group = http.post(
            "/api/groups",
            json={
                "name": GROUP_NAME,
                "description": GROUP_DESCRIPTION,
                "device_ids": [d["id"] for d in made],
            },
        )
        assert group.status_code == 201, group.text
        config = http.put("/api/config", json={"app_title": APP_TITLE})
        assert config.status_code == 200, config.text
        for username in ('x" :title="__pwn()" y="', "<img src=x>", "{{__pwn()}}"):
            refused = http.post(
                "/api/users", json={"username": username, "password": "long-enough-1", "role": "admin"}
            )
            assert refused.status_code == 422, f"usernames are letters, digits and _ only: {refused.text}"
        wait_for_readings(http, [d["id"] for d in made])
    return Hostile(server, made, group.json())


def wait_for_readings(http: httpx.Client, device_ids: list[str]) -> None:
    """Until every device has a few stored readings (the history charts then have lines to hover)."""
    deadline = time.monotonic() + DATA_DEADLINE
    for device_id in device_ids:
        while http.get(f"/api/readings/{device_id}/count").json()["count"] < READINGS_NEEDED:
            assert time.monotonic() < deadline, f"no readings for {device_id} from the simulator"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """A server of its own (with the simulator) holding the hostile records."""
    server = start_server(tmp_path_factory.mktemp("xss"), simulator=True)
    try:
        yield store_hostile_data(server)
    finally:
        code = server.stop()
        assert code == 0, f"ddms serve exited with {code}\n{server.log()[-3000:]}"


def watch(page: Page) -> Watch:
    seen = Watch()

    async def on_dialog(dialog: Dialog) -> None:
        seen.dialogs.append(dialog.message)
        await dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.errors.append(f"console: {message.text}")

    def on_request(request: Request) -> None:
        if request.url.rstrip("/").endswith("/x"):
            seen.image_requests.append(request.url)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(f"uncaught: {error}"))
    page.on("request", on_request)
    return seen


@pytest.fixture
async def tab(browser: Browser) -> AsyncIterator[tuple[Page, Watch]]:
    """A fresh browser (context) whose pages define ``__pwn`` and are watched for its effects."""
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    await context.add_init_script(PWN_JS)
    page = await context.new_page()
    try:
        yield page, watch(page)
    finally:
        await context.close()


async def assert_nothing_ran(page: Page, seen: Watch, where: str) -> None:
    """After the page settled: no payload ran, no markup was parsed, nothing failed."""
    await page.wait_for_load_state("networkidle")
    assert await page.evaluate("() => window.__pwned") is None, f"{where}: a payload ran"
    assert seen.dialogs == [], f"{where}: a payload opened a dialog"
    assert seen.image_requests == [], f"{where}: hostile <img> markup was parsed"
    assert seen.errors == [], f"{where}: {seen.errors}"
    assert await page.evaluate(FOREIGN_MARKUP_JS) == 0, f"{where}: hostile markup is in the DOM"


async def shows_literally(scope: Page | Locator, texts: list[str]) -> None:
    for text in texts:
        await expect(scope.get_by_text(text, exact=True).first).to_be_visible()


async def visit(page: Page, seen: Watch, url: str, texts: list[str]) -> None:
    await page.goto(url)
    await shows_literally(page, texts)
    await assert_nothing_ran(page, seen, url)


def units() -> list[str]:
    return sorted(set(UNITS))


async def test_every_signed_in_page_shows_hostile_data_as_text(
    tab: tuple[Page, Watch], hostile: Hostile
) -> None:
    page, seen = tab
    url, group = hostile.server.url, hostile.group
    await logged_in_page(page, hostile.server)
    await visit(page, seen, f"{url}/", [APP_TITLE, *NAMES, *units()])
    await visit(page, seen, f"{url}/devices", NAMES)
    await visit(page, seen, f"{url}/groups", [GROUP_NAME, GROUP_DESCRIPTION])
    await visit(page, seen, f"{url}/groups/{group['id']}", [GROUP_NAME, GROUP_DESCRIPTION, *NAMES])
    assert without_alarm_count(await page.title()) == f"{GROUP_NAME} · {APP_TITLE}"
    await visit(page, seen, f"{url}/users", [APP_TITLE, OWNER])
    await visit(page, seen, f"{url}/profile", [APP_TITLE])
    await visit(page, seen, f"{url}/settings", [APP_TITLE])
    assert APP_TITLE in await page.locator("input").evaluate_all("els => els.map(e => e.value)")
    await visit(page, seen, f"{url}/display", [APP_TITLE, *NAMES, *units()])
    await visit(page, seen, f"{url}/display/{group['id']}", [f"{APP_TITLE} · {GROUP_NAME}", *NAMES])


async def test_dialogs_show_hostile_names_as_text(tab: tuple[Page, Watch], hostile: Hostile) -> None:
    """Translated sentences with a name in them, form values and the device chips of a group."""
    page, seen = tab
    url, group = hostile.server.url, hostile.group
    await logged_in_page(page, hostile.server)
    await page.goto(f"{url}/devices")
    for name in NAMES:
        row = page.locator(".q-card").filter(has=page.get_by_role("link", name=name, exact=True))
        await row.get_by_role("button", name="Delete").click()
        await shows_literally(page.locator(".q-dialog"), [f"Delete device '{name}'?"])
        await page.locator(".q-dialog").get_by_role("button", name="Cancel").click()
        await expect(page.locator(".q-dialog")).to_have_count(0)
    await assert_nothing_ran(page, seen, f"{url}/devices (delete dialogs)")
    await page.goto(f"{url}/groups/{group['id']}")
    await page.get_by_role("button", name="Edit").click()
    dialog = page.locator(".q-dialog")
    await shows_literally(dialog, NAMES)  # the member chips
    assert GROUP_NAME in await dialog.locator("input, textarea").evaluate_all("els => els.map(e => e.value)")
    await assert_nothing_ran(page, seen, f"{url}/groups/{group['id']} (edit dialog)")


async def test_device_pages_show_hostile_data_as_text_and_tooltips(
    tab: tuple[Page, Watch], hostile: Hostile
) -> None:
    page, seen = tab
    await logged_in_page(page, hostile.server)
    for device in hostile.devices:
        where = f"{hostile.server.url}/devices/{device['id']}"
        await visit(page, seen, where, [device["name"], DESCRIPTION, device["unit"]])
        assert without_alarm_count(await page.title()) == f"{device['name']} · {APP_TITLE}"
        shown = await hover_chart(page)
        assert f"{device['name']}: " in shown, shown
        await assert_nothing_ran(page, seen, f"{where} (tooltip)")


async def test_group_chart_tooltip_shows_every_hostile_name_as_text(
    tab: tuple[Page, Watch], hostile: Hostile
) -> None:
    page, seen = tab
    where = f"{hostile.server.url}/groups/{hostile.group['id']}"
    await logged_in_page(page, hostile.server)
    await page.goto(where)
    shown = await hover_chart(page)
    for name in NAMES:
        assert f"{name}: " in shown, shown
    await assert_nothing_ran(page, seen, f"{where} (tooltip)")


async def hover_chart(page: Page) -> str:
    """Point at the middle of the (only) history chart and return its tooltip's text."""
    await page.wait_for_function(CHARTS_READY_JS, arg=1, timeout=30_000)
    chart = page.locator(".nicegui-echart")
    await chart.scroll_into_view_if_needed()
    box = await chart.bounding_box()
    assert box is not None
    await chart.hover(position={"x": box["width"] * 0.5, "y": box["height"] * 0.45})
    tooltip = chart.locator(".ddms-chart-tooltip")
    await expect(tooltip).to_be_visible()
    return await tooltip.inner_text()


async def test_anonymous_visitors_see_hostile_data_as_text(tab: tuple[Page, Watch], hostile: Hostile) -> None:
    page, seen = tab
    url, group, device = hostile.server.url, hostile.group, hostile.devices[0]
    await visit(page, seen, f"{url}/display", [APP_TITLE, *NAMES, *units()])
    await visit(page, seen, f"{url}/display/{group['id']}", [f"{APP_TITLE} · {GROUP_NAME}", *NAMES])
    for path in ("/", f"/devices/{device['id']}", f"/groups/{group['id']}"):
        await visit(page, seen, url + path, [APP_TITLE])  # the login page, with the app title
        assert "/login" in page.url
        assert await page.title() == f"Log in · {APP_TITLE}"
