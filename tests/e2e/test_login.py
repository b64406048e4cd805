"""Signing in through a real Chromium: wrong password, right password, and the return trip to a deep
page after being sent to the login form."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.e2e.conftest import OWNER, OWNER_PASSWORD, LiveServer, login


async def test_wrong_password_shows_the_error_and_stays_on_the_login_page(
    page: Page, live_server: LiveServer
) -> None:
    await login(page, live_server, OWNER, "not-the-password")
    await expect(page.get_by_text("Invalid username or password")).to_be_visible()
    assert "/login" in page.url


async def test_owner_password_reaches_the_signed_in_home_page(page: Page, live_server: LiveServer) -> None:
    await login(page, live_server)
    await page.wait_for_url(lambda url: "/login" not in url)
    await expect(page.get_by_text(OWNER, exact=False).first).to_be_visible()
    await expect(page.get_by_role("button", name="Log in")).to_have_count(0)


async def test_unauthenticated_deep_link_goes_to_login_and_comes_back(
    page: Page, live_server: LiveServer
) -> None:
    deep = "/devices"
    await page.goto(live_server.url + deep)
    await page.wait_for_url(lambda url: "/login" in url)
    assert "redirect_to=" in page.url
    await page.get_by_label("Username").fill(OWNER)
    await page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(lambda url: url.rstrip("/").endswith(deep))


async def test_home_page_sends_a_stranger_to_login(page: Page, live_server: LiveServer) -> None:
    await page.goto(live_server.url + "/")
    await page.wait_for_url(lambda url: "/login" in url)
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()


async def test_logging_out_ends_the_browser_session(page: Page, live_server: LiveServer) -> None:
    await login(page, live_server)
    await page.wait_for_url(lambda url: "/login" not in url)
    await page.get_by_role("button", name=OWNER).click()  # the user menu in the header
    await page.get_by_text("Log out", exact=True).click()
    await page.wait_for_url(lambda url: "/login" in url)
    await page.goto(live_server.url + "/devices")
    await page.wait_for_url(lambda url: "/login" in url)
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
