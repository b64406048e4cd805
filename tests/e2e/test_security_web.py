"""Web and session hardening in a real Chromium against ``ddms serve``.

- A hostile ``redirect_to`` is one the browser itself resolves to another site, and after login the
  browser lands on ``/`` instead.
- The owner's "confirm delete", captured (client id, element id, listener id) and replayed from a
  stranger's socket, deletes nothing; the same message on the owner's own socket does.
- A signed-in dashboard ends (to the login page) as soon as the owner deletes the account.
- The SameSite=Strict session cookie still lets a link from another site open a signed-in page.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import httpx
from playwright.async_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer, logged_in_page, login
from tests.security.nicegui_socket import PageSocket, open_page
from tests.security.test_web_redirect import SAFE

# Values a browser resolves to another origin (as the page receives them, percent-decoded).
LEAVES_THE_SITE = [
    "//evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "\x00//evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "///evil.example",
    "javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,x",
]


async def origin_in_browser(page: Page, target: str) -> str:
    return str(await page.evaluate("(t) => new URL(t, location.href).origin", target))


async def test_hostile_redirects_leave_the_site_in_a_browser_and_login_lands_home(
    page: Page, live_server: LiveServer
) -> None:
    await page.goto(live_server.url + "/login")
    own = await page.evaluate("location.origin")
    assert [t for t in LEAVES_THE_SITE if await origin_in_browser(page, t) == own] == []
    assert [t for t in SAFE if await origin_in_browser(page, t) != own] == []

    await login(page, live_server, path="/login?redirect_to=/%5Cevil.example")
    await page.wait_for_url(lambda url: "/login" not in url)
    assert page.url == live_server.url + "/"
    await page.goto(live_server.url + "/login?redirect_to=/%09/evil.example")  # signed in: redirected
    await page.wait_for_url(lambda url: "/login" not in url)
    assert page.url == live_server.url + "/"


async def test_the_browsers_answers_pass_the_socket_guard(page: Page, live_server: LiveServer) -> None:
    """The login asks the browser for its time zone (a ``javascript_response`` on the page's socket):
    a real browser's answer must reach the page and land in the signed-in session's storage."""
    await logged_in_page(page, live_server)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "session")
    payload = cookie["value"].split(".")[0]
    session_id = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))["id"]
    stored = live_server.data_dir / "ui-sessions" / f"storage-user-{session_id}.json"
    async with asyncio.timeout(15):
        while not stored.exists() or "timezone" not in stored.read_text(encoding="utf-8"):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert json.loads(stored.read_text(encoding="utf-8"))["timezone"]


async def make_account(rest: httpx.AsyncClient, role: str = "read_only") -> tuple[str, str]:
    name, password = f"victim_{uuid.uuid4().hex[:8]}", "victim-password-1"
    made = await rest.post(
        "/api/users", json={"username": name, "password": password, "role": role, "language_preference": "en"}
    )
    assert made.status_code == 201, made.text
    return name, str(made.json()["id"])


CONFIRM = """() => {
  const buttons = Object.entries(mounted_app.elements).filter(([, e]) =>
    e.tag === "q-btn" && e.props.label === "Delete" && e.events.some((l) => l.type === "click"));
  const [id, element] = buttons.sort((a, b) => Number(b[0]) - Number(a[0]))[0];
  return {id: Number(id), client_id: window.clientId,
          listener_id: element.events.find((l) => l.type === "click").listener_id, args: []};
}"""


async def test_a_replayed_confirm_delete_from_another_socket_deletes_nothing(
    page: Page, live_server: LiveServer, rest: httpx.AsyncClient
) -> None:
    name, user_id = await make_account(rest)
    await logged_in_page(page, live_server)
    await page.goto(live_server.url + "/users")
    row = page.locator("div.q-card", has_text=name)
    await row.get_by_role("button", name="Delete").click()
    await expect(page.get_by_text(f"Delete user '{name}'?")).to_be_visible()
    captured: dict[str, Any] = await page.evaluate(CONFIRM)

    async with httpx.AsyncClient(base_url=live_server.url) as stranger:  # no cookies of the owner
        view = await open_page(stranger, "/login")
        async with PageSocket(live_server.url, view) as socket:
            for _replay in range(3):
                await socket.emit("event", captured)
            await asyncio.sleep(2.0)
    assert (await rest.get(f"/api/users/{user_id}")).status_code == 200, "the replay deleted the user"
    await expect(page.get_by_text(f"Delete user '{name}'?")).to_be_visible()

    await page.evaluate("(message) => window.socket.emit('event', message)", captured)  # the owner's socket
    await expect(page.get_by_text(f"User '{name}' deleted")).to_be_visible()
    assert (await rest.get(f"/api/users/{user_id}")).status_code == 404


async def test_a_deleted_users_open_dashboard_goes_to_login(
    page: Page, live_server: LiveServer, rest: httpx.AsyncClient
) -> None:
    name, user_id = await make_account(rest)
    await logged_in_page(page, live_server, name, "victim-password-1")
    await expect(page.get_by_test_id("page-title")).to_be_visible()
    assert (await rest.delete(f"/api/users/{user_id}")).status_code == 204
    await page.wait_for_url(lambda url: "/login" in url)
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()


async def test_a_link_from_another_site_opens_a_signed_in_page(
    context: BrowserContext, page: Page, live_server: LiveServer
) -> None:
    """SameSite=Strict keeps the cookie off cross-site requests, yet a link from a portal still works."""
    await logged_in_page(page, live_server)
    portal = "http://portal.example/"
    link = f'<a id="go" href="{live_server.url}/devices">DDMS</a>'
    await context.route(portal, lambda route: route.fulfill(content_type="text/html", body=link))
    await page.goto(portal)
    await page.click("#go")
    await page.wait_for_url(lambda url: url.startswith(live_server.url))
    await expect(page.get_by_test_id("page-title")).to_have_text("Devices")
    await page.goto(live_server.url + "/")  # and the session survived the visit
    await expect(page.get_by_test_id("page-title")).to_have_text("Dashboard")
